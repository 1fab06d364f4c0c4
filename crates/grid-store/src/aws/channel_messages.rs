//! `ChannelStore` over a DynamoDB table keyed by `address`: each envelope at its
//! address, and each channel's head at `head#{root}` (`nextIndex`, `readIndex`). A head
//! with unread messages carries `unread`, the key of the sparse index `unread` the
//! sweep queries, and `unreadSince`, when it turned unread.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use grid_core::channel::{AHEAD_OF_HEAD, Envelope, MessageAddress};
use grid_core::{ChannelRoot, EpochMs};

use super::attributes::{Item, batch_get, get_n, get_s, n, opt_time, s};
use super::registrations::condition_failed;
use super::{AwsClients, LazyClient, backend};
use crate::{ChannelStore, Received, StoreError, UnreadChannel};

const TABLE: &str = "channel_messages";

/// The channel node's envelopes in DynamoDB; attach is a conditional put.
#[derive(Clone, Debug)]
pub struct DynamoChannelStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoChannelStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }

    /// Raises `root`'s head to `next`, marking it unread (since `now`, unless it was
    /// unread already), unless it is there already or `next` is [`AHEAD_OF_HEAD`] or
    /// more past it: which of the three, and whether it turned unread.
    async fn raise_head(&self, root: &ChannelRoot, next: u64, now: EpochMs) -> Result<Raised, StoreError> {
        // Within the window of the head as it is: no head yet and `next` within the
        // window of 0, or a head below `next` and at least `next - window`.
        let least = next.saturating_sub(AHEAD_OF_HEAD);
        let condition = if least == 0 {
            "attribute_not_exists(nextIndex) OR nextIndex < :next"
        } else {
            "nextIndex < :next AND nextIndex >= :least"
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("address", s(head_key(root)))
            .update_expression(
                "SET nextIndex = :next, unread = :unread, unreadSince = if_not_exists(unreadSince, :now)",
            )
            .condition_expression(condition)
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":now", n(now.get()))
            .expression_attribute_values(":unread", s(UNREAD))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if least > 0 {
            update = update.expression_attribute_values(":least", n(least));
        }
        match update.send().await {
            // `unread` is among the old values only if the channel was unread before.
            Ok(output) => {
                Ok(Raised::To { turned_unread: output.attributes().is_none_or(|old| !old.contains_key("unread")) })
            }
            Err(e) if condition_failed!(e) => {
                let head = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => match failed.item() {
                        Some(old) => get_n(old, TABLE, "nextIndex")?,
                        None => 0,
                    },
                    _ => 0,
                };
                // Higher already, or too far past it.
                Ok(if head >= next { Raised::Already } else { Raised::TooFar { head } })
            }
            Err(e) => Err(backend(e)),
        }
    }
}

/// What [`DynamoChannelStore::raise_head`] did.
enum Raised {
    To { turned_unread: bool },
    Already,
    TooFar { head: u64 },
}

/// The one value of `unread`: every unread head in one partition of the index, by root.
const UNREAD: &str = "1";
const HEAD: &str = "head#";

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
impl ChannelStore for DynamoChannelStore {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("address", s(address.as_str()))
            .item("envelope", s(envelope.to_json()))
            .item("attached", n(EpochMs::now().get()))
            .condition_expression("attribute_not_exists(address)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed!(e) => Err(StoreError::Conflict(format!("address {address} is taken"))),
            Err(e) => Err(backend(e)),
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
    ) -> Result<Vec<Received>, StoreError> {
        let mut heads: BTreeMap<ChannelRoot, u64> = BTreeMap::new();
        for (_, envelope) in messages {
            let head = heads.entry(envelope.root()).or_default();
            *head = (*head).max(envelope.index() + 1);
        }
        let mut turned_unread = BTreeSet::new();
        let mut limits: BTreeMap<ChannelRoot, u64> = BTreeMap::new();
        for (root, next) in heads {
            let mut raised = self.raise_head(&root, next, now).await?;
            if let Raised::TooFar { head } = raised {
                // The envelopes within the window still count: raise to the highest of them.
                let limit = head.saturating_add(AHEAD_OF_HEAD);
                let within = messages
                    .iter()
                    .filter(|(_, e)| e.root() == root && e.index() < limit)
                    .map(|(_, e)| e.index() + 1)
                    .max();
                raised = match within {
                    Some(next) => self.raise_head(&root, next, now).await?,
                    None => Raised::Already,
                };
                limits.insert(root.clone(), limit);
            }
            if let Raised::To { turned_unread: true } = raised {
                turned_unread.insert(root);
            }
        }
        let too_far = |e: &Envelope| limits.get(&e.root()).filter(|limit| e.index() >= **limit).copied();
        let kept: Vec<(MessageAddress, Envelope)> =
            messages.iter().filter(|(_, e)| too_far(e).is_none()).cloned().collect();
        let mut stored = self.attach_many(&kept).await?.into_iter();
        Ok(messages
            .iter()
            .map(|(_, envelope)| match too_far(envelope) {
                Some(limit) => Received::TooFar { limit },
                // The channel's first envelope stored here tells its reader.
                None => match stored.next().unwrap_or(false) {
                    true => Received::Stored { turned_unread: turned_unread.remove(&envelope.root()) },
                    false => Received::Taken,
                },
            })
            .collect())
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
            Err(e) if condition_failed!(e) => Ok(match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().is_some_and(|head| head.contains_key("nextIndex"))
                }
                _ => false,
            }),
            Err(e) => Err(backend(e)),
        }
    }
}
