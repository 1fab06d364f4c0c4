//! What the demo found, gathered from the grid's books, its archived period reports and
//! the ledger: the figures the tables print, the checks weigh and `--summary-json`
//! writes. Apart so that the figures are collected once, in one shape.

use anyhow::Context;
use grid_agents::Wallet;
use grid_app::Stores;
use grid_core::market::PeriodReport;
use serde::Serialize;

use super::args::Scenario;
use super::period_start;
use super::world::{ConsumerAgent, FUNDS, ProducerAgent};

/// What the demo found, for the table and for `--summary-json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Summary {
    pub(super) scenario: Scenario,
    /// `PRICE_CAP`, IOTA per kWh.
    pub(super) price_cap: u64,
    /// Each period's report, as the grid archived it.
    pub(super) periods: Vec<PeriodReport>,
    pub(super) producers: Vec<ProducerSummary>,
    pub(super) consumers: Vec<ConsumerSummary>,
    pub(super) grid: GridSummary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProducerSummary {
    pub(super) id: String,
    pub(super) price: u64,
    pub(super) offered_wh: u64,
    /// What the local market used of it, over the periods, and what it exported.
    pub(super) matched_wh: u64,
    pub(super) exported_wh: u64,
    pub(super) entitled: u64,
    pub(super) paid_out: u64,
    pub(super) unpaid: u64,
    pub(super) ledger_balance: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConsumerSummary {
    pub(super) id: String,
    pub(super) used_wh: u64,
    /// What it got from the local market, over the periods, and what it imported.
    pub(super) local_wh: u64,
    pub(super) imported_wh: u64,
    pub(super) billed: u64,
    pub(super) paid: u64,
    pub(super) owed: u64,
    pub(super) payment_requests: u64,
    /// What left its ledger account net of what a prosumer's sales paid into it.
    pub(super) ledger_spent: u64,
    /// A prosumer's sales: earned, paid out, still owed (0 for a consumer).
    pub(super) entitled: u64,
    pub(super) paid_out: u64,
    pub(super) unpaid: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GridSummary {
    pub(super) paid_in: u64,
    pub(super) fees: u64,
    pub(super) payouts: u64,
    /// What the grid's addresses hold by its books, and on the ledger.
    pub(super) held: u64,
    pub(super) ledger_held: u64,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn summarize(
    stores: &Stores,
    producers: &[ProducerAgent],
    consumers: &[ConsumerAgent],
    ledger_url: &str,
    http: &reqwest::Client,
    start: u64,
    end: u64,
    period_ms: u64,
) -> anyhow::Result<Summary> {
    let mut periods: Vec<PeriodReport> = Vec::new();
    for period in (start..end).step_by(period_ms as usize) {
        let text = stores
            .archive
            .get(period_start(period)?)
            .await?
            .with_context(|| format!("period {period} has no report"))?;
        periods.push(serde_json::from_str(&text).with_context(|| format!("the report of period {period}"))?);
    }
    let over_periods = |of: &dyn Fn(&PeriodReport) -> u64| periods.iter().map(of).sum::<u64>();
    let mut producer_rows = Vec::new();
    for producer in producers {
        let settings = producer.agent.settings();
        let account = stores.accounts.get(&settings.id).await?.unwrap_or_default();
        let wallet = Wallet::new(ledger_url, settings.payment_address.clone(), http.clone());
        let mine = |r: &PeriodReport| r.settlement.producers.iter().find(|p| p.id == settings.id).cloned();
        producer_rows.push(ProducerSummary {
            id: settings.id.to_string(),
            price: settings.price.get(),
            offered_wh: producer.offered_wh,
            matched_wh: over_periods(&|r| mine(r).map_or(0, |p| p.matched.get())),
            exported_wh: over_periods(&|r| mine(r).map_or(0, |p| p.exported.get())),
            entitled: account.entitled.get(),
            paid_out: account.paid_out.get(),
            unpaid: account.unpaid().get(),
            ledger_balance: wallet.balance().await?.get(),
        });
    }
    let mut consumer_rows = Vec::new();
    for consumer in consumers {
        let id = &consumer.agent.settings().id;
        let account = stores.accounts.get(id).await?.unwrap_or_default();
        let mine = |r: &PeriodReport| r.settlement.consumers.iter().find(|c| c.id == *id).cloned();
        consumer_rows.push(ConsumerSummary {
            id: id.to_string(),
            used_wh: consumer.used_wh,
            local_wh: over_periods(&|r| mine(r).map_or(0, |c| c.local.get())),
            imported_wh: over_periods(&|r| mine(r).map_or(0, |c| c.imported.get())),
            billed: account.billed.get(),
            paid: account.paid.get(),
            owed: account.owed().get(),
            payment_requests: consumer.requests,
            // A prosumer's payouts come into the account it pays from.
            ledger_spent: FUNDS + account.paid_out.get() - consumer.agent.wallet().balance().await?.get(),
            entitled: account.entitled.get(),
            paid_out: account.paid_out.get(),
            unpaid: account.unpaid().get(),
        });
    }
    let totals = stores.accounts.totals().await?;
    let funds = stores.accounts.funds().await?;
    let mut ledger_held = 0;
    for f in &funds {
        ledger_held += Wallet::new(ledger_url, f.address.clone(), http.clone()).balance().await?.get();
    }
    Ok(Summary {
        scenario: Scenario::Balanced,
        price_cap: 0,
        periods,
        producers: producer_rows,
        consumers: consumer_rows,
        grid: GridSummary {
            paid_in: totals.paid_in.get(),
            fees: totals.fees.get(),
            payouts: totals.payouts.get(),
            held: funds.iter().map(|f| f.available.get()).sum(),
            ledger_held,
        },
    })
}
