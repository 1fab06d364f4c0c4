//! The port to a channel node.

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress};

/// What became of an attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The envelope is now at the address.
    Stored,
    /// Something was already at the address; nothing changed.
    Taken,
}

/// Talking to the channel node failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelClientError {
    /// The node could not be reached, or failed: whatever the client's transport says
    /// (an HTTP error, a store's), kept as the cause.
    #[error("the channel node could not be reached")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The node failed in a way a retry will not mend (its data is corrupt, a value is
    /// out of its range): a bug for its operator, kept as the cause.
    #[error("the channel node failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the channel node refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the channel node answered something unreadable: {0}")]
    Protocol(String),
}

/// A channel node: attach envelopes at addresses, fetch them back.
#[async_trait]
pub trait ChannelClient: Send + Sync {
    /// Attaches `envelope` at `address`, write-once.
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<Attached, ChannelClientError>;

    /// Attaches many envelopes, each write-once; one `attach` each unless the client
    /// can do better.
    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<Attached>, ChannelClientError> {
        let mut attached = Vec::with_capacity(messages.len());
        for (address, envelope) in messages {
            attached.push(self.attach(address, envelope).await?);
        }
        Ok(attached)
    }

    /// The envelopes at up to [`MAX_BATCH_GET`](grid_core::channel::MAX_BATCH_GET) addresses;
    /// missing ones are absent.
    async fn fetch(
        &self,
        addresses: &[MessageAddress],
    ) -> Result<HashMap<MessageAddress, Envelope>, ChannelClientError>;
}
