//! A settled period's totals, as the grid keeps them: small however big the grid.

use super::{ConsensusStrategy, PeriodStart, PriceSource, Settlement};
use crate::{EpochMs, Iota, PaymentAddress, Price, Wh};

/// Which rules a period was settled under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketRules {
    /// The first design's pool: every kWh used billed at the consensus price, shared
    /// among producers by `Wh × ask`. Periods settled so keep their figures; their
    /// market fields (admitted, matched, imported, exported) are 0.
    #[default]
    Pool,
    /// The local market of DESIGN.md §6.
    Local,
}

impl MarketRules {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pool => "pool",
            Self::Local => "local",
        }
    }

    /// The rules [`as_str`](Self::as_str) names.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pool, Self::Local].into_iter().find(|r| r.as_str() == name)
    }
}

/// A settled period's totals. Per-registration figures go to the accounts and the
/// period's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    pub period: PeriodStart,
    pub rules: MarketRules,
    /// `None` for periods settled as a pool (the strategy was not recorded then).
    pub strategy: Option<ConsensusStrategy>,
    pub price: Price,
    pub price_source: PriceSource,
    pub produced: Wh,
    pub admitted: Wh,
    pub used: Wh,
    pub matched: Wh,
    pub imported: Wh,
    pub exported: Wh,
    pub revenue: Iota,
    pub fee: Iota,
    pub distributable: Iota,
    pub unallocated: Iota,
    pub producers: u64,
    pub consumers: u64,
    /// Where this period's consumers pay (a new address per settlement).
    pub payment_address: PaymentAddress,
    pub settled: EpochMs,
    /// The community's figures (DESIGN.md §6, "Prosumers, bids and tariffs"); 0 for
    /// periods settled before 2026-12-05.
    pub community: CommunityFigures,
}

/// What a period meant for the community: the tariff it was settled under, what
/// prosumers used of their own output, the community's own share of its use and of its
/// output, and what buyers saved and sellers gained against the utility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommunityFigures {
    pub cap: Price,
    pub feed_in: Price,
    pub self_consumed: Wh,
    pub self_sufficiency_bps: u64,
    pub self_consumption_bps: u64,
    pub savings: Iota,
    pub gains: i64,
}

impl SettlementRecord {
    /// The record of a period settled under §6.
    pub fn of(period: PeriodStart, s: &Settlement, payment_address: PaymentAddress, settled: EpochMs) -> Self {
        Self {
            period,
            rules: MarketRules::Local,
            strategy: Some(s.strategy),
            price: s.price,
            price_source: s.price_source,
            produced: s.produced,
            admitted: s.admitted,
            used: s.used,
            matched: s.matched,
            imported: s.imported,
            exported: s.exported,
            revenue: s.revenue,
            fee: s.fee,
            distributable: s.distributable(),
            unallocated: s.unallocated,
            producers: s.producers.len() as u64,
            consumers: s.consumers.len() as u64,
            payment_address,
            settled,
            community: CommunityFigures {
                cap: s.cap,
                feed_in: s.feed_in,
                self_consumed: s.self_consumed,
                self_sufficiency_bps: s.self_sufficiency_bps,
                self_consumption_bps: s.self_consumption_bps,
                savings: s.savings,
                gains: s.gains,
            },
        }
    }
}
