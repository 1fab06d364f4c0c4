//! The report of a settled period (DESIGN.md §6): archived as JSON, served to the
//! operator at `GET /portal/api/periods/{periodStart}` and as CSV for accounting.

use super::{MarketRules, Period, PeriodStart, Settlement};
use crate::PaymentAddress;

/// Everything about one settled period, every party included.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodReport {
    pub period_start: PeriodStart,
    /// The first millisecond after the period.
    pub period_end: u64,
    pub rules: MarketRules,
    /// Where the period's consumers pay.
    pub payment_address: PaymentAddress,
    #[serde(flatten)]
    pub settlement: Settlement,
}

impl PeriodReport {
    pub fn new(period: Period, settlement: Settlement, payment_address: PaymentAddress) -> Self {
        Self {
            period_start: period.start(),
            period_end: period.end(),
            rules: MarketRules::Local,
            payment_address,
            settlement,
        }
    }
}
