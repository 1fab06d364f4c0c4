//! Payments: consumers pay their bills on the ledger and claim them, the batch monitor
//! verifies each claim there and pays the producers, and the books agree with the
//! ledger IOTA for IOTA, on a sound ledger and on one that fails requests, answers
//! `UNKNOWN` and refuses batches.

use grid_core::books::{BatchKind, BatchState};
use grid_core::channel::Command;
use grid_core::{EpochMs, Iota};
use grid_tests::TestGrid;
use serde_json::{Value, json};

use super::helpers::{
    CONFIG, dev_ledger, dev_ledger_with, grid_ledger, last_payment_request, ledger_balance, ledger_post, publish,
    traded_once,
};

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
    let (producers, mut consumers, _first) = traded_once(&grid).await;
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
    let (producers, mut consumers, _first) = traded_once(&grid).await;
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
