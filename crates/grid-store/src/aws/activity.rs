//! Rejected messages in DynamoDB, period reports in S3 (`archive/{period}.json`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use grid_core::RegistrationId;
use grid_core::channel::MessageAddress;
use grid_core::market::PeriodStart;

use super::attributes::{get_n, get_s, get_time, n, opt_s, s};
use super::registrations::written;
use super::{AwsClients, LazyClient, backend};
use crate::records::reject_reason;
use crate::{Rejected, RejectionLog, ReportArchive, StoreError};

/// Rejected channel messages, keyed by registration and channel index.
#[derive(Clone, Debug)]
pub struct DynamoRejectionLog {
    client: LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl DynamoRejectionLog {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }
}

#[async_trait]
impl RejectionLog for DynamoRejectionLog {
    async fn record(&self, rejected: &Rejected) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("registration", s(rejected.registration.as_str()))
            .item("index", n(rejected.channel_index))
            .item("address", s(rejected.address.as_str()))
            .item("reason", s(&rejected.message))
            .item("code", s(rejected.reason.as_str()))
            .item("at", n(rejected.at.get()))
            .item("log", s(LOG))
            .condition_expression("attribute_not_exists(#index)")
            .expression_attribute_names("#index", "index")
            .send()
            .await;
        written!(result).map(|_| ())
    }

    async fn for_registration(&self, registration: &RegistrationId, limit: usize) -> Result<Vec<Rejected>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("registration = :id")
            .expression_attribute_values(":id", AttributeValue::S(registration.to_string()));
        self.newest(query, limit).await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Rejected>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("recent")
            .key_condition_expression("#log = :log")
            .expression_attribute_names("#log", "log")
            .expression_attribute_values(":log", s(LOG));
        self.newest(query, limit).await
    }
}

/// The one value of `log`: every rejection in one partition of the `recent` index, by time.
const LOG: &str = "rejection";

impl DynamoRejectionLog {
    /// The first `limit` rejections `query` finds, read backwards (newest first).
    async fn newest(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
    ) -> Result<Vec<Rejected>, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        let output = query.scan_index_forward(false).limit(limit).send().await.map_err(backend)?;
        output
            .items()
            .iter()
            .map(|item| {
                let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("rejections: {e}"));
                Ok(Rejected {
                    registration: RegistrationId::parse(get_s(item, "rejections", "registration")?)
                        .map_err(|e| corrupt(&e))?,
                    channel_index: get_n(item, "rejections", "index")?,
                    address: MessageAddress::parse(get_s(item, "rejections", "address")?).map_err(|e| corrupt(&e))?,
                    reason: reject_reason(opt_s(item, "rejections", "code")?, get_s(item, "rejections", "reason")?)?,
                    message: get_s(item, "rejections", "reason")?.to_owned(),
                    at: get_time(item, "rejections", "at")?,
                })
            })
            .collect()
    }
}

/// Period reports as S3 objects under `archive/`.
#[derive(Clone, Debug)]
pub struct S3ReportArchive {
    client: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
}

impl S3ReportArchive {
    pub fn new(clients: &AwsClients, bucket: impl Into<String>) -> Self {
        Self { client: clients.s3.clone(), bucket: bucket.into() }
    }
}

#[async_trait]
impl ReportArchive for S3ReportArchive {
    async fn put(&self, period: PeriodStart, report: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("archive/{period}.json"))
            .content_type("application/json")
            .body(ByteStream::from(report.as_bytes().to_vec()))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, period: PeriodStart) -> Result<Option<String>, StoreError> {
        let output =
            match self.client.get_object().bucket(&self.bucket).key(format!("archive/{period}.json")).send().await {
                Ok(output) => output,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
                Err(e) => return Err(backend(e)),
            };
        let bytes = output.body.collect().await.map_err(backend)?.into_bytes();
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|e| StoreError::Corrupt(format!("archive {period}: {e}")))
    }
}
