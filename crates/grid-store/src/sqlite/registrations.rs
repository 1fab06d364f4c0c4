//! `RegistrationStore` over the `registrations` table.

use async_trait::async_trait;
use grid_core::channel::ChannelSeed;
use grid_core::{
    ChannelCredentials, ChannelRoot, EpochMs, ItemName, ItemType, Registration, RegistrationId, RegistrationStatus,
    ReturnChannel, SideKey,
};
use rusqlite::{OptionalExtension, Row, named_params};

use super::SqliteDb;
use crate::{RegistrationPage, RegistrationStore, StoreError, Versioned};

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

const COLUMNS: &str = "id, item_name, item_type, created_ms, updated_ms, removed_ms, channel_root, channel_side_key,
     return_seed, return_side_key, return_next_index, version";

#[async_trait]
impl RegistrationStore for SqliteRegistrationStore {
    async fn insert(&self, registration: &Registration) -> Result<(), StoreError> {
        let row = RegistrationRow::from(registration);
        self.db
            .run(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO registrations
                        (id, item_name, item_type, created_ms, updated_ms, removed_ms,
                         channel_root, channel_side_key, return_seed, return_side_key, return_next_index, version)
                     VALUES (:id, :item_name, :item_type, :created_ms, :updated_ms, :removed_ms,
                             :channel_root, :channel_side_key, :return_seed, :return_side_key, :return_next_index, 1)
                     ON CONFLICT (id) DO NOTHING",
                    row.params().as_slice(),
                )?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(format!("registration {} already exists", row.id)));
                }
                Ok(())
            })
            .await
    }

    async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned<Registration>>, StoreError> {
        let id = id.as_str().to_owned();
        self.db
            .run(move |conn| {
                conn.query_row(
                    &format!("SELECT {COLUMNS} FROM registrations WHERE id = ?1"),
                    [&id],
                    RawRegistration::read,
                )
                .optional()?
                .map(RawRegistration::into_domain)
                .transpose()
            })
            .await
    }

    async fn replace(&self, registration: &Registration, expected_version: u64) -> Result<u64, StoreError> {
        let row = RegistrationRow::from(registration);
        let expected = i64::try_from(expected_version)
            .map_err(|_| StoreError::Conflict(format!("version {expected_version} does not exist")))?;
        self.db
            .run(move |conn| {
                let mut params = row.params();
                params.push((":expected", &expected));
                let updated = conn.execute(
                    "UPDATE registrations SET
                        item_name = :item_name, item_type = :item_type,
                        created_ms = :created_ms, updated_ms = :updated_ms, removed_ms = :removed_ms,
                        channel_root = :channel_root, channel_side_key = :channel_side_key,
                        return_seed = :return_seed, return_side_key = :return_side_key,
                        return_next_index = :return_next_index,
                        version = version + 1
                     WHERE id = :id AND version = :expected",
                    params.as_slice(),
                )?;
                if updated == 0 {
                    return Err(StoreError::Conflict(format!(
                        "registration {} is no longer at version {expected}",
                        row.id
                    )));
                }
                Ok(expected_version + 1)
            })
            .await
    }

    async fn list(&self, after: Option<&RegistrationId>, limit: usize) -> Result<RegistrationPage, StoreError> {
        let after = after.map(|id| id.as_str().to_owned()).unwrap_or_default();
        // One extra row tells whether another page follows.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let mut registrations = self
            .db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM registrations WHERE id > :after ORDER BY id LIMIT :fetch"
                ))?;
                let rows = stmt.query_map(named_params! {":after": after, ":fetch": fetch}, RawRegistration::read)?;
                rows.map(|raw| raw.map_err(StoreError::from).and_then(RawRegistration::into_domain))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let next = if registrations.len() > limit {
            registrations.truncate(limit);
            registrations.last().map(|r| r.value.id.clone())
        } else {
            None
        };
        Ok(RegistrationPage { registrations, next })
    }
}

/// A registration flattened into the table's columns.
struct RegistrationRow {
    id: String,
    item_name: Option<String>,
    item_type: &'static str,
    created_ms: i64,
    updated_ms: i64,
    removed_ms: Option<i64>,
    channel_root: Option<String>,
    channel_side_key: Option<String>,
    return_seed: Option<String>,
    return_side_key: Option<String>,
    return_next_index: Option<i64>,
}

impl RegistrationRow {
    fn params(&self) -> Vec<(&'static str, &dyn rusqlite::ToSql)> {
        vec![
            (":id", &self.id),
            (":item_name", &self.item_name),
            (":item_type", &self.item_type),
            (":created_ms", &self.created_ms),
            (":updated_ms", &self.updated_ms),
            (":removed_ms", &self.removed_ms),
            (":channel_root", &self.channel_root),
            (":channel_side_key", &self.channel_side_key),
            (":return_seed", &self.return_seed),
            (":return_side_key", &self.return_side_key),
            (":return_next_index", &self.return_next_index),
        ]
    }
}

/// Epoch milliseconds are below 2^48, so they always fit SQLite's signed integers.
fn ms(t: EpochMs) -> i64 {
    t.get() as i64
}

impl From<&Registration> for RegistrationRow {
    fn from(r: &Registration) -> Self {
        Self {
            id: r.id.as_str().to_owned(),
            item_name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            item_type: r.item_type.as_str(),
            created_ms: ms(r.created),
            updated_ms: ms(r.updated),
            removed_ms: match r.status {
                RegistrationStatus::Active => None,
                RegistrationStatus::Removed { at } => Some(ms(at)),
            },
            channel_root: r.channel.as_ref().map(|c| c.root.as_str().to_owned()),
            channel_side_key: r.channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            return_seed: r.return_channel.as_ref().map(|c| c.seed.expose_hex()),
            return_side_key: r.return_channel.as_ref().map(|c| c.side_key.expose().to_owned()),
            // Channel indexes are bounded by 2^53 (Envelope::MAX_INDEX), so they fit.
            return_next_index: r.return_channel.as_ref().map(|c| c.next_index as i64),
        }
    }
}

/// A row as read, before its values are validated back into the domain.
struct RawRegistration {
    id: String,
    item_name: Option<String>,
    item_type: String,
    created_ms: i64,
    updated_ms: i64,
    removed_ms: Option<i64>,
    channel_root: Option<String>,
    channel_side_key: Option<String>,
    return_seed: Option<String>,
    return_side_key: Option<String>,
    return_next_index: Option<i64>,
    version: i64,
}

impl RawRegistration {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
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
            version: row.get(11)?,
        })
    }

    /// Stored values pass the same parsers as input: a tampered row is reported, not trusted.
    fn into_domain(self) -> Result<Versioned<Registration>, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("registration {:?}: {what}: {e}", self.id))
        };
        let time = |what: &str, v: i64| EpochMs::parse(v).map_err(|e| corrupt(what, &e));
        let channel = match (&self.channel_root, &self.channel_side_key) {
            (Some(root), Some(key)) => Some(ChannelCredentials {
                root: ChannelRoot::parse(root.as_str()).map_err(|e| corrupt("channel root", &e))?,
                side_key: SideKey::parse(key.as_str()).map_err(|e| corrupt("side key", &e))?,
            }),
            _ => None,
        };
        let return_channel = match (&self.return_seed, &self.return_side_key, self.return_next_index) {
            (Some(seed), Some(key), Some(next)) => Some(ReturnChannel {
                seed: ChannelSeed::from_hex(seed).map_err(|e| corrupt("return seed", &e))?,
                side_key: SideKey::parse(key.as_str()).map_err(|e| corrupt("return side key", &e))?,
                next_index: u64::try_from(next).map_err(|e| corrupt("return index", &e))?,
            }),
            _ => None,
        };
        let registration = Registration {
            id: RegistrationId::parse(self.id.as_str()).map_err(|e| corrupt("id", &e))?,
            name: self.item_name.clone().map(ItemName::parse).transpose().map_err(|e| corrupt("name", &e))?,
            item_type: ItemType::parse(&self.item_type).map_err(|e| corrupt("type", &e))?,
            created: time("created", self.created_ms)?,
            updated: time("updated", self.updated_ms)?,
            status: match self.removed_ms {
                None => RegistrationStatus::Active,
                Some(at) => RegistrationStatus::Removed { at: time("removed", at)? },
            },
            channel,
            return_channel,
        };
        let version = u64::try_from(self.version).map_err(|e| corrupt("version", &e))?;
        Ok(Versioned { value: registration, version })
    }
}
