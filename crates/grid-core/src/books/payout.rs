//! A payout as the grid records it before it goes to the ledger.

use crate::ledger::LedgerBatch;
use crate::market::Cover;
use crate::{EpochMs, Iota, RegistrationId};

/// A payout: the ledger batch, whom it pays, and which periods' entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    pub batch: LedgerBatch,
    pub producer: RegistrationId,
    pub amount: Iota,
    /// The periods it pays, each to the address named in it; they sum to `amount`.
    pub covers: Vec<Cover>,
    /// When the monitor made it, by the monitor's clock (resends count from here).
    pub created: EpochMs,
}
