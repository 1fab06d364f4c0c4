//! The accounts: each period's entries added once, statements, accounts and the grid's totals.

use super::*;
use crate::AccountBook;

#[async_trait]
impl AccountBook for DynamoAccountStore {
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
}

impl DynamoAccountStore {
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

    /// A statement line's item: one per registration and period, found by the sparse
    /// `statements` index (`member`, `period`).
    fn line_key(registration: &str, period: PeriodStart) -> AttributeValue {
        s(format!("line#{registration}#{:020}", period.get()))
    }
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

fn iota(item: &Item, table: &str, name: &str) -> Result<Iota, StoreError> {
    Ok(Iota::new(opt_n(item, table, name)?.unwrap_or(0)))
}
