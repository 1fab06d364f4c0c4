//! `ChannelLedger` over a DynamoDB table keyed by `address`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use grid_core::EpochMs;
use grid_core::channel::{Envelope, MessageAddress};

use super::attributes::{Item, get_s, n, s};
use super::registrations::condition_failed;
use super::{AwsClients, LazyClient, backend};
use crate::{ChannelLedger, MAX_BATCH_GET, StoreError};

const TABLE: &str = "channel_messages";
/// Unprocessed keys are retried this often (with growing pauses) before giving up.
const BATCH_RETRIES: u32 = 8;

/// The channel node's envelopes in DynamoDB; attach is a conditional put.
#[derive(Clone, Debug)]
pub struct DynamoChannelLedger {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoChannelLedger {
    pub fn new(clients: &AwsClients, table: impl Into<String>) -> Self {
        Self { client: clients.dynamodb.clone(), table: table.into() }
    }
}

fn envelope_of(item: &Item) -> Result<(MessageAddress, Envelope), StoreError> {
    let address = MessageAddress::parse(get_s(item, TABLE, "address")?)
        .map_err(|e| StoreError::Corrupt(format!("{TABLE}: address: {e}")))?;
    let envelope = Envelope::parse(get_s(item, TABLE, "envelope")?.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("{TABLE}: {address}: {e}")))?;
    Ok((address, envelope))
}

#[async_trait]
impl ChannelLedger for DynamoChannelLedger {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("address", s(address.as_str()))
            .item("envelope", s(envelope.to_json()))
            .item("attached", n(EpochMs::now().get()))
            .condition_expression("attribute_not_exists(address)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed!(e) => Err(StoreError::Conflict(format!("address {address} is taken"))),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("address", s(address.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item().map(|item| envelope_of(item).map(|(_, envelope)| envelope)).transpose()
    }

    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError> {
        let mut found = HashMap::with_capacity(addresses.len());
        // BatchGetItem refuses duplicate keys, and takes at most 100.
        let mut unique: Vec<&MessageAddress> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(MAX_BATCH_GET) {
            let keys: Vec<Item> = chunk.iter().map(|a| Item::from([("address".to_owned(), s(a.as_str()))])).collect();
            let mut pending =
                Some(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(backend)?);
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let output =
                    self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(backend)?;
                for item in output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let (address, envelope) = envelope_of(item)?;
                    found.insert(address, envelope);
                }
                pending = output.unprocessed_keys().and_then(|u| u.get(&self.table)).cloned();
                if pending.is_some() {
                    attempt += 1;
                    if attempt > BATCH_RETRIES {
                        return Err(StoreError::Backend("DynamoDB left keys unprocessed after retries".into()));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
            }
        }
        Ok(found)
    }
}
