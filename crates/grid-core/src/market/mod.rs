//! The market: periods, the consensus price, settling a period, and paying producers.
//!
//! Pure integer arithmetic after DESIGN.md §6, with no I/O, so every formula can be
//! checked by hand and by property tests: energy in Wh, money in whole IOTA, prices in
//! IOTA per kWh, products in 128 (or, where they can exceed it, 256) bits. Nothing here
//! rounds except where the design says how.

mod apportion;
mod consensus;
mod payout;
mod period;
mod settlement;

pub use apportion::apportion;
pub use consensus::{ConsensusStrategy, ConsensusStrategyError, consensus_price};
pub use payout::{Entitlement, Payout, plan_payouts};
pub use period::{Period, PeriodLength, PeriodLengthError};
pub use settlement::{
    Allocation, Charge, FeeBps, FeeBpsError, Offer, PeriodTotals, PriceSource, ReadingKind, Settlement,
    SettlementError, SettlementPolicy, settle,
};
