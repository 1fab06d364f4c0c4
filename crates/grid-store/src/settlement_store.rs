//! The port that keeps settled periods and the order they settle in.

use async_trait::async_trait;
use grid_core::{EpochMs, Iota, PaymentAddress, Wh};

use crate::StoreError;

/// Where settlement stands: the last settled period and the one being settled.
/// Periods settle one after another; a reading can only join a period after both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementHead {
    pub latest: Option<u64>,
    pub closing: Option<u64>,
}

impl SettlementHead {
    /// Whether readings may still be counted in `period`.
    pub fn is_open(&self, period: u64) -> bool {
        self.latest.is_none_or(|l| period > l) && self.closing.is_none_or(|c| period > c)
    }
}

/// A settled period's totals. Per-registration charges and allocations go to the
/// accounts and the period report; this record stays small however big the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    pub period: u64,
    /// IOTA per kWh, and where it came from (`consensus`, `previous`, `default`).
    pub price: Iota,
    pub price_source: String,
    pub produced: Wh,
    pub used: Wh,
    pub revenue: Iota,
    pub fee: Iota,
    pub distributable: Iota,
    pub unallocated: Iota,
    pub producers: u64,
    pub consumers: u64,
    /// Where this period's consumers pay (a new address per settlement).
    pub payment_address: PaymentAddress,
    pub settled: EpochMs,
}

/// Keeps settlements and the settlement head.
#[async_trait]
pub trait SettlementStore: Send + Sync {
    async fn head(&self) -> Result<SettlementHead, StoreError>;

    /// Starts the grid's history: while no period has been closed, records `latest` as
    /// settled if it is earlier than what the head says (or the head says nothing), so
    /// that readings from before it count in the first open period instead of being
    /// stranded. The start only ever moves earlier, so pollers that see different
    /// first readings side by side agree on the earliest. Does nothing once
    /// settlement has closed a period.
    async fn initialize(&self, latest: u64) -> Result<(), StoreError>;

    /// Starts settling `period`, which must directly follow the head's `latest`
    /// (`previous`): from now on no reading joins it. Closing a period that is already
    /// closing succeeds (a resumed run); anything else is a [`StoreError::Conflict`].
    async fn close(&self, period: u64, previous: Option<u64>) -> Result<(), StoreError>;

    /// Stores the closing period's record and makes it the head's `latest`, atomically.
    /// A [`StoreError::Conflict`] if `record.period` is not the closing period.
    async fn finish(&self, record: &SettlementRecord) -> Result<(), StoreError>;

    async fn get(&self, period: u64) -> Result<Option<SettlementRecord>, StoreError>;
}
