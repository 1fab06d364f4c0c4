//! The devices around the grid, as programs: a **source** reports what it produces to
//! its producer, a **producer** aggregates its sources and offers the energy to the grid,
//! a **consumer** reports what it uses and pays its bills.
//!
//! Agents only speak HTTP (the grid's registration and storage APIs, its channel node,
//! the ledger), so they run against `gridctl serve` and a grid on AWS alike. Each agent
//! is a plain struct driven one slot at a time (`step(now)`): `gridctl source`,
//! `producer` and `consumer` drive them from the wall clock, and `gridctl demo` from a
//! fast, simulated one.

mod error;
mod grid_api;
mod meter;
mod own_channel;
mod wallet;

pub mod consumer;
pub mod producer;
pub mod source;

pub use error::AgentError;
pub use grid_api::{GridApi, Registered};
pub use meter::Meter;
pub use own_channel::OwnChannel;
pub use wallet::Wallet;

/// The start of the slot of `slot_ms` containing `ms`.
pub fn slot_start(ms: u64, slot_ms: u64) -> u64 {
    ms - ms % slot_ms.max(1)
}
