//! What the devices around the grid compute: simulated meters, meter data replayed from
//! CSV, a producer's aggregation of its sources' readings into offers, and the sealing
//! of what a device keeps private in the grid's open storage. Pure, like the
//! rest of this crate, so the agents (`gridctl source`, `producer`, `consumer`) and the
//! demo share rules that are tested without a network.

mod aggregation;
mod meter_csv;
mod profile;
mod sealed;

pub use aggregation::{Aggregator, AggregatorState, Placement, Slot};
pub use meter_csv::{MeterCsvError, parse_meter_csv};
pub use profile::{Profile, ProfileError};
pub use sealed::{ItemSealer, SealError, SealedItem};
