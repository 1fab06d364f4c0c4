//! `ChannelMessageStore` over a DynamoDB table keyed by `address`: each envelope at its
//! address, and each channel's head at `head#{root}` (`nextIndex`, `readIndex`). A head
//! with unread messages carries `unread`, the key of the sparse index `unread` the
//! sweep queries, and `unreadSince`, when it turned unread. A claimed head carries its
//! `owner`; an unclaimed one `unclaimedUntil` and `expiring`, the keys of the sparse
//! index `expiring`, and `messages`, the addresses of its envelopes. Counts live beside
//! them: `unclaimed#{day}` (unclaimed channels opened that day, with a time to live)
//! and `claims#{owner}` (roots a producer claimed for its sources). Envelopes, heads
//! and counts carry `lastOp`, the id of the single-item write that last touched them, so
//! that one retried after a lost answer knows its own write (see `maybe_written`); a
//! claimed head keeps `unclaimedBefore` for the same reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use grid_core::channel::{AHEAD_OF_HEAD, Envelope, MessageAddress, UnclaimedChannels};
use grid_core::{ChannelRoot, EpochMs, RegistrationId};

use super::attributes::{Item, batch_get, get_n, get_s, n, opt_time, s};
use super::maybe_written::{LAST_OP, NOT_APPLIED, failed_item, is_ours, op_id, written_once};
use super::registrations::condition_failed;
use super::{AwsClients, LazyClient, backend};
use crate::{ChannelMessageStore, Claim, ConflictKind, Received, StoreError, UnreadChannel};

const TABLE: &str = "channel_messages";

/// The channel node's envelopes in DynamoDB; attach is a conditional put.
#[derive(Clone, Debug)]
pub struct DynamoChannelMessageStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoChannelMessageStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }

    /// Raises `root`'s head, if it has one, to `next`, marking it unread (since `now`,
    /// unless it was unread already), unless it is there already or `next` is past what
    /// the channel takes ([`AHEAD_OF_HEAD`] past its head; the first indexes only if
    /// nobody claimed it): which, and whether the channel is unclaimed.
    ///
    /// Retried after its answer was lost, the raise finds its own `lastOp` on the head
    /// (see `maybe_written`): raised, and turned unread if the head's `unreadSince` is this
    /// raise's `now` (a channel unread before keeps its earlier time), so the reader is
    /// still told.
    async fn raise_head(&self, root: &ChannelRoot, next: u64, now: EpochMs) -> Result<(Raised, bool), StoreError> {
        let op = op_id();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression(
                "SET nextIndex = :next, unread = :unread, unreadSince = if_not_exists(unreadSince, :now), \
                 lastOp = :op",
            )
            .condition_expression(
                "nextIndex < :next AND nextIndex >= :least \
                 AND (attribute_not_exists(unclaimedUntil) OR :next <= :indexes)",
            )
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":least", n(next.saturating_sub(AHEAD_OF_HEAD)))
            .expression_attribute_values(":indexes", n(UnclaimedChannels::INDEXES))
            .expression_attribute_values(":now", n(now.get()))
            .expression_attribute_values(":unread", s(UNREAD))
            .expression_attribute_values(":op", s(&op))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            // `unread` is among the old values only if the channel was unread before.
            Ok(output) => {
                let old = output.attributes();
                let turned_unread = old.is_none_or(|old| !old.contains_key("unread"));
                Ok((Raised::To { turned_unread }, old.is_some_and(|old| old.contains_key(UNCLAIMED_UNTIL))))
            }
            Err(e) if condition_failed!(e) => {
                let Some(old) = failed_item(&e) else { return Ok((Raised::NoHead, true)) };
                let (head, unclaimed) = (get_n(old, TABLE, "nextIndex")?, old.contains_key(UNCLAIMED_UNTIL));
                if is_ours(old, &op) {
                    let turned_unread = get_n(old, TABLE, "unreadSince").is_ok_and(|since| since == now.get());
                    return Ok((Raised::To { turned_unread }, unclaimed));
                }
                Ok((
                    match unclaimed {
                        true if next > UnclaimedChannels::INDEXES => {
                            Raised::TooFar { limit: UnclaimedChannels::INDEXES }
                        }
                        _ if head >= next => Raised::Already,
                        _ => Raised::TooFar { limit: head.saturating_add(AHEAD_OF_HEAD) },
                    },
                    unclaimed,
                ))
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Opens an unclaimed channel's head at `next`, noting `addresses` as its envelopes,
    /// if today has room for another unclaimed channel. The put carries its `lastOp`, so
    /// a retry after a lost answer that finds the head knows it opened it (see
    /// `maybe_written`) rather than giving the day's count back for a race it won.
    async fn open_unclaimed(
        &self,
        root: &ChannelRoot,
        next: u64,
        addresses: Vec<String>,
        now: EpochMs,
        unclaimed: UnclaimedChannels,
    ) -> Result<Opening, StoreError> {
        let day = UnclaimedChannels::day(now);
        if !self.count_unclaimed(day, 1, Some(unclaimed.per_day())).await? {
            return Ok(Opening::Full);
        }
        let op = op_id();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("address", s(head_key(root)))
            .item(LAST_OP, s(&op))
            .item("nextIndex", n(next))
            .item("readIndex", n(0))
            .item("unread", s(UNREAD))
            .item("unreadSince", n(now.get()))
            .item(UNCLAIMED_UNTIL, n(UnclaimedChannels::expires(now).get()))
            .item("expiring", s(UNREAD))
            .item(MESSAGES, AttributeValue::Ss(addresses))
            .condition_expression("attribute_not_exists(address)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        if written_once(put, &op)? {
            return Ok(Opening::Done);
        }
        // Another request opened it first: this one's count goes back.
        self.count_unclaimed(day, -1, None).await?;
        Ok(Opening::Raced)
    }

    /// Adds `by` to the unclaimed channels opened on `day`, only while below `most`:
    /// whether it did. A day's count lives three days (the table's time to live).
    async fn count_unclaimed(&self, day: u64, by: i64, most: Option<u64>) -> Result<bool, StoreError> {
        self.add_to_count(format!("{UNCLAIMED_DAY}{day}"), "channels", by, most, Some((day + 3) * 86_400)).await
    }

    /// Adds `by` to the roots `owner` holds claimed, only while below `most`.
    async fn count_claims(&self, owner: &RegistrationId, by: i64, most: Option<u64>) -> Result<bool, StoreError> {
        self.add_to_count(format!("{CLAIMS}{owner}"), "claims", by, most, None).await
    }

    /// Adds `by` to the number `attribute` of the item at `key`, only while it is below
    /// `most` (if given), and gives the item a time to live (`expires_at`, epoch seconds):
    /// whether it did.
    ///
    /// The `ADD` applies once when its answer is lost and the SDK sends it again: it
    /// sets `lastOp` and is conditioned on that not being its own id already, and a
    /// failed condition whose item carries its id is the first attempt's, done (with
    /// `most`, any other failure is the cap). The window that remains (see
    /// `maybe_written`): another count of the same item landing between our lost attempt
    /// and its retry replaces `lastOp`, and ours then applies twice. `unclaimed#{day}`,
    /// shared by every channel opened that day, is the count where that can happen.
    async fn add_to_count(
        &self,
        key: String,
        attribute: &str,
        by: i64,
        most: Option<u64>,
        expires_at: Option<u64>,
    ) -> Result<bool, StoreError> {
        let op = op_id();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(key))
            .update_expression(match expires_at {
                Some(_) => "ADD #count :by SET expiresAt = :gone, lastOp = :op",
                None => "ADD #count :by SET lastOp = :op",
            })
            .expression_attribute_names("#count", attribute)
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .expression_attribute_values(":op", s(&op))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(gone) = expires_at {
            update = update.expression_attribute_values(":gone", n(gone));
        }
        update = match most {
            Some(most) => update
                .condition_expression(format!("{NOT_APPLIED} AND (attribute_not_exists(#count) OR #count < :most)"))
                .expression_attribute_values(":most", n(most)),
            None => update.condition_expression(NOT_APPLIED),
        };
        written_once(update.send().await, &op)
    }

    /// Notes `addresses` among an unclaimed channel's envelopes (a set: noting one twice
    /// is noting it once).
    async fn note_unclaimed(&self, root: &ChannelRoot, addresses: Vec<String>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression("ADD #messages :addresses")
            .condition_expression("attribute_exists(unclaimedUntil)")
            .expression_attribute_names("#messages", MESSAGES)
            .expression_attribute_values(":addresses", AttributeValue::Ss(addresses))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| if condition_failed!(e) { Ok(()) } else { Err(backend(e)) })
    }
}

/// What [`DynamoChannelMessageStore::raise_head`] did.
enum Raised {
    To { turned_unread: bool },
    Already,
    TooFar { limit: u64 },
    NoHead,
}

/// What [`DynamoChannelMessageStore::open_unclaimed`] did.
enum Opening {
    Done,
    Full,
    Raced,
}

/// The one value of `unread` and `expiring`: every unread (expiring) head in one
/// partition of its index, by root (by expiry).
const UNREAD: &str = "1";
const HEAD: &str = "head#";
/// When an unclaimed channel expires, on its head: the sort key of the index `expiring`.
const UNCLAIMED_UNTIL: &str = "unclaimedUntil";
/// When a claimed channel would have expired had it not been claimed (0: it would not),
/// on its head: what a claim retried after a lost answer gives back to the day's count.
const UNCLAIMED_BEFORE: &str = "unclaimedBefore";
/// The addresses an unclaimed channel's envelopes were stored at, on its head.
const MESSAGES: &str = "messages";
/// The count of unclaimed channels opened on a day: `unclaimed#{day}`.
const UNCLAIMED_DAY: &str = "unclaimed#";
/// The count of roots a producer claimed for its sources: `claims#{id}`.
const CLAIMS: &str = "claims#";

fn head_key(root: &ChannelRoot) -> String {
    format!("{HEAD}{root}")
}

fn envelope_of(item: &Item) -> Result<(MessageAddress, Envelope), StoreError> {
    let address = MessageAddress::parse(get_s(item, TABLE, "address")?)
        .map_err(|e| StoreError::Corrupt(format!("{TABLE}: address: {e}")))?;
    let envelope = Envelope::parse(get_s(item, TABLE, "envelope")?.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("{TABLE}: {address}: {e}")))?;
    Ok((address, envelope))
}

#[async_trait]
impl ChannelMessageStore for DynamoChannelMessageStore {
    /// A conditional put with its `lastOp`: the envelope found at the address by a
    /// retry after a lost answer is our own, stored (see `maybe_written`); the same
    /// envelope attached by another call is still a conflict.
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError> {
        let op = op_id();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("address", s(address.as_str()))
            .item("envelope", s(envelope.to_json()))
            .item("attached", n(EpochMs::now().get()))
            .item(LAST_OP, s(&op))
            .condition_expression("attribute_not_exists(address)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written_once(result, &op)? {
            true => Ok(()),
            false => Err(StoreError::conflict(ConflictKind::Exists, format!("address {address} is taken"))),
        }
    }

    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("address", s(address.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item().map(|item| envelope_of(item).map(|(_, envelope)| envelope)).transpose()
    }

    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError> {
        // BatchGetItem refuses duplicate keys.
        let mut unique: Vec<&MessageAddress> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique.iter().map(|a| Item::from([("address".to_owned(), s(a.as_str()))])).collect();
        batch_get(&self.client, &self.table, keys).await?.iter().map(envelope_of).collect()
    }

    /// Heads first, one update per channel (two writes cannot be one here without a
    /// transaction, which costs twice), then each envelope's conditional put.
    async fn receive(
        &self,
        messages: &[(MessageAddress, Envelope)],
        now: EpochMs,
        unclaimed: UnclaimedChannels,
    ) -> Result<Vec<Received>, StoreError> {
        let mut heads: BTreeMap<ChannelRoot, u64> = BTreeMap::new();
        for (_, envelope) in messages {
            let head = heads.entry(envelope.root()).or_default();
            *head = (*head).max(envelope.index() + 1);
        }
        let mut turned_unread = BTreeSet::new();
        let mut limits: BTreeMap<ChannelRoot, u64> = BTreeMap::new();
        let mut full = BTreeSet::new();
        for (root, next) in heads {
            // The root's envelopes below `limit`: their addresses, and one past the highest.
            let within = |limit: u64| {
                let kept = messages.iter().filter(|(_, e)| e.root() == root && e.index() < limit);
                let next = kept.clone().map(|(_, e)| e.index() + 1).max();
                (kept.map(|(a, _)| a.as_str().to_owned()).collect::<Vec<_>>(), next)
            };
            let (mut raised, mut is_unclaimed) = self.raise_head(&root, next, now).await?;
            if let Raised::NoHead = raised {
                limits.insert(root.clone(), UnclaimedChannels::INDEXES);
                let (addresses, next) = within(UnclaimedChannels::INDEXES);
                let Some(next) = next else { continue };
                match self.open_unclaimed(&root, next, addresses, now, unclaimed).await? {
                    Opening::Done => {
                        turned_unread.insert(root);
                        continue;
                    }
                    Opening::Full => {
                        full.insert(root);
                        continue;
                    }
                    Opening::Raced => (raised, is_unclaimed) = self.raise_head(&root, next, now).await?,
                }
            }
            if let Raised::TooFar { limit } = raised {
                // The envelopes within the window still count: raise to the highest of them.
                raised = match within(limit).1 {
                    Some(next) => self.raise_head(&root, next, now).await?.0,
                    None => Raised::Already,
                };
                limits.insert(root.clone(), limit);
            }
            if is_unclaimed {
                let (addresses, _) = within(limits.get(&root).copied().unwrap_or(UnclaimedChannels::INDEXES));
                if !addresses.is_empty() {
                    self.note_unclaimed(&root, addresses).await?;
                }
            }
            if let Raised::To { turned_unread: true } = raised {
                turned_unread.insert(root);
            }
        }
        let refused = |e: &Envelope| match limits.get(&e.root()) {
            _ if full.contains(&e.root()) => Some(Received::Full),
            Some(&limit) if e.index() >= limit => Some(Received::TooFar { limit }),
            _ => None,
        };
        let kept: Vec<(MessageAddress, Envelope)> =
            messages.iter().filter(|(_, e)| refused(e).is_none()).cloned().collect();
        let mut stored = self.attach_many(&kept).await?.into_iter();
        Ok(messages
            .iter()
            .map(|(_, envelope)| match refused(envelope) {
                Some(refusal) => refusal,
                // The channel's first envelope stored here tells its reader.
                None => match stored.next().unwrap_or(false) {
                    true => Received::Stored { turned_unread: turned_unread.remove(&envelope.root()) },
                    false => Received::Taken,
                },
            })
            .collect())
    }

    async fn claim(&self, root: &ChannelRoot, owner: &RegistrationId, most: Option<u64>) -> Result<Claim, StoreError> {
        if let Some(most) = most
            && !self.count_claims(owner, 1, Some(most)).await?
        {
            return Ok(Claim::TooMany { most });
        }
        // The claim keeps its `lastOp` and when the channel would have expired unclaimed
        // (0: it was not), so that a retry after a lost answer knows the claim it meets
        // for its own, and what it did (see `maybe_written`).
        let op = op_id();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression(
                "SET #owner = :owner, lastOp = :op, unclaimedBefore = if_not_exists(unclaimedUntil, :zero), \
                 nextIndex = if_not_exists(nextIndex, :zero), readIndex = if_not_exists(readIndex, :zero) \
                 REMOVE unclaimedUntil, expiring, #messages",
            )
            .condition_expression("attribute_not_exists(#owner)")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#messages", MESSAGES)
            .expression_attribute_values(":owner", s(owner.as_str()))
            .expression_attribute_values(":op", s(&op))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        // Claimed: an unclaimed channel (expiring at `until`) leaves its day's count.
        let claimed = async |until: Option<EpochMs>| {
            if let Some(until) = until {
                self.count_unclaimed(UnclaimedChannels::day_of_expiry(until), -1, None).await?;
            }
            Ok(Claim::Claimed)
        };
        let holder = match result {
            Ok(output) => {
                return claimed(
                    output.attributes().map(|old| opt_time(old, TABLE, UNCLAIMED_UNTIL)).transpose()?.flatten(),
                )
                .await;
            }
            Err(e) if condition_failed!(e) => match failed_item(&e) {
                Some(head) if is_ours(head, &op) => {
                    return claimed(opt_time(head, TABLE, UNCLAIMED_BEFORE)?.filter(|until| until.get() > 0)).await;
                }
                Some(head) => Some(get_s(head, TABLE, "owner")?.to_owned()),
                None => None,
            },
            Err(e) => return Err(backend(e)),
        };
        // Held already: the count taken for this claim goes back.
        if most.is_some() {
            self.count_claims(owner, -1, None).await?;
        }
        let by =
            holder.ok_or_else(|| StoreError::Corrupt(format!("{TABLE}: a claimed head of {root} names no owner")))?;
        let by = RegistrationId::parse(by).map_err(|e| StoreError::Corrupt(format!("{TABLE}: owner: {e}")))?;
        Ok(if &by == owner { Claim::Already } else { Claim::Taken { by } })
    }

    /// The release sets its `lastOp`: a retry after a lost answer that finds the claim
    /// gone by its own hand goes on to give the producer's count back (see
    /// `maybe_written`), where it would report the claim not held and keep the count.
    async fn release(&self, root: &ChannelRoot, owner: &RegistrationId, now: EpochMs) -> Result<bool, StoreError> {
        let op = op_id();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression("SET unclaimedUntil = :until, expiring = :expiring, lastOp = :op REMOVE #owner")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.as_str()))
            .expression_attribute_values(":until", n(UnclaimedChannels::expires(now).get()))
            .expression_attribute_values(":expiring", s(UNREAD))
            .expression_attribute_values(":op", s(&op))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        if !written_once(result, &op)? {
            return Ok(false);
        }
        self.count_claims(owner, -1, None).await?;
        Ok(true)
    }

    /// Each expired head is deleted first (still unclaimed and expired, or left alone),
    /// then the envelopes it noted: a claim in between keeps them all. A failure after
    /// the head leaves a few envelopes nobody will delete, never one a claimed channel
    /// needs.
    async fn forget_expired(&self, now: EpochMs, limit: usize) -> Result<usize, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("expiring")
            .key_condition_expression("expiring = :expiring AND unclaimedUntil <= :now")
            .expression_attribute_values(":expiring", s(UNREAD))
            .expression_attribute_values(":now", n(now.get()))
            .limit(i32::try_from(limit.clamp(1, 1000)).expect("at most 1000"))
            .send()
            .await
            .map_err(backend)?;
        let mut forgotten = 0;
        for item in output.items() {
            let key = get_s(item, TABLE, "address")?;
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("address", s(key))
                .condition_expression("unclaimedUntil <= :now")
                .expression_attribute_values(":now", n(now.get()))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match result {
                Ok(output) => output.attributes,
                // Gone: deleted by this very request, its answer lost (or by another sweep),
                // so its envelopes go as the index saw them; deleting them twice is harmless.
                Err(e) if condition_failed!(e) && failed_item(&e).is_none() => Some(item.clone()),
                // Claimed meanwhile: it stays.
                Err(e) if condition_failed!(e) => continue,
                Err(e) => return Err(backend(e)),
            };
            let addresses = match old.as_ref().and_then(|old| old.get(MESSAGES)) {
                Some(AttributeValue::Ss(addresses)) => addresses.clone(),
                _ => Vec::new(),
            };
            for address in addresses {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("address", s(address))
                    .send()
                    .await
                    .map_err(backend)?;
            }
            forgotten += 1;
        }
        Ok(forgotten)
    }

    async fn unread(&self, after: Option<&ChannelRoot>, limit: usize) -> Result<Vec<UnreadChannel>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("unread")
            .key_condition_expression("unread = :unread AND address > :after")
            .expression_attribute_values(":unread", s(UNREAD))
            .expression_attribute_values(":after", s(after.map_or_else(|| HEAD.to_owned(), head_key)))
            .limit(i32::try_from(limit.clamp(1, 1000)).expect("at most 1000"));
        let mut found = Vec::new();
        loop {
            let output = query.clone().send().await.map_err(backend)?;
            for item in output.items() {
                let key = get_s(item, TABLE, "address")?;
                let root = key
                    .strip_prefix(HEAD)
                    .and_then(|root| ChannelRoot::parse(root).ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("{TABLE}: {key} is not a channel head")))?;
                let (head, since) = (get_n(item, TABLE, "nextIndex")?, opt_time(item, TABLE, "unreadSince")?);
                found.push(UnreadChannel { root, head, since });
            }
            // A page may hold fewer than asked for (DynamoDB's 1 MB): go on from its end.
            match output.last_evaluated_key() {
                Some(last) if found.len() < limit => query = query.set_exclusive_start_key(Some(last.clone())),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    async fn read_up_to(&self, root: &ChannelRoot, next_index: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression("SET readIndex = :read REMOVE unread, unreadSince")
            .condition_expression("nextIndex <= :read")
            .expression_attribute_values(":read", n(next_index))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(false),
            // Not read to its head: it stays as it is, unread. No head at all: nothing to read.
            Err(e) if condition_failed!(e) => Ok(failed_item(&e).is_some_and(|head| head.contains_key("nextIndex"))),
            Err(e) => Err(backend(e)),
        }
    }
}
