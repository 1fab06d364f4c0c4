//! Settled periods: each one's figures (the overview's charts and tiles), and its full
//! report as archived (the period page and its CSV).

use std::collections::BTreeMap;

use grid_core::market::{Period, PeriodReport, PeriodStart};
use grid_store::StoreError;
use serde::Serialize;
use serde_json::Value;

use super::PortalData;

/// One settled period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodPoint {
    pub start: u64,
    /// `local` (DESIGN.md §6's market) or `pool` (settled before it; no market figures).
    pub rules: String,
    /// `clearing`, `weighted`, `mean` or `median`; none for pool periods.
    pub strategy: Option<String>,
    /// IOTA per kWh: what matched energy traded at, or the reference price.
    pub price: u64,
    /// `traded`, `previous` or `default`.
    pub price_source: String,
    pub produced_wh: u64,
    /// Offered at or below the cap.
    pub admitted_wh: u64,
    pub used_wh: u64,
    /// Produced and used locally: what was traded.
    pub matched_wh: u64,
    /// Used beyond the matched energy: the consumers' utility supplied it.
    pub imported_wh: u64,
    /// Produced beyond the matched energy: the producers' utility took it.
    pub exported_wh: u64,
    pub revenue: u64,
    pub fee: u64,
    pub unallocated: u64,
    /// Wh per producer (from the period's archived report).
    pub produced_by: BTreeMap<String, u64>,
    /// The community's figures (0 for periods settled before 2026-12-05): what
    /// prosumers used of their own output, the community's own share of its use and of
    /// its output (basis points), buyers' savings and sellers' gains (IOTA), the tariff.
    pub self_consumed_wh: u64,
    pub self_sufficiency_bps: u64,
    pub self_consumption_bps: u64,
    pub savings: u64,
    pub gains: i64,
    pub cap: u64,
    pub feed_in: u64,
}

impl PortalData {
    pub(super) async fn period_point(&self, start: PeriodStart) -> Result<Option<PeriodPoint>, StoreError> {
        let Some(record) = self.stores.settlements.get(start).await? else { return Ok(None) };
        let report = self.period_report(start).await?.unwrap_or(Value::Null);
        // §6 reports list producers; pool-era reports listed their allocations.
        let produced_by = match (report["producers"].as_array(), report["allocations"].as_array()) {
            (Some(producers), _) => {
                producers.iter().filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["produced"].as_u64()?))).collect()
            }
            (None, Some(allocations)) => allocations
                .iter()
                .filter_map(|a| Some((a["producer"].as_str()?.to_owned(), a["wh"].as_u64()?)))
                .collect(),
            (None, None) => BTreeMap::new(),
        };
        Ok(Some(PeriodPoint {
            start: start.get(),
            rules: record.rules.as_str().to_owned(),
            strategy: record.strategy.map(|s| s.as_str().to_owned()),
            price: record.price.get(),
            price_source: record.price_source.as_str().to_owned(),
            produced_wh: record.produced.get(),
            admitted_wh: record.admitted.get(),
            used_wh: record.used.get(),
            matched_wh: record.matched.get(),
            imported_wh: record.imported.get(),
            exported_wh: record.exported.get(),
            revenue: record.revenue.get(),
            fee: record.fee.get(),
            unallocated: record.unallocated.get(),
            produced_by,
            self_consumed_wh: record.community.self_consumed.get(),
            self_sufficiency_bps: record.community.self_sufficiency_bps,
            self_consumption_bps: record.community.self_consumption_bps,
            savings: record.community.savings.get(),
            gains: record.community.gains,
            cap: record.community.cap.get(),
            feed_in: record.community.feed_in.get(),
        }))
    }

    /// A settled period's report as archived: DESIGN.md §6's for market periods (a
    /// [`PeriodReport`]), the pool's own for periods settled before (with `rules: "pool"`
    /// added, which it did not say). `None` if the period is not settled.
    pub async fn period_report(&self, start: PeriodStart) -> Result<Option<Value>, StoreError> {
        let Some(record) = self.stores.settlements.get(start).await? else { return Ok(None) };
        let Some(text) = self.stores.archive.get(start).await? else { return Ok(None) };
        let mut report: Value =
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("report of {start}: {e}")))?;
        if let Some(fields) = report.as_object_mut() {
            fields.entry("rules").or_insert_with(|| Value::from(record.rules.as_str()));
        }
        Ok(Some(report))
    }

    /// A market period's report, typed (for the page and the CSV); `None` for an
    /// unsettled or pool-era period.
    pub async fn market_report(&self, start: PeriodStart) -> Result<Option<PeriodReport>, StoreError> {
        match self.period_report(start).await? {
            Some(report) if report.get("rules").and_then(Value::as_str) == Some("local") => {
                serde_json::from_value(report)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("report of {start}: {e}")))
            }
            _ => Ok(None),
        }
    }

    /// The period starting at `start` ms, if it is one of this grid's periods.
    pub fn period_start(&self, start: u64) -> Option<PeriodStart> {
        let start = PeriodStart::parse(start).ok()?;
        Period::starting_at(start, self.period).map(Period::start)
    }

    /// The last `count` settled periods, oldest first.
    pub async fn periods(&self, count: usize) -> Result<Vec<PeriodPoint>, StoreError> {
        let Some(latest) = self.stores.settlements.head().await?.latest else { return Ok(Vec::new()) };
        let length = self.period.ms();
        let mut points = Vec::new();
        for i in (0..count as u64).rev() {
            let Some(start) = latest.get().checked_sub(i * length).and_then(|s| PeriodStart::parse(s).ok()) else {
                continue;
            };
            if let Some(point) = self.period_point(start).await? {
                points.push(point);
            }
        }
        Ok(points)
    }
}
