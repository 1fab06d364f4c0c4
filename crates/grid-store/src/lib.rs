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

mod account_store;
mod activity;
mod channel_ledger;
mod error;
#[cfg(feature = "faults")]
pub mod faults;
mod item_store;
mod message_queue;
mod reading_store;
mod records;
mod registration_store;
pub mod resources;
mod settlement_store;
mod sign_ins;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(feature = "contract")]
pub mod contract;

pub use account_store::{
    AccountStore, BatchCounts, BatchView, Funds, LeaseStore, PendingBatches, Unpaid, Watched, WatchedBatch,
};
pub use activity::{Heartbeat, HeartbeatLog, Rejected, RejectionLog, ReportArchive};
pub use channel_ledger::{ChannelLedger, MAX_BATCH_GET, UnreadChannel};
pub use error::StoreError;
pub use item_store::{ItemKey, ItemPage, ItemStore};
pub use message_queue::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage};
pub use reading_store::{Insertion, ReadingCursor, ReadingPage, ReadingStore, ReadingSum};
pub use registration_store::{RegistrationCursor, RegistrationPage, RegistrationStore, Versioned};
pub use settlement_store::SettlementStore;
pub use sign_ins::SignInLog;
