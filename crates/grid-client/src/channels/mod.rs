//! Using channels: the channel node's port, its HTTP client, and the writer and reader
//! on top.
//!
//! Devices reach the node over HTTP ([`HttpChannelClient`]); the grid reaches its own
//! node through its store (`grid_app::channel_client::StoreChannelClient`). Both are a
//! [`ChannelClient`], so [`ChannelWriter`] and [`ChannelReader`] work the same wherever
//! they run.

mod client;
mod http_client;
mod reader;
mod writer;

pub use client::{Attached, ChannelClient, ChannelClientError};
pub use http_client::HttpChannelClient;
pub use reader::{ChannelMessage, ChannelReader, ReadBatch, Rejection, RejectionReason};
pub use writer::{ChannelError, ChannelWriter};
