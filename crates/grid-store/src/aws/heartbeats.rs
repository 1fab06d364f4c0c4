//! Job heartbeats in DynamoDB, in the leases table rather than a table of their own: a
//! `heartbeat#{job}` item per job, which never expires, the report as JSON text
//! (`records::HeartbeatRecord`), so each item reads whichever version wrote it.

use async_trait::async_trait;

use super::attributes::{get_n, get_s, n, s};
use super::{AwsClients, LazyClient, backend};
use crate::records::HeartbeatRecord;
use crate::{Heartbeat, HeartbeatLog, Job, StoreError};

/// Job heartbeats, kept beside the leases (one item per job, no expiry).
#[derive(Clone, Debug)]
pub struct DynamoHeartbeatLog {
    client: LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl DynamoHeartbeatLog {
    pub fn new(clients: &AwsClients, leases_table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: leases_table.into() }
    }
}

/// The item key of `job`'s heartbeat in the leases table.
fn key(job: Job) -> String {
    format!("heartbeat#{job}")
}

#[async_trait]
impl HeartbeatLog for DynamoHeartbeatLog {
    async fn beat(&self, heartbeat: &Heartbeat) -> Result<(), StoreError> {
        let record = HeartbeatRecord::from(heartbeat);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("job", s(key(record.job)))
            .item("at", n(record.at_ms))
            .item("report", s(record.report))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn last(&self, job: Job) -> Result<Option<Heartbeat>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("job", s(key(job)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.item() else { return Ok(None) };
        let record = HeartbeatRecord {
            job,
            at_ms: get_n(item, "leases", "at")?,
            report: get_s(item, "leases", "report")?.to_owned(),
        };
        record.into_domain().map(Some)
    }
}
