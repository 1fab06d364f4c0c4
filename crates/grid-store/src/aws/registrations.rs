//! `RegistrationStore` over a DynamoDB table keyed by `id`. Beside each registration
//! the table holds one item per channel root it bound (`id = "root#{root}"`, with the
//! `registration`), written in the same transaction as the registration, so a root
//! backs one registration; and one for its case-folded id (`id = "fold#{folded}"`),
//! written with its creation, so ids that differ only in case never both register.
//! Registration ids cannot contain `#`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use grid_core::intake::ReadingTally;
use grid_core::{ChannelCursor, ChannelRoot, ItemType, Registration, RegistrationId};

use super::attributes::{Item, batch_get, get_n, get_s, n, opt_n, opt_s, s};
use super::maybe_written::{LAST_OP, op_id, written_once};
use super::{AwsClients, LazyClient, backend};
use crate::records::RegistrationRecord;
use crate::{
    ConflictKind, RegistrationCounts, RegistrationCursor, RegistrationPage, RegistrationStore, StoreError, Versioned,
};

const TABLE: &str = "registrations";

/// Registrations in DynamoDB; every change is a conditional put.
#[derive(Clone, Debug)]
pub struct DynamoRegistrationStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoRegistrationStore {
    /// A query of the `by-type` index for the registrations of `item_type`, in id order:
    /// their keys and `removed`, nothing else.
    fn by_type(&self, item_type: ItemType) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("by-type")
            .key_condition_expression("itemType = :type")
            .expression_attribute_values(":type", s(item_type.as_str()))
    }

    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }

    /// Writes `item` under `condition` (with its values; `#version` names the version),
    /// binds the registration's channel root if it has one and, for a new registration
    /// (`claim_id`), its folded id, in one transaction. `Ok(false)` if a condition failed
    /// (other than on our own write, retried after its answer was lost).
    async fn put_bound(
        &self,
        record: &RegistrationRecord,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
        claim_id: bool,
    ) -> Result<bool, StoreError> {
        let claims: Vec<AttributeValue> = record
            .channel_root
            .iter()
            .map(|root| root_key(root))
            .chain(claim_id.then(|| fold_key(&record.id)))
            .collect();
        if claims.is_empty() {
            // A single put, not a transaction: it carries its `lastOp`, so a retry after a
            // lost answer that fails its condition on our own put is taken for done
            // (see `maybe_written`).
            let op = op_id();
            let mut item = item;
            item.insert(LAST_OP.to_owned(), s(&op));
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            for (name, value) in values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            if condition.contains("#version") {
                request = request.expression_attribute_names("#version", "version");
            }
            return written_once(request.send().await, &op);
        }
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        if condition.contains("#version") {
            put = put.expression_attribute_names("#version", "version");
        }
        let mut items = vec![TransactWriteItem::builder().put(put.build().map_err(backend)?).build()];
        for claim in claims {
            let bind = Put::builder()
                .table_name(&self.table)
                .item("id", claim)
                .item("registration", s(&record.id))
                .condition_expression("attribute_not_exists(id) OR registration = :owner")
                .expression_attribute_values(":owner", s(&record.id))
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().put(bind).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_transaction_canceled_exception()) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}

#[cfg(feature = "contract")]
impl DynamoRegistrationStore {
    /// Test and benchmark support: stores new registrations (their items, channel-root
    /// and folded-id bindings) with unconditional batch writes, 25 items a request. Only
    /// for filling a fresh table with registrations known not to clash: nothing is
    /// checked. moto copies every table for each transaction, so storing 100,000
    /// registrations one [`insert`](RegistrationStore::insert) at a time takes hours there.
    pub async fn load_unchecked(&self, registrations: &[Registration]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut items = Vec::with_capacity(registrations.len() * 3);
        for registration in registrations {
            let record = RegistrationRecord::from(registration);
            let binding = |key| Item::from([("id".to_owned(), key), ("registration".to_owned(), s(&record.id))]);
            items.extend(record.channel_root.as_deref().map(|root| binding(root_key(root))));
            items.push(binding(fold_key(&record.id)));
            items.push(to_item(&record, 1));
        }
        for chunk in items.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build().map_err(backend)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            while !requests.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(backend)?;
                requests = output.unprocessed_items().and_then(|u| u.get(&self.table)).cloned().unwrap_or_default();
            }
        }
        Ok(())
    }
}

impl DynamoRegistrationStore {
    /// The registration a `root#` or `fold#` item names.
    async fn claim_owner(&self, key: AttributeValue) -> Result<Option<RegistrationId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output
            .item()
            .map(|item| {
                RegistrationId::parse(get_s(item, TABLE, "registration")?)
                    .map_err(|e| StoreError::Corrupt(format!("{TABLE}: claim owner: {e}")))
            })
            .transpose()
    }
}

fn root_key(root: &str) -> AttributeValue {
    s(format!("root#{root}"))
}

fn fold_key(id: &str) -> AttributeValue {
    s(format!("fold#{}", id.to_ascii_lowercase()))
}

fn to_item(record: &RegistrationRecord, version: u64) -> Item {
    let mut item = Item::new();
    item.insert("id".into(), s(&record.id));
    item.insert("itemType".into(), s(&record.item_type));
    item.insert("created".into(), n(record.created_ms));
    item.insert("updated".into(), n(record.updated_ms));
    item.insert("version".into(), n(version));
    item.insert("channelNextIndex".into(), n(record.cursor_next_index));
    item.insert("channelClosed".into(), AttributeValue::Bool(record.cursor_closed));
    item.insert("tallyPeriod".into(), n(record.tally_period));
    item.insert("tallyCount".into(), n(u64::from(record.tally_count)));
    let optional = [
        ("itemName", record.item_name.as_ref().map(s)),
        ("removed", record.removed_ms.map(n)),
        ("channelRoot", record.channel_root.as_ref().map(s)),
        ("channelSideKey", record.channel_side_key.as_ref().map(s)),
        ("returnSeed", record.return_seed.as_ref().map(s)),
        ("returnSideKey", record.return_side_key.as_ref().map(s)),
        ("returnNextIndex", record.return_next_index.map(n)),
        ("returnPublicKey", record.return_public_key.as_ref().map(s)),
        ("managementKey", record.management_key.as_ref().map(s)),
    ];
    item.extend(optional.into_iter().filter_map(|(name, value)| value.map(|v| (name.to_owned(), v))));
    item
}

fn from_item(item: &Item) -> Result<Versioned<Registration>, StoreError> {
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let record = RegistrationRecord {
        id: get_s(item, TABLE, "id")?.to_owned(),
        item_name: owned(opt_s(item, TABLE, "itemName")?),
        item_type: get_s(item, TABLE, "itemType")?.to_owned(),
        created_ms: get_n(item, TABLE, "created")?,
        updated_ms: get_n(item, TABLE, "updated")?,
        removed_ms: opt_n(item, TABLE, "removed")?,
        channel_root: owned(opt_s(item, TABLE, "channelRoot")?),
        channel_side_key: owned(opt_s(item, TABLE, "channelSideKey")?),
        return_seed: owned(opt_s(item, TABLE, "returnSeed")?),
        return_side_key: owned(opt_s(item, TABLE, "returnSideKey")?),
        return_next_index: opt_n(item, TABLE, "returnNextIndex")?,
        return_public_key: owned(opt_s(item, TABLE, "returnPublicKey")?),
        cursor_next_index: opt_n(item, TABLE, "channelNextIndex")?.unwrap_or(0),
        cursor_closed: matches!(item.get("channelClosed"), Some(AttributeValue::Bool(true))),
        management_key: owned(opt_s(item, TABLE, "managementKey")?),
        tally_period: opt_n(item, TABLE, "tallyPeriod")?.unwrap_or(0),
        tally_count: u32::try_from(opt_n(item, TABLE, "tallyCount")?.unwrap_or(0))
            .map_err(|e| StoreError::Corrupt(format!("{TABLE}: tallyCount: {e}")))?,
    };
    record.into_domain(get_n(item, TABLE, "version")?)
}

/// Whether an SDK error is a failed condition expression.
macro_rules! condition_failed {
    ($error:expr) => {
        $error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception())
    };
}
pub(super) use condition_failed;

/// The outcome of a conditional write: `Ok(true)` if it happened, `Ok(false)` if its
/// condition failed (for the idempotent writes, "already done").
macro_rules! written {
    ($result:expr) => {
        match $result {
            Ok(_) => Ok(true),
            Err(e) if $crate::aws::registrations::condition_failed!(e) => Ok(false),
            Err(e) => Err($crate::aws::backend(e)),
        }
    };
}
pub(super) use written;

#[async_trait]
impl RegistrationStore for DynamoRegistrationStore {
    async fn insert(&self, registration: &Registration) -> Result<(), StoreError> {
        let record = RegistrationRecord::from(registration);
        if self.put_bound(&record, to_item(&record, 1), "attribute_not_exists(id)", &[], true).await? {
            Ok(())
        } else {
            Err(StoreError::conflict(
                ConflictKind::Taken,
                format!(
                    "registration {} already exists (perhaps in another case), or its channel root is bound to another",
                    record.id
                ),
            ))
        }
    }

    async fn get(&self, id: &RegistrationId) -> Result<Option<Versioned<Registration>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item().map(from_item).transpose()
    }

    async fn replace(&self, registration: &Registration, expected_version: u64) -> Result<u64, StoreError> {
        let record = RegistrationRecord::from(registration);
        let next = expected_version
            .checked_add(1)
            .ok_or_else(|| StoreError::conflict(ConflictKind::Moved, "no registration is at the last version"))?;
        let item = to_item(&record, next);
        if self.put_bound(&record, item, "#version = :expected", &[(":expected", n(expected_version))], false).await? {
            Ok(next)
        } else {
            Err(StoreError::conflict(
                ConflictKind::Moved,
                format!(
                    "registration {} is no longer at version {expected_version}, or its channel root is bound to another",
                    record.id
                ),
            ))
        }
    }

    async fn channel_owner(&self, root: &ChannelRoot) -> Result<Option<RegistrationId>, StoreError> {
        self.claim_owner(root_key(root.as_str())).await
    }

    async fn id_owner(&self, id: &RegistrationId) -> Result<Option<RegistrationId>, StoreError> {
        self.claim_owner(fold_key(id.as_str())).await
    }

    async fn advance_cursor(
        &self,
        id: &RegistrationId,
        root: &ChannelRoot,
        from: ChannelCursor,
        to: ChannelCursor,
        tally: ReadingTally,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id.as_str()))
            .update_expression(
                "SET channelNextIndex = :to, channelClosed = :closed, tallyPeriod = :tally_period, \
                 tallyCount = :tally_count ADD #version :one",
            )
            .condition_expression("channelRoot = :root AND channelNextIndex = :from AND channelClosed = :was_closed")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":to", n(to.next_index))
            .expression_attribute_values(":closed", AttributeValue::Bool(to.closed))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":root", s(root.as_str()))
            .expression_attribute_values(":from", n(from.next_index))
            .expression_attribute_values(":was_closed", AttributeValue::Bool(from.closed))
            .expression_attribute_values(":tally_period", n(tally.period))
            .expression_attribute_values(":tally_count", n(u64::from(tally.count)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed!(e) => Err(StoreError::conflict(
                ConflictKind::Moved,
                format!("the cursor of {id} is no longer at {}", from.next_index),
            )),
            Err(e) => Err(backend(e)),
        }
    }

    async fn list(&self, after: Option<&RegistrationCursor>, limit: usize) -> Result<RegistrationPage, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        // Root bindings have no item type; the page may end on one, so the cursor is
        // the table's own key.
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(limit)
            .consistent_read(true)
            .filter_expression("attribute_exists(itemType)");
        if let Some(after) = after {
            scan = scan.exclusive_start_key("id", s(after.0.as_str()));
        }
        let output = scan.send().await.map_err(backend)?;
        let registrations = output.items().iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        let next = match output.last_evaluated_key() {
            Some(key) => Some(RegistrationCursor(get_s(key, TABLE, "id")?.to_owned())),
            None => None,
        };
        Ok(RegistrationPage { registrations, next })
    }

    async fn get_many(&self, ids: &[RegistrationId]) -> Result<Vec<Versioned<Registration>>, StoreError> {
        let mut unique: Vec<&RegistrationId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique.iter().map(|id| Item::from([("id".to_owned(), s(id.as_str()))])).collect();
        let mut found =
            batch_get(&self.client, &self.table, keys).await?.iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        // In the order asked for.
        found.sort_by_key(|r| ids.iter().position(|id| *id == r.value.id));
        Ok(found)
    }

    async fn counts(&self) -> Result<RegistrationCounts, StoreError> {
        let mut counts = RegistrationCounts::default();
        for item_type in ItemType::ALL {
            let count = counts.of_mut(item_type);
            let mut pages = self
                .by_type(item_type)
                .projection_expression("#removed")
                .expression_attribute_names("#removed", "removed")
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for item in page.map_err(backend)?.items() {
                    if item.contains_key("removed") { count.removed += 1 } else { count.active += 1 }
                }
            }
        }
        Ok(counts)
    }

    async fn of_type(&self, item_type: ItemType, skip: usize, limit: usize) -> Result<Vec<Registration>, StoreError> {
        let mut ids = Vec::new();
        let mut skipped = 0;
        let mut pages = self
            .by_type(item_type)
            .projection_expression("#id")
            .expression_attribute_names("#id", "id")
            .into_paginator()
            .send();
        'pages: while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                if skipped < skip {
                    skipped += 1;
                    continue;
                }
                if ids.len() == limit {
                    break 'pages;
                }
                let id = get_s(item, TABLE, "id")?;
                ids.push(RegistrationId::parse(id).map_err(|e| StoreError::Corrupt(format!("{TABLE}: {e}")))?);
            }
        }
        Ok(self.get_many(&ids).await?.into_iter().map(|v| v.value).collect())
    }
}
