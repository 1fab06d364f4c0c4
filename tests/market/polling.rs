//! Polling: what the devices published is stored exactly once whatever the delivery
//! (the same work twice, two workers on one channel, a poll cut off before moving its
//! cursor), commands a party may not send are rejected and recorded, and a malformed
//! work message ends in the dead letters without blocking the good work.

use grid_core::channel::Command;
use grid_core::{ChannelCursor, EpochMs, RegistrationId, WorkMessage};
use grid_tests::TestGrid;
use serde_json::json;

use super::helpers::{CONFIG, first_period, parties, publish, reading, traded_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_work_delivered_twice_and_two_workers_on_one_channel_message_store_each_reading_once() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (producers, consumers, _) = traded_once(&grid).await;
    let ids: Vec<RegistrationId> = producers.iter().chain(&consumers).map(|p| p.id.clone()).collect();
    let work = WorkMessage::new(ids.clone()).to_json();
    let now = EpochMs::now();
    let (one, two) = (grid.poller(), grid.poller());
    let (a, b) = tokio::join!(one.work(&work, now), two.work(&work, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.stored + b.stored, 11, "{a:?} {b:?}");
    let c = grid.poller().work(&work, now).await.unwrap();
    assert_eq!((c.stored, c.messages), (0, 0), "the cursor moved past everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_cut_off_before_moving_the_cursor_stores_nothing_twice() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (producers, _, _) = traded_once(&grid).await;
    let producer = &producers[0].id;
    let first = grid.poller().poll(producer, EpochMs::now()).await.unwrap();
    assert_eq!(first.stored, 3);
    // As if the worker died after storing but before moving the cursor: put it back.
    let current = grid.stores.registrations.get(producer).await.unwrap().unwrap();
    let mut rewound = current.value.clone();
    rewound.cursor = ChannelCursor::default();
    grid.stores.registrations.replace(&rewound, current.version).await.unwrap();
    let again = grid.poller().poll(producer, EpochMs::now()).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_a_party_may_not_send_are_rejected_and_recorded() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (mut producers, mut consumers) = parties(&grid).await;
    let start = first_period();
    publish(&grid, &mut producers[0], Command::Usage(reading(start, 10))).await;
    publish(&grid, &mut producers[0], Command::SourceOutput(reading(start, 10))).await;
    let far_future = EpochMs::now().get() + 3_600_000;
    publish(&grid, &mut consumers[0], Command::Usage(reading(far_future, 10))).await;
    let report = grid.poll().await;
    assert_eq!((report.stored, report.rejected), (0, 3), "{report:?}");
    let rejected = grid.stores.rejections.for_registration(&producers[0].id, 10).await.unwrap();
    let reasons: Vec<(&str, &str)> = rejected.iter().map(|r| (r.reason.as_str(), r.message.as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("not-allowed", "a producer's output needs producerPrice and paymentIdOrAddress"),
            ("not-allowed", "a producer does not send usage")
        ]
    );
}

/// Delivers `poll-work` as Lambda's SQS trigger does, until the queue is empty: every
/// message goes to a worker, the handled ones are deleted, the others come back (at
/// once here). Returns the readings stored.
async fn deliver_poll_work(grid: &TestGrid) -> u64 {
    let poller = grid.poller();
    let mut stored = 0;
    for _ in 0..20 {
        let messages = grid.stores.poll_work.receive(10, std::time::Duration::ZERO).await.unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            if let Ok(report) = poller.work(&message.body, EpochMs::now()).await {
                stored += report.stored;
                grid.stores.poll_work.ack(&message.receipt).await.unwrap();
            }
        }
    }
    stored
}

async fn a_malformed_work_message_ends_in_the_dead_letters_and_blocks_nothing(grid: TestGrid) {
    let (producers, consumers, _) = traded_once(&grid).await;
    let ids: Vec<RegistrationId> = producers.iter().chain(&consumers).map(|p| p.id.clone()).collect();
    let poison = r#"{"hash":"not a hash","items":"not a list"}"#.to_owned();
    grid.stores.poll_work.send(&[poison, WorkMessage::new(ids).to_json()]).await.unwrap();
    assert_eq!(deliver_poll_work(&grid).await, 11, "the good work was done");
    assert_eq!(grid.stores.poll_work.dead_letters().await.unwrap(), 1);
    // The sweep counts the dead letters; the portal shows its count.
    grid.poller().sweep().await.unwrap();
    let overview =
        grid.send("GET", "/portal/api/overview", None, &[("authorization", "Bearer portal-token-for-tests")]).await;
    assert_eq!((overview.status, &overview.body["deadLetters"]), (200, &json!(1)), "the operator sees it");
}

const WITH_PORTAL: &[(&str, &str)] = &[("SETTLEMENT_PERIOD_SECS", "60"), ("PORTAL_TOKEN", "portal-token-for-tests")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_malformed_work_message_ends_in_the_dead_letters_and_blocks_nothing() {
    a_malformed_work_message_ends_in_the_dead_letters_and_blocks_nothing(TestGrid::start_with(WITH_PORTAL).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqs_a_malformed_work_message_ends_in_the_dead_letters_and_blocks_nothing() {
    a_malformed_work_message_ends_in_the_dead_letters_and_blocks_nothing(TestGrid::start_on_moto(WITH_PORTAL).await)
        .await;
}
