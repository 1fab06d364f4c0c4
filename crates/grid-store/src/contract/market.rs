//! The contract of the money engine's stores: readings, settlements, accounts.
//! They are checked together because they must agree: a period being settled takes
//! no reading, however the two race.

use std::sync::Arc;

use grid_core::books::{
    AccountEntry, ClaimResolution, Cover, Credit, GridEntry, PaymentClaim, PayoutRecord, PayoutResolution,
    StatementLine, StatementRange,
};
use grid_core::channel::Reading;
use grid_core::market::{
    CommunityFigures, ConsensusStrategy, MarketRules, PeriodStart, PriceSource, ReadingKind, SettlementHead,
    SettlementRecord, StoredReading,
};
use grid_core::{EpochMs, Iota, ItemType, PaymentAddress, Price, RegistrationId, Wh};

use super::ms;
use crate::{AccountStore, ConflictKind, Insertion, ReadingStore, ReadingSum, SettlementStore, StoreError};

/// One backend's money-engine stores.
#[derive(Clone)]
pub struct MarketStores {
    pub readings: Arc<dyn ReadingStore>,
    pub settlements: Arc<dyn SettlementStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub leases: Arc<dyn crate::LeaseStore>,
    pub heartbeats: Arc<dyn crate::HeartbeatLog>,
    pub rejections: Arc<dyn crate::RejectionLog>,
}

const PERIOD: u64 = 1_795_860_000_000;
const LENGTH: u64 = 900_000;

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).unwrap()
}

/// The period starting at `ms`.
fn at(ms: u64) -> PeriodStart {
    PeriodStart::parse(ms).unwrap()
}

fn price(p: u64) -> Price {
    Price::parse(p).unwrap()
}

fn address(a: &str) -> PaymentAddress {
    PaymentAddress::parse(a).unwrap()
}

fn reading(registration: &str, start: u64, wh: u64) -> StoredReading {
    let time = |ms: u64| EpochMs::parse(ms as i64).unwrap();
    StoredReading {
        registration: id(registration),
        kind: ReadingKind::Output,
        reading: Reading { start: time(start), end: time(start + 60_000), energy: Wh::new(wh) },
        party: Some(ItemType::Producer),
        price: Some(price(120)),
        payment_address: Some(address("wallet-1")),
        channel_index: 4,
        period: at(start - start % LENGTH),
        counted_in: at(start - start % LENGTH),
    }
}

fn record(period: u64) -> SettlementRecord {
    SettlementRecord {
        period: at(period),
        rules: MarketRules::Local,
        strategy: Some(ConsensusStrategy::Clearing),
        price: price(130),
        price_source: PriceSource::Traded,
        produced: Wh::new(3000),
        admitted: Wh::new(3000),
        used: Wh::new(2734),
        matched: Wh::new(2734),
        imported: Wh::ZERO,
        exported: Wh::new(266),
        revenue: Iota::new(355),
        fee: Iota::new(71),
        distributable: Iota::new(284),
        unallocated: Iota::ZERO,
        producers: 2,
        consumers: 2,
        payment_address: address(&format!("grid-{period}")),
        settled: EpochMs::parse(1_795_861_000_000).unwrap(),
        community: CommunityFigures {
            cap: price(1000),
            feed_in: price(40),
            self_consumed: Wh::new(120),
            self_sufficiency_bps: 10_000,
            self_consumption_bps: 9_556,
            savings: Iota::new(2377),
            gains: 177,
        },
    }
}

fn entry(name: &str, billed: u64, entitled: u64) -> AccountEntry {
    entry_at(name, billed, entitled, &format!("wallet-of-{name}"))
}

/// An entry whose allocation (if any) is payable to `wallet`.
fn entry_at(name: &str, billed: u64, entitled: u64, wallet: &str) -> AccountEntry {
    let line = StatementLine {
        used: Wh::new(billed * 10),
        local: Wh::new(billed * 10),
        charge: Iota::new(billed),
        produced: Wh::new(entitled * 7),
        offered: Wh::new(entitled * 7),
        matched: Wh::new(entitled * 5),
        exported: Wh::new(entitled * 2),
        allocation: Iota::new(entitled),
        ..StatementLine::blank(at(PERIOD), price(100), price(120), price(40))
    };
    AccountEntry {
        registration: id(name),
        payment_address: (entitled > 0).then(|| address(wallet)),
        energy: Wh::new(billed * 10 + entitled * 7),
        matched: Wh::new(billed * 10 + entitled * 5),
        line,
    }
}

fn claim(consumer: &str, batch: &str, amount: u64) -> PaymentClaim {
    PaymentClaim {
        registration: id(consumer),
        batch_id: grid_core::BatchId::parse(batch).unwrap(),
        amount: Iota::new(amount),
        channel_index: 2,
        claimed: EpochMs::parse(1_795_861_000_000).unwrap(),
    }
}

fn verified(credits: &[(&str, u64, u64)]) -> ClaimResolution {
    ClaimResolution::Verified {
        credits: credits
            .iter()
            .map(|(a, seq, amount)| Credit { address: address(a), seq: *seq, amount: Iota::new(*amount) })
            .collect(),
    }
}

async fn due_ids(stores: &MarketStores, now: u64) -> Vec<String> {
    stores.accounts.due_batches(ms(now), 100).await.unwrap().iter().map(|b| b.watched.batch_id().to_string()).collect()
}

async fn all_counted_in(stores: &MarketStores, period: u64, page: usize) -> Vec<StoredReading> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let got = stores.readings.counted_in(at(period), after.as_ref(), page).await.unwrap();
        assert!(got.readings.len() <= page);
        all.extend(got.readings);
        match got.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// Each sum carries the price its readings carried (an output's ask, a usage's bid) and
/// the kind of registration that sent them; a reading stored before kinds were kept
/// has none.
pub async fn a_periods_readings_are_summed_per_registration_kind_and_price_with_the_latest_address(
    stores: MarketStores,
) {
    let offer = |start: u64, wh: u64, price: u64, wallet: &str| {
        let mut r = reading("producer-0001", start, wh);
        r.price = Some(self::price(price));
        r.payment_address = Some(address(wallet));
        r
    };
    let usage = |registration: &str, start: u64, wh: u64| {
        let mut r = reading(registration, start, wh);
        (r.kind, r.price, r.payment_address, r.party) = (ReadingKind::Usage, None, None, Some(ItemType::Consumer));
        r
    };
    let bid = |start: u64, wh: u64, bid: u64| {
        let mut r = usage("prosumer-0003", start, wh);
        (r.price, r.party) = (Some(self::price(bid)), Some(ItemType::Prosumer));
        r
    };
    let mut old = usage("consumer-0002", PERIOD, 7);
    old.party = None;
    // Out of order on purpose: the latest reading's address wins, not the last stored.
    let readings = [
        offer(PERIOD + 120_000, 400, 120, "wallet-late"),
        offer(PERIOD + 10_000, 1_000, 120, "wallet-early"),
        // The first reading of the period is offered at the higher price.
        offer(PERIOD, 250, 130, "wallet-middle"),
        old,
        usage("consumer-0001", PERIOD, 300),
        bid(PERIOD, 200, 95),
        bid(PERIOD + 60_000, 100, 95),
        usage("consumer-0001", PERIOD + 60_000, 450),
        // Another period's reading is not summed.
        usage("consumer-0001", PERIOD + LENGTH, 9_999),
    ];
    for r in &readings {
        assert_eq!(stores.readings.insert(r).await.unwrap(), Insertion::Stored);
    }
    let sum = |registration: &str, kind, price: Option<u64>, wh, latest: u64, wallet: Option<&str>| ReadingSum {
        registration: id(registration),
        kind,
        price: price.map(self::price),
        energy: Wh::new(wh),
        latest_start: latest,
        payment_address: wallet.map(|w| PaymentAddress::parse(w).unwrap()),
        party: Some(match kind {
            ReadingKind::Output => ItemType::Producer,
            ReadingKind::Usage => ItemType::Consumer,
        }),
    };
    assert_eq!(
        stores.readings.sums(at(PERIOD)).await.unwrap(),
        vec![
            sum("consumer-0001", ReadingKind::Usage, None, 750, PERIOD + 60_000, None),
            ReadingSum { party: None, ..sum("consumer-0002", ReadingKind::Usage, None, 7, PERIOD, None) },
            sum("producer-0001", ReadingKind::Output, Some(120), 1_400, PERIOD + 120_000, Some("wallet-late")),
            sum("producer-0001", ReadingKind::Output, Some(130), 250, PERIOD, Some("wallet-middle")),
            ReadingSum {
                party: Some(ItemType::Prosumer),
                ..sum("prosumer-0003", ReadingKind::Usage, Some(95), 300, PERIOD + 60_000, None)
            },
        ]
    );
    assert_eq!(
        stores.readings.sums(at(PERIOD + LENGTH)).await.unwrap(),
        vec![sum("consumer-0001", ReadingKind::Usage, None, 9_999, PERIOD + LENGTH, None)]
    );
    assert!(stores.readings.sums(at(PERIOD + 2 * LENGTH)).await.unwrap().is_empty());
}

pub async fn a_stored_reading_is_counted_in_its_period_exactly_as_stored(stores: MarketStores) {
    let mut usage = reading("consumer-0001", PERIOD + 5_000, 750);
    usage.kind = ReadingKind::Usage;
    usage.price = None;
    usage.payment_address = None;
    let output = reading("producer-0001", PERIOD + 1_000, 1250);
    assert_eq!(stores.readings.insert(&output).await.unwrap(), Insertion::Stored);
    assert_eq!(stores.readings.insert(&usage).await.unwrap(), Insertion::Stored);
    let mut got = all_counted_in(&stores, PERIOD, 10).await;
    got.sort_by_key(|r| r.registration.clone());
    assert_eq!(got, vec![usage, output]);
    assert!(all_counted_in(&stores, PERIOD + LENGTH, 10).await.is_empty());
}

pub async fn the_same_reading_twice_is_a_duplicate_and_the_first_is_kept(stores: MarketStores) {
    let first = reading("producer-0002", PERIOD, 1000);
    let mut again = first.clone();
    again.reading.energy = Wh::new(9999);
    again.channel_index = 9;
    assert_eq!(stores.readings.insert(&first).await.unwrap(), Insertion::Stored);
    assert_eq!(stores.readings.insert(&again).await.unwrap(), Insertion::Duplicate);
    // A late copy counted in another period is still the same reading.
    let mut moved = first.clone();
    moved.counted_in = at(PERIOD + LENGTH);
    assert_eq!(stores.readings.insert(&moved).await.unwrap(), Insertion::Duplicate);
    assert_eq!(all_counted_in(&stores, PERIOD, 10).await, vec![first]);
}

pub async fn fresh_readings_are_stored_once_each_like_any_other(stores: MarketStores) {
    let first = reading("producer-0007", PERIOD, 1000);
    let second = reading("producer-0007", PERIOD + 1_000, 500);
    let fresh = stores.readings.insert_fresh(&[first.clone(), second.clone(), first.clone()]).await.unwrap();
    assert_eq!(fresh, vec![Insertion::Stored, Insertion::Stored, Insertion::Duplicate]);
    assert_eq!(stores.readings.insert(&second).await.unwrap(), Insertion::Duplicate, "one reading, however written");
    let mut moved = reading("producer-0007", PERIOD + 2_000, 7);
    moved.counted_in = at(PERIOD + LENGTH);
    assert_eq!(stores.readings.insert_fresh(&[moved.clone()]).await.unwrap(), vec![Insertion::Stored]);
    assert_eq!(stores.readings.insert(&moved).await.unwrap(), Insertion::Duplicate, "a moved one keeps its marker");
    assert_eq!(all_counted_in(&stores, PERIOD, 10).await, vec![first, second]);
    assert_eq!(all_counted_in(&stores, PERIOD + LENGTH, 10).await, vec![moved]);
}

pub async fn of_concurrent_inserts_of_one_reading_exactly_one_is_stored(stores: MarketStores) {
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (stores, mut r) = (stores.clone(), reading("producer-0003", PERIOD, 100));
            r.channel_index = i;
            tokio::spawn(async move { stores.readings.insert(&r).await.unwrap() })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        if task.await.unwrap() == Insertion::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(all_counted_in(&stores, PERIOD, 10).await.len(), 1);
}

pub async fn a_periods_readings_page_through_each_once(stores: MarketStores) {
    for i in 0..130u64 {
        let registration = format!("producer-{:04}", i % 7);
        stores.readings.insert(&reading(&registration, PERIOD + i * 1000, i)).await.unwrap();
    }
    let got = all_counted_in(&stores, PERIOD, 25).await;
    assert_eq!(got.len(), 130);
    let mut starts: Vec<u64> = got.iter().map(|r| r.reading.start.get()).collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 130, "no reading listed twice");
}

pub async fn readings_inserted_together_get_one_outcome_each(stores: MarketStores) {
    let before = reading("producer-0005", PERIOD, 1);
    assert_eq!(stores.readings.insert(&before).await.unwrap(), Insertion::Stored);
    stores.settlements.close(at(PERIOD), None).await.unwrap();
    let mut next = reading("producer-0005", PERIOD + LENGTH, 2);
    next.counted_in = at(PERIOD + LENGTH);
    let mut late = reading("producer-0005", PERIOD + 5_000, 3);
    late.counted_in = at(PERIOD + LENGTH);
    let batch = [reading("producer-0006", PERIOD + 1_000, 4), next.clone(), late.clone(), next.clone()];
    assert_eq!(
        stores.readings.insert_many(&batch).await.unwrap(),
        vec![Insertion::PeriodClosed, Insertion::Stored, Insertion::Stored, Insertion::Duplicate]
    );
    assert_eq!(stores.readings.insert_many(&[]).await.unwrap(), vec![]);
    assert_eq!(all_counted_in(&stores, PERIOD, 10).await, vec![before]);
    let mut later = all_counted_in(&stores, PERIOD + LENGTH, 10).await;
    later.sort_by_key(|r| r.reading.start.get());
    assert_eq!(later, vec![late, next]);
}

pub async fn periods_settle_in_order_and_a_closing_period_takes_no_reading(stores: MarketStores) {
    assert_eq!(stores.settlements.head().await.unwrap(), SettlementHead::default());
    stores.readings.insert(&reading("producer-0004", PERIOD, 1)).await.unwrap();
    stores.settlements.close(at(PERIOD), None).await.unwrap();
    stores.settlements.close(at(PERIOD), None).await.unwrap(); // a resumed run
    assert_eq!(
        stores.readings.insert(&reading("producer-0004", PERIOD + 10, 1)).await.unwrap(),
        Insertion::PeriodClosed
    );
    let mut late = reading("producer-0004", PERIOD + 20, 1);
    late.counted_in = at(PERIOD + LENGTH);
    assert_eq!(stores.readings.insert(&late).await.unwrap(), Insertion::Stored);

    // Out of order, or finishing what is not closing, is refused.
    let moved = |result: Result<(), StoreError>| result.is_err_and(|e| e.is_conflict(ConflictKind::Moved));
    assert!(moved(stores.settlements.close(at(PERIOD + LENGTH), Some(at(PERIOD))).await));
    assert!(moved(stores.settlements.finish(&record(PERIOD + LENGTH)).await));

    stores.settlements.finish(&record(PERIOD)).await.unwrap();
    assert!(moved(stores.settlements.finish(&record(PERIOD)).await));
    assert_eq!(stores.settlements.head().await.unwrap(), SettlementHead { latest: Some(at(PERIOD)), closing: None });
    assert_eq!(stores.settlements.get(at(PERIOD)).await.unwrap(), Some(record(PERIOD)));
    assert_eq!(stores.settlements.get(at(PERIOD + LENGTH)).await.unwrap(), None);
    assert_eq!(
        stores.readings.insert(&reading("producer-0004", PERIOD + 30, 1)).await.unwrap(),
        Insertion::PeriodClosed
    );

    assert!(moved(stores.settlements.close(at(PERIOD + 2 * LENGTH), None).await));
    stores.settlements.close(at(PERIOD + LENGTH), Some(at(PERIOD))).await.unwrap();
    assert_eq!(all_counted_in(&stores, PERIOD + LENGTH, 10).await, vec![late]);
}

pub async fn account_entries_apply_once_per_period(stores: MarketStores) {
    let entries = [entry("consumer-0009", 165, 0), entry("producer-0009", 0, 146)];
    let first = GridEntry { fee: Iota::new(60), savings: Iota::new(40), gains: 25 };
    let second = GridEntry { fee: Iota::new(2), savings: Iota::new(3), gains: -30 };
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    stores.accounts.apply(at(PERIOD + LENGTH), &[entry("consumer-0009", 10, 0)], second).await.unwrap();
    stores.accounts.apply(at(PERIOD), &entries, first).await.unwrap();
    let totals = stores.accounts.totals().await.unwrap();
    assert_eq!(
        (totals.fees, totals.savings, totals.gains),
        (Iota::new(62), Iota::new(43), -5),
        "each period's fee, savings and gains once (gains may be negative)"
    );
    let consumer = stores.accounts.get(&id("consumer-0009")).await.unwrap().unwrap();
    assert_eq!(
        (consumer.billed, consumer.last_period, consumer.owed(), consumer.energy, consumer.matched),
        (Iota::new(175), Some(at(PERIOD + LENGTH)), Iota::new(175), Wh::new(1750), Wh::new(1750))
    );
    let producer = stores.accounts.get(&id("producer-0009")).await.unwrap().unwrap();
    assert_eq!(
        (producer.entitled, producer.last_period, producer.energy, producer.matched, producer.unmatched()),
        (Iota::new(146), Some(at(PERIOD)), Wh::new(1022), Wh::new(730), Wh::new(292))
    );
    assert_eq!(stores.accounts.get(&id("nobody-00009")).await.unwrap(), None);
}

pub async fn a_members_statement_lines_are_written_with_its_entries_and_read_by_range(stores: MarketStores) {
    // A prosumer: bought and sold in one period, only sold in the next.
    let both = |period: u64, charge: u64, gain: i64| AccountEntry {
        registration: id("prosumer-0030"),
        payment_address: Some(address("wallet-0030")),
        energy: Wh::new(3000),
        matched: Wh::new(900),
        line: StatementLine {
            kind: Some(ItemType::Prosumer),
            self_consumed: Wh::new(500),
            used: Wh::new(1200),
            local: Wh::new(400),
            imported: Wh::new(300),
            charge: Iota::new(charge),
            bid: Some(price(110)),
            savings: Iota::new(8),
            produced: Wh::new(1800),
            offered: Wh::new(1300),
            matched: Wh::new(500),
            exported: Wh::new(800),
            allocation: Iota::new(41),
            ask: Some(price(90)),
            gain,
            ..StatementLine::blank(at(period), price(100), price(120), price(40))
        },
    };
    let (first, second) = (both(PERIOD, 40, 21), both(PERIOD + LENGTH, 0, -3));
    stores.accounts.apply(at(PERIOD), std::slice::from_ref(&first), GridEntry::default()).await.unwrap();
    stores.accounts.apply(at(PERIOD), std::slice::from_ref(&first), GridEntry::default()).await.unwrap();
    let neighbour = entry("consumer-0030", 55, 0);
    stores.accounts.apply(at(PERIOD + LENGTH), &[second.clone(), neighbour], GridEntry::default()).await.unwrap();

    let range = |from: u64, to: u64| StatementRange::parse(Some(ms(from)), Some(ms(to)), ms(to)).unwrap();
    let lines = |from, to| {
        let accounts = stores.accounts.clone();
        async move { accounts.statement_lines(&id("prosumer-0030"), range(from, to)).await.unwrap() }
    };
    assert_eq!(lines(PERIOD, PERIOD + 2 * LENGTH).await, [first.line.clone(), second.line.clone()], "once each");
    assert_eq!(lines(PERIOD, PERIOD + LENGTH).await, std::slice::from_ref(&first.line), "to is exclusive");
    assert_eq!(lines(PERIOD + 1, PERIOD + 2 * LENGTH).await, [second.line], "from is inclusive");
    assert_eq!(lines(PERIOD + 2 * LENGTH, PERIOD + 3 * LENGTH).await, []);
    let nobody = id("consumer-0031");
    let lines = stores.accounts.statement_lines(&nobody, range(PERIOD, PERIOD + 2 * LENGTH)).await.unwrap();
    assert_eq!(lines, [], "nothing of another's");
}

pub async fn initializing_starts_the_history_at_the_earliest_until_a_period_closes(stores: MarketStores) {
    let latest = |latest: u64| SettlementHead { latest: Some(at(latest)), closing: None };
    stores.settlements.initialize(at(PERIOD + 5 * LENGTH)).await.unwrap();
    assert_eq!(stores.settlements.head().await.unwrap(), latest(PERIOD + 5 * LENGTH));
    stores.settlements.initialize(at(PERIOD)).await.unwrap();
    assert_eq!(stores.settlements.head().await.unwrap(), latest(PERIOD), "an earlier start wins");
    stores.settlements.initialize(at(PERIOD + 2 * LENGTH)).await.unwrap();
    assert_eq!(stores.settlements.head().await.unwrap(), latest(PERIOD), "the start never moves later");
    assert_eq!(
        stores.readings.insert(&reading("producer-0005", PERIOD + 1, 1)).await.unwrap(),
        Insertion::PeriodClosed
    );

    stores.settlements.close(at(PERIOD + LENGTH), Some(at(PERIOD))).await.unwrap();
    stores.settlements.initialize(at(PERIOD - LENGTH)).await.unwrap();
    let closing = SettlementHead { latest: Some(at(PERIOD)), closing: Some(at(PERIOD + LENGTH)) };
    assert_eq!(stores.settlements.head().await.unwrap(), closing, "settlement has begun");
    stores.settlements.finish(&record(PERIOD + LENGTH)).await.unwrap();
    stores.settlements.initialize(at(PERIOD - LENGTH)).await.unwrap();
    assert_eq!(stores.settlements.head().await.unwrap(), latest(PERIOD + LENGTH), "a settled history stays");
}

pub async fn a_payment_claim_is_pending_once_per_consumer_and_batch(stores: MarketStores) {
    let claim = claim("consumer-0010", "batch-0001", 90);
    stores.accounts.apply(at(PERIOD), &[entry("consumer-0010", 100, 0)], GridEntry::default()).await.unwrap();
    assert!(stores.accounts.claim_payment(&claim).await.unwrap());
    assert!(!stores.accounts.claim_payment(&claim).await.unwrap(), "a consumer claims a batch once");
    let mut by_another = claim.clone();
    by_another.registration = id("consumer-0011");
    assert!(stores.accounts.claim_payment(&by_another).await.unwrap(), "another's claim does not block this one");
    let account = stores.accounts.get(&id("consumer-0010")).await.unwrap().unwrap();
    assert_eq!((account.pending, account.owed()), (Iota::new(90), Iota::new(10)));
    assert_eq!(stores.accounts.get(&id("consumer-0011")).await.unwrap().unwrap().pending, Iota::new(90));
}

pub async fn a_verified_claim_pays_the_bill_and_funds_the_grid_once(stores: MarketStores) {
    stores.accounts.apply(at(PERIOD), &[entry("consumer-0020", 300, 0)], GridEntry::fee(Iota::new(60))).await.unwrap();
    let claim = |batch: &str, amount| claim("consumer-0020", batch, amount);
    assert!(stores.accounts.claim_payment(&claim("pay-a", 200)).await.unwrap());
    assert!(stores.accounts.claim_payment(&claim("pay-b", 50)).await.unwrap());
    let pending: Vec<String> = due_ids(&stores, EpochMs::MAX).await;
    assert_eq!(pending.len(), 2);
    assert!(pending.contains(&"pay-a".to_owned()) && pending.contains(&"pay-b".to_owned()));

    // The batch paid two of the grid's addresses: both are credited, and their sum.
    let paid = verified(&[("grid-7", 7, 150), ("grid-8", 8, 60)]);
    assert!(stores.accounts.resolve_claim(&claim("pay-a", 200), &paid).await.unwrap());
    assert!(!stores.accounts.resolve_claim(&claim("pay-a", 200), &paid).await.unwrap(), "once");
    let rejected = ClaimResolution::Rejected { reason: "not on the ledger".into() };
    assert!(stores.accounts.resolve_claim(&claim("pay-b", 50), &rejected).await.unwrap());

    let account = stores.accounts.get(&id("consumer-0020")).await.unwrap().unwrap();
    assert_eq!((account.paid, account.pending, account.owed()), (Iota::new(210), Iota::ZERO, Iota::new(90)));
    let totals = stores.accounts.totals().await.unwrap();
    assert_eq!((totals.paid_in, totals.fees, totals.cash()), (Iota::new(210), Iota::new(60), Iota::new(150)));
    let funds = stores.accounts.funds().await.unwrap();
    assert_eq!(
        funds,
        vec![
            crate::Funds { address: address("grid-7"), seq: 7, available: Iota::new(150) },
            crate::Funds { address: address("grid-8"), seq: 8, available: Iota::new(60) },
        ]
    );
    assert!(stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap().is_empty());
}

pub async fn a_payout_is_recorded_once_pays_each_period_to_its_address_and_settles_either_way(stores: MarketStores) {
    use grid_core::ledger::LedgerBatch;
    let producer = id("producer-0021");
    // Two periods, each named its own wallet.
    let first = [entry_at("producer-0021", 0, 80, "wallet-a"), entry("consumer-0021", 100, 0)];
    stores.accounts.apply(at(PERIOD), &first, GridEntry::fee(Iota::new(20))).await.unwrap();
    stores
        .accounts
        .apply(at(PERIOD + LENGTH), &[entry_at("producer-0021", 0, 30, "wallet-b")], GridEntry::default())
        .await
        .unwrap();
    let claim = claim("consumer-0021", "pay-c", 130);
    stores.accounts.claim_payment(&claim).await.unwrap();
    stores.accounts.resolve_claim(&claim, &verified(&[("grid-3", 3, 130)])).await.unwrap();

    let unpaid = stores.accounts.unpaid().await.unwrap();
    assert_eq!(unpaid.len(), 1);
    let owed: Vec<(u64, &str, u64)> =
        unpaid[0].owed.iter().map(|e| (e.period.get(), e.address.as_str(), e.unpaid.get())).collect();
    assert_eq!(owed, [(PERIOD, "wallet-a", 80), (PERIOD + LENGTH, "wallet-b", 30)]);
    assert_eq!(
        (unpaid[0].producer.clone(), unpaid[0].total(), unpaid[0].paid_before),
        (producer.clone(), Iota::new(110), Iota::ZERO)
    );

    // All of the first period and 10 of the second: one batch, a transfer per address.
    let covers = vec![
        Cover { period: at(PERIOD), address: address("wallet-a"), amount: Iota::new(80) },
        Cover { period: at(PERIOD + LENGTH), address: address("wallet-b"), amount: Iota::new(10) },
    ];
    let payout = |paid_before: u64, refused: u64| {
        let to = grid_core::books::destinations(&covers);
        PayoutRecord {
            batch: LedgerBatch::payout(
                &producer,
                Iota::new(paid_before),
                refused,
                &[(address("grid-3"), Iota::new(90))],
                &to,
            ),
            producer: producer.clone(),
            amount: Iota::new(90),
            covers: covers.clone(),
            created: EpochMs::parse(1_795_860_000_000).unwrap(),
        }
    };
    let first_try = payout(0, 0);
    assert_eq!(first_try.batch.transfers.len(), 2);
    assert!(stores.accounts.record_payout(&first_try).await.unwrap());
    assert!(!stores.accounts.record_payout(&first_try).await.unwrap(), "a batch id is recorded once");
    let mut overdrawn = payout(90, 0);
    overdrawn.batch.id = grid_core::BatchId::parse("payout-overdrawn").unwrap();
    assert!(!stores.accounts.record_payout(&overdrawn).await.unwrap(), "a period is never paid beyond what it is owed");
    let left = stores.accounts.unpaid().await.unwrap();
    let owed: Vec<(u64, u64)> = left[0].owed.iter().map(|e| (e.period.get(), e.unpaid.get())).collect();
    assert_eq!((owed, left[0].paid_before), (vec![(PERIOD + LENGTH, 20)], Iota::new(90)));
    assert_eq!(stores.accounts.totals().await.unwrap().cash(), Iota::new(20));
    assert_eq!(stores.accounts.funds().await.unwrap().first().map(|f| f.available), Some(Iota::new(40)));
    let due = stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|b| b.watched.clone()).collect::<Vec<_>>(),
        vec![crate::Watched::Payout(first_try.clone())]
    );
    let pending = crate::PendingBatches { claims: 0, payouts: 1 };
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), pending, "counted while it is pending");

    // Refused: the money and each period's debt come back, and the next payout is a new batch.
    let refused = vec!["insufficient funds".to_owned()];
    let resolution = PayoutResolution::Refused { reasons: refused.clone() };
    assert!(stores.accounts.resolve_payout(&first_try.batch.id, &resolution).await.unwrap());
    assert!(!stores.accounts.resolve_payout(&first_try.batch.id, &resolution).await.unwrap(), "once");
    let failed = stores.accounts.batches(Some(grid_core::books::BatchState::Invalid), 10).await.unwrap();
    assert_eq!((failed.len(), failed[0].reasons.clone()), (1, refused.clone()), "kept as failed with its reasons");
    let counts = stores.accounts.batch_counts().await.unwrap();
    assert_eq!((counts.invalid, counts.pending), (1, 0), "a refused payout is counted as failed, no longer pending");
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), crate::PendingBatches::default());
    let unpaid = stores.accounts.unpaid().await.unwrap();
    let owed: Vec<(u64, &str, u64)> =
        unpaid[0].owed.iter().map(|e| (e.period.get(), e.address.as_str(), e.unpaid.get())).collect();
    assert_eq!((owed, unpaid[0].refused), (vec![(PERIOD, "wallet-a", 80), (PERIOD + LENGTH, "wallet-b", 30)], 1));
    assert_eq!(stores.accounts.totals().await.unwrap().cash(), Iota::new(110));

    let second_try = payout(0, 1);
    assert_ne!(second_try.batch.id, first_try.batch.id);
    assert!(stores.accounts.record_payout(&second_try).await.unwrap());
    assert!(stores.accounts.resolve_payout(&second_try.batch.id, &PayoutResolution::Committed).await.unwrap());
    let account = stores.accounts.get(&producer).await.unwrap().unwrap();
    assert_eq!(
        (account.paid_out, account.payout_pending, account.unpaid()),
        (Iota::new(90), Iota::ZERO, Iota::new(20))
    );
    assert!(stores.accounts.due_batches(EpochMs::LATEST, 10).await.unwrap().is_empty());
    let unpaid = stores.accounts.unpaid().await.unwrap();
    assert_eq!(unpaid[0].owed.iter().map(|e| e.unpaid.get()).collect::<Vec<_>>(), [20]);
}

pub async fn the_monitor_history_of_a_batch_decides_when_it_is_due_and_what_the_operator_sees(stores: MarketStores) {
    use grid_core::books::BatchState;
    let claim = |batch: &str, at: u64| PaymentClaim {
        registration: id("consumer-0030"),
        batch_id: grid_core::BatchId::parse(batch).unwrap(),
        amount: Iota::new(5),
        channel_index: 1,
        claimed: EpochMs::parse(at as i64).unwrap(),
    };
    stores.accounts.claim_payment(&claim("late", 2_000)).await.unwrap();
    stores.accounts.claim_payment(&claim("early", 1_000)).await.unwrap();
    assert_eq!(due_ids(&stores, 10_000).await, ["early", "late"], "never checked: oldest first");

    let early = crate::Watched::Claim(claim("early", 1_000));
    stores.accounts.checked(&early, ms(5_000), ms(8_000), false).await.unwrap();
    assert_eq!(due_ids(&stores, 6_000).await, ["late"], "not due before its next check");
    assert_eq!(due_ids(&stores, 8_000).await, ["late", "early"], "least recently checked first");

    stores.accounts.checked(&early, ms(9_000), ms(9_000), true).await.unwrap();
    let due = stores.accounts.due_batches(ms(10_000), 10).await.unwrap();
    let early_batch = due.iter().find(|b| b.watched == early).unwrap();
    assert_eq!((early_batch.times_checked, early_batch.last_checked, early_batch.stalled), (2, Some(ms(9_000)), true));

    let stalled = stores.accounts.batches(Some(BatchState::Stalled), 10).await.unwrap();
    assert_eq!(stalled.iter().map(|b| b.id.to_string()).collect::<Vec<_>>(), ["early"]);
    assert_eq!(
        stores.accounts.batches(Some(BatchState::Pending), 10).await.unwrap().len(),
        2,
        "stalled batches are still pending"
    );
    let all = stores.accounts.batches(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|b| (b.id.to_string(), b.status)).collect::<Vec<_>>(),
        [("late".to_owned(), BatchState::Pending), ("early".to_owned(), BatchState::Stalled)]
    );
    assert_eq!(
        stores.accounts.batch_counts().await.unwrap(),
        crate::BatchCounts { pending: 1, stalled: 1, ..Default::default() },
        "counted as shown"
    );
    let pending = crate::PendingBatches { claims: 2, payouts: 0 };
    assert_eq!(stores.accounts.pending_batches().await.unwrap(), pending, "stalled batches are still pending");
}

pub async fn a_lease_is_held_by_one_holder_until_it_expires_or_is_released(stores: MarketStores) {
    assert!(stores.leases.acquire("batch-monitor", "run-a", ms(1_000), ms(1_000 + 500)).await.unwrap());
    assert!(!stores.leases.acquire("batch-monitor", "run-b", ms(1_200), ms(1_200 + 500)).await.unwrap());
    assert!(
        stores.leases.acquire("batch-monitor", "run-a", ms(1_300), ms(1_300 + 500)).await.unwrap(),
        "its holder renews it"
    );
    assert!(
        stores.leases.acquire("settlement", "run-b", ms(1_300), ms(1_300 + 500)).await.unwrap(),
        "another job's lease is another"
    );
    assert!(stores.leases.acquire("batch-monitor", "run-b", ms(1_800), ms(1_800 + 500)).await.unwrap(), "expired");
    stores.leases.release("batch-monitor", "run-a").await.unwrap();
    assert!(
        !stores.leases.acquire("batch-monitor", "run-c", ms(1_900), ms(1_900 + 500)).await.unwrap(),
        "only the holder releases"
    );
    stores.leases.release("batch-monitor", "run-b").await.unwrap();
    assert!(stores.leases.acquire("batch-monitor", "run-c", ms(1_900), ms(1_900 + 500)).await.unwrap());

    let racers: Vec<_> = (0..6)
        .map(|i| {
            let leases = stores.leases.clone();
            tokio::spawn(async move {
                leases.acquire("race", &format!("run-{i}"), ms(5_000), ms(5_000 + 1_000)).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1, "of racing runs one gets the lease");
}

pub async fn a_registrations_readings_come_newest_first_across_periods(stores: MarketStores) {
    for (i, start) in [PERIOD, PERIOD + LENGTH, PERIOD + 2 * LENGTH + 60_000].into_iter().enumerate() {
        let r = reading("producer-0001", start, 10 + i as u64);
        assert_eq!(stores.readings.insert(&r).await.unwrap(), Insertion::Stored);
    }
    stores.readings.insert(&reading("producer-0002", PERIOD, 99)).await.unwrap();
    // A late reading, counted in a later period, is still the registration's, once.
    stores.settlements.close(at(PERIOD), None).await.unwrap();
    stores.settlements.finish(&record(PERIOD)).await.unwrap();
    let mut late = reading("producer-0001", PERIOD + 120_000, 5);
    late.counted_in = at(PERIOD + LENGTH);
    assert_eq!(stores.readings.insert(&late).await.unwrap(), Insertion::Stored);

    let mine = stores.readings.of_registration(&id("producer-0001"), 10).await.unwrap();
    let starts: Vec<u64> = mine.iter().map(|r| r.reading.start.get()).collect();
    assert_eq!(starts, [PERIOD + 2 * LENGTH + 60_000, PERIOD + LENGTH, PERIOD + 120_000, PERIOD]);
    assert_eq!(mine[2], late, "exactly as stored");
    assert_eq!(stores.readings.of_registration(&id("producer-0001"), 2).await.unwrap().len(), 2);
    assert!(stores.readings.of_registration(&id("nobody-00"), 10).await.unwrap().is_empty());
}

pub async fn a_heartbeat_keeps_the_latest_run_of_each_job(stores: MarketStores) {
    use crate::{Heartbeat, Job, JobReport, PollReport, SettledPeriod, SettledPeriods};
    let polled = |at: u64, stored: u64| Heartbeat {
        at: ms(at),
        report: JobReport::Poller(PollReport { registrations: 1, stored, ..PollReport::default() }),
    };
    let settled = Heartbeat {
        at: ms(1_100),
        report: JobReport::Settlement(SettledPeriods { settled: vec![SettledPeriod::from(&record(PERIOD))] }),
    };
    assert_eq!(stores.heartbeats.last(Job::Poller).await.unwrap(), None);
    stores.heartbeats.beat(&polled(1_000, 3)).await.unwrap();
    stores.heartbeats.beat(&settled).await.unwrap();
    stores.heartbeats.beat(&polled(2_000, 0)).await.unwrap();
    assert_eq!(stores.heartbeats.last(Job::Poller).await.unwrap(), Some(polled(2_000, 0)));
    assert_eq!(stores.heartbeats.last(Job::Settlement).await.unwrap(), Some(settled));
    assert_eq!(stores.heartbeats.last(Job::BatchMonitor).await.unwrap(), None);
    // Heartbeats live beside the leases on DynamoDB: they must not disturb them.
    assert!(stores.leases.acquire("poller", "run-a", ms(3_000), ms(3_000 + 500)).await.unwrap());
    assert!(stores.heartbeats.last(Job::Poller).await.unwrap().is_some());
}

pub async fn every_jobs_report_reads_back_as_it_was_written(stores: MarketStores) {
    use crate::{
        DispatchReport, Heartbeat, Job, JobReport, LateReport, MonitorReport, PollReport, SettledPeriod,
        SettledPeriods, SweepReport,
    };
    // Every field set (none left at its default), the largest values where a store
    // could round them.
    let reports = [
        JobReport::PollerSweep(SweepReport {
            unread: 1,
            registrations: 2,
            messages: 3,
            marked_read: 4,
            stalled: 5,
            lag_seconds: u64::MAX,
            expired: 6,
            dead_letters: 7,
            completions_dead_letters: 8,
        }),
        JobReport::PollerDispatch(DispatchReport { registrations: 1_000_000, waiting: 2, messages: 3 }),
        JobReport::Poller(PollReport {
            registrations: 1,
            messages: 2,
            stored: 3,
            duplicates: 4,
            late: 5,
            rejected: 6,
            payments: 7,
            closed: 8,
        }),
        JobReport::Settlement(SettledPeriods {
            settled: vec![
                SettledPeriod::from(&record(PERIOD)),
                SettledPeriod {
                    period: at(EpochMs::MAX - EpochMs::MAX % LENGTH),
                    price: price(Price::MAX),
                    matched: Wh::new(u64::MAX),
                    imported: Wh::new(1),
                    exported: Wh::new(2),
                    revenue: Iota::new(Iota::SUPPLY),
                    fee: Iota::new(3),
                },
            ],
        }),
        JobReport::BatchMonitor(MonitorReport {
            skipped: true,
            rounds: 1,
            asked: 2,
            requests_failed: 3,
            not_final: 4,
            resent: 5,
            stalled: 6,
            verified: 7,
            rejected: 8,
            payouts_submitted: 9,
            payouts_committed: 10,
            payouts_refused: 11,
            pending: 12,
            payouts_pending: 13,
        }),
        JobReport::LateReadings(LateReport { late: 2 }),
    ];
    for (i, report) in reports.into_iter().enumerate() {
        let beat = Heartbeat { at: ms(EpochMs::MAX - i as u64), report };
        stores.heartbeats.beat(&beat).await.unwrap();
        assert_eq!(stores.heartbeats.last(beat.job()).await.unwrap().as_ref(), Some(&beat), "{}", beat.job());
    }
    for job in Job::RUNS.into_iter().chain([Job::LateReadings]) {
        assert_eq!(
            stores.heartbeats.last(job).await.unwrap().map(|beat| beat.job()),
            Some(job),
            "each under its own key"
        );
    }
}

pub async fn accounts_are_read_many_at_once(stores: MarketStores) {
    let entries = [entry("consumer-0301", 50, 0), entry("producer-0302", 0, 40)];
    stores.accounts.apply(at(PERIOD), &entries, GridEntry::fee(Iota::new(10))).await.unwrap();
    let mut found =
        stores.accounts.get_many(&[id("producer-0302"), id("nobody-0000"), id("consumer-0301")]).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let found: Vec<(String, u64, u64)> =
        found.into_iter().map(|(id, a)| (id.to_string(), a.billed.get(), a.entitled.get())).collect();
    assert_eq!(found, [("consumer-0301".to_owned(), 50, 0), ("producer-0302".to_owned(), 0, 40)]);
}

pub async fn a_settlement_record_keeps_the_market_figures_and_the_largest_values_exactly(stores: MarketStores) {
    // The largest values the grid accepts anywhere: the price bound, a period's energy and
    // money far beyond any real grid, the last representable period.
    let last = EpochMs::MAX - EpochMs::MAX % LENGTH;
    let huge = SettlementRecord {
        period: at(last),
        rules: MarketRules::Local,
        strategy: Some(ConsensusStrategy::Median),
        price: price(Price::MAX),
        price_source: PriceSource::Previous,
        produced: Wh::new(i64::MAX as u64),
        admitted: Wh::new(i64::MAX as u64 - 1),
        used: Wh::new(i64::MAX as u64 - 2),
        matched: Wh::new(i64::MAX as u64 - 3),
        imported: Wh::new(1),
        exported: Wh::new(3),
        revenue: Iota::new(i64::MAX as u64),
        fee: Iota::new(Iota::SUPPLY),
        distributable: Iota::new(i64::MAX as u64 - Iota::SUPPLY),
        unallocated: Iota::ZERO,
        producers: 10_000,
        consumers: 100_000,
        payment_address: address(&"g".repeat(128)),
        settled: EpochMs::parse(EpochMs::MAX as i64).unwrap(),
        // A community whose sellers gained less than their utility would have paid.
        community: CommunityFigures {
            cap: price(Price::MAX),
            feed_in: price(Price::MAX),
            self_consumed: Wh::new(i64::MAX as u64),
            self_sufficiency_bps: 10_000,
            self_consumption_bps: 0,
            savings: Iota::new(Iota::SUPPLY),
            gains: -(Iota::SUPPLY as i64),
        },
    };

    let mut biggest = reading("producer-0400", PERIOD, 18_446_744);
    biggest.price = Some(price(Price::MAX));
    biggest.channel_index = i64::MAX as u64;
    assert_eq!(stores.readings.insert(&biggest).await.unwrap(), Insertion::Stored);
    assert_eq!(all_counted_in(&stores, PERIOD, 10).await, vec![biggest.clone()]);
    let sums = stores.readings.sums(at(PERIOD)).await.unwrap();
    assert_eq!((sums[0].price, sums[0].energy), (Some(price(Price::MAX)), Wh::new(18_446_744)));

    let rich = AccountEntry {
        registration: id("producer-0400"),
        energy: Wh::new(i64::MAX as u64),
        matched: Wh::new(i64::MAX as u64 / 3),
        payment_address: Some(address("wallet-0400")),
        line: StatementLine {
            used: Wh::new(i64::MAX as u64 / 2),
            local: Wh::new(i64::MAX as u64 / 3),
            charge: Iota::new(i64::MAX as u64 / 2),
            produced: Wh::new(i64::MAX as u64 / 2),
            allocation: Iota::new(Iota::SUPPLY),
            gain: i64::MIN,
            ..StatementLine::blank(at(PERIOD), price(Price::MAX), price(Price::MAX), price(Price::MAX))
        },
    };
    stores
        .accounts
        .apply(at(PERIOD), std::slice::from_ref(&rich), GridEntry::fee(Iota::new(i64::MAX as u64)))
        .await
        .unwrap();
    let account = stores.accounts.get(&rich.registration).await.unwrap().unwrap();
    let whole = StatementRange::parse(Some(ms(PERIOD)), Some(ms(PERIOD + LENGTH)), ms(PERIOD));
    let lines = stores.accounts.statement_lines(&rich.registration, whole.unwrap()).await.unwrap();
    assert_eq!(lines, std::slice::from_ref(&rich.line), "a line's figures at their bounds come back whole");
    assert_eq!(
        (account.billed, account.entitled, account.energy, account.matched),
        (rich.billed(), rich.entitled(), rich.energy, rich.matched)
    );
    assert_eq!(stores.accounts.totals().await.unwrap().fees, Iota::new(i64::MAX as u64));
    assert_eq!(stores.accounts.unpaid().await.unwrap()[0].total(), Iota::new(Iota::SUPPLY));

    // Last, as it closes every period before it.
    stores.settlements.close(at(last), None).await.unwrap();
    stores.settlements.finish(&huge).await.unwrap();
    assert_eq!(stores.settlements.get(at(last)).await.unwrap(), Some(huge));
}

pub async fn rejections_are_kept_once_and_listed_newest_first_by_registration_and_for_all(stores: MarketStores) {
    let rejected = |who: &str, index: u64, at: u64| crate::Rejected {
        registration: id(who),
        channel_index: index,
        address: grid_core::channel::MessageAddress::parse(format!("{:064x}", index * 1000 + at)).unwrap(),
        reason: format!("reason {index}"),
        at: EpochMs::parse(at as i64).unwrap(),
    };
    let log = &stores.rejections;
    assert!(log.recent(10).await.unwrap().is_empty());
    for (who, index, at) in [("producer-0040", 1, 1_000), ("consumer-0040", 2, 3_000), ("producer-0040", 4, 2_000)] {
        log.record(&rejected(who, index, at)).await.unwrap();
    }
    let mut again = rejected("producer-0040", 1, 9_000);
    again.reason = "later".to_owned();
    log.record(&again).await.unwrap();
    let of = |found: Vec<crate::Rejected>| {
        found.into_iter().map(|r| (r.registration.to_string(), r.channel_index)).collect::<Vec<_>>()
    };
    let producer = log.for_registration(&id("producer-0040"), 10).await.unwrap();
    assert_eq!(producer[1], rejected("producer-0040", 1, 1_000), "the first record is kept");
    assert_eq!(of(producer), [("producer-0040".to_owned(), 4), ("producer-0040".to_owned(), 1)]);
    let recent = log.recent(2).await.unwrap();
    assert_eq!(of(recent), [("consumer-0040".to_owned(), 2), ("producer-0040".to_owned(), 4)], "newest first, of all");
}
