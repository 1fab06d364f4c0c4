//! `MessageQueue` over an SQS queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use tokio::sync::OnceCell;

use super::{AwsClients, LazyClient, backend};
use crate::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage, StoreError};

/// SendMessageBatch takes at most this many entries.
const SEND_BATCH: usize = 10;
/// Entries SQS reports as failed are retried this often before giving up.
const SEND_RETRIES: u32 = 5;

/// One SQS queue, by URL.
#[derive(Clone, Debug)]
pub struct SqsMessageQueue {
    client: LazyClient<Client>,
    url: String,
    /// The URL of the dead-letter queue its redrive policy names (`None`: no policy),
    /// looked up on the first count and kept by every clone: the template sets the
    /// policy when the stack is deployed, and a deployment starts new functions.
    dead_letter_url: Arc<OnceCell<Option<String>>>,
}

impl SqsMessageQueue {
    pub fn new(clients: &AwsClients, url: impl Into<String>) -> Self {
        Self { client: clients.sqs.clone(), url: url.into(), dead_letter_url: Arc::default() }
    }

    async fn attribute(&self, url: &str, name: QueueAttributeName) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(backend)?;
        Ok(output.attributes().and_then(|a| a.get(&name)).cloned())
    }

    /// Two SQS round trips: the queue's redrive policy, then the URL of the queue it names.
    async fn find_dead_letter_url(&self) -> Result<Option<String>, StoreError> {
        let Some(policy) = self.attribute(&self.url, QueueAttributeName::RedrivePolicy).await? else { return Ok(None) };
        let policy: serde_json::Value = serde_json::from_str(&policy)
            .map_err(|e| StoreError::Corrupt(format!("the queue's redrive policy is not JSON: {e}")))?;
        let target = policy["deadLetterTargetArn"].as_str().unwrap_or_default();
        let name = target.rsplit(':').next().filter(|n| !n.is_empty()).ok_or_else(|| {
            StoreError::Corrupt(format!("the queue's redrive policy names no dead-letter queue: {policy}"))
        })?;
        let url = self.client.get_queue_url().queue_name(name).send().await.map_err(backend)?;
        Ok(Some(url.queue_url().unwrap_or_default().to_owned()))
    }
}

#[async_trait]
impl MessageQueue for SqsMessageQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError> {
        if let Some(big) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(StoreError::Conflict(format!("a message of {} bytes is over the queue limit", big.len())));
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

    async fn ack(&self, receipt: &str) -> Result<(), StoreError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(backend)?;
        Ok(())
    }

    /// The dead-letter queue is the one this queue's redrive policy names (the template
    /// sets it), so no further configuration is needed; no policy, no dead letters.
    /// Found once, then one request a count.
    async fn dead_letters(&self) -> Result<u64, StoreError> {
        let Some(url) = self.dead_letter_url.get_or_try_init(|| self.find_dead_letter_url()).await? else {
            return Ok(0);
        };
        let count = self.attribute(url, QueueAttributeName::ApproximateNumberOfMessages).await?;
        count.unwrap_or_default().parse().map_err(|e| StoreError::Corrupt(format!("SQS message count: {e}")))
    }
}
