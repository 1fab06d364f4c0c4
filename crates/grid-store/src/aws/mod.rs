//! The serverless adapters: DynamoDB tables, an S3 bucket and SQS queues.
//!
//! Every port the SQLite adapter implements, with the same contract: conditional
//! writes (`attribute_not_exists`, expected-version conditions) for write-once and
//! read-modify-write, paginated reads, batch reads with retry of unprocessed keys.
//! Clients are built at most once per process (per Lambda cold start), when an adapter
//! first uses one, and shared by all adapters.

mod accounts;
mod activity;
mod attributes;
mod channel_messages;
mod heartbeats;
mod items;
mod leases;
mod market;
mod maybe_written;
mod queue;
mod registrations;
mod requests;
pub mod schema;
mod sign_ins;

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use accounts::DynamoAccountStore;
pub use activity::{DynamoRejectionLog, S3ReportArchive};
pub use channel_messages::DynamoChannelMessageStore;
pub use heartbeats::DynamoHeartbeatLog;
pub use items::S3ItemStore;
pub use leases::DynamoLeaseStore;
pub use market::{DynamoReadingStore, DynamoSettlementStore};
pub use queue::SqsMessageQueue;
pub use registrations::DynamoRegistrationStore;
pub use requests::{OperationCount, RequestCounter, RequestLog};
pub use sign_ins::DynamoSignInLog;

use crate::StoreError;

/// The AWS clients, each built when an adapter first uses it and cloned cheaply into
/// every adapter.
///
/// Building a client is most of what the SDK adds to a cold start (each parses its
/// service's endpoint rules; the first builds the TLS configuration), and no function
/// uses all three: `storage` only needs S3, `registration` only DynamoDB.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: LazyClient<aws_sdk_dynamodb::Client>,
    pub s3: LazyClient<aws_sdk_s3::Client>,
    pub sqs: LazyClient<aws_sdk_sqs::Client>,
    /// Parameter Store: only the portal reads it, once, at a cold start.
    pub ssm: LazyClient<aws_sdk_ssm::Client>,
}

impl AwsClients {
    /// Clients from the standard AWS environment (region, credentials, and
    /// `AWS_ENDPOINT_URL` for emulators such as moto), over HTTPS that trusts the
    /// Amazon Trust Services roots (see `https_client`). With `GRID_REQUEST_LOG` set,
    /// every request is logged there ([`RequestLog`]); a log that cannot be opened is
    /// reported and the clients work without it.
    pub async fn from_env() -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
        // Lambda puts the region and the function's credentials in the environment; taking
        // them from there directly skips building the default chains (profiles, instance
        // metadata, web identity, SSO), which would only find them there again.
        if let Ok(region) = std::env::var("AWS_REGION") {
            loader = loader.region(Region::new(region));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
        }
        let config = loader.load().await;
        match std::env::var_os("GRID_REQUEST_LOG") {
            None => Self::from_config(&config),
            Some(path) => match RequestLog::open(std::path::Path::new(&path)) {
                Ok(log) => Self::intercepted(&config, Some(log)),
                Err(e) => {
                    tracing::warn!(error = %e, path = ?path, "cannot open GRID_REQUEST_LOG; requests are not logged");
                    Self::from_config(&config)
                }
            },
        }
    }

    /// Clients from an explicit SDK configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self::intercepted(config, None::<RequestCounter>)
    }

    /// Clients whose every request is counted by `counter` (the bench's cost figures).
    pub fn counted(config: &SdkConfig, counter: &RequestCounter) -> Self {
        Self::intercepted(config, Some(counter.clone()))
    }

    /// Clients whose write requests `faults` counts, failing the one it is armed for
    /// (crash-consistency tests).
    #[cfg(feature = "faults")]
    pub fn with_faults(config: &SdkConfig, faults: &crate::faults::FaultPlan) -> Self {
        Self::intercepted(config, Some(crate::faults::FaultInterceptor(faults.clone())))
    }

    /// Clients whose every request meets `chaos`'s weather at the connection (throttles,
    /// server errors, lost answers, unprocessed items, conflicts), retried by the SDK's
    /// standard retry as AWS's faults are: up to ten attempts a request, short pauses,
    /// and a retry budget of their own that never runs dry (the shared one stops retrying
    /// after a hundred throttles, which a soak at 10 % reaches in seconds).
    #[cfg(feature = "faults")]
    pub fn with_chaos(config: &SdkConfig, chaos: &crate::faults::ChaosPlan) -> Self {
        use aws_sdk_dynamodb::config::retry::{RetryConfig, RetryPartition, TokenBucket};
        use std::time::Duration;
        let inner = config.http_client().unwrap_or_else(https_client);
        let config = config
            .to_builder()
            .http_client(crate::faults::ChaosHttpClient::new(inner, chaos.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(10)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(20)),
            )
            .build();
        let partition = RetryPartition::custom("chaos").token_bucket(TokenBucket::unlimited()).build();
        Self::build(&config, Extras { interceptor: None::<RequestCounter>, partition: Some(partition) })
    }

    /// The clients, each with `extras`.
    fn build<I>(config: &SdkConfig, extras: Extras<I>) -> Self
    where
        I: aws_sdk_dynamodb::config::Intercept + Clone + 'static,
    {
        Self {
            dynamodb: LazyClient::new(config, &extras, dynamodb_client),
            s3: LazyClient::new(config, &extras, s3_client),
            sqs: LazyClient::new(config, &extras, sqs_client),
            ssm: LazyClient::new(config, &extras, ssm_client),
        }
    }

    /// Clients with `interceptor`, when there is one.
    fn intercepted<I>(config: &SdkConfig, interceptor: Option<I>) -> Self
    where
        I: aws_sdk_dynamodb::config::Intercept + Clone + 'static,
    {
        Self::build(config, Extras { interceptor, partition: None })
    }

    /// A SecureString parameter's value, decrypted (the portal's token).
    pub async fn secure_parameter(&self, name: &str) -> Result<String, StoreError> {
        let output = self.ssm.get_parameter().name(name).with_decryption(true).send().await.map_err(backend)?;
        output
            .parameter()
            .and_then(|p| p.value())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Backend(format!("parameter {name} has no value").into()))
    }
}

/// What a client is built with beyond the SDK configuration: an interceptor, and a
/// retry partition (its own retry budget) for the fault plan's clients.
#[derive(Clone)]
struct Extras<I> {
    interceptor: Option<I>,
    partition: Option<aws_sdk_dynamodb::config::retry::RetryPartition>,
}

/// Builds one service's client from its configuration builder and `extras`.
macro_rules! client_with {
    ($builder:expr, $extras:expr, $client:ty) => {{
        let mut builder = $builder;
        if let Some(interceptor) = $extras.interceptor {
            builder = builder.interceptor(interceptor);
        }
        if let Some(partition) = $extras.partition {
            builder = builder.retry_partition(partition);
        }
        <$client>::from_conf(builder.build())
    }};
}

fn dynamodb_client<I: aws_sdk_dynamodb::config::Intercept + 'static>(
    config: &SdkConfig,
    extras: Extras<I>,
) -> aws_sdk_dynamodb::Client {
    client_with!(aws_sdk_dynamodb::config::Builder::from(config), extras, aws_sdk_dynamodb::Client)
}

fn s3_client<I: aws_sdk_s3::config::Intercept + 'static>(config: &SdkConfig, extras: Extras<I>) -> aws_sdk_s3::Client {
    // Emulators serve S3 on one host, so buckets go in the path rather than the host name.
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    client_with!(builder, extras, aws_sdk_s3::Client)
}

fn sqs_client<I: aws_sdk_sqs::config::Intercept + 'static>(
    config: &SdkConfig,
    extras: Extras<I>,
) -> aws_sdk_sqs::Client {
    client_with!(aws_sdk_sqs::config::Builder::from(config), extras, aws_sdk_sqs::Client)
}

fn ssm_client<I: aws_sdk_ssm::config::Intercept + 'static>(
    config: &SdkConfig,
    extras: Extras<I>,
) -> aws_sdk_ssm::Client {
    client_with!(aws_sdk_ssm::config::Builder::from(config), extras, aws_sdk_ssm::Client)
}

/// An SDK client built the first time it is used (dereferenced), then shared by every
/// clone. Building is synchronous and takes a fraction of a millisecond, so it happens
/// inside whichever request needs the client first.
pub struct LazyClient<C>(Arc<LazyLock<C, Box<dyn FnOnce() -> C + Send>>>);

impl<C: 'static> LazyClient<C> {
    /// A client `make` builds from `config` and `extras` on first use.
    fn new<E: Clone + Send + 'static>(config: &SdkConfig, extras: &E, make: fn(&SdkConfig, E) -> C) -> Self {
        let (config, extras) = (config.clone(), extras.clone());
        Self(Arc::new(LazyLock::new(Box::new(move || make(&config, extras)))))
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LazyClient")
    }
}

/// The roots every AWS service endpoint's certificate chains to.
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

/// The SDK's HTTPS client (rustls over aws-lc-rs, as its default one), trusting the
/// five Amazon Trust Services roots rather than the platform's store.
///
/// The adapters only ever speak TLS to AWS service endpoints, and reading and parsing
/// the platform's store (hundreds of certificates, some in two places) was the largest
/// part of a function's cold start. An operator whose traffic passes a proxy with its
/// own CA sets `SSL_CERT_FILE` or `SSL_CERT_DIR`, and the platform's store (which
/// those name) is trusted instead.
fn https_client() -> SharedHttpClient {
    let platform = ["SSL_CERT_FILE", "SSL_CERT_DIR"].iter().any(|name| std::env::var_os(name).is_some());
    let trust = if platform {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
    };
    let context = TlsContext::builder().with_trust_store(trust).build().expect("a trust store is a valid TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// Any SDK failure is a backend failure; conditional-check failures are mapped
/// where they are expected, before this.
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn the_embedded_trust_store_holds_the_five_amazon_trust_services_roots() {
        let roots = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("every embedded root is valid PEM");
        assert_eq!(roots.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(roots);
        assert_eq!((valid, invalid), (5, 0), "every embedded root is a usable trust anchor");
    }

    #[test]
    fn a_client_is_built_on_first_use_once_for_all_its_clones() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        fn count_builds(_: &SdkConfig, _: ()) -> usize {
            BUILT.fetch_add(1, Ordering::SeqCst) + 1
        }
        let config = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let client = LazyClient::new(&config, &(), count_builds);
        let clone = client.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "nothing is built before a use");
        assert_eq!(*clone, 1);
        assert_eq!(*client, 1, "the clone's first use built it for both");
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
    }
}
