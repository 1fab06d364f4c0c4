//! The grid's books: each registration's account and the grid's own, consumers'
//! payment claims and the grid's payouts (planned, recorded, resolved), and how the operator sees the ledger batches
//! that carry them. Plain records and their rules; the stores keep them.

mod account;
mod batch;
mod claim;
mod payout;
mod statement;
mod wallet;

pub use account::{Account, AccountEntry, GridEntry, GridTotals};
pub use batch::{BatchKind, BatchState, BatchStateError};
pub use claim::{ClaimResolution, Credit, PaymentClaim};
pub use payout::{Cover, Entitlement, MAX_COVERS, Payout, PayoutRecord, PayoutResolution, destinations, plan_payouts};
pub use statement::{StatementLine, StatementOverflow, StatementRange, StatementRangeError, StatementTotals};
pub use wallet::GridWallet;
