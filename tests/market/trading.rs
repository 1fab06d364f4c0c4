//! Trading and settlement: the schedule published through the node, polled and settled
//! into three periods that bill every consumer and balance, each period settled once
//! even by two runs at once, and a reading for a settled period counted in the next
//! open one.

use std::collections::BTreeMap;

use grid_core::channel::Command;
use grid_core::{EpochMs, Iota, Wh};
use grid_tests::TestGrid;
use serde_json::Value;

use super::helpers::{CONFIG, LENGTH_MS, allocations, at, charges, expected, publish, reading, traded_once};

async fn trading_for_three_periods_bills_every_consumer_and_balances(grid: TestGrid) {
    let (producers, consumers, first) = traded_once(&grid).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_run_twice_at_once_settles_each_period_once() {
    let grid = TestGrid::start_with(CONFIG).await;
    let (producers, consumers, first) = traded_once(&grid).await;
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
    let (_, mut consumers, first) = traded_once(&grid).await;
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
