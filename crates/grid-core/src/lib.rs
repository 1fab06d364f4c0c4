//! The energy grid's pure domain.
//!
//! Everything here is plain data and rules: identifiers that are parsed once at the
//! edge and trusted afterwards, integer units for energy and money, the channel
//! protocol (keys, addresses, envelopes, commands), paging arithmetic, the
//! registration entity with its access rules, the local market that settles each
//! period, and the books (accounts, claims, payouts). Nothing in this crate knows
//! about HTTP, AWS, SQLite or an async runtime, so every rule can be tested in
//! isolation and reused by the Lambda functions, `gridctl serve` and the device agents.
//!
//! # Layout
//!
//! - `ids/`: registration, item, context, batch ids,
//!   names, types and payment addresses, each parsed once; [`SideKey`],
//!   [`AccountKey`]: the keys; [`Wh`], [`Iota`], [`Price`], [`EpochMs`]: the units,
//!   bounded; [`PageRequest`], [`JsonItem`], [`StorageQuota`]: the storage API's rules.
//! - [`Registration`]: the registration entity and who may do what with it.
//! - [`channel`]: the channel protocol (seeds, roots, access, addresses, envelopes,
//!   commands, signature checks, unclaimed channels).
//! - [`intake`]: the poller's verdict on each message read; [`WorkMessage`]: polling
//!   work and completions on the queues.
//! - [`market`]: periods, readings, the local market's settlement (§6), tariffs,
//!   apportioning.
//! - [`books`]: accounts, statements, claims, payouts (planned, recorded, resolved), ledger batches as the operator
//!   sees them, and the grid's wallet; [`ledger`]: the ledger's batches and dialects;
//!   [`monitor`]: the batch monitor's planner and its checks of answers.
//! - [`devices`]: what device agents share (profiles, meter CSV, aggregation, sealed
//!   readings).

mod account_key;
pub mod books;
pub mod channel;
mod counted;
pub mod devices;
mod energy;
mod ids;
pub mod intake;
mod json_item;
pub mod ledger;
pub mod market;
mod money;
pub mod monitor;
mod paging;
mod price;
mod registration;
mod side_key;
mod storage_quota;
mod time;
mod work;

pub use account_key::{AccountKey, AccountKeyError};
pub use channel::{ChannelRoot, ChannelRootError};
pub use counted::{Counted, count};
pub use energy::{EnergyError, Wh};
pub use ids::{
    BatchId, IdError, ItemId, ItemName, ItemNameError, ItemType, ItemTypeError, PaymentAddress, RegistrationId,
    StorageContext,
};
pub use json_item::{JsonItem, JsonItemError};
pub use money::{Iota, MoneyError};
pub use paging::{PageRequest, PagingError};
pub use price::{Price, PriceError};
pub use registration::{
    AccessError, ChannelCredentials, ChannelCursor, Registration, RegistrationStatus, ReturnChannel,
};
pub use side_key::{SideKey, SideKeyError};
pub use storage_quota::{QuotaError, QuotaExceeded, StorageQuota, StorageUsage};
pub use time::{EpochMs, TimeError};
pub use work::{CompletedBatch, CompletionMessage, WorkError, WorkMessage};

/// Lowercase hex, as an anchored regular expression: how roots, addresses, keys and
/// signatures are spelled (each type states its length apart).
const LOWER_HEX_PATTERN: &str = "^[0-9a-f]+$";
