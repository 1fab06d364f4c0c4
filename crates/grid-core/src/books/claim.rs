//! A consumer's claim that a ledger batch paid its bill, and what the ledger showed.

use crate::{BatchId, EpochMs, Iota, PaymentAddress, RegistrationId};

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

/// Money a committed batch moved from the claiming consumer to one of the grid's
/// addresses (the `seq`-th it issued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub address: PaymentAddress,
    pub seq: u64,
    pub amount: Iota,
}

/// What the ledger showed about a claimed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResolution {
    /// Committed: the consumer is credited with every transfer it made to an address
    /// the grid issued (what the ledger moved, whatever the claim said).
    Verified { credits: Vec<Credit> },
    /// Not a payment the ledger shows; the pending amount is released.
    Rejected { reason: String },
}

impl ClaimResolution {
    /// What a verified claim credits.
    pub fn credited(&self) -> Iota {
        match self {
            Self::Verified { credits } => Iota::new(credits.iter().map(|c| c.amount.get()).sum()),
            Self::Rejected { .. } => Iota::ZERO,
        }
    }
}
