//! The port that keeps the grid's books: each registration's account, the grid's own
//! totals and wallet, and the ledger batches that move money (consumers' payment
//! claims and the grid's payouts).
//!
//! Every change that touches more than one of these is one atomic operation here
//! (a claim and the consumer's pending amount; a verified claim, the consumer's
//! account, the grid's totals and the receiving address; a payout, the producer's
//! account, the grid's totals and the addresses it draws from), so the books balance
//! after any crash.

use async_trait::async_trait;
use grid_core::ledger::LedgerBatch;
use grid_core::{BatchId, EpochMs, Iota, PaymentAddress, RegistrationId, Wh};

use crate::StoreError;

/// One registration's running totals, in IOTA (and the energy they are for).
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
    /// Producers: payouts submitted, not yet final.
    pub payout_pending: Iota,
    /// The energy settled over all periods: used (consumers) or produced (producers).
    pub energy: Wh,
    /// The last period applied to this account.
    pub last_period: Option<u64>,
}

impl Account {
    /// What a consumer still owes: billed − paid − pending (never below zero).
    pub fn owed(&self) -> Iota {
        Iota::new(self.billed.get().saturating_sub(self.paid.get()).saturating_sub(self.pending.get()))
    }

    /// What the grid still owes a producer: entitled − paid out − pending payouts.
    pub fn unpaid(&self) -> Iota {
        Iota::new(self.entitled.get().saturating_sub(self.paid_out.get()).saturating_sub(self.payout_pending.get()))
    }
}

/// One registration's share of a settled period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    pub registration: RegistrationId,
    pub billed: Iota,
    pub entitled: Iota,
    /// The energy settled: a consumer's use, a producer's output.
    pub energy: Wh,
    /// A producer's payment address (its latest offer's), for payouts.
    pub payment_address: Option<PaymentAddress>,
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

/// What the ledger showed about a claimed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResolution {
    /// Committed, from the consumer to the grid's `address` (the `seq`-th), for the amount.
    Verified { address: PaymentAddress, seq: u64 },
    /// Not a payment the ledger shows; the pending amount is released.
    Rejected { reason: String },
}

/// The grid's own totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridTotals {
    /// Consumer payments confirmed on the ledger.
    pub paid_in: Iota,
    /// The grid's fees over all settled periods.
    pub fees: Iota,
    /// Payouts recorded (pending or committed).
    pub payouts: Iota,
}

impl GridTotals {
    /// What may be paid out: confirmed payments − fees − payouts (DESIGN.md §6).
    pub fn cash(&self) -> Iota {
        Iota::new(self.paid_in.get().saturating_sub(self.fees.get()).saturating_sub(self.payouts.get()))
    }
}

/// A producer the grid owes money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaid {
    pub producer: RegistrationId,
    pub unpaid: Iota,
    /// The oldest settled period not yet fully paid out.
    pub oldest_period: u64,
    pub address: Option<PaymentAddress>,
    /// Paid out plus pending payouts: what the next payout comes after.
    pub paid_before: Iota,
    /// Payouts to it the ledger refused so far (a re-issue gets a new batch id).
    pub refused: u64,
}

/// Money the grid holds at one of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funds {
    pub address: PaymentAddress,
    /// The address's number: older addresses are spent first.
    pub seq: u64,
    pub available: Iota,
}

/// A payout as recorded before it is submitted to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    pub batch: LedgerBatch,
    pub producer: RegistrationId,
    pub amount: Iota,
    /// When the monitor made it, by the monitor's clock (resends count from here).
    pub created: EpochMs,
}

/// A batch the monitor follows: a consumer's claim or the grid's payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    Claim(PaymentClaim),
    Payout(PayoutRecord),
}

impl Watched {
    pub fn batch_id(&self) -> &BatchId {
        match self {
            Self::Claim(claim) => &claim.batch_id,
            Self::Payout(payout) => &payout.batch.id,
        }
    }
}

/// A batch still waiting on the ledger, with its monitoring history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedBatch {
    pub watched: Watched,
    /// When it was submitted (payout) or claimed (claim), epoch ms.
    pub submitted: u64,
    /// When the monitor last asked the ledger about it (0: never).
    pub last_checked: u64,
    pub times_checked: u64,
    /// Pending too long or checked too often: shown to the operator, still followed.
    pub stalled: bool,
}

/// A batch as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchView {
    pub id: BatchId,
    /// `claim` or `payout`.
    pub kind: String,
    pub registration: RegistrationId,
    pub amount: Iota,
    /// `pending`, `stalled`, `committed`, `invalid`, `verified` or `rejected`.
    pub status: String,
    pub reasons: Vec<String>,
    pub submitted: u64,
    pub last_checked: u64,
    pub times_checked: u64,
}

/// How many batches there are in each status the operator sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Pending and not stalled.
    pub pending: u64,
    /// Pending too long or checked too often (still followed).
    pub stalled: u64,
    pub committed: u64,
    pub invalid: u64,
    pub verified: u64,
    pub rejected: u64,
}

impl BatchCounts {
    /// Counts `batches` more in the status the operator sees (`BatchView::status`); an
    /// unknown status is not counted.
    pub fn add(&mut self, status: &str, batches: u64) {
        let count = match status {
            "pending" => &mut self.pending,
            "stalled" => &mut self.stalled,
            "committed" => &mut self.committed,
            "invalid" => &mut self.invalid,
            "verified" => &mut self.verified,
            "rejected" => &mut self.rejected,
            _ => return,
        };
        *count += batches;
    }
}

/// Keeps the books.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds `period`'s entries and the grid's `fee`, each once: an account already at
    /// `period` (or later) is left alone, so a repeated or resumed run adds nothing.
    async fn apply(&self, period: u64, entries: &[AccountEntry], fee: Iota) -> Result<(), StoreError>;

    async fn get(&self, registration: &RegistrationId) -> Result<Option<Account>, StoreError>;

    /// The accounts of `registrations` that exist. One `get` each unless the adapter
    /// reads many at once.
    async fn get_many(&self, registrations: &[RegistrationId]) -> Result<Vec<(RegistrationId, Account)>, StoreError> {
        let mut found = Vec::with_capacity(registrations.len());
        for id in registrations {
            if let Some(account) = self.get(id).await? {
                found.push((id.clone(), account));
            }
        }
        Ok(found)
    }

    /// Records a payment claim and adds it to the consumer's `pending`, atomically.
    /// A consumer claims a batch once (`false` if it did before). Several consumers may
    /// claim one batch (it may pay for several); verification credits each only with
    /// its own transfer, so claiming another's batch gains nothing and blocks no one.
    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError>;

    /// Settles a claim once: verified moves its amount from the consumer's pending to
    /// paid and into the grid's totals and the receiving address; rejected releases it.
    /// `false` if it was no longer pending.
    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError>;

    async fn totals(&self) -> Result<GridTotals, StoreError>;

    /// Every producer the grid owes money.
    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError>;

    /// The grid's addresses that hold money, oldest first.
    async fn funds(&self) -> Result<Vec<Funds>, StoreError>;

    /// Records a payout before it goes to the ledger: the batch, the producer's pending
    /// payout, the grid's payouts and what each source address spends, atomically.
    /// `false` if a batch with its id exists (it was recorded before).
    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError>;

    /// Settles a payout once: committed moves it to the producer's paid out; refused
    /// (with the ledger's `reasons`) gives the money back to the grid's addresses and the
    /// producer's unpaid (it is planned again, as a new batch). `false` if it was no
    /// longer pending.
    async fn resolve_payout(&self, batch: &BatchId, committed: bool, reasons: &[String]) -> Result<bool, StoreError>;

    /// Claims and payouts not yet final whose next check is due at `now`, least
    /// recently checked first (then oldest).
    async fn due_batches(&self, now: u64, limit: usize) -> Result<Vec<WatchedBatch>, StoreError>;

    /// Records that the monitor asked about a batch at `now`: one more check, the next
    /// one not before `next_check`, and whether it is now stalled.
    async fn checked(&self, watched: &Watched, now: u64, next_check: u64, stalled: bool) -> Result<(), StoreError>;

    /// Batches for the operator, newest first; `status` filters (`pending` includes stalled).
    async fn batches(&self, status: Option<&str>, limit: usize) -> Result<Vec<BatchView>, StoreError>;

    /// Every batch counted by the status the operator sees, in one read.
    async fn batch_counts(&self) -> Result<BatchCounts, StoreError>;
}

/// Leases, so two runs of a scheduled job never overlap.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease of `job` for `holder` until `now + ttl_ms`, if it is free, expired,
    /// or already `holder`'s. `false` if someone else holds it.
    async fn acquire(&self, job: &str, holder: &str, now: u64, ttl_ms: u64) -> Result<bool, StoreError>;

    /// Gives the lease back, if `holder` still holds it.
    async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError>;
}
