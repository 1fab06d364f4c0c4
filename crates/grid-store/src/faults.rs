//! Fault injection for crash-consistency tests (feature `faults`; only tests enable
//! it). A [`FaultPlan`] lets writes through until the one it is armed for; from that
//! one on every write fails, as if the process had died at that boundary: nothing more
//! is written, and the jobs get errors (even a job that carries on after a failed step
//! writes nothing more). On SQLite a write is a committed transaction (the commit hook turns
//! that commit into a rollback); on AWS it is a request that changes something (an
//! interceptor fails it before it is sent).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which write fails, shared by every connection and client it is attached to.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    writes: AtomicU64,
    /// The write that fails, counting from 1 since arming; 0 when disarmed.
    fail_at: AtomicU64,
}

impl FaultPlan {
    /// From now on, writes 1 to `n - 1` go through and write `n` and later ones fail.
    pub fn fail_write(&self, n: u64) {
        self.0.writes.store(0, Ordering::SeqCst);
        self.0.fail_at.store(n, Ordering::SeqCst);
    }

    /// Every write goes through again.
    pub fn disarm(&self) {
        self.0.fail_at.store(0, Ordering::SeqCst);
    }

    /// Writes counted since arming.
    pub fn writes(&self) -> u64 {
        self.0.writes.load(Ordering::SeqCst)
    }

    /// Counts a write at a boundary; true if it fails.
    pub(crate) fn fails_now(&self) -> bool {
        let n = self.0.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.0.fail_at.load(Ordering::SeqCst);
        at != 0 && n >= at
    }
}

/// Fails the planned write among the AWS requests that change something.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub(crate) struct FaultInterceptor(pub FaultPlan);

#[cfg(feature = "aws")]
impl aws_sdk_dynamodb::config::Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "FaultInterceptor"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::orchestrator::Metadata;
        let Some(operation) = cfg.load::<Metadata>() else { return Ok(()) };
        let name = operation.name();
        let writes = ["Put", "Update", "Delete", "TransactWrite", "BatchWrite", "SendMessage", "Copy", "Create"];
        if writes.iter().any(|w| name.starts_with(w)) && self.0.fails_now() {
            return Err(format!("injected fault: {} {name} not sent", operation.service()).into());
        }
        Ok(())
    }
}

/// Throttles and server errors injected at random into DynamoDB requests, seeded so a
/// run can be replayed (the serverless soak's weather). Each is injected before its
/// request is sent, so nothing is written, and is retried by the SDK's own standard
/// retry, as DynamoDB's real throttles are.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct ChaosPlan(Arc<Chaos>);

#[cfg(feature = "aws")]
#[derive(Debug)]
struct Chaos {
    /// Per thousand requests.
    throttles_per_mille: u64,
    server_errors_per_mille: u64,
    /// SplitMix64's counter: each roll takes the next value.
    state: AtomicU64,
    throttles: AtomicU64,
    server_errors: AtomicU64,
}

#[cfg(feature = "aws")]
impl ChaosPlan {
    /// Throttles `throttles_per_mille` and fails `server_errors_per_mille` of every
    /// thousand requests, at random from `seed`.
    pub fn new(seed: u64, throttles_per_mille: u64, server_errors_per_mille: u64) -> Self {
        Self(Arc::new(Chaos {
            throttles_per_mille,
            server_errors_per_mille,
            state: AtomicU64::new(seed),
            throttles: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
        }))
    }

    /// Throttles injected so far.
    pub fn throttles(&self) -> u64 {
        self.0.throttles.load(Ordering::SeqCst)
    }

    /// Server errors injected so far.
    pub fn server_errors(&self) -> u64 {
        self.0.server_errors.load(Ordering::SeqCst)
    }

    /// The fault for the next request, if any.
    fn roll(&self) -> Option<InjectedFault> {
        // SplitMix64 (Steele, Lea and Flood): one step per request.
        let mut z = self.0.state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let roll = (z ^ (z >> 31)) % 1000;
        if roll < self.0.throttles_per_mille {
            self.0.throttles.fetch_add(1, Ordering::SeqCst);
            Some(InjectedFault::Throttled)
        } else if roll < self.0.throttles_per_mille + self.0.server_errors_per_mille {
            self.0.server_errors.fetch_add(1, Ordering::SeqCst);
            Some(InjectedFault::ServerError)
        } else {
            None
        }
    }
}

/// What [`ChaosPlan`] injects.
#[cfg(feature = "aws")]
#[derive(Debug, thiserror::Error)]
pub(crate) enum InjectedFault {
    #[error("injected fault: the request was throttled")]
    Throttled,
    #[error("injected fault: the service failed")]
    ServerError,
}

/// Injects [`ChaosPlan`]'s faults at each attempt, before the request is sent.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub(crate) struct ChaosInterceptor(pub ChaosPlan);

#[cfg(feature = "aws")]
impl aws_sdk_dynamodb::config::Intercept for ChaosInterceptor {
    fn name(&self) -> &'static str {
        "ChaosInterceptor"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        match self.0.roll() {
            Some(fault) => Err(Box::new(fault)),
            None => Ok(()),
        }
    }
}

/// Tells the SDK's retry strategy what an injected fault is (it leaves an interceptor's
/// errors alone otherwise): a throttle or a server error, retried as DynamoDB's are.
#[cfg(feature = "aws")]
#[derive(Debug)]
pub(crate) struct ChaosClassifier;

#[cfg(feature = "aws")]
impl aws_sdk_dynamodb::config::retry::ClassifyRetry for ChaosClassifier {
    fn classify_retry(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::InterceptorContext,
    ) -> aws_sdk_dynamodb::config::retry::RetryAction {
        use aws_sdk_dynamodb::config::retry::RetryAction;
        let Some(Err(error)) = context.output_or_error() else { return RetryAction::NoActionIndicated };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            match e.downcast_ref::<InjectedFault>() {
                Some(InjectedFault::Throttled) => return RetryAction::throttling_error(),
                Some(InjectedFault::ServerError) => return RetryAction::server_error(),
                None => cause = e.source(),
            }
        }
        RetryAction::NoActionIndicated
    }

    fn name(&self) -> &'static str {
        "ChaosClassifier"
    }

    fn priority(&self) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}
