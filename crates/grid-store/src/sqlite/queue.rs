//! `MessageQueue` over the `queue_messages` table: SQS semantics on one file.

use std::time::Duration;

use async_trait::async_trait;
use grid_core::EpochMs;
use rusqlite::named_params;

use super::SqliteDb;
use crate::resources::MAX_RECEIVES;
use crate::{MAX_MESSAGE_BYTES, MessageQueue, QueuedMessage, StoreError};

/// One named queue in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteMessageQueue {
    db: SqliteDb,
    queue: String,
}

impl SqliteMessageQueue {
    pub fn new(db: SqliteDb, queue: impl Into<String>) -> Self {
        Self { db, queue: queue.into() }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl MessageQueue for SqliteMessageQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError> {
        if let Some(big) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(StoreError::OutOfRange(format!("a message of {} bytes is over the queue limit", big.len())));
        }
        let (queue, bodies) = (self.queue.clone(), bodies.to_vec());
        let now = EpochMs::now().get() as i64;
        self.db
            .write(move |conn| {
                {
                    let mut insert = conn.prepare_cached(
                        "INSERT INTO queue_messages (queue, id, body, enqueued_ms, visible_at_ms, receive_count)
                         VALUES (:queue, :id, :body, :now, :now, 0)",
                    )?;
                    for body in &bodies {
                        insert.execute(
                            named_params! {":queue": queue, ":id": random_token(), ":body": body, ":now": now},
                        )?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueuedMessage>, StoreError> {
        let queue = self.queue.clone();
        let max = max.clamp(1, 10) as i64;
        let now = EpochMs::now().get() as i64;
        let hidden_until = now.saturating_add(visibility.as_millis().min(i64::MAX as u128) as i64);
        self.db
            .write(move |conn| {
                // Immediate: selecting and hiding must be one step, or two receivers could take one message.
                // As SQS redrives: a visible message received MAX_RECEIVES times already
                // goes to the dead-letter queue instead of to a receiver.
                conn.prepare_cached(
                    "UPDATE queue_messages SET queue = :dead, visible_at_ms = :now, receive_count = 0, receipt = NULL
                     WHERE queue = :queue AND visible_at_ms <= :now AND receive_count >= :max_receives",
                )?
                .execute(named_params! {
                    ":dead": dead_letter_queue(&queue), ":now": now, ":queue": queue,
                    ":max_receives": i64::from(MAX_RECEIVES),
                })?;
                let mut taken = Vec::new();
                {
                    let mut select = conn.prepare_cached(
                        "SELECT id, body, receive_count FROM queue_messages
                         WHERE queue = :queue AND visible_at_ms <= :now
                         ORDER BY enqueued_ms, id LIMIT :max",
                    )?;
                    let rows = select.query_map(named_params! {":queue": queue, ":now": now, ":max": max}, |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
                    })?;
                    for row in rows {
                        let (id, body, count) = row?;
                        taken.push(QueuedMessage {
                            id,
                            receipt: random_token(),
                            body,
                            receive_count: u32::try_from(count + 1).unwrap_or(u32::MAX),
                        });
                    }
                    let mut hide = conn.prepare_cached(
                        "UPDATE queue_messages SET visible_at_ms = :until, receive_count = receive_count + 1,
                                                   receipt = :receipt
                         WHERE queue = :queue AND id = :id",
                    )?;
                    for message in &taken {
                        hide.execute(named_params! {
                            ":until": hidden_until, ":receipt": message.receipt, ":queue": queue, ":id": message.id,
                        })?;
                    }
                }
                Ok(taken)
            })
            .await
    }

    async fn ack_many(&self, receipts: &[&str]) -> Result<(), StoreError> {
        let queue = self.queue.clone();
        let receipts: Vec<String> = receipts.iter().map(|r| (*r).to_owned()).collect();
        self.db
            .write(move |conn| {
                let mut delete =
                    conn.prepare_cached("DELETE FROM queue_messages WHERE queue = :queue AND receipt = :receipt")?;
                for receipt in &receipts {
                    delete.execute(named_params! {":queue": queue, ":receipt": receipt})?;
                }
                Ok(())
            })
            .await
    }

    async fn dead_letters(&self) -> Result<u64, StoreError> {
        let dead = dead_letter_queue(&self.queue);
        self.db
            .read(move |conn| {
                let count: i64 = conn
                    .prepare_cached("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1")?
                    .query_row([dead], |row| row.get(0))?;
                Ok(count as u64)
            })
            .await
    }
}

/// The dead-letter queue of `queue`, named as on AWS (`poll-work-dlq`).
fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}-dlq")
}
