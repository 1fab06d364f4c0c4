//! The market: periods and the local market that settles each of them (what is paid
//! out of it is in [`books`](crate::books)).
//!
//! Pure integer arithmetic after DESIGN.md §6, with no I/O, so every formula can be
//! checked by hand and by property tests: energy in Wh, money in whole IOTA, prices in
//! IOTA per kWh, products in 128 (or, where they can exceed it, 256) bits. Nothing here
//! rounds except where the design says how.
//!
//! # Layout
//!
//! - [`settle`] (`settlement.rs`): prosumers netted behind their meters, offers under
//!   the cap against buyers' bids, the price by [`ConsensusStrategy`], each party's
//!   share, charges, fee, allocations, and what buyers saved and sellers gained.
//! - `apportion.rs`: exact largest-remainder sharing, used for energy and money alike.
//! - `period.rs`, `head.rs`: periods, their starts, and where settlement stands.
//! - `reading.rs`, `record.rs`, `report.rs`: what the grid keeps of readings and settled
//!   periods, and the report an operator reads.
//! - `tariff.rs`: `PRICE_CAP` and `FEED_IN_PRICE` through the day, on the utility's clock.

mod apportion;
mod consensus;
mod head;
mod period;
mod reading;
mod record;
mod report;
mod settlement;
mod tariff;

pub use apportion::apportion;
pub use consensus::{ConsensusStrategy, ConsensusStrategyError};
pub use head::SettlementHead;
pub use period::{Period, PeriodLength, PeriodLengthError, PeriodStart, PeriodStartError};
pub use reading::{ReadingKind, StoredReading};
pub use record::{CommunityFigures, MarketRules, SettlementRecord};
pub use report::PeriodReport;
pub use settlement::{
    ConsumerOutcome, FeeBps, FeeBpsError, PeriodTotals, PriceSource, ProducerOutcome, Settlement, SettlementError,
    SettlementPolicy, SettlementRules, settle,
};
pub use tariff::{PriceSchedule, ScheduleError, Tariff, TariffPrices, TariffZone, TariffZoneError};
