//! The grid's own way to its channel node: straight through the store port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress};
use grid_store::{ChannelLedger, StoreError};

use super::{Attached, ChannelClient, ChannelClientError};

/// A [`ChannelClient`] over the [`ChannelLedger`] port, for the grid itself.
#[derive(Clone)]
pub struct LedgerChannelClient {
    ledger: Arc<dyn ChannelLedger>,
}

impl LedgerChannelClient {
    pub fn new(ledger: Arc<dyn ChannelLedger>) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl ChannelClient for LedgerChannelClient {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<Attached, ChannelClientError> {
        match self.ledger.attach(address, envelope).await {
            Ok(()) => Ok(Attached::Stored),
            Err(StoreError::Conflict(_)) => Ok(Attached::Taken),
            Err(other) => Err(other.into()),
        }
    }

    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<Attached>, ChannelClientError> {
        let stored = self.ledger.attach_many(messages).await?;
        Ok(stored.into_iter().map(|s| if s { Attached::Stored } else { Attached::Taken }).collect())
    }

    async fn fetch(
        &self,
        addresses: &[MessageAddress],
    ) -> Result<HashMap<MessageAddress, Envelope>, ChannelClientError> {
        Ok(self.ledger.get_many(addresses).await?)
    }
}
