//! The money engine end to end: producers and consumers publish through the channel
//! node, the poller stores what they said, settlement prices each period, bills the
//! consumers on their return channels and credits the producers' accounts. Run on the
//! embedded default and on DynamoDB/S3/SQS (moto).

use std::collections::BTreeMap;

use grid_client::channels::ChannelWriter;
use grid_core::books::{BatchKind, BatchState};
use grid_core::channel::{ChannelAccess, ChannelSecrets, Command, Reading};
use grid_core::market::{Period, PeriodLength, PeriodStart, PeriodTotals, Settlement, SettlementPolicy, settle};
use grid_core::{
    ChannelCursor, ChannelRoot, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, SideKey, Wh,
    WorkMessage,
};
use grid_tests::{TestGrid, channel};
use serde_json::{Value, json};

mod local_market;

const CONFIG: &[(&str, &str)] = &[
    ("SETTLEMENT_PERIOD_SECS", "60"),
    ("SETTLEMENT_GRACE_SECS", "0"),
    ("GRID_FEE_BPS", "2000"),
    ("DEFAULT_PRICE", "100"),
    ("GRID_WALLET", "grid"),
    // One round per batch-monitor run, so each step of the payment flow can be watched.
    ("MONITOR_BUDGET_SECS", "0"),
];
const LENGTH_MS: u64 = 60_000;

struct Party {
    id: RegistrationId,
    channel: ChannelSecrets,
    next: u64,
    return_channel: Option<ChannelAccess>,
}

/// Two producers and three consumers, registered with their channels opened.
async fn parties(grid: &TestGrid) -> (Vec<Party>, Vec<Party>) {
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for (i, kind) in ["producer", "producer", "consumer", "consumer", "consumer"].into_iter().enumerate() {
        let id = RegistrationId::parse(format!("{kind}-{i:04}")).unwrap();
        let channel = channel(10 + i as u8, &format!("SideKeyOfParty{i:04}xx"));
        grid.open_channel(&channel).await;
        let body =
            json!({"itemType": kind, "root": channel.root().as_str(), "sideKey": channel.access().side_key().expose()});
        let reply = grid.put(&format!("/registration/{id}"), &body).await.expect(201);
        let return_channel = reply.body["root"].as_str().map(|root| {
            ChannelAccess::new(
                ChannelRoot::parse(root).unwrap(),
                SideKey::parse(reply.body["sideKey"].as_str().unwrap()).unwrap(),
            )
        });
        let party = Party { id, channel, next: 1, return_channel };
        if kind == "producer" { producers.push(party) } else { consumers.push(party) }
    }
    (producers, consumers)
}

fn reading(start: u64, wh: u64) -> Reading {
    let time = |ms: u64| EpochMs::parse(ms as i64).unwrap();
    Reading { start: time(start), end: time(start + 30_000), energy: Wh::new(wh) }
}

/// One period of trading: its start, outputs `(producer, Wh, price)` and usages `(consumer, Wh)`.
type Trading = (u64, Vec<(usize, u64, u64)>, Vec<(usize, u64)>);

/// Three periods of trading.
fn schedule(first: u64) -> Vec<Trading> {
    vec![
        (first, vec![(0, 2000, 100), (1, 1000, 130)], vec![(0, 1500), (1, 1234)]),
        (first + LENGTH_MS, vec![(0, 500, 110)], vec![(0, 700), (1, 300), (2, 2500)]),
        (first + 2 * LENGTH_MS, vec![(0, 800, 90), (1, 800, 150)], vec![(2, 999)]),
    ]
}

async fn publish(grid: &TestGrid, party: &mut Party, command: Command) {
    party.next = grid.publish(&party.channel, party.next, &[command]).await;
}

/// The schedule as the devices send it, in order: who sends (producer or consumer, by
/// index) and what.
fn commands(first: u64) -> Vec<(ItemType, usize, Command)> {
    let mut commands = Vec::new();
    for (start, outputs, usages) in schedule(first) {
        for (p, wh, price) in outputs {
            let command = Command::ProducerOutput {
                reading: reading(start + 1_000, wh),
                price: Price::parse(price).unwrap(),
                payment_address: PaymentAddress::parse(format!("wallet-{p}")).unwrap(),
            };
            commands.push((ItemType::Producer, p, command));
        }
        for (c, wh) in usages {
            commands.push((ItemType::Consumer, c, Command::Usage(reading(start + 2_000, wh))));
        }
    }
    commands
}

/// Publishes the schedule through the node, as the devices would.
async fn trade(grid: &TestGrid, producers: &mut [Party], consumers: &mut [Party], first: u64) {
    for (kind, index, command) in commands(first) {
        let party = if kind == ItemType::Producer { &mut producers[index] } else { &mut consumers[index] };
        publish(grid, party, command).await;
    }
}

/// The expected settlement of each period, from the schedule alone.
fn expected(first: u64, producers: &[Party], consumers: &[Party], policy: &SettlementPolicy) -> Vec<Settlement> {
    let mut previous = None;
    schedule(first)
        .into_iter()
        .map(|(_, outputs, usages)| {
            let mut totals = PeriodTotals::default();
            for (p, wh, price) in outputs {
                totals.add_output(producers[p].id.clone(), Wh::new(wh), Price::parse(price).unwrap()).unwrap();
            }
            for (c, wh) in usages {
                totals.add_usage(consumers[c].id.clone(), Wh::new(wh)).unwrap();
            }
            let s = settle(&totals, previous, policy).unwrap();
            previous = Some(s.price);
            s
        })
        .collect()
}

/// The period starting at `ms`.
fn at(ms: u64) -> PeriodStart {
    PeriodStart::parse(ms).unwrap()
}

/// Each billed consumer's charge in `s`.
fn charges(s: &Settlement) -> impl Iterator<Item = (RegistrationId, u64)> + '_ {
    s.consumers.iter().filter(|c| c.charge > Iota::ZERO).map(|c| (c.id.clone(), c.charge.get()))
}

/// Each producer's allocation in `s`, where it has one.
fn allocations(s: &Settlement) -> impl Iterator<Item = (RegistrationId, u64)> + '_ {
    s.producers.iter().filter(|p| p.allocation > Iota::ZERO).map(|p| (p.id.clone(), p.allocation.get()))
}

fn first_period() -> u64 {
    let now = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap());
    now.start().get() - 10 * LENGTH_MS
}

async fn trading_for_three_periods_bills_every_consumer_and_balances(grid: TestGrid) {
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;

    let now = EpochMs::now();
    let poller = grid.poller();
    let dispatched = poller.dispatch().await.unwrap();
    assert_eq!((dispatched.registrations, dispatched.messages), (5, 1));
    let polled = poller.drain(now).await.unwrap();
    assert_eq!((polled.stored, polled.duplicates, polled.rejected), (11, 0, 0), "{polled:?}");

    let settled = grid.settler().run(now).await.unwrap();
    let trading: Vec<_> = settled.iter().filter(|r| r.revenue.get() > 0 || r.produced.get() > 0).collect();
    let want = expected(
        first,
        &producers,
        &consumers,
        &grid.config.market.policy_at(grid_core::market::PeriodStart::parse(first).unwrap()),
    );
    assert_eq!(trading.len(), 3, "{settled:?}");
    for ((record, expected), period) in trading.iter().zip(&want).zip([first, first + LENGTH_MS, first + 2 * LENGTH_MS])
    {
        assert_eq!(record.period.get(), period);
        assert_eq!(
            (record.price, record.revenue, record.fee, record.unallocated),
            (expected.price, expected.revenue, expected.fee, expected.unallocated)
        );
        assert_eq!(record.payment_address.as_str(), format!("grid-{}", period / LENGTH_MS));
        let report: Value = serde_json::from_str(&grid.stores.archive.get(at(period)).await.unwrap().unwrap()).unwrap();
        let charged: u64 = report["consumers"].as_array().unwrap().iter().map(|c| c["charge"].as_u64().unwrap()).sum();
        let allocated: u64 =
            report["producers"].as_array().unwrap().iter().map(|a| a["allocation"].as_u64().unwrap()).sum();
        assert_eq!(charged, record.revenue.get(), "the report's charges add up to the revenue");
        assert_eq!(allocated + record.fee.get() + record.unallocated.get(), record.revenue.get());
    }

    // Accounts hold exactly the sums of the periods, and balance.
    let mut billed = BTreeMap::new();
    let mut entitled = BTreeMap::new();
    for s in &want {
        for (id, charge) in charges(s) {
            *billed.entry(id).or_insert(0) += charge;
        }
        for (id, allocation) in allocations(s) {
            *entitled.entry(id).or_insert(0) += allocation;
        }
    }
    for (id, amount) in &billed {
        assert_eq!(grid.stores.accounts.get(id).await.unwrap().unwrap().billed.get(), *amount, "{id}");
    }
    for (id, amount) in &entitled {
        assert_eq!(grid.stores.accounts.get(id).await.unwrap().unwrap().entitled.get(), *amount, "{id}");
    }
    let fees: u64 = want.iter().map(|s| s.fee.get() + s.unallocated.get()).sum();
    assert_eq!(billed.values().sum::<u64>(), entitled.values().sum::<u64>() + fees);

    // Each consumer reads one payment request per period it used energy in, each
    // restating its whole debt so far.
    for consumer in &consumers {
        let read = grid.read(consumer.return_channel.as_ref().unwrap(), 0, 100).await;
        let mut owed = 0;
        let mut requests = Vec::new();
        for s in &want {
            if let Some(charged) = s.consumers.iter().find(|c| c.id == consumer.id && c.charge > Iota::ZERO) {
                owed += charged.charge.get();
                requests.push((owed, charged.local));
            }
        }
        let got: Vec<(u64, Wh)> = read
            .messages
            .iter()
            .filter_map(|m| match &m.command {
                Command::PaymentRequest { owed, usage, .. } => Some((owed.get(), *usage)),
                _ => None,
            })
            .collect();
        assert_eq!(got, requests, "{}", consumer.id);
        assert_eq!(read.messages[0].command, Command::Hello);
    }

    // Running both jobs again changes nothing.
    assert_eq!(poller.dispatch().await.unwrap().messages, 0, "nothing is waiting to be read");
    let again = poller.drain(EpochMs::now()).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 0));
    let resettled = grid.settler().run(now).await.unwrap();
    assert!(resettled.iter().all(|r| r.revenue.get() == 0), "no period settles twice: {resettled:?}");
    for (id, amount) in &billed {
        assert_eq!(grid.stores.accounts.get(id).await.unwrap().unwrap().billed.get(), *amount);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_on_the_embedded_store_bills_every_consumer_and_balances() {
    trading_for_three_periods_bills_every_consumer_and_balances(TestGrid::start_with(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_on_dynamodb_s3_and_sqs_bills_every_consumer_and_balances() {
    trading_for_three_periods_bills_every_consumer_and_balances(TestGrid::start_on_moto(CONFIG).await).await;
}

async fn polled_once(grid: &TestGrid) -> (Vec<Party>, Vec<Party>, u64) {
    let first = first_period();
    let (mut producers, mut consumers) = parties(grid).await;
    trade(grid, &mut producers, &mut consumers, first).await;
    (producers, consumers, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_work_delivered_twice_and_two_workers_on_one_channel_message_store_each_reading_once() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (producers, consumers, _) = polled_once(&grid).await;
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
    let (producers, _, _) = polled_once(&grid).await;
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
async fn settlement_run_twice_at_once_settles_each_period_once() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (producers, consumers, first) = polled_once(&grid).await;
    grid.poll().await;
    let now = EpochMs::now();
    let (one, two) = (grid.settler(), grid.settler());
    let (a, b) = tokio::join!(one.run(now), two.run(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_empty() || b.is_empty(), "one run settles, the other stands aside or finds nothing due");
    let mut periods: Vec<u64> = a.into_iter().chain(b).map(|r| r.period.get()).collect();
    let count = periods.len();
    periods.sort();
    periods.dedup();
    assert_eq!(periods.len(), count, "a period was settled twice");
    let want = expected(
        first,
        &producers,
        &consumers,
        &grid.config.market.policy_at(grid_core::market::PeriodStart::parse(first).unwrap()),
    );
    for consumer in &consumers {
        let billed: u64 =
            want.iter().flat_map(charges).filter(|(id, _)| *id == consumer.id).map(|(_, charge)| charge).sum();
        assert_eq!(
            grid.stores.accounts.get(&consumer.id).await.unwrap().unwrap().billed.get(),
            billed,
            "{}",
            consumer.id
        );
        let read = grid.read(consumer.return_channel.as_ref().unwrap(), 0, 100).await;
        let requests = read.messages.iter().filter(|m| m.command.name() == "payment-request").count();
        let periods_billed = want.iter().filter(|s| charges(s).any(|(id, _)| id == consumer.id)).count();
        assert_eq!(requests, periods_billed, "one payment request per period, not one per run: {}", consumer.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_for_a_settled_period_counts_in_the_next_open_one() {
    let grid = TestGrid::start_with(CONFIG).await;
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    grid.poll().await;
    let settled = grid.settler().run(EpochMs::now()).await.unwrap();
    let last = settled.last().unwrap().period.get();

    // A consumer reports usage for the first, long settled period.
    publish(&grid, &mut consumers[1], Command::Usage(reading(first + 5_000, 4000))).await;
    let late = grid.poll().await;
    assert_eq!((late.stored, late.late), (1, 1));
    let page = grid.stores.readings.counted_in(at(last + LENGTH_MS), None, 100).await.unwrap();
    assert_eq!(page.readings.len(), 1);
    assert_eq!((page.readings[0].period, page.readings[0].counted_in), (at(first), at(last + LENGTH_MS)));
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
    let reasons: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["a producer's output needs producerPrice and paymentIdOrAddress", "a producer does not send usage"]
    );
}

/// A development ledger on a free port, turning batches final at once.
async fn dev_ledger() -> (String, tempfile::TempDir) {
    dev_ledger_with(dev_ledger::LedgerOptions { final_after: std::time::Duration::ZERO, ..Default::default() }).await
}

/// The key the grid spends its accounts (`grid`, `grid-…`) with, and the one every
/// consumer here claims its account with.
const GRID_KEY: &str = "TheGridsLedgerKeyInTests";
const PAYER_KEY: &str = "EveryPayersKeyInTests01";

/// A development ledger on a free port with `options` (as `gridctl ledger` builds them
/// from its flags), where the grid's accounts are spent with [`GRID_KEY`].
async fn dev_ledger_with(options: dev_ledger::LedgerOptions) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let grid = dev_ledger::GridAccounts {
        wallet: PaymentAddress::parse("grid").unwrap(),
        key: grid_core::AccountKey::parse(GRID_KEY).unwrap(),
    };
    let options = dev_ledger::LedgerOptions { grid: Some(grid), ..options };
    let app = dev_ledger::router(dev_ledger::LedgerStore::open(dir.path()).unwrap(), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, dir)
}

/// What a consumer's last payment request asks: how much, to which address.
async fn last_payment_request(grid: &TestGrid, consumer: &Party) -> (Iota, PaymentAddress) {
    let read = grid.read(consumer.return_channel.as_ref().unwrap(), 0, 100).await;
    match read.messages.iter().rev().map(|m| &m.command).find(|c| c.name() == "payment-request") {
        Some(Command::PaymentRequest { owed, payment_address, .. }) => (*owed, payment_address.clone()),
        _ => panic!("{} got no payment request", consumer.id),
    }
}

/// The grid's ledger client at `url`, with the grid's key.
fn grid_ledger(url: &str) -> std::sync::Arc<grid_client::ledger::HttpLedger> {
    let key = grid_core::AccountKey::parse(GRID_KEY).unwrap();
    std::sync::Arc::new(
        grid_client::ledger::HttpLedger::new(url, grid_core::ledger::Dialect::Sawtooth).with_key(Some(key)),
    )
}

/// Posts to the ledger as a consumer does: with its key, and funding an account only
/// after claiming it with that key.
async fn ledger_post(http: &reqwest::Client, url: String, body: Value) -> u16 {
    if let Some(account) = url.strip_suffix("/deposit") {
        http.put(format!("{account}/key")).json(&serde_json::json!({"key": PAYER_KEY})).send().await.unwrap();
    }
    http.post(url).header("x-account-key", PAYER_KEY).json(&body).send().await.unwrap().status().as_u16()
}

async fn ledger_balance(http: &reqwest::Client, base: &str, address: &str) -> u64 {
    let body: Value = http.get(format!("{base}/accounts/{address}")).send().await.unwrap().json().await.unwrap();
    body["balance"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_producers_are_paid_once_consumers_pay() {
    producers_are_paid_once_consumers_pay_and_the_ledger_agrees_with_the_books(TestGrid::start_with(CONFIG).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_producers_are_paid_once_consumers_pay() {
    producers_are_paid_once_consumers_pay_and_the_ledger_agrees_with_the_books(TestGrid::start_on_moto(CONFIG).await)
        .await;
}

async fn producers_are_paid_once_consumers_pay_and_the_ledger_agrees_with_the_books(grid: TestGrid) {
    let (ledger_url, _ledger_data) = dev_ledger().await;
    let monitor = grid_app::jobs::BatchMonitor::new(&grid.stores, &grid.config, grid_ledger(&ledger_url));
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();

    // Before anyone pays, the grid holds no cash and pays nobody.
    let idle = monitor.run(EpochMs::now()).await.unwrap();
    assert_eq!(idle.payouts_submitted, 0);

    // Each consumer pays what its last payment request says, to the address it names.
    let http = reqwest::Client::new();
    for (i, consumer) in consumers.iter_mut().enumerate() {
        let (owed, payment_address) = last_payment_request(&grid, consumer).await;
        let id = consumer.id.as_str();
        assert_eq!(
            ledger_post(&http, format!("{ledger_url}/accounts/{id}/deposit"), json!({"amount": 10_000})).await,
            200
        );
        let batch = format!("pay-{i}");
        let transfer = json!({"id": batch, "transfers": [{"from": id, "to": payment_address, "amount": owed}]});
        assert_eq!(ledger_post(&http, format!("{ledger_url}/batches"), transfer).await, 202);
        let claim = Command::parse(
            format!(r#"{{"command":"payment","batchId":"{batch}","amount":{}}}"#, owed.get()).as_bytes(),
        )
        .unwrap();
        publish(&grid, consumer, claim).await;
    }
    // One more claim that the ledger does not back: another consumer's batch.
    publish(
        &grid,
        &mut consumers[0],
        Command::parse(br#"{"command":"payment","batchId":"pay-1","amount":1}"#).unwrap(),
    )
    .await;

    let claims = grid.poll().await;
    assert_eq!((claims.payments, claims.rejected), (4, 0), "{claims:?}");

    // The ledger backs three claims; the one on another consumer's batch is refused,
    // and does not keep that consumer from being credited.
    let paid = monitor.run(EpochMs::now()).await.unwrap();
    assert_eq!((paid.verified, paid.rejected), (3, 1), "{paid:?}");
    assert_eq!(paid.payouts_submitted, 2, "{paid:?}");
    let settled = monitor.run(EpochMs::now()).await.unwrap();
    assert_eq!(settled.payouts_committed, 2, "{settled:?}");
    let quiet = monitor.run(EpochMs::now()).await.unwrap();
    assert_eq!((quiet.asked, quiet.payouts_submitted, quiet.verified), (0, 0, 0), "nothing twice: {quiet:?}");

    // The books: every consumer paid its bill, every producer was paid its earnings.
    for consumer in &consumers {
        let account = grid.stores.accounts.get(&consumer.id).await.unwrap().unwrap();
        assert_eq!(
            (account.paid, account.pending, account.owed()),
            (account.billed, Iota::ZERO, Iota::ZERO),
            "{}",
            consumer.id
        );
        let balance = ledger_balance(&http, &ledger_url, consumer.id.as_str()).await;
        assert_eq!(balance, 10_000 - account.paid.get(), "{}", consumer.id);
    }
    let mut paid_out = 0;
    for (p, producer) in producers.iter().enumerate() {
        let account = grid.stores.accounts.get(&producer.id).await.unwrap().unwrap();
        assert_eq!((account.paid_out, account.unpaid()), (account.entitled, Iota::ZERO), "{}", producer.id);
        assert_eq!(ledger_balance(&http, &ledger_url, &format!("wallet-{p}")).await, account.paid_out.get());
        paid_out += account.paid_out.get();
    }
    // What stays with the grid is its fees and what nobody could take.
    let totals = grid.stores.accounts.totals().await.unwrap();
    let held: u64 = grid.stores.accounts.funds().await.unwrap().iter().map(|f| f.available.get()).sum();
    assert_eq!(totals.paid_in.get(), paid_out + held);
    assert_eq!(held, totals.paid_in.get() - totals.payouts.get());
    assert!(held >= totals.fees.get());
}

/// Pays `amount` from `from` to `to` as a careful consumer does on an unreliable ledger:
/// submits until accepted, asks until the batch is final, and pays again under a new
/// id if it was refused. Returns the id of the committed batch.
async fn pay_until_committed(
    http: &reqwest::Client,
    ledger: &str,
    from: &str,
    purpose: &str,
    to: &str,
    amount: u64,
) -> String {
    for attempt in 0..50 {
        let id = format!("pay-{purpose}-{attempt}");
        let body = json!({"id": id, "transfers": [{"from": from, "to": to, "amount": amount}]});
        while ledger_post(http, format!("{ledger}/batches"), body.clone()).await != 202 {}
        loop {
            let answer = http.get(format!("{ledger}/batch_statuses?id={id}")).send().await.unwrap();
            if answer.status() != 200 {
                continue;
            }
            let answer: Value = answer.json().await.unwrap();
            match answer["data"][0]["status"].as_str().unwrap() {
                "COMMITTED" => return id,
                "INVALID" => break,
                _ => {}
            }
        }
    }
    panic!("{from} could not pay in 50 attempts")
}

/// Monitor runs 30 s of simulated time apart, with what they did added up.
struct Runs {
    monitor: grid_app::jobs::BatchMonitor,
    start: u64,
    count: u64,
    seen: grid_app::jobs::MonitorReport,
}

impl Runs {
    async fn run(&mut self) {
        let now = EpochMs::parse((self.start + self.count * 30_000) as i64).unwrap();
        let report = self.monitor.run(now).await.unwrap();
        self.count += 1;
        let seen = &mut self.seen;
        seen.requests_failed += report.requests_failed;
        seen.not_final += report.not_final;
        seen.resent += report.resent;
        seen.verified += report.verified;
        seen.payouts_committed += report.payouts_committed;
        seen.payouts_refused += report.payouts_refused;
    }
}

/// Producers are paid through `gridctl ledger --unknown-rate 0.3 --unavailable-rate 0.2
/// --invalid-rate 0.1` (the same ledger, in process): requests fail, statuses come back
/// UNKNOWN, batches are refused. The monitor runs until the grid owes nobody.
async fn through_a_faulty_ledger_every_payout_commits_exactly_once_and_the_books_match_the_ledger(grid: TestGrid) {
    use std::time::Duration;

    let (ledger_url, _ledger_data) = dev_ledger_with(dev_ledger::LedgerOptions {
        final_after: Duration::ZERO,
        unknown_rate: 0.3,
        unavailable_rate: 0.2,
        invalid_rate: 0.1,
        ..Default::default()
    })
    .await;
    let monitor = grid_app::jobs::BatchMonitor::new(&grid.stores, &grid.config, grid_ledger(&ledger_url));
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();

    // Each consumer pays its bill in four instalments, the monitor running in between,
    // so cash arrives bit by bit and producers are paid in many payouts.
    let http = reqwest::Client::new();
    let mut bills = Vec::new();
    for consumer in &consumers {
        let (owed, payment_address) = last_payment_request(&grid, consumer).await;
        let id = consumer.id.as_str();
        ledger_post(&http, format!("{ledger_url}/accounts/{id}/deposit"), json!({"amount": 10_000})).await;
        bills.push((owed.get(), payment_address));
    }
    const INSTALMENTS: u64 = 4;
    let mut monitor = Runs { monitor, start: EpochMs::now().get(), count: 0, seen: Default::default() };
    for k in 0..INSTALMENTS {
        for (consumer, (owed, to)) in consumers.iter_mut().zip(&bills) {
            let amount =
                if k + 1 < INSTALMENTS { owed / INSTALMENTS } else { owed - (INSTALMENTS - 1) * (owed / INSTALMENTS) };
            let from = format!("{}-{k}", consumer.id);
            let batch = pay_until_committed(&http, &ledger_url, consumer.id.as_str(), &from, to.as_str(), amount).await;
            let claim =
                Command::parse(format!(r#"{{"command":"payment","batchId":"{batch}","amount":{amount}}}"#).as_bytes())
                    .unwrap();
            publish(&grid, consumer, claim).await;
        }
        assert_eq!(grid.poll().await.payments, 3);
        monitor.run().await;
        monitor.run().await;
    }

    // Then runs every 30 s of (simulated) time until nothing is pending and nobody is owed.
    loop {
        let pending = grid.stores.accounts.due_batches(grid_core::EpochMs::LATEST, 1).await.unwrap();
        let owed = grid.stores.accounts.unpaid().await.unwrap();
        if pending.is_empty() && owed.is_empty() {
            break;
        }
        assert!(monitor.count < 500, "still pending after {} runs: {pending:?} {owed:?}", monitor.count);
        monitor.run().await;
    }
    let (runs, seen) = (monitor.count, monitor.seen);
    assert_eq!(seen.verified, 3 * INSTALMENTS, "every payment is credited once: {seen:?}");
    // 12 claims and a dozen or more payouts, each asked about at least once: the chance
    // of meeting no fault at all is below one in a million.
    assert!(seen.requests_failed + seen.not_final > 0, "the ledger's faults were met: {seen:?}");

    // Every payout the grid recorded is final on the ledger as the grid says, and a
    // committed one is announced exactly once.
    let batches = grid.stores.accounts.batches(None, 1000).await.unwrap();
    let payouts: Vec<_> = batches.iter().filter(|b| b.kind == BatchKind::Payout).collect();
    assert_eq!(seen.payouts_committed + seen.payouts_refused, payouts.len() as u64, "{seen:?}");
    let mut completions = Vec::new();
    loop {
        let got = grid.stores.completions.receive(10, Duration::from_secs(60)).await.unwrap();
        if got.is_empty() {
            break;
        }
        completions.extend(got);
    }
    let mut announced: Vec<String> = completions
        .iter()
        .flat_map(|m| grid_core::CompletionMessage::parse(&m.body).unwrap().items().to_vec())
        .filter(|c| c.kind == "payout")
        .map(|c| c.batch_id.to_string())
        .collect();
    announced.sort();
    let mut committed: Vec<String> =
        payouts.iter().filter(|b| b.status == BatchState::Committed).map(|b| b.id.to_string()).collect();
    committed.sort();
    assert_eq!(announced, committed, "one completion per committed payout");
    for payout in &payouts {
        let on_ledger: Value = loop {
            let answer = http.get(format!("{ledger_url}/batches/{}", payout.id)).send().await.unwrap();
            if answer.status() == 200 {
                break answer.json().await.unwrap();
            }
        };
        let want = if payout.status == BatchState::Committed { "COMMITTED" } else { "INVALID" };
        assert_eq!((payout.status.as_str(), on_ledger["status"].as_str().unwrap()), (payout.status.as_str(), want));
    }

    // The ledger agrees with the books, IOTA for IOTA.
    let mut paid_out = 0;
    for (p, producer) in producers.iter().enumerate() {
        let account = grid.stores.accounts.get(&producer.id).await.unwrap().unwrap();
        assert_eq!((account.paid_out, account.unpaid()), (account.entitled, Iota::ZERO), "{}", producer.id);
        assert_eq!(ledger_balance(&http, &ledger_url, &format!("wallet-{p}")).await, account.paid_out.get());
        paid_out += account.paid_out.get();
    }
    for consumer in &consumers {
        let account = grid.stores.accounts.get(&consumer.id).await.unwrap().unwrap();
        assert_eq!((account.paid, account.owed()), (account.billed, Iota::ZERO), "{}", consumer.id);
        assert_eq!(ledger_balance(&http, &ledger_url, consumer.id.as_str()).await, 10_000 - account.paid.get());
    }
    let totals = grid.stores.accounts.totals().await.unwrap();
    assert_eq!(totals.payouts.get(), paid_out);
    let funds = grid.stores.accounts.funds().await.unwrap();
    for f in &funds {
        assert_eq!(ledger_balance(&http, &ledger_url, f.address.as_str()).await, f.available.get(), "{}", f.address);
    }
    let held: u64 = funds.iter().map(|f| f.available.get()).sum();
    assert_eq!(held, totals.paid_in.get() - paid_out);
    println!("{runs} monitor runs; {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_faulty_ledger_pays_every_producer_exactly_once() {
    through_a_faulty_ledger_every_payout_commits_exactly_once_and_the_books_match_the_ledger(
        TestGrid::start_with(CONFIG).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_faulty_ledger_pays_every_producer_exactly_once() {
    through_a_faulty_ledger_every_payout_commits_exactly_once_and_the_books_match_the_ledger(
        TestGrid::start_on_moto(CONFIG).await,
    )
    .await;
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
    let (producers, consumers, _) = polled_once(&grid).await;
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

/// The readings counted in `period`, all pages.
async fn readings_counted_in(grid: &TestGrid, period: u64) -> usize {
    let (mut count, mut after) = (0, None);
    loop {
        let page = grid.stores.readings.counted_in(at(period), after.as_ref(), 100).await.unwrap();
        count += page.readings.len();
        match page.next {
            Some(next) => after = Some(next),
            None => return count,
        }
    }
}

/// Runs `scenario` once without a cut to count its writes, then once cut off at each
/// of them (from that write on nothing is written: the process died there), `parallel`
/// at a time, each on a fresh grid. Returns how many writes were cut.
async fn at_every_write<S, Fut>(scenario: S, parallel: usize) -> u64
where
    S: Fn(Option<u64>) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    use futures_util::stream::{self, StreamExt};
    let writes = scenario(None).await;
    stream::iter(1..=writes).map(|cut| scenario(Some(cut))).buffer_unordered(parallel).collect::<Vec<_>>().await;
    writes
}

/// Runs `job` with write `cut` and every later one failing (none without a cut), as if
/// the process died there. Returns the writes counted, and how to name the cut in the
/// messages of the checks that follow (which write, and what the job said).
async fn cut_off_at<T: std::fmt::Debug, E: std::fmt::Display>(
    faults: &grid_store::faults::FaultPlan,
    cut: Option<u64>,
    job: impl std::future::Future<Output = Result<T, E>>,
) -> (u64, String) {
    faults.fail_write(cut.unwrap_or(u64::MAX));
    let cut_off = job.await;
    let writes = faults.writes();
    faults.disarm();
    let named = match cut {
        None => {
            let cut_off = cut_off.map_err(|e| e.to_string());
            assert!(cut_off.is_ok(), "without a cut the job succeeds: {cut_off:?}");
            "none".to_owned()
        }
        Some(cut) => {
            format!("{cut} ({})", cut_off.err().map_or("a step failed, the job went on".into(), |e| e.to_string()))
        }
    };
    (writes, named)
}

/// One grid traded on, polled and settled, cut off at write `cut` (if any) and
/// restarted once the dead run's leases expired; then the books must be exactly what
/// they are without a cut: every reading stored once, every period settled once with
/// the expected figures, accounts holding exactly the periods' sums and balancing, and
/// every consumer's latest payment request stating its whole debt. Returns the writes
/// counted up to the cut.
async fn cut_and_restart<F, G>(start: &F, cut: Option<u64>) -> u64
where
    F: Fn(grid_store::faults::FaultPlan) -> G,
    G: std::future::Future<Output = TestGrid>,
{
    let faults = grid_store::faults::FaultPlan::default();
    let grid = start(faults.clone()).await;
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    let now = EpochMs::now().get();
    let run = async |now: u64| {
        let now = EpochMs::parse(now as i64).unwrap();
        let poller = grid.poller();
        poller.dispatch().await.map_err(|e| e.to_string())?;
        poller.drain(now).await.map_err(|e| e.to_string())?;
        grid.settler().run(now).await.map_err(|e| e.to_string())
    };
    let (writes, cut) = cut_off_at(&faults, cut, run(now)).await;
    // The restart, once the dead run's leases have expired: the schedule dispatches
    // again and settlement resumes.
    run(now + 180_000).await.unwrap_or_else(|e| panic!("after the cut at write {cut} the jobs run again: {e}"));

    assert_books_exact(&grid, first, &producers, &consumers, &cut).await;
    writes
}

/// The books after trading the schedule from `first`, polling and settling, whatever
/// was cut off on the way (`cut` names it): every reading stored once, every period
/// settled once with the expected figures, accounts holding exactly the periods' sums
/// and balancing, and every consumer's latest payment request stating its whole debt.
async fn assert_books_exact(grid: &TestGrid, first: u64, producers: &[Party], consumers: &[Party], cut: &str) {
    let want = expected(
        first,
        producers,
        consumers,
        &grid.config.market.policy_at(grid_core::market::PeriodStart::parse(first).unwrap()),
    );
    let periods = [first, first + LENGTH_MS, first + 2 * LENGTH_MS];
    let mut stored = 0;
    for period in (0..6).map(|i| first + i * LENGTH_MS) {
        stored += readings_counted_in(grid, period).await;
    }
    assert_eq!(stored, 11, "cut at write {cut}: every reading stored once");
    let (mut billed, mut entitled, mut kept) = (BTreeMap::new(), BTreeMap::new(), 0);
    for (s, period) in want.iter().zip(periods) {
        let record = grid.stores.settlements.get(at(period)).await.unwrap().expect("the period settled");
        assert_eq!(
            (record.price, record.revenue, record.fee, record.unallocated),
            (s.price, s.revenue, s.fee, s.unallocated),
            "cut at write {cut}: period {period}"
        );
        kept += s.fee.get() + s.unallocated.get();
        for (id, charge) in charges(s) {
            *billed.entry(id).or_insert(0) += charge;
        }
        for (id, allocation) in allocations(s) {
            *entitled.entry(id).or_insert(0) += allocation;
        }
    }
    for (id, amount) in billed.iter().chain(&entitled) {
        let account = grid.stores.accounts.get(id).await.unwrap().unwrap();
        assert_eq!(account.billed.get() + account.entitled.get(), *amount, "cut at write {cut}: {id}, once");
    }
    assert_eq!(billed.values().sum::<u64>(), entitled.values().sum::<u64>() + kept, "cut at write {cut}");
    for consumer in consumers {
        let read = grid.read(consumer.return_channel.as_ref().unwrap(), 0, 100).await;
        let latest = read.messages.iter().rev().find_map(|m| match &m.command {
            Command::PaymentRequest { owed, .. } => Some(owed.get()),
            _ => None,
        });
        assert_eq!(latest, billed.get(&consumer.id).copied(), "cut at write {cut}: {}", consumer.id);
    }
}

/// The channel node's write path (a channel's head raised, its envelope stored, its
/// registration's polling work queued) cut off at write `cut` (if any) while the
/// devices publish the schedule; a device whose `PUT` failed sends it again after the
/// restart, as the agents do. Every notification is then lost, so only the schedule's
/// sweep of unread channels can find the readings: the books must still be exact.
/// Returns the writes counted up to the cut.
async fn node_cut_and_restart<F, G>(start: &F, cut: Option<u64>) -> u64
where
    F: Fn(grid_store::faults::FaultPlan) -> G,
    G: std::future::Future<Output = TestGrid>,
{
    let faults = grid_store::faults::FaultPlan::default();
    let grid = start(faults.clone()).await;
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    let poller = grid.poller();
    poller.drain(EpochMs::now()).await.unwrap();

    let mut unsent = Vec::new();
    let (writes, cut) = cut_off_at(&faults, cut, async {
        for (kind, index, command) in commands(first) {
            let party = if kind == ItemType::Producer { &mut producers[index] } else { &mut consumers[index] };
            let mut writer = ChannelWriter::new(party.channel.clone(), party.next, grid.channel_client());
            match writer.publish(&command).await {
                Ok(_) => party.next = writer.next_index(),
                Err(_) => unsent.push((kind, index, command)),
            }
        }
        Ok::<_, std::convert::Infallible>(())
    })
    .await;
    for (kind, index, command) in unsent {
        let party = if kind == ItemType::Producer { &mut producers[index] } else { &mut consumers[index] };
        publish(&grid, party, command).await;
    }
    while !grid.stores.poll_work.receive(10, std::time::Duration::from_secs(600)).await.unwrap().is_empty() {}

    let swept = poller.sweep().await.unwrap();
    assert!(swept.registrations > 0, "cut at write {cut}: the sweep finds the unread channels: {swept:?}");
    let now = EpochMs::now();
    poller.drain(now).await.unwrap();
    assert_eq!(poller.sweep().await.unwrap().unread, 0, "cut at write {cut}: every channel read to its head");
    grid.settler().run(now).await.unwrap();
    assert_books_exact(&grid, first, &producers, &consumers, &cut).await;
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_every_cut_off_of_the_node_is_caught_by_the_sweep() {
    let start = async |faults| TestGrid::start_with_faults(CONFIG, &faults).await;
    let writes = at_every_write(|cut| node_cut_and_restart(&start, cut), 2).await;
    // Each of 11 readings stored with its head raised in one write, and polling work
    // queued once for each of the 5 channels they turn unread.
    assert_eq!(writes, 11 + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_every_cut_off_of_the_node_is_caught_by_the_sweep() {
    let start = async |faults| TestGrid::start_on_moto_with_faults(CONFIG, &faults).await;
    let writes = at_every_write(|cut| node_cut_and_restart(&start, cut), 8).await;
    // Each of 11 readings raises its head and is stored (two writes), and polling work
    // is queued once for each of the 5 channels they turn unread.
    assert_eq!(writes, 2 * 11 + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_every_cut_off_of_polling_and_settlement_leaves_the_books_exact() {
    // One channel polled at a time: the writer would group concurrent transactions into
    // one commit, and a cut between two of them would never be tried.
    let config: Vec<_> = CONFIG.iter().copied().chain([("POLL_CONCURRENCY", "1")]).collect();
    let start = async |faults| TestGrid::start_with_faults(&config, &faults).await;
    let writes = at_every_write(|cut| cut_and_restart(&start, cut), 2).await;
    // Every commit of polling and settlement (docs/reliability.md). A new write adds a
    // cut point: count it here, and the harness tries it.
    assert_eq!(writes, 61, "polling and settlement's commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_every_cut_off_of_polling_and_settlement_leaves_the_books_exact() {
    let start = async |faults| TestGrid::start_on_moto_with_faults(CONFIG, &faults).await;
    let writes = at_every_write(|cut| cut_and_restart(&start, cut), 8).await;
    // Every request that changes something (docs/reliability.md): more than on SQLite,
    // where a transaction is one write and each statement line goes with its account's.
    // A new write adds a cut point: count it here, and the harness tries it.
    assert_eq!(writes, 108, "polling and settlement's writes");
}

/// The batch monitor — verifying consumers' payments and paying producers (a payout is
/// recorded, then submitted) — cut off at write `cut` (if any) and restarted once the
/// dead run's lease expired; then every consumer is credited once, every producer paid
/// exactly what it earned (its ledger wallet agrees), and what the grid holds is what
/// was paid in less what was paid out. Returns the writes counted up to the cut.
async fn monitor_cut_and_restart<F, G>(start: &F, cut: Option<u64>) -> u64
where
    F: Fn(grid_store::faults::FaultPlan) -> G,
    G: std::future::Future<Output = TestGrid>,
{
    let faults = grid_store::faults::FaultPlan::default();
    let grid = start(faults.clone()).await;
    let (ledger_url, _ledger_data) = dev_ledger().await;
    let monitor = grid_app::jobs::BatchMonitor::new(&grid.stores, &grid.config, grid_ledger(&ledger_url));
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();
    let http = reqwest::Client::new();
    for (i, consumer) in consumers.iter_mut().enumerate() {
        let (owed, payment_address) = last_payment_request(&grid, consumer).await;
        let id = consumer.id.as_str();
        ledger_post(&http, format!("{ledger_url}/accounts/{id}/deposit"), json!({"amount": 10_000})).await;
        let batch = format!("pay-{i}");
        let transfer = json!({"id": batch, "transfers": [{"from": id, "to": payment_address, "amount": owed}]});
        assert_eq!(ledger_post(&http, format!("{ledger_url}/batches"), transfer).await, 202);
        let claim = format!(r#"{{"command":"payment","batchId":"{batch}","amount":{}}}"#, owed.get());
        publish(&grid, consumer, Command::parse(claim.as_bytes()).unwrap()).await;
    }
    grid.poll().await;

    let now = EpochMs::now().get();
    let (writes, cut) = cut_off_at(&faults, cut, monitor.run(EpochMs::parse(now as i64).unwrap())).await;
    // Restarts, after the lease expired and after the resend delay, until quiet.
    for round in 1..=4u64 {
        let at = EpochMs::parse((now + round * 300_000) as i64).unwrap();
        monitor.run(at).await.unwrap_or_else(|e| panic!("after the cut at write {cut} the monitor runs again: {e}"));
    }

    for consumer in &consumers {
        let account = grid.stores.accounts.get(&consumer.id).await.unwrap().unwrap();
        assert_eq!((account.paid, account.owed()), (account.billed, Iota::ZERO), "cut at write {cut}: {}", consumer.id);
    }
    let mut paid_out = 0;
    for (p, producer) in producers.iter().enumerate() {
        let account = grid.stores.accounts.get(&producer.id).await.unwrap().unwrap();
        assert_eq!(
            (account.paid_out, account.unpaid()),
            (account.entitled, Iota::ZERO),
            "cut at write {cut}: {}",
            producer.id
        );
        let wallet = ledger_balance(&http, &ledger_url, &format!("wallet-{p}")).await;
        assert_eq!(wallet, account.paid_out.get(), "cut at write {cut}: {} paid once, on the ledger too", producer.id);
        paid_out += account.paid_out.get();
    }
    let totals = grid.stores.accounts.totals().await.unwrap();
    let held: u64 = grid.stores.accounts.funds().await.unwrap().iter().map(|f| f.available.get()).sum();
    assert_eq!(totals.paid_in.get(), paid_out + held, "cut at write {cut}: no IOTA lost");
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_every_cut_off_of_the_monitor_pays_each_payout_once() {
    let start = async |faults| TestGrid::start_with_faults(CONFIG, &faults).await;
    let writes = at_every_write(|cut| monitor_cut_and_restart(&start, cut), 2).await;
    assert_eq!(writes, 14, "the monitor's writes (docs/reliability.md)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_every_cut_off_of_the_monitor_pays_each_payout_once() {
    let start = async |faults| TestGrid::start_on_moto_with_faults(CONFIG, &faults).await;
    let writes = at_every_write(|cut| monitor_cut_and_restart(&start, cut), 8).await;
    assert_eq!(writes, 14, "the monitor's writes (docs/reliability.md)");
}

/// The sum of every series of `name` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// What `GET /metrics` counts after three periods traded, polled and settled is what the
/// books hold: readings stored, messages the node stored, periods settled, their revenue,
/// fee and energy; and requests by route template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_trading_the_metrics_count_what_the_books_hold() {
    use grid_app::metrics::*;
    const TOKEN: &str = "metrics-test-token-0001";
    collect_for_prometheus().unwrap();
    let grid = TestGrid::start_with(&[CONFIG, &[("PORTAL_TOKEN", TOKEN)]].concat()).await;
    let first = first_period();
    let (mut producers, mut consumers) = parties(&grid).await;
    trade(&grid, &mut producers, &mut consumers, first).await;
    grid.poll().await;
    let settled = grid.settler().run(EpochMs::now()).await.unwrap();

    let scrape = grid.http.get(format!("{}/metrics", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    let mut stored = 0;
    for period in (0..6).map(|i| first + i * LENGTH_MS) {
        stored += readings_counted_in(&grid, period).await as u64;
    }
    assert_eq!((metric(&text, READINGS_INGESTED), stored), (11, 11), "{text}");
    assert_eq!(metric(&text, MESSAGES_ATTACHED), 5 + 11, "five hellos and eleven readings through the node");
    assert_eq!(metric(&text, READINGS_REJECTED), 0);
    assert_eq!(metric(&text, PERIODS_SETTLED), settled.len() as u64);
    let sum = |f: fn(&grid_core::market::SettlementRecord) -> u64| settled.iter().map(f).sum::<u64>();
    assert!(sum(|r| r.revenue.get()) > 0, "the periods traded");
    assert_eq!(metric(&text, REVENUE), sum(|r| r.revenue.get()));
    assert_eq!(metric(&text, FEE), sum(|r| r.fee.get()));
    assert_eq!(metric(&text, MATCHED), sum(|r| r.matched.get()));
    assert_eq!(metric(&text, IMPORTED), sum(|r| r.imported.get()));
    assert_eq!(metric(&text, EXPORTED), sum(|r| r.exported.get()));
    // Settled up to the last due period: its end is less than a period and a second behind.
    assert!(text.lines().any(|line| line.starts_with(SETTLEMENT_LAG)), "{text}");
    assert!(metric(&text, SETTLEMENT_LAG) <= LENGTH_MS / 1000 + 1, "{text}");
    assert!(
        text.contains(r#"http_requests{route="/registration/{registrationId}",status="2xx"} 5"#),
        "requests counted by route template, never by path: {text}"
    );

    // The sweep's gauges: nothing unread, nothing dead.
    let swept = grid.poller().sweep().await.unwrap();
    let text = grid.http.get(format!("{}/metrics", grid.base)).bearer_auth(TOKEN).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert_eq!((swept.lag_seconds, metric(&text, POLL_LAG)), (0, 0), "{text}");
    assert!(text.contains(r#"dead_letters{queue="poll-work"} 0"#), "{text}");
    assert!(text.contains(r#"dead_letters{queue="completions"} 0"#), "the sweep counts both queues: {text}");

    let stranger = grid.get("/metrics").await.expect(401);
    assert!(stranger.message().contains("PORTAL_TOKEN"), "{}", stranger.body);
}
