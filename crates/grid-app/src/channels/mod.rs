//! Using channels: clients for the channel node, and the writer and reader on top.
//!
//! The grid reaches its own channel node directly through the [`ChannelStore`] port
//! ([`StoreChannelClient`]); device agents reach it over HTTP ([`HttpChannelClient`]).
//! Both are a [`ChannelClient`], so [`ChannelWriter`] and [`ChannelReader`] work the
//! same wherever they run.
//!
//! [`ChannelStore`]: grid_store::ChannelStore

mod client;
mod http_client;
mod reader;
mod store_client;
mod writer;

pub use client::{Attached, ChannelClient, ChannelClientError};
pub use http_client::HttpChannelClient;
pub use reader::{ChannelMessage, ChannelReader, ReadBatch, Rejection, RejectionReason};
pub use store_client::StoreChannelClient;
pub use writer::{ChannelError, ChannelWriter};
