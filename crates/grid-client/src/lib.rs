//! What a device needs to talk to the grid, and nothing of the grid's server: the
//! channel node's port and its HTTP client, the channel writer and reader built on it,
//! and the ledger's port and HTTP client. Its errors are its own, so a device never
//! names the grid's store or server types; the grid implements the same ports over its
//! store (`grid_app::channel_client::StoreChannelClient`) and reads channels with the same
//! reader.
//!
//! # Layout
//!
//! - [`channels`]: [`ChannelClient`](channels::ChannelClient) (the node's port),
//!   [`HttpChannelClient`](channels::HttpChannelClient), and
//!   [`ChannelWriter`](channels::ChannelWriter) / [`ChannelReader`](channels::ChannelReader)
//!   on any client.
//! - [`ledger`]: [`Ledger`](ledger::Ledger) (submit batches, ask their statuses, show
//!   one) and [`HttpLedger`](ledger::HttpLedger) in the Sawtooth or Splinter dialect.
//! - [`polite`]: sending again after the grid's 429, as a device should.

pub mod channels;
pub mod ledger;
pub mod polite;
