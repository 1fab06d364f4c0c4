//! The batches the monitor follows, and the operator's view of every batch.

use super::*;
use crate::BatchWatch;

#[async_trait]
impl BatchWatch for SqliteAccountStore {
    async fn due_batches(&self, now: EpochMs, limit: usize) -> Result<Vec<WatchedBatch>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, kind, registration_id, amount, body, covers, channel_index, created_ms, last_checked_ms,
                            times_checked, stalled
                     FROM batches WHERE status = 'pending' AND next_check_ms <= ?1
                     ORDER BY last_checked_ms, created_ms, id LIMIT ?2",
                )?;
                let rows = stmt.query_map(rusqlite::params![now.get(), limit as u64], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, u64>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, Option<u64>>(6)?,
                        row.get::<_, u64>(7)?,
                        row.get::<_, u64>(8)?,
                        row.get::<_, u64>(9)?,
                        row.get::<_, bool>(10)?,
                    ))
                })?;
                rows.map(|row| {
                    let (key, kind, registration, amount, body, covers, index, created, last_checked, times, stalled) =
                        row?;
                    let registration = RegistrationId::parse(registration).map_err(|e| corrupt("batch", e))?;
                    let watched = match BatchKind::from_name(&kind).ok_or_else(|| corrupt("batch kind", &kind))? {
                        BatchKind::Claim => {
                            let batch = key.split_once('/').map(|(_, b)| b).ok_or_else(|| corrupt("claim", &key))?;
                            Watched::Claim(PaymentClaim {
                                registration,
                                batch_id: BatchId::parse(batch).map_err(|e| corrupt("claim", e))?,
                                amount: Iota::new(amount),
                                channel_index: index.unwrap_or(0),
                                claimed: time(created)?,
                            })
                        }
                        BatchKind::Payout => Watched::Payout(PayoutRecord {
                            batch: serde_json::from_str::<LedgerBatch>(body.as_deref().unwrap_or_default())
                                .map_err(|e| corrupt("payout", e))?,
                            producer: registration,
                            amount: Iota::new(amount),
                            covers: serde_json::from_str(covers.as_deref().unwrap_or("[]"))
                                .map_err(|e| corrupt("payout covers", e))?,
                            created: time(created)?,
                        }),
                    };
                    Ok(WatchedBatch {
                        watched,
                        submitted: time(created)?,
                        last_checked: never_is_zero(last_checked)?,
                        times_checked: times,
                        stalled,
                    })
                })
                .collect()
            })
            .await
    }

    async fn checked(
        &self,
        watched: &Watched,
        now: EpochMs,
        next_check: EpochMs,
        stalled: bool,
    ) -> Result<(), StoreError> {
        let key = match watched {
            Watched::Claim(claim) => claim_key(claim),
            Watched::Payout(payout) => payout.batch.id.to_string(),
        };
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE batches SET last_checked_ms = :now, times_checked = times_checked + 1,
                         next_check_ms = :next, stalled = :stalled
                     WHERE id = :id AND status = 'pending'",
                )?
                .execute(
                    named_params! {":now": now.get(), ":next": next_check.get(), ":stalled": stalled, ":id": key},
                )?;
                Ok(())
            })
            .await
    }

    async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchView>, StoreError> {
        let status = status.map(BatchState::as_str);
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, kind, registration_id, amount,
                            CASE WHEN status = 'pending' AND stalled THEN 'stalled' ELSE status END,
                            reasons, reason, created_ms, last_checked_ms, times_checked
                     FROM batches WHERE (:status IS NULL OR status = :status
                                         OR (:status = 'stalled' AND status = 'pending' AND stalled))
                     ORDER BY created_ms DESC, id LIMIT :limit",
                )?;
                let rows = stmt.query_map(named_params! {":status": status, ":limit": limit as u64}, |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, u64>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, u64>(7)?,
                        row.get::<_, u64>(8)?,
                        row.get::<_, u64>(9)?,
                    ))
                })?;
                rows.map(|row| {
                    let (key, kind, registration, amount, status, reasons, reason, created, checked, times) = row?;
                    let kind = BatchKind::from_name(&kind).ok_or_else(|| corrupt("batch kind", &kind))?;
                    let batch = match kind {
                        BatchKind::Claim => key.split_once('/').map_or(key.as_str(), |(_, b)| b),
                        BatchKind::Payout => &key,
                    };
                    let mut reasons: Vec<String> = serde_json::from_str(&reasons).map_err(|e| corrupt("batch", e))?;
                    reasons.extend(reason);
                    Ok(BatchView {
                        id: BatchId::parse(batch).map_err(|e| corrupt("batch", e))?,
                        kind,
                        registration: RegistrationId::parse(registration).map_err(|e| corrupt("batch", e))?,
                        amount: Iota::new(amount),
                        status: BatchState::parse(&status).map_err(|e| corrupt("batch status", e))?,
                        reasons,
                        submitted: time(created)?,
                        last_checked: never_is_zero(checked)?,
                        times_checked: times,
                    })
                })
                .collect()
            })
            .await
    }

    async fn batch_counts(&self) -> Result<BatchCounts, StoreError> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT CASE WHEN status = 'pending' AND stalled THEN 'stalled' ELSE status END, count(*)
                     FROM batches GROUP BY 1",
                )?;
                let mut counts = BatchCounts::default();
                for row in stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))? {
                    let (status, count) = row?;
                    counts.add(BatchState::parse(&status).map_err(|e| corrupt("batch status", e))?, count);
                }
                Ok(counts)
            })
            .await
    }

    async fn pending_batches(&self) -> Result<PendingBatches, StoreError> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT kind, count(*) FROM batches INDEXED BY batches_pending
                     WHERE kind IN ('claim', 'payout') AND status = 'pending' GROUP BY kind",
                )?;
                let mut pending = PendingBatches::default();
                for row in stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))? {
                    let (kind, count) = row?;
                    match BatchKind::from_name(&kind) {
                        Some(BatchKind::Claim) => pending.claims = count,
                        Some(BatchKind::Payout) => pending.payouts = count,
                        None => return Err(corrupt("batch kind", &kind)),
                    }
                }
                Ok(pending)
            })
            .await
    }
}

/// A batch's last check: stored as 0 when there was none.
fn never_is_zero(ms: u64) -> Result<Option<EpochMs>, StoreError> {
    Ok(if ms == 0 { None } else { Some(time(ms)?) })
}
