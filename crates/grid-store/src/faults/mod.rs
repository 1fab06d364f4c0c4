//! Fault injection for crash-consistency tests (feature `faults`; only tests enable
//! it). A [`FaultPlan`] lets writes through until the one it is armed for; from that
//! one on every write fails, as if the process had died at that boundary: nothing more
//! is written, and the jobs get errors (even a job that carries on after a failed step
//! writes nothing more). On SQLite a write is a committed transaction (the commit hook turns
//! that commit into a rollback); on AWS it is a request that changes something (an
//! interceptor fails it before it is sent).
//!
//! [`ChaosPlan`] (in `chaos.rs`) is the other kind: the serverless path's weather,
//! throttles, server errors, lost answers, unprocessed items and transaction conflicts
//! at random, answered at the HTTP connection as AWS would answer them.

#[cfg(feature = "aws")]
mod chaos;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "aws")]
pub use chaos::{ChaosHttpClient, ChaosPlan, ChaosTally, Dice, Weather};

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
