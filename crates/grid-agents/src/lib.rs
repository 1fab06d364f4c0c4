//! The devices around the grid, as programs: a **source** reports what it produces to
//! its producer, a **producer** aggregates its sources and offers the energy to the grid,
//! a **consumer** reports what it uses and pays its bills.
//!
//! Agents only speak HTTP (the grid's registration and storage APIs, its channel node,
//! the ledger), so they run against `gridctl serve` and a grid on AWS alike. Each agent
//! is a plain struct driven one slot at a time (`step(now)`): [`cli`] (feature `cli`,
//! gridctl's `source`, `producer`, `consumer` and `prosumer`) drives them from the wall
//! clock, and `gridctl demo` from a fast, simulated one.
//!
//! # Layout
//!
//! - [`source`], [`producer`] (with its registration API for its sources and its book of
//!   them), [`consumer`] (a home; with panels, a prosumer): the agents;
//! - [`GridApi`]: the grid's registration and storage APIs; [`OwnChannel`]: an agent's
//!   channel, kept across restarts; [`Wallet`]: its ledger account; [`Meter`]: what
//!   its meter reads;
//! - [`cli`]: the agents as commands. A new device is a module here and a variant of
//!   `cli::Device`; it needs nothing of the grid's crates but grid-client's ports.

/// Prints a line to stdout and carries on when nobody reads it any more: the agents
/// (and gridctl's demo) are long-lived, and must not die because the terminal or pipe
/// that showed their output went away.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[cfg(feature = "cli")]
pub mod cli;
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
