//! The portal's revoked sessions and sign-in attempts in the leases table, as
//! `session#{id}` and `sign-in#{client}#{window end}` items that DynamoDB's TTL sweeps
//! once they are past (the check itself never trusts the sweep, which lags).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use grid_core::EpochMs;

use super::attributes::{Item, get_n, n, s};
use super::maybe_written::{NOT_APPLIED, failed_item, is_ours, op_id};
use super::registrations::condition_failed;
use super::{AwsClients, LazyClient, backend};
use crate::{SignInLog, StoreError};

#[derive(Clone, Debug)]
pub struct DynamoSignInLog {
    client: LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl DynamoSignInLog {
    pub fn new(clients: &AwsClients, leases_table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: leases_table.into() }
    }

    /// The item at `job`, read consistently.
    async fn read(&self, job: String) -> Result<Option<Item>, StoreError> {
        let output =
            self.client.get_item().table_name(&self.table).key("job", s(job)).consistent_read(true).send().await;
        Ok(output.map_err(backend)?.item)
    }
}

/// Where `client`'s failed sign-ins of the window ending at `window_end` are counted.
fn failures_key(client: &str, window_end: EpochMs) -> String {
    format!("sign-in#{client}#{}", window_end.get())
}

#[async_trait]
impl SignInLog for DynamoSignInLog {
    async fn revoke(&self, session: &str, until: EpochMs, _now: EpochMs) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("job", s(format!("session#{session}")))
            .item("expiresMs", n(until.get()))
            .item("expiresAt", n(until.get() / 1000 + 1))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn is_revoked(&self, session: &str, now: EpochMs) -> Result<bool, StoreError> {
        match self.read(format!("session#{session}")).await? {
            Some(item) => Ok(get_n(&item, "leases", "expiresMs")? > now.get()),
            None => Ok(false),
        }
    }

    /// The `ADD` applies once even when its answer is lost and the SDK sends it again
    /// (see `maybe_written`): a retry that finds its own `lastOp` answers the count the
    /// first attempt left.
    async fn count_failure(&self, client: &str, window_end: EpochMs, _now: EpochMs) -> Result<u32, StoreError> {
        let op = op_id();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("job", s(failures_key(client, window_end)))
            .update_expression("ADD attempts :one SET expiresAt = :expires, lastOp = :op")
            .condition_expression(NOT_APPLIED)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(window_end.get() / 1000 + 1))
            .expression_attribute_values(":op", s(&op))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let attempts = match result {
            Ok(output) => {
                let attributes =
                    output.attributes().ok_or_else(|| StoreError::Corrupt("an update without its count".into()))?;
                get_n(attributes, "leases", "attempts")?
            }
            // Only our own earlier attempt fails the condition.
            Err(e) if condition_failed!(e) => match failed_item(&e) {
                Some(item) if is_ours(item, &op) => get_n(item, "leases", "attempts")?,
                _ => return Err(StoreError::Corrupt("a failed count without its own earlier attempt".into())),
            },
            Err(e) => return Err(backend(e)),
        };
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }

    async fn failures(&self, client: &str, window_end: EpochMs) -> Result<u32, StoreError> {
        match self.read(failures_key(client, window_end)).await? {
            Some(item) => Ok(u32::try_from(get_n(&item, "leases", "attempts")?).unwrap_or(u32::MAX)),
            None => Ok(0),
        }
    }

    async fn forget_failures(&self, client: &str, window_end: EpochMs) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("job", s(failures_key(client, window_end)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
