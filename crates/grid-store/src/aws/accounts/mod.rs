//! The books (`AccountStore`) over DynamoDB: registration accounts, the grid's totals (`id =
//! "grid"`), its addresses (`id = "wallet#{address}"`) and what it owes each producer
//! from each period (`id = "owed#{producer}#{period}"`, deleted once paid) in the
//! accounts table; claims and payouts in the batches table (`pk = "ledger#{batchId}"`),
//! where a pending batch carries `pending` (its kind) so the sparse
//! `pending-by-last-check` index lists them. Changes that touch several items are one
//! `TransactWriteItems`.
//!
//! # Layout
//!
//! One struct serves every concern of the port, so a write that spans several stays one
//! atomic operation; each concern is implemented in its own file, on the helpers here:
//! `book.rs` ([`AccountBook`](crate::AccountBook)), `claims.rs` ([`ClaimBook`](crate::ClaimBook)),
//! `payouts.rs` ([`PayoutBook`](crate::PayoutBook)), `batches.rs` ([`BatchWatch`](crate::BatchWatch)).

mod batches;
mod book;
mod claims;
mod payouts;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Put, Select, TransactWriteItem, Update};
use futures_util::future::try_join_all;
use grid_core::books::{
    Account, AccountEntry, BatchKind, BatchState, ClaimResolution, Cover, Entitlement, GridEntry, GridTotals,
    PaymentClaim, PayoutRecord, PayoutResolution, StatementLine, StatementRange,
};
use grid_core::ledger::LedgerBatch;
use grid_core::market::PeriodStart;
use grid_core::{BatchId, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};

use super::attributes::{Item, get_n, get_s, get_time, n, opt_n, opt_s, opt_signed, opt_time, s};
use super::registrations::written;
use super::{AwsClients, LazyClient, backend};
use crate::{BatchCounts, BatchView, Funds, PendingBatches, StoreError, Unpaid, Watched, WatchedBatch};

const ACCOUNTS: &str = "accounts";
const BATCHES: &str = "batches";
const GRID: &str = "grid";
/// Account updates in flight at once.
const CONCURRENCY: usize = 16;

/// The books in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoAccountStore {
    client: LazyClient<Client>,
    table: String,
    batches: String,
}

impl DynamoAccountStore {
    /// Accounts in `table`; claims and payouts in the `batches` table.
    pub fn new(clients: &AwsClients, table: impl Into<String>, batches: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into(), batches: batches.into() }
    }

    fn batch_key(batch: &str) -> AttributeValue {
        s(format!("ledger#{batch}"))
    }

    /// A claim's item: one per consumer and batch (`#` is in neither).
    fn claim_key(claim: &PaymentClaim) -> AttributeValue {
        s(format!("claim#{}#{}", claim.registration, claim.batch_id))
    }

    fn wallet_key(address: &str) -> AttributeValue {
        s(format!("wallet#{address}"))
    }

    /// What the grid owes `producer` from `period` (sorts by period within a producer).
    fn owed_key(producer: &str, period: PeriodStart) -> AttributeValue {
        s(format!("owed#{producer}#{:020}", period.get()))
    }

    async fn get_item(&self, key: AttributeValue) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.batches)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item().cloned())
    }

    /// Marks a pending batch final; the condition makes it happen once.
    fn finish_batch(
        &self,
        key: AttributeValue,
        status: BatchState,
        reason: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.batches)
            .key("pk", key)
            .condition_expression("attribute_exists(pending)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()));
        update = match reason {
            Some(reason) => update
                .update_expression("SET #status = :status, reason = :reason REMOVE pending")
                .expression_attribute_values(":reason", s(reason)),
            None => update.update_expression("SET #status = :status REMOVE pending"),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(backend)?).build())
    }

    fn add(
        &self,
        key: AttributeValue,
        expression: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder().table_name(&self.table).key("id", key).update_expression(expression);
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(backend)?).build())
    }

    /// Runs `items` as one transaction: `false` if one of its conditions failed (nothing
    /// was written: the write was done before, or is no longer due). A transaction
    /// cancelled for any other reason (another transaction or write held one of its
    /// items, throttling) is an error, so the caller tries again later rather than
    /// taking the write for done: a consumer's claim cancelled by a conflict with
    /// settlement's update of its account was otherwise refused as claimed before.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                    if a_condition_failed(cancelled.cancellation_reasons()) =>
                {
                    Ok(false)
                }
                _ => Err(backend(e)),
            },
        }
    }

    /// A new ledger batch the monitor follows, put only if its key is free: what claims
    /// and payouts share (pending, never checked, in the sparse `pending-by-last-check`
    /// index under their kind), and what each adds.
    fn new_batch<const N: usize>(
        &self,
        key: AttributeValue,
        kind: BatchKind,
        registration: &RegistrationId,
        amount: Iota,
        created: EpochMs,
        own: [(&str, AttributeValue); N],
    ) -> Result<Put, StoreError> {
        let mut item = Item::from([
            ("pk".to_owned(), key),
            ("kind".to_owned(), s(kind.as_str())),
            ("registration".to_owned(), s(registration.as_str())),
            ("amount".to_owned(), n(amount.get())),
            ("created".to_owned(), n(created.get())),
            ("status".to_owned(), s(BatchState::Pending.as_str())),
            ("pending".to_owned(), s(kind.as_str())),
            ("lastChecked".to_owned(), n(0)),
        ]);
        item.extend(own.into_iter().map(|(name, value)| (name.to_owned(), value)));
        Put::builder()
            .table_name(&self.batches)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(backend)
    }

    /// A query of the sparse `pending-by-last-check` index for the pending batches of one
    /// kind, least recently checked first.
    fn pending(&self, kind: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.batches)
            .index_name("pending-by-last-check")
            .key_condition_expression("pending = :kind")
            .expression_attribute_values(":kind", s(kind))
    }

    /// Every accounts item matching a filter, across all scan pages.
    async fn scan(&self, filter: &str, values: &[(&str, AttributeValue)]) -> Result<Vec<Item>, StoreError> {
        let mut request = self.client.scan().table_name(&self.table).filter_expression(filter).consistent_read(true);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        let mut pages = request.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(backend)?.items().iter().cloned());
        }
        Ok(items)
    }
}

fn batch_kind(item: &Item) -> Result<BatchKind, StoreError> {
    let kind = get_s(item, BATCHES, "kind")?;
    BatchKind::from_name(kind).ok_or_else(|| corrupt("batch kind", kind))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn payout_record(item: &Item) -> Result<PayoutRecord, StoreError> {
    Ok(PayoutRecord {
        batch: serde_json::from_str::<LedgerBatch>(get_s(item, BATCHES, "body")?).map_err(|e| corrupt("payout", e))?,
        producer: RegistrationId::parse(get_s(item, BATCHES, "registration")?).map_err(|e| corrupt("payout", e))?,
        amount: Iota::new(get_n(item, BATCHES, "amount")?),
        covers: serde_json::from_str(opt_s(item, BATCHES, "covers")?.unwrap_or("[]"))
            .map_err(|e| corrupt("payout covers", e))?,
        created: get_time(item, BATCHES, "created")?,
    })
}

/// Whether a cancelled transaction's reasons (one per action) name a failed condition.
fn a_condition_failed(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(|reason| reason.code() == Some("ConditionalCheckFailed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect()
    }

    #[test]
    fn only_a_failed_condition_makes_a_cancelled_transaction_a_write_not_due() {
        assert!(a_condition_failed(&reasons(&["None", "ConditionalCheckFailed", "None"])));
        for other in [
            &["TransactionConflict", "None"][..],
            &["None", "ThrottlingError"],
            &["ProvisionedThroughputExceeded"],
            &["ValidationError", "None"],
            &[],
        ] {
            assert!(!a_condition_failed(&reasons(other)), "{other:?} is to be tried again, not taken for done");
        }
    }
}
