//! `LeaseStore` over a DynamoDB table keyed by `job`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use grid_core::EpochMs;

use super::attributes::{n, s};
use super::registrations::written;
use super::{AwsClients, LazyClient};
use crate::{LeaseStore, StoreError};

/// Leases in DynamoDB: a conditional put that only wins over a free, expired or own lease.
#[derive(Clone, Debug)]
pub struct DynamoLeaseStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoLeaseStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }
}

#[async_trait]
impl LeaseStore for DynamoLeaseStore {
    async fn acquire(&self, job: &str, holder: &str, now: EpochMs, until: EpochMs) -> Result<bool, StoreError> {
        let expires = until.get();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("job", s(job))
            .item("holder", s(holder))
            .item("expiresMs", n(expires))
            // DynamoDB's TTL sweeps old leases; it counts in seconds.
            .item("expiresAt", n(expires / 1000 + 1))
            .condition_expression("attribute_not_exists(job) OR expiresMs <= :now OR holder = :holder")
            .expression_attribute_values(":now", n(now.get()))
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        written!(result)
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("job", s(job))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        written!(result).map(|_| ())
    }
}
