//! The README's worked example: three periods of the local market, settled with the
//! default policy (clearing, a cap of 1000 IOTA/kWh, a 20% fee), printed so every
//! number can be checked by hand.
//!
//! `cargo run -p grid-core --example worked_example`

use grid_core::market::{ConsensusStrategy, FeeBps, PeriodTotals, SettlementPolicy, settle};
use grid_core::{Price, RegistrationId, Wh};

fn id(s: &str) -> RegistrationId {
    RegistrationId::parse(s).expect("a valid id")
}

fn price(p: u64) -> Price {
    Price::parse(p).expect("a small price")
}

/// One period: outputs `(producer, Wh, IOTA/kWh)` and usages `(consumer, Wh)`.
type Period = (&'static [(&'static str, u64, u64)], &'static [(&'static str, u64)]);

fn main() {
    let policy = SettlementPolicy {
        strategy: ConsensusStrategy::Clearing,
        fee: FeeBps::DEFAULT,
        cap: price(1000),
        feed_in: price(0),
        default_price: price(100),
    };
    let periods: [Period; 3] = [
        (&[("producer-a", 2000, 100), ("producer-b", 1000, 130)], &[("consumer-x", 1500), ("consumer-y", 1234)]),
        (&[("producer-a", 500, 110)], &[("consumer-x", 700), ("consumer-y", 300), ("consumer-z", 2500)]),
        (&[("producer-a", 800, 90), ("producer-b", 800, 150)], &[("consumer-z", 999)]),
    ];
    let mut previous = None;
    for (n, (outputs, usages)) in periods.iter().enumerate() {
        let mut totals = PeriodTotals::default();
        for (producer, wh, ask) in *outputs {
            totals.add_output(id(producer), Wh::new(*wh), price(*ask)).expect("small numbers");
        }
        for (consumer, wh) in *usages {
            totals.add_usage(id(consumer), Wh::new(*wh)).expect("small numbers");
        }
        let s = settle(&totals, previous, &policy).expect("small numbers");
        previous = Some(s.price);
        println!(
            "period {}: supply {} Wh, demand {} Wh, matched M = {} Wh, price {} IOTA/kWh",
            n + 1,
            s.admitted.get(),
            s.used.get(),
            s.matched.get(),
            s.price.get()
        );
        for p in &s.producers {
            println!(
                "  {} asks {} for {} Wh → matched {}, exported {}",
                p.id,
                p.ask.map_or(0, |a| a.get()),
                p.produced.get(),
                p.matched.get(),
                p.exported.get()
            );
        }
        for c in &s.consumers {
            println!(
                "  {} used {} Wh → local {}, imported {}, charged ({} × {} + 500) / 1000 = {}",
                c.id,
                c.used.get(),
                c.local.get(),
                c.imported.get(),
                c.local.get(),
                s.price.get(),
                c.charge.get()
            );
        }
        println!("  revenue {}  fee {}  distributable {}", s.revenue.get(), s.fee.get(), s.distributable().get());
        for p in &s.producers {
            println!("  {} allocated {} (by matched energy)", p.id, p.allocation.get());
        }
        let allocated: u64 = s.producers.iter().map(|p| p.allocation.get()).sum();
        println!(
            "  check: {} allocated + {} fee + {} unallocated = {} revenue",
            allocated,
            s.fee.get(),
            s.unallocated.get(),
            s.revenue.get()
        );
    }
}
