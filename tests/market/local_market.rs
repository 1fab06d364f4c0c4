//! DESIGN.md §6's hand-computed cases and the first design's defects, end to end over
//! real sockets: parties register and publish through the grid's HTTP APIs, the poller
//! reads them, settlement clears the local market, and the period's report is read back
//! from `GET /portal/api/periods/{periodStart}` with the portal token, to the Wh and the
//! IOTA.

use grid_core::channel::{Command, random_nonce};
use grid_core::{EpochMs, Iota, RegistrationId};
use grid_tests::{TestGrid, channel};
use serde_json::{Value, json};

use super::helpers::{
    self, LENGTH_MS, Party, dev_ledger, first_period, grid_ledger, ledger_balance, ledger_post, reading,
};

const TOKEN: &str = "portal-token-for-the-market";
const CONFIG: &[(&str, &str)] = &[
    ("SETTLEMENT_PERIOD_SECS", "60"),
    ("SETTLEMENT_GRACE_SECS", "0"),
    ("GRID_FEE_BPS", "2000"),
    ("PRICE_CAP", "1000"),
    ("GRID_WALLET", "grid"),
    ("PORTAL_TOKEN", TOKEN),
    ("MONITOR_BUDGET_SECS", "0"),
];

async fn register(grid: &TestGrid, id: &str, kind: &str, seed: u8) -> Party {
    helpers::register(grid, id, kind, channel(seed, &format!("SideKeyOf{id}").replace('-', ""))).await
}

/// Publishes a command's plaintext as the device would, through the channel node.
async fn say(grid: &TestGrid, party: &mut Party, plaintext: &str) {
    let envelope = party.channel.seal(party.next, plaintext.as_bytes(), random_nonce()).unwrap();
    let address = party.channel.access().address(party.next);
    grid.channel_client().attach(&address, &envelope).await.unwrap();
    party.next += 1;
}

async fn offer(grid: &TestGrid, producer: &mut Party, start: u64, wh: u64, price: u64) {
    let wallet = format!("wallet-{}", producer.id);
    let (end, kwh) = (start + 30_000, wh as f64 / 1000.0);
    say(
        grid,
        producer,
        &format!(
            r#"{{"command":"output","startTime":{start},"endTime":{end},"output":{kwh},"producerPrice":{price},"paymentIdOrAddress":"{wallet}"}}"#
        ),
    )
    .await;
}

async fn use_energy(grid: &TestGrid, consumer: &mut Party, start: u64, wh: u64) {
    let command = Command::Usage(reading(start, wh));
    say(grid, consumer, &command.to_json()).await;
}

/// Polls and settles, then reads the period's report from the portal's API.
async fn settled_report(grid: &TestGrid, period: u64) -> Value {
    grid.poll().await;
    grid.settler().run(EpochMs::now()).await.unwrap();
    let reply = grid
        .send("GET", &format!("/portal/api/periods/{period}"), None, &[("authorization", &format!("Bearer {TOKEN}"))])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The report's row of `id` in `list` (`producers` or `consumers`).
fn row<'a>(report: &'a Value, list: &str, id: &str) -> &'a Value {
    report[list].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} in {report}"))
}

/// §6: a surplus, with one offer above the cap. Cap 1000. A offers 3 kWh at 90, B 2 kWh at
/// 120, C 1 kWh at 5000 (not admitted: all of it exported). Supply S = 5000 Wh, demand
/// D = 2000 Wh = M. In merit order A takes all of it; P = 90. X (1200·90 + 500) / 1000 =
/// 108, Y 72; R = 180, F = 36, A gets 144.
async fn a_surplus_with_an_offer_above_the_cap_settles_as_section_6_computes(grid: TestGrid) {
    let period = first_period();
    let mut a = register(&grid, "producer-a001", "producer", 60).await;
    let mut b = register(&grid, "producer-b001", "producer", 61).await;
    let mut c = register(&grid, "producer-c001", "producer", 62).await;
    let mut x = register(&grid, "consumer-x001", "consumer", 63).await;
    let mut y = register(&grid, "consumer-y001", "consumer", 64).await;
    offer(&grid, &mut a, period + 1_000, 3000, 90).await;
    offer(&grid, &mut b, period + 1_000, 2000, 120).await;
    offer(&grid, &mut c, period + 1_000, 1000, 5000).await;
    use_energy(&grid, &mut x, period + 2_000, 1200).await;
    use_energy(&grid, &mut y, period + 2_000, 800).await;

    let report = settled_report(&grid, period).await;
    let totals: Vec<&Value> = [
        "strategy",
        "price",
        "priceSource",
        "produced",
        "admitted",
        "used",
        "matched",
        "imported",
        "exported",
        "revenue",
        "fee",
        "unallocated",
    ]
    .iter()
    .map(|k| &report[*k])
    .collect();
    assert_eq!(
        totals,
        [
            &json!("clearing"),
            &json!(90),
            &json!("traded"),
            &json!(6000),
            &json!(5000),
            &json!(2000),
            &json!(2000),
            &json!(0),
            &json!(4000),
            &json!(180),
            &json!(36),
            &json!(0)
        ],
        "{report}"
    );
    let producer = |id: &str| {
        let r = row(&report, "producers", id);
        [
            &r["produced"],
            &r["ask"],
            &r["admitted"],
            &r["matched"],
            &r["exported"],
            &r["allocation"],
            &r["paymentAddress"],
        ]
        .map(Value::clone)
    };
    assert_eq!(
        producer("producer-a001"),
        [json!(3000), json!(90), json!(3000), json!(2000), json!(1000), json!(144), json!("wallet-producer-a001")]
    );
    assert_eq!(
        producer("producer-b001"),
        [json!(2000), json!(120), json!(2000), json!(0), json!(2000), json!(0), json!("wallet-producer-b001")]
    );
    assert_eq!(
        producer("producer-c001"),
        [json!(1000), json!(5000), json!(0), json!(0), json!(1000), json!(0), json!("wallet-producer-c001")]
    );
    let consumer = |id: &str| {
        let r = row(&report, "consumers", id);
        [&r["used"], &r["local"], &r["imported"], &r["charge"]].map(Value::clone)
    };
    assert_eq!(consumer("consumer-x001"), [json!(1200), json!(1200), json!(0), json!(108)]);
    assert_eq!(consumer("consumer-y001"), [json!(800), json!(800), json!(0), json!(72)]);

    // The consumer's payment request bills its local energy, at the grid's new address.
    let read = grid.read(x.return_channel.as_ref().unwrap(), 0, 10).await;
    let request = read.messages.iter().find_map(|m| match &m.command {
        Command::PaymentRequest { owed, usage, payment_address } => {
            Some((owed.get(), usage.get(), payment_address.to_string()))
        }
        _ => None,
    });
    assert_eq!(request, Some((108, 1200, format!("grid-{}", period / LENGTH_MS))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_surplus_with_an_offer_above_the_cap_settles_as_section_6_computes() {
    a_surplus_with_an_offer_above_the_cap_settles_as_section_6_computes(TestGrid::start_with(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_surplus_with_an_offer_above_the_cap_settles_as_section_6_computes() {
    a_surplus_with_an_offer_above_the_cap_settles_as_section_6_computes(TestGrid::start_on_moto(CONFIG).await).await;
}

/// §6: a shortage, two consumers sharing the matched energy with a remainder. A offers 1
/// kWh at 100; X used 2000 Wh, Y 1001 Wh: M = 1000. X: 1000·2000/3001 = 666 r 1334; Y:
/// 1000·1001/3001 = 333 r 1667, so the last Wh goes to Y: 666 and 334 local, 1334 and 667
/// imported. X (666·100 + 500) / 1000 = 67, Y 33; R = 100, F = 20, A gets 80.
async fn a_shortage_shares_the_matched_energy_by_use_to_the_watt_hour(grid: TestGrid) {
    let period = first_period();
    let mut a = register(&grid, "producer-a002", "producer", 70).await;
    let mut x = register(&grid, "consumer-x002", "consumer", 71).await;
    let mut y = register(&grid, "consumer-y002", "consumer", 72).await;
    offer(&grid, &mut a, period + 1_000, 1000, 100).await;
    use_energy(&grid, &mut x, period + 2_000, 2000).await;
    use_energy(&grid, &mut y, period + 2_000, 1001).await;

    let report = settled_report(&grid, period).await;
    let totals: Vec<&Value> =
        ["price", "produced", "admitted", "used", "matched", "imported", "exported", "revenue", "fee", "unallocated"]
            .iter()
            .map(|k| &report[*k])
            .collect();
    assert_eq!(
        totals,
        [
            &json!(100),
            &json!(1000),
            &json!(1000),
            &json!(3001),
            &json!(1000),
            &json!(2001),
            &json!(0),
            &json!(100),
            &json!(20),
            &json!(0)
        ]
    );
    let consumer = |id: &str| {
        let r = row(&report, "consumers", id);
        [&r["used"], &r["local"], &r["imported"], &r["charge"]].map(Value::clone)
    };
    assert_eq!(consumer("consumer-x002"), [json!(2000), json!(666), json!(1334), json!(67)]);
    assert_eq!(consumer("consumer-y002"), [json!(1001), json!(334), json!(667), json!(33)]);
    let a_row = row(&report, "producers", "producer-a002");
    assert_eq!((&a_row["matched"], &a_row["exported"], &a_row["allocation"]), (&json!(1000), &json!(0), &json!(80)));

    // The CSV for the operator's accounting carries the same figures.
    let csv = grid
        .http
        .get(format!("{}/portal/api/periods/{period}/report.csv", grid.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "period_start,role,id,price_iota_per_kwh,produced_wh,ask_iota_per_kwh,admitted_wh,matched_wh,exported_wh,allocation_iota,payment_address,used_wh,local_wh,imported_wh,charge_iota,\
             kind,cap_iota_per_kwh,feed_in_iota_per_kwh,self_consumed_wh,offered_wh,gain_iota,demand_wh,bid_iota_per_kwh,savings_iota",
            &format!(
                "{period},producer,producer-a002,100,1000,100,1000,1000,0,80,wallet-producer-a002,,,,,producer,1000,0,0,1000,80,,,"
            ),
            // Saved against the cap of 1000: (666 · 1000 + 500) / 1000 − 67 = 599.
            &format!("{period},consumer,consumer-x002,100,,,,,,,,2000,666,1334,67,consumer,1000,0,0,,,2000,1000,599"),
            &format!("{period},consumer,consumer-y002,100,,,,,,,,1001,334,667,33,consumer,1000,0,0,,,1001,1000,301"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_shortage_shares_the_matched_energy_by_use_to_the_watt_hour() {
    a_shortage_shares_the_matched_energy_by_use_to_the_watt_hour(TestGrid::start_with(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_shortage_shares_the_matched_energy_by_use_to_the_watt_hour() {
    a_shortage_shares_the_matched_energy_by_use_to_the_watt_hour(TestGrid::start_on_moto(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_in_a_shortage_is_paid_for_what_it_produced_not_for_what_the_utility_delivered() {
    // Measured on the first design: 2.163 kWh against 52.954 kWh earned 19.6× the ask.
    let grid = TestGrid::start_with(CONFIG).await;
    let period = first_period();
    let mut a = register(&grid, "producer-a003", "producer", 80).await;
    let mut x = register(&grid, "consumer-x003", "consumer", 81).await;
    offer(&grid, &mut a, period + 1_000, 2163, 110).await;
    use_energy(&grid, &mut x, period + 2_000, 52_954).await;
    let report = settled_report(&grid, period).await;
    let a_row = row(&report, "producers", "producer-a003");
    let ask_value = (2163 * 110_u64).div_ceil(1000);
    assert!(a_row["allocation"].as_u64().unwrap() <= ask_value, "{report}");
    assert_eq!((&report["matched"], &report["imported"]), (&json!(2163), &json!(50_791)));
    assert_eq!(row(&report, "consumers", "consumer-x003")["charge"], (2163 * 110 + 500) / 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_surplus_every_matched_producer_gets_its_ask_and_the_rest_is_exported() {
    // Measured on the first design: five producers with 94.975 kWh against 1.73 kWh of
    // use earned 1.5 % of their asks.
    let grid = TestGrid::start_with(CONFIG).await;
    let period = first_period();
    let mut producers = Vec::new();
    for (i, (wh, ask)) in
        [(20_000, 100), (20_000, 105), (20_000, 110), (20_000, 115), (14_975, 120)].into_iter().enumerate()
    {
        let mut p = register(&grid, &format!("producer-s{i:03}"), "producer", 90 + i as u8).await;
        offer(&grid, &mut p, period + 1_000, wh, ask).await;
        producers.push(p);
    }
    let mut x = register(&grid, "consumer-x004", "consumer", 99).await;
    use_energy(&grid, &mut x, period + 2_000, 1730).await;
    let report = settled_report(&grid, period).await;
    assert_eq!(
        (&report["matched"], &report["exported"], &report["price"]),
        (&json!(1730), &json!(94_975 - 1730), &json!(100))
    );
    for p in report["producers"].as_array().unwrap() {
        let matched = p["matched"].as_u64().unwrap();
        if matched > 0 {
            // Before the grid's fee, at least its ask for every matched kWh.
            let before_fee = report["revenue"].as_u64().unwrap() * matched / report["matched"].as_u64().unwrap();
            assert!(before_fee * 1000 >= matched * p["ask"].as_u64().unwrap(), "{p}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_above_the_cap_neither_takes_the_revenue_nor_moves_the_price() {
    // Measured on the first design: 8 Wh at 100,000 IOTA/kWh beside an honest 75 Wh at
    // 110 took 540 of 546 IOTA and raised the consumers' price 88×.
    let grid = TestGrid::start_with(CONFIG).await;
    let period = first_period();
    let mut honest = register(&grid, "producer-honest", "producer", 100).await;
    let mut greedy = register(&grid, "producer-greedy", "producer", 101).await;
    let mut x = register(&grid, "consumer-x005", "consumer", 102).await;
    offer(&grid, &mut honest, period + 1_000, 75, 110).await;
    offer(&grid, &mut greedy, period + 1_000, 8, 100_000).await;
    use_energy(&grid, &mut x, period + 2_000, 4_964).await;
    let report = settled_report(&grid, period).await;
    assert_eq!((&report["price"], &report["matched"], &report["revenue"]), (&json!(110), &json!(75), &json!(8)));
    let greedy_row = row(&report, "producers", "producer-greedy");
    assert_eq!(
        (&greedy_row["admitted"], &greedy_row["allocation"], &greedy_row["exported"]),
        (&json!(0), &json!(0), &json!(8))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_beyond_the_bound_is_a_rejected_message_and_every_later_period_settles() {
    // Measured on the first design: a producerPrice of 2^64 − 1 was accepted, clamped by
    // SQLite, and the next period could not be stored: no period settled again.
    let grid = TestGrid::start_with(CONFIG).await;
    let period = first_period();
    let mut p = register(&grid, "producer-huge", "producer", 110).await;
    let mut x = register(&grid, "consumer-x006", "consumer", 111).await;
    offer(&grid, &mut p, period + 1_000, 1000, u64::MAX).await;
    offer(&grid, &mut p, period + 2_000, 1000, 1_000_000_000_001).await;
    // 10^6 kWh at 10^12 IOTA/kWh is worth more than 2^64 − 1 milli-IOTA.
    offer(&grid, &mut p, period + 3_000, 1_000_000_000, 1_000_000_000_000).await;
    offer(&grid, &mut p, period + 4_000, 500, 120).await;
    use_energy(&grid, &mut x, period + 5_000, 1000).await;
    use_energy(&grid, &mut x, period + LENGTH_MS + 5_000, 1000).await;
    offer(&grid, &mut p, period + LENGTH_MS + 1_000, 800, 130).await;
    let polled = grid.poll().await;
    assert_eq!((polled.stored, polled.rejected), (4, 3), "{polled:?}");
    let id = RegistrationId::parse("producer-huge").unwrap();
    let reasons: Vec<String> =
        grid.stores.rejections.for_registration(&id, 10).await.unwrap().into_iter().map(|r| r.message).collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons.iter().all(|r| r.contains("producerPrice")), "{reasons:?}");
    assert!(
        reasons.iter().filter(|r| r.contains("above the limit of 1000000000000 IOTA/kWh")).count() == 2,
        "{reasons:?}"
    );

    let first = settled_report(&grid, period).await;
    assert_eq!((&first["price"], &first["matched"], &first["revenue"]), (&json!(120), &json!(500), &json!(60)));
    let second = settled_report(&grid, period + LENGTH_MS).await;
    assert_eq!((&second["price"], &second["matched"], &second["revenue"]), (&json!(130), &json!(800), &json!(104)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_channel_backs_one_registration_so_its_energy_counts_once() {
    // Measured on the first design: one channel registered under two producer ids had
    // its 1 kWh counted as 2 kWh, and both producers were paid.
    let grid = TestGrid::start_with(CONFIG).await;
    let shared = channel(120, "SideKeyOfTheSharedChannel");
    grid.open_channel(&shared).await;
    let body =
        json!({"itemType": "producer", "root": shared.root().as_str(), "sideKey": shared.access().side_key().expose()});
    grid.put("/registration/producer-first", &body).await.expect(201);
    let twin = grid.put("/registration/producer-twin1", &body).await.expect(409);
    assert!(twin.message().contains("bound to another registration"), "{}", twin.message());
    // Nor may an existing registration move onto it.
    let other = channel(121, "SideKeyOfAnotherChannel");
    grid.open_channel(&other).await;
    let mut moved =
        json!({"itemType": "producer", "root": other.root().as_str(), "sideKey": other.access().side_key().expose()});
    grid.put("/registration/producer-other", &moved).await.expect(201);
    moved["root"] = json!(shared.root().as_str());
    moved["sideKey"] = json!(shared.access().side_key().expose());
    grid.send(
        "PUT",
        "/registration/producer-other",
        Some(&moved),
        &[("x-side-key", other.access().side_key().expose())],
    )
    .await
    .expect(409);
    // Its energy is counted once, for its owner.
    let period = first_period();
    let mut owner = Party {
        id: RegistrationId::parse("producer-first").unwrap(),
        channel: shared.clone(),
        next: 1,
        return_channel: None,
    };
    offer(&grid, &mut owner, period + 1_000, 1000, 100).await;
    let mut x = register(&grid, "consumer-x008", "consumer", 122).await;
    use_energy(&grid, &mut x, period + 2_000, 5000).await;
    let report = settled_report(&grid, period).await;
    assert_eq!((&report["produced"], &report["matched"]), (&json!(1000), &json!(1000)), "{report}");
    assert_eq!(report["producers"].as_array().unwrap().iter().filter(|p| p["produced"] != 0).count(), 1);
    // Nor may a new registration take it over after its owner left: its readings were
    // counted under the owner, and would be read again.
    grid.delete(&format!("/registration/producer-first/{}", shared.access().side_key().expose())).await.expect(200);
    grid.put("/registration/producer-twin2", &body).await.expect(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_counts_only_transfers_to_addresses_the_grid_issued_and_all_of_them() {
    // Measured on the first design: a claim naming a grid address never issued
    // (`grid-999999999999`, or a leading zero) was credited, and a batch with two
    // transfers of 30 to the grid credited 30.
    let grid = TestGrid::start_with(CONFIG).await;
    let (ledger_url, _ledger_data) = dev_ledger().await;
    let monitor = grid_app::jobs::BatchMonitor::new(&grid.stores, &grid.config, grid_ledger(&ledger_url));
    let period = first_period();
    let mut a = register(&grid, "producer-a007", "producer", 130).await;
    let mut x = register(&grid, "consumer-x007", "consumer", 131).await;
    offer(&grid, &mut a, period + 1_000, 1000, 100).await;
    use_energy(&grid, &mut x, period + 2_000, 1000).await;
    let report = settled_report(&grid, period).await;
    let issued = report["paymentAddress"].as_str().unwrap().to_owned();
    assert_eq!(issued, format!("grid-{}", period / LENGTH_MS));
    assert_eq!(report["revenue"], 100);

    let http = reqwest::Client::new();
    let account = x.id.clone();
    let account = account.as_str();
    assert_eq!(
        ledger_post(&http, format!("{ledger_url}/accounts/{account}/deposit"), json!({"amount": 1000})).await,
        200
    );
    let leading_zero = format!("grid-0{}", period / LENGTH_MS);
    let transfers = json!([
        {"from": account, "to": "grid-999999999999", "amount": 500},
        {"from": account, "to": leading_zero, "amount": 200},
        {"from": account, "to": issued, "amount": 30},
        {"from": account, "to": issued, "amount": 30},
    ]);
    assert_eq!(
        ledger_post(&http, format!("{ledger_url}/batches"), json!({"id": "pay-x", "transfers": transfers})).await,
        202
    );
    let unissued_only = json!([{"from": account, "to": "grid-999999999999", "amount": 100}]);
    assert_eq!(
        ledger_post(&http, format!("{ledger_url}/batches"), json!({"id": "pay-nowhere", "transfers": unissued_only}))
            .await,
        202
    );
    say(&grid, &mut x, r#"{"command":"payment","batchId":"pay-x","amount":60}"#).await;
    say(&grid, &mut x, r#"{"command":"payment","batchId":"pay-nowhere","amount":100}"#).await;
    assert_eq!(grid.poll().await.payments, 2);

    let run = monitor.run(EpochMs::now()).await.unwrap();
    assert_eq!((run.verified, run.rejected), (1, 1), "{run:?}");
    let consumer = grid.stores.accounts.get(&RegistrationId::parse(account).unwrap()).await.unwrap().unwrap();
    assert_eq!((consumer.paid, consumer.pending, consumer.owed()), (Iota::new(60), Iota::ZERO, Iota::new(40)));
    // Only the issued address holds the grid's money: the 60 paid in, less the 40 paid
    // out to the producer from it (its 80 allocation, as far as cash less fees allows).
    let totals = grid.stores.accounts.totals().await.unwrap();
    assert_eq!((totals.paid_in, totals.payouts), (Iota::new(60), Iota::new(40)));
    let funds = grid.stores.accounts.funds().await.unwrap();
    assert_eq!(
        funds.iter().map(|f| (f.address.as_str().to_owned(), f.available.get())).collect::<Vec<_>>(),
        [(issued.clone(), 20)]
    );
    assert_eq!(ledger_balance(&http, &ledger_url, &issued).await, 20);
}

async fn bid(grid: &TestGrid, buyer: &mut Party, start: u64, wh: u64, price: u64) {
    let (end, kwh) = (start + 30_000, wh as f64 / 1000.0);
    let usage =
        format!(r#"{{"command":"usage","startTime":{start},"endTime":{end},"usage":{kwh},"consumerPrice":{price}}}"#);
    say(grid, buyer, &usage).await;
}

/// §6 "Prosumers, bids and tariffs", end to end: grid-core's hand-computed community
/// (tests/settlement.rs) registered and published over HTTP under a tariff of 120
/// (cap) and 40 (feed-in). A producer (2 kWh at 100); prosumer H makes 1.5 kWh at 90 and
/// uses 0.5; prosumer K makes 0.2 kWh at 80 and uses 1.2, without a bid; X uses 1.5 kWh
/// bidding 110, Y 1 kWh bidding 95. M = 2500 at P = 100; Y buys nothing locally. The cap
/// is a time-of-use schedule: 120 only in the minute the period starts, 500 otherwise.
async fn a_community_with_prosumers_and_bids_settles_two_sided(grid: TestGrid, period: u64) {
    let mut a = register(&grid, "producer-a101", "producer", 70).await;
    let mut h = register(&grid, "prosumer-h101", "prosumer", 71).await;
    let mut k = register(&grid, "prosumer-k101", "prosumer", 72).await;
    let mut x = register(&grid, "consumer-x101", "consumer", 73).await;
    let mut y = register(&grid, "consumer-y101", "consumer", 74).await;
    assert!(h.return_channel.is_some() && k.return_channel.is_some(), "a prosumer is billed on a return channel");
    offer(&grid, &mut a, period + 1_000, 2000, 100).await;
    offer(&grid, &mut h, period + 1_000, 1500, 90).await;
    use_energy(&grid, &mut h, period + 2_000, 500).await;
    offer(&grid, &mut k, period + 1_000, 200, 80).await;
    use_energy(&grid, &mut k, period + 2_000, 1200).await;
    bid(&grid, &mut x, period + 2_000, 1500, 110).await;
    bid(&grid, &mut y, period + 2_000, 1000, 95).await;

    let report = settled_report(&grid, period).await;
    let figures = |keys: &[&str]| keys.iter().map(|k| report[*k].clone()).collect::<Vec<Value>>();
    assert_eq!(
        figures(&["price", "cap", "feedIn", "produced", "used", "selfConsumed", "offered", "demand", "matched"]),
        [
            json!(100),
            json!(120),
            json!(40),
            json!(3700),
            json!(4200),
            json!(700),
            json!(3000),
            json!(3500),
            json!(2500)
        ]
    );
    assert_eq!(
        figures(&[
            "imported",
            "exported",
            "revenue",
            "fee",
            "selfSufficiencyBps",
            "selfConsumptionBps",
            "savings",
            "gains"
        ]),
        [json!(1000), json!(500), json!(250), json!(50), json!(7619), json!(8648), json!(50), json!(100)]
    );
    let seller = |id: &str| {
        let r = row(&report, "producers", id);
        (r["kind"].clone(), r["selfConsumed"].clone(), r["matched"].clone(), r["allocation"].clone(), r["gain"].clone())
    };
    assert_eq!(seller("producer-a101"), (json!("producer"), json!(0), json!(1500), json!(120), json!(60)));
    assert_eq!(seller("prosumer-h101"), (json!("prosumer"), json!(500), json!(1000), json!(80), json!(40)));
    let buyer = |id: &str| {
        let r = row(&report, "consumers", id);
        (r["kind"].clone(), r["bid"].clone(), r["local"].clone(), r["charge"].clone(), r["savings"].clone())
    };
    assert_eq!(buyer("consumer-x101"), (json!("consumer"), json!(110), json!(1500), json!(150), json!(30)));
    assert_eq!(buyer("consumer-y101"), (json!("consumer"), json!(95), json!(0), json!(0), json!(0)));
    assert_eq!(buyer("prosumer-k101"), (json!("prosumer"), json!(120), json!(1000), json!(100), json!(20)));
    // The CSV carries the same, a row per list: K's as a buyer.
    let url = format!("{}/portal/api/periods/{period}/report.csv", grid.base);
    let csv = reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    assert!(csv.lines().next().unwrap().ends_with("kind,cap_iota_per_kwh,feed_in_iota_per_kwh,self_consumed_wh,offered_wh,gain_iota,demand_wh,bid_iota_per_kwh,savings_iota"), "{csv}");
    assert!(
        csv.contains(&format!(
            "{period},consumer,prosumer-k101,100,,,,,,,,1200,1000,0,100,prosumer,120,40,200,,,1000,120,20"
        )),
        "{csv}"
    );
    assert!(csv.contains(&format!("{period},producer,prosumer-h101,100,1500,90,1000,1000,0,80,wallet-prosumer-h101,,,,,prosumer,120,40,500,1000,40,,,")), "{csv}");
    // The portal lists prosumers among the sellers and the buyers, and counts them.
    let api = |path: &str| {
        let url = format!("{}/portal/api/{path}", grid.base);
        async move {
            reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    let ids = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&api("producers").await), ["producer-a101", "prosumer-h101", "prosumer-k101"]);
    assert_eq!(ids(&api("consumers?page=0&pageSize=2").await), ["consumer-x101", "consumer-y101"]);
    assert_eq!(ids(&api("consumers?page=1&pageSize=2").await), ["prosumer-h101", "prosumer-k101"]);
    let overview = api("overview").await;
    assert_eq!(overview["prosumers"]["active"], 2);
    // The community's totals, on both stores: the one period's savings and gains.
    assert_eq!((overview["savings"].clone(), overview["gains"].clone()), (json!(50), json!(100)));
    // Each member sees its own rows of the report (K both of them, as buyer and seller),
    // with its side key, and nothing without it or with another's.
    let grid = &grid;
    let statement = |id: &str, key: Option<String>| {
        let path = format!("/members/{id}/statement?from={period}&to={}", period + 60_000);
        async move {
            let headers: Vec<(&str, &str)> = key.iter().map(|k| ("x-side-key", k.as_str())).collect();
            grid.send("GET", &path, None, &headers).await
        }
    };
    let key_of = |party: &Party| party.channel.access().side_key().expose().to_owned();
    let mine = statement("prosumer-k101", Some(key_of(&k))).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let line = &mine.body["periods"][0];
    assert_eq!(mine.body["periods"].as_array().unwrap().len(), 1);
    let bought = ["used", "selfConsumed", "local", "imported", "charge", "bid", "savings"].map(|f| line[f].clone());
    assert_eq!(bought, [json!(1200), json!(200), json!(1000), json!(0), json!(100), json!(120), json!(20)], "{line}");
    let sold = ["produced", "offered", "matched", "exported", "allocation", "ask", "gain"].map(|f| line[f].clone());
    assert_eq!(sold, [json!(200), json!(0), json!(0), json!(0), json!(0), json!(80), json!(0)], "{line}");
    assert_eq!(
        (line["price"].clone(), line["cap"].clone(), line["feedIn"].clone()),
        (json!(100), json!(120), json!(40))
    );
    assert_eq!(
        (mine.body["totals"]["billed"].clone(), mine.body["totals"]["charge"].clone()),
        (json!(100), json!(100))
    );
    // H's, by H's return channel key (any of a registration's keys).
    let h_key = h.return_channel.as_ref().unwrap().side_key().expose().to_owned();
    let theirs = statement("prosumer-h101", Some(h_key)).await;
    assert_eq!((theirs.status, theirs.body["totals"]["allocation"].clone()), (200, json!(80)));
    assert_eq!(statement("prosumer-k101", None).await.status, 401);
    assert_eq!(statement("prosumer-k101", Some(key_of(&x))).await.status, 403);
    let url = format!("{}/members/consumer-x101/statement?from={period}&to={}", grid.base, period + 60_000);
    let request = reqwest::Client::new().get(url).header("accept", "text/csv").header("x-side-key", key_of(&x));
    let csv = request.send().await.unwrap().text().await.unwrap();
    assert!(csv.lines().next().unwrap().starts_with("period_start_ms,kind,price_iota_per_kwh"), "{csv}");
    assert!(csv.contains(&format!("{period},consumer,100,120,40,0,1500,1500,0,150,110,30,0,0,0,0,0,,0")), "{csv}");
    // A bid beyond the bound is refused, and recorded with its reason.
    let (start, end) = (period + 40_000, period + 50_000);
    let beyond = format!(
        r#"{{"command":"usage","startTime":{start},"endTime":{end},"usage":0.1,"consumerPrice":1000000000001}}"#
    );
    say(grid, &mut y, &beyond).await;
    grid.poll().await;
    let rejections = api("rejections").await;
    let refused =
        rejections.as_array().unwrap().iter().find(|r| r["registration"] == "consumer-y101").expect("recorded");
    assert!(refused["reason"].as_str().unwrap().contains("consumerPrice"), "{refused}");
    // K is billed on its return channel for its local energy.
    let read = grid.read(k.return_channel.as_ref().unwrap(), 0, 10).await;
    let bills: Vec<&Command> =
        read.messages.iter().map(|m| &m.command).filter(|c| c.name() == "payment-request").collect();
    assert!(matches!(bills[..], [Command::PaymentRequest { owed, .. }] if *owed == Iota::new(100)), "{bills:?}");
}

/// The community's settings, with a cap of 120 IOTA/kWh in the minute (UTC) `period`
/// starts and 500 in every other.
fn community(period: u64) -> Vec<(&'static str, String)> {
    let minute = period / 60_000 % 1440;
    let at = |m: u64| format!("{:02}:{:02}", m / 60, m % 60);
    let mut cap = if minute == 0 { "00:00=120".to_owned() } else { format!("00:00=500,{}=120", at(minute)) };
    if minute + 1 < 1440 {
        cap += &format!(",{}=500", at(minute + 1));
    }
    [
        ("SETTLEMENT_PERIOD_SECS", "60".to_owned()),
        ("SETTLEMENT_GRACE_SECS", "0".to_owned()),
        ("GRID_FEE_BPS", "2000".to_owned()),
        ("PRICE_CAP", cap),
        ("FEED_IN_PRICE", "40".to_owned()),
        ("GRID_WALLET", "grid".to_owned()),
        ("PORTAL_TOKEN", TOKEN.to_owned()),
        ("MONITOR_BUDGET_SECS", "0".to_owned()),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_store_a_community_with_prosumers_and_bids_settles_two_sided() {
    let period = first_period();
    let vars = community(period);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    a_community_with_prosumers_and_bids_settles_two_sided(TestGrid::start_with(&vars).await, period).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_s3_and_sqs_a_community_with_prosumers_and_bids_settles_two_sided() {
    let period = first_period();
    let vars = community(period);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    a_community_with_prosumers_and_bids_settles_two_sided(TestGrid::start_on_moto(&vars).await, period).await;
}
