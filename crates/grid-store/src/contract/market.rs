//! The contract of the money engine's stores: readings and settlements here, and the
//! factory ([`MarketStores`]) and fixtures the books', leases', heartbeats' and
//! rejections' contracts share. They are checked together because they must agree: a
//! period being settled takes no reading, however the two race.

use std::sync::Arc;

use grid_core::books::{AccountEntry, ClaimResolution, Credit, GridEntry, PaymentClaim, StatementLine, StatementRange};
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

pub(super) const PERIOD: u64 = 1_795_860_000_000;
pub(super) const LENGTH: u64 = 900_000;

pub(super) fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).unwrap()
}

/// The period starting at `ms`.
pub(super) fn at(ms: u64) -> PeriodStart {
    PeriodStart::parse(ms).unwrap()
}

pub(super) fn price(p: u64) -> Price {
    Price::parse(p).unwrap()
}

pub(super) fn address(a: &str) -> PaymentAddress {
    PaymentAddress::parse(a).unwrap()
}

pub(super) fn reading(registration: &str, start: u64, wh: u64) -> StoredReading {
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

pub(super) fn record(period: u64) -> SettlementRecord {
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

pub(super) fn entry(name: &str, billed: u64, entitled: u64) -> AccountEntry {
    entry_at(name, billed, entitled, &format!("wallet-of-{name}"))
}

/// An entry whose allocation (if any) is payable to `wallet`.
pub(super) fn entry_at(name: &str, billed: u64, entitled: u64, wallet: &str) -> AccountEntry {
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

pub(super) fn claim(consumer: &str, batch: &str, amount: u64) -> PaymentClaim {
    PaymentClaim {
        registration: id(consumer),
        batch_id: grid_core::BatchId::parse(batch).unwrap(),
        amount: Iota::new(amount),
        channel_index: 2,
        claimed: EpochMs::parse(1_795_861_000_000).unwrap(),
    }
}

pub(super) fn verified(credits: &[(&str, u64, u64)]) -> ClaimResolution {
    ClaimResolution::Verified {
        credits: credits
            .iter()
            .map(|(a, seq, amount)| Credit { address: address(a), seq: *seq, amount: Iota::new(*amount) })
            .collect(),
    }
}

pub(super) async fn due_ids(stores: &MarketStores, now: u64) -> Vec<String> {
    stores.accounts.due_batches(ms(now), 100).await.unwrap().iter().map(|b| b.watched.batch_id().to_string()).collect()
}

pub(super) async fn all_counted_in(stores: &MarketStores, period: u64, page: usize) -> Vec<StoredReading> {
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
        latest_start: ms(latest),
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
