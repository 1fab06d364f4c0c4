//! `RegistrationStore` over the `registrations` table.

use async_trait::async_trait;
use grid_core::intake::ReadingTally;
use grid_core::{ChannelCursor, ChannelRoot, ItemType, Registration, RegistrationId};
use rusqlite::{OptionalExtension, Row, ToSql, named_params};

use super::SqliteDb;
use crate::records::RegistrationRecord;
use crate::{
    ConflictKind, RegistrationCounts, RegistrationCursor, RegistrationPage, RegistrationStore, StoreError, Versioned,
};

/// Registrations in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteRegistrationStore {
    db: SqliteDb,
}

impl SqliteRegistrationStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// The columns [`read`] takes, in its order.
macro_rules! columns {
    () => {
        "id, item_name, item_type, created_ms, updated_ms, removed_ms, channel_root, channel_side_key,
         return_seed, return_side_key, return_next_index, cursor_next_index, cursor_closed, version, return_public_key,
         management_key, tally_period, tally_count"
    };
}
const COLUMNS: &str = columns!();
/// One registration by id (a constant, so its cached statement is found without
/// formatting it first).
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM registrations WHERE id = ?1");

fn params(record: &RegistrationRecord) -> Vec<(&'static str, Box<dyn ToSql>)> {
    vec![
        (":id", Box::new(record.id.clone())),
        (":item_name", Box::new(record.item_name.clone())),
        (":item_type", Box::new(record.item_type.clone())),
        (":created_ms", Box::new(record.created_ms)),
        (":updated_ms", Box::new(record.updated_ms)),
        (":removed_ms", Box::new(record.removed_ms)),
        (":channel_root", Box::new(record.channel_root.clone())),
        (":channel_side_key", Box::new(record.channel_side_key.clone())),
        (":return_seed", Box::new(record.return_seed.clone())),
        (":return_side_key", Box::new(record.return_side_key.clone())),
        (":return_next_index", Box::new(record.return_next_index)),
        (":return_public_key", Box::new(record.return_public_key.clone())),
        (":cursor_next_index", Box::new(record.cursor_next_index)),
        (":cursor_closed", Box::new(record.cursor_closed)),
        (":management_key", Box::new(record.management_key.clone())),
        (":tally_period", Box::new(record.tally_period)),
        (":tally_count", Box::new(record.tally_count)),
    ]
}

fn read(row: &Row<'_>) -> rusqlite::Result<(RegistrationRecord, u64)> {
    Ok((
        RegistrationRecord {
            id: row.get(0)?,
            item_name: row.get(1)?,
            item_type: row.get(2)?,
            created_ms: row.get(3)?,
            updated_ms: row.get(4)?,
            removed_ms: row.get(5)?,
            channel_root: row.get(6)?,
            channel_side_key: row.get(7)?,
            return_seed: row.get(8)?,
            return_side_key: row.get(9)?,
            return_next_index: row.get(10)?,
            cursor_next_index: row.get(11)?,
            cursor_closed: row.get(12)?,
            return_public_key: row.get(14)?,
            management_key: row.get(15)?,
            tally_period: row.get(16)?,
            tally_count: row.get(17)?,
        },
        row.get(13)?,
    ))
}

fn into_domain((record, version): (RegistrationRecord, u64)) -> Result<Versioned<Registration>, StoreError> {
    record.into_domain(version)
}

/// Binds `record`'s channel root to it, in the caller's transaction; a
/// [`StoreError::Conflict`] if another registration holds the root.
fn bind_root(conn: &rusqlite::Connection, record: &RegistrationRecord) -> Result<(), StoreError> {
    let Some(root) = &record.channel_root else { return Ok(()) };
    conn.prepare_cached(
        "INSERT INTO channel_roots (root, registration_id) VALUES (?1, ?2) ON CONFLICT (root) DO NOTHING",
    )?
    .execute([root, &record.id])?;
    let owner: String = conn
        .prepare_cached("SELECT registration_id FROM channel_roots WHERE root = ?1")?
        .query_row([root], |r| r.get(0))?;
    if owner != record.id {
        return Err(StoreError::conflict(
            ConflictKind::Taken,
            format!("channel root {root} is bound to another registration"),
        ));
    }
    Ok(())
}

/// Claims `record`'s folded id for it, in the caller's transaction; a
/// [`StoreError::Conflict`] if a lookalike holds it.
fn claim_id(conn: &rusqlite::Connection, record: &RegistrationRecord) -> Result<(), StoreError> {
    let folded = record.id.to_ascii_lowercase();
    conn.prepare_cached(
        "INSERT INTO registration_ids (folded, registration_id) VALUES (?1, ?2) ON CONFLICT (folded) DO NOTHING",
    )?
    .execute([&folded, &record.id])?;
    let owner: String = conn
        .prepare_cached("SELECT registration_id FROM registration_ids WHERE folded = ?1")?
        .query_row([&folded], |r| r.get(0))?;
    if owner != record.id {
        return Err(StoreError::conflict(
            ConflictKind::Taken,
            format!("registration id {} differs only in case from {owner}", record.id),
        ));
    }
    Ok(())
}

#[async_trait]
impl RegistrationStore for SqliteRegistrationStore {
    async fn insert(&self, registration: &Registration) -> Result<(), StoreError> {
        let record = RegistrationRecord::from(registration);
        self.db
            .write(move |conn| {
                let params = params(&record);
                let named: Vec<(&str, &dyn ToSql)> = params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
                let inserted = conn.execute(
                    "INSERT INTO registrations
                        (id, item_name, item_type, created_ms, updated_ms, removed_ms, channel_root, channel_side_key,
                         return_seed, return_side_key, return_next_index, cursor_next_index, cursor_closed, version,
                         return_public_key, management_key, tally_period, tally_count)
                     VALUES (:id, :item_name, :item_type, :created_ms, :updated_ms, :removed_ms, :channel_root,
                             :channel_side_key, :return_seed, :return_side_key, :return_next_index,
                             :cursor_next_index, :cursor_closed, 1, :return_public_key, :management_key,
                             :tally_period, :tally_count)
                     ON CONFLICT (id) DO NOTHING",
                    named.as_slice(),
                )?;
                if inserted == 0 {
                    return Err(StoreError::conflict(
                        ConflictKind::Taken,
                        format!("registration {} already exists", record.id),
                    ));
                }
                claim_id(conn, &record)?;
                bind_root(conn, &record)?;
                Ok(())
            })
            .await
    }

    async fn id_owner(&self, id: &RegistrationId) -> Result<Option<RegistrationId>, StoreError> {
        let folded = id.folded();
        self.db.lookup(|conn| {
            let owner: Option<String> = conn
                .prepare_cached("SELECT registration_id FROM registration_ids WHERE folded = ?1")?
                .query_row([&folded], |r| r.get(0))
                .optional()?;
            owner
                .map(|o| RegistrationId::parse(o).map_err(|e| StoreError::Corrupt(format!("registration_ids: {e}"))))
                .transpose()
        })
    }

    async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned<Registration>>, StoreError> {
        self.db.lookup(|conn| {
            conn.prepare_cached(BY_ID)?.query_row([id.as_str()], read).optional()?.map(into_domain).transpose()
        })
    }

    async fn get_many(&self, ids: &[RegistrationId]) -> Result<Vec<Versioned<Registration>>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        self.db
            .read(move |conn| {
                let tx = conn.transaction()?;
                let mut found = Vec::with_capacity(ids.len());
                {
                    let mut stmt = tx.prepare_cached(BY_ID)?;
                    for id in &ids {
                        if let Some(record) = stmt.query_row([id], read).optional()? {
                            found.push(into_domain(record)?);
                        }
                    }
                }
                tx.commit()?;
                Ok(found)
            })
            .await
    }

    async fn advance_return_channels(&self, next: &[(RegistrationId, u64)]) -> Result<(), StoreError> {
        let next: Vec<(String, u64)> = next.iter().map(|(id, n)| (id.as_str().to_owned(), *n)).collect();
        self.db
            .write(move |conn| {
                {
                    let mut update = conn.prepare_cached(
                        "UPDATE registrations SET return_next_index = ?2
                         WHERE id = ?1 AND return_next_index IS NOT NULL AND return_next_index < ?2",
                    )?;
                    for (id, index) in &next {
                        update.execute(rusqlite::params![id, index])?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn replace(&self, registration: &Registration, expected_version: u64) -> Result<u64, StoreError> {
        let record = RegistrationRecord::from(registration);
        let Ok(expected) = i64::try_from(expected_version) else {
            return Err(StoreError::conflict(
                ConflictKind::Moved,
                format!("version {expected_version} does not exist"),
            ));
        };
        self.db
            .write(move |conn| {
                let mut params = params(&record);
                params.push((":expected", Box::new(expected)));
                let named: Vec<(&str, &dyn ToSql)> = params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
                // A registration that kept its root keeps what it had (one migrated from
                // before roots were bound may share it with an older one; it is no longer
                // polled, but can still be changed and removed).
                let before: Option<Option<String>> = conn
                    .prepare_cached("SELECT channel_root FROM registrations WHERE id = ?1")?
                    .query_row([&record.id], |row| row.get(0))
                    .optional()?;
                let updated = conn.execute(
                    "UPDATE registrations SET
                        item_name = :item_name, item_type = :item_type,
                        created_ms = :created_ms, updated_ms = :updated_ms, removed_ms = :removed_ms,
                        channel_root = :channel_root, channel_side_key = :channel_side_key,
                        return_seed = :return_seed, return_side_key = :return_side_key,
                        return_next_index = :return_next_index, return_public_key = :return_public_key,
                        cursor_next_index = :cursor_next_index, cursor_closed = :cursor_closed,
                        management_key = :management_key, tally_period = :tally_period,
                        tally_count = :tally_count, version = version + 1
                     WHERE id = :id AND version = :expected",
                    named.as_slice(),
                )?;
                if updated == 0 {
                    return Err(StoreError::conflict(
                        ConflictKind::Moved,
                        format!("registration {} is no longer at version {expected}", record.id),
                    ));
                }
                if before.flatten() != record.channel_root {
                    bind_root(conn, &record)?;
                }
                Ok(expected_version + 1)
            })
            .await
    }

    async fn advance_cursor(
        &self,
        id: &RegistrationId,
        root: &ChannelRoot,
        from: ChannelCursor,
        to: ChannelCursor,
        tally: ReadingTally,
    ) -> Result<(), StoreError> {
        let (id, root) = (id.as_str().to_owned(), root.as_str().to_owned());
        self.db
            .write(move |conn| {
                let moved = conn
                    .prepare_cached(
                        "UPDATE registrations
                         SET cursor_next_index = :to, cursor_closed = :closed, tally_period = :tally_period,
                             tally_count = :tally_count, version = version + 1
                         WHERE id = :id AND channel_root = :root
                           AND cursor_next_index = :from AND cursor_closed = :was_closed",
                    )?
                    .execute(named_params! {
                        ":to": to.next_index, ":closed": to.closed, ":id": id, ":root": root,
                        ":from": from.next_index, ":was_closed": from.closed,
                        ":tally_period": tally.period, ":tally_count": tally.count,
                    })?;
                if moved == 0 {
                    return Err(StoreError::conflict(
                        ConflictKind::Moved,
                        format!("the cursor of {id} is no longer at {}", from.next_index),
                    ));
                }
                Ok(())
            })
            .await
    }

    async fn channel_owner(&self, root: &ChannelRoot) -> Result<Option<RegistrationId>, StoreError> {
        let owner: Option<String> = self.db.lookup(|conn| {
            Ok(conn
                .prepare_cached("SELECT registration_id FROM channel_roots WHERE root = ?1")?
                .query_row([root.as_str()], |r| r.get(0))
                .optional()?)
        })?;
        owner
            .map(|id| RegistrationId::parse(id).map_err(|e| StoreError::Corrupt(format!("channel root owner: {e}"))))
            .transpose()
    }

    async fn list(&self, after: Option<&RegistrationCursor>, limit: usize) -> Result<RegistrationPage, StoreError> {
        let after = after.map(|cursor| cursor.0.clone()).unwrap_or_default();
        // One extra row tells whether another page follows.
        let fetch = (limit as u64).saturating_add(1);
        let mut registrations = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM registrations WHERE id > :after ORDER BY id LIMIT :fetch"
                ))?;
                let rows = stmt.query_map(named_params! {":after": after, ":fetch": fetch}, read)?;
                rows.map(|row| row.map_err(StoreError::from).and_then(into_domain)).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let next = if registrations.len() > limit {
            registrations.truncate(limit);
            registrations.last().map(|r| RegistrationCursor(r.value.id.to_string()))
        } else {
            None
        };
        Ok(RegistrationPage { registrations, next })
    }

    async fn counts(&self) -> Result<RegistrationCounts, StoreError> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT item_type, removed_ms IS NOT NULL, count(*) FROM registrations INDEXED BY registrations_by_type
                     GROUP BY item_type, removed_ms IS NOT NULL",
                )?;
                let mut counts = RegistrationCounts::default();
                for row in stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?, row.get::<_, u64>(2)?)))? {
                    let (item_type, removed, count) = row?;
                    let of_type = match ItemType::parse(&item_type) {
                        Ok(item_type) => counts.of_mut(item_type),
                        Err(e) => return Err(StoreError::Corrupt(format!("registration type: {e}"))),
                    };
                    if removed { of_type.removed = count } else { of_type.active = count }
                }
                Ok(counts)
            })
            .await
    }

    async fn of_type(&self, item_type: ItemType, skip: usize, limit: usize) -> Result<Vec<Registration>, StoreError> {
        let (skip, limit) = (skip as u64, limit as u64);
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM registrations INDEXED BY registrations_by_type WHERE item_type = :type
                     ORDER BY id LIMIT :limit OFFSET :skip"
                ))?;
                let params = named_params! {":type": item_type.as_str(), ":limit": limit, ":skip": skip};
                let rows = stmt.query_map(params, read)?;
                rows.map(|row| row.map_err(StoreError::from).and_then(into_domain).map(|v| v.value)).collect()
            })
            .await
    }
}
