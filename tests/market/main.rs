//! The money engine end to end: producers and consumers publish through the channel
//! node, the poller stores what they said, settlement prices each period, bills the
//! consumers on their return channels and credits the producers' accounts. Run on the
//! embedded default and on DynamoDB/S3/SQS (moto).
//!
//! # Layout
//!
//! - `helpers.rs`: the configuration, the parties, the schedule and its expected
//!   settlement, the development ledger; shared by every module here;
//! - `trading.rs`: trading and settlement, each period once;
//! - `polling.rs`: each reading stored once, rejected commands, poison messages;
//! - `payments.rs`: consumers pay, producers are paid, on a sound and a faulty ledger;
//! - `cut_offs.rs`: crash consistency, cut off at every write and restarted;
//! - `metrics.rs`: what `/metrics` counts after trading;
//! - `local_market.rs`: DESIGN.md §6's cases and the first design's defects.

mod cut_offs;
mod helpers;
mod local_market;
mod metrics;
mod payments;
mod polling;
mod trading;
