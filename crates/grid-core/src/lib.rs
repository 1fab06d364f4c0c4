//! The energy grid's pure domain.
//!
//! Everything here is plain data and rules: identifiers that are parsed once at the
//! edge and trusted afterwards, integer units for energy and money, the channel
//! protocol (keys, addresses, envelopes, commands), paging arithmetic, the
//! registration entity with its access rules, the local market that settles each
//! period, and the books (accounts, claims, payouts). Nothing in this crate knows
//! about HTTP, AWS, SQLite or an async runtime, so every rule can be tested in
//! isolation and reused by the Lambda functions, `gridctl serve` and the device agents.

mod account_key;
mod batch_id;
pub mod books;
pub mod channel;
mod channel_root;
mod counted;
pub mod devices;
mod energy;
mod id_segment;
pub mod intake;
mod item_id;
mod item_name;
mod item_type;
mod json_item;
pub mod ledger;
pub mod market;
mod money;
pub mod monitor;
mod paging;
mod payment_address;
mod price;
mod registration;
mod registration_id;
mod side_key;
mod storage_context;
mod storage_quota;
mod time;
mod work;

pub use account_key::{AccountKey, AccountKeyError};
pub use batch_id::BatchId;
pub use channel_root::{ChannelRoot, ChannelRootError};
pub use counted::{Counted, count};
pub use energy::{EnergyError, Wh};
pub use id_segment::IdError;
pub use item_id::ItemId;
pub use item_name::{ItemName, ItemNameError};
pub use item_type::{ItemType, ItemTypeError};
pub use json_item::{JsonItem, JsonItemError};
pub use money::{Iota, MoneyError};
pub use paging::{PageRequest, PagingError};
pub use payment_address::PaymentAddress;
pub use price::{Price, PriceError};
pub use registration::{
    AccessError, ChannelCredentials, ChannelCursor, Registration, RegistrationStatus, ReturnChannel,
};
pub use registration_id::RegistrationId;
pub use side_key::{SideKey, SideKeyError};
pub use storage_context::StorageContext;
pub use storage_quota::{QuotaError, QuotaExceeded, StorageQuota, StorageUsage};
pub use time::{EpochMs, TimeError};
pub use work::{CompletedBatch, CompletionMessage, WorkError, WorkMessage};

/// Lowercase hex, as an anchored regular expression: how roots, addresses, keys and
/// signatures are spelled (each type states its length apart).
const LOWER_HEX_PATTERN: &str = "^[0-9a-f]+$";
