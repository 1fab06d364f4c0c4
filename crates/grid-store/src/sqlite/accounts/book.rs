//! The accounts: each period's entries added once, statements, accounts and the grid's totals.

use super::*;
use crate::AccountBook;

#[async_trait]
impl AccountBook for SqliteAccountStore {
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
