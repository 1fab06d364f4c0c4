//! The port for work queues: `poll-work` (shards of registrations to poll) and
//! `completions` (finished payments, for subscribers).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;

/// A message taken from a queue, invisible to other receivers until its visibility
/// timeout ends. It must be acknowledged once handled, or it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    /// What [`MessageQueue::ack`] takes; new on every receipt.
    pub receipt: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// An at-least-once queue (SQS semantics): a message is delivered until acknowledged.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Enqueues messages (each at most 256 KiB), in whatever batch size the backend allows.
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError>;

    /// Takes up to `max` (at most 10) visible messages and hides them for `visibility`.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueuedMessage>, StoreError>;

    /// Deletes a received message for good. Acknowledging twice is harmless.
    async fn ack(&self, receipt: &str) -> Result<(), StoreError> {
        self.ack_many(&[receipt]).await
    }

    /// [`ack`](Self::ack) of several received messages, in as few requests as the
    /// queue allows (SQS: ten to a request).
    async fn ack_many(&self, receipts: &[&str]) -> Result<(), StoreError>;

    /// How many messages were given up on: received
    /// [`MAX_RECEIVES`](crate::resources::MAX_RECEIVES) times without being
    /// acknowledged, then moved to the queue's dead-letter queue (where they stay for
    /// the operator, never blocking the others).
    async fn dead_letters(&self) -> Result<u64, StoreError>;
}

/// The largest message body a queue takes (SQS's limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
