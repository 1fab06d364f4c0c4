//! The README's worked example: three periods of trading, settled with the default
//! policy (weighted consensus, 20% fee), printed so every number can be checked.
//!
//! `cargo run -p grid-core --example worked_example`

use grid_core::market::{ConsensusStrategy, FeeBps, PeriodTotals, SettlementPolicy, settle};
use grid_core::{Iota, RegistrationId, Wh};

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).expect("a valid id")
}

/// One period: outputs `(producer, Wh, IOTA/kWh)` and usages `(consumer, Wh)`.
type Period = (&'static [(&'static str, u64, u64)], &'static [(&'static str, u64)]);

fn main() {
    let policy =
        SettlementPolicy { strategy: ConsensusStrategy::Weighted, fee: FeeBps::DEFAULT, default_price: Iota::new(100) };
    let periods: [Period; 3] = [
        (&[("producer-a", 2000, 100), ("producer-b", 1000, 130)], &[("consumer-x", 1500), ("consumer-y", 1234)]),
        (&[("producer-a", 500, 110)], &[("consumer-x", 700), ("consumer-y", 300), ("consumer-z", 2500)]),
        (&[("producer-a", 800, 90), ("producer-b", 800, 150)], &[("consumer-z", 999)]),
    ];
    let mut previous = None;
    for (n, (outputs, usages)) in periods.iter().enumerate() {
        let mut totals = PeriodTotals::default();
        for (producer, wh, price) in *outputs {
            totals.add_output(id(producer), Wh::new(*wh), Iota::new(*price)).expect("small numbers");
        }
        for (consumer, wh) in *usages {
            totals.add_usage(id(consumer), Wh::new(*wh)).expect("small numbers");
        }
        let s = settle(&totals, previous, &policy).expect("small numbers");
        previous = Some(s.price);
        println!("period {}: price {} IOTA/kWh", n + 1, s.price.get());
        for c in &s.charges {
            println!(
                "  {} used {} Wh → charged ({} × {} + 500) / 1000 = {}",
                c.consumer,
                c.energy.get(),
                c.energy.get(),
                s.price.get(),
                c.amount.get()
            );
        }
        println!("  revenue {}  fee {}  distributable {}", s.revenue.get(), s.fee.get(), s.distributable.get());
        for a in &s.allocations {
            println!("  {} offered {} Wh → allocated {}", a.producer, a.energy.get(), a.amount.get());
        }
        let allocated: u64 = s.allocations.iter().map(|a| a.amount.get()).sum();
        println!(
            "  check: {} allocated + {} fee + {} unallocated = {} revenue",
            allocated,
            s.fee.get(),
            s.unallocated.get(),
            s.revenue.get()
        );
    }
}
