//! The batches the monitor follows, and the operator's view of every batch.

use super::*;
use crate::BatchWatch;
use crate::aws::maybe_written::{NOT_APPLIED, op_id};

#[async_trait]
impl BatchWatch for DynamoAccountStore {
    async fn due_batches(&self, now: EpochMs, limit: usize) -> Result<Vec<WatchedBatch>, StoreError> {
        let mut batches = Vec::new();
        for kind in ["claim", "payout"] {
            for item in self.due(kind, now.get(), limit).await? {
                batches.push(watched_from_item(&item)?);
            }
        }
        batches.sort_by_key(|a| (a.last_checked, a.submitted));
        batches.truncate(limit);
        Ok(batches)
    }

    async fn checked(
        &self,
        watched: &Watched,
        now: EpochMs,
        next_check: EpochMs,
        stalled: bool,
    ) -> Result<(), StoreError> {
        let key = match watched {
            Watched::Claim(claim) => Self::claim_key(claim),
            Watched::Payout(payout) => Self::batch_key(payout.batch.id.as_str()),
        };
        // `lastOp` makes the ADD apply once when its answer is lost and the SDK sends it
        // again (see `maybe_written`).
        let result = self
            .client
            .update_item()
            .table_name(&self.batches)
            .key("pk", key)
            .update_expression(
                "SET lastChecked = :now, nextCheck = :next, stalled = :stalled, lastOp = :op ADD timesChecked :one",
            )
            .condition_expression(format!("attribute_exists(pending) AND {NOT_APPLIED}"))
            .expression_attribute_values(":now", n(now.get()))
            .expression_attribute_values(":next", n(next_check.get()))
            .expression_attribute_values(":stalled", AttributeValue::Bool(stalled))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":op", s(op_id()))
            .send()
            .await;
        // Resolved meanwhile, or recorded by an attempt whose answer was lost: nothing to record.
        written!(result).map(|_| ())
    }

    async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchView>, StoreError> {
        let mut pages = self.client.scan().table_name(&self.batches).into_paginator().send();
        let mut views = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                let kind = batch_kind(item)?;
                let shown = shown_status(item)?;
                let wanted = match status {
                    None => true,
                    Some(BatchState::Pending) => matches!(shown, BatchState::Pending | BatchState::Stalled),
                    Some(other) => other == shown,
                };
                if !wanted {
                    continue;
                }
                let id = match kind {
                    BatchKind::Claim => get_s(item, BATCHES, "batch")?.to_owned(),
                    BatchKind::Payout => get_s(item, BATCHES, "pk")?.trim_start_matches("ledger#").to_owned(),
                };
                views.push(BatchView {
                    id: BatchId::parse(id).map_err(|e| corrupt("batch", e))?,
                    kind,
                    registration: RegistrationId::parse(get_s(item, BATCHES, "registration")?)
                        .map_err(|e| corrupt("batch", e))?,
                    amount: Iota::new(get_n(item, BATCHES, "amount")?),
                    status: shown,
                    reasons: opt_s(item, BATCHES, "reason")?.map(|r| vec![r.to_owned()]).unwrap_or_default(),
                    submitted: get_time(item, BATCHES, "created")?,
                    last_checked: last_checked(item)?,
                    times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
                });
            }
        }
        views.sort_by(|a, b| b.submitted.cmp(&a.submitted).then_with(|| a.id.cmp(&b.id)));
        views.truncate(limit);
        Ok(views)
    }

    async fn batch_counts(&self) -> Result<BatchCounts, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.batches)
            .projection_expression("#status, stalled")
            .expression_attribute_names("#status", "status")
            .into_paginator()
            .send();
        let mut counts = BatchCounts::default();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                counts.add(shown_status(item)?, 1);
            }
        }
        Ok(counts)
    }

    async fn pending_batches(&self) -> Result<PendingBatches, StoreError> {
        let mut pending = PendingBatches::default();
        for (kind, count) in [("claim", &mut pending.claims), ("payout", &mut pending.payouts)] {
            let mut pages = self.pending(kind).select(Select::Count).into_paginator().send();
            while let Some(page) = pages.next().await {
                let counted = page.map_err(backend)?.count();
                *count += u64::try_from(counted).map_err(|_| corrupt("pending batches", counted))?;
            }
        }
        Ok(pending)
    }
}

impl DynamoAccountStore {
    /// Pending batches of one kind due at `now`, least recently checked first.
    async fn due(&self, kind: &str, now: u64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = self
            .pending(kind)
            .filter_expression("attribute_not_exists(nextCheck) OR nextCheck <= :now")
            .expression_attribute_values(":now", n(now))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(backend)?.items().iter().cloned());
            if items.len() >= limit {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }
}

/// A batch's status as the operator sees it: a pending batch followed too long is
/// `stalled`.
fn shown_status(item: &Item) -> Result<BatchState, StoreError> {
    let stored = BatchState::parse(get_s(item, BATCHES, "status")?).map_err(|e| corrupt("batch status", e))?;
    let stalled = matches!(item.get("stalled"), Some(AttributeValue::Bool(true)));
    Ok(if stored == BatchState::Pending && stalled { BatchState::Stalled } else { stored })
}

fn watched_from_item(item: &Item) -> Result<WatchedBatch, StoreError> {
    let watched = match batch_kind(item)? {
        BatchKind::Claim => Watched::Claim(claim_from_item(item)?),
        BatchKind::Payout => Watched::Payout(payout_record(item)?),
    };
    Ok(WatchedBatch {
        watched,
        submitted: get_time(item, BATCHES, "created")?,
        last_checked: last_checked(item)?,
        times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
        stalled: matches!(item.get("stalled"), Some(AttributeValue::Bool(true))),
    })
}

/// A batch's last check: written as 0 when the batch is recorded.
fn last_checked(item: &Item) -> Result<Option<EpochMs>, StoreError> {
    Ok(opt_time(item, BATCHES, "lastChecked")?.filter(|at| at.get() > 0))
}

fn claim_from_item(item: &Item) -> Result<PaymentClaim, StoreError> {
    Ok(PaymentClaim {
        registration: RegistrationId::parse(get_s(item, BATCHES, "registration")?).map_err(|e| corrupt("claim", e))?,
        batch_id: BatchId::parse(get_s(item, BATCHES, "batch")?).map_err(|e| corrupt("claim", e))?,
        amount: Iota::new(get_n(item, BATCHES, "amount")?),
        channel_index: opt_n(item, BATCHES, "channelIndex")?.unwrap_or(0),
        claimed: get_time(item, BATCHES, "created")?,
    })
}
