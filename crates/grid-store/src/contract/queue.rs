//! The `MessageQueue` contract (SQS semantics).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::MessageQueue;

type Queue = Arc<dyn MessageQueue>;

const LONG: Duration = Duration::from_secs(300);

async fn drain(queue: &Queue, visibility: Duration) -> Vec<crate::QueuedMessage> {
    let mut all = Vec::new();
    // Backends may return fewer than asked even when more are waiting; a few empty
    // receives in a row mean the queue is empty.
    let mut empty = 0;
    while empty < 3 {
        let got = queue.receive(10, visibility).await.unwrap();
        if got.is_empty() {
            empty += 1;
        } else {
            empty = 0;
        }
        all.extend(got);
    }
    all
}

pub async fn every_sent_message_is_received_once_while_hidden(queue: Queue) {
    let bodies: Vec<String> = (0..25).map(|i| format!(r#"{{"shard":{i}}}"#)).collect();
    queue.send(&bodies).await.unwrap();
    let received = drain(&queue, LONG).await;
    let got: HashSet<String> = received.iter().map(|m| m.body.clone()).collect();
    assert_eq!(received.len(), 25, "each message exactly once");
    assert_eq!(got, bodies.into_iter().collect::<HashSet<_>>());
    assert!(received.iter().all(|m| m.receive_count == 1));
    assert!(drain(&queue, LONG).await.is_empty(), "hidden messages are not delivered again");
}

pub async fn a_receive_takes_at_most_what_was_asked(queue: Queue) {
    queue.send(&(0..5).map(|i| i.to_string()).collect::<Vec<_>>()).await.unwrap();
    let got = queue.receive(2, LONG).await.unwrap();
    assert!(got.len() <= 2, "{got:?}");
}

pub async fn an_unacknowledged_message_comes_back_after_its_timeout(queue: Queue) {
    queue.send(&["retry me".to_owned()]).await.unwrap();
    let first = drain(&queue, Duration::from_secs(1)).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again = drain(&queue, LONG).await;
    assert_eq!(again.len(), 1, "redelivered after the visibility timeout");
    assert_eq!((again[0].id.as_str(), again[0].body.as_str()), (first[0].id.as_str(), "retry me"));
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first[0].receipt, "each delivery has its own receipt");
}

pub async fn an_acknowledged_message_never_comes_back(queue: Queue) {
    queue.send(&["done".to_owned()]).await.unwrap();
    let got = drain(&queue, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1);
    queue.ack(&got[0].receipt).await.unwrap();
    queue.ack(&got[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(drain(&queue, LONG).await.is_empty());
}

pub async fn messages_acknowledged_together_never_come_back_and_the_rest_do(queue: Queue) {
    queue.send(&(0..13).map(|i| format!("m{i}")).collect::<Vec<_>>()).await.unwrap();
    let got = drain(&queue, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 13);
    let (done, left): (Vec<_>, Vec<_>) = got.iter().partition(|m| m.body != "m7");
    queue.ack_many(&done.iter().map(|m| m.receipt.as_str()).collect::<Vec<_>>()).await.unwrap();
    queue.ack_many(&[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again: Vec<String> = drain(&queue, LONG).await.into_iter().map(|m| m.body).collect();
    assert_eq!(again, vec![left[0].body.clone()], "only the one not acknowledged comes back");
}

/// The ids three receivers draining 30 messages side by side got, in all.
pub async fn received_by_concurrent_receivers(queue: &Queue) -> Vec<String> {
    queue.send(&(0..30).map(|i| i.to_string()).collect::<Vec<_>>()).await.unwrap();
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { drain(&queue, LONG).await })
        })
        .collect();
    let mut ids = Vec::new();
    for receiver in receivers {
        ids.extend(receiver.await.unwrap().into_iter().map(|m| m.id));
    }
    ids
}

/// Concurrent receivers get every message. Not necessarily once: SQS standard queues
/// deliver at least once (moto hands a message to two concurrent receivers now and
/// then), which is why every consumer of a queue is idempotent. The embedded queue
/// does better, and its own test says so.
pub async fn concurrent_receivers_get_every_message(queue: Queue) {
    let ids = received_by_concurrent_receivers(&queue).await;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 30, "every message received: {ids:?}");
}

pub async fn a_message_never_acknowledged_goes_to_the_dead_letters_without_blocking_the_others(queue: Queue) {
    use crate::resources::MAX_RECEIVES;
    queue.send(&["poison".to_owned(), "good".to_owned()]).await.unwrap();
    let mut poison_receipts = 0;
    // Visible again at once: every receive is another delivery of the poison.
    for _ in 0..3 * MAX_RECEIVES {
        for message in queue.receive(10, Duration::ZERO).await.unwrap() {
            if message.body == "poison" {
                poison_receipts += 1;
            } else {
                queue.ack(&message.receipt).await.unwrap();
            }
        }
    }
    assert_eq!(poison_receipts, MAX_RECEIVES, "received as often as the redrive policy allows, no more");
    assert_eq!(queue.dead_letters().await.unwrap(), 1);
    queue.send(&["after".to_owned()]).await.unwrap();
    let after = drain(&queue, LONG).await;
    assert_eq!(after.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["after"], "the queue still flows");
}
