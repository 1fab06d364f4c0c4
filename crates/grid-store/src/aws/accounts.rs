//! `AccountStore` over DynamoDB: registration accounts, the grid's totals (`id =
//! "grid"`) and its addresses (`id = "wallet#{address}"`) in the accounts table; claims
//! and payouts in the batches table (`pk = "ledger#{batchId}"`), where a pending batch
//! carries `pending` (its kind) so the sparse `pending-by-last-check` index lists them.
//! Changes that touch several items are one `TransactWriteItems`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use futures_util::future::try_join_all;
use grid_core::ledger::LedgerBatch;
use grid_core::{BatchId, EpochMs, Iota, PaymentAddress, RegistrationId, Wh};

use super::attributes::{Item, get_n, get_s, n, opt_n, opt_s, s};
use super::registrations::written;
use super::{AwsClients, LazyClient, backend};
use crate::{
    Account, AccountEntry, AccountStore, BatchCounts, BatchView, ClaimResolution, Funds, GridTotals, LeaseStore,
    PaymentClaim, PayoutRecord, StoreError, Unpaid, Watched, WatchedBatch,
};

const ACCOUNTS: &str = "accounts";
const BATCHES: &str = "batches";
const GRID: &str = "grid";
/// Account updates in flight at once.
const CONCURRENCY: usize = 16;

/// The books in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoAccountStore {
    client: LazyClient<Client>,
    table: String,
    batches: String,
}

impl DynamoAccountStore {
    /// Accounts in `table`; claims and payouts in the `batches` table.
    pub fn new(clients: &AwsClients, table: impl Into<String>, batches: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into(), batches: batches.into() }
    }

    fn batch_key(batch: &str) -> AttributeValue {
        s(format!("ledger#{batch}"))
    }

    /// A claim's item: one per consumer and batch (`#` is in neither).
    fn claim_key(claim: &PaymentClaim) -> AttributeValue {
        s(format!("claim#{}#{}", claim.registration, claim.batch_id))
    }

    fn wallet_key(address: &str) -> AttributeValue {
        s(format!("wallet#{address}"))
    }

    async fn apply_one(&self, period: u64, entry: &AccountEntry) -> Result<(), StoreError> {
        let mut set = vec!["lastPeriod = :period"];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(entry.registration.as_str()))
            .expression_attribute_values(":billed", n(entry.billed.get()))
            .expression_attribute_values(":entitled", n(entry.entitled.get()))
            .expression_attribute_values(":energy", n(entry.energy.get()))
            .expression_attribute_values(":period", n(period));
        if entry.entitled.get() > 0 {
            set.push("oldestUnpaid = if_not_exists(oldestUnpaid, :period)");
        }
        if let Some(address) = &entry.payment_address {
            set.push("address = :address");
            update = update.expression_attribute_values(":address", s(address.as_str()));
        }
        let result = update
            .update_expression(format!(
                "ADD billed :billed, entitled :entitled, owedOut :entitled, energy :energy SET {}",
                set.join(", ")
            ))
            .condition_expression("attribute_not_exists(lastPeriod) OR lastPeriod < :period")
            .send()
            .await;
        // Already applied by an earlier run.
        written!(result).map(|_| ())
    }

    async fn get_item(&self, key: AttributeValue) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.batches)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item().cloned())
    }

    /// Marks a pending batch final; the condition makes it happen once.
    fn finish_batch(
        &self,
        key: AttributeValue,
        status: &str,
        reason: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.batches)
            .key("pk", key)
            .condition_expression("attribute_exists(pending)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status));
        update = match reason {
            Some(reason) => update
                .update_expression("SET #status = :status, reason = :reason REMOVE pending")
                .expression_attribute_values(":reason", s(reason)),
            None => update.update_expression("SET #status = :status REMOVE pending"),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(backend)?).build())
    }

    fn add(
        &self,
        key: AttributeValue,
        expression: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder().table_name(&self.table).key("id", key).update_expression(expression);
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(backend)?).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_transaction_canceled_exception()) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// Pending batches of one kind due at `now`, least recently checked first.
    async fn due(&self, kind: &str, now: u64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.batches)
            .index_name("pending-by-last-check")
            .key_condition_expression("pending = :kind")
            .filter_expression("attribute_not_exists(nextCheck) OR nextCheck <= :now")
            .expression_attribute_values(":kind", s(kind))
            .expression_attribute_values(":now", n(now))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(backend)?.items().iter().cloned());
            if items.len() >= limit {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    /// Every accounts item matching a filter, across all scan pages.
    async fn scan(&self, filter: &str, values: &[(&str, AttributeValue)]) -> Result<Vec<Item>, StoreError> {
        let mut request = self.client.scan().table_name(&self.table).filter_expression(filter).consistent_read(true);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        let mut pages = request.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            items.extend(page.map_err(backend)?.items().iter().cloned());
        }
        Ok(items)
    }
}

/// A batch's status as the operator sees it: a pending batch followed too long is
/// `stalled`.
fn shown_status(item: &Item) -> Result<&str, StoreError> {
    let stored = get_s(item, BATCHES, "status")?;
    let stalled = matches!(item.get("stalled"), Some(AttributeValue::Bool(true)));
    Ok(if stored == "pending" && stalled { "stalled" } else { stored })
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn iota(item: &Item, table: &str, name: &str) -> Result<Iota, StoreError> {
    Ok(Iota::new(opt_n(item, table, name)?.unwrap_or(0)))
}

fn claim_from_item(item: &Item) -> Result<PaymentClaim, StoreError> {
    Ok(PaymentClaim {
        registration: RegistrationId::parse(get_s(item, BATCHES, "registration")?).map_err(|e| corrupt("claim", e))?,
        batch_id: BatchId::parse(get_s(item, BATCHES, "batch")?).map_err(|e| corrupt("claim", e))?,
        amount: Iota::new(get_n(item, BATCHES, "amount")?),
        channel_index: opt_n(item, BATCHES, "channelIndex")?.unwrap_or(0),
        claimed: i64::try_from(get_n(item, BATCHES, "created")?)
            .ok()
            .and_then(|ms| EpochMs::parse(ms).ok())
            .ok_or_else(|| corrupt("claim", "time"))?,
    })
}

fn watched_from_item(item: &Item) -> Result<WatchedBatch, StoreError> {
    let watched = match get_s(item, BATCHES, "kind")? {
        "claim" => Watched::Claim(claim_from_item(item)?),
        _ => Watched::Payout(payout_record(item)?),
    };
    Ok(WatchedBatch {
        watched,
        submitted: get_n(item, BATCHES, "created")?,
        last_checked: opt_n(item, BATCHES, "lastChecked")?.unwrap_or(0),
        times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
        stalled: matches!(item.get("stalled"), Some(AttributeValue::Bool(true))),
    })
}

fn payout_record(item: &Item) -> Result<PayoutRecord, StoreError> {
    Ok(PayoutRecord {
        batch: serde_json::from_str::<LedgerBatch>(get_s(item, BATCHES, "body")?).map_err(|e| corrupt("payout", e))?,
        producer: RegistrationId::parse(get_s(item, BATCHES, "registration")?).map_err(|e| corrupt("payout", e))?,
        amount: Iota::new(get_n(item, BATCHES, "amount")?),
        created: EpochMs::parse(get_n(item, BATCHES, "created")? as i64).map_err(|e| corrupt("payout", e))?,
    })
}

#[async_trait]
impl AccountStore for DynamoAccountStore {
    async fn apply(&self, period: u64, entries: &[AccountEntry], fee: Iota) -> Result<(), StoreError> {
        for chunk in entries.chunks(CONCURRENCY) {
            let mut updates = Vec::with_capacity(chunk.len());
            for entry in chunk {
                updates.push(self.apply_one(period, entry));
            }
            try_join_all(updates).await?;
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(GRID))
            .update_expression("ADD fees :fee SET lastPeriod = :period")
            .condition_expression("attribute_not_exists(lastPeriod) OR lastPeriod < :period")
            .expression_attribute_values(":fee", n(fee.get()))
            .expression_attribute_values(":period", n(period))
            .send()
            .await;
        written!(result).map(|_| ())
    }

    async fn get(&self, registration: &RegistrationId) -> Result<Option<Account>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(registration.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.item() else { return Ok(None) };
        Ok(Some(Account {
            billed: iota(item, ACCOUNTS, "billed")?,
            paid: iota(item, ACCOUNTS, "paid")?,
            pending: iota(item, ACCOUNTS, "pending")?,
            entitled: iota(item, ACCOUNTS, "entitled")?,
            paid_out: iota(item, ACCOUNTS, "paidOut")?,
            payout_pending: iota(item, ACCOUNTS, "payoutPending")?,
            energy: Wh::new(opt_n(item, ACCOUNTS, "energy")?.unwrap_or(0)),
            last_period: opt_n(item, ACCOUNTS, "lastPeriod")?,
        }))
    }

    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), Self::claim_key(claim));
        item.insert("batch".into(), s(claim.batch_id.as_str()));
        item.insert("kind".into(), s("claim"));
        item.insert("registration".into(), s(claim.registration.as_str()));
        item.insert("amount".into(), n(claim.amount.get()));
        item.insert("channelIndex".into(), n(claim.channel_index));
        item.insert("created".into(), n(claim.claimed.get()));
        item.insert("status".into(), s("pending"));
        item.insert("pending".into(), s("claim"));
        item.insert("lastChecked".into(), n(0));
        let put = Put::builder()
            .table_name(&self.batches)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(backend)?;
        let pending =
            self.add(s(claim.registration.as_str()), "ADD pending :amount", &[(":amount", n(claim.amount.get()))])?;
        self.transact(vec![TransactWriteItem::builder().put(put).build(), pending]).await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let key = Self::claim_key(claim);
        let Some(item) = self.get_item(key.clone()).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some("claim") {
            return Ok(false);
        }
        let consumer = get_s(&item, BATCHES, "registration")?;
        let amount = n(get_n(&item, BATCHES, "amount")?);
        let negative = AttributeValue::N(format!("-{}", get_n(&item, BATCHES, "amount")?));
        let items = match resolution {
            ClaimResolution::Verified { address, seq } => vec![
                self.finish_batch(key, "verified", None)?,
                self.add(
                    s(consumer),
                    "ADD pending :minus, paid :amount",
                    &[(":minus", negative), (":amount", amount.clone())],
                )?,
                self.add(s(GRID), "ADD paidIn :amount", &[(":amount", amount.clone())])?,
                self.add(
                    Self::wallet_key(address.as_str()),
                    "ADD received :amount SET seq = if_not_exists(seq, :seq), address = :address",
                    &[(":amount", amount), (":seq", n(*seq)), (":address", s(address.as_str()))],
                )?,
            ],
            ClaimResolution::Rejected { reason } => vec![
                self.finish_batch(key, "rejected", Some(reason))?,
                self.add(s(consumer), "ADD pending :minus", &[(":minus", negative)])?,
            ],
        };
        self.transact(items).await
    }

    async fn totals(&self) -> Result<GridTotals, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(GRID))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.item() else { return Ok(GridTotals::default()) };
        Ok(GridTotals {
            paid_in: iota(item, ACCOUNTS, "paidIn")?,
            fees: iota(item, ACCOUNTS, "fees")?,
            payouts: iota(item, ACCOUNTS, "payouts")?,
        })
    }

    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError> {
        self.scan("owedOut > :zero", &[(":zero", n(0))])
            .await?
            .iter()
            .map(|item| {
                Ok(Unpaid {
                    producer: RegistrationId::parse(get_s(item, ACCOUNTS, "id")?).map_err(|e| corrupt("account", e))?,
                    unpaid: Iota::new(get_n(item, ACCOUNTS, "owedOut")?),
                    oldest_period: opt_n(item, ACCOUNTS, "oldestUnpaid")?.unwrap_or(0),
                    address: opt_s(item, ACCOUNTS, "address")?
                        .map(PaymentAddress::parse)
                        .transpose()
                        .map_err(|e| corrupt("account", e))?,
                    paid_before: Iota::new(
                        opt_n(item, ACCOUNTS, "paidOut")?.unwrap_or(0)
                            + opt_n(item, ACCOUNTS, "payoutPending")?.unwrap_or(0),
                    ),
                    refused: opt_n(item, ACCOUNTS, "refused")?.unwrap_or(0),
                })
            })
            .collect()
    }

    async fn funds(&self) -> Result<Vec<Funds>, StoreError> {
        // A missing `spent` is zero, which a filter expression cannot say; compare here.
        let items = self.scan("begins_with(id, :wallet)", &[(":wallet", s("wallet#"))]).await?;
        let mut funds = items
            .iter()
            .map(|item| {
                let received = opt_n(item, ACCOUNTS, "received")?.unwrap_or(0);
                let spent = opt_n(item, ACCOUNTS, "spent")?.unwrap_or(0);
                Ok(Funds {
                    address: PaymentAddress::parse(get_s(item, ACCOUNTS, "address")?)
                        .map_err(|e| corrupt("wallet", e))?,
                    seq: opt_n(item, ACCOUNTS, "seq")?.unwrap_or(u64::MAX),
                    available: Iota::new(received.saturating_sub(spent)),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        funds.retain(|f| f.available.get() > 0);
        funds.sort_by(|a, b| (a.seq, &a.address).cmp(&(b.seq, &b.address)));
        Ok(funds)
    }

    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), Self::batch_key(payout.batch.id.as_str()));
        item.insert("kind".into(), s("payout"));
        item.insert("registration".into(), s(payout.producer.as_str()));
        item.insert("amount".into(), n(payout.amount.get()));
        item.insert("body".into(), s(serde_json::to_string(&payout.batch).map_err(StoreError::backend)?));
        item.insert("created".into(), n(payout.created.get()));
        item.insert("status".into(), s("pending"));
        item.insert("pending".into(), s("payout"));
        item.insert("lastChecked".into(), n(0));
        let put = Put::builder()
            .table_name(&self.batches)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(backend)?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.add(
                s(payout.producer.as_str()),
                "ADD payoutPending :amount, owedOut :minus",
                &[(":amount", amount.clone()), (":minus", negative)],
            )?,
            self.add(s(GRID), "ADD payouts :amount", &[(":amount", amount)])?,
        ];
        for transfer in &payout.batch.transfers {
            items.push(self.add(
                Self::wallet_key(transfer.from.as_str()),
                "ADD spent :part",
                &[(":part", n(transfer.amount.get()))],
            )?);
        }
        self.transact(items).await
    }

    async fn resolve_payout(&self, batch: &BatchId, committed: bool, reasons: &[String]) -> Result<bool, StoreError> {
        let Some(item) = self.get_item(Self::batch_key(batch.as_str())).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some("payout") {
            return Ok(false);
        }
        let payout = payout_record(&item)?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let producer = s(payout.producer.as_str());
        let items = if committed {
            vec![
                self.finish_batch(Self::batch_key(batch.as_str()), "committed", None)?,
                self.add(
                    producer,
                    "ADD payoutPending :minus, paidOut :amount",
                    &[(":minus", negative), (":amount", amount)],
                )?,
            ]
        } else {
            let mut items = vec![
                self.finish_batch(Self::batch_key(batch.as_str()), "invalid", Some(&reasons.join("; ")))?,
                self.add(
                    producer,
                    "ADD payoutPending :minus, owedOut :amount, refused :one",
                    &[(":minus", negative.clone()), (":amount", amount), (":one", n(1))],
                )?,
                self.add(s(GRID), "ADD payouts :minus", &[(":minus", negative)])?,
            ];
            for transfer in &payout.batch.transfers {
                let back = AttributeValue::N(format!("-{}", transfer.amount.get()));
                items.push(self.add(
                    Self::wallet_key(transfer.from.as_str()),
                    "ADD spent :back",
                    &[(":back", back)],
                )?);
            }
            items
        };
        self.transact(items).await
    }

    async fn due_batches(&self, now: u64, limit: usize) -> Result<Vec<WatchedBatch>, StoreError> {
        let mut batches = Vec::new();
        for kind in ["claim", "payout"] {
            for item in self.due(kind, now, limit).await? {
                batches.push(watched_from_item(&item)?);
            }
        }
        batches.sort_by_key(|a| (a.last_checked, a.submitted));
        batches.truncate(limit);
        Ok(batches)
    }

    async fn checked(&self, watched: &Watched, now: u64, next_check: u64, stalled: bool) -> Result<(), StoreError> {
        let key = match watched {
            Watched::Claim(claim) => Self::claim_key(claim),
            Watched::Payout(payout) => Self::batch_key(payout.batch.id.as_str()),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.batches)
            .key("pk", key)
            .update_expression("SET lastChecked = :now, nextCheck = :next, stalled = :stalled ADD timesChecked :one")
            .condition_expression("attribute_exists(pending)")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":next", n(next_check))
            .expression_attribute_values(":stalled", AttributeValue::Bool(stalled))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // Resolved meanwhile: nothing to record.
        written!(result).map(|_| ())
    }

    async fn batches(&self, status: Option<&str>, limit: usize) -> Result<Vec<BatchView>, StoreError> {
        let mut pages = self.client.scan().table_name(&self.batches).into_paginator().send();
        let mut views = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                let kind = get_s(item, BATCHES, "kind")?.to_owned();
                let stored = get_s(item, BATCHES, "status")?;
                let shown = shown_status(item)?;
                let wanted = match status {
                    None => true,
                    Some("pending") => stored == "pending",
                    Some(other) => other == shown,
                };
                if !wanted {
                    continue;
                }
                let id = match kind.as_str() {
                    "claim" => get_s(item, BATCHES, "batch")?.to_owned(),
                    _ => get_s(item, BATCHES, "pk")?.trim_start_matches("ledger#").to_owned(),
                };
                views.push(BatchView {
                    id: BatchId::parse(id).map_err(|e| corrupt("batch", e))?,
                    kind,
                    registration: RegistrationId::parse(get_s(item, BATCHES, "registration")?)
                        .map_err(|e| corrupt("batch", e))?,
                    amount: Iota::new(get_n(item, BATCHES, "amount")?),
                    status: shown.to_owned(),
                    reasons: opt_s(item, BATCHES, "reason")?.map(|r| vec![r.to_owned()]).unwrap_or_default(),
                    submitted: get_n(item, BATCHES, "created")?,
                    last_checked: opt_n(item, BATCHES, "lastChecked")?.unwrap_or(0),
                    times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
                });
            }
        }
        views.sort_by(|a, b| b.submitted.cmp(&a.submitted).then_with(|| a.id.cmp(&b.id)));
        views.truncate(limit);
        Ok(views)
    }

    async fn batch_counts(&self) -> Result<BatchCounts, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.batches)
            .projection_expression("#status, stalled")
            .expression_attribute_names("#status", "status")
            .into_paginator()
            .send();
        let mut counts = BatchCounts::default();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                counts.add(shown_status(item)?, 1);
            }
        }
        Ok(counts)
    }
}

/// Leases in DynamoDB: a conditional put that only wins over a free, expired or own lease.
#[derive(Clone, Debug)]
pub struct DynamoLeaseStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoLeaseStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }
}

#[async_trait]
impl LeaseStore for DynamoLeaseStore {
    async fn acquire(&self, job: &str, holder: &str, now: u64, ttl_ms: u64) -> Result<bool, StoreError> {
        let expires = now.saturating_add(ttl_ms);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("job", s(job))
            .item("holder", s(holder))
            .item("expiresMs", n(expires))
            // DynamoDB's TTL sweeps old leases; it counts in seconds.
            .item("expiresAt", n(expires / 1000 + 1))
            .condition_expression("attribute_not_exists(job) OR expiresMs <= :now OR holder = :holder")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        written!(result)
    }

    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("job", s(job))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        written!(result).map(|_| ())
    }
}
