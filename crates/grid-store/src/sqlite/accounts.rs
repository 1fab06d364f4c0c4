//! `AccountStore` over the `accounts`, `grid_totals`, `wallet` and `batches` tables:
//! every multi-row change in one immediate transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::books::{
    Account, AccountEntry, BatchKind, BatchState, ClaimResolution, Cover, Entitlement, GridEntry, GridTotals,
    PaymentClaim, PayoutRecord, PayoutResolution, StatementLine, StatementRange,
};
use grid_core::ledger::LedgerBatch;
use grid_core::market::PeriodStart;
use grid_core::{BatchId, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};
use rusqlite::{Connection, OptionalExtension, named_params};

use super::SqliteDb;
use crate::{AccountStore, BatchCounts, BatchView, Funds, PendingBatches, StoreError, Unpaid, Watched, WatchedBatch};

/// The books in the embedded SQLite database. Every number goes in and comes out as a
/// `u64` through rusqlite's checked conversions ([`StoreError::OutOfRange`] beyond
/// `i64::MAX`), never clamped.
#[derive(Clone)]
pub struct SqliteAccountStore {
    db: SqliteDb,
}

impl SqliteAccountStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// A claim's row: one per consumer and batch (`/` is in neither).
fn claim_key(claim: &PaymentClaim) -> String {
    format!("{}/{}", claim.registration, claim.batch_id)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn period(ms: u64) -> Result<PeriodStart, StoreError> {
    PeriodStart::parse(ms).map_err(|e| corrupt("period", e))
}

fn time(ms: u64) -> Result<EpochMs, StoreError> {
    i64::try_from(ms).ok().and_then(|ms| EpochMs::parse(ms).ok()).ok_or_else(|| corrupt("time", ms))
}

/// A batch's last check: stored as 0 when there was none.
fn never_is_zero(ms: u64) -> Result<Option<EpochMs>, StoreError> {
    Ok(if ms == 0 { None } else { Some(time(ms)?) })
}

/// Adds to the money at one of the grid's addresses: `received`, or `spent` (negative
/// `amount`s give back).
fn add_to_wallet(
    conn: &Connection,
    address: &str,
    seq: Option<u64>,
    column: &str,
    amount: i128,
) -> Result<(), StoreError> {
    let amount = i64::try_from(amount).map_err(|_| StoreError::OutOfRange(format!("{amount} IOTA")))?;
    conn.execute(
        &format!(
            "INSERT INTO wallet (address, seq, {column}) VALUES (:address, :seq, :amount)
             ON CONFLICT (address) DO UPDATE SET {column} = {column} + excluded.{column}"
        ),
        named_params! {":address": address, ":seq": seq.unwrap_or(i64::MAX as u64), ":amount": amount},
    )?;
    Ok(())
}

/// Gives a refused payout's covers back to the periods they paid (a pool-era payout
/// may name a period with no entitlement row: then it becomes one).
fn restore_covers(conn: &Connection, producer: &str, covers: &[Cover]) -> Result<(), StoreError> {
    let mut restore = conn.prepare_cached(
        "INSERT INTO entitlements (producer_id, period, address, amount, unpaid)
         VALUES (:producer, :period, :address, :amount, :amount)
         ON CONFLICT (producer_id, period) DO UPDATE SET
             unpaid = unpaid + excluded.unpaid, amount = MAX(amount, unpaid + excluded.unpaid)",
    )?;
    for cover in covers {
        restore.execute(named_params! {
            ":producer": producer, ":period": cover.period.get(), ":address": cover.address.as_str(),
            ":amount": cover.amount.get(),
        })?;
    }
    Ok(())
}

const ACCOUNT_QUERY: &str = "SELECT billed, paid, pending, entitled, paid_out, payout_pending, last_period, energy_wh,
                                    matched_wh
                             FROM accounts WHERE id = ?1";

fn account_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let iota = |i: usize| row.get::<_, u64>(i).map(Iota::new);
    Ok(Account {
        billed: iota(0)?,
        paid: iota(1)?,
        pending: iota(2)?,
        entitled: iota(3)?,
        paid_out: iota(4)?,
        payout_pending: iota(5)?,
        // -1 until a period is applied.
        last_period: u64::try_from(row.get::<_, i64>(6)?).ok().and_then(|p| PeriodStart::parse(p).ok()),
        energy: Wh::new(row.get(7)?),
        matched: Wh::new(row.get(8)?),
    })
}

#[async_trait]
impl AccountStore for SqliteAccountStore {
    async fn apply(&self, at: PeriodStart, entries: &[AccountEntry], grid: GridEntry) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.db
            .write(move |conn| {
                // Parameters by position: a hundred thousand rows looking up each of 26
                // names cost a tenth of the job (2026-12-05).
                {
                    let mut upsert = conn.prepare_cached(
                        "INSERT INTO accounts (id, billed, entitled, energy_wh, matched_wh, last_period)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (id) DO UPDATE SET
                             billed = billed + excluded.billed,
                             entitled = entitled + excluded.entitled,
                             energy_wh = energy_wh + excluded.energy_wh,
                             matched_wh = matched_wh + excluded.matched_wh,
                             last_period = excluded.last_period
                         WHERE accounts.last_period < excluded.last_period",
                    )?;
                    let mut line = conn.prepare_cached(
                        "INSERT INTO statement_lines (registration_id, period, kind, price, cap, feed_in, self_consumed,
                             used, local, imported, charge, bid, savings, produced, offered, matched, exported,
                             allocation, ask, gain)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                             ?19, ?20)
                         ON CONFLICT (registration_id, period) DO NOTHING",
                    )?;
                    let mut owe = conn.prepare_cached(
                        "INSERT INTO entitlements (producer_id, period, address, amount, unpaid)
                         VALUES (:producer, :period, :address, :amount, :amount)
                         ON CONFLICT (producer_id, period) DO NOTHING",
                    )?;
                    for e in &entries {
                        let applied = upsert.execute(rusqlite::params![
                            e.registration.as_str(),
                            e.billed().get(),
                            e.entitled().get(),
                            e.energy.get(),
                            e.matched.get(),
                            at.get(),
                        ])?;
                        if applied == 0 {
                            continue;
                        }
                        let l = &e.line;
                        line.execute(rusqlite::params![
                            e.registration.as_str(),
                            at.get(),
                            l.kind.map(|k| k.as_str()),
                            l.price.get(),
                            l.cap.get(),
                            l.feed_in.get(),
                            l.self_consumed.get(),
                            l.used.get(),
                            l.local.get(),
                            l.imported.get(),
                            l.charge.get(),
                            l.bid.map(Price::get),
                            l.savings.get(),
                            l.produced.get(),
                            l.offered.get(),
                            l.matched.get(),
                            l.exported.get(),
                            l.allocation.get(),
                            l.ask.map(Price::get),
                            l.gain,
                        ])?;
                        if let Some(address) = e.payment_address.as_ref().filter(|_| e.entitled() > Iota::ZERO) {
                            owe.execute(named_params! {
                                ":producer": e.registration.as_str(), ":period": at.get(), ":address": address.as_str(),
                                ":amount": e.entitled().get(),
                            })?;
                        }
                    }
                }
                conn.execute(
                    "UPDATE grid_totals
                     SET fees = fees + :fee, savings = savings + :savings, gains = gains + :gains, last_period = :period
                     WHERE id = 0 AND last_period < :period",
                    named_params! {
                        ":fee": grid.fee.get(), ":savings": grid.savings.get(), ":gains": grid.gains, ":period": at.get(),
                    },
                )?;
                Ok(())
            })
            .await
    }

    async fn statement_lines(
        &self,
        registration: &RegistrationId,
        range: StatementRange,
    ) -> Result<Vec<StatementLine>, StoreError> {
        let registration = registration.clone();
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT period, kind, price, cap, feed_in, self_consumed, used, local, imported, charge, bid,
                         savings, produced, offered, matched, exported, allocation, ask, gain
                     FROM statement_lines WHERE registration_id = ?1 AND period >= ?2 AND period < ?3
                     ORDER BY period",
                )?;
                let rows =
                    stmt.query_map(rusqlite::params![registration.as_str(), range.from(), range.to()], |row| {
                        Ok((
                            row.get::<_, u64>(0)?,
                            row.get::<_, Option<String>>(1)?,
                            [row.get::<_, u64>(2)?, row.get(3)?, row.get(4)?],
                            [row.get::<_, u64>(5)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?],
                            row.get::<_, Option<u64>>(10)?,
                            [
                                row.get::<_, u64>(11)?,
                                row.get(12)?,
                                row.get(13)?,
                                row.get(14)?,
                                row.get(15)?,
                                row.get(16)?,
                            ],
                            row.get::<_, Option<u64>>(17)?,
                            row.get::<_, i64>(18)?,
                        ))
                    })?;
                let mut lines = Vec::new();
                for row in rows {
                    let (period, kind, [price, cap, feed_in], bought, bid, sold, ask, gain) = row?;
                    let corrupt =
                        |what: &str| StoreError::Corrupt(format!("statement line {registration}@{period}: {what}"));
                    let price_of = |value: u64| Price::parse(value).map_err(|_| corrupt("a price beyond the bound"));
                    let [self_consumed, used, local, imported, charge] = bought;
                    let [savings, produced, offered, matched, exported, allocation] = sold;
                    lines.push(StatementLine {
                        period: PeriodStart::parse(period).map_err(|_| corrupt("the period"))?,
                        kind: kind.map(|k| ItemType::parse(&k).map_err(|_| corrupt("the kind"))).transpose()?,
                        price: price_of(price)?,
                        cap: price_of(cap)?,
                        feed_in: price_of(feed_in)?,
                        self_consumed: Wh::new(self_consumed),
                        used: Wh::new(used),
                        local: Wh::new(local),
                        imported: Wh::new(imported),
                        charge: Iota::new(charge),
                        bid: bid.map(price_of).transpose()?,
                        savings: Iota::new(savings),
                        produced: Wh::new(produced),
                        offered: Wh::new(offered),
                        matched: Wh::new(matched),
                        exported: Wh::new(exported),
                        allocation: Iota::new(allocation),
                        ask: ask.map(price_of).transpose()?,
                        gain,
                    });
                }
                Ok(lines)
            })
            .await
    }

    async fn get(&self, registration: &RegistrationId) -> Result<Option<Account>, StoreError> {
        self.db.lookup(|conn| {
            conn.prepare_cached(ACCOUNT_QUERY)?
                .query_row([registration.as_str()], account_row)
                .optional()
                .map_err(StoreError::from)
        })
    }

    async fn get_many(&self, registrations: &[RegistrationId]) -> Result<Vec<(RegistrationId, Account)>, StoreError> {
        let ids = registrations.to_vec();
        self.db
            .read(move |conn| {
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
        let (amount, index, at) = (claim.amount.get(), claim.channel_index, claim.claimed.get());
        self.db
            .write(move |conn| {
                let recorded = conn
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
                conn.prepare_cached(
                    "INSERT INTO accounts (id, pending) VALUES (:id, :amount)
                     ON CONFLICT (id) DO UPDATE SET pending = pending + excluded.pending",
                )?
                .execute(named_params! {":id": id, ":amount": amount})?;
                Ok(true)
            })
            .await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let (batch, resolution) = (claim_key(claim), resolution.clone());
        self.db
            .write(move |conn| {
                let claim: Option<(String, u64)> = conn
                    .query_row(
                        "SELECT registration_id, amount FROM batches WHERE id = ?1 AND kind = 'claim' AND status = 'pending'",
                        [&batch],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?;
                let Some((consumer, claimed)) = claim else { return Ok(false) };
                let credited = resolution.credited().get();
                conn.execute(
                    "UPDATE accounts SET pending = pending - :claimed, paid = paid + :credited WHERE id = :id",
                    named_params! {":claimed": claimed, ":credited": credited, ":id": consumer},
                )?;
                let (status, reason) = match &resolution {
                    ClaimResolution::Verified { credits } => {
                        conn.execute("UPDATE grid_totals SET paid_in = paid_in + ?1 WHERE id = 0", [credited])?;
                        for credit in credits {
                            add_to_wallet(
                                conn,
                                credit.address.as_str(),
                                Some(credit.seq),
                                "received",
                                i128::from(credit.amount.get()),
                            )?;
                        }
                        (BatchState::Verified, None)
                    }
                    ClaimResolution::Rejected { reason } => (BatchState::Rejected, Some(reason.clone())),
                };
                conn.execute(
                    "UPDATE batches SET status = ?2, reason = ?3 WHERE id = ?1",
                    rusqlite::params![batch, status.as_str(), reason],
                )?;
                Ok(true)
            })
            .await
    }

    async fn totals(&self) -> Result<GridTotals, StoreError> {
        self.db
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT paid_in, fees, payouts, savings, gains FROM grid_totals WHERE id = 0",
                    [],
                    |row| {
                        Ok(GridTotals {
                            paid_in: Iota::new(row.get(0)?),
                            fees: Iota::new(row.get(1)?),
                            payouts: Iota::new(row.get(2)?),
                            savings: Iota::new(row.get(3)?),
                            gains: row.get(4)?,
                        })
                    },
                )?)
            })
            .await
    }

    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT e.producer_id, e.period, e.address, e.unpaid, a.paid_out + a.payout_pending, a.refused
                     FROM entitlements e JOIN accounts a ON a.id = e.producer_id
                     WHERE e.unpaid > 0 ORDER BY e.producer_id, e.period",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, u64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, u64>(3)?,
                        row.get::<_, u64>(4)?,
                        row.get::<_, u64>(5)?,
                    ))
                })?;
                let mut unpaid: Vec<Unpaid> = Vec::new();
                for row in rows {
                    let (producer, at, address, owed, before, refused) = row?;
                    let producer = RegistrationId::parse(producer).map_err(|e| corrupt("entitlement", e))?;
                    let entitlement = Entitlement {
                        period: period(at)?,
                        producer: producer.clone(),
                        address: PaymentAddress::parse(address).map_err(|e| corrupt("entitlement", e))?,
                        unpaid: Iota::new(owed),
                    };
                    match unpaid.last_mut().filter(|u| u.producer == producer) {
                        Some(last) => last.owed.push(entitlement),
                        None => unpaid.push(Unpaid {
                            producer,
                            owed: vec![entitlement],
                            paid_before: Iota::new(before),
                            refused,
                        }),
                    }
                }
                Ok(unpaid)
            })
            .await
    }

    async fn funds(&self) -> Result<Vec<Funds>, StoreError> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT address, seq, received - spent FROM wallet WHERE received > spent ORDER BY seq, address",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?, row.get::<_, u64>(2)?))
                })?;
                rows.map(|row| {
                    let (address, seq, available) = row?;
                    Ok(Funds {
                        address: PaymentAddress::parse(address).map_err(|e| corrupt("wallet", e))?,
                        seq,
                        available: Iota::new(available),
                    })
                })
                .collect()
            })
            .await
    }

    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError> {
        let body = serde_json::to_string(&payout.batch).map_err(StoreError::backend)?;
        let covers = serde_json::to_string(&payout.covers).map_err(StoreError::backend)?;
        let payout = payout.clone();
        self.db
            .write(move |conn| {
                let (id, producer, amount) = (payout.batch.id.as_str(), payout.producer.as_str(), payout.amount.get());
                // Planned from a stale read (a period no longer owes what it covers):
                // nothing is recorded. Checked before anything is written.
                let mut unpaid = conn.prepare_cached(
                    "SELECT unpaid FROM entitlements WHERE producer_id = :producer AND period = :period",
                )?;
                let mut covered: HashMap<u64, u64> = HashMap::new();
                for cover in &payout.covers {
                    let total = covered.entry(cover.period.get()).or_default();
                    *total = total.saturating_add(cover.amount.get());
                }
                for (period, total) in &covered {
                    let owed: Option<u64> = unpaid
                        .query_row(named_params! {":producer": producer, ":period": period}, |row| row.get(0))
                        .optional()?;
                    if owed.is_none_or(|owed| owed < *total) {
                        return Ok(false);
                    }
                }
                let recorded = conn.execute(
                    "INSERT INTO batches (id, kind, registration_id, amount, body, covers, created_ms, status)
                     VALUES (:id, 'payout', :producer, :amount, :body, :covers, :now, 'pending')
                     ON CONFLICT (id) DO NOTHING",
                    named_params! {
                        ":id": id, ":producer": producer, ":amount": amount, ":body": body, ":covers": covers,
                        ":now": payout.created.get(),
                    },
                )?;
                if recorded == 0 {
                    return Ok(false);
                }
                {
                    let mut pay = conn.prepare_cached(
                        "UPDATE entitlements SET unpaid = unpaid - :amount
                         WHERE producer_id = :producer AND period = :period AND unpaid >= :amount",
                    )?;
                    for cover in &payout.covers {
                        let paid = pay.execute(named_params! {
                            ":amount": cover.amount.get(), ":producer": producer, ":period": cover.period.get(),
                        })?;
                        if paid == 0 {
                            return Err(StoreError::Corrupt(format!("entitlement of {producer} changed while paid")));
                        }
                    }
                }
                conn.execute(
                    "UPDATE accounts SET payout_pending = payout_pending + :amount WHERE id = :producer",
                    named_params! {":amount": amount, ":producer": producer},
                )?;
                conn.execute("UPDATE grid_totals SET payouts = payouts + ?1 WHERE id = 0", [amount])?;
                for t in &payout.batch.transfers {
                    add_to_wallet(conn, t.from.as_str(), None, "spent", i128::from(t.amount.get()))?;
                }
                Ok(true)
            })
            .await
    }

    async fn resolve_payout(&self, batch: &BatchId, resolution: &PayoutResolution) -> Result<bool, StoreError> {
        let (committed, reasons) = match resolution {
            PayoutResolution::Committed => (true, &[][..]),
            PayoutResolution::Refused { reasons } => (false, &reasons[..]),
        };
        let batch = batch.as_str().to_owned();
        let reasons = serde_json::to_string(reasons).map_err(StoreError::backend)?;
        self.db
            .write(move |conn| {
                let payout: Option<(String, u64, String, Option<String>)> = conn
                    .query_row(
                        "SELECT registration_id, amount, body, covers FROM batches
                         WHERE id = ?1 AND kind = 'payout' AND status = 'pending'",
                        [&batch],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                    )
                    .optional()?;
                let Some((producer, amount, body, covers)) = payout else { return Ok(false) };
                if committed {
                    conn.execute(
                        "UPDATE accounts SET payout_pending = payout_pending - :amount, paid_out = paid_out + :amount WHERE id = :id",
                        named_params! {":amount": amount, ":id": producer},
                    )?;
                } else {
                    // Refused: the money is the grid's again, and the producer is owed it again.
                    let transfers: LedgerBatch = serde_json::from_str(&body).map_err(|e| corrupt("payout", e))?;
                    let covers: Vec<Cover> = serde_json::from_str(covers.as_deref().unwrap_or("[]"))
                        .map_err(|e| corrupt("payout covers", e))?;
                    conn.execute(
                        "UPDATE accounts SET payout_pending = payout_pending - :amount, refused = refused + 1 WHERE id = :id",
                        named_params! {":amount": amount, ":id": producer},
                    )?;
                    restore_covers(conn, &producer, &covers)?;
                    conn.execute("UPDATE grid_totals SET payouts = payouts - ?1 WHERE id = 0", [amount])?;
                    for t in &transfers.transfers {
                        add_to_wallet(conn, t.from.as_str(), None, "spent", -i128::from(t.amount.get()))?;
                    }
                }
                let status = if committed { BatchState::Committed } else { BatchState::Invalid };
                conn.execute(
                    "UPDATE batches SET status = ?2, reasons = ?3 WHERE id = ?1",
                    rusqlite::params![batch, status.as_str(), reasons],
                )?;
                Ok(true)
            })
            .await
    }

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
}
