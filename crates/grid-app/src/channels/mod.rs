//! Using channels: clients for the channel node, and the writer and reader on top.
//!
//! The grid reaches its own channel node directly through the [`ChannelLedger`] port
//! ([`LedgerChannelClient`]); device agents reach it over HTTP ([`HttpChannelClient`]).
//! Both are a [`ChannelClient`], so [`ChannelWriter`] and [`ChannelReader`] work the
//! same wherever they run.
//!
//! [`ChannelLedger`]: grid_store::ChannelLedger

mod client;
mod http_client;
mod ledger_client;
mod reader;
mod writer;

pub use client::{Attached, ChannelClient, ChannelClientError};
pub use http_client::HttpChannelClient;
pub use ledger_client::LedgerChannelClient;
pub use reader::{ChannelMessage, ChannelReader, ReadBatch, Rejection, RejectionReason};
pub use writer::{ChannelError, ChannelWriter};
