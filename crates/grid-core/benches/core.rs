//! The pure hot paths, measured with criterion (`make bench` runs them): a channel
//! message sealed, opened and parsed, and one period settled at three sizes. The
//! end-to-end figures (stores, HTTP, Lambda) are `gridctl bench`'s.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Reading, random_nonce};
use grid_core::market::{ConsensusStrategy, FeeBps, PeriodTotals, SettlementPolicy, settle};
use grid_core::{EpochMs, Price, RegistrationId, SideKey, Wh};

fn usage() -> Command {
    let at = |ms| EpochMs::parse(ms).expect("a valid time");
    Command::Usage(Reading { start: at(1_795_860_000_000), end: at(1_795_860_060_000), energy: Wh::new(1234) })
}

fn channel(c: &mut Criterion) {
    let secrets = ChannelSecrets::new(&ChannelSeed::generate(), SideKey::generate());
    let plaintext = usage().to_json();
    let envelope = secrets.seal(7, plaintext.as_bytes(), random_nonce()).expect("it seals");
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal", |b| b.iter(|| secrets.seal(7, plaintext.as_bytes(), random_nonce())));
    group.bench_function("open", |b| b.iter(|| secrets.access().open(7, &envelope)));
    group.bench_function("parse command", |b| b.iter(|| Command::parse(plaintext.as_bytes())));
    group.finish();
}

fn totals(producers: usize, consumers: usize) -> PeriodTotals {
    let id = |kind: &str, i: usize| RegistrationId::parse(format!("{kind}-{i:06}")).expect("a valid id");
    let mut totals = PeriodTotals::default();
    for p in 0..producers {
        totals
            .add_output(id("producer", p), Wh::new(1000 + p as u64 % 700), Price::parse(80 + p as u64 % 60).unwrap())
            .unwrap();
    }
    for c in 0..consumers {
        totals.add_usage(id("consumer", c), Wh::new(300 + c as u64 % 900)).unwrap();
    }
    totals
}

fn settlement(c: &mut Criterion) {
    let policy = SettlementPolicy {
        strategy: ConsensusStrategy::Clearing,
        fee: FeeBps::DEFAULT,
        cap: Price::parse(1000).unwrap(),
        feed_in: Price::ZERO,
        default_price: Price::parse(100).unwrap(),
    };
    let mut group = c.benchmark_group("settle");
    group.sample_size(10);
    for (producers, consumers) in [(100, 1_000), (1_000, 10_000), (10_000, 100_000)] {
        let totals = totals(producers, consumers);
        group.throughput(Throughput::Elements((producers + consumers) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{producers}x{consumers}")), &totals, |b, t| {
            b.iter(|| settle(t, None, &policy))
        });
    }
    group.finish();
}

criterion_group!(benches, channel, settlement);
criterion_main!(benches);
