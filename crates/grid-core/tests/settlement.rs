//! Settlement and payouts: hand-computed examples, then properties over random periods.

use grid_core::market::{
    ConsensusStrategy, Entitlement, FeeBps, PeriodTotals, PriceSource, Settlement, SettlementPolicy, plan_payouts,
    settle,
};
use grid_core::{Iota, RegistrationId, Wh};
use proptest::prelude::*;

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).unwrap()
}

fn policy(strategy: ConsensusStrategy) -> SettlementPolicy {
    SettlementPolicy { strategy, fee: FeeBps::DEFAULT, default_price: Iota::new(100) }
}

/// Producers A (2 kWh at 100) and B (1 kWh at 130); consumers X (1.5 kWh) and Y (1.234 kWh).
fn example() -> PeriodTotals {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(2000), Iota::new(100)).unwrap();
    t.add_output(id("producer-b"), Wh::new(1000), Iota::new(130)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1500)).unwrap();
    t.add_usage(id("consumer-y"), Wh::new(1234)).unwrap();
    t
}

fn amounts(s: &Settlement) -> (u64, Vec<u64>, u64, u64, Vec<u64>, u64) {
    (
        s.price.get(),
        s.charges.iter().map(|c| c.amount.get()).collect(),
        s.revenue.get(),
        s.fee.get(),
        s.allocations.iter().map(|a| a.amount.get()).collect(),
        s.unallocated.get(),
    )
}

#[test]
fn weighted_consensus_matches_the_hand_computed_example() {
    // P = floor((2000·100 + 1000·130) / 3000) = 110.
    // X: (1500·110 + 500) / 1000 = 165; Y: (1234·110 + 500) / 1000 = 136; R = 301.
    // F = floor(301 · 0.2) = 60; D = 241.
    // A: 241·200000/330000 = 146 r 20000; B: 241·130000/330000 = 94 r 310000; the last IOTA to B.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(amounts(&s), (110, vec![165, 136], 301, 60, vec![146, 95], 0));
    assert_eq!((s.produced, s.used, s.distributable), (Wh::new(3000), Wh::new(2734), Iota::new(241)));
    assert_eq!(s.price_source, PriceSource::Consensus);
}

#[test]
fn mean_consensus_matches_the_hand_computed_example() {
    // P = floor((100 + 130) / 2) = 115; X 173, Y 142; R 315, F 63, D 252; A 152 r 240000 takes the extra.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Mean)).unwrap();
    assert_eq!(amounts(&s), (115, vec![173, 142], 315, 63, vec![153, 99], 0));
}

#[test]
fn median_consensus_matches_the_hand_computed_example() {
    // Lower median of [100, 130] = 100; X 150, Y 123; R 273, F 54, D 219; A 132 r 240000 takes the extra.
    let s = settle(&example(), None, &policy(ConsensusStrategy::Median)).unwrap();
    assert_eq!(amounts(&s), (100, vec![150, 123], 273, 54, vec![133, 86], 0));
}

#[test]
fn the_median_is_the_lower_one_for_an_even_count() {
    let mut t = PeriodTotals::default();
    for (name, price) in [("producer-1", 130), ("producer-2", 100), ("producer-3", 120), ("producer-4", 110)] {
        t.add_output(id(name), Wh::new(1000), Iota::new(price)).unwrap();
    }
    assert_eq!(settle(&t, None, &policy(ConsensusStrategy::Median)).unwrap().price, Iota::new(110));
    t.add_output(id("producer-5"), Wh::new(1000), Iota::new(125)).unwrap();
    assert_eq!(settle(&t, None, &policy(ConsensusStrategy::Median)).unwrap().price, Iota::new(120));
}

#[test]
fn a_charge_of_half_an_iota_rounds_up() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1000), Iota::new(1)).unwrap();
    t.add_usage(id("consumer-half"), Wh::new(500)).unwrap();
    t.add_usage(id("consumer-less"), Wh::new(499)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(s.charges.iter().map(|c| c.amount.get()).collect::<Vec<_>>(), [1, 0]);
}

#[test]
fn a_producers_own_price_over_several_readings_is_volume_weighted() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(1000), Iota::new(100)).unwrap();
    t.add_output(id("producer-a"), Wh::new(3000), Iota::new(200)).unwrap();
    t.add_output(id("producer-b"), Wh::new(1), Iota::new(10)).unwrap();
    // A: floor(700000 / 4000) = 175; mean with B's 10 = floor(185 / 2) = 92.
    assert_eq!(settle(&t, None, &policy(ConsensusStrategy::Mean)).unwrap().price, Iota::new(92));
}

#[test]
fn without_producers_the_previous_price_applies_and_everything_is_unallocated() {
    let mut t = PeriodTotals::default();
    t.add_usage(id("consumer-x"), Wh::new(1000)).unwrap();
    let s = settle(&t, Some(Iota::new(90)), &policy(ConsensusStrategy::Weighted)).unwrap();
    // 1 kWh at 90 = 90; fee 18; 72 nobody can take.
    assert_eq!(amounts(&s), (90, vec![90], 90, 18, vec![], 72));
    assert_eq!(s.price_source, PriceSource::Previous);
    let first = settle(&t, None, &policy(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(
        (first.price, first.price_source, first.unallocated),
        (Iota::new(100), PriceSource::Default, Iota::new(80))
    );
}

#[test]
fn without_consumers_there_is_nothing_to_share() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(5000), Iota::new(100)).unwrap();
    let s = settle(&t, None, &policy(ConsensusStrategy::Weighted)).unwrap();
    assert_eq!(amounts(&s), (100, vec![], 0, 0, vec![0], 0));
}

#[test]
fn one_producer_with_zero_output_makes_no_offer_and_earns_nothing() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-a"), Wh::new(0), Iota::new(500)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(2000)).unwrap();
    let s = settle(&t, Some(Iota::new(50)), &policy(ConsensusStrategy::Weighted)).unwrap();
    // No offer: the previous price 50 holds (the idle producer's 500 does not count).
    assert_eq!(amounts(&s), (50, vec![100], 100, 20, vec![0], 80));
}

#[test]
fn equal_producers_split_the_odd_iota_by_registration_id() {
    let mut t = PeriodTotals::default();
    t.add_output(id("producer-b"), Wh::new(1000), Iota::new(100)).unwrap();
    t.add_output(id("producer-a"), Wh::new(1000), Iota::new(100)).unwrap();
    t.add_usage(id("consumer-x"), Wh::new(1010)).unwrap();
    let s = settle(&t, None, &SettlementPolicy { fee: FeeBps::new(0).unwrap(), ..policy(ConsensusStrategy::Weighted) })
        .unwrap();
    // R = 101, no fee; 50.5 each: the extra IOTA goes to producer-a, the smaller id.
    assert_eq!(amounts(&s).4, vec![51, 50]);
    assert_eq!(s.allocations[0].producer, id("producer-a"));
}

#[test]
fn fees_outside_0_to_10000_basis_points_are_refused() {
    assert!(FeeBps::new(10_000).is_ok());
    assert!(FeeBps::new(10_001).is_err());
    let mut t = example();
    t.add_usage(id("consumer-z"), Wh::new(1)).unwrap();
    let all = settle(
        &t,
        None,
        &SettlementPolicy { fee: FeeBps::new(10_000).unwrap(), ..policy(ConsensusStrategy::Weighted) },
    )
    .unwrap();
    assert_eq!((all.fee, all.distributable), (all.revenue, Iota::ZERO));
}

#[test]
fn payouts_go_oldest_first_as_far_as_cash_allows() {
    let e = |period, producer: &str, unpaid| Entitlement { period, producer: id(producer), unpaid: Iota::new(unpaid) };
    let owed =
        [e(2000, "producer-a", 50), e(1000, "producer-b", 30), e(1000, "producer-a", 40), e(3000, "producer-b", 90)];
    let plan = plan_payouts(&owed, Iota::new(100), Iota::ZERO);
    // Period 1000: a 40, b 30; period 2000: a 30 of 50; nothing left for period 3000.
    assert_eq!(plan.len(), 2);
    assert_eq!((plan[0].producer.as_str(), plan[0].amount.get()), ("producer-a", 70));
    assert_eq!(plan[0].covers, vec![(1000, Iota::new(40)), (2000, Iota::new(30))]);
    assert_eq!((plan[1].producer.as_str(), plan[1].amount.get()), ("producer-b", 30));

    // With a minimum of 50, b's 30 waits.
    let plan = plan_payouts(&owed, Iota::new(100), Iota::new(50));
    assert_eq!(plan.iter().map(|p| p.producer.as_str()).collect::<Vec<_>>(), ["producer-a"]);
    assert!(plan_payouts(&owed, Iota::ZERO, Iota::ZERO).is_empty());
}

fn registration(prefix: &'static str) -> impl Strategy<Value = RegistrationId> {
    (0u32..40).prop_map(move |n| id(&format!("{prefix}-{n:04}")))
}

/// Outputs (producer, Wh, price) and usages (consumer, Wh) of one period.
type Readings = (Vec<(RegistrationId, u64, u64)>, Vec<(RegistrationId, u64)>);

/// A random period.
fn period() -> impl Strategy<Value = Readings> {
    (
        prop::collection::vec((registration("producer"), 0u64..=1_000_000_000, 0u64..=1_000_000), 0..12),
        prop::collection::vec((registration("consumer"), 0u64..=1_000_000_000), 0..12),
    )
}

fn totals(outputs: &[(RegistrationId, u64, u64)], usages: &[(RegistrationId, u64)]) -> PeriodTotals {
    let mut t = PeriodTotals::default();
    for (producer, wh, price) in outputs {
        t.add_output(producer.clone(), Wh::new(*wh), Iota::new(*price)).unwrap();
    }
    for (consumer, wh) in usages {
        t.add_usage(consumer.clone(), Wh::new(*wh)).unwrap();
    }
    t
}

fn any_policy() -> impl Strategy<Value = SettlementPolicy> {
    (
        prop_oneof![Just(ConsensusStrategy::Weighted), Just(ConsensusStrategy::Mean), Just(ConsensusStrategy::Median)],
        0u64..=10_000,
        0u64..=1_000_000,
    )
        .prop_map(|(strategy, bps, price)| SettlementPolicy {
            strategy,
            fee: FeeBps::new(bps).unwrap(),
            default_price: Iota::new(price),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn every_iota_of_revenue_is_allocated_kept_as_fee_or_left_unallocated(
        (outputs, usages) in period(), policy in any_policy(), previous in prop::option::of(0u64..1_000_000),
    ) {
        let s = settle(&totals(&outputs, &usages), previous.map(Iota::new), &policy).unwrap();
        let allocated: u128 = s.allocations.iter().map(|a| u128::from(a.amount.get())).sum();
        prop_assert_eq!(allocated + u128::from(s.fee.get()) + u128::from(s.unallocated.get()), u128::from(s.revenue.get()));
        prop_assert_eq!(s.revenue.get(), s.charges.iter().map(|c| c.amount.get()).sum::<u64>());
        prop_assert_eq!(s.distributable.get(), s.revenue.get() - s.fee.get());
        prop_assert!(s.allocations.iter().all(|a| a.amount <= s.distributable));
        let anyone_offered = s.allocations.iter().any(|a| a.energy.get() > 0 && s.produced.get() > 0)
            && outputs.iter().any(|(_, wh, price)| *wh > 0 && *price > 0);
        if anyone_offered {
            prop_assert_eq!(s.unallocated, Iota::ZERO);
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
        prop_assert_eq!(settle(&t, Some(Iota::new(7)), &policy).unwrap(), settle(&t, Some(Iota::new(7)), &policy).unwrap());
    }

    #[test]
    fn payouts_never_exceed_the_cash_held_nor_what_is_owed(
        owed in prop::collection::vec((0u64..20, registration("producer"), 0u64..1_000_000), 0..30),
        cash in 0u64..5_000_000, min in 0u64..1_000,
    ) {
        let entitlements: Vec<Entitlement> = owed.iter()
            .map(|(period, producer, unpaid)| Entitlement { period: period * 900_000, producer: producer.clone(), unpaid: Iota::new(*unpaid) })
            .collect();
        let plan = plan_payouts(&entitlements, Iota::new(cash), Iota::new(min));
        let paid: u64 = plan.iter().map(|p| p.amount.get()).sum();
        prop_assert!(paid <= cash);
        for payout in &plan {
            prop_assert!(payout.amount.get() >= min.max(1));
            prop_assert_eq!(payout.covers.iter().map(|(_, a)| a.get()).sum::<u64>(), payout.amount.get());
            for (period, amount) in &payout.covers {
                let owed: u64 = entitlements.iter().filter(|e| e.period == *period && e.producer == payout.producer).map(|e| e.unpaid.get()).sum();
                prop_assert!(amount.get() <= owed);
            }
        }
        // Without a minimum, no entitlement is paid while an older one is left unpaid.
        let plan = plan_payouts(&entitlements, Iota::new(cash), Iota::ZERO);
        let paid_on = |e: &Entitlement| plan.iter().filter(|p| p.producer == e.producer)
            .flat_map(|p| p.covers.iter()).filter(|(period, _)| *period == e.period).map(|(_, a)| a.get()).sum::<u64>();
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
