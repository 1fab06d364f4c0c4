//! `MessageQueue` over an SQS queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

use super::{AwsClients, LazyClient, backend};
use crate::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage, StoreError};

/// SendMessageBatch takes at most this many entries.
const SEND_BATCH: usize = 10;
/// Entries SQS reports as failed are retried this often before giving up.
const SEND_RETRIES: u32 = 5;

/// One SQS queue, by URL, and the dead-letter queue its redrive policy names.
#[derive(Clone, Debug)]
pub struct SqsMessageQueue {
    client: LazyClient<Client>,
    url: String,
    dead_letter_url: String,
}

impl SqsMessageQueue {
    /// The dead-letter queue's URL comes with the queue's (the template gives both),
    /// so counting dead letters is one request.
    pub fn new(clients: &AwsClients, url: impl Into<String>, dead_letter_url: impl Into<String>) -> Self {
        Self { client: clients.sqs.clone(), url: url.into(), dead_letter_url: dead_letter_url.into() }
    }
}

#[async_trait]
impl MessageQueue for SqsMessageQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError> {
        if let Some(big) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(StoreError::OutOfRange(format!("a message of {} bytes is over the queue limit", big.len())));
        }
        for chunk in bodies.chunks(SEND_BATCH) {
            let mut entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(backend)
                })
                .collect::<Result<Vec<_>, _>>()?;
            for attempt in 0..=SEND_RETRIES {
                let output = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(backend)?;
                let failed: Vec<&str> = output.failed().iter().map(|f| f.id()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == SEND_RETRIES {
                    return Err(StoreError::Backend(
                        format!("SQS refused {} messages after retries", failed.len()).into(),
                    ));
                }
                entries.retain(|e| failed.contains(&e.id()));
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueuedMessage>, StoreError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(43_200).min(43_200))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(backend)?;
        output
            .messages()
            .iter()
            .map(|m| {
                let missing = |what: &str| StoreError::Corrupt(format!("SQS message without {what}"));
                Ok(QueuedMessage {
                    id: m.message_id().ok_or_else(|| missing("an id"))?.to_owned(),
                    receipt: m.receipt_handle().ok_or_else(|| missing("a receipt handle"))?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect()
    }

    async fn ack_many(&self, receipts: &[&str]) -> Result<(), StoreError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(*receipt).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(backend)?;
            // A receipt that expired meanwhile fails alone; the message comes back and
            // its work is done again, which polling makes harmless.
            if let Some(failed) = output.failed().first() {
                tracing::warn!(code = failed.code(), message = ?failed.message(), "a received message was not deleted");
            }
        }
        Ok(())
    }

    async fn dead_letters(&self) -> Result<u64, StoreError> {
        let name = QueueAttributeName::ApproximateNumberOfMessages;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dead_letter_url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(backend)?;
        let count = output.attributes().and_then(|a| a.get(&name)).map_or("0", String::as_str);
        count.parse().map_err(|e| StoreError::Corrupt(format!("SQS message count: {e}")))
    }
}
