//! The store contract, run against the DynamoDB, S3 and SQS adapters on moto.

use std::sync::Arc;

use grid_store::aws::{DynamoChannelMessageStore, DynamoRegistrationStore, S3ItemStore, SqsMessageQueue};
use grid_store::contract::moto::Moto;
use grid_store::{ChannelMessageStore, ItemStore, MessageQueue, RegistrationStore};

async fn registrations() -> (Moto, Arc<dyn RegistrationStore>) {
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    (moto, Arc::new(DynamoRegistrationStore::new(&clients, names.registrations_table)))
}

async fn items() -> (Moto, Arc<dyn ItemStore>) {
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    (moto, Arc::new(S3ItemStore::new(&clients, names.bucket)))
}

async fn channel_message_stores() -> (Moto, Arc<dyn ChannelMessageStore>) {
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    (moto, Arc::new(DynamoChannelMessageStore::new(&clients, names.channel_messages_table)))
}

async fn queues() -> (Moto, Arc<dyn MessageQueue>) {
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    (moto, Arc::new(SqsMessageQueue::new(&clients, names.poll_work_queue_url, names.poll_work_dead_letter_url)))
}

mod registration_store {
    grid_store::registration_store_contract!(super::registrations);
}

mod item_store {
    grid_store::item_store_contract!(super::items);
}

mod channel_messages {
    grid_store::channel_message_store_contract!(super::channel_message_stores);
}

mod message_queue {
    grid_store::message_queue_contract!(super::queues);
}

async fn market() -> (Moto, grid_store::contract::market::MarketStores) {
    use grid_store::aws::{DynamoAccountStore, DynamoReadingStore, DynamoSettlementStore};
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    let stores = grid_store::contract::market::MarketStores {
        readings: Arc::new(DynamoReadingStore::new(&clients, &names.readings_table, &names.settlements_table, 4)),
        settlements: Arc::new(DynamoSettlementStore::new(&clients, &names.settlements_table)),
        accounts: Arc::new(DynamoAccountStore::new(&clients, &names.accounts_table, &names.batches_table)),
        leases: Arc::new(grid_store::aws::DynamoLeaseStore::new(&clients, &names.leases_table)),
        heartbeats: Arc::new(grid_store::aws::DynamoHeartbeatLog::new(&clients, &names.leases_table)),
        rejections: Arc::new(grid_store::aws::DynamoRejectionLog::new(&clients, &names.rejections_table)),
    };
    (moto, stores)
}

mod market {
    grid_store::market_contract!(super::market);
}

/// The portal counts dead letters on every overview: one request a queue.
#[tokio::test]
async fn counting_dead_letters_is_one_request_to_the_dead_letter_queue() {
    use grid_store::aws::{AwsClients, RequestCounter};
    let moto = Moto::start();
    let (_, names) = moto.fresh_resources().await;
    let counter = RequestCounter::default();
    let clients = AwsClients::counted(&moto.sdk_config(), &counter);
    let queue = SqsMessageQueue::new(&clients, names.poll_work_queue_url, names.poll_work_dead_letter_url);

    assert_eq!(queue.dead_letters().await.unwrap(), 0);
    let requests: Vec<_> = counter.take().into_iter().map(|((_, op), c)| (op, c.requests)).collect();
    assert_eq!(requests, [("GetQueueAttributes".to_owned(), 1)]);
}

/// The portal's token, as the operator stores it (docs/deploy.md): a SecureString, read
/// decrypted; a missing one is an error, never an empty token.
#[tokio::test]
async fn a_secure_parameter_is_read_decrypted_and_a_missing_one_is_an_error() {
    use aws_sdk_ssm::types::ParameterType;
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    let name = format!("/{}/portal-token", names.registrations_table);
    clients
        .ssm
        .put_parameter()
        .name(&name)
        .r#type(ParameterType::SecureString)
        .value("a-token-of-sixteen-or-more")
        .send()
        .await
        .unwrap();

    assert_eq!(clients.secure_parameter(&name).await.unwrap(), "a-token-of-sixteen-or-more");
    let missing = clients.secure_parameter(&format!("{name}-missing")).await.unwrap_err();
    assert!(matches!(missing, grid_store::StoreError::Backend(_)), "{missing:?}");
}

async fn sign_ins() -> (Moto, Arc<dyn grid_store::SignInLog>) {
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    (moto, Arc::new(grid_store::aws::DynamoSignInLog::new(&clients, names.leases_table)))
}

mod sign_in_log {
    grid_store::sign_in_log_contract!(super::sign_ins);
}

/// The benchmarks' bulk loader writes what `insert` would: the registration, its
/// channel root's binding and its folded id's (so the same id in another case is
/// refused afterwards).
#[tokio::test]
async fn registrations_loaded_in_bulk_read_back_as_inserted_ones_do() {
    use grid_core::{ChannelCredentials, ChannelRoot, EpochMs, ItemType, Registration, RegistrationId, SideKey};
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    let store = DynamoRegistrationStore::new(&clients, names.registrations_table);
    let side_key = SideKey::parse("BulkLoadedSideKey000").unwrap();
    let loaded: Vec<Registration> = (1..=30)
        .map(|n| {
            let root = ChannelRoot::parse(format!("{n:064x}")).unwrap();
            let credentials = ChannelCredentials { root, side_key: side_key.clone() };
            let id = RegistrationId::parse(format!("Bulk-{n:04}")).unwrap();
            Registration::new(id, ItemType::Consumer, None, Some(credentials), EpochMs::now())
        })
        .collect();
    store.load_unchecked(&loaded).await.unwrap();
    for registration in &loaded {
        let got = store.get(&registration.id).await.unwrap().unwrap();
        assert_eq!((&got.value, got.version), (registration, 1));
        let root = &registration.channel.as_ref().unwrap().root;
        assert_eq!(store.channel_owner(root).await.unwrap().as_ref(), Some(&registration.id));
    }
    let same_in_lower_case =
        Registration::new(RegistrationId::parse("bulk-0001").unwrap(), ItemType::Consumer, None, None, EpochMs::now());
    assert!(store.insert(&same_in_lower_case).await.is_err(), "the folded id is bound");
}

/// A heartbeat item as the jobs wrote it before their reports were typed (the settlement's
/// through `json!`, keys sorted) reads as the typed report.
#[tokio::test]
async fn a_heartbeat_item_written_as_untyped_json_reads_as_its_jobs_report() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use grid_store::{HeartbeatLog, Job, JobReport};
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    let report = r#"{"settled":[{"exported":0,"fee":8,"imported":266,"matched":2734,"period":1795860000000,"price":130,"revenue":355}]}"#;
    clients
        .dynamodb
        .put_item()
        .table_name(&names.leases_table)
        .item("job", AttributeValue::S("heartbeat#settlement".to_owned()))
        .item("at", AttributeValue::N("1795860060000".to_owned()))
        .item("report", AttributeValue::S(report.to_owned()))
        .send()
        .await
        .unwrap();
    let log = grid_store::aws::DynamoHeartbeatLog::new(&clients, &names.leases_table);
    let beat = log.last(Job::Settlement).await.unwrap().unwrap();
    assert_eq!(beat.at.get(), 1_795_860_060_000);
    let JobReport::Settlement(settled) = beat.report else { panic!("a settlement's report: {beat:?}") };
    let [period] = settled.settled.as_slice() else { panic!("one period: {settled:?}") };
    assert_eq!((period.period.get(), period.price.get(), period.matched.get()), (1_795_860_000_000, 130, 2734));
    assert_eq!(
        (period.imported.get(), period.exported.get(), period.revenue.get(), period.fee.get()),
        (266, 0, 355, 8)
    );
}

/// A rejection recorded before its reason was stored (the message only) reads the reason
/// its message tells.
#[tokio::test]
async fn a_rejection_item_without_its_reason_reads_the_reason_its_message_tells() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use grid_core::intake::RejectReason;
    use grid_store::RejectionLog;
    let moto = Moto::start();
    let (clients, names) = moto.fresh_resources().await;
    clients
        .dynamodb
        .put_item()
        .table_name(&names.rejections_table)
        .item("registration", AttributeValue::S("consumer-0001".to_owned()))
        .item("index", AttributeValue::N("3".to_owned()))
        .item("address", AttributeValue::S("ab".repeat(32)))
        .item("reason", AttributeValue::S("the reading starts in the future (1795861000000ms)".to_owned()))
        .item("at", AttributeValue::N("1795860060000".to_owned()))
        .item("log", AttributeValue::S("rejection".to_owned()))
        .send()
        .await
        .unwrap();
    let log = grid_store::aws::DynamoRejectionLog::new(&clients, &names.rejections_table);
    let [rejected] = log.recent(5).await.unwrap().try_into().unwrap();
    assert_eq!(rejected.reason, RejectReason::InTheFuture);
    assert_eq!(rejected.message, "the reading starts in the future (1795861000000ms)");
}

/// Throttles, server errors and lost answers, injected at random at the connection, are
/// retried by the SDK's own retry: every registration is written once and reads back
/// exactly (a transaction whose answer was lost is answered from its token on the retry),
/// and the same seed injects the same faults.
#[tokio::test]
async fn throttled_and_failed_requests_are_retried_by_the_sdk_and_each_write_lands_once() {
    use grid_core::{ChannelCredentials, ChannelRoot, EpochMs, ItemType, Registration, RegistrationId, SideKey};
    use grid_store::aws::AwsClients;
    use grid_store::faults::{ChaosPlan, Weather};
    const SEED: u64 = 20_261_205;
    let moto = Moto::start();
    let (_, names) = moto.fresh_resources().await;
    let weather = Weather { throttles: 300, server_errors: 100, lost_answers: 100, ..Weather::default() };
    let chaos = ChaosPlan::new(SEED, weather);
    let clients = AwsClients::with_chaos(&moto.sdk_config(), &chaos);
    let store = DynamoRegistrationStore::new(&clients, names.registrations_table);
    let side_key = SideKey::parse("ChaoticSideKey000000").unwrap();
    let registrations: Vec<Registration> = (1..=20)
        .map(|n| {
            let root = ChannelRoot::parse(format!("{:064x}", 0xC000 + n)).unwrap();
            let credentials = ChannelCredentials { root, side_key: side_key.clone() };
            let id = RegistrationId::parse(format!("chaos-{n:04}")).unwrap();
            Registration::new(id, ItemType::Producer, None, Some(credentials), EpochMs::now())
        })
        .collect();
    for registration in &registrations {
        store.insert(registration).await.unwrap();
    }
    let while_inserting = chaos.tally();
    for registration in &registrations {
        let got = store.get(&registration.id).await.unwrap().unwrap();
        assert_eq!((&got.value, got.version), (registration, 1), "written once, as sent");
        let root = &registration.channel.as_ref().unwrap().root;
        assert_eq!(store.channel_owner(root).await.unwrap().as_ref(), Some(&registration.id));
    }
    let tally = chaos.tally();
    assert!(
        tally.throttles >= 5 && tally.server_errors >= 2 && tally.lost_answers >= 2,
        "faults were injected: {tally:?}"
    );

    let again = ChaosPlan::new(SEED, weather);
    let replayed = AwsClients::with_chaos(&moto.sdk_config(), &again);
    let (_, names) = moto.fresh_resources().await;
    let store = DynamoRegistrationStore::new(&replayed, names.registrations_table);
    for registration in &registrations {
        store.insert(registration).await.unwrap();
    }
    assert_eq!(again.tally(), while_inserting, "the same seed, the same faults");
}

/// A lost answer is "maybe written": the service did the write, its answer was lost and
/// the SDK sent the same request again. Each test below loses the answer to exactly one
/// single-item write and expects what the write gives without a fault, in its answer and
/// in what is stored (docs/decisions.md, 2026-12-05).
mod lost_answers {
    use grid_core::books::PaymentClaim;
    use grid_core::channel::{Envelope, MessageAddress, UnclaimedChannels};
    use grid_core::{BatchId, ChannelRoot, EpochMs, Iota, ItemType, Registration, RegistrationId};
    use grid_store::aws::{AwsClients, DynamoChannelMessageStore};
    use grid_store::contract::moto::Moto;
    use grid_store::faults::ChaosPlan;
    use grid_store::resources::AwsNames;
    use grid_store::{ChannelMessageStore, Claim, ConflictKind, Received};

    /// Fresh resources, and clients whose requests pass a calm plan: it loses only the
    /// answers a test tells it to lose.
    async fn calm() -> (Moto, ChaosPlan, AwsClients, AwsNames) {
        let moto = Moto::start();
        let (_, names) = moto.fresh_resources().await;
        let chaos = ChaosPlan::calm();
        let clients = AwsClients::with_chaos(&moto.sdk_config(), &chaos);
        (moto, chaos, clients, names)
    }

    async fn channels() -> (Moto, ChaosPlan, DynamoChannelMessageStore) {
        let (moto, chaos, clients, names) = calm().await;
        (moto, chaos, DynamoChannelMessageStore::new(&clients, names.channel_messages_table))
    }

    /// The accounts over a calm plan, and a payment claim of `name`'s for `batch`.
    async fn claim(name: &str, batch: &str) -> (Moto, ChaosPlan, grid_store::aws::DynamoAccountStore, PaymentClaim) {
        let (moto, chaos, clients, names) = calm().await;
        let store = grid_store::aws::DynamoAccountStore::new(&clients, names.accounts_table, names.batches_table);
        let claim = PaymentClaim {
            registration: id(name),
            batch_id: BatchId::parse(batch).unwrap(),
            amount: Iota::new(7),
            channel_index: 3,
            claimed: EpochMs::parse(1_000).unwrap(),
        };
        (moto, chaos, store, claim)
    }

    /// A channel's root and its first `count` envelopes, sealed.
    fn channel(seed: u8, count: u64) -> (ChannelRoot, Vec<(MessageAddress, Envelope)>) {
        let (secrets, messages) = grid_store::contract::channel_messages::channel(seed, count);
        (secrets.access().root().clone(), messages)
    }

    fn id(name: &str) -> RegistrationId {
        RegistrationId::parse(name).unwrap()
    }

    #[tokio::test]
    async fn a_lost_answer_to_attaching_an_envelope_is_not_a_conflict() {
        let (_moto, chaos, store) = channels().await;
        let (_, messages) = channel(60, 1);
        let (address, envelope) = &messages[0];
        chaos.lose_next_answer("PutItem");
        store.attach(address, envelope).await.unwrap();
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(store.get(address).await.unwrap().as_ref(), Some(envelope));
        let again = store.attach(address, envelope).await.unwrap_err();
        assert!(again.is_conflict(ConflictKind::Exists), "still write-once: {again:?}");
    }

    #[tokio::test]
    async fn a_lost_answer_to_opening_an_unclaimed_channel_opens_it_and_counts_it_once() {
        let (_moto, chaos, store) = channels().await;
        let one = UnclaimedChannels::new(1).unwrap();
        let now = EpochMs::now();
        let ((_, first), (_, second)) = (channel(61, 1), channel(62, 1));
        chaos.lose_next_answer("PutItem");
        let received = store.receive(&first, now, one).await.unwrap();
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(received, [Received::Stored { turned_unread: true }]);
        assert_eq!(store.get(&first[0].0).await.unwrap().as_ref(), Some(&first[0].1));
        assert_eq!(store.receive(&second, now, one).await.unwrap(), [Received::Full], "the day's one is taken");
    }

    #[tokio::test]
    async fn a_lost_answer_to_raising_a_head_still_turns_the_channel_unread() {
        let (_moto, chaos, store) = channels().await;
        let now = EpochMs::now();
        let (root, messages) = channel(69, 2);
        store.receive(&messages[..1], now, UnclaimedChannels::DEFAULT).await.unwrap();
        assert!(!store.read_up_to(&root, 1).await.unwrap(), "read to its head");
        // Receiving the next envelope raises the head first.
        chaos.lose_next_answer("UpdateItem");
        let received = store.receive(&messages[1..], now, UnclaimedChannels::DEFAULT).await.unwrap();
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(received, [Received::Stored { turned_unread: true }], "the reader is told");
        let unread = store.unread(None, 10).await.unwrap();
        assert_eq!(unread.iter().map(|u| &u.root).collect::<Vec<_>>(), [&root]);
    }

    #[tokio::test]
    async fn a_lost_answer_to_forgetting_an_expired_channel_still_deletes_its_envelopes() {
        let (_moto, chaos, store) = channels().await;
        let two_days_ago = EpochMs::parse(EpochMs::now().get() as i64 - 2 * 86_400_000).unwrap();
        let (_, messages) = channel(70, 3);
        store.receive(&messages, two_days_ago, UnclaimedChannels::DEFAULT).await.unwrap();
        // The head goes first, then each envelope.
        chaos.lose_next_answer("DeleteItem");
        assert_eq!(store.forget_expired(EpochMs::now(), 10).await.unwrap(), 1);
        assert_eq!(chaos.tally().lost_answers, 1);
        for (address, _) in &messages {
            assert_eq!(store.get(address).await.unwrap(), None, "expired with its channel");
        }
    }

    #[tokio::test]
    async fn a_lost_answer_to_counting_a_claim_counts_it_once() {
        let (_moto, chaos, store) = channels().await;
        let roots: Vec<ChannelRoot> = (63..65).map(|seed| channel(seed, 0).0).collect();
        let producer = id("producer-lost-count");
        // The claim's first write is its count, here at its cap.
        chaos.lose_next_answer("UpdateItem");
        assert_eq!(store.claim(&roots[0], &producer, Some(1)).await.unwrap(), Claim::Claimed);
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(store.claim(&roots[1], &producer, Some(1)).await.unwrap(), Claim::TooMany { most: 1 });
        assert!(store.release(&roots[0], &producer, EpochMs::now()).await.unwrap());
        assert_eq!(store.claim(&roots[1], &producer, Some(1)).await.unwrap(), Claim::Claimed, "counted once");
    }

    #[tokio::test]
    async fn a_lost_answer_to_claiming_an_unclaimed_channel_claims_it_and_frees_its_place_of_the_day() {
        let (_moto, chaos, store) = channels().await;
        let one = UnclaimedChannels::new(1).unwrap();
        let now = EpochMs::now();
        let ((root, first), (_, second)) = (channel(65, 1), channel(66, 1));
        assert_eq!(store.receive(&first, now, one).await.unwrap(), [Received::Stored { turned_unread: true }]);
        let owner = id("consumer-lost-claim");
        chaos.lose_next_answer("UpdateItem");
        assert_eq!(store.claim(&root, &owner, None).await.unwrap(), Claim::Claimed);
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(store.claim(&root, &id("consumer-other"), None).await.unwrap(), Claim::Taken { by: owner });
        assert!(
            matches!(store.receive(&second, now, one).await.unwrap()[..], [Received::Stored { .. }]),
            "claimed, it is no longer the day's unclaimed one"
        );
    }

    #[tokio::test]
    async fn a_lost_answer_to_releasing_a_source_releases_it_and_gives_its_place_back() {
        let (_moto, chaos, store) = channels().await;
        let roots: Vec<ChannelRoot> = (67..69).map(|seed| channel(seed, 0).0).collect();
        let producer = id("producer-lost-release");
        assert_eq!(store.claim(&roots[0], &producer, Some(1)).await.unwrap(), Claim::Claimed);
        chaos.lose_next_answer("UpdateItem");
        assert!(store.release(&roots[0], &producer, EpochMs::now()).await.unwrap(), "released");
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(store.claim(&roots[1], &producer, Some(1)).await.unwrap(), Claim::Claimed, "its place is back");
        assert_eq!(store.claim(&roots[0], &id("consumer-next"), None).await.unwrap(), Claim::Claimed, "held by none");
    }

    #[tokio::test]
    async fn a_lost_answer_to_replacing_a_registration_is_not_a_conflict() {
        use grid_store::RegistrationStore;
        let (_moto, chaos, clients, names) = calm().await;
        let store = grid_store::aws::DynamoRegistrationStore::new(&clients, names.registrations_table);
        let registration = Registration::new(id("consumer-lost-put"), ItemType::Consumer, None, None, EpochMs::now());
        store.insert(&registration).await.unwrap();
        let mut changed = registration.clone();
        changed.updated = EpochMs::parse(changed.updated.get() as i64 + 1_000).unwrap();
        chaos.lose_next_answer("PutItem");
        assert_eq!(store.replace(&changed, 1).await.unwrap(), 2);
        assert_eq!(chaos.tally().lost_answers, 1);
        let got = store.get(&changed.id).await.unwrap().unwrap();
        assert_eq!((&got.value, got.version), (&changed, 2));
        let again = store.replace(&changed, 1).await.unwrap_err();
        assert!(again.is_conflict(ConflictKind::Moved), "still at version 2: {again:?}");
    }

    /// DynamoDB answers a transaction retried with its `ClientRequestToken` with the first
    /// success (the fault plan does so for moto, which ignores the token): a payment
    /// claim whose answer was lost is recorded once, not refused as claimed before.
    #[tokio::test]
    async fn a_lost_answer_to_a_transaction_is_answered_from_its_token_and_the_claim_lands_once() {
        use grid_store::{BatchWatch, ClaimBook};
        let (_moto, chaos, store, claim) = claim("consumer-lost-claim", "lost-claim").await;
        chaos.lose_next_answer("TransactWriteItems");
        assert!(store.claim_payment(&claim).await.unwrap(), "claimed, not 'claimed before'");
        let tally = chaos.tally();
        assert_eq!((tally.lost_answers, tally.replayed), (1, 1), "lost once, answered from the token once");
        assert!(!store.claim_payment(&claim).await.unwrap(), "a second claim of the batch is refused");
        let due = store.due_batches(EpochMs::LATEST, 10).await.unwrap();
        assert_eq!(due.len(), 1, "one batch to verify: {due:?}");
    }

    #[tokio::test]
    async fn a_lost_answer_to_recording_a_batch_check_counts_it_once() {
        use grid_store::{BatchWatch, ClaimBook, Watched};
        let (_moto, chaos, store, claim) = claim("consumer-lost-check", "lost-check").await;
        assert!(store.claim_payment(&claim).await.unwrap());
        let watched = Watched::Claim(claim);
        let ms = |ms| EpochMs::parse(ms).unwrap();
        chaos.lose_next_answer("UpdateItem");
        store.checked(&watched, ms(5_000), ms(8_000), true).await.unwrap();
        assert_eq!(chaos.tally().lost_answers, 1);
        let due = store.due_batches(ms(10_000), 10).await.unwrap();
        let [batch] = &due[..] else { panic!("one batch due: {due:?}") };
        assert_eq!((batch.times_checked, batch.last_checked, batch.stalled), (1, Some(ms(5_000)), true));
    }

    #[tokio::test]
    async fn a_lost_answer_to_counting_a_failed_sign_in_counts_it_once() {
        use grid_store::SignInLog;
        let (_moto, chaos, clients, names) = calm().await;
        let log = grid_store::aws::DynamoSignInLog::new(&clients, names.leases_table);
        let (now, window_end) = (EpochMs::now(), EpochMs::parse(EpochMs::now().get() as i64 + 60_000).unwrap());
        chaos.lose_next_answer("UpdateItem");
        assert_eq!(log.count_failure("client-lost", window_end, now).await.unwrap(), 1);
        assert_eq!(chaos.tally().lost_answers, 1);
        assert_eq!(log.failures("client-lost", window_end).await.unwrap(), 1);
        assert_eq!(log.count_failure("client-lost", window_end, now).await.unwrap(), 2);
    }
}
