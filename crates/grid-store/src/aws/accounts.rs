//! `AccountStore` over DynamoDB: registration accounts, the grid's totals (`id =
//! "grid"`), its addresses (`id = "wallet#{address}"`) and what it owes each producer
//! from each period (`id = "owed#{producer}#{period}"`, deleted once paid) in the
//! accounts table; claims and payouts in the batches table (`pk = "ledger#{batchId}"`),
//! where a pending batch carries `pending` (its kind) so the sparse
//! `pending-by-last-check` index lists them. Changes that touch several items are one
//! `TransactWriteItems`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};
use futures_util::future::try_join_all;
use grid_core::books::{
    Account, AccountEntry, BatchKind, BatchState, ClaimResolution, Cover, Entitlement, GridEntry, GridTotals,
    PaymentClaim, PayoutRecord, PayoutResolution, StatementLine, StatementRange,
};
use grid_core::ledger::LedgerBatch;
use grid_core::market::PeriodStart;
use grid_core::{BatchId, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};

use super::attributes::{Item, get_n, get_s, get_time, n, opt_n, opt_s, opt_signed, opt_time, s};
use super::registrations::written;
use super::{AwsClients, LazyClient, backend};
use crate::{AccountStore, BatchCounts, BatchView, Funds, PendingBatches, StoreError, Unpaid, Watched, WatchedBatch};

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

    /// What the grid owes `producer` from `period` (sorts by period within a producer).
    fn owed_key(producer: &str, period: PeriodStart) -> AttributeValue {
        s(format!("owed#{producer}#{:020}", period.get()))
    }

    /// A statement line's item: one per registration and period, found by the sparse
    /// `statements` index (`member`, `period`).
    fn line_key(registration: &str, period: PeriodStart) -> AttributeValue {
        s(format!("line#{registration}#{:020}", period.get()))
    }

    /// Puts the entry's statement line, then adds the entry to its account, and a
    /// producer's allocation to what it is owed from the period. The line first: it is
    /// the same whenever the period is settled again, so writing it twice is harmless,
    /// and an account the run reached has its line.
    async fn apply_one(&self, period: PeriodStart, entry: &AccountEntry) -> Result<(), StoreError> {
        let l = &entry.line;
        let mut line = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", Self::line_key(entry.registration.as_str(), period))
            .item("member", s(entry.registration.as_str()))
            .item("period", n(period.get()));
        let figures = [
            ("price", l.price.get()),
            ("cap", l.cap.get()),
            ("feedIn", l.feed_in.get()),
            ("selfConsumed", l.self_consumed.get()),
            ("used", l.used.get()),
            ("local", l.local.get()),
            ("imported", l.imported.get()),
            ("charge", l.charge.get()),
            ("savings", l.savings.get()),
            ("produced", l.produced.get()),
            ("offered", l.offered.get()),
            ("matched", l.matched.get()),
            ("exported", l.exported.get()),
            ("allocation", l.allocation.get()),
        ];
        for (name, value) in figures {
            line = line.item(name, n(value));
        }
        let optional = [("bid", l.bid), ("ask", l.ask)];
        for (name, price) in optional {
            if let Some(price) = price {
                line = line.item(name, n(price.get()));
            }
        }
        if let Some(kind) = l.kind {
            line = line.item("kind", s(kind.as_str()));
        }
        line.item("gain", AttributeValue::N(l.gain.to_string())).send().await.map_err(backend)?;

        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(entry.registration.as_str()))
            .expression_attribute_values(":billed", n(entry.billed().get()))
            .expression_attribute_values(":entitled", n(entry.entitled().get()))
            .expression_attribute_values(":energy", n(entry.energy.get()))
            .expression_attribute_values(":matched", n(entry.matched.get()))
            .expression_attribute_values(":period", n(period.get()))
            .update_expression(
                "ADD billed :billed, entitled :entitled, owedOut :entitled, energy :energy, matched :matched \
                 SET lastPeriod = :period",
            )
            .condition_expression("attribute_not_exists(lastPeriod) OR lastPeriod < :period")
            .send()
            .await;
        // Already applied by an earlier run.
        written!(result)?;
        let Some(address) = entry.payment_address.as_ref().filter(|_| entry.entitled() > Iota::ZERO) else {
            return Ok(());
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", Self::owed_key(entry.registration.as_str(), period))
            .item("producer", s(entry.registration.as_str()))
            .item("period", n(period.get()))
            .item("address", s(address.as_str()))
            .item("amount", n(entry.entitled().get()))
            .item("unpaid", n(entry.entitled().get()))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        written!(result).map(|_| ())
    }

    /// Gives covers back to the periods they paid, recreating an entitlement paid off
    /// (and deleted) meanwhile.
    fn restore(&self, producer: &str, cover: &Cover) -> Result<TransactWriteItem, StoreError> {
        self.add(
            Self::owed_key(producer, cover.period),
            "SET unpaid = if_not_exists(unpaid, :zero) + :amount, amount = if_not_exists(amount, :amount), \
             producer = :producer, period = :period, address = if_not_exists(address, :address)",
            &[
                (":zero", n(0)),
                (":amount", n(cover.amount.get())),
                (":producer", s(producer)),
                (":period", n(cover.period.get())),
                (":address", s(cover.address.as_str())),
            ],
        )
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
        status: BatchState,
        reason: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.batches)
            .key("pk", key)
            .condition_expression("attribute_exists(pending)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()));
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

    /// A new ledger batch the monitor follows, put only if its key is free: what claims
    /// and payouts share (pending, never checked, in the sparse `pending-by-last-check`
    /// index under their kind), and what each adds.
    fn new_batch<const N: usize>(
        &self,
        key: AttributeValue,
        kind: BatchKind,
        registration: &RegistrationId,
        amount: Iota,
        created: EpochMs,
        own: [(&str, AttributeValue); N],
    ) -> Result<Put, StoreError> {
        let mut item = Item::from([
            ("pk".to_owned(), key),
            ("kind".to_owned(), s(kind.as_str())),
            ("registration".to_owned(), s(registration.as_str())),
            ("amount".to_owned(), n(amount.get())),
            ("created".to_owned(), n(created.get())),
            ("status".to_owned(), s(BatchState::Pending.as_str())),
            ("pending".to_owned(), s(kind.as_str())),
            ("lastChecked".to_owned(), n(0)),
        ]);
        item.extend(own.into_iter().map(|(name, value)| (name.to_owned(), value)));
        Put::builder()
            .table_name(&self.batches)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(backend)
    }

    /// A query of the sparse `pending-by-last-check` index for the pending batches of one
    /// kind, least recently checked first.
    fn pending(&self, kind: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.batches)
            .index_name("pending-by-last-check")
            .key_condition_expression("pending = :kind")
            .expression_attribute_values(":kind", s(kind))
    }

    /// Pending batches of one kind due at `now`, least recently checked first.
    async fn due(&self, kind: &str, now: u64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = self
            .pending(kind)
            .filter_expression("attribute_not_exists(nextCheck) OR nextCheck <= :now")
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
fn shown_status(item: &Item) -> Result<BatchState, StoreError> {
    let stored = BatchState::parse(get_s(item, BATCHES, "status")?).map_err(|e| corrupt("batch status", e))?;
    let stalled = matches!(item.get("stalled"), Some(AttributeValue::Bool(true)));
    Ok(if stored == BatchState::Pending && stalled { BatchState::Stalled } else { stored })
}

fn batch_kind(item: &Item) -> Result<BatchKind, StoreError> {
    let kind = get_s(item, BATCHES, "kind")?;
    BatchKind::from_name(kind).ok_or_else(|| corrupt("batch kind", kind))
}

fn line_from_item(item: &Item) -> Result<StatementLine, StoreError> {
    let wh = |name: &str| get_n(item, ACCOUNTS, name).map(Wh::new);
    let iota = |name: &str| get_n(item, ACCOUNTS, name).map(Iota::new);
    let price = |value: u64| Price::parse(value).map_err(|e| corrupt("a statement line's price", e));
    let period = get_n(item, ACCOUNTS, "period")?;
    Ok(StatementLine {
        period: PeriodStart::parse(period).map_err(|e| corrupt("a statement line's period", e))?,
        kind: opt_s(item, ACCOUNTS, "kind")?
            .map(|kind| ItemType::parse(kind).map_err(|e| corrupt("a statement line's kind", e)))
            .transpose()?,
        price: price(get_n(item, ACCOUNTS, "price")?)?,
        cap: price(get_n(item, ACCOUNTS, "cap")?)?,
        feed_in: price(get_n(item, ACCOUNTS, "feedIn")?)?,
        self_consumed: wh("selfConsumed")?,
        used: wh("used")?,
        local: wh("local")?,
        imported: wh("imported")?,
        charge: iota("charge")?,
        bid: opt_n(item, ACCOUNTS, "bid")?.map(price).transpose()?,
        savings: iota("savings")?,
        produced: wh("produced")?,
        offered: wh("offered")?,
        matched: wh("matched")?,
        exported: wh("exported")?,
        allocation: iota("allocation")?,
        ask: opt_n(item, ACCOUNTS, "ask")?.map(price).transpose()?,
        gain: opt_signed(item, ACCOUNTS, "gain")?.ok_or_else(|| corrupt("a statement line", "no gain"))?,
    })
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
        claimed: get_time(item, BATCHES, "created")?,
    })
}

fn watched_from_item(item: &Item) -> Result<WatchedBatch, StoreError> {
    let watched = match batch_kind(item)? {
        BatchKind::Claim => Watched::Claim(claim_from_item(item)?),
        BatchKind::Payout => Watched::Payout(payout_record(item)?),
    };
    Ok(WatchedBatch {
        watched,
        submitted: get_time(item, BATCHES, "created")?,
        last_checked: last_checked(item)?,
        times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
        stalled: matches!(item.get("stalled"), Some(AttributeValue::Bool(true))),
    })
}

/// A batch's last check: written as 0 when the batch is recorded.
fn last_checked(item: &Item) -> Result<Option<EpochMs>, StoreError> {
    Ok(opt_time(item, BATCHES, "lastChecked")?.filter(|at| at.get() > 0))
}

fn payout_record(item: &Item) -> Result<PayoutRecord, StoreError> {
    Ok(PayoutRecord {
        batch: serde_json::from_str::<LedgerBatch>(get_s(item, BATCHES, "body")?).map_err(|e| corrupt("payout", e))?,
        producer: RegistrationId::parse(get_s(item, BATCHES, "registration")?).map_err(|e| corrupt("payout", e))?,
        amount: Iota::new(get_n(item, BATCHES, "amount")?),
        covers: serde_json::from_str(opt_s(item, BATCHES, "covers")?.unwrap_or("[]"))
            .map_err(|e| corrupt("payout covers", e))?,
        created: get_time(item, BATCHES, "created")?,
    })
}

#[async_trait]
impl AccountStore for DynamoAccountStore {
    async fn apply(&self, period: PeriodStart, entries: &[AccountEntry], grid: GridEntry) -> Result<(), StoreError> {
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
            .update_expression("ADD fees :fee, savings :savings, gains :gains SET lastPeriod = :period")
            .condition_expression("attribute_not_exists(lastPeriod) OR lastPeriod < :period")
            .expression_attribute_values(":fee", n(grid.fee.get()))
            .expression_attribute_values(":savings", n(grid.savings.get()))
            .expression_attribute_values(":gains", AttributeValue::N(grid.gains.to_string()))
            .expression_attribute_values(":period", n(period.get()))
            .send()
            .await;
        written!(result).map(|_| ())
    }

    async fn statement_lines(
        &self,
        registration: &RegistrationId,
        range: StatementRange,
    ) -> Result<Vec<StatementLine>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("statements")
            .key_condition_expression("#member = :member AND #period BETWEEN :from AND :last")
            .expression_attribute_names("#member", "member")
            .expression_attribute_names("#period", "period")
            .expression_attribute_values(":member", s(registration.as_str()))
            .expression_attribute_values(":from", n(range.from()))
            .expression_attribute_values(":last", n(range.to() - 1))
            .into_paginator()
            .send();
        let mut lines = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                lines.push(line_from_item(item)?);
            }
        }
        Ok(lines)
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
            matched: Wh::new(opt_n(item, ACCOUNTS, "matched")?.unwrap_or(0)),
            last_period: opt_n(item, ACCOUNTS, "lastPeriod")?
                .map(PeriodStart::parse)
                .transpose()
                .map_err(|e| corrupt("account", e))?,
        }))
    }

    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError> {
        let put = self.new_batch(
            Self::claim_key(claim),
            BatchKind::Claim,
            &claim.registration,
            claim.amount,
            claim.claimed,
            [("batch", s(claim.batch_id.as_str())), ("channelIndex", n(claim.channel_index))],
        )?;
        let pending =
            self.add(s(claim.registration.as_str()), "ADD pending :amount", &[(":amount", n(claim.amount.get()))])?;
        self.transact(vec![TransactWriteItem::builder().put(put).build(), pending]).await
    }

    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError> {
        let key = Self::claim_key(claim);
        let Some(item) = self.get_item(key.clone()).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some(BatchKind::Claim.as_str()) {
            return Ok(false);
        }
        let consumer = get_s(&item, BATCHES, "registration")?;
        let claimed = get_n(&item, BATCHES, "amount")?;
        let released = AttributeValue::N(format!("-{claimed}"));
        let items = match resolution {
            ClaimResolution::Verified { credits } => {
                let credited = n(resolution.credited().get());
                let mut items = vec![
                    self.finish_batch(key, BatchState::Verified, None)?,
                    self.add(
                        s(consumer),
                        "ADD pending :minus, paid :credited",
                        &[(":minus", released), (":credited", credited.clone())],
                    )?,
                    self.add(s(GRID), "ADD paidIn :credited", &[(":credited", credited)])?,
                ];
                for credit in credits {
                    items.push(self.add(
                        Self::wallet_key(credit.address.as_str()),
                        "ADD received :amount SET seq = if_not_exists(seq, :seq), address = :address",
                        &[
                            (":amount", n(credit.amount.get())),
                            (":seq", n(credit.seq)),
                            (":address", s(credit.address.as_str())),
                        ],
                    )?);
                }
                items
            }
            ClaimResolution::Rejected { reason } => vec![
                self.finish_batch(key, BatchState::Rejected, Some(reason))?,
                self.add(s(consumer), "ADD pending :minus", &[(":minus", released)])?,
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
            // Added 2026-12-05: absent until a period settled since.
            savings: iota(item, ACCOUNTS, "savings")?,
            gains: opt_signed(item, ACCOUNTS, "gains")?.unwrap_or(0),
        })
    }

    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError> {
        // One scan finds both what is owed (entitlements) and to whom (their accounts).
        let items = self
            .scan(
                "(begins_with(id, :owed) AND unpaid > :zero) OR owedOut > :zero",
                &[(":owed", s("owed#")), (":zero", n(0))],
            )
            .await?;
        let mut owed: std::collections::BTreeMap<RegistrationId, Vec<Entitlement>> = Default::default();
        let mut accounts = Vec::new();
        for item in &items {
            if !get_s(item, ACCOUNTS, "id")?.starts_with("owed#") {
                accounts.push(item);
                continue;
            }
            let producer =
                RegistrationId::parse(get_s(item, ACCOUNTS, "producer")?).map_err(|e| corrupt("entitlement", e))?;
            owed.entry(producer.clone()).or_default().push(Entitlement {
                period: PeriodStart::parse(get_n(item, ACCOUNTS, "period")?).map_err(|e| corrupt("entitlement", e))?,
                producer,
                address: PaymentAddress::parse(get_s(item, ACCOUNTS, "address")?)
                    .map_err(|e| corrupt("entitlement", e))?,
                unpaid: Iota::new(get_n(item, ACCOUNTS, "unpaid")?),
            });
        }
        let mut unpaid = Vec::new();
        for item in accounts {
            let producer = RegistrationId::parse(get_s(item, ACCOUNTS, "id")?).map_err(|e| corrupt("account", e))?;
            let Some(mut entitlements) = owed.remove(&producer) else { continue };
            entitlements.sort_by_key(|e| e.period);
            unpaid.push(Unpaid {
                producer,
                owed: entitlements,
                paid_before: Iota::new(
                    opt_n(item, ACCOUNTS, "paidOut")?
                        .unwrap_or(0)
                        .checked_add(opt_n(item, ACCOUNTS, "payoutPending")?.unwrap_or(0))
                        .ok_or_else(|| corrupt("account", "paid out overflows"))?,
                ),
                refused: opt_n(item, ACCOUNTS, "refused")?.unwrap_or(0),
            });
        }
        unpaid.sort_by(|a, b| a.producer.cmp(&b.producer));
        Ok(unpaid)
    }

    async fn funds(&self) -> Result<Vec<Funds>, StoreError> {
        // A missing `spent` is zero (ADD creates it), which a filter expression cannot
        // say; compare here.
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
                    // Spent beyond received is not a state the books can reach.
                    available: Iota::new(
                        received.checked_sub(spent).ok_or_else(|| corrupt("wallet", "spent more than received"))?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        funds.retain(|f| f.available.get() > 0);
        funds.sort_by(|a, b| (a.seq, &a.address).cmp(&(b.seq, &b.address)));
        Ok(funds)
    }

    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError> {
        let put = self.new_batch(
            Self::batch_key(payout.batch.id.as_str()),
            BatchKind::Payout,
            &payout.producer,
            payout.amount,
            payout.created,
            [
                ("body", s(serde_json::to_string(&payout.batch).map_err(StoreError::backend)?)),
                ("covers", s(serde_json::to_string(&payout.covers).map_err(StoreError::backend)?)),
            ],
        )?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let producer = payout.producer.as_str();
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.add(
                s(producer),
                "ADD payoutPending :amount, owedOut :minus",
                &[(":amount", amount.clone()), (":minus", negative)],
            )?,
            self.add(s(GRID), "ADD payouts :amount", &[(":amount", amount)])?,
        ];
        for (address, spent) in spent_by_source(&payout.batch) {
            items.push(self.add(Self::wallet_key(&address), "ADD spent :part", &[(":part", n(spent))])?);
        }
        for cover in &payout.covers {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("id", Self::owed_key(producer, cover.period))
                .update_expression("ADD unpaid :minus")
                .condition_expression("unpaid >= :amount")
                .expression_attribute_values(":minus", AttributeValue::N(format!("-{}", cover.amount.get())));
            update = update.expression_attribute_values(":amount", n(cover.amount.get()));
            items.push(TransactWriteItem::builder().update(update.build().map_err(backend)?).build());
        }
        self.transact(items).await
    }

    async fn resolve_payout(&self, batch: &BatchId, resolution: &PayoutResolution) -> Result<bool, StoreError> {
        let (committed, reasons) = match resolution {
            PayoutResolution::Committed => (true, &[][..]),
            PayoutResolution::Refused { reasons } => (false, &reasons[..]),
        };
        let Some(item) = self.get_item(Self::batch_key(batch.as_str())).await? else { return Ok(false) };
        if opt_s(&item, BATCHES, "pending")? != Some(BatchKind::Payout.as_str()) {
            return Ok(false);
        }
        let payout = payout_record(&item)?;
        let amount = n(payout.amount.get());
        let negative = AttributeValue::N(format!("-{}", payout.amount.get()));
        let producer = payout.producer.as_str();
        let items = if committed {
            vec![
                self.finish_batch(Self::batch_key(batch.as_str()), BatchState::Committed, None)?,
                self.add(
                    s(producer),
                    "ADD payoutPending :minus, paidOut :amount",
                    &[(":minus", negative), (":amount", amount)],
                )?,
            ]
        } else {
            let mut items = vec![
                self.finish_batch(Self::batch_key(batch.as_str()), BatchState::Invalid, Some(&reasons.join("; ")))?,
                self.add(
                    s(producer),
                    "ADD payoutPending :minus, owedOut :amount, refused :one",
                    &[(":minus", negative.clone()), (":amount", amount), (":one", n(1))],
                )?,
                self.add(s(GRID), "ADD payouts :minus", &[(":minus", negative)])?,
            ];
            for (address, spent) in spent_by_source(&payout.batch) {
                let back = AttributeValue::N(format!("-{spent}"));
                items.push(self.add(Self::wallet_key(&address), "ADD spent :back", &[(":back", back)])?);
            }
            for cover in &payout.covers {
                items.push(self.restore(producer, cover)?);
            }
            items
        };
        let resolved = self.transact(items).await?;
        if resolved && committed {
            // Paid off: entitlements at zero leave the table (a refusal of another payout
            // that covered one recreates it), so the payout scan stays small.
            for cover in &payout.covers {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("id", Self::owed_key(producer, cover.period))
                    .condition_expression("unpaid = :zero")
                    .expression_attribute_values(":zero", n(0))
                    .send()
                    .await;
                written!(result)?;
            }
        }
        Ok(resolved)
    }

    async fn due_batches(&self, now: EpochMs, limit: usize) -> Result<Vec<WatchedBatch>, StoreError> {
        let mut batches = Vec::new();
        for kind in ["claim", "payout"] {
            for item in self.due(kind, now.get(), limit).await? {
                batches.push(watched_from_item(&item)?);
            }
        }
        batches.sort_by_key(|a| (a.last_checked, a.submitted));
        batches.truncate(limit);
        Ok(batches)
    }

    async fn checked(
        &self,
        watched: &Watched,
        now: EpochMs,
        next_check: EpochMs,
        stalled: bool,
    ) -> Result<(), StoreError> {
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
            .expression_attribute_values(":now", n(now.get()))
            .expression_attribute_values(":next", n(next_check.get()))
            .expression_attribute_values(":stalled", AttributeValue::Bool(stalled))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // Resolved meanwhile: nothing to record.
        written!(result).map(|_| ())
    }

    async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchView>, StoreError> {
        let mut pages = self.client.scan().table_name(&self.batches).into_paginator().send();
        let mut views = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(backend)?.items() {
                let kind = batch_kind(item)?;
                let shown = shown_status(item)?;
                let wanted = match status {
                    None => true,
                    Some(BatchState::Pending) => matches!(shown, BatchState::Pending | BatchState::Stalled),
                    Some(other) => other == shown,
                };
                if !wanted {
                    continue;
                }
                let id = match kind {
                    BatchKind::Claim => get_s(item, BATCHES, "batch")?.to_owned(),
                    BatchKind::Payout => get_s(item, BATCHES, "pk")?.trim_start_matches("ledger#").to_owned(),
                };
                views.push(BatchView {
                    id: BatchId::parse(id).map_err(|e| corrupt("batch", e))?,
                    kind,
                    registration: RegistrationId::parse(get_s(item, BATCHES, "registration")?)
                        .map_err(|e| corrupt("batch", e))?,
                    amount: Iota::new(get_n(item, BATCHES, "amount")?),
                    status: shown,
                    reasons: opt_s(item, BATCHES, "reason")?.map(|r| vec![r.to_owned()]).unwrap_or_default(),
                    submitted: get_time(item, BATCHES, "created")?,
                    last_checked: last_checked(item)?,
                    times_checked: opt_n(item, BATCHES, "timesChecked")?.unwrap_or(0),
                });
            }
        }
        views.sort_by(|a, b| b.submitted.cmp(&a.submitted).then_with(|| a.id.cmp(&b.id)));
        views.truncate(limit);
        Ok(views)
    }

    async fn pending_batches(&self) -> Result<PendingBatches, StoreError> {
        let mut pending = PendingBatches::default();
        for (kind, count) in [("claim", &mut pending.claims), ("payout", &mut pending.payouts)] {
            let mut pages = self.pending(kind).select(Select::Count).into_paginator().send();
            while let Some(page) = pages.next().await {
                let counted = page.map_err(backend)?.count();
                *count += u64::try_from(counted).map_err(|_| corrupt("pending batches", counted))?;
            }
        }
        Ok(pending)
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

/// What a batch draws from each of the grid's addresses (one transaction touches an
/// item once, and a source may pay several destinations).
fn spent_by_source(batch: &LedgerBatch) -> Vec<(String, u64)> {
    let mut spent: Vec<(String, u64)> = Vec::new();
    for t in &batch.transfers {
        match spent.iter_mut().find(|(address, _)| address == t.from.as_str()) {
            Some((_, amount)) => *amount += t.amount.get(),
            None => spent.push((t.from.to_string(), t.amount.get())),
        }
    }
    spent
}
