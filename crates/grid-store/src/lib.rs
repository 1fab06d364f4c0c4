//! Where the grid keeps its state: ports (traits named by role) and their adapters.
//! The records themselves (readings, settlements, accounts, claims, payouts) are
//! grid-core's; this crate only persists them.
//!
//! The ports are shaped after DynamoDB's semantics from the start, because the same
//! code must run on one SQLite file and on DynamoDB/S3 with nothing changed above this
//! crate: writes that must not overwrite are conditional (`insert` fails with
//! [`StoreError::Conflict`] when the key exists, `replace` when the version moved; the
//! conflict's [`ConflictKind`] says which),
//! listings are bounded pages with a cursor, counts come from indexes, and nothing loads
//! a whole table.
//!
//! # Layout
//!
//! - [`ports`]: one trait per role, one concept per file: `registrations`
//!   ([`RegistrationStore`]), `items` ([`ItemStore`]), `channel_messages`
//!   ([`ChannelMessageStore`]), `market` ([`ReadingStore`], [`SettlementStore`]), `accounts`
//!   ([`AccountStore`]: [`AccountBook`], [`ClaimBook`], [`PayoutBook`], [`BatchWatch`]), `leases` ([`LeaseStore`]), `activity` ([`RejectionLog`],
//!   [`ReportArchive`]), `heartbeats` ([`HeartbeatLog`], with the jobs' typed reports),
//!   `queue` ([`MessageQueue`]), `sign_ins` ([`SignInLog`]).
//! - [`sqlite`] (feature `sqlite`, the embedded default) and `aws` (feature `aws`:
//!   DynamoDB, S3, SQS): the adapters, in files named like the ports they implement.
//! - [`Stores`]: every port in one value, [`StoreBackend`] (`GRID_STORE`) and each adapter
//!   family's constructor. A third family adds its adapters, a variant and a constructor,
//!   and runs the contract; nothing outside this crate changes.
//! - `contract` (feature `contract`): the behaviour every adapter must show, one file
//!   per port as in `ports`, as test-generating macros, so each family runs the very
//!   same checks.
//! - [`resources`]: the tables, indexes, bucket and queues the AWS adapters use, which
//!   the template must match; `records`: the flat forms both families store.

mod error;
#[cfg(feature = "faults")]
pub mod faults;
pub mod ports;
mod records;
pub mod resources;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod stores;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(feature = "contract")]
pub mod contract;

pub use error::{Conflict, ConflictKind, StoreError};
pub use ports::accounts::{
    AccountBook, AccountStore, BatchCounts, BatchView, BatchWatch, ClaimBook, Funds, PayoutBook, PendingBatches,
    Unpaid, Watched, WatchedBatch,
};
pub use ports::activity::{Rejected, RejectionLog, ReportArchive};
pub use ports::channel_messages::{ChannelMessageStore, Claim, MAX_BATCH_GET, Received, UnreadChannel};
pub use ports::heartbeats::{
    DispatchReport, Heartbeat, HeartbeatLog, Job, JobReport, LateReport, MonitorReport, PollReport, SettledPeriod,
    SettledPeriods, SweepReport,
};
pub use ports::items::{ItemKey, ItemPage, ItemStore};
pub use ports::leases::LeaseStore;
pub use ports::market::{Insertion, ReadingCursor, ReadingPage, ReadingStore, ReadingSum, SettlementStore};
pub use ports::queue::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage};
pub use ports::registrations::{
    RegistrationCounts, RegistrationCursor, RegistrationPage, RegistrationStore, TypeCount, Versioned,
};
pub use ports::sign_ins::SignInLog;
pub use stores::{BackendError, StoreBackend, Stores};
