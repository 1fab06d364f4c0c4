//! The ports: one trait per role, one concept per file, each named like its adapters
//! in [`sqlite`](crate::sqlite), `aws` and `contract` (`ports/items.rs`,
//! `sqlite/items.rs`, `aws/items.rs`, `contract/items.rs`).

pub mod accounts;
pub mod activity;
pub mod channel_messages;
pub mod heartbeats;
pub mod items;
pub mod leases;
pub mod market;
pub mod queue;
pub mod registrations;
pub mod sign_ins;
