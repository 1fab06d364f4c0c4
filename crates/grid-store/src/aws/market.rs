//! The money engine's tables on DynamoDB: readings, and settlements with the head item.
//!
//! Readings are partitioned by `"{period}#{shard}"` (shard = FNV-1a of the registration
//! id mod the shard count), so one period is never one hot partition. Inserting a
//! reading is a transaction: a condition check that the settlement head still leaves
//! its period open, the conditional put of the reading, and, for a reading counted in a
//! later period than its own, a marker at its own key so that no copy of it can ever be
//! stored twice. A channel's new readings go together, up to 99 to a transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use grid_core::RegistrationId;
use grid_core::market::{PeriodStart, SettlementHead, SettlementRecord, StoredReading};

use super::attributes::{Item, get_n, get_s, n, opt_n, opt_s, opt_signed, s};
use super::registrations::{condition_failed, written};
use super::{AwsClients, LazyClient, backend};
use crate::records::{ReadingRow, SettlementRow};
use crate::{ConflictKind, Insertion, ReadingCursor, ReadingPage, ReadingStore, SettlementStore, StoreError};

/// The settlements item that is the head (no period starts before the epoch).
const HEAD: i64 = -1;

fn head_key() -> AttributeValue {
    AttributeValue::N(HEAD.to_string())
}

/// A stable hash (FNV-1a, 64 bits): the same registration always lands on the same shard.
fn shard_of(registration: &str, shards: u32) -> u32 {
    let hash =
        registration.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % u64::from(shards.max(1))) as u32
}

fn sort_key(row: &ReadingRow) -> String {
    format!("{}#{}#{:020}", row.registration, row.kind, row.start_ms)
}

/// Readings in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoReadingStore {
    client: LazyClient<Client>,
    readings: String,
    settlements: String,
    shards: u32,
}

impl DynamoReadingStore {
    /// `shards` is `READING_SHARDS`; changing it later strands readings of open periods.
    pub fn new(clients: &AwsClients, readings: impl Into<String>, settlements: impl Into<String>, shards: u32) -> Self {
        Self {
            client: clients.dynamodb.clone(),
            readings: readings.into(),
            settlements: settlements.into(),
            shards: shards.max(1),
        }
    }
}

/// The readings table's index by registration and start time.
pub const READINGS_BY_REGISTRATION: &str = "by-registration";

fn reading_item(row: &ReadingRow, pk: String) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sort_key(row)));
    item.insert("registration".into(), s(&row.registration));
    item.insert("kind".into(), s(&row.kind));
    item.insert("start".into(), n(row.start_ms));
    item.insert("end".into(), n(row.end_ms));
    item.insert("wh".into(), n(row.wh));
    item.insert("channelIndex".into(), n(row.channel_index));
    item.insert("period".into(), n(row.period));
    item.insert("countedIn".into(), n(row.counted_in));
    if let Some(price) = row.price {
        item.insert("price".into(), n(price));
    }
    if let Some(address) = &row.payment_address {
        item.insert("paymentAddress".into(), s(address));
    }
    if let Some(party) = &row.party {
        item.insert("party".into(), s(party));
    }
    item
}

fn reading_row(item: &Item) -> Result<ReadingRow, StoreError> {
    const T: &str = "readings";
    Ok(ReadingRow {
        registration: get_s(item, T, "registration")?.to_owned(),
        kind: get_s(item, T, "kind")?.to_owned(),
        start_ms: get_n(item, T, "start")?,
        end_ms: get_n(item, T, "end")?,
        wh: get_n(item, T, "wh")?,
        price: opt_n(item, T, "price")?,
        payment_address: opt_s(item, T, "paymentAddress")?.map(str::to_owned),
        channel_index: get_n(item, T, "channelIndex")?,
        period: get_n(item, T, "period")?,
        counted_in: get_n(item, T, "countedIn")?,
        party: opt_s(item, T, "party")?.map(str::to_owned),
    })
}

/// Actions one transaction takes (DynamoDB's limit): the head check, and one put per
/// reading (two for a late one).
const TRANSACTION_ACTIONS: usize = 100;

impl DynamoReadingStore {
    /// The condition that the head still leaves period `counted_in` open.
    fn open_check(&self, counted_in: u64) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.settlements)
            .key("period", head_key())
            .condition_expression(
                "(attribute_not_exists(latest) OR latest < :period) AND (attribute_not_exists(closing) OR closing < :period)",
            )
            .expression_attribute_values(":period", n(counted_in))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The conditional puts of a reading, and of its marker when it is late.
    fn puts(&self, row: &ReadingRow) -> Result<Vec<TransactWriteItem>, StoreError> {
        let shard = shard_of(&row.registration, self.shards);
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.readings)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(sk)")
                .build()
                .map_err(backend)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let mut puts = vec![put(reading_item(row, format!("{}#{shard}", row.counted_in)))?];
        if row.counted_in != row.period {
            let mut marker = Item::new();
            marker.insert("pk".into(), s(format!("{}#{shard}", row.period)));
            marker.insert("sk".into(), s(sort_key(row)));
            marker.insert("movedTo".into(), n(row.counted_in));
            puts.push(put(marker)?);
        }
        Ok(puts)
    }

    /// Stores readings all counted in `counted_in` in one transaction. A refused put
    /// means its reading exists: that one is a duplicate, and the rest are tried again.
    /// A transaction that met another one on the settlement head (every reading
    /// transaction checks it) wrote nothing and is tried again after a pause.
    async fn insert_together(
        &self,
        counted_in: u64,
        mut rows: Vec<(usize, ReadingRow)>,
        outcomes: &mut [Option<Insertion>],
    ) -> Result<(), StoreError> {
        let mut conflicts = 0;
        while !rows.is_empty() {
            let mut items = vec![self.open_check(counted_in)?];
            // Which of `rows` each action belongs to (the check belongs to none).
            let mut owners = vec![None];
            for (k, (_, row)) in rows.iter().enumerate() {
                for put in self.puts(row)? {
                    items.push(put);
                    owners.push(Some(k));
                }
            }
            let error = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => {
                    rows.iter().for_each(|(i, _)| outcomes[*i] = Some(Insertion::Stored));
                    return Ok(());
                }
                Err(e) => e,
            };
            let reasons: Vec<Option<&str>> = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
                    canceled.cancellation_reasons().iter().map(|r| r.code()).collect()
                }
                _ => Vec::new(),
            };
            match Cancellation::of(&reasons) {
                Some(Cancellation::PeriodClosed) => {
                    rows.iter().for_each(|(i, _)| outcomes[*i] = Some(Insertion::PeriodClosed));
                    return Ok(());
                }
                Some(Cancellation::Refused(actions)) => {
                    let duplicates: Vec<usize> =
                        actions.into_iter().filter_map(|a| owners.get(a).copied().flatten()).collect();
                    if duplicates.is_empty() {
                        return Err(backend(error));
                    }
                    rows = rows
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, (i, row))| {
                            if duplicates.contains(&k) {
                                outcomes[i] = Some(Insertion::Duplicate);
                                None
                            } else {
                                Some((i, row))
                            }
                        })
                        .collect();
                }
                Some(Cancellation::Conflict) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    tokio::time::sleep(conflict_pause(conflicts)).await;
                }
                _ => return Err(backend(error)),
            }
        }
        Ok(())
    }
}

/// How often a reading transaction is tried again after meeting another one.
const MAX_CONFLICTS: u32 = 8;

/// The pause before the `attempt`th retry: doubling from 10 ms up to 640 ms, with
/// full jitter, so transactions that met once do not meet again.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    let ceiling = 10u64 << attempt.min(6);
    let jitter = getrandom::u64().unwrap_or(ceiling / 2) % ceiling;
    std::time::Duration::from_millis(jitter + 1)
}

/// Why DynamoDB cancelled a reading transaction, from its cancellation reasons (one per
/// action; action 0 is the head check).
#[derive(Debug, PartialEq, Eq)]
enum Cancellation {
    /// The head check failed: the period is closed or closing.
    PeriodClosed,
    /// These actions' puts were refused: their readings (or markers) exist.
    Refused(Vec<usize>),
    /// Another transaction held one of the items; nothing was written.
    Conflict,
}

impl Cancellation {
    fn of(reasons: &[Option<&str>]) -> Option<Self> {
        let failed = |action: usize| reasons[action] == Some("ConditionalCheckFailed");
        if reasons.is_empty() {
            return None;
        }
        if failed(0) {
            return Some(Self::PeriodClosed);
        }
        let refused: Vec<usize> = (1..reasons.len()).filter(|a| failed(*a)).collect();
        if !refused.is_empty() {
            return Some(Self::Refused(refused));
        }
        reasons.contains(&Some("TransactionConflict")).then_some(Self::Conflict)
    }
}

#[async_trait]
impl ReadingStore for DynamoReadingStore {
    /// Readings counted in the same period go in one transaction (up to DynamoDB's 100
    /// actions): one request for a channel's new readings rather than one each.
    async fn insert_many(&self, readings: &[StoredReading]) -> Result<Vec<Insertion>, StoreError> {
        let mut outcomes: Vec<Option<Insertion>> = vec![None; readings.len()];
        let mut groups: std::collections::BTreeMap<u64, Vec<(usize, ReadingRow)>> = Default::default();
        let mut seen = std::collections::HashSet::new();
        for (i, reading) in readings.iter().enumerate() {
            let row = ReadingRow::from(reading);
            // One transaction cannot touch an item twice; a second copy is a duplicate.
            if seen.insert(sort_key(&row)) {
                groups.entry(row.counted_in).or_default().push((i, row));
            } else {
                outcomes[i] = Some(Insertion::Duplicate);
            }
        }
        for (counted_in, rows) in groups {
            let mut chunk = Vec::new();
            let mut actions = 1;
            for (i, row) in rows {
                let needed = if row.counted_in == row.period { 1 } else { 2 };
                if actions + needed > TRANSACTION_ACTIONS {
                    self.insert_together(counted_in, std::mem::take(&mut chunk), &mut outcomes).await?;
                    actions = 1;
                }
                actions += needed;
                chunk.push((i, row));
            }
            self.insert_together(counted_in, chunk, &mut outcomes).await?;
        }
        Ok(outcomes.into_iter().map(|o| o.expect("every reading has an outcome")).collect())
    }

    /// A conditional put each (one write unit), no transaction: no settlement can be
    /// closing these readings' periods. A reading moved to a later period (it carries a
    /// marker) still goes through [`insert_many`](Self::insert_many).
    async fn insert_fresh(&self, readings: &[StoredReading]) -> Result<Vec<Insertion>, StoreError> {
        let mut outcomes = Vec::with_capacity(readings.len());
        for reading in readings {
            let row = ReadingRow::from(reading);
            if row.counted_in != row.period {
                outcomes.extend(self.insert_many(std::slice::from_ref(reading)).await?);
                continue;
            }
            let shard = shard_of(&row.registration, self.shards);
            let put = self
                .client
                .put_item()
                .table_name(&self.readings)
                .set_item(Some(reading_item(&row, format!("{}#{shard}", row.counted_in))))
                .condition_expression("attribute_not_exists(sk)")
                .send()
                .await;
            outcomes.push(match written!(put)? {
                true => Insertion::Stored,
                false => Insertion::Duplicate,
            });
        }
        Ok(outcomes)
    }

    async fn of_registration(
        &self,
        registration: &RegistrationId,
        limit: usize,
    ) -> Result<Vec<StoredReading>, StoreError> {
        // The sparse index holds readings only (markers carry no registration).
        let output = self
            .client
            .query()
            .table_name(&self.readings)
            .index_name(READINGS_BY_REGISTRATION)
            .key_condition_expression("registration = :registration")
            .expression_attribute_values(":registration", s(registration.as_str()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
            .send()
            .await
            .map_err(backend)?;
        output.items().iter().map(|item| reading_row(item).and_then(ReadingRow::into_domain)).collect()
    }

    async fn counted_in(
        &self,
        period: PeriodStart,
        after: Option<&ReadingCursor>,
        limit: usize,
    ) -> Result<ReadingPage, StoreError> {
        // The cursor is "shard|last sort key" (empty key: the shard's start).
        let (mut shard, mut start_key) = match after {
            None => (0, None),
            Some(ReadingCursor(cursor)) => {
                let (shard, key) = cursor
                    .split_once('|')
                    .and_then(|(s, k)| Some((s.parse::<u32>().ok()?, k)))
                    .ok_or_else(|| StoreError::Corrupt(format!("not a reading cursor: {cursor:?}")))?;
                (shard, (!key.is_empty()).then(|| key.to_owned()))
            }
        };
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        while shard < self.shards {
            let mut query = self
                .client
                .query()
                .table_name(&self.readings)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("{period}#{shard}")))
                .consistent_read(true)
                .limit(limit);
            if let Some(key) = &start_key {
                query =
                    query.exclusive_start_key("pk", s(format!("{period}#{shard}"))).exclusive_start_key("sk", s(key));
            }
            let output = query.send().await.map_err(backend)?;
            let readings = output
                .items()
                .iter()
                .filter(|item| !item.contains_key("movedTo"))
                .map(|item| reading_row(item).and_then(ReadingRow::into_domain))
                .collect::<Result<Vec<_>, _>>()?;
            let next = match output.last_evaluated_key() {
                Some(key) => Some(format!("{shard}|{}", get_s(key, "readings", "sk")?)),
                None if shard + 1 < self.shards => Some(format!("{}|", shard + 1)),
                None => None,
            };
            if !readings.is_empty() || next.is_none() {
                return Ok(ReadingPage { readings, next: next.map(ReadingCursor) });
            }
            // An empty page (only markers, or an empty shard): go on without a round trip to the caller.
            match next
                .and_then(|n| n.split_once('|').map(|(s, k)| (s.parse::<u32>().unwrap_or(u32::MAX), k.to_owned())))
            {
                Some((next_shard, key)) => {
                    shard = next_shard;
                    start_key = (!key.is_empty()).then_some(key);
                }
                None => break,
            }
        }
        Ok(ReadingPage { readings: Vec::new(), next: None })
    }
}

/// Settlements and the settlement head in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoSettlementStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoSettlementStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }
}

fn settlement_item(row: &SettlementRow) -> Item {
    let mut item = Item::new();
    item.insert("period".into(), n(row.period));
    for (name, value) in [
        ("price", row.price),
        ("produced", row.produced),
        ("admitted", row.admitted),
        ("used", row.used),
        ("matched", row.matched),
        ("imported", row.imported),
        ("exported", row.exported),
        ("revenue", row.revenue),
        ("fee", row.fee),
        ("distributable", row.distributable),
        ("unallocated", row.unallocated),
        ("producers", row.producers),
        ("consumers", row.consumers),
        ("settled", row.settled),
        ("cap", row.cap),
        ("feedIn", row.feed_in),
        ("selfConsumed", row.self_consumed),
        ("selfSufficiencyBps", row.self_sufficiency_bps),
        ("selfConsumptionBps", row.self_consumption_bps),
        ("savings", row.savings),
    ] {
        item.insert(name.into(), n(value));
    }
    // Signed: what sellers gained may be below what their utility would have paid.
    item.insert("gains".into(), AttributeValue::N(row.gains.to_string()));
    item.insert("rules".into(), s(&row.rules));
    if let Some(strategy) = &row.strategy {
        item.insert("strategy".into(), s(strategy));
    }
    item.insert("priceSource".into(), s(&row.price_source));
    item.insert("paymentAddress".into(), s(&row.payment_address));
    item
}

fn settlement_row(item: &Item) -> Result<SettlementRow, StoreError> {
    const T: &str = "settlements";
    // Periods settled as a pool lack the market's attributes.
    Ok(SettlementRow {
        period: get_n(item, T, "period")?,
        rules: opt_s(item, T, "rules")?.unwrap_or("pool").to_owned(),
        strategy: opt_s(item, T, "strategy")?.map(str::to_owned),
        price: get_n(item, T, "price")?,
        price_source: get_s(item, T, "priceSource")?.to_owned(),
        produced: get_n(item, T, "produced")?,
        admitted: opt_n(item, T, "admitted")?.unwrap_or(0),
        used: get_n(item, T, "used")?,
        matched: opt_n(item, T, "matched")?.unwrap_or(0),
        imported: opt_n(item, T, "imported")?.unwrap_or(0),
        exported: opt_n(item, T, "exported")?.unwrap_or(0),
        revenue: get_n(item, T, "revenue")?,
        fee: get_n(item, T, "fee")?,
        distributable: get_n(item, T, "distributable")?,
        unallocated: get_n(item, T, "unallocated")?,
        producers: get_n(item, T, "producers")?,
        consumers: get_n(item, T, "consumers")?,
        payment_address: get_s(item, T, "paymentAddress")?.to_owned(),
        settled: get_n(item, T, "settled")?,
        // Records settled before 2026-12-05 lack the community's figures.
        cap: opt_n(item, T, "cap")?.unwrap_or(0),
        feed_in: opt_n(item, T, "feedIn")?.unwrap_or(0),
        self_consumed: opt_n(item, T, "selfConsumed")?.unwrap_or(0),
        self_sufficiency_bps: opt_n(item, T, "selfSufficiencyBps")?.unwrap_or(0),
        self_consumption_bps: opt_n(item, T, "selfConsumptionBps")?.unwrap_or(0),
        savings: opt_n(item, T, "savings")?.unwrap_or(0),
        gains: opt_signed(item, T, "gains")?.unwrap_or(0),
    })
}

#[async_trait]
impl SettlementStore for DynamoSettlementStore {
    async fn head(&self) -> Result<SettlementHead, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("period", head_key())
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.item() else { return Ok(SettlementHead::default()) };
        let start = |name: &str| -> Result<Option<PeriodStart>, StoreError> {
            opt_n(item, "settlements", name)?
                .map(|ms| PeriodStart::parse(ms).map_err(|e| StoreError::Corrupt(format!("settlements: {name}: {e}"))))
                .transpose()
        };
        Ok(SettlementHead { latest: start("latest")?, closing: start("closing")? })
    }

    async fn initialize(&self, latest: PeriodStart) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("period", head_key())
            // `initial` marks a start no period has closed after yet (`finish` removes it).
            .update_expression("SET latest = :latest, initial = :true")
            .condition_expression(
                "attribute_not_exists(closing) AND (attribute_not_exists(latest) OR (attribute_exists(initial) AND latest > :latest))",
            )
            .expression_attribute_values(":latest", n(latest.get()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        written!(result).map(|_| ())
    }

    async fn close(&self, period: PeriodStart, previous: Option<PeriodStart>) -> Result<(), StoreError> {
        let after = match previous {
            None => "attribute_not_exists(latest)",
            Some(_) => "latest = :previous",
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("period", head_key())
            .update_expression("SET closing = :period")
            .condition_expression(format!("{after} AND (attribute_not_exists(closing) OR closing = :period)"))
            .expression_attribute_values(":period", n(period.get()));
        if let Some(previous) = previous {
            update = update.expression_attribute_values(":previous", n(previous.get()));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed!(e) => Err(StoreError::conflict(
                ConflictKind::Moved,
                format!("period {period} cannot close after {previous:?}"),
            )),
            Err(e) => Err(backend(e)),
        }
    }

    async fn finish(&self, record: &SettlementRecord) -> Result<(), StoreError> {
        let row = SettlementRow::from(record);
        let head = Update::builder()
            .table_name(&self.table)
            .key("period", head_key())
            .update_expression("SET latest = :period REMOVE closing, initial")
            .condition_expression("closing = :period")
            .expression_attribute_values(":period", n(row.period))
            .build()
            .map_err(backend)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(settlement_item(&row)))
            .condition_expression("attribute_not_exists(period)")
            .build()
            .map_err(backend)?;
        let items =
            vec![TransactWriteItem::builder().update(head).build(), TransactWriteItem::builder().put(put).build()];
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_transaction_canceled_exception()) => {
                Err(StoreError::conflict(ConflictKind::Moved, format!("period {} is not being settled", row.period)))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, period: PeriodStart) -> Result<Option<SettlementRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("period", n(period.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item().map(|item| settlement_row(item).and_then(SettlementRow::into_domain)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::Cancellation;

    // moto never cancels a transaction for a conflict, so the reading of DynamoDB's
    // cancellation reasons is checked here, on the reasons DynamoDB documents.

    #[test]
    fn a_failed_head_check_means_the_period_is_closed() {
        let reasons = [Some("ConditionalCheckFailed"), Some("None"), Some("ConditionalCheckFailed")];
        assert_eq!(Cancellation::of(&reasons), Some(Cancellation::PeriodClosed));
    }

    #[test]
    fn refused_puts_are_named_by_their_actions() {
        let reasons = [Some("None"), Some("ConditionalCheckFailed"), Some("None"), Some("ConditionalCheckFailed")];
        assert_eq!(Cancellation::of(&reasons), Some(Cancellation::Refused(vec![1, 3])));
    }

    #[test]
    fn a_transaction_that_met_another_is_a_conflict_to_retry() {
        let reasons = [Some("TransactionConflict"), Some("None"), Some("None")];
        assert_eq!(Cancellation::of(&reasons), Some(Cancellation::Conflict));
    }

    #[test]
    fn refused_puts_are_handled_before_a_conflict() {
        let reasons = [Some("None"), Some("TransactionConflict"), Some("ConditionalCheckFailed")];
        assert_eq!(Cancellation::of(&reasons), Some(Cancellation::Refused(vec![2])));
    }

    #[test]
    fn other_cancellations_are_not_explained() {
        assert_eq!(Cancellation::of(&[]), None);
        assert_eq!(Cancellation::of(&[Some("None"), Some("ThrottlingError")]), None);
        assert_eq!(Cancellation::of(&[None, Some("ValidationError")]), None);
    }
}
