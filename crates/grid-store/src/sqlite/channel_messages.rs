//! `ChannelStore` over the `channel_messages` table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use grid_core::channel::{AHEAD_OF_HEAD, Envelope, MessageAddress};
use grid_core::{ChannelRoot, EpochMs};
use rusqlite::{OptionalExtension, named_params};

use super::SqliteDb;
use crate::{ChannelStore, Received, StoreError, UnreadChannel};

/// The channel node's envelopes in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteChannelStore {
    db: SqliteDb,
}

impl SqliteChannelStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn stored_envelope(text: &str) -> Result<Envelope, StoreError> {
    Envelope::parse(text.as_bytes()).map_err(|e| StoreError::Corrupt(format!("channel message: {e}")))
}

#[async_trait]
impl ChannelStore for SqliteChannelStore {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError> {
        let address = address.as_str().to_owned();
        let text = envelope.to_json();
        let now = EpochMs::now().get() as i64;
        self.db
            .write(move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO channel_messages (address, envelope, attached_ms)
                         VALUES (:address, :envelope, :now) ON CONFLICT (address) DO NOTHING",
                    )?
                    .execute(named_params! {":address": address, ":envelope": text, ":now": now})?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(format!("address {address} is taken")));
                }
                Ok(())
            })
            .await
    }

    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<bool>, StoreError> {
        let rows: Vec<(String, String)> = messages.iter().map(|(a, e)| (a.as_str().to_owned(), e.to_json())).collect();
        let now = EpochMs::now().get() as i64;
        self.db
            .write(move |conn| {
                let mut stored = Vec::with_capacity(rows.len());
                {
                    let mut insert = conn.prepare_cached(
                        "INSERT INTO channel_messages (address, envelope, attached_ms)
                         VALUES (:address, :envelope, :now) ON CONFLICT (address) DO NOTHING",
                    )?;
                    for (address, text) in &rows {
                        stored.push(
                            insert.execute(named_params! {":address": address, ":envelope": text, ":now": now})? > 0,
                        );
                    }
                }
                Ok(stored)
            })
            .await
    }

    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError> {
        self.db.lookup(|conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT envelope FROM channel_messages WHERE address = ?1")?
                .query_row([address.as_str()], |row| row.get(0))
                .optional()?;
            text.as_deref().map(stored_envelope).transpose()
        })
    }

    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError> {
        let addresses = addresses.to_vec();
        self.db
            .read(move |conn| {
                let tx = conn.transaction()?;
                let mut found = HashMap::with_capacity(addresses.len());
                {
                    let mut stmt = tx.prepare_cached("SELECT envelope FROM channel_messages WHERE address = ?1")?;
                    for address in addresses {
                        let text: Option<String> = stmt.query_row([address.as_str()], |row| row.get(0)).optional()?;
                        if let Some(text) = text {
                            found.insert(address, stored_envelope(&text)?);
                        }
                    }
                }
                tx.commit()?;
                Ok(found)
            })
            .await
    }

    async fn receive(
        &self,
        messages: &[(MessageAddress, Envelope)],
        now: EpochMs,
    ) -> Result<Vec<Received>, StoreError> {
        let rows = messages
            .iter()
            .map(|(a, e)| Ok((a.as_str().to_owned(), e.to_json(), e.root().to_string(), stored_index(e.index() + 1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let now = stored_index(now.get())?;
        self.db
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO channel_messages (address, envelope, attached_ms)
                     VALUES (?1, ?2, ?3) ON CONFLICT (address) DO NOTHING",
                )?;
                let mut head_of = conn
                    .prepare_cached("SELECT next_index, next_index <= read_index FROM channel_heads WHERE root = ?1")?;
                // Each channel's head before this call, read once: how far it takes
                // envelopes, and whether its reader had read everything (no head: nothing
                // to read).
                let mut before: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
                for (_, _, root, _) in &rows {
                    if !before.contains_key(root.as_str()) {
                        let (head, read): (i64, bool) = head_of
                            .query_row([root], |row| Ok((row.get(0)?, row.get(1)?)))
                            .optional()?
                            .unwrap_or((0, true));
                        before.insert(root.as_str(), (head.saturating_add(AHEAD_OF_HEAD as i64), read));
                    }
                }
                // Each channel's head once, past the highest of its envelopes stored here.
                let mut outcomes = Vec::with_capacity(rows.len());
                let mut heads: BTreeMap<&str, i64> = BTreeMap::new();
                for (address, text, root, next) in &rows {
                    let (limit, _) = before[root.as_str()];
                    if *next > limit {
                        outcomes.push(Received::TooFar { limit: limit as u64 });
                        continue;
                    }
                    let was_stored = insert.execute(rusqlite::params![address, text, now])? > 0;
                    if was_stored {
                        let head = heads.entry(root.as_str()).or_default();
                        *head = (*head).max(*next);
                    }
                    outcomes.push(if was_stored { Received::Stored { turned_unread: false } } else { Received::Taken });
                }
                // SET reads the row as it was: a channel unread already keeps its time.
                let mut raise = conn.prepare_cached(
                    "INSERT INTO channel_heads (root, next_index, unread_since) VALUES (?1, ?2, ?3)
                     ON CONFLICT (root) DO UPDATE SET
                        next_index = max(next_index, excluded.next_index),
                        unread_since = CASE WHEN next_index > read_index
                            THEN coalesce(unread_since, excluded.unread_since) ELSE excluded.unread_since END
                     RETURNING next_index > read_index",
                )?;
                let mut turned_unread = BTreeSet::new();
                for (root, next) in heads {
                    let (_, read_before) = before[root];
                    let unread_now: bool = raise.query_row(rusqlite::params![root, next, now], |row| row.get(0))?;
                    if read_before && unread_now {
                        turned_unread.insert(root);
                    }
                }
                // The channel's first envelope stored here tells its reader.
                for ((_, _, root, _), outcome) in rows.iter().zip(&mut outcomes) {
                    if let Received::Stored { turned_unread: told } = outcome {
                        *told = turned_unread.remove(root.as_str());
                    }
                }
                Ok(outcomes)
            })
            .await
    }

    async fn unread(&self, after: Option<&ChannelRoot>, limit: usize) -> Result<Vec<UnreadChannel>, StoreError> {
        let after = after.map(|root| root.to_string()).unwrap_or_default();
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT root, next_index, unread_since FROM channel_heads
                     WHERE next_index > read_index AND root > ?1 ORDER BY root LIMIT ?2",
                )?;
                let rows = stmt.query_map(rusqlite::params![after, limit as i64], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, Option<i64>>(2)?))
                })?;
                rows.map(|row| {
                    let (root, head, since) = row?;
                    let root =
                        ChannelRoot::parse(root).map_err(|e| StoreError::Corrupt(format!("channel head: {e}")))?;
                    let since = since
                        .map(EpochMs::parse)
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("channel head: {e}")))?;
                    Ok(UnreadChannel { root, head: head as u64, since })
                })
                .collect()
            })
            .await
    }

    async fn read_up_to(&self, root: &ChannelRoot, next_index: u64) -> Result<bool, StoreError> {
        let (root, next) = (root.to_string(), stored_index(next_index)?);
        self.db
            .write(move |conn| {
                let still_unread = conn
                    .prepare_cached(
                        "UPDATE channel_heads SET read_index = max(read_index, ?2) WHERE root = ?1
                         RETURNING next_index > read_index",
                    )?
                    .query_row(rusqlite::params![root, next], |row| row.get(0))
                    .optional()?;
                Ok(still_unread.unwrap_or(false))
            })
            .await
    }
}

/// An index as SQLite stores it; past `i64::MAX` is refused, never wrapped.
fn stored_index(index: u64) -> Result<i64, StoreError> {
    i64::try_from(index).map_err(|_| StoreError::Corrupt(format!("channel index {index} is past what the store holds")))
}
