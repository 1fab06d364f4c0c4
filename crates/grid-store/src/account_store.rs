//! The port that keeps each registration's money: what it was billed and paid, what
//! it earned and was paid out.

use async_trait::async_trait;
use grid_core::{BatchId, EpochMs, Iota, RegistrationId};

use crate::StoreError;

/// One registration's running totals, in IOTA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Consumers: charged over all settled periods.
    pub billed: Iota,
    /// Consumers: payments confirmed on the ledger.
    pub paid: Iota,
    /// Consumers: payments claimed, not yet confirmed.
    pub pending: Iota,
    /// Producers: allocated over all settled periods.
    pub entitled: Iota,
    /// Producers: payouts confirmed on the ledger.
    pub paid_out: Iota,
    /// The last period applied to this account.
    pub last_period: Option<u64>,
}

impl Account {
    /// What a consumer still owes: billed − paid − pending (never below zero).
    pub fn owed(&self) -> Iota {
        Iota::new(self.billed.get().saturating_sub(self.paid.get()).saturating_sub(self.pending.get()))
    }
}

/// One registration's share of a settled period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    pub registration: RegistrationId,
    pub billed: Iota,
    pub entitled: Iota,
}

/// A consumer says a ledger batch paid its bill; the grid holds it as pending until the
/// ledger confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentClaim {
    pub registration: RegistrationId,
    pub batch_id: BatchId,
    pub amount: Iota,
    pub channel_index: u64,
    pub claimed: EpochMs,
}

/// Keeps accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds `period`'s entries, each once: an account that already has `period` (or a
    /// later one) applied is left alone, so a repeated or resumed run adds nothing.
    async fn apply(&self, period: u64, entries: &[AccountEntry]) -> Result<(), StoreError>;

    async fn get(&self, registration: &RegistrationId) -> Result<Option<Account>, StoreError>;

    /// Records a payment claim and adds it to the consumer's `pending`, atomically.
    /// A batch can be claimed once, by one consumer: `false` if it was claimed before.
    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError>;
}
