//! `ChannelMessageStore` over the `channel_messages` table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use grid_core::channel::{AHEAD_OF_HEAD, Envelope, MessageAddress, UnclaimedChannels};
use grid_core::{ChannelRoot, EpochMs, RegistrationId};
use rusqlite::{OptionalExtension, named_params};

use super::SqliteDb;
use crate::{ChannelMessageStore, Claim, ConflictKind, Received, StoreError, UnreadChannel};

/// The channel node's envelopes in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteChannelMessageStore {
    db: SqliteDb,
}

impl SqliteChannelMessageStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn stored_envelope(text: &str) -> Result<Envelope, StoreError> {
    Envelope::parse(text.as_bytes()).map_err(|e| StoreError::Corrupt(format!("channel message: {e}")))
}

#[async_trait]
impl ChannelMessageStore for SqliteChannelMessageStore {
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
                    return Err(StoreError::conflict(ConflictKind::Exists, format!("address {address} is taken")));
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
        unclaimed: UnclaimedChannels,
    ) -> Result<Vec<Received>, StoreError> {
        let rows = messages
            .iter()
            .map(|(a, e)| Ok((a.as_str().to_owned(), e.to_json(), e.root().to_string(), stored_index(e.index() + 1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (day, expires) = (UnclaimedChannels::day(now) as i64, stored_index(UnclaimedChannels::expires(now).get())?);
        let now = stored_index(now.get())?;
        self.db
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO channel_messages (address, envelope, attached_ms)
                     VALUES (?1, ?2, ?3) ON CONFLICT (address) DO NOTHING",
                )?;
                let mut head_of = conn.prepare_cached(
                    "SELECT next_index, next_index <= read_index, expires_ms IS NOT NULL
                     FROM channel_heads WHERE root = ?1",
                )?;
                // Each channel's head before this call, read once: how far it takes
                // envelopes, whether its reader had read everything (no head: nothing
                // to read), and whether it is unclaimed (no head: it would open one).
                let mut before: BTreeMap<&str, Before> = BTreeMap::new();
                for (_, _, root, _) in &rows {
                    if !before.contains_key(root.as_str()) {
                        let head = head_of
                            .query_row([root], |row| {
                                Ok(Before { limit: row.get(0)?, read: row.get(1)?, unclaimed: row.get(2)?, new: false })
                            })
                            .optional()?
                            .unwrap_or(Before { limit: 0, read: true, unclaimed: true, new: true });
                        let limit = match head.unclaimed {
                            true => UnclaimedChannels::INDEXES as i64,
                            false => head.limit.saturating_add(AHEAD_OF_HEAD as i64),
                        };
                        before.insert(root.as_str(), Before { limit, ..head });
                    }
                }
                // A channel nobody claimed opens only if today has room, and only for an
                // envelope it takes.
                let mut open = conn.prepare_cached(
                    "INSERT INTO unclaimed_days (day, channels) VALUES (?1, 1)
                     ON CONFLICT (day) DO UPDATE SET channels = channels + 1 WHERE channels < ?2 RETURNING day",
                )?;
                let mut full = BTreeSet::new();
                for (root, head) in &before {
                    let takes = || rows.iter().any(|(_, _, r, next)| r == root && *next <= head.limit);
                    if head.new
                        && takes()
                        && open
                            .query_row(rusqlite::params![day, unclaimed.per_day() as i64], |_| Ok(()))
                            .optional()?
                            .is_none()
                    {
                        full.insert(*root);
                    }
                }
                let mut note_unclaimed = conn.prepare_cached(
                    "INSERT INTO unclaimed_messages (address, root) VALUES (?1, ?2) ON CONFLICT (address) DO NOTHING",
                )?;
                // Each channel's head once, past the highest of its envelopes stored here.
                let mut outcomes = Vec::with_capacity(rows.len());
                let mut heads: BTreeMap<&str, i64> = BTreeMap::new();
                for (address, text, root, next) in &rows {
                    let head = &before[root.as_str()];
                    if full.contains(root.as_str()) {
                        outcomes.push(Received::Full);
                        continue;
                    }
                    if *next > head.limit {
                        outcomes.push(Received::TooFar { limit: head.limit as u64 });
                        continue;
                    }
                    let was_stored = insert.execute(rusqlite::params![address, text, now])? > 0;
                    if was_stored {
                        if head.unclaimed {
                            note_unclaimed.execute([address, root])?;
                        }
                        let head = heads.entry(root.as_str()).or_default();
                        *head = (*head).max(*next);
                    }
                    outcomes.push(if was_stored { Received::Stored { turned_unread: false } } else { Received::Taken });
                }
                // SET reads the row as it was: a channel unread already keeps its time.
                // A new head is an unclaimed one (a claimed root has its head already).
                let mut raise = conn.prepare_cached(
                    "INSERT INTO channel_heads (root, next_index, unread_since, expires_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (root) DO UPDATE SET
                        next_index = max(next_index, excluded.next_index),
                        unread_since = CASE WHEN next_index > read_index
                            THEN coalesce(unread_since, excluded.unread_since) ELSE excluded.unread_since END
                     RETURNING next_index > read_index",
                )?;
                let mut turned_unread = BTreeSet::new();
                for (root, next) in heads {
                    let read_before = before[root].read;
                    let unread_now: bool =
                        raise.query_row(rusqlite::params![root, next, now, expires], |row| row.get(0))?;
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

    async fn claim(&self, root: &ChannelRoot, owner: &RegistrationId, most: Option<u64>) -> Result<Claim, StoreError> {
        let (root, owner) = (root.to_string(), owner.clone());
        self.db
            .write(move |conn| {
                let head: Option<(Option<String>, Option<i64>)> = conn
                    .prepare_cached("SELECT owner, expires_ms FROM channel_heads WHERE root = ?1")?
                    .query_row([&root], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let expires = match head {
                    Some((Some(holder), _)) if holder == owner.as_str() => return Ok(Claim::Already),
                    Some((Some(holder), _)) => {
                        let by = RegistrationId::parse(holder)
                            .map_err(|e| StoreError::Corrupt(format!("channel head owner: {e}")))?;
                        return Ok(Claim::Taken { by });
                    }
                    Some((None, expires)) => expires,
                    None => None,
                };
                if let Some(most) = most {
                    // A registration's own channel is not among what it counts.
                    let held: i64 = conn
                        .prepare_cached(
                            "SELECT count(*) FROM channel_heads h WHERE owner = ?1
                             AND NOT EXISTS (SELECT 1 FROM channel_roots r WHERE r.root = h.root)",
                        )?
                        .query_row([owner.as_str()], |row| row.get(0))?;
                    if held as u64 >= most {
                        return Ok(Claim::TooMany { most });
                    }
                }
                conn.prepare_cached(
                    "INSERT INTO channel_heads (root, next_index, owner) VALUES (?1, 0, ?2)
                     ON CONFLICT (root) DO UPDATE SET owner = excluded.owner, expires_ms = NULL",
                )?
                .execute([&root, owner.as_str()])?;
                if let Some(expires) = expires {
                    conn.prepare_cached("DELETE FROM unclaimed_messages WHERE root = ?1")?.execute([&root])?;
                    let day = UnclaimedChannels::day_of_expiry(EpochMs::parse(expires).map_err(corrupt_head)?);
                    conn.prepare_cached(
                        "UPDATE unclaimed_days SET channels = channels - 1 WHERE day = ?1 AND channels > 0",
                    )?
                    .execute([day as i64])?;
                }
                Ok(Claim::Claimed)
            })
            .await
    }

    async fn release(&self, root: &ChannelRoot, owner: &RegistrationId, now: EpochMs) -> Result<bool, StoreError> {
        let (root, owner) = (root.to_string(), owner.clone());
        let expires = stored_index(UnclaimedChannels::expires(now).get())?;
        self.db
            .write(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "UPDATE channel_heads SET owner = NULL, expires_ms = ?3 WHERE root = ?1 AND owner = ?2",
                    )?
                    .execute(rusqlite::params![root, owner.as_str(), expires])?
                    > 0)
            })
            .await
    }

    async fn forget_expired(&self, now: EpochMs, limit: usize) -> Result<usize, StoreError> {
        let today = UnclaimedChannels::day(now) as i64;
        let now = stored_index(now.get())?;
        self.db
            .write(move |conn| {
                let roots: Vec<String> = conn
                    .prepare_cached("SELECT root FROM channel_heads WHERE expires_ms <= ?1 LIMIT ?2")?
                    .query_map(rusqlite::params![now, limit as i64], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                for root in &roots {
                    conn.prepare_cached(
                        "DELETE FROM channel_messages WHERE address IN
                            (SELECT address FROM unclaimed_messages WHERE root = ?1)",
                    )?
                    .execute([root])?;
                    conn.prepare_cached("DELETE FROM unclaimed_messages WHERE root = ?1")?.execute([root])?;
                    conn.prepare_cached("DELETE FROM channel_heads WHERE root = ?1")?.execute([root])?;
                }
                // A day's count matters while its channels can live: today's and yesterday's.
                conn.prepare_cached("DELETE FROM unclaimed_days WHERE day < ?1")?.execute([today - 1])?;
                Ok(roots.len())
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

/// A channel's head as a receive found it.
struct Before {
    /// How far it takes envelopes: `next` (one past an index) at most this.
    limit: i64,
    /// Its reader had read everything.
    read: bool,
    /// Nobody claimed its root.
    unclaimed: bool,
    /// It has no head yet.
    new: bool,
}

fn corrupt_head(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("channel head: {e}"))
}

/// An index as SQLite stores it; past `i64::MAX` is refused, never wrapped.
fn stored_index(index: u64) -> Result<i64, StoreError> {
    i64::try_from(index).map_err(|_| StoreError::Corrupt(format!("channel index {index} is past what the store holds")))
}
