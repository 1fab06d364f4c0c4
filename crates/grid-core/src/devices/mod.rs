//! What the devices around the grid compute: simulated meters, meter data replayed from
//! CSV, and a producer's aggregation of its sources' readings into offers. Pure, like the
//! rest of this crate, so the agents (`gridctl source`, `producer`, `consumer`) and the
//! demo share rules that are tested without a network.

mod aggregation;
mod meter_csv;
mod profile;

pub use aggregation::{Aggregator, AggregatorState, Placement, Slot};
pub use meter_csv::{MeterCsvError, parse_meter_csv};
pub use profile::{Profile, ProfileError};
