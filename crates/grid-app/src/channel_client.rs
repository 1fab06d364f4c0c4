//! The grid's own way to its channel node: grid-client's [`ChannelClient`] port,
//! straight over the store port (devices use grid-client's HTTP client instead). A store
//! failure keeps its kind: the backend's is the client's `Unavailable`, anything else its
//! `Failed`, with the store's error as the cause.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress};
use grid_store::{ChannelMessageStore, ConflictKind, StoreError};

use grid_client::channels::{Attached, ChannelClient, ChannelClientError};

/// A [`ChannelClient`] over the [`ChannelMessageStore`] port, for the grid itself.
#[derive(Clone)]
pub struct StoreChannelClient {
    store: Arc<dyn ChannelMessageStore>,
}

impl StoreChannelClient {
    pub fn new(store: Arc<dyn ChannelMessageStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ChannelClient for StoreChannelClient {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<Attached, ChannelClientError> {
        match self.store.attach(address, envelope).await {
            Ok(()) => Ok(Attached::Stored),
            Err(e) if e.is_conflict(ConflictKind::Exists) => Ok(Attached::Taken),
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<Attached>, ChannelClientError> {
        let stored = self.store.attach_many(messages).await.map_err(unavailable)?;
        Ok(stored.into_iter().map(|s| if s { Attached::Stored } else { Attached::Taken }).collect())
    }

    async fn fetch(
        &self,
        addresses: &[MessageAddress],
    ) -> Result<HashMap<MessageAddress, Envelope>, ChannelClientError> {
        self.store.get_many(addresses).await.map_err(unavailable)
    }
}

/// A store failure as the client's: the backend's is worth a retry (`Unavailable`),
/// anything else is the node's own failure (`Failed`).
fn unavailable(e: StoreError) -> ChannelClientError {
    match e {
        StoreError::Backend(_) => ChannelClientError::Unavailable(Box::new(e)),
        _ => ChannelClientError::Failed(Box::new(e)),
    }
}
