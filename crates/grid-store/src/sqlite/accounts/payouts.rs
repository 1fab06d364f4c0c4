//! Paying producers: what is owed and held, payouts recorded and settled once.

use super::*;
use crate::PayoutBook;

#[async_trait]
impl PayoutBook for SqliteAccountStore {
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
