//! Crash consistency (docs/reliability.md): the channel node, polling and settlement,
//! and the batch monitor each cut off at every write they make in turn, as if the
//! process died there, then restarted; the books must come out exactly as without a
//! cut. Each harness asserts its count of writes, so a new write is a new cut tried.

use std::collections::BTreeMap;

use grid_client::channels::ChannelWriter;
use grid_core::channel::Command;
use grid_core::{EpochMs, Iota, ItemType};
use grid_tests::TestGrid;
use serde_json::json;

use super::helpers::{
    CONFIG, LENGTH_MS, Party, allocations, at, charges, commands, dev_ledger, expected, first_period, grid_ledger,
    last_payment_request, ledger_balance, ledger_post, parties, publish, readings_counted_in, traded_once,
};

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
    let (producers, consumers, first) = traded_once(&grid).await;
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
    let (producers, mut consumers, _first) = traded_once(&grid).await;
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
