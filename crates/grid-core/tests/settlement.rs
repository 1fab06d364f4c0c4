//! The local market (DESIGN.md §6) and payouts: hand-computed examples, then every
//! invariant §6 lists as a property over 10^4 random periods.

use grid_core::books::{Entitlement, plan_payouts};
use grid_core::market::{
    ConsensusStrategy, FeeBps, PeriodStart, PeriodTotals, PriceSource, Settlement, SettlementPolicy, settle,
};
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId, Wh};
use proptest::prelude::*;

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).unwrap()
}

fn price(p: u64) -> Price {
    Price::parse(p).unwrap()
}

fn policy(strategy: ConsensusStrategy) -> SettlementPolicy {
    SettlementPolicy { strategy, fee: FeeBps::DEFAULT, cap: price(1000), feed_in: price(0), default_price: price(100) }
}

/// Producers A (2 kWh at 100) and B (1 kWh at 130); consumers X (1.5 kWh) and Y (1.234 kWh).
fn example() -> PeriodTotals {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(2000), price(100)).unwrap();
    t.add_output(id("producer-b"), Wh::new(1000), price(130)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1500)).unwrap();
    t.add_usage(id("consumer-y"), Wh::new(1234)).unwrap();
    t
}

/// `(price, charges, revenue, fee, allocations, unallocated)`.
fn amounts(s: &Settlement) -> (u64, Vec<u64>, u64, u64, Vec<u64>, u64) {
    (
        s.price.get(),
        s.consumers.iter().map(|c| c.charge.get()).collect(),
        s.revenue.get(),
        s.fee.get(),
        s.producers.iter().map(|p| p.allocation.get()).collect(),
        s.unallocated.get(),
    )
}

fn matched(s: &Settlement) -> Vec<u64> {
    s.producers.iter().map(|p| p.matched.get()).collect()
}

fn local(s: &Settlement) -> Vec<u64> {
    s.consumers.iter().map(|c| c.local.get()).collect()
}

#[test]
fn clearing_matches_the_hand_computed_example() {
    // S = 3000, D = 2734, M = 2734. Merit order A (100), B (130): A takes 2000, B 734;
    // B is the marginal offer, P = 130. Supply covers demand: X 1500, Y 1234 local.
    // X: (1500·130 + 500) / 1000 = 195; Y: (1234·130 + 500) / 1000 = 160; R = 355.
    // F = floor(355 · 0.2) = 71; 284 by 2000 : 734 → 207 r 2062, 76 r 672; the last to A.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (130, vec![195, 160], 355, 71, vec![208, 76], 0));
    assert_eq!((matched(&s), local(&s)), (vec![2000, 734], vec![1500, 1234]));
    assert_eq!(
        (s.produced, s.admitted, s.used, s.matched),
        (Wh::new(3000), Wh::new(3000), Wh::new(2734), Wh::new(2734))
    );
    assert_eq!((s.imported, s.exported), (Wh::ZERO, Wh::new(266)));
    assert_eq!(s.producers[1].exported, Wh::new(266));
    assert_eq!(s.price_source, PriceSource::Traded);
}

#[test]
fn weighted_consensus_matches_the_hand_computed_example() {
    // P = floor((2000·100 + 1000·130) / 3000) = 110. M = 2734 by 2000 : 1000 →
    // 1822 r 2000, 911 r 1000; the last Wh to A: 1823, 911.
    // X 165, Y 136; R = 301, F = 60; 241 by 1823 : 911 → 160 r 1903, 80 r 831 → 161, 80.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(amounts(&s), (110, vec![165, 136], 301, 60, vec![161, 80], 0));
    assert_eq!(matched(&s), vec![1823, 911]);
}

#[test]
fn mean_consensus_matches_the_hand_computed_example() {
    // P = floor((100 + 130) / 2) = 115; X 173, Y 142; R 315, F 63, 252 by 1823 : 911 →
    // 168 r 84, 83 r 2650 → 168, 84.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Mean)).unwrap();
    assert_eq!(amounts(&s), (115, vec![173, 142], 315, 63, vec![168, 84], 0));
}

#[test]
fn median_consensus_matches_the_hand_computed_example() {
    // Lower median of [100, 130] = 100; X 150, Y 123; R 273, F 54; 219 by 1823 : 911 →
    // 146 r 73, 72 r 2661 → 146, 73.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Median)).unwrap();
    assert_eq!(amounts(&s), (100, vec![150, 123], 273, 54, vec![146, 73], 0));
}

#[test]
fn in_a_surplus_an_offer_above_the_cap_is_not_admitted_and_all_of_it_is_exported() {
    // Cap 1000. A 3 kWh at 90, B 2 kWh at 120, C 1 kWh at 5000 (not admitted).
    // S = 5000, D = 2000 = M. Merit order: A takes all 2000, P = 90.
    // X (1200·90 + 500) / 1000 = 108, Y 72; R 180, F 36, A gets 144.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(3000), price(90)).unwrap();
    t.add_output(id("producer-b"), Wh::new(2000), price(120)).unwrap();
    t.add_output(id("producer-c"), Wh::new(1000), price(5000)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1200)).unwrap();
    t.add_usage(id("consumer-y"), Wh::new(800)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (90, vec![108, 72], 180, 36, vec![144, 0, 0], 0));
    assert_eq!(matched(&s), vec![2000, 0, 0]);
    let exported: Vec<u64> = s.producers.iter().map(|p| p.exported.get()).collect();
    assert_eq!(exported, vec![1000, 2000, 1000]);
    let admitted: Vec<u64> = s.producers.iter().map(|p| p.admitted.get()).collect();
    assert_eq!(admitted, vec![3000, 2000, 0]);
    assert_eq!(s.producers[2].ask, Some(price(5000)));
    assert_eq!(
        (s.admitted, s.matched, s.imported, s.exported),
        (Wh::new(5000), Wh::new(2000), Wh::ZERO, Wh::new(4000))
    );
}

#[test]
fn in_a_shortage_consumers_share_the_matched_energy_by_use_and_import_the_rest() {
    // One producer, 1 kWh at 100; X used 2000 Wh, Y 1001 Wh: M = 1000.
    // X: 1000·2000/3001 = 666 r 1334; Y: 1000·1001/3001 = 333 r 1667; the last Wh to Y.
    // X (666·100 + 500) / 1000 = 67, Y (334·100 + 500) / 1000 = 33; R 100, F 20, A 80.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1000), price(100)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(2000)).unwrap();
    t.add_usage(id("consumer-y"), Wh::new(1001)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (100, vec![67, 33], 100, 20, vec![80], 0));
    assert_eq!(local(&s), vec![666, 334]);
    let imported: Vec<u64> = s.consumers.iter().map(|c| c.imported.get()).collect();
    assert_eq!(imported, vec![1334, 667]);
    assert_eq!((s.matched, s.imported, s.exported), (Wh::new(1000), Wh::new(2001), Wh::ZERO));
}

#[test]
fn equal_consumers_in_a_shortage_split_the_odd_watt_hour_by_registration_id() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1001), price(100)).unwrap();
    t.add_usage(id("consumer-y"), Wh::new(1500)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1500)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(local(&s), vec![501, 500]);
    assert_eq!(s.consumers[0].id, id("consumer-x"));
}

#[test]
fn the_first_designs_three_failures_do_not_happen_in_the_local_market() {
    // Shortage: 2.163 kWh produced against 52.954 kWh used. The producer earns its
    // ask (less the fee) for what it produced, not for what the utility delivered.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(2163), price(110)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(52_954)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!((s.matched, s.imported), (Wh::new(2163), Wh::new(50_791)));
    assert_eq!(s.revenue, Iota::new((2163 * 110 + 500) / 1000));
    assert_eq!(s.producers[0].allocation.get(), 238 - 47);

    // Surplus: 94.975 kWh against 1.73 kWh. Consumers pay the marginal ask for what they
    // used; the cheapest offers are matched, at no less than their asks.
    let mut t = PeriodTotals::default();
    for (i, wh) in [20_000, 20_000, 20_000, 20_000, 14_975].into_iter().enumerate() {
        t.add_output(id(&format!("producer-{i}")), Wh::new(wh), price(100 + i as u64 * 10)).unwrap();
    }
    t.add_usage(id("consumer-x"), Wh::new(1730)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!((s.price, matched(&s)[0], s.exported), (price(100), 1730, Wh::new(94_975 - 1730)));

    // Manipulation: 8 Wh at 100,000 beside an honest 75 Wh at 110. The expensive offer
    // is above the cap: not admitted, it takes nothing and moves no price.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-honest"), Wh::new(75), price(110)).unwrap();
    t.add_output(id("producer-greedy"), Wh::new(8), price(100_000)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(5000)).unwrap();
    for strategy in ConsensusStrategy::ALL {
        let s = settle(&t, None, &policy(strategy)).unwrap();
        assert_eq!(s.price, price(110), "{strategy}");
        assert_eq!(s.producers.iter().find(|p| p.id == id("producer-greedy")).unwrap().allocation, Iota::ZERO);
    }
}

#[test]
fn a_producers_ask_over_several_readings_is_volume_weighted() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1000), price(100)).unwrap();
    t.add_output(id("producer-a"), Wh::new(3000), price(200)).unwrap();
    t.add_output(id("producer-b"), Wh::new(1), price(10)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(100_000)).unwrap();
    // A: floor(700000 / 4000) = 175; mean with B's 10 = floor(185 / 2) = 92.
    let s = settle(&t, None, &policy(ConsensusStrategy::Mean)).unwrap();
    assert_eq!((s.producers[0].ask, s.price), (Some(price(175)), price(92)));
}

#[test]
fn the_median_is_the_lower_one_for_an_even_count() {
    let mut t = PeriodTotals::default();
    for (name, ask) in [("producer-1", 130), ("producer-2", 100), ("producer-3", 120), ("producer-4", 110)] {
        t.add_output(id(name), Wh::new(1000), price(ask)).unwrap();
    }
    t.add_usage(id("consumer-x"), Wh::new(1)).unwrap();
    assert_eq!(settle(&t, None, &policy(ConsensusStrategy::Median)).unwrap().price, price(110));
    t.add_output(id("producer-5"), Wh::new(1000), price(125)).unwrap();
    assert_eq!(settle(&t, None, &policy(ConsensusStrategy::Median)).unwrap().price, price(120));
}

#[test]
fn a_charge_of_half_an_iota_rounds_up() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1000), price(1)).unwrap();
    t.add_usage(id("consumer-half"), Wh::new(500)).unwrap();
    t.add_usage(id("consumer-less"), Wh::new(499)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(s.consumers.iter().map(|c| c.charge.get()).collect::<Vec<_>>(), [1, 0]);
}

#[test]
fn when_nothing_is_matched_nothing_is_billed_and_the_last_traded_price_is_kept() {
    let mut t = PeriodTotals::default();
    t.add_usage(id("consumer-x"), Wh::new(1000)).unwrap();
    let s = settle(&t, Some(price(90)), &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (90, vec![0], 0, 0, vec![], 0));
    assert_eq!((s.price_source, s.imported), (PriceSource::Previous, Wh::new(1000)));
    let first = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!((first.price, first.price_source), (price(100), PriceSource::Default));

    // Only offers above the cap: all exported, nothing traded.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(5000), price(1001)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1000)).unwrap();
    let s = settle(&t, Some(price(95)), &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!((s.price, s.matched, s.exported, s.imported), (price(95), Wh::ZERO, Wh::new(5000), Wh::new(1000)));
}

#[test]
fn without_consumers_every_kwh_is_exported() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(5000), price(100)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (100, vec![], 0, 0, vec![0], 0));
    assert_eq!(s.exported, Wh::new(5000));
}

#[test]
fn a_producer_with_zero_output_makes_no_offer_and_earns_nothing() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(0), price(500)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(2000)).unwrap();
    let s = settle(&t, Some(price(50)), &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(amounts(&s), (50, vec![0], 0, 0, vec![0], 0));
    assert_eq!(s.producers[0].ask, None);
}

#[test]
fn equal_producers_split_the_odd_iota_by_registration_id() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-b"), Wh::new(1005), price(100)).unwrap();
    t.add_output(id("producer-a"), Wh::new(1005), price(100)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(2010)).unwrap();
    let no_fee = SettlementPolicy { fee: FeeBps::new(0).unwrap(), ..policy(ConsensusStrategy::Weighted) };
    let s = settle(&t, None, &no_fee).unwrap();
    // M = 2010: 1005 each; R = (2010·100 + 500) / 1000 = 201: 100.5 each, the extra IOTA
    // to producer-a.
    assert_eq!((s.revenue.get(), amounts(&s).4), (201, vec![101, 100]));
    assert_eq!(s.producers[0].id, id("producer-a"));
}

#[test]
fn the_latest_readings_address_is_where_a_producer_is_paid() {
    let mut t = PeriodTotals::default();
    let address = |a: &str| PaymentAddress::parse(a).unwrap();
    t.name_address(id("producer-a"), EpochMs::parse(2_000).unwrap(), address("wallet-late"));
    t.name_address(id("producer-a"), EpochMs::parse(1_000).unwrap(), address("wallet-early"));
    t.add_output(id("producer-a"), Wh::new(1), price(1)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(s.producers[0].payment_address, Some(address("wallet-late")));
}

#[test]
fn fees_outside_0_to_10000_basis_points_are_refused() {
    assert!(FeeBps::new(10_000).is_ok());
    assert!(FeeBps::new(10_001).is_err());
    let all = settle(
        &example(),
        None,
        &SettlementPolicy { fee: FeeBps::new(10_000).unwrap(), ..policy(ConsensusStrategy::Clearing) },
    )
    .unwrap();
    assert_eq!((all.fee, all.distributable()), (all.revenue, Iota::ZERO));
}

#[test]
fn prices_and_energies_at_their_bounds_settle_without_overflow() {
    let mut t = PeriodTotals::default();
    let max = price(Price::MAX);
    for i in 0..4 {
        t.add_output(id(&format!("producer-{i}")), Wh::new(18_446_744), max).unwrap();
        t.add_usage(id(&format!("consumer-{i}")), Wh::new(1_000_000_000)).unwrap();
    }
    let s = settle(&t, None, &SettlementPolicy { cap: max, ..policy(ConsensusStrategy::Weighted) }).unwrap();
    assert_eq!(s.price, max);
    assert_eq!(s.revenue.get(), 4 * 18_446_744 * 1_000_000_000);
}

fn address(producer: &str, period: u64) -> PaymentAddress {
    PaymentAddress::parse(format!("{producer}-wallet-{period}")).unwrap()
}

fn entitlement(period: u64, producer: &str, unpaid: u64) -> Entitlement {
    Entitlement {
        period: PeriodStart::parse(period).unwrap(),
        producer: id(producer),
        address: address(producer, period),
        unpaid: Iota::new(unpaid),
    }
}

#[test]
fn payouts_go_oldest_first_as_far_as_cash_allows_each_period_to_its_address() {
    let owed = [
        entitlement(2000, "producer-a", 50),
        entitlement(1000, "producer-b", 30),
        entitlement(1000, "producer-a", 40),
        entitlement(3000, "producer-b", 90),
    ];
    let plan = plan_payouts(&owed, Iota::new(100), Iota::ZERO);
    // Period 1000: a 40, b 30; period 2000: a 30 of 50; nothing left for period 3000.
    assert_eq!(plan.len(), 2);
    assert_eq!((plan[0].producer.as_str(), plan[0].amount.get()), ("producer-a", 70));
    let covers: Vec<(u64, &str, u64)> =
        plan[0].covers.iter().map(|c| (c.period.get(), c.address.as_str(), c.amount.get())).collect();
    assert_eq!(covers, [(1000, "producer-a-wallet-1000", 40), (2000, "producer-a-wallet-2000", 30)]);
    assert_eq!(
        plan[0].destinations(),
        [(address("producer-a", 1000), Iota::new(40)), (address("producer-a", 2000), Iota::new(30))]
    );
    assert_eq!((plan[1].producer.as_str(), plan[1].amount.get()), ("producer-b", 30));

    // With a minimum of 50, b's 30 waits.
    let plan = plan_payouts(&owed, Iota::new(100), Iota::new(50));
    assert_eq!(plan.iter().map(|p| p.producer.as_str()).collect::<Vec<_>>(), ["producer-a"]);
    assert!(plan_payouts(&owed, Iota::ZERO, Iota::ZERO).is_empty());
}

#[test]
fn one_payout_covers_at_most_max_covers_periods_and_nothing_newer_is_paid_before_the_rest() {
    let mut owed: Vec<Entitlement> = (1..=40).map(|p| entitlement(p * 1000, "producer-a", 1)).collect();
    owed.push(entitlement(50_000, "producer-b", 1));
    let plan = plan_payouts(&owed, Iota::new(1000), Iota::ZERO);
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].covers.len(), grid_core::books::MAX_COVERS);
}

fn registration(prefix: &'static str) -> impl Strategy<Value = RegistrationId> {
    (0u32..40).prop_map(move |n| id(&format!("{prefix}-{n:04}")))
}

/// Outputs (producer, Wh, price) and usages (consumer, Wh) of one period.
type Readings = (Vec<(RegistrationId, u64, u64)>, Vec<(RegistrationId, u64)>);

/// A random period: asks around a cap of 1000 (some above it), energies small and huge.
fn period() -> impl Strategy<Value = Readings> {
    let wh = prop_oneof![0u64..=5_000, 0u64..=1_000_000_000];
    let ask = prop_oneof![0u64..=2_000, 0u64..=Price::MAX];
    (
        prop::collection::vec((registration("producer"), wh.clone(), ask), 0..12),
        prop::collection::vec((registration("consumer"), wh), 0..12),
    )
}

fn totals(outputs: &[(RegistrationId, u64, u64)], usages: &[(RegistrationId, u64)]) -> PeriodTotals {
    let mut t = PeriodTotals::default();
    for (producer, wh, ask) in outputs {
        t.add_output(producer.clone(), Wh::new(*wh), price(*ask)).unwrap();
    }
    for (consumer, wh) in usages {
        t.add_usage(consumer.clone(), Wh::new(*wh)).unwrap();
    }
    t
}

fn any_policy() -> impl Strategy<Value = SettlementPolicy> {
    (
        prop::sample::select(ConsensusStrategy::ALL.to_vec()),
        0u64..=10_000,
        prop_oneof![0u64..=2_000, 0u64..=Price::MAX],
        0u64..=1_000_000,
    )
        .prop_map(|(strategy, bps, cap, default)| SettlementPolicy {
            strategy,
            fee: FeeBps::new(bps).unwrap(),
            cap: price(cap),
            feed_in: price(cap / 3),
            default_price: price(default),
        })
}

fn sum(values: impl Iterator<Item = u64>) -> u128 {
    values.map(u128::from).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn matched_energy_is_the_smaller_of_admitted_supply_and_demand_and_every_kwh_is_counted_once(
        (outputs, usages) in period(), policy in any_policy(), last in prop::option::of(0u64..1_000_000),
    ) {
        let s = settle(&totals(&outputs, &usages), last.map(price), &policy).unwrap();
        let m = u128::from(s.matched.get());
        // M = min(S, D), offers admitted only at or below the cap.
        for p in &s.producers {
            let admitted = p.ask.is_some_and(|ask| ask <= policy.cap);
            prop_assert_eq!(p.admitted, if admitted { p.produced } else { Wh::ZERO });
            prop_assert!(p.matched <= p.admitted);
            prop_assert_eq!(p.exported.get(), p.produced.get() - p.matched.get());
        }
        prop_assert_eq!(u128::from(s.admitted.get()), sum(s.producers.iter().map(|p| p.admitted.get())));
        prop_assert_eq!(s.matched, s.admitted.min(s.used));
        // Σ l_c = Σ m_p = M.
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.local.get())), m);
        prop_assert_eq!(sum(s.producers.iter().map(|p| p.matched.get())), m);
        // Σ (Wh_c − l_c) = D − M; exported = all produced − M.
        for c in &s.consumers {
            prop_assert!(c.local <= c.used);
            prop_assert_eq!(c.imported.get(), c.used.get() - c.local.get());
        }
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.imported.get())), u128::from(s.used.get()) - m);
        prop_assert_eq!(s.imported.get(), s.used.get() - s.matched.get());
        prop_assert_eq!(u128::from(s.exported.get()), u128::from(s.produced.get()) - m);
        prop_assert_eq!(sum(s.producers.iter().map(|p| p.exported.get())), u128::from(s.exported.get()));
        // Supply covers demand: every consumer's use is local.
        if s.admitted >= s.used {
            prop_assert!(s.consumers.iter().all(|c| c.local == c.used));
        }
    }

    #[test]
    fn every_iota_of_revenue_is_allocated_kept_as_fee_or_left_unallocated(
        (outputs, usages) in period(), policy in any_policy(), last in prop::option::of(0u64..1_000_000),
    ) {
        let s = settle(&totals(&outputs, &usages), last.map(price), &policy).unwrap();
        // Σ alloc + F + unallocated = R = Σ c.
        let allocated = sum(s.producers.iter().map(|p| p.allocation.get()));
        prop_assert_eq!(allocated + u128::from(s.fee.get()) + u128::from(s.unallocated.get()), u128::from(s.revenue.get()));
        prop_assert_eq!(u128::from(s.revenue.get()), sum(s.consumers.iter().map(|c| c.charge.get())));
        prop_assert_eq!(u128::from(s.fee.get()), u128::from(s.revenue.get()) * u128::from(policy.fee.get()) / 10_000);
        if s.revenue > Iota::ZERO {
            prop_assert_eq!(s.unallocated, Iota::ZERO);
        }
        // Money moves only for matched energy.
        for p in s.producers.iter().filter(|p| p.matched == Wh::ZERO) {
            prop_assert_eq!(p.allocation, Iota::ZERO);
        }
        for c in &s.consumers {
            prop_assert_eq!(u128::from(c.charge.get()), (u128::from(c.local.get()) * u128::from(s.price.get()) + 500) / 1000);
        }
        if s.matched == Wh::ZERO {
            prop_assert_eq!(s.revenue, Iota::ZERO);
            prop_assert_ne!(s.price_source, PriceSource::Traded);
        }
    }

    #[test]
    fn no_consumer_pays_more_than_the_cap_and_under_clearing_no_matched_producer_gets_less_than_its_ask(
        (outputs, usages) in period(), policy in any_policy(),
    ) {
        let s = settle(&totals(&outputs, &usages), None, &policy).unwrap();
        let cap = u128::from(policy.cap.get());
        for c in &s.consumers {
            prop_assert!(u128::from(c.charge.get()) <= (u128::from(c.local.get()) * cap).div_ceil(1000));
        }
        if s.matched > Wh::ZERO {
            prop_assert!(s.price <= policy.cap);
        }
        if policy.strategy == ConsensusStrategy::Clearing {
            for p in s.producers.iter().filter(|p| p.matched > Wh::ZERO) {
                prop_assert!(p.ask.unwrap() <= s.price, "{} asks {:?} above {}", p.id, p.ask, s.price);
            }
            // Merit order: an offer is matched only after every cheaper one is used up.
            for cheap in s.producers.iter().filter(|p| p.admitted > p.matched) {
                for dear in s.producers.iter().filter(|p| p.matched > Wh::ZERO && p.id != cheap.id) {
                    prop_assert!((dear.ask, &dear.id) < (cheap.ask, &cheap.id), "{} matched before {}", dear.id, cheap.id);
                }
            }
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_of_the_readings(
        (outputs, usages) in period(), policy in any_policy(), seed in any::<u64>(),
    ) {
        let expected = settle(&totals(&outputs, &usages), None, &policy).unwrap();
        let (mut outputs, mut usages) = (outputs, usages);
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as usize };
        for i in (1..outputs.len()).rev() { let j = next() % (i + 1); outputs.swap(i, j); }
        for i in (1..usages.len()).rev() { let j = next() % (i + 1); usages.swap(i, j); }
        prop_assert_eq!(settle(&totals(&outputs, &usages), None, &policy).unwrap(), expected);
    }

    #[test]
    fn settling_the_same_period_again_gives_the_same_settlement(
        (outputs, usages) in period(), policy in any_policy(),
    ) {
        let t = totals(&outputs, &usages);
        prop_assert_eq!(settle(&t, Some(price(7)), &policy).unwrap(), settle(&t, Some(price(7)), &policy).unwrap());
    }

    #[test]
    fn payouts_never_exceed_the_cash_held_nor_what_is_owed(
        owed in prop::collection::vec((0u64..20, registration("producer"), 0u64..1_000_000), 0..30),
        cash in 0u64..5_000_000, min in 0u64..1_000,
    ) {
        let entitlements: Vec<Entitlement> = owed.iter()
            .map(|(period, producer, unpaid)| entitlement(period * 900_000, producer.as_str(), *unpaid))
            .collect();
        let plan = plan_payouts(&entitlements, Iota::new(cash), Iota::new(min));
        let paid: u64 = plan.iter().map(|p| p.amount.get()).sum();
        prop_assert!(paid <= cash);
        for payout in &plan {
            prop_assert!(payout.amount.get() >= min.max(1));
            prop_assert_eq!(payout.covers.iter().map(|c| c.amount.get()).sum::<u64>(), payout.amount.get());
            prop_assert_eq!(payout.destinations().iter().map(|(_, a)| a.get()).sum::<u64>(), payout.amount.get());
            for cover in &payout.covers {
                let owed: u64 = entitlements.iter()
                    .filter(|e| e.period == cover.period && e.producer == payout.producer)
                    .map(|e| e.unpaid.get()).sum();
                prop_assert!(cover.amount.get() <= owed);
                prop_assert_eq!(&cover.address, &address(payout.producer.as_str(), cover.period.get()));
            }
        }
        // Without a minimum, no entitlement is paid while an older one is left unpaid.
        let plan = plan_payouts(&entitlements, Iota::new(cash), Iota::ZERO);
        let paid_on = |e: &Entitlement| plan.iter().filter(|p| p.producer == e.producer)
            .flat_map(|p| p.covers.iter()).filter(|c| c.period == e.period).map(|c| c.amount.get()).sum::<u64>();
        let total_owed: u64 = entitlements.iter().map(|e| e.unpaid.get()).sum();
        prop_assert_eq!(plan.iter().map(|p| p.amount.get()).sum::<u64>(), cash.min(total_owed));
        let mut sorted: Vec<&Entitlement> = entitlements.iter().filter(|e| e.unpaid.get() > 0).collect();
        sorted.sort_by(|a, b| (a.period, &a.producer).cmp(&(b.period, &b.producer)));
        let mut seen_short = false;
        let mut seen_pairs = std::collections::HashSet::new();
        for e in sorted {
            if !seen_pairs.insert((e.period, e.producer.clone())) { continue; }
            let owed: u64 = entitlements.iter().filter(|x| x.period == e.period && x.producer == e.producer).map(|x| x.unpaid.get()).sum();
            let got = paid_on(e);
            if seen_short { prop_assert_eq!(got, 0, "a newer entitlement was paid before an older one"); }
            if got < owed { seen_short = true; }
        }
    }
}

/// A community under a tariff of 120 (cap) and 40 (feed-in): producer A (2 kWh at 100);
/// prosumer H (makes 1.5 kWh at 90, uses 0.5); prosumer K (makes 0.2 kWh at 80, uses
/// 1.2, no bid); consumers X (1.5 kWh, bids 110) and Y (1 kWh, bids 95).
fn community() -> PeriodTotals {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(2000), price(100)).unwrap();
    t.add_output(id("prosumer-h"), Wh::new(1500), price(90)).unwrap();
    t.add_usage(id("prosumer-h"), Wh::new(500)).unwrap();
    t.add_output(id("prosumer-k"), Wh::new(200), price(80)).unwrap();
    t.add_usage(id("prosumer-k"), Wh::new(1200)).unwrap();
    t.add_bid(id("consumer-x"), Wh::new(1500), Some(price(110))).unwrap();
    t.add_bid(id("consumer-y"), Wh::new(1000), Some(price(95))).unwrap();
    t.set_kind(id("prosumer-h"), grid_core::ItemType::Prosumer);
    t
}

fn tariff(strategy: ConsensusStrategy) -> SettlementPolicy {
    SettlementPolicy { strategy, fee: FeeBps::DEFAULT, cap: price(120), feed_in: price(40), default_price: price(100) }
}

#[test]
fn a_community_clears_two_sided_with_prosumers_netted_behind_their_meters() {
    // H uses 500 of its 1500 and sells 1000 at 90; K uses its 200 and buys 1000 at the
    // cap (no bid). Offers H 90, A 100; levels K 120, X 110, Y 95. H's 1000 meet K's;
    // A meets X's 1500; A's last 500 (100) is above Y's 95: M = 2500, P = 100.
    // K: (1000·100 + 500)/1000 = 100, X 150, Y 0; R = 250, F = 50, 200 by 1000 : 1500.
    let s = settle(&community(), None, &tariff(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(s.price, price(100));
    let sellers: Vec<(&str, u64, u64, u64, u64, u64, i64)> = s
        .producers
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                p.self_consumed.get(),
                p.offered.get(),
                p.matched.get(),
                p.exported.get(),
                p.allocation.get(),
                p.gain,
            )
        })
        .collect();
    assert_eq!(
        sellers,
        [
            ("producer-a", 0, 2000, 1500, 500, 120, 60),
            ("prosumer-h", 500, 1000, 1000, 0, 80, 40),
            ("prosumer-k", 200, 0, 0, 0, 0, 0),
        ]
    );
    // (id, self-consumed, demand, bid, local, imported, charge, savings)
    type Buyer<'a> = (&'a str, u64, u64, Option<u64>, u64, u64, u64, u64);
    let buyers: Vec<Buyer> = s
        .consumers
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.self_consumed.get(),
                c.demand.get(),
                c.bid.map(Price::get),
                c.local.get(),
                c.imported.get(),
                c.charge.get(),
                c.savings.get(),
            )
        })
        .collect();
    assert_eq!(
        buyers,
        [
            ("consumer-x", 0, 1500, Some(110), 1500, 0, 150, 30),
            ("consumer-y", 0, 1000, Some(95), 0, 1000, 0, 0),
            ("prosumer-h", 500, 0, Some(120), 0, 0, 0, 0),
            ("prosumer-k", 200, 1000, Some(120), 1000, 0, 100, 20),
        ]
    );
    let totals =
        (s.produced.get(), s.used.get(), s.self_consumed.get(), s.offered.get(), s.admitted.get(), s.demand.get());
    assert_eq!(totals, (3700, 4200, 700, 3000, 3000, 3500));
    assert_eq!((s.matched.get(), s.imported.get(), s.exported.get()), (2500, 1000, 500));
    assert_eq!((s.revenue.get(), s.fee.get(), s.unallocated.get()), (250, 50, 0));
    // (700 + 2500) / 4200 and / 3700.
    assert_eq!((s.self_sufficiency_bps, s.self_consumption_bps), (7619, 8648));
    assert_eq!((s.savings.get(), s.gains, s.cap, s.feed_in), (50, 100, price(120), price(40)));
    assert_eq!(s.producers[1].kind, Some(grid_core::ItemType::Prosumer));
    assert_eq!(s.producers[0].kind, None, "not said");
    // One account entry each; a prosumer's carries what it was billed and is entitled to.
    let period = grid_core::market::PeriodStart::parse(1_796_000_400_000).unwrap();
    let entries = s.account_entries(period).unwrap();
    // K's line of its statement holds both its rows, with the period's price and tariff.
    let k = &entries[4].line;
    assert_eq!((k.period, k.kind, k.price, k.cap, k.feed_in), (period, None, price(100), price(120), price(40)));
    let bought =
        (k.used.get(), k.self_consumed.get(), k.local.get(), k.imported.get(), k.charge.get(), k.savings.get());
    assert_eq!(bought, (1200, 200, 1000, 0, 100, 20));
    let sold = (k.produced.get(), k.offered.get(), k.matched.get(), k.exported.get(), k.allocation.get(), k.gain);
    assert_eq!(sold, (200, 0, 0, 0, 0, 0));
    let entries: Vec<(&str, u64, u64, u64, u64)> = entries
        .iter()
        .map(|e| (e.registration.as_str(), e.billed().get(), e.entitled().get(), e.energy.get(), e.matched.get()))
        .collect();
    assert_eq!(
        entries,
        [
            ("consumer-x", 150, 0, 1500, 1500),
            ("consumer-y", 0, 0, 1000, 0),
            ("producer-a", 0, 120, 2000, 1500),
            ("prosumer-h", 0, 80, 2000, 1000),
            ("prosumer-k", 100, 0, 1400, 1000),
        ]
    );
}

#[test]
fn the_one_sided_strategies_trade_the_net_amounts_and_ignore_bids() {
    // S = 3000 (A 2000, H 1000), D = 3500: M = 3000. Weighted: A's worth 200,000, H's
    // 135,000 · 1000/1500 = 90,000; P = 290,000 / 3000 = 96. By demand 1000 : 1500 : 1000
    // of 3000: 857 r 500, 1285 r 2500, 857 r 500; the one left to X.
    let s = settle(&community(), None, &tariff(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(s.price, price(96));
    assert_eq!(matched(&s), [2000, 1000, 0]);
    assert_eq!(local(&s), [1286, 857, 0, 857]);
}

#[test]
fn a_bid_counts_readings_without_a_price_at_the_cap_and_never_exceeds_it() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(5000), price(100)).unwrap();
    t.add_bid(id("consumer-x"), Wh::new(1000), Some(price(80))).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1000)).unwrap();
    t.add_bid(id("consumer-y"), Wh::new(1000), Some(price(5000))).unwrap();
    let s = settle(&t, None, &tariff(ConsensusStrategy::Clearing)).unwrap();
    // X: (80,000 + 1000 · 120) / 2000 = 100; Y: 5000, above the cap, bids 120.
    assert_eq!(s.consumers.iter().map(|c| c.bid.map(Price::get)).collect::<Vec<_>>(), [Some(100), Some(120)]);
    assert_eq!(local(&s), [2000, 1000], "both at or above A's 100");
    // A buyer bidding under every ask buys nothing locally, and nothing trades for it.
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(5000), price(100)).unwrap();
    t.add_bid(id("consumer-x"), Wh::new(1000), Some(price(99))).unwrap();
    let s = settle(&t, Some(price(70)), &tariff(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!(
        (s.matched, s.revenue, s.price, s.price_source),
        (Wh::ZERO, Iota::ZERO, price(70), PriceSource::Previous)
    );
}

#[test]
fn a_prosumer_that_uses_all_it_makes_trades_nothing_and_pays_no_fee() {
    let mut t = PeriodTotals::default();
    t.add_output(id("prosumer-h"), Wh::new(800), price(90)).unwrap();
    t.add_usage(id("prosumer-h"), Wh::new(800)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1000)).unwrap();
    let s = settle(&t, None, &tariff(ConsensusStrategy::Clearing)).unwrap();
    assert_eq!((s.matched, s.revenue, s.fee, s.self_consumed), (Wh::ZERO, Iota::ZERO, Iota::ZERO, Wh::new(800)));
    assert_eq!((s.self_sufficiency_bps, s.self_consumption_bps), (4444, 10_000));
}

/// A community's period: parties that may both produce and use, bids on some readings.
type Community = Vec<(RegistrationId, u64, u64, u64, Option<u64>)>;

fn community_period() -> impl Strategy<Value = Community> {
    let wh = prop_oneof![0u64..=5_000, 0u64..=1_000_000_000];
    let ask = prop_oneof![0u64..=2_000, 0u64..=Price::MAX];
    let bid = prop::option::of(prop_oneof![0u64..=2_000, 0u64..=Price::MAX]);
    prop::collection::vec((registration("party"), wh.clone(), ask, wh, bid), 0..16)
}

fn community_totals(parties: &Community) -> PeriodTotals {
    let mut t = PeriodTotals::default();
    for (party, output, ask, usage, bid) in parties {
        if *output > 0 || usage % 3 == 0 {
            t.add_output(party.clone(), Wh::new(*output), price(*ask)).unwrap();
        }
        if *usage > 0 || output % 3 == 0 {
            t.add_bid(party.clone(), Wh::new(*usage), bid.map(price)).unwrap();
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn in_a_community_every_wh_is_counted_once_and_every_iota_accounted_for(
        parties in community_period(), policy in any_policy(), last in prop::option::of(0u64..1_000_000),
    ) {
        let s = settle(&community_totals(&parties), last.map(price), &policy).unwrap();
        let m = u128::from(s.matched.get());
        // Σ local = Σ matched = M; offered − M = Σ exported; demand − M = Σ imported.
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.local.get())), m);
        prop_assert_eq!(sum(s.producers.iter().map(|p| p.matched.get())), m);
        prop_assert_eq!(sum(s.producers.iter().map(|p| p.exported.get())), u128::from(s.offered.get()) - m);
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.imported.get())), u128::from(s.demand.get()) - m);
        // Self-consumption is counted once, alike in both lists, and never traded.
        prop_assert_eq!(sum(s.producers.iter().map(|p| p.self_consumed.get())), u128::from(s.self_consumed.get()));
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.self_consumed.get())), u128::from(s.self_consumed.get()));
        prop_assert_eq!(u128::from(s.produced.get()), u128::from(s.self_consumed.get()) + u128::from(s.offered.get()));
        prop_assert_eq!(u128::from(s.used.get()), u128::from(s.self_consumed.get()) + u128::from(s.demand.get()));
        for p in &s.producers {
            prop_assert_eq!(p.offered.get(), p.produced.get() - p.self_consumed.get());
            prop_assert!(p.matched <= p.admitted && p.admitted <= p.offered);
        }
        for c in &s.consumers {
            prop_assert_eq!(c.demand.get(), c.used.get() - c.self_consumed.get());
            prop_assert_eq!(c.imported.get(), c.demand.get() - c.local.get());
            prop_assert!(c.bid.is_none_or(|bid| bid <= policy.cap));
            // Nobody pays more than its utility would.
            prop_assert!(u128::from(c.charge.get()) <= (u128::from(c.local.get()) * u128::from(policy.cap.get())).div_ceil(1000));
            prop_assert_eq!(
                u128::from(c.savings.get()) + u128::from(c.charge.get()),
                (u128::from(c.local.get()) * u128::from(policy.cap.get()) + 500) / 1000
            );
        }
        // Money: Σ alloc + F + unallocated = R = Σ charges; gains and savings add up.
        let allocated = sum(s.producers.iter().map(|p| p.allocation.get()));
        prop_assert_eq!(allocated + u128::from(s.fee.get()) + u128::from(s.unallocated.get()), u128::from(s.revenue.get()));
        prop_assert_eq!(u128::from(s.revenue.get()), sum(s.consumers.iter().map(|c| c.charge.get())));
        prop_assert_eq!(sum(s.consumers.iter().map(|c| c.savings.get())), u128::from(s.savings.get()));
        prop_assert_eq!(s.producers.iter().map(|p| i128::from(p.gain)).sum::<i128>(), i128::from(s.gains));
        // The headline figures.
        let own = u128::from(s.self_consumed.get()) + m;
        let bps = |whole: u64| (own * 10_000).checked_div(u128::from(whole)).unwrap_or(0);
        prop_assert_eq!(u128::from(s.self_sufficiency_bps), bps(s.used.get()));
        prop_assert_eq!(u128::from(s.self_consumption_bps), bps(s.produced.get()));
        prop_assert!(s.self_sufficiency_bps <= 10_000 && s.self_consumption_bps <= 10_000);
        // Two-sided clearing: every traded buyer's bid ≥ P ≥ every traded seller's ask.
        if policy.strategy == ConsensusStrategy::Clearing && s.matched > Wh::ZERO {
            for c in s.consumers.iter().filter(|c| c.local > Wh::ZERO) {
                prop_assert!(c.bid.unwrap() >= s.price, "{} bids {:?} below {}", c.id, c.bid, s.price);
            }
            for p in s.producers.iter().filter(|p| p.matched > Wh::ZERO) {
                prop_assert!(p.ask.unwrap() <= s.price);
            }
        }
    }

    #[test]
    fn without_prosumers_or_bids_a_period_settles_as_it_always_did(
        (outputs, usages) in period(), policy in any_policy(),
    ) {
        // A bid at the cap is what no bid means: the two settle alike.
        let mut with_bids = PeriodTotals::default();
        for (producer, wh, ask) in &outputs {
            with_bids.add_output(producer.clone(), Wh::new(*wh), price(*ask)).unwrap();
        }
        for (consumer, wh) in &usages {
            with_bids.add_bid(consumer.clone(), Wh::new(*wh), Some(policy.cap)).unwrap();
        }
        let plain = settle(&totals(&outputs, &usages), None, &policy).unwrap();
        prop_assert_eq!(settle(&with_bids, None, &policy).unwrap(), plain.clone());
        prop_assert_eq!(plain.self_consumed, Wh::ZERO);
        prop_assert_eq!(plain.offered, plain.produced);
        prop_assert_eq!(plain.demand, plain.used);
    }
}
