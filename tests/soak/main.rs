//! The serverless soak (docs/reliability.md): the grid as deployed, over moto, through
//! the functions' own handlers, under the fault plan's weather (throttles, server
//! errors, lost answers, unprocessed batch items, transaction conflicts), SQS delivering
//! again and out of order, and a ledger that fails; then its books must be exactly a
//! calm reference run's: the same community, the same readings, traded over SQLite in
//! one process without a fault.
//!
//! `make test` runs a small community for a few periods; `make soak-aws` runs fifty
//! devices for twenty-four periods (`SOAK_AWS=full`) and writes its figures to
//! `target/soak-aws/figures.json`.
//!
//! # Layout
//!
//! - `main.rs`: the run and its checks;
//! - `world.rs`: the community (producers, panels, households) and its meters;
//! - `grid.rs`: the grid's function instances, the event source and the schedules.

mod grid;
mod world;

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::future::join_all;
use grid_agents::Wallet;
use grid_core::books::Account;
use grid_core::market::{PeriodStart, SettlementRecord};
use grid_core::{EpochMs, PaymentAddress, RegistrationId};
use grid_store::faults::{ChaosPlan, Weather};

use self::grid::Grid;
use self::world::{Day, FUNDS, PERIOD_MS, SLOT_MS, SLOTS, Size};

/// The key the grid spends its ledger accounts with, in both runs.
const GRID_KEY: &str = "TheSoaksGridLedgerKey001";
/// The seed of the serverless run's faults.
const SEED: u64 = 20_261_205;
/// The weather, per thousand requests.
const WEATHER: Weather =
    Weather { throttles: 100, server_errors: 10, lost_answers: 20, unprocessed: 50, conflicts: 20 };
/// Function instances at once.
const INSTANCES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_serverless_grid_under_throttles_lost_answers_and_redeliveries_comes_to_the_calm_books() {
    let size = match std::env::var("SOAK_AWS").as_deref() {
        Ok("full") => Size { producers: 5, sources: 3, households: 30, periods: 24 },
        _ => Size { producers: 2, sources: 2, households: 6, periods: 3 },
    };
    let day = Day::before_now(size.periods);

    let (ledger, _calm_ledger) = dev_ledger(0.0).await;
    let mut reference = Grid::reference(&ledger, GRID_KEY).await;
    let calm = trade(&mut reference, size, day, &ledger).await;
    let want = Books::read(&reference, &calm, day, &ledger).await;

    let chaos = ChaosPlan::new(SEED, WEATHER);
    let (ledger, _faulty_ledger) = dev_ledger(0.1).await;
    let started = Instant::now();
    let mut serverless = Grid::serverless(INSTANCES, &chaos, &ledger, GRID_KEY).await;
    let run = trade(&mut serverless, size, day, &ledger).await;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let got = Books::read(&serverless, &run, day, &ledger).await;

    let mut lost = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            lost.push(what);
        }
    };
    check(
        run.sent == got.stored && got.duplicates == 0,
        format!("every reading stored once: {} sent, {} stored, {} twice", run.sent, got.stored, got.duplicates),
    );
    check(got.readings == want.readings, "the same readings as the calm run, registration by registration".into());
    check(
        got.settlements.len() as u64 == size.periods,
        format!("{} of {} periods settled", got.settlements.len(), size.periods),
    );
    for (period, record) in &want.settlements {
        check(got.settlements.get(period) == Some(record), format!("period {period} settled as in the calm run"));
    }
    for (id, account) in &want.accounts {
        check(
            got.accounts.get(id) == Some(account),
            format!("{id}'s account as in the calm run: {:?} against {account:?}", got.accounts.get(id)),
        );
    }
    for (id, account) in &got.accounts {
        check(
            account.paid == account.billed && account.pending.get() == 0,
            format!("{id} credited once for every bill: {account:?}"),
        );
        check(
            account.paid_out == account.entitled && account.payout_pending.get() == 0,
            format!("{id} paid exactly what it earned: {account:?}"),
        );
    }
    check(got.balances == want.balances, "every ledger balance as in the calm run".into());
    let (paid, paid_out): (u64, u64) =
        got.accounts.values().fold((0, 0), |(a, b), x| (a + x.paid.get(), b + x.paid_out.get()));
    let kept: u64 = got.settlements.values().map(|r| r.fee.get() + r.unallocated.get()).sum();
    check(paid == paid_out + kept, format!("no IOTA lost: {paid} paid in = {paid_out} paid out + {kept} kept"));
    let left = serverless.stores.poll_work.receive(10, std::time::Duration::ZERO).await.unwrap().len();
    let dead = serverless.stores.poll_work.dead_letters().await.unwrap()
        + serverless.stores.completions.dead_letters().await.unwrap();
    check(left == 0 && dead == 0, format!("the queues are empty: {left} polling messages left, {dead} dead letters"));

    let figures = serde_json::json!({
        "date": jiff::Timestamp::now().strftime("%Y-%m-%d").to_string(),
        "size": size,
        "devices": size.devices(),
        "instances": INSTANCES,
        "weather_per_mille": WEATHER,
        "faults": chaos.tally(),
        "deliveries": serverless.deliveries,
        "steps": run.steps,
        "readings": run.sent,
        "minutes": (minutes * 10.0).round() / 10.0,
        "paid_in_iota": paid,
        "paid_out_iota": paid_out,
        "lost": lost.len(),
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    if let Ok(path) = std::env::var("SOAK_AWS_FIGURES") {
        std::fs::write(&path, serde_json::to_string_pretty(&figures).unwrap()).expect("the figures are written");
    }
    assert!(chaos.tally().faults() > 0, "the weather struck: {:?}", chaos.tally());
    assert!(lost.is_empty(), "the serverless run lost something:\n- {}", lost.join("\n- "));
}

/// A development ledger on a free port, its grid accounts spent with [`GRID_KEY`];
/// `faults` of its requests fail with 503, and as often a status query says `UNKNOWN`.
async fn dev_ledger(faults: f64) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let grid = dev_ledger::GridAccounts {
        wallet: PaymentAddress::parse("grid").unwrap(),
        key: grid_core::AccountKey::parse(GRID_KEY).unwrap(),
    };
    let options = dev_ledger::LedgerOptions {
        grid: Some(grid),
        final_after: std::time::Duration::ZERO,
        unavailable_rate: faults,
        unknown_rate: faults,
        ..Default::default()
    };
    let app = dev_ledger::router(dev_ledger::LedgerStore::open(dir.path()).unwrap(), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, dir)
}

/// What a run did: who took part, what they sent, how many steps.
struct Run {
    producers: Vec<RegistrationId>,
    households: Vec<RegistrationId>,
    /// Readings the devices sent the grid: offers, usages, prosumers' outputs.
    sent: u64,
    steps: u64,
}

/// Trades `day` on `grid`: the community starts, spread over the grid's instances; each
/// slot every device acts, then the poller's sweep and its queue, settlement and the
/// batch monitor run at the slot's time; until every period is settled and paid.
async fn trade(grid: &mut Grid, size: Size, day: Day, ledger: &str) -> Run {
    let bases = grid.bases();
    let base = |n: usize| bases[n % bases.len()].clone();
    let mut producers = Vec::new();
    for p in 0..size.producers {
        producers.push(world::producer(p, size, day, &base(p), ledger).await);
    }
    let mut households = Vec::new();
    for c in 0..size.households {
        households.push(world::household(c, day, &base(c), ledger).await);
    }
    let mut run = Run {
        producers: producers.iter().map(|p| p.agent.settings().id.clone()).collect(),
        households: households.iter().map(|h| h.settings().id.clone()).collect(),
        sent: 0,
        steps: 0,
    };
    let last = PeriodStart::parse(day.end() - PERIOD_MS).unwrap();
    let mut now = day.start;
    loop {
        now += SLOT_MS;
        run.steps += 1;
        let sources = producers.iter_mut().flat_map(|p| p.sources.iter_mut()).map(|s| s.step(now));
        for step in join_all(sources).await {
            step.expect("a panel reports");
        }
        for step in join_all(producers.iter_mut().map(|p| p.agent.step(now))).await {
            run.sent += step.expect("a producer offers").offered.len() as u64;
        }
        for step in join_all(households.iter_mut().map(|h| h.step(now))).await {
            let step = step.expect("a household reports and pays");
            run.sent += (step.reported.len() + step.produced.len()) as u64;
        }
        let at = EpochMs::parse(now as i64).unwrap();
        if (now - day.start).is_multiple_of(PERIOD_MS) {
            eprintln!("soak: period {} of {} traded", (now - day.start) / PERIOD_MS, size.periods);
        }
        // Every schedule fires at each step, as the deployed ones do each minute.
        grid.sweep(at).await;
        grid.deliver(at).await;
        grid.settle(at).await;
        grid.monitor(at).await;
        let stores = &grid.stores;
        let mut done = stores.settlements.get(last).await.unwrap().is_some()
            && stores.accounts.due_batches(EpochMs::LATEST, 1).await.unwrap().is_empty()
            && stores.accounts.unpaid().await.unwrap().is_empty();
        for id in &run.households {
            let account = stores.accounts.get(id).await.unwrap().unwrap_or_default();
            done &= account.billed == account.paid;
        }
        if done {
            break;
        }
        assert!(run.steps < (size.periods + 40) * SLOTS, "not settled and paid after {} steps", run.steps);
    }
    for producer in &mut producers {
        for source in producer.sources.drain(..) {
            source.stop().await.expect("a panel says goodbye");
        }
        producer.serving.abort();
    }
    run
}

/// The books of a run, as the stores and the ledger hold them.
struct Books {
    /// Each registration's stored readings, without where on its channel they were.
    readings: BTreeMap<RegistrationId, Vec<String>>,
    stored: u64,
    /// Readings stored twice (the same kind and start of a registration).
    duplicates: u64,
    /// Each period's record, without when it was settled and where it is paid (new
    /// each run).
    settlements: BTreeMap<u64, SettlementRecord>,
    accounts: BTreeMap<RegistrationId, Account>,
    /// What each party's ledger account holds.
    balances: BTreeMap<String, u64>,
}

impl Books {
    async fn read(grid: &Grid, run: &Run, day: Day, ledger: &str) -> Self {
        let stores = &grid.stores;
        let mut books = Books {
            readings: BTreeMap::new(),
            stored: 0,
            duplicates: 0,
            settlements: BTreeMap::new(),
            accounts: BTreeMap::new(),
            balances: BTreeMap::new(),
        };
        for id in run.producers.iter().chain(&run.households) {
            let mut rows: Vec<String> = stores
                .readings
                .of_registration(id, 100_000)
                .await
                .unwrap()
                .into_iter()
                .map(|r| format!("{:?} {:?} {:?} {:?} {:?}", r.kind, r.reading, r.party, r.price, r.payment_address))
                .collect();
            rows.sort();
            books.stored += rows.len() as u64;
            let before = rows.len();
            rows.dedup();
            books.duplicates += (before - rows.len()) as u64;
            books.readings.insert(id.clone(), rows);
            books.accounts.insert(id.clone(), stores.accounts.get(id).await.unwrap().unwrap_or_default());
        }
        let unpaid = PaymentAddress::parse("the-same-in-both-runs").unwrap();
        for start in (day.start..day.end()).step_by(PERIOD_MS as usize) {
            if let Some(mut record) = stores.settlements.get(PeriodStart::parse(start).unwrap()).await.unwrap() {
                (record.settled, record.payment_address) = (EpochMs::parse(0).unwrap(), unpaid.clone());
                books.settlements.insert(start, record);
            }
        }
        let http = reqwest::Client::new();
        let accounts =
            run.producers.iter().map(|p| format!("wallet-{p}")).chain(run.households.iter().map(|h| h.to_string()));
        for account in accounts {
            let wallet = Wallet::new(ledger, PaymentAddress::parse(&account).unwrap(), http.clone());
            let balance = loop {
                // The ledger fails some reads on purpose.
                if let Ok(balance) = wallet.balance().await {
                    break balance.get();
                }
            };
            books.balances.insert(account, balance);
        }
        for id in &run.households {
            let account = &books.accounts[id];
            let expected = FUNDS - account.paid.get() + account.paid_out.get();
            assert_eq!(
                books.balances[id.as_str()],
                expected,
                "{id}'s ledger account holds its funds less its bills plus its sales"
            );
        }
        books
    }
}
