//! The port behind the grid's channel node: write-once storage of envelopes by address.

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress};

use crate::StoreError;

/// The most addresses one [`ChannelLedger::get_many`] call may ask for (DynamoDB's
/// BatchGetItem limit, and the node's batch-get limit).
pub const MAX_BATCH_GET: usize = 100;

/// Keeps channel messages. An address, once written, never changes: that is what
/// makes a channel append-only and lets a writer detect a taken index.
#[async_trait]
pub trait ChannelLedger: Send + Sync {
    /// Stores `envelope` at `address`. Fails with [`StoreError::Conflict`] if the
    /// address is taken, whatever is stored there; nothing is overwritten.
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError>;

    /// Stores each envelope at its address, leaving taken addresses alone: `true` for
    /// each one stored. One `attach` each unless the adapter writes many at once.
    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<bool>, StoreError> {
        let mut stored = Vec::with_capacity(messages.len());
        for (address, envelope) in messages {
            stored.push(match self.attach(address, envelope).await {
                Ok(()) => true,
                Err(StoreError::Conflict(_)) => false,
                Err(e) => return Err(e),
            });
        }
        Ok(stored)
    }

    /// The envelope at `address`, if any.
    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError>;

    /// The envelopes at up to [`MAX_BATCH_GET`] addresses; addresses with nothing
    /// stored are absent from the map.
    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError>;
}
