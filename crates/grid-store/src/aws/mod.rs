//! The serverless adapters: DynamoDB tables, an S3 bucket and SQS queues.
//!
//! Every port the SQLite adapter implements, with the same contract: conditional
//! writes (`attribute_not_exists`, expected-version conditions) for write-once and
//! read-modify-write, paginated reads, batch reads with retry of unprocessed keys.
//! Clients are built once (per Lambda cold start) and shared by all adapters.

mod accounts;
mod activity;
mod attributes;
mod channel_messages;
mod items;
mod market;
mod queue;
mod registrations;
mod requests;
pub mod schema;

use aws_config::{BehaviorVersion, SdkConfig};

pub use accounts::{DynamoAccountStore, DynamoLeaseStore};
pub use activity::{DynamoHeartbeatLog, DynamoRejectionLog, S3ReportArchive};
pub use channel_messages::DynamoChannelLedger;
pub use items::S3ItemStore;
pub use market::{DynamoReadingStore, DynamoSettlementStore};
pub use queue::SqsMessageQueue;
pub use registrations::DynamoRegistrationStore;
pub use requests::{OperationCount, RequestCounter};

use crate::StoreError;

/// The AWS clients, built once and cloned cheaply into every adapter.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Clients from the standard AWS environment (region, credentials, and
    /// `AWS_ENDPOINT_URL` for emulators such as moto).
    pub async fn from_env() -> Self {
        Self::from_config(&aws_config::defaults(BehaviorVersion::latest()).load().await)
    }

    /// Clients from an explicit SDK configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self::build(config, None::<RequestCounter>)
    }

    /// Clients whose every request is counted by `counter` (the bench's cost figures).
    pub fn counted(config: &SdkConfig, counter: &RequestCounter) -> Self {
        Self::build(config, Some(counter.clone()))
    }

    /// Clients whose write requests `faults` counts, failing the one it is armed for
    /// (crash-consistency tests).
    #[cfg(feature = "faults")]
    pub fn with_faults(config: &SdkConfig, faults: &crate::faults::FaultPlan) -> Self {
        Self::build(config, Some(crate::faults::FaultInterceptor(faults.clone())))
    }

    /// The three clients, each with `interceptor` when there is one.
    fn build<I>(config: &SdkConfig, interceptor: Option<I>) -> Self
    where
        I: aws_sdk_dynamodb::config::Intercept + Clone + 'static,
    {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        // Emulators serve S3 on one host, so buckets go in the path rather than the host name.
        let mut s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
        let mut sqs = aws_sdk_sqs::config::Builder::from(config);
        if let Some(interceptor) = interceptor {
            dynamodb = dynamodb.interceptor(interceptor.clone());
            s3 = s3.interceptor(interceptor.clone());
            sqs = sqs.interceptor(interceptor);
        }
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
        }
    }
}

/// Any SDK failure is a backend failure; conditional-check failures are mapped
/// where they are expected, before this.
pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}
