//! `AccountStore` over the `accounts`, `grid_totals`, `wallet` and `batches` tables:
//! every multi-row change in one immediate transaction.

use async_trait::async_trait;
use grid_core::ledger::LedgerBatch;
use grid_core::{BatchId, EpochMs, Iota, PaymentAddress, RegistrationId, Wh};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, named_params};

use super::SqliteDb;
use crate::{
    Account, AccountEntry, AccountStore, BatchCounts, BatchView, ClaimResolution, Funds, GridTotals, LeaseStore,
    PaymentClaim, PayoutRecord, StoreError, Unpaid, Watched, WatchedBatch,
};

/// The books in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteAccountStore {
    db: SqliteDb,
}

impl SqliteAccountStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Stored amounts and times are far below 2^63.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn iota(value: i64) -> Iota {
    Iota::new(u64::try_from(value).unwrap_or(0))
}

/// A claim's row: one per consumer and batch (`/` is in neither).
fn claim_key(claim: &PaymentClaim) -> String {
    format!("{}/{}", claim.registration, claim.batch_id)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Adds to the money at one of the grid's addresses (`received` or `spent`).
fn add_to_wallet(
    tx: &Transaction<'_>,
    address: &str,
    seq: Option<i64>,
    column: &str,
    amount: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO wallet (address, seq, {column}) VALUES (:address, :seq, :amount)
             ON CONFLICT (address) DO UPDATE SET {column} = {column} + excluded.{column}"
        ),
        named_params! {":address": address, ":seq": seq.unwrap_or(i64::MAX), ":amount": amount},
    )?;
    Ok(())
}

const ACCOUNT_QUERY: &str = "SELECT billed, paid, pending, entitled, paid_out, payout_pending, last_period, energy_wh
                             FROM accounts WHERE id = ?1";

fn account_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        billed: iota(row.get(0)?),
        paid: iota(row.get(1)?),
        pending: iota(row.get(2)?),
        entitled: iota(row.get(3)?),
        paid_out: iota(row.get(4)?),
        payout_pending: iota(row.get(5)?),
        energy: Wh::new(row.get::<_, i64>(7)?.max(0) as u64),
        last_period: u64::try_from(row.get::<_, i64>(6)?).ok(),
    })
}

#[async_trait]
impl AccountStore for SqliteAccountStore {
    async fn apply(&self, period: u64, entries: &[AccountEntry], fee: Iota) -> Result<(), StoreError> {
        let entries: Vec<(String, i64, i64, i64, Option<String>)> = entries
            .iter()
            .map(|e| {
                let address = e.payment_address.as_ref().map(|a| a.to_string());
                let (billed, entitled, energy) = (int(e.billed.get()), int(e.entitled.get()), int(e.energy.get()));
                (e.registration.as_str().to_owned(), billed, entitled, energy, address)
            })
            .collect();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut upsert = tx.prepare_cached(
                        "INSERT INTO accounts (id, billed, entitled, energy_wh, last_period, address, oldest_unpaid)
                         VALUES (:id, :billed, :entitled, :energy, :period, :address,
                                 CASE WHEN :entitled > 0 THEN :period END)
                         ON CONFLICT (id) DO UPDATE SET
                             billed = billed + excluded.billed,
                             entitled = entitled + excluded.entitled,
                             energy_wh = energy_wh + excluded.energy_wh,
                             last_period = excluded.last_period,
                             address = COALESCE(excluded.address, address),
                             oldest_unpaid = COALESCE(oldest_unpaid, excluded.oldest_unpaid)
                         WHERE accounts.last_period < excluded.last_period",
                    )?;
                    for (id, billed, entitled, energy, address) in &entries {
                        upsert.execute(named_params! {
                            ":id": id, ":billed": billed, ":entitled": entitled, ":energy": energy,
                            ":period": int(period), ":address": address,
                        })?;
                    }
                }
                tx.execute(
                    "UPDATE grid_totals SET fees = fees + :fee, last_period = :period WHERE id = 0 AND last_period < :period",
                    named_params! {":fee": int(fee.get()), ":period": int(period)},
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn get(&self, registration: &RegistrationId) -> Result<Option<Account>, StoreError> {
        let id = registration.as_str().to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached(ACCOUNT_QUERY)?.query_row([&id], account_row).optional().map_err(StoreError::from)
            })
            .await
    }

    async fn get_many(&self, registrations: &[RegistrationId]) -> Result<Vec<(RegistrationId, Account)>, StoreError> {
        let ids = registrations.to_vec();
        self.db
            .run(move |conn| {
                let tx = conn.transaction()?;
                let mut found = Vec::with_capacity(ids.len());
                {
                    let mut stmt = tx.prepare_cached(ACCOUNT_QUERY)?;
                    for id in ids {
                        if let Some(account) = stmt.query_row([id.as_str()], account_row).optional()? {
                            found.push((id, account));
                        }
                    }
                }
                tx.commit()?;
                Ok(found)
            })
            .await
    }

    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError> {
        let (batch, id) = (claim_key(claim), claim.registration.as_str().to_owned());
        let (amount, index, at) = (int(claim.amount.get()), int(claim.channel_index), int(claim.claimed.get()));
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let recorded = tx
                    .prepare_cached(
                        "INSERT INTO batches (id, kind, registration_id, amount, channel_index, created_ms, status)
                         VALUES (:batch, 'claim', :id, :amount, :index, :at, 'pending') ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(
                        named_params! {":batch": batch, ":id": id, ":amount": amount, ":index": index, ":at": at},
                    )?;
                if recorded == 0 {
                    return Ok(false);
                }
                tx.prepare_cached(
                    "INSERT INTO accounts (id, pending) VALUES (:id, :amount)
                     ON CONFLICT (id) DO UPDATE SET pending = pending + excluded.pending",
                )?
                .execute(named_params! {":id": id, ":amount": amount})?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let (batch, resolution) = (claim_key(claim), resolution.clone());
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let claim: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT registration_id, amount FROM batches WHERE id = ?1 AND kind = 'claim' AND status = 'pending'",
                        [&batch],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                let Some((consumer, amount)) = claim else { return Ok(false) };
                let (status, reason) = match &resolution {
                    ClaimResolution::Verified { address, seq } => {
                        tx.execute(
                            "UPDATE accounts SET pending = pending - :amount, paid = paid + :amount WHERE id = :id",
                            named_params! {":amount": amount, ":id": consumer},
                        )?;
                        tx.execute("UPDATE grid_totals SET paid_in = paid_in + ?1 WHERE id = 0", [amount])?;
                        add_to_wallet(&tx, address.as_str(), Some(int(*seq)), "received", amount)?;
                        ("verified", None)
                    }
                    ClaimResolution::Rejected { reason } => {
                        tx.execute(
                            "UPDATE accounts SET pending = pending - :amount WHERE id = :id",
                            named_params! {":amount": amount, ":id": consumer},
                        )?;
                        ("rejected", Some(reason.clone()))
                    }
                };
                tx.execute(
                    "UPDATE batches SET status = ?2, reason = ?3 WHERE id = ?1",
                    rusqlite::params![batch, status, reason],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn totals(&self) -> Result<GridTotals, StoreError> {
        self.db
            .run(|conn| {
                Ok(conn.query_row("SELECT paid_in, fees, payouts FROM grid_totals WHERE id = 0", [], |row| {
                    Ok(GridTotals { paid_in: iota(row.get(0)?), fees: iota(row.get(1)?), payouts: iota(row.get(2)?) })
                })?)
            })
            .await
    }

    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError> {
        self.db
            .run(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, entitled - paid_out - payout_pending, oldest_unpaid, address, paid_out + payout_pending, refused
                     FROM accounts WHERE oldest_unpaid IS NOT NULL AND entitled > paid_out + payout_pending",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, i64>(5)?,
                    ))
                })?;
                rows.map(|row| {
                    let (id, unpaid, oldest, address, before, refused) = row?;
                    Ok(Unpaid {
                        producer: RegistrationId::parse(id).map_err(|e| corrupt("account", e))?,
                        unpaid: iota(unpaid),
                        oldest_period: oldest as u64,
                        address: address.map(PaymentAddress::parse).transpose().map_err(|e| corrupt("account", e))?,
                        paid_before: iota(before),
                        refused: refused as u64,
                    })
                })
                .collect()
            })
            .await
    }

    async fn funds(&self) -> Result<Vec<Funds>, StoreError> {
        self.db
            .run(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT address, seq, received - spent FROM wallet WHERE received > spent ORDER BY seq, address",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                })?;
                rows.map(|row| {
                    let (address, seq, available) = row?;
                    Ok(Funds {
                        address: PaymentAddress::parse(address).map_err(|e| corrupt("wallet", e))?,
                        seq: seq as u64,
                        available: iota(available),
                    })
                })
                .collect()
            })
            .await
    }

    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError> {
        let body = serde_json::to_string(&payout.batch).map_err(StoreError::backend)?;
        let (id, producer, amount) =
            (payout.batch.id.as_str().to_owned(), payout.producer.as_str().to_owned(), int(payout.amount.get()));
        let sources: Vec<(String, i64)> =
            payout.batch.transfers.iter().map(|t| (t.from.to_string(), int(t.amount.get()))).collect();
        let now = int(payout.created.get());
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let recorded = tx.execute(
                    "INSERT INTO batches (id, kind, registration_id, amount, body, created_ms, status)
                     VALUES (:id, 'payout', :producer, :amount, :body, :now, 'pending') ON CONFLICT (id) DO NOTHING",
                    named_params! {":id": id, ":producer": producer, ":amount": amount, ":body": body, ":now": now},
                )?;
                if recorded == 0 {
                    return Ok(false);
                }
                tx.execute(
                    "UPDATE accounts SET payout_pending = payout_pending + :amount,
                         oldest_unpaid = CASE WHEN entitled - paid_out - payout_pending - :amount > 0 THEN oldest_unpaid END
                     WHERE id = :producer",
                    named_params! {":amount": amount, ":producer": producer},
                )?;
                tx.execute("UPDATE grid_totals SET payouts = payouts + ?1 WHERE id = 0", [amount])?;
                for (address, part) in &sources {
                    add_to_wallet(&tx, address, None, "spent", *part)?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn resolve_payout(&self, batch: &BatchId, committed: bool, reasons: &[String]) -> Result<bool, StoreError> {
        let batch = batch.as_str().to_owned();
        let reasons = serde_json::to_string(reasons).map_err(StoreError::backend)?;
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let payout: Option<(String, i64, String)> = tx
                    .query_row(
                        "SELECT registration_id, amount, body FROM batches
                         WHERE id = ?1 AND kind = 'payout' AND status = 'pending'",
                        [&batch],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )
                    .optional()?;
                let Some((producer, amount, body)) = payout else { return Ok(false) };
                if committed {
                    tx.execute(
                        "UPDATE accounts SET payout_pending = payout_pending - :amount, paid_out = paid_out + :amount WHERE id = :id",
                        named_params! {":amount": amount, ":id": producer},
                    )?;
                } else {
                    // Refused: the money is the grid's again, and the producer is owed it again.
                    let transfers: LedgerBatch = serde_json::from_str(&body).map_err(|e| corrupt("payout", e))?;
                    tx.execute(
                        "UPDATE accounts SET payout_pending = payout_pending - :amount, refused = refused + 1,
                             oldest_unpaid = COALESCE(oldest_unpaid, last_period) WHERE id = :id",
                        named_params! {":amount": amount, ":id": producer},
                    )?;
                    tx.execute("UPDATE grid_totals SET payouts = payouts - ?1 WHERE id = 0", [amount])?;
                    for t in &transfers.transfers {
                        add_to_wallet(&tx, t.from.as_str(), None, "spent", -int(t.amount.get()))?;
                    }
                }
                tx.execute(
                    "UPDATE batches SET status = ?2, reasons = ?3 WHERE id = ?1",
                    rusqlite::params![batch, if committed { "committed" } else { "invalid" }, reasons],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn due_batches(&self, now: u64, limit: usize) -> Result<Vec<WatchedBatch>, StoreError> {
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, kind, registration_id, amount, body, channel_index, created_ms, last_checked_ms,
                            times_checked, stalled
                     FROM batches WHERE status = 'pending' AND next_check_ms <= ?1
                     ORDER BY last_checked_ms, created_ms, id LIMIT ?2",
                )?;
                let rows = stmt.query_map([int(now), int(limit as u64)], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<i64>>(5)?,
                        row.get::<_, i64>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, bool>(9)?,
                    ))
                })?;
                rows.map(|row| {
                    let (key, kind, registration, amount, body, index, created, last_checked, times, stalled) = row?;
                    let registration = RegistrationId::parse(registration).map_err(|e| corrupt("batch", e))?;
                    let watched = match kind.as_str() {
                        "claim" => {
                            let batch = key.split_once('/').map(|(_, b)| b).ok_or_else(|| corrupt("claim", &key))?;
                            Watched::Claim(PaymentClaim {
                                registration,
                                batch_id: BatchId::parse(batch).map_err(|e| corrupt("claim", e))?,
                                amount: iota(amount),
                                channel_index: index.unwrap_or(0) as u64,
                                claimed: EpochMs::parse(created).map_err(|e| corrupt("claim", e))?,
                            })
                        }
                        _ => Watched::Payout(PayoutRecord {
                            batch: serde_json::from_str::<LedgerBatch>(body.as_deref().unwrap_or_default())
                                .map_err(|e| corrupt("payout", e))?,
                            producer: registration,
                            amount: iota(amount),
                            created: EpochMs::parse(created).map_err(|e| corrupt("payout", e))?,
                        }),
                    };
                    Ok(WatchedBatch {
                        watched,
                        submitted: created as u64,
                        last_checked: last_checked as u64,
                        times_checked: times as u64,
                        stalled,
                    })
                })
                .collect()
            })
            .await
    }

    async fn checked(&self, watched: &Watched, now: u64, next_check: u64, stalled: bool) -> Result<(), StoreError> {
        let key = match watched {
            Watched::Claim(claim) => claim_key(claim),
            Watched::Payout(payout) => payout.batch.id.to_string(),
        };
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE batches SET last_checked_ms = :now, times_checked = times_checked + 1,
                         next_check_ms = :next, stalled = :stalled
                     WHERE id = :id AND status = 'pending'",
                )?
                .execute(named_params! {":now": int(now), ":next": int(next_check), ":stalled": stalled, ":id": key})?;
                Ok(())
            })
            .await
    }

    async fn batches(&self, status: Option<&str>, limit: usize) -> Result<Vec<BatchView>, StoreError> {
        let status = status.map(str::to_owned);
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, kind, registration_id, amount,
                            CASE WHEN status = 'pending' AND stalled THEN 'stalled' ELSE status END,
                            reasons, reason, created_ms, last_checked_ms, times_checked
                     FROM batches WHERE (:status IS NULL OR status = :status
                                         OR (:status = 'stalled' AND status = 'pending' AND stalled))
                     ORDER BY created_ms DESC, id LIMIT :limit",
                )?;
                let rows = stmt.query_map(named_params! {":status": status, ":limit": int(limit as u64)}, |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, i64>(9)?,
                    ))
                })?;
                rows.map(|row| {
                    let (key, kind, registration, amount, status, reasons, reason, created, checked, times) = row?;
                    let batch =
                        if kind == "claim" { key.split_once('/').map_or(key.as_str(), |(_, b)| b) } else { &key };
                    let mut reasons: Vec<String> = serde_json::from_str(&reasons).map_err(|e| corrupt("batch", e))?;
                    reasons.extend(reason);
                    Ok(BatchView {
                        id: BatchId::parse(batch).map_err(|e| corrupt("batch", e))?,
                        kind,
                        registration: RegistrationId::parse(registration).map_err(|e| corrupt("batch", e))?,
                        amount: iota(amount),
                        status,
                        reasons,
                        submitted: created as u64,
                        last_checked: checked as u64,
                        times_checked: times as u64,
                    })
                })
                .collect()
            })
            .await
    }

    async fn batch_counts(&self) -> Result<BatchCounts, StoreError> {
        self.db
            .run(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT CASE WHEN status = 'pending' AND stalled THEN 'stalled' ELSE status END, count(*)
                     FROM batches GROUP BY 1",
                )?;
                let mut counts = BatchCounts::default();
                for row in stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
                    let (status, count) = row?;
                    counts.add(&status, count as u64);
                }
                Ok(counts)
            })
            .await
    }
}

/// Leases in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteLeaseStore {
    db: SqliteDb,
}

impl SqliteLeaseStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LeaseStore for SqliteLeaseStore {
    async fn acquire(&self, job: &str, holder: &str, now: u64, ttl_ms: u64) -> Result<bool, StoreError> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.db
            .run(move |conn| {
                let taken = conn
                    .prepare_cached(
                        "INSERT INTO leases (job, holder, expires_ms) VALUES (:job, :holder, :expires)
                         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                         WHERE leases.expires_ms <= :now OR leases.holder = excluded.holder",
                    )?
                    .execute(named_params! {
                        ":job": job, ":holder": holder, ":expires": int(now.saturating_add(ttl_ms)), ":now": int(now),
                    })?;
                Ok(taken > 0)
            })
            .await
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        let (job, holder) = (job.to_owned(), holder.to_owned());
        self.db
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM leases WHERE job = ?1 AND holder = ?2")?.execute([job, holder])?;
                Ok(())
            })
            .await
    }
}
