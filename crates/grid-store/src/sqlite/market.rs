//! The money engine's tables: readings, and settlements with their head.
//!
//! Readings and the settlement head live in one database, so "insert this reading
//! unless its period is closing" is a single immediate transaction.

use async_trait::async_trait;
use grid_core::market::{PeriodStart, ReadingKind, SettlementHead, SettlementRecord, StoredReading};
use grid_core::{EpochMs, ItemType, PaymentAddress, Price, RegistrationId, Wh};
use rusqlite::{OptionalExtension, Row, named_params};

use super::SqliteDb;
use crate::records::{ReadingRow, SettlementRow};
use crate::{
    ConflictKind, Insertion, ReadingCursor, ReadingPage, ReadingStore, ReadingSum, SettlementStore, StoreError,
};

/// Readings in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteReadingStore {
    db: SqliteDb,
}

impl SqliteReadingStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Settlements and the settlement head in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteSettlementStore {
    db: SqliteDb,
}

impl SqliteSettlementStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// A period start as stored.
fn start(ms: u64) -> Result<PeriodStart, StoreError> {
    PeriodStart::parse(ms).map_err(|e| StoreError::Corrupt(format!("settlement head: {e}")))
}

fn head(conn: &rusqlite::Connection) -> Result<SettlementHead, StoreError> {
    let (latest, closing): (Option<u64>, Option<u64>) = conn
        .prepare_cached("SELECT latest, closing FROM settlement_head WHERE id = 0")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(SettlementHead { latest: latest.map(start).transpose()?, closing: closing.map(start).transpose()? })
}

fn read_reading(row: &Row<'_>) -> rusqlite::Result<ReadingRow> {
    Ok(ReadingRow {
        registration: row.get(0)?,
        kind: row.get(1)?,
        start_ms: row.get(2)?,
        end_ms: row.get(3)?,
        wh: row.get(4)?,
        price: row.get(5)?,
        payment_address: row.get(6)?,
        channel_index: row.get(7)?,
        period: row.get(8)?,
        counted_in: row.get(9)?,
        party: row.get(10)?,
    })
}

const CURSOR_SEPARATOR: char = '\u{1f}';

#[async_trait]
impl ReadingStore for SqliteReadingStore {
    async fn insert_many(&self, readings: &[StoredReading]) -> Result<Vec<Insertion>, StoreError> {
        let rows: Vec<ReadingRow> = readings.iter().map(ReadingRow::from).collect();
        let readings = readings.to_vec();
        self.db
            .write(move |conn| {
                // Immediate: the head read here cannot move before the inserts commit.
                let head = head(conn)?;
                let mut outcomes = Vec::with_capacity(rows.len());
                {
                    let mut insert = conn.prepare_cached(
                        "INSERT INTO readings (registration_id, kind, start_ms, end_ms, wh, price, payment_address,
                                               channel_index, period, counted_in, party)
                         VALUES (:registration, :kind, :start, :end, :wh, :price, :address, :index, :period, :counted_in,
                                 :party)
                         ON CONFLICT (registration_id, kind, start_ms) DO NOTHING",
                    )?;
                    for (row, reading) in rows.iter().zip(&readings) {
                        if !head.is_open(reading.counted_in) {
                            outcomes.push(Insertion::PeriodClosed);
                            continue;
                        }
                        let inserted = insert.execute(named_params! {
                            ":registration": row.registration, ":kind": row.kind, ":start": row.start_ms,
                            ":end": row.end_ms, ":wh": row.wh, ":price": row.price,
                            ":address": row.payment_address, ":index": row.channel_index,
                            ":period": row.period, ":counted_in": row.counted_in, ":party": row.party,
                        })?;
                        outcomes.push(if inserted == 0 { Insertion::Duplicate } else { Insertion::Stored });
                    }
                }
                Ok(outcomes)
            })
            .await
    }

    async fn of_registration(
        &self,
        registration: &RegistrationId,
        limit: usize,
    ) -> Result<Vec<StoredReading>, StoreError> {
        let (registration, limit) = (registration.as_str().to_owned(), limit as u64);
        let rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT registration_id, kind, start_ms, end_ms, wh, price, payment_address, channel_index,
                            period, counted_in, party
                     FROM readings WHERE registration_id = ?1 ORDER BY start_ms DESC, kind LIMIT ?2",
                )?;
                let rows = stmt.query_map(rusqlite::params![registration, limit], read_reading)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter().map(ReadingRow::into_domain).collect()
    }

    async fn counted_in(
        &self,
        period: PeriodStart,
        after: Option<&ReadingCursor>,
        limit: usize,
    ) -> Result<ReadingPage, StoreError> {
        let (after_registration, after_kind, after_start) = match after {
            None => (String::new(), String::new(), -1),
            Some(ReadingCursor(cursor)) => {
                let mut parts = cursor.split(CURSOR_SEPARATOR);
                let bad = || StoreError::Corrupt(format!("not a reading cursor: {cursor:?}"));
                let registration = parts.next().ok_or_else(bad)?.to_owned();
                let kind = parts.next().ok_or_else(bad)?.to_owned();
                let start = parts.next().and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad)?;
                (registration, kind, start)
            }
        };
        let fetch = (limit as u64).saturating_add(1);
        let mut rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT registration_id, kind, start_ms, end_ms, wh, price, payment_address, channel_index,
                            period, counted_in, party
                     FROM readings
                     WHERE counted_in = :period AND (registration_id, kind, start_ms) > (:registration, :kind, :start)
                     ORDER BY registration_id, kind, start_ms LIMIT :fetch",
                )?;
                let rows = stmt.query_map(
                    named_params! {
                        ":period": period.get(), ":registration": after_registration, ":kind": after_kind,
                        ":start": after_start, ":fetch": fetch,
                    },
                    read_reading,
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let next = (rows.len() > limit).then(|| {
            rows.truncate(limit);
            let last = rows.last().expect("a full page has a last row");
            ReadingCursor(format!(
                "{}{CURSOR_SEPARATOR}{}{CURSOR_SEPARATOR}{}",
                last.registration, last.kind, last.start_ms
            ))
        });
        let readings = rows.into_iter().map(ReadingRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(ReadingPage { readings, next })
    }

    /// Summed in one pass over the period's readings as the index `readings_counted_in`
    /// holds them (it carries every column summed, so no reading is looked up), a
    /// registration and kind at a time in time order: settling a period of a million
    /// readings reads a hundred thousand sums instead. (SQLite's own `GROUP BY … price`
    /// sorted the million rows first.)
    async fn sums(&self, period: PeriodStart) -> Result<Vec<ReadingSum>, StoreError> {
        let rows: Vec<SumRow> = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT registration_id, kind, start_ms, price, wh, payment_address, party
                     FROM readings INDEXED BY readings_counted_in WHERE counted_in = ?1
                     ORDER BY registration_id, kind, start_ms",
                )?;
                let mut rows = stmt.query([period.get()])?;
                let mut sums: Vec<SumRow> = Vec::new();
                // Where the current registration and kind's sums begin in `sums`.
                let mut group = 0;
                while let Some(row) = rows.next()? {
                    let text = |i: usize| -> Result<&str, StoreError> {
                        row.get_ref(i)?.as_str().map_err(|e| StoreError::Corrupt(format!("a reading of {period}: {e}")))
                    };
                    let (registration, kind) = (text(0)?, text(1)?);
                    let same = sums.get(group).is_some_and(|g| g.registration == registration && g.kind == kind);
                    if !same {
                        sums[group..].sort_by_key(|g| g.price);
                        group = sums.len();
                    }
                    let (start, price, wh): (u64, Option<u64>, u64) = (row.get(2)?, row.get(3)?, row.get(4)?);
                    let (address, party): (Option<String>, Option<String>) = (row.get(5)?, row.get(6)?);
                    match sums[group..].iter_mut().find(|g| g.price == price) {
                        // Rows come in time order: the latest so far names the address.
                        Some(sum) => {
                            sum.wh = sum.wh.checked_add(wh).ok_or_else(|| {
                                StoreError::OutOfRange(format!("the energy of {registration} in {period}"))
                            })?;
                            (sum.latest_start, sum.address) = (start, address);
                            sum.party = party.or(sum.party.take());
                        }
                        None => sums.push(SumRow {
                            registration: registration.to_owned(),
                            kind: kind.to_owned(),
                            price,
                            wh,
                            latest_start: start,
                            address,
                            party,
                        }),
                    }
                }
                sums[group..].sort_by_key(|g| g.price);
                Ok(sums)
            })
            .await?;
        rows.into_iter()
            .map(|SumRow { registration, kind, price, wh, latest_start, address, party }| {
                let corrupt = |what: &str, e: &dyn std::fmt::Display| {
                    StoreError::Corrupt(format!("readings of {registration} in {period}: {what}: {e}"))
                };
                Ok(ReadingSum {
                    registration: RegistrationId::parse(registration.as_str())
                        .map_err(|e| corrupt("registration", &e))?,
                    kind: ReadingKind::from_name(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                    price: price.map(Price::parse).transpose().map_err(|e| corrupt("price", &e))?,
                    energy: Wh::new(wh),
                    latest_start: EpochMs::try_from(latest_start).map_err(|e| corrupt("start", &e))?,
                    payment_address: address
                        .map(PaymentAddress::parse)
                        .transpose()
                        .map_err(|e| corrupt("payment address", &e))?,
                    party: party.as_deref().map(ItemType::parse).transpose().map_err(|e| corrupt("party", &e))?,
                })
            })
            .collect()
    }
}

/// One registration, kind and price's readings of a period, summed.
struct SumRow {
    registration: String,
    kind: String,
    price: Option<u64>,
    wh: u64,
    latest_start: u64,
    address: Option<String>,
    party: Option<String>,
}

#[async_trait]
impl SettlementStore for SqliteSettlementStore {
    async fn head(&self) -> Result<SettlementHead, StoreError> {
        self.db.lookup(head)
    }

    async fn initialize(&self, latest: PeriodStart) -> Result<(), StoreError> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE settlement_head SET latest = :latest
                     WHERE id = 0 AND closing IS NULL
                       AND (latest IS NULL OR (latest > :latest AND NOT EXISTS (SELECT 1 FROM settlements)))",
                )?
                .execute(named_params! {":latest": latest.get()})?;
                Ok(())
            })
            .await
    }

    async fn close(&self, period: PeriodStart, previous: Option<PeriodStart>) -> Result<(), StoreError> {
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE settlement_head SET closing = :period
                         WHERE id = 0 AND latest IS :previous AND (closing IS NULL OR closing = :period)",
                    )?
                    .execute(named_params! {":period": period.get(), ":previous": previous.map(PeriodStart::get)})?;
                if changed == 0 {
                    return Err(StoreError::conflict(
                        ConflictKind::Moved,
                        format!("period {period} cannot close after {previous:?}"),
                    ));
                }
                Ok(())
            })
            .await
    }

    async fn finish(&self, record: &SettlementRecord) -> Result<(), StoreError> {
        let row = SettlementRow::from(record);
        let json = serde_json::to_string(&row).map_err(StoreError::backend)?;
        self.db
            .write(move |conn| {
                let moved = conn
                    .prepare_cached("UPDATE settlement_head SET latest = :period, closing = NULL WHERE id = 0 AND closing = :period")?
                    .execute(named_params! {":period": row.period})?;
                if moved == 0 {
                    return Err(StoreError::conflict(ConflictKind::Moved, format!("period {} is not being settled", row.period)));
                }
                conn.prepare_cached("INSERT INTO settlements (period, record) VALUES (:period, :record)")?
                    .execute(named_params! {":period": row.period, ":record": json})?;
                Ok(())
            })
            .await
    }

    async fn get(&self, period: PeriodStart) -> Result<Option<SettlementRecord>, StoreError> {
        self.db
            .read(move |conn| {
                let json: Option<String> = conn
                    .prepare_cached("SELECT record FROM settlements WHERE period = ?1")?
                    .query_row([period.get()], |row| row.get(0))
                    .optional()?;
                json.map(|json| {
                    serde_json::from_str::<SettlementRow>(&json)
                        .map_err(|e| StoreError::Corrupt(format!("settlement {period}: {e}")))
                        .and_then(SettlementRow::into_domain)
                })
                .transpose()
            })
            .await
    }
}
