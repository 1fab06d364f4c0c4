//! Where the grid keeps its state: ports (traits named by role) and their adapters.
//! The records themselves (readings, settlements, accounts, claims, payouts) are
//! grid-core's; this crate only persists them.
//!
//! The ports are shaped after DynamoDB's semantics from the start, because the same
//! code must run on one SQLite file and on DynamoDB/S3 with nothing changed above this
//! crate: writes that must not overwrite are conditional (`insert` fails with
//! [`StoreError::Conflict`] when the key exists, `replace` when the version moved),
//! listings are bounded pages with a cursor, and nothing loads a whole table.
//!
//! Adapters: [`sqlite`] (the embedded default) and `aws` (feature `aws`: DynamoDB, S3,
//! SQS). The [`contract`] module (feature `contract`) holds the behaviour every adapter
//! must show, as test-generating macros, so both run the very same checks.

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

pub use error::StoreError;
pub use ports::accounts::{AccountStore, BatchCounts, BatchView, Funds, PendingBatches, Unpaid, Watched, WatchedBatch};
pub use ports::activity::{Heartbeat, HeartbeatLog, Rejected, RejectionLog, ReportArchive};
pub use ports::channel_messages::{ChannelStore, MAX_BATCH_GET, UnreadChannel};
pub use ports::items::{ItemKey, ItemPage, ItemStore};
pub use ports::leases::LeaseStore;
pub use ports::market::{Insertion, ReadingCursor, ReadingPage, ReadingStore, ReadingSum, SettlementStore};
pub use ports::queue::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage};
pub use ports::registrations::{
    RegistrationCounts, RegistrationCursor, RegistrationPage, RegistrationStore, TypeCount, Versioned,
};
pub use ports::sign_ins::SignInLog;
pub use stores::{BackendError, StoreBackend, Stores};
