//! Push, don't poll (issue 21): the node queues polling work for a registration as it
//! stores envelopes of its channel, and the scheduled sweep reads only the channels
//! with unread messages, catching what a lost notification missed; the rare full sweep
//! finds a message at any registration's cursor.

use std::time::Duration;

use grid_core::channel::{Command, Reading};
use grid_core::{EpochMs, Wh};
use grid_tests::{TestGrid, channel};
use serde_json::json;

fn usage(start: u64) -> Command {
    let at = |ms: u64| EpochMs::parse(ms as i64).unwrap();
    Command::Usage(Reading { start: at(start), end: at(start + 1000), energy: Wh::new(5) })
}

async fn register(grid: &TestGrid, id: &str, secrets: &grid_core::channel::ChannelSecrets) {
    let body = json!({"itemType": "consumer", "root": secrets.root().as_str(),
                      "sideKey": secrets.access().side_key().expose()});
    grid.put(&format!("/registration/{id}"), &body).await.expect(201);
}

/// What the queue holds now, taken off it (as if each notification were lost).
async fn lose_the_notifications(grid: &TestGrid) -> usize {
    let mut lost = 0;
    loop {
        let messages = grid.stores.poll_work.receive(10, Duration::from_secs(60)).await.unwrap();
        if messages.is_empty() {
            return lost;
        }
        for message in messages {
            grid.stores.poll_work.ack(&message.receipt).await.unwrap();
            lost += 1;
        }
    }
}

async fn the_node_queues_polling_as_it_stores_and_the_sweep_catches_what_was_lost(grid: TestGrid) {
    let now = EpochMs::now().get() - 120_000;
    let poller = grid.poller();

    // Registering polls the channel at once; each stored envelope queues its registration.
    let first = channel(71, "SideKeyOfConsumer0071");
    grid.open_channel(&first).await;
    register(&grid, "consumer-0071", &first).await;
    grid.publish(&first, 1, &[usage(now), usage(now + 1000)]).await;
    let report = poller.drain(EpochMs::now()).await.unwrap();
    assert_eq!(report.stored, 2, "read without any scheduled run: {report:?}");
    assert_eq!(poller.sweep().await.unwrap().unread, 0, "nothing left unread");

    // A notification lost on the way, the message written 90 s ago: the sweep finds the
    // unread channel, and only it, and reports how far behind its reader is.
    let written = EpochMs::parse(EpochMs::now().get() as i64 - 90_000).unwrap();
    grid.stores.channels.raise_heads(&[(first.root().clone(), 4)], written).await.unwrap();
    grid.publish(&first, 3, &[usage(now + 2000)]).await;
    assert_eq!(lose_the_notifications(&grid).await, 1, "one work message per request");
    let swept = poller.sweep().await.unwrap();
    assert_eq!((swept.unread, swept.registrations, swept.marked_read), (1, 1, 0), "{swept:?}");
    assert!((90..120).contains(&swept.lag_seconds), "unread since it was written: {swept:?}");
    assert_eq!(swept.dead_letters, 0);
    assert_eq!(poller.drain(EpochMs::now()).await.unwrap().stored, 1);
    let swept = poller.sweep().await.unwrap();
    assert_eq!((swept.unread, swept.lag_seconds), (0, 0), "read to its head: {swept:?}");

    // A channel nobody has registered yet: marked read by the sweep, read when its
    // registration comes.
    let later = channel(72, "SideKeyOfConsumer0072");
    grid.open_channel(&later).await;
    grid.publish(&later, 1, &[usage(now)]).await;
    let swept = poller.sweep().await.unwrap();
    assert_eq!((swept.unread, swept.registrations, swept.marked_read), (1, 0, 1), "{swept:?}");
    assert_eq!(poller.sweep().await.unwrap().unread, 0);
    register(&grid, "consumer-0072", &later).await;
    assert_eq!(poller.drain(EpochMs::now()).await.unwrap().stored, 1, "registering polled it");

    // A removed registration's channel is read no more, and leaves the sweep.
    grid.delete(&format!("/registration/consumer-0071/{}", first.access().side_key().expose())).await.expect(200);
    grid.publish(&first, 4, &[usage(now + 3000)]).await;
    poller.drain(EpochMs::now()).await.unwrap();
    assert_eq!(poller.sweep().await.unwrap().unread, 0, "nobody reads a removed registration's channel");

    // A channel whose head says it was read when it was not (what the full sweep is
    // for): the sweep misses it; the full sweep finds it by its message at the cursor,
    // and queues only it.
    grid.publish(&later, 2, &[usage(now + 4000)]).await;
    assert_eq!(lose_the_notifications(&grid).await, 1);
    grid.stores.channels.read_up_to(later.root(), 3).await.unwrap();
    assert_eq!(poller.sweep().await.unwrap().unread, 0);
    let full = poller.dispatch().await.unwrap();
    assert_eq!((full.registrations, full.waiting, full.messages), (1, 1, 1), "{full:?}");
    assert_eq!(poller.drain(EpochMs::now()).await.unwrap().stored, 1);
    let idle = poller.dispatch().await.unwrap();
    assert_eq!((idle.registrations, idle.waiting, idle.messages), (1, 0, 0), "nothing waits: {idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_the_node_queues_polling_and_the_sweep_catches_what_was_lost() {
    the_node_queues_polling_as_it_stores_and_the_sweep_catches_what_was_lost(TestGrid::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_the_node_queues_polling_and_the_sweep_catches_what_was_lost() {
    the_node_queues_polling_as_it_stores_and_the_sweep_catches_what_was_lost(TestGrid::start_on_moto(&[]).await).await;
}
