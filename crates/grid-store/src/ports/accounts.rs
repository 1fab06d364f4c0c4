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
use grid_core::books::{
    Account, AccountEntry, BatchKind, BatchState, ClaimResolution, Entitlement, GridEntry, GridTotals, PaymentClaim,
    PayoutRecord, PayoutResolution, StatementLine, StatementRange,
};
use grid_core::market::PeriodStart;
use grid_core::{BatchId, EpochMs, Iota, PaymentAddress, RegistrationId};

use crate::error::StoreError;

/// A producer the grid owes money, period by period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaid {
    pub producer: RegistrationId,
    /// What it is owed from each period not yet fully paid, oldest first, each to the
    /// address it named in that period.
    pub owed: Vec<Entitlement>,
    /// Paid out plus pending payouts: what the next payout comes after.
    pub paid_before: Iota,
    /// Payouts to it the ledger refused so far (a re-issue gets a new batch id).
    pub refused: u64,
}

impl Unpaid {
    pub fn total(&self) -> Iota {
        Iota::new(self.owed.iter().map(|e| e.unpaid.get()).sum())
    }
}

/// Money the grid holds at one of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funds {
    pub address: PaymentAddress,
    /// The address's number: older addresses are spent first.
    pub seq: u64,
    pub available: Iota,
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
    /// When it was submitted (payout) or claimed (claim).
    pub submitted: EpochMs,
    /// When the monitor last asked the ledger about it, if ever.
    pub last_checked: Option<EpochMs>,
    pub times_checked: u64,
    /// Pending too long or checked too often: shown to the operator, still followed.
    pub stalled: bool,
}

/// A batch as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchView {
    pub id: BatchId,
    pub kind: BatchKind,
    pub registration: RegistrationId,
    pub amount: Iota,
    pub status: BatchState,
    pub reasons: Vec<String>,
    pub submitted: EpochMs,
    pub last_checked: Option<EpochMs>,
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

/// Batches not yet final, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingBatches {
    pub claims: u64,
    pub payouts: u64,
}

impl BatchCounts {
    /// Counts `batches` more in the status the operator sees (`BatchView::status`).
    pub fn add(&mut self, status: BatchState, batches: u64) {
        let count = match status {
            BatchState::Pending => &mut self.pending,
            BatchState::Stalled => &mut self.stalled,
            BatchState::Committed => &mut self.committed,
            BatchState::Invalid => &mut self.invalid,
            BatchState::Verified => &mut self.verified,
            BatchState::Rejected => &mut self.rejected,
        };
        *count += batches;
    }
}

/// The accounts: what each period adds to each registration's and the grid's, and what
/// they read back (accounts, statements, the grid's totals).
#[async_trait]
pub trait AccountBook: Send + Sync {
    /// Adds `period`'s entries and what it adds to the grid's totals (`grid`: its fee,
    /// savings and gains), each once: an account already at `period` (or later) is
    /// left alone, so a repeated or resumed run adds nothing. A producer's allocation
    /// also becomes what the grid owes it from `period`, payable to the entry's address.
    async fn apply(&self, period: PeriodStart, entries: &[AccountEntry], grid: GridEntry) -> Result<(), StoreError>;

    /// `registration`'s statement lines of the periods in `range`, by period: what
    /// [`apply`](Self::apply) wrote with its entries (periods settled before
    /// 2026-12-05 have none).
    async fn statement_lines(
        &self,
        registration: &RegistrationId,
        range: StatementRange,
    ) -> Result<Vec<StatementLine>, StoreError>;

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

    async fn totals(&self) -> Result<GridTotals, StoreError>;
}

/// Consumers' payment claims: recorded against the consumer's pending amount, then
/// settled once by what the ledger shows.
#[async_trait]
pub trait ClaimBook: Send + Sync {
    /// Records a payment claim and adds it to the consumer's `pending`, atomically.
    /// A consumer claims a batch once (`false` if it did before). Several consumers may
    /// claim one batch (it may pay for several); verification credits each only with
    /// its own transfer, so claiming another's batch gains nothing and blocks no one.
    async fn claim_payment(&self, claim: &PaymentClaim) -> Result<bool, StoreError>;

    /// Settles a claim once: its amount leaves the consumer's pending; verified, what the
    /// ledger moved goes to the consumer's paid, the grid's totals and each receiving
    /// address. `false` if it was no longer pending.
    async fn resolve_claim(&self, claim: &PaymentClaim, resolution: &ClaimResolution) -> Result<bool, StoreError>;
}

/// Paying producers: what the grid owes and holds, and each payout recorded before it
/// goes to the ledger and settled once by what the ledger did.
#[async_trait]
pub trait PayoutBook: Send + Sync {
    /// Every producer the grid owes money, with what it is owed period by period.
    async fn unpaid(&self) -> Result<Vec<Unpaid>, StoreError>;

    /// The grid's addresses that hold money, oldest first.
    async fn funds(&self) -> Result<Vec<Funds>, StoreError>;

    /// Records a payout before it goes to the ledger: the batch, the producer's pending
    /// payout, what it pays of each period's entitlement, the grid's payouts and what
    /// each source address spends, atomically. `false` if a batch with its id exists (it
    /// was recorded before) or an entitlement it covers is no longer owed that much.
    async fn record_payout(&self, payout: &PayoutRecord) -> Result<bool, StoreError>;

    /// Settles a payout once: committed moves it to the producer's paid out; refused
    /// (with the ledger's reasons) gives the money back to the grid's addresses and the
    /// periods it covered (it is planned again, as a new batch). `false` if it was no
    /// longer pending.
    async fn resolve_payout(&self, batch: &BatchId, resolution: &PayoutResolution) -> Result<bool, StoreError>;
}

/// The ledger batches the monitor follows (claims and payouts not yet final) and how
/// the operator sees them.
#[async_trait]
pub trait BatchWatch: Send + Sync {
    /// Claims and payouts not yet final whose next check is due at `now`, least
    /// recently checked first (then oldest).
    async fn due_batches(&self, now: EpochMs, limit: usize) -> Result<Vec<WatchedBatch>, StoreError>;

    /// Records that the monitor asked about a batch at `now`: one more check, the next
    /// one not before `next_check`, and whether it is now stalled.
    async fn checked(
        &self,
        watched: &Watched,
        now: EpochMs,
        next_check: EpochMs,
        stalled: bool,
    ) -> Result<(), StoreError>;

    /// Batches for the operator, newest first; `status` filters (`Pending` includes stalled).
    async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchView>, StoreError>;

    /// Every batch counted by the status the operator sees, in one read.
    async fn batch_counts(&self) -> Result<BatchCounts, StoreError>;

    /// Claims and payouts not yet final (stalled ones included), counted through what
    /// [`due_batches`](Self::due_batches) reads, never the whole table: what each
    /// monitor run reports.
    async fn pending_batches(&self) -> Result<PendingBatches, StoreError>;
}

/// Keeps the books: every concern's port in one, implemented by one adapter so that a
/// write touching several (a verified claim credits the account, the grid's totals and
/// a wallet address) stays one atomic operation.
pub trait AccountStore: AccountBook + ClaimBook + PayoutBook + BatchWatch {}

impl<T: AccountBook + ClaimBook + PayoutBook + BatchWatch + ?Sized> AccountStore for T {}
