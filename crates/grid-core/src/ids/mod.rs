//! The grid's identifiers: each parsed once at the edge (length and characters checked,
//! no `.` or `..` segment) and trusted afterwards. Most are one path segment of the
//! storage API, made by [`id_segment`]'s `id_newtype!`.

mod batch_id;
pub(crate) mod id_segment;
mod item_id;
mod item_name;
mod item_type;
mod payment_address;
mod registration_id;
mod storage_context;

pub use batch_id::BatchId;
pub use id_segment::IdError;
pub use item_id::ItemId;
pub use item_name::{ItemName, ItemNameError};
pub use item_type::{ItemType, ItemTypeError};
pub use payment_address::PaymentAddress;
pub use registration_id::RegistrationId;
pub use storage_context::StorageContext;
