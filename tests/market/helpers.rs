//! What the market's tests share: the grid's configuration, the five parties and the
//! three periods' schedule they publish, the settlement expected from it alone, and a
//! development ledger with the grid's and the payers' keys. In one place so that every
//! theme trades the same schedule and checks against the same figures.

use grid_core::channel::{ChannelAccess, ChannelSecrets, Command, Reading};
use grid_core::market::{Period, PeriodLength, PeriodStart, PeriodTotals, Settlement, SettlementPolicy, settle};
use grid_core::{ChannelRoot, EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, SideKey, Wh};
use grid_tests::{TestGrid, channel};
use serde_json::{Value, json};

pub(super) const CONFIG: &[(&str, &str)] = &[
    ("SETTLEMENT_PERIOD_SECS", "60"),
    ("SETTLEMENT_GRACE_SECS", "0"),
    ("GRID_FEE_BPS", "2000"),
    ("DEFAULT_PRICE", "100"),
    ("GRID_WALLET", "grid"),
    // One round per batch-monitor run, so each step of the payment flow can be watched.
    ("MONITOR_BUDGET_SECS", "0"),
];
pub(super) const LENGTH_MS: u64 = 60_000;

pub(super) struct Party {
    pub(super) id: RegistrationId,
    pub(super) channel: ChannelSecrets,
    pub(super) next: u64,
    pub(super) return_channel: Option<ChannelAccess>,
}

/// Registers `id` as a `kind` on `channel` (opened first) over HTTP.
pub(super) async fn register(grid: &TestGrid, id: &str, kind: &str, channel: ChannelSecrets) -> Party {
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
    Party { id: RegistrationId::parse(id).unwrap(), channel, next: 1, return_channel }
}

/// Two producers and three consumers, registered with their channels opened.
pub(super) async fn parties(grid: &TestGrid) -> (Vec<Party>, Vec<Party>) {
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for (i, kind) in ["producer", "producer", "consumer", "consumer", "consumer"].into_iter().enumerate() {
        let channel = channel(10 + i as u8, &format!("SideKeyOfParty{i:04}xx"));
        let party = register(grid, &format!("{kind}-{i:04}"), kind, channel).await;
        if kind == "producer" { producers.push(party) } else { consumers.push(party) }
    }
    (producers, consumers)
}

pub(super) fn reading(start: u64, wh: u64) -> Reading {
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

pub(super) async fn publish(grid: &TestGrid, party: &mut Party, command: Command) {
    party.next = grid.publish(&party.channel, party.next, &[command]).await;
}

/// The schedule as the devices send it, in order: who sends (producer or consumer, by
/// index) and what.
pub(super) fn commands(first: u64) -> Vec<(ItemType, usize, Command)> {
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
pub(super) async fn trade(grid: &TestGrid, producers: &mut [Party], consumers: &mut [Party], first: u64) {
    for (kind, index, command) in commands(first) {
        let party = if kind == ItemType::Producer { &mut producers[index] } else { &mut consumers[index] };
        publish(grid, party, command).await;
    }
}

/// The expected settlement of each period, from the schedule alone.
pub(super) fn expected(
    first: u64,
    producers: &[Party],
    consumers: &[Party],
    policy: &SettlementPolicy,
) -> Vec<Settlement> {
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
pub(super) fn at(ms: u64) -> PeriodStart {
    PeriodStart::parse(ms).unwrap()
}

/// Each billed consumer's charge in `s`.
pub(super) fn charges(s: &Settlement) -> impl Iterator<Item = (RegistrationId, u64)> + '_ {
    s.consumers.iter().filter(|c| c.charge > Iota::ZERO).map(|c| (c.id.clone(), c.charge.get()))
}

/// Each producer's allocation in `s`, where it has one.
pub(super) fn allocations(s: &Settlement) -> impl Iterator<Item = (RegistrationId, u64)> + '_ {
    s.producers.iter().filter(|p| p.allocation > Iota::ZERO).map(|p| (p.id.clone(), p.allocation.get()))
}

pub(super) fn first_period() -> u64 {
    let now = Period::containing(EpochMs::now(), PeriodLength::from_secs(60).unwrap());
    now.start().get() - 10 * LENGTH_MS
}

/// The five parties registered and the schedule traded from the first period (not yet polled).
pub(super) async fn traded_once(grid: &TestGrid) -> (Vec<Party>, Vec<Party>, u64) {
    let first = first_period();
    let (mut producers, mut consumers) = parties(grid).await;
    trade(grid, &mut producers, &mut consumers, first).await;
    (producers, consumers, first)
}

/// A development ledger on a free port, turning batches final at once.
pub(super) async fn dev_ledger() -> (String, tempfile::TempDir) {
    dev_ledger_with(dev_ledger::LedgerOptions { final_after: std::time::Duration::ZERO, ..Default::default() }).await
}

/// The key the grid spends its accounts (`grid`, `grid-…`) with, and the one every
/// consumer here claims its account with.
const GRID_KEY: &str = "TheGridsLedgerKeyInTests";
const PAYER_KEY: &str = "EveryPayersKeyInTests01";

/// A development ledger on a free port with `options` (as `gridctl ledger` builds them
/// from its flags), where the grid's accounts are spent with [`GRID_KEY`].
pub(super) async fn dev_ledger_with(options: dev_ledger::LedgerOptions) -> (String, tempfile::TempDir) {
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
pub(super) async fn last_payment_request(grid: &TestGrid, consumer: &Party) -> (Iota, PaymentAddress) {
    let read = grid.read(consumer.return_channel.as_ref().unwrap(), 0, 100).await;
    match read.messages.iter().rev().map(|m| &m.command).find(|c| c.name() == "payment-request") {
        Some(Command::PaymentRequest { owed, payment_address, .. }) => (*owed, payment_address.clone()),
        _ => panic!("{} got no payment request", consumer.id),
    }
}

/// The grid's ledger client at `url`, with the grid's key.
pub(super) fn grid_ledger(url: &str) -> std::sync::Arc<grid_client::ledger::HttpLedger> {
    let key = grid_core::AccountKey::parse(GRID_KEY).unwrap();
    std::sync::Arc::new(
        grid_client::ledger::HttpLedger::new(url, grid_core::ledger::Dialect::Sawtooth).with_key(Some(key)),
    )
}

/// Posts to the ledger as a consumer does: with its key, and funding an account only
/// after claiming it with that key.
pub(super) async fn ledger_post(http: &reqwest::Client, url: String, body: Value) -> u16 {
    if let Some(account) = url.strip_suffix("/deposit") {
        http.put(format!("{account}/key")).json(&serde_json::json!({"key": PAYER_KEY})).send().await.unwrap();
    }
    http.post(url).header("x-account-key", PAYER_KEY).json(&body).send().await.unwrap().status().as_u16()
}

pub(super) async fn ledger_balance(http: &reqwest::Client, base: &str, address: &str) -> u64 {
    let body: Value = http.get(format!("{base}/accounts/{address}")).send().await.unwrap().json().await.unwrap();
    body["balance"].as_u64().unwrap()
}

/// The readings counted in `period`, all pages.
pub(super) async fn readings_counted_in(grid: &TestGrid, period: u64) -> usize {
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
