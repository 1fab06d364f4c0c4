//! The device agents against a grid over real sockets: a producer's registration API
//! for its sources, its aggregation of late and missing source data, its state kept
//! in the grid's storage, and what each agent writes on its channel.

use std::collections::VecDeque;

use grid_agents::producer::{Producer, ProducerSettings};
use grid_agents::source::Source;
use grid_agents::{GridApi, Meter, OwnChannel};
use grid_core::channel::{ChannelAccess, Command, Reading};
use grid_core::devices::Slot;
use grid_core::{EpochMs, PaymentAddress, RegistrationId, Wh};
use grid_tests::{TestGrid, channel};
use serde_json::{Value, json};

const SLOT: u64 = 60_000;
const DELAY: u64 = 20_000;

fn at(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).unwrap()
}

fn reading(start: u64, wh: u64) -> Reading {
    Reading { start: at(start), end: at(start + 30_000), energy: Wh::new(wh) }
}

/// A slot-aligned time an hour ago: the agents' simulated "now" starts there.
fn t0() -> u64 {
    let now = EpochMs::now().get() - 3_600_000;
    now - now % SLOT
}

struct Setup {
    grid: TestGrid,
    producer: Producer,
    api: String,
    http: reqwest::Client,
}

/// A grid and a producer on it, serving its registration API on a free port.
async fn setup(state_file: Option<&std::path::Path>) -> Setup {
    on(TestGrid::start().await, state_file).await
}

/// A producer on `grid`, serving its registration API on a free port.
async fn on(grid: TestGrid, state_file: Option<&std::path::Path>) -> Setup {
    let producer = producer(&grid, state_file).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let router = grid_agents::producer::router(producer.book(), grid.channel_client());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Setup { http: reqwest::Client::new(), grid, producer, api }
}

async fn producer(grid: &TestGrid, state_file: Option<&std::path::Path>) -> Producer {
    let settings = ProducerSettings {
        id: RegistrationId::parse("producer-0001").unwrap(),
        name: Some("Roof".into()),
        price: grid_core::Price::parse(120).unwrap(),
        payment_address: PaymentAddress::parse("wallet-producer-0001").unwrap(),
        slot_ms: SLOT,
        delay_ms: DELAY,
    };
    let client = grid.channel_client();
    let channel = OwnChannel::open(state_file, client.clone()).unwrap();
    let api = GridApi::new(grid.base.clone(), reqwest::Client::new());
    Producer::start(settings, api, client, channel, None).await.unwrap()
}

async fn source(setup: &Setup, id: &str, readings: Vec<Reading>) -> Source {
    let channel = OwnChannel::open(None, setup.grid.channel_client()).unwrap();
    let producer = GridApi::new(setup.api.clone(), setup.http.clone());
    let meter = Meter::Replay(VecDeque::from(readings));
    Source::start(RegistrationId::parse(id).unwrap(), None, producer, channel, meter, SLOT).await.unwrap()
}

/// The producer's offers as its channel carries them: `(start, Wh, price, address)`.
async fn offers(grid: &TestGrid, access: &ChannelAccess) -> Vec<(u64, u64, u64, String)> {
    let read = grid.read(access, 0, 100).await;
    assert_eq!(read.messages[0].command, Command::Hello);
    read.messages
        .iter()
        .filter_map(|m| match &m.command {
            Command::ProducerOutput { reading, price, payment_address } => {
                Some((reading.start.get(), reading.energy.get(), price.get(), payment_address.to_string()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_data_within_the_delay_counts_in_its_slot_later_data_is_carried_and_a_silent_source_stalls_nothing() {
    let mut s = setup(None).await;
    let t = t0();
    let mut steady = source(&s, "source-steady", (0..4).map(|i| reading(t + i * SLOT, 100)).collect()).await;
    // Its second reading starts in slot 0 but ends in slot 1, so it is reported a slot later.
    let straddling = Reading { start: at(t + 50_000), end: at(t + 80_000), energy: Wh::new(7) };
    let mut late = source(&s, "source-late", vec![reading(t, 50), straddling]).await;

    steady.step(t + SLOT).await.unwrap();
    assert!(s.producer.step(t + SLOT + 10_000).await.unwrap().offered.is_empty(), "slot 0 waits for the delay");
    // The late source reports slot 0's first reading after the slot ended, within the delay.
    late.step(t + SLOT).await.unwrap();
    let step = s.producer.step(t + SLOT + DELAY).await.unwrap();
    assert_eq!(step.offered, [(Slot { start: t, end: t + SLOT }, Wh::new(150))]);
    // Its second reading of slot 0 arrives after slot 0 was offered: carried into slot 1.
    late.step(t + 2 * SLOT).await.unwrap();
    steady.step(t + 2 * SLOT).await.unwrap();
    let step = s.producer.step(t + 2 * SLOT + DELAY).await.unwrap();
    assert_eq!(step.carried.len(), 1, "{step:?}");
    assert_eq!(step.offered, [(Slot { start: t + SLOT, end: t + 2 * SLOT }, Wh::new(107))]);
    // The late source goes quiet; the steady one goes on and is offered on time.
    steady.step(t + 4 * SLOT).await.unwrap();
    let step = s.producer.step(t + 4 * SLOT + DELAY).await.unwrap();
    assert_eq!(step.offered.iter().map(|(_, wh)| wh.get()).collect::<Vec<_>>(), [100, 100]);

    let offered = offers(&s.grid, s.producer.channel().access()).await;
    let want: Vec<(u64, u64, u64, String)> = [(t, 150), (t + SLOT, 107), (t + 2 * SLOT, 100), (t + 3 * SLOT, 100)]
        .into_iter()
        .map(|(start, wh)| (start, wh, 120, "wallet-producer-0001".to_owned()))
        .collect();
    assert_eq!(offered, want, "every source Wh offered exactly once");
    // And the grid reads them as the producer's output.
    let polled = s.grid.poll().await;
    assert_eq!((polled.stored, polled.rejected), (4, 0), "{polled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_producer_finds_its_sources_and_state_in_the_grids_storage() {
    restarted_producer_carries_on(TestGrid::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_producer_carries_on_against_a_grid_on_dynamodb_and_s3() {
    restarted_producer_carries_on(TestGrid::start_on_moto(&[]).await).await;
}

async fn restarted_producer_carries_on(grid: TestGrid) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("producer.json");
    let mut s = on(grid, Some(&state)).await;
    let t = t0();
    let mut panel = source(&s, "source-panel", (0..3).map(|i| reading(t + i * SLOT, 40)).collect()).await;
    panel.step(t + SLOT).await.unwrap();
    s.producer.step(t + SLOT).await.unwrap(); // read, not yet due

    // The process ends; a new one starts from the same state file and the grid's storage.
    let mut restarted = producer(&s.grid, Some(&state)).await;
    assert_eq!(restarted.channel().access(), s.producer.channel().access(), "the same channel continues");
    assert_eq!(restarted.book().all().await.len(), 1, "the source is known again");
    // Storage reads are open: what is stored there shows neither the source's root nor
    // the side key that would let a reader remove the source (the finding).
    let stored: Value = s.grid.get("/storage/producer-0001/sources/source-panel").await.expect(200).body;
    let text = stored["item"].to_string();
    assert!(stored["item"]["ciphertext"].is_string(), "{text}");
    for secret in [panel.channel().access().root().as_str(), panel.channel().access().side_key().expose()] {
        assert!(!text.contains(secret), "a source's secret is readable in the grid's storage: {text}");
    }
    panel.step(t + 3 * SLOT).await.unwrap();
    let step = restarted.step(t + 3 * SLOT + DELAY).await.unwrap();
    assert_eq!(
        step.offered.iter().map(|(slot, wh)| (slot.start, wh.get())).collect::<Vec<_>>(),
        [(t, 40), (t + SLOT, 40), (t + 2 * SLOT, 40)]
    );
    assert_eq!(offers(&s.grid, restarted.channel().access()).await.len(), 3, "nothing offered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_stops_says_goodbye_and_leaves_its_producer() {
    let mut s = setup(None).await;
    let t = t0();
    let panel = source(&s, "source-panel", vec![reading(t, 5)]).await;
    let access = panel.channel().access().clone();
    panel.stop().await.unwrap();
    let read = s.grid.read(&access, 0, 10).await;
    let commands: Vec<&str> = read.messages.iter().map(|m| m.command.name()).collect();
    assert_eq!(commands, ["hello", "goodbye"]);
    assert!(s.producer.book().all().await.is_empty());
    s.grid.get("/storage/producer-0001/sources/source-panel").await.expect(404);
    s.producer.step(t + SLOT + DELAY).await.unwrap();
}

/// Registration requests as a source would send them, by hand.
async fn put(s: &Setup, id: &str, body: Value, side_key: Option<&str>) -> (u16, Value) {
    let mut request = s.http.put(format!("{}/registration/{id}", s.api)).json(&body);
    if let Some(key) = side_key {
        request = request.header("x-side-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_registration_api_refuses_what_it_cannot_accept_and_says_why() {
    let s = setup(None).await;
    let panel = channel(31, "SideKeyOfThePanel0001");
    s.grid.open_channel(&panel).await;
    let other = channel(32, "SideKeyOfAnotherOne02");
    s.grid.open_channel(&other).await;
    let silent = channel(33, "SideKeyNoHelloHere003");
    let body = |c: &grid_core::channel::ChannelSecrets| json!({"itemType": "source", "root": c.root().as_str(), "sideKey": c.access().side_key().expose()});

    let cases = [
        (
            "source-0001",
            json!({"itemType": "consumer", "root": panel.root().as_str(), "sideKey": "x"}),
            400,
            "itemType must be \"source\"",
        ),
        ("source-0001", json!({"itemType": "source"}), 400, "root and sideKey are required"),
        ("source-0001", json!({"itemType": "source", "root": "zz", "sideKey": "SideKeyOfThePanel0001"}), 400, "root"),
        ("source-0001", json!({"itemType": "source", "extra": 1}), 400, "unknown field"),
        ("source-0001", body(&silent), 400, "hello"),
        ("bad%20id", body(&panel), 400, ""),
    ];
    for (id, request, status, says) in cases {
        let (got, answer) = put(&s, id, request.clone(), None).await;
        assert_eq!(got, status, "{request}: {answer}");
        assert_eq!(answer["success"], false, "{answer}");
        assert!(answer["message"].as_str().unwrap_or_default().contains(says), "{request}: {answer}");
    }
    let garbage = s.http.put(format!("{}/registration/source-0001", s.api)).body("{not json").send().await.unwrap();
    assert_eq!(garbage.status(), 400);
    let huge =
        s.http.put(format!("{}/registration/source-0001", s.api)).body(vec![b' '; 64 * 1024]).send().await.unwrap();
    assert_eq!(huge.status(), 413);

    assert_eq!(put(&s, "source-0001", body(&panel), None).await.0, 201);
    assert_eq!(put(&s, "source-0001", body(&panel), None).await.0, 200, "the same again is an update");
    assert_eq!(put(&s, "source-0001", body(&other), None).await.0, 401, "another channel needs the current key");
    assert_eq!(put(&s, "source-0001", body(&other), Some("SideKeyOfAnotherOne02")).await.0, 403);
    assert_eq!(put(&s, "source-0001", body(&other), Some("SideKeyOfThePanel0001")).await.0, 200);

    let delete = |key: &str| s.http.delete(format!("{}/registration/source-0001/{key}", s.api)).send();
    assert_eq!(delete("SideKeyOfThePanel0001").await.unwrap().status(), 403, "the old key no longer works");
    assert_eq!(delete("SideKeyOfAnotherOne02").await.unwrap().status(), 200);
    assert_eq!(delete("SideKeyOfAnotherOne02").await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_sends_its_bid_and_shows_its_balance_only_once_its_payment_is_final_on_the_ledger() {
    use grid_agents::Wallet;
    use grid_agents::consumer::{Consumer, ConsumerSettings};
    use grid_core::ledger::BatchStatus;
    use grid_core::market::{Period, PeriodLength};

    let grid = TestGrid::start_with(&[("SETTLEMENT_PERIOD_SECS", "60"), ("SETTLEMENT_GRACE_SECS", "0")]).await;
    // A development ledger that keeps a batch pending for a moment, as a real one does.
    let dir = tempfile::tempdir().unwrap();
    let grid_key = grid_core::AccountKey::generate();
    let wallet = PaymentAddress::parse("grid-wallet").unwrap();
    let options = dev_ledger::LedgerOptions {
        grid: Some(dev_ledger::GridAccounts { wallet, key: grid_key }),
        final_after: std::time::Duration::from_millis(800),
        ..Default::default()
    };
    let ledger = dev_ledger::router(dev_ledger::LedgerStore::open(dir.path()).unwrap(), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ledger_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, ledger).await.unwrap() });

    // A producer offers 2 kWh in a period five minutes ago; the consumer used 1.5 kWh in it.
    let first = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap()).start().get() - 5 * 60_000;
    let producer = channel(51, "SideKeyOfProducer0051");
    grid.open_channel(&producer).await;
    let body = json!({"itemType": "producer", "root": producer.root().as_str(), "sideKey": producer.access().side_key().expose()});
    grid.put("/registration/producer-0051", &body).await.expect(201);
    let offer = Command::ProducerOutput {
        reading: reading(first, 2000),
        price: grid_core::Price::parse(100).unwrap(),
        payment_address: PaymentAddress::parse("wallet-producer-0051").unwrap(),
    };
    grid.publish(&producer, 1, &[offer]).await;

    let http = reqwest::Client::new();
    let id = RegistrationId::parse("consumer-0051").unwrap();
    let wallet = Wallet::new(&ledger_url, PaymentAddress::parse(id.as_str()).unwrap(), http.clone());
    wallet.deposit(grid_core::Iota::new(1000)).await.unwrap();
    let bid = Some(grid_core::Price::parse(110).unwrap());
    let settings = ConsumerSettings { id, name: None, slot_ms: 60_000, pay_threshold: grid_core::Iota::new(1), bid };
    let client = grid.channel_client();
    let meter = Meter::Replay(VecDeque::from([reading(first, 1500)]));
    let own = OwnChannel::open(None, client.clone()).unwrap();
    let api = GridApi::new(grid.base.clone(), http);
    let mut consumer = Consumer::start(settings, api, client, own, meter, wallet).await.unwrap();

    let now = EpochMs::now().get();
    assert_eq!(consumer.step(now).await.unwrap().reported.len(), 1);
    // Its usage carries its bid (at or above the ask of 100: it buys locally).
    let sent = grid.read(consumer.channel().access(), 1, 1).await;
    assert!(matches!(sent.messages[0].command, Command::PricedUsage { bid, .. } if bid.get() == 110), "{sent:?}");
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();
    let paying = consumer.step(now).await.unwrap();
    let (batch, paid) = paying.paid.clone().expect("the consumer pays its bill");
    assert_eq!(paid.get(), 150, "1.5 kWh at 100 IOTA/kWh");
    assert!(paying.settled.is_none(), "no balance while the payment is pending");

    let mut settled = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Some(done) = consumer.step(now).await.unwrap().settled {
            settled = Some(done);
            break;
        }
    }
    let (final_batch, status, balance) = settled.expect("the payment turns final");
    assert_eq!((final_batch, status, balance.get()), (batch, BatchStatus::Committed, 1000 - 150));
    assert_eq!(consumer.wallet().balance().await.unwrap().get(), 850, "what the ledger holds");
}

/// `gridctl prosumer`'s agent: one channel carries its panels' output (offered at its
/// price, paid to its own account) and its home's usage; it registers as a prosumer and
/// the grid settles what it did not use itself. Here it makes 2 kWh and uses 0.5, and a
/// neighbour uses 1: 1 kWh of its 1.5 is sold at its 100 IOTA/kWh, 100 IOTA less the
/// fee, and nothing is billed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prosumer_reports_output_and_usage_on_one_channel_and_is_paid_for_what_it_sells() {
    use grid_agents::Wallet;
    use grid_agents::consumer::{Consumer, ConsumerSettings, Production};
    use grid_core::market::{Period, PeriodLength};

    let grid = TestGrid::start_with(&[("SETTLEMENT_PERIOD_SECS", "60"), ("SETTLEMENT_GRACE_SECS", "0")]).await;
    let length = PeriodLength::from_secs(60).unwrap();
    let first =
        Period::containing(EpochMs::parse(EpochMs::now().get() as i64 - 120_000).unwrap(), length).start().get();
    let neighbour = channel(53, "SideKeyOfConsumer0053");
    grid.open_channel(&neighbour).await;
    let body = json!({"itemType": "consumer", "root": neighbour.root().as_str(), "sideKey": neighbour.access().side_key().expose()});
    grid.put("/registration/consumer-0053", &body).await.expect(201);
    grid.publish(&neighbour, 1, &[Command::Usage(reading(first, 1000))]).await;

    // A development ledger the prosumer's account lives on (claimed at start).
    let dir = tempfile::tempdir().unwrap();
    let ledger = dev_ledger::router(dev_ledger::LedgerStore::open(dir.path()).unwrap(), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ledger_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, ledger).await.unwrap() });
    let http = reqwest::Client::new();
    let id = RegistrationId::parse("prosumer-0052").unwrap();
    let wallet = Wallet::new(&ledger_url, PaymentAddress::parse(id.as_str()).unwrap(), http.clone());
    let settings = ConsumerSettings {
        id: id.clone(),
        name: None,
        slot_ms: 60_000,
        pay_threshold: grid_core::Iota::new(1),
        bid: None,
    };
    let client = grid.channel_client();
    let load = Meter::Replay(VecDeque::from([reading(first, 500)]));
    let panels = Production {
        meter: Meter::Replay(VecDeque::from([reading(first, 2000)])),
        price: grid_core::Price::parse(100).unwrap(),
    };
    let own = OwnChannel::open(None, client.clone()).unwrap();
    let api = GridApi::new(grid.base.clone(), http);
    let mut home = Consumer::start_home(settings, api, client, own, load, Some(panels), wallet).await.unwrap();

    let step = home.step(EpochMs::now().get()).await.unwrap();
    assert_eq!((step.reported.len(), step.produced.len()), (1, 1));
    let sent = grid.read(home.channel().access(), 1, 2).await;
    let names: Vec<&str> = sent.messages.iter().map(|m| m.command.name()).collect();
    assert_eq!(names, ["usage", "output"]);
    assert!(
        matches!(&sent.messages[1].command, Command::ProducerOutput { payment_address, .. } if payment_address.as_str() == "prosumer-0052"),
        "paid to its own account"
    );
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();
    let account = grid.stores.accounts.get(&id).await.unwrap().expect("an account");
    assert_eq!((account.entitled.get(), account.billed.get()), (80, 0), "1 kWh at 100, less the 20% fee");
    assert_eq!((account.energy.get(), account.matched.get()), (2500, 1000), "all it metered; what it sold");
}
