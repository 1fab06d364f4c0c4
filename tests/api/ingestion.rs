//! Push, don't poll: the node queues polling work for a registration as it
//! stores envelopes of its channel, and the scheduled sweep reads only the channels
//! with unread messages, catching what a lost notification missed; the rare full sweep
//! finds a message at any registration's cursor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grid_core::channel::{Command, Envelope, MessageAddress, Reading, UnclaimedChannels, random_nonce};
use grid_core::{ChannelRoot, EpochMs, RegistrationId, Wh};
use grid_store::{ChannelMessageStore, Claim, Received, StoreError, UnreadChannel};
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
    grid.receive_unannounced(&first, 3, &usage(now + 2000), written).await;
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
    grid.stores.channel_messages.read_up_to(later.root(), 3).await.unwrap();
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

/// Work messages on the queue now (left there).
async fn queued(grid: &TestGrid) -> usize {
    let messages = grid.stores.poll_work.receive(10, Duration::ZERO).await.unwrap();
    messages.len()
}

async fn a_channel_that_is_unread_already_is_not_queued_again(grid: TestGrid) {
    let now = EpochMs::now().get() - 120_000;
    let secrets = channel(73, "SideKeyOfConsumer0073");
    grid.open_channel(&secrets).await;
    register(&grid, "consumer-0073", &secrets).await;
    grid.poller().drain(EpochMs::now()).await.unwrap();

    // Five readings, one request each, before anyone polls: the first turns the
    // channel unread and queues its registration; the other four find it unread.
    let readings: Vec<Command> = (0..5).map(|i| usage(now + i * 1000)).collect();
    grid.publish(&secrets, 1, &readings).await;
    assert_eq!(queued(&grid).await, 1, "one work message for five envelopes");
    let report = grid.poller().drain(EpochMs::now()).await.unwrap();
    assert_eq!((report.registrations, report.stored), (1, 5), "{report:?}");

    // Read to its head: the next reading queues it again.
    grid.publish(&secrets, 6, &[usage(now + 9000)]).await;
    assert_eq!(queued(&grid).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_channel_that_is_unread_already_is_not_queued_again() {
    a_channel_that_is_unread_already_is_not_queued_again(TestGrid::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_channel_that_is_unread_already_is_not_queued_again() {
    a_channel_that_is_unread_already_is_not_queued_again(TestGrid::start_on_moto(&[]).await).await;
}

/// The channels, with one more envelope of `late` received (unannounced) just before
/// the first time the poller marks it read: as if the device published while the
/// poller read.
struct PublishedWhileRead {
    inner: Arc<dyn ChannelMessageStore>,
    late: Mutex<Option<(MessageAddress, Envelope)>>,
}

#[async_trait::async_trait]
impl ChannelMessageStore for PublishedWhileRead {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<(), StoreError> {
        self.inner.attach(address, envelope).await
    }
    async fn receive(
        &self,
        messages: &[(MessageAddress, Envelope)],
        now: EpochMs,
        unclaimed: UnclaimedChannels,
    ) -> Result<Vec<Received>, StoreError> {
        self.inner.receive(messages, now, unclaimed).await
    }
    async fn claim(&self, root: &ChannelRoot, owner: &RegistrationId, most: Option<u64>) -> Result<Claim, StoreError> {
        self.inner.claim(root, owner, most).await
    }
    async fn release(&self, root: &ChannelRoot, owner: &RegistrationId, now: EpochMs) -> Result<bool, StoreError> {
        self.inner.release(root, owner, now).await
    }
    async fn forget_expired(&self, now: EpochMs, limit: usize) -> Result<usize, StoreError> {
        self.inner.forget_expired(now, limit).await
    }
    async fn get(&self, address: &MessageAddress) -> Result<Option<Envelope>, StoreError> {
        self.inner.get(address).await
    }
    async fn get_many(&self, addresses: &[MessageAddress]) -> Result<HashMap<MessageAddress, Envelope>, StoreError> {
        self.inner.get_many(addresses).await
    }
    async fn unread(&self, after: Option<&ChannelRoot>, limit: usize) -> Result<Vec<UnreadChannel>, StoreError> {
        self.inner.unread(after, limit).await
    }
    async fn read_up_to(&self, root: &ChannelRoot, next_index: u64) -> Result<bool, StoreError> {
        let late = self.late.lock().unwrap().take();
        if let Some(late) = late {
            let received = self.inner.receive(&[late], EpochMs::now(), UnclaimedChannels::DEFAULT).await?;
            assert_eq!(received, [Received::Stored { turned_unread: false }], "the channel was unread: nobody is told");
        }
        self.inner.read_up_to(root, next_index).await
    }
}

async fn what_is_published_while_a_channel_is_read_is_read_in_the_same_poll(grid: TestGrid) {
    let now = EpochMs::now().get() - 120_000;
    let secrets = channel(74, "SideKeyOfConsumer0074");
    grid.open_channel(&secrets).await;
    register(&grid, "consumer-0074", &secrets).await;
    grid.publish(&secrets, 1, &[usage(now)]).await;
    let late = secrets.seal(2, usage(now + 1000).to_json().as_bytes(), random_nonce()).unwrap();
    let mut poller = grid.poller();
    poller.stores.channel_messages = Arc::new(PublishedWhileRead {
        inner: grid.stores.channel_messages.clone(),
        late: Mutex::new(Some((secrets.access().address(2), late))),
    });

    let report = poller.drain(EpochMs::now()).await.unwrap();

    assert_eq!(report.stored, 2, "both readings, the late one without a notification: {report:?}");
    assert_eq!(grid.poller().sweep().await.unwrap().unread, 0, "read to its head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_what_is_published_while_a_channel_is_read_is_read_in_the_same_poll() {
    what_is_published_while_a_channel_is_read_is_read_in_the_same_poll(TestGrid::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_what_is_published_while_a_channel_is_read_is_read_in_the_same_poll() {
    what_is_published_while_a_channel_is_read_is_read_in_the_same_poll(TestGrid::start_on_moto(&[]).await).await;
}

/// Found by an attacker: a channel whose device skipped indexes was polled by every sweep
/// and its poll lag grew for good (the PollLag alarm would fire forever). The node
/// refuses an index far past the head; within the window, a gap leaves the channel
/// unread but stalled: not queued, not counted in the lag, read once the gap is filled.
async fn a_channel_with_a_gap_at_its_cursor_is_stalled_not_polled_and_not_lagging(grid: TestGrid) {
    let now = EpochMs::now().get() - 120_000;
    let poller = grid.poller();
    let secrets = channel(73, "SideKeyOfConsumer0073");
    grid.open_channel(&secrets).await;
    register(&grid, "consumer-0073", &secrets).await;
    poller.drain(EpochMs::now()).await.unwrap();

    // Through the node's API: far past the head is refused, and stores nothing.
    let far = (1u64 << 53) - 1;
    let envelope = secrets.seal(far, usage(now).to_json().as_bytes(), random_nonce()).unwrap();
    let refused = grid
        .send_bytes(
            "PUT",
            &format!("/channels/messages/{}", secrets.access().address(far)),
            envelope.to_json().into_bytes(),
        )
        .await
        .expect(400);
    assert!(refused.message().contains("too far past its channel's head"), "{}", refused.message());

    // Index 5 with 1 to 4 missing, written 90 s ago: unread, but nothing at the cursor.
    let written = EpochMs::parse(EpochMs::now().get() as i64 - 90_000).unwrap();
    grid.receive_unannounced(&secrets, 5, &usage(now + 5000), written).await;
    lose_the_notifications(&grid).await;
    let swept = poller.sweep().await.unwrap();
    assert_eq!((swept.unread, swept.registrations, swept.stalled, swept.lag_seconds), (1, 0, 1, 0), "{swept:?}");
    assert_eq!(queued(&grid).await, 0, "nothing to poll");

    // The device fills its gap: the next sweep polls it and everything is read.
    grid.publish(&secrets, 1, &[usage(now + 1000), usage(now + 2000), usage(now + 3000), usage(now + 4000)]).await;
    lose_the_notifications(&grid).await;
    let swept = poller.sweep().await.unwrap();
    assert_eq!((swept.registrations, swept.stalled), (1, 0), "{swept:?}");
    assert_eq!(poller.drain(EpochMs::now()).await.unwrap().stored, 5);
    assert_eq!(poller.sweep().await.unwrap().unread, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_channel_with_a_gap_is_stalled_not_polled_and_not_lagging() {
    a_channel_with_a_gap_at_its_cursor_is_stalled_not_polled_and_not_lagging(TestGrid::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_channel_with_a_gap_is_stalled_not_polled_and_not_lagging() {
    a_channel_with_a_gap_at_its_cursor_is_stalled_not_polled_and_not_lagging(TestGrid::start_on_moto(&[]).await).await;
}

/// Found by an attacker: every message became a reading, with no bound per period, so one
/// device could fill the readings table. A registration stores at most
/// `MAX_READINGS_PER_PERIOD` for a period; the rest are refused, each with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_stores_so_many_readings_for_a_period_and_the_rest_are_refused() {
    use grid_core::intake::MAX_READINGS_PER_PERIOD;

    let grid = TestGrid::start().await;
    let poller = grid.poller();
    let secrets = channel(74, "SideKeyOfConsumer0074");
    grid.open_channel(&secrets).await;
    register(&grid, "consumer-0074", &secrets).await;
    // A period's start, so every reading below lies in it (readings of 1 ms steps).
    let period = 900_000;
    let start = (EpochMs::now().get() - 2 * period) / period * period;
    let extra = 5;
    let readings: Vec<Command> = (0..u64::from(MAX_READINGS_PER_PERIOD) + extra)
        .map(|i| {
            let at = |ms: u64| EpochMs::parse(ms as i64).unwrap();
            Command::Usage(Reading { start: at(start + i), end: at(start + i + 1), energy: Wh::new(1) })
        })
        .collect();
    grid.publish(&secrets, 1, &readings).await;
    let report = poller.drain(EpochMs::now()).await.unwrap();
    assert_eq!((report.stored, report.rejected), (u64::from(MAX_READINGS_PER_PERIOD), extra), "{report:?}");
    let refused = grid.stores.rejections.recent(10).await.unwrap();
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().all(|r| r.message.contains("readings one registration may store")), "{refused:?}");
    assert!(refused.iter().all(|r| r.reason == grid_core::intake::RejectReason::TooMany), "{refused:?}");
    // The next period starts again.
    let next = Command::Usage(Reading {
        start: EpochMs::parse((start + period) as i64).unwrap(),
        end: EpochMs::parse((start + period + 1) as i64).unwrap(),
        energy: Wh::new(1),
    });
    grid.publish(&secrets, u64::from(MAX_READINGS_PER_PERIOD) + extra + 1, &[next]).await;
    assert_eq!(poller.drain(EpochMs::now()).await.unwrap().stored, 1);
}

/// One envelope at `index` of `secrets`, as a batch-put message.
fn message_at(secrets: &grid_core::channel::ChannelSecrets, index: u64, command: &Command) -> serde_json::Value {
    let envelope = secrets.seal(index, command.to_json().as_bytes(), random_nonce()).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();
    json!({"address": secrets.access().address(index).to_string(), "envelope": envelope})
}

/// Found by an attacker: a `batch-put` of 100 messages for 100 roots nobody registered was
/// stored, and kept for good (≈ 260 GB an hour at 16 KB). Now a channel nobody claimed
/// takes its first 16 indexes, the node opens `GRID_UNCLAIMED_CHANNELS_PER_DAY` of them a
/// day (507 past that), and the sweep deletes them a day after their first envelope; a
/// registered channel, and a source's channel its producer claimed, are bounded by none
/// of it.
async fn channels_nobody_claimed_are_bounded_and_expire_and_claimed_ones_are_not(grid: TestGrid) {
    let now = EpochMs::now().get() - 120_000;
    let key = [("X-Side-Key", "SideKeyOfProducer0075")];
    // Before the flood: a consumer registered, and a producer that claims its source's channel.
    let consumer = channel(75, "SideKeyOfConsumer0075");
    grid.open_channel(&consumer).await;
    register(&grid, "consumer-0075", &consumer).await;
    let producer = channel(76, "SideKeyOfProducer0075");
    grid.open_channel(&producer).await;
    let body = json!({"itemType": "producer", "root": producer.root().as_str(), "sideKey": key[0].1});
    grid.put("/registration/producer-0075", &body).await.expect(201);
    let source = channel(77, "SideKeyOfTheSource0077");
    let claim = format!("/registration/producer-0075/sources/{}", source.root());
    grid.send("PUT", &claim, None, &key).await.expect(201);
    grid.send("PUT", &claim, None, &key).await.expect(200);

    // A stranger's roots: the day's three open (the hellos above were claimed with their
    // registrations and count for nothing), the rest are refused.
    let strangers: Vec<_> = (80..86).map(|seed| channel(seed, "SideKeyOfAStranger0080")).collect();
    let messages: Vec<_> = strangers[..5].iter().map(|s| message_at(s, 0, &Command::Hello)).collect();
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&json!({"messages": messages})), &[]).await;
    let reply = reply.expect(200);
    assert_eq!(reply.body["stored"].as_array().unwrap().len(), 3, "{}", reply.body);
    assert_eq!(reply.body["full"].as_array().unwrap().len(), 2, "{}", reply.body);
    let opened = strangers.iter().find(|s| reply.body["stored"][0] == s.access().address(0).to_string()).unwrap();
    let late = &strangers[5];
    let refused = json!({"messages": [message_at(late, 0, &Command::Hello)]});
    let refused = grid.send("POST", "/channels/messages/batch-put", Some(&refused), &[]).await;
    assert_eq!(refused.expect(200).body["full"].as_array().unwrap().len(), 1);
    let one = late.seal(0, Command::Hello.to_json().as_bytes(), random_nonce()).unwrap();
    let full = grid
        .send_bytes("PUT", &format!("/channels/messages/{}", late.access().address(0)), one.to_json().into_bytes())
        .await
        .expect(507);
    assert!(full.message().contains("nobody has claimed"), "{}", full.message());
    // An open unclaimed channel takes its first 16 indexes and no more.
    let first = json!({"messages": (1..17).map(|i| message_at(opened, i, &Command::Hello)).collect::<Vec<_>>()});
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&first), &[]).await.expect(200);
    let counts = (reply.body["stored"].as_array().unwrap().len(), reply.body["tooFar"].as_array().unwrap().len());
    assert_eq!(counts, (15, 1), "{}", reply.body);

    // The registered consumer and the claimed source write on, past 16, full day or not.
    let readings: Vec<Command> = (0..20).map(|i| usage(now + i * 1000)).collect();
    assert_eq!(grid.publish(&consumer, 1, &readings).await, 21);
    grid.open_channel(&source).await;
    assert_eq!(grid.publish(&source, 1, &readings).await, 21);

    // Who may claim: the producer with its key, for a channel not otherwise held.
    grid.send("PUT", &claim, None, &[]).await.expect(401);
    grid.send("PUT", &claim, None, &[("X-Side-Key", "SomebodyElsesSideKey999")]).await.expect(403);
    let own = format!("/registration/producer-0075/sources/{}", producer.root());
    grid.send("PUT", &own, None, &key).await.expect(409);
    let consumers = format!("/registration/producer-0075/sources/{}", consumer.root());
    grid.send("PUT", &consumers, None, &key).await.expect(409);
    let as_consumer = format!("/registration/consumer-0075/sources/{}", late.root());
    grid.send("PUT", &as_consumer, None, &[("X-Side-Key", "SideKeyOfConsumer0075")]).await.expect(409);
    grid.send("DELETE", &claim, None, &key).await.expect(200);
    grid.send("DELETE", &claim, None, &key).await.expect(404);

    // A day after its first envelope, an unclaimed channel goes with its envelopes.
    let stale = channel(86, "SideKeyOfAStranger0086");
    let two_days_ago = EpochMs::parse(EpochMs::now().get() as i64 - 2 * 86_400_000).unwrap();
    grid.receive_unannounced(&stale, 0, &Command::Hello, two_days_ago).await;
    let swept = grid.poller().sweep().await.unwrap();
    assert_eq!(swept.expired, 1, "{swept:?}");
    grid.get(&format!("/channels/messages/{}", stale.access().address(0))).await.expect(404);
    grid.get(&format!("/channels/messages/{}", consumer.access().address(20))).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_channels_nobody_claimed_are_bounded_and_expire() {
    let grid = TestGrid::start_with(&[("GRID_UNCLAIMED_CHANNELS_PER_DAY", "3")]).await;
    channels_nobody_claimed_are_bounded_and_expire_and_claimed_ones_are_not(grid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_channels_nobody_claimed_are_bounded_and_expire() {
    let grid = TestGrid::start_on_moto(&[("GRID_UNCLAIMED_CHANNELS_PER_DAY", "3")]).await;
    channels_nobody_claimed_are_bounded_and_expire_and_claimed_ones_are_not(grid).await;
}
