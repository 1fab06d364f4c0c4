//! Settlement at scale: one period with many producers and consumers (ten readings
//! each), settled by the pure formulas alone (readings summed, then the local market
//! cleared) and by the whole job over SQLite (readings read back, accounts and the
//! producers' entitlements, the report, a payment request on every consumer's return
//! channel, the record), at three sizes to show how the cost grows. The market clears
//! by merit order (`clearing`, the default); asks run from 80 to 139 IOTA/kWh under a
//! cap of 1000, and demand is about five times supply, so every consumer shares.

use std::collections::HashMap;
use std::time::Instant;

use grid_app::jobs::Settler;
use grid_app::{GridConfig, open_stores};
use grid_core::channel::Reading;
use grid_core::market::{
    ConsensusStrategy, FeeBps, PeriodStart, PeriodTotals, ReadingKind, SettlementPolicy, StoredReading, settle,
};
use grid_core::{
    ChannelCredentials, ChannelRoot, EpochMs, ItemType, PaymentAddress, Price, Registration, RegistrationId,
    ReturnChannel, SideKey, Wh,
};

use super::Figure;

const PERIOD_MS: u64 = 900_000;
/// Readings per producer and consumer in the period (one a minute for ten minutes).
const READINGS_EACH: usize = 10;
const SLOT_MS: u64 = 60_000;

fn id(kind: &str, i: usize) -> RegistrationId {
    RegistrationId::parse(format!("{kind}-{i:06}")).expect("a valid id")
}

fn at(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).expect("a valid time")
}

/// Producer `p`'s ask.
fn ask(p: usize) -> Price {
    Price::parse(80 + p as u64 % 60).expect("a small price")
}

/// The pure settlement of one period, its readings summed first: seconds.
fn pure(producers: usize, consumers: usize) -> f64 {
    let outputs: Vec<(RegistrationId, Wh, Price)> = (0..producers)
        .flat_map(|p| (0..READINGS_EACH).map(move |n| (id("producer", p), Wh::new(100 + (p + n) as u64 % 70), ask(p))))
        .collect();
    let usages: Vec<(RegistrationId, Wh)> = (0..consumers)
        .flat_map(|c| (0..READINGS_EACH).map(move |n| (id("consumer", c), Wh::new(30 + (c + n) as u64 % 90))))
        .collect();
    let started = Instant::now();
    let mut totals = PeriodTotals::default();
    for (producer, energy, price) in outputs {
        totals.add_output(producer, energy, price).unwrap();
    }
    for (consumer, energy) in usages {
        totals.add_usage(consumer, energy).unwrap();
    }
    let policy = SettlementPolicy {
        strategy: ConsensusStrategy::Clearing,
        fee: FeeBps::DEFAULT,
        cap: Price::parse(1000).expect("a small price"),
        feed_in: Price::ZERO,
        default_price: Price::parse(100).expect("a small price"),
    };
    let settlement = settle(&totals, None, &policy).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(settlement);
    seconds
}

/// The whole job over a fresh SQLite store: (seconds to load, seconds to settle).
async fn job(producers: usize, consumers: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let vars: HashMap<String, String> = [
        ("GRID_DATA_DIR", dir.path().display().to_string()),
        ("SETTLEMENT_PERIOD_SECS", "900".to_owned()),
        ("SETTLEMENT_GRACE_SECS", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = GridConfig::from_vars(&vars)?;
    let stores = open_stores(&config).await?;
    let now = EpochMs::now().get();
    let period = now - now % PERIOD_MS - 4 * PERIOD_MS;
    let start = PeriodStart::parse(period)?;

    let loading = Instant::now();
    // A channel root backs one registration.
    let credentials = |p: usize| -> anyhow::Result<ChannelCredentials> {
        Ok(ChannelCredentials {
            root: ChannelRoot::parse(format!("{p:064x}"))?,
            side_key: SideKey::parse("BenchSideKeyForProducers01")?,
        })
    };
    let mut readings = Vec::with_capacity(READINGS_EACH * (producers + consumers));
    let slot = |n: usize| Reading {
        start: at(period + n as u64 * SLOT_MS),
        end: at(period + (n as u64 + 1) * SLOT_MS),
        energy: Wh::ZERO,
    };
    for p in 0..producers {
        let r = Registration::new(id("producer", p), ItemType::Producer, None, Some(credentials(p)?), at(now));
        stores.registrations.insert(&r).await?;
        for n in 0..READINGS_EACH {
            readings.push(StoredReading {
                registration: r.id.clone(),
                kind: ReadingKind::Output,
                reading: Reading { energy: Wh::new(100 + (p + n) as u64 % 70), ..slot(n) },
                party: Some(ItemType::Producer),
                price: Some(ask(p)),
                payment_address: Some(PaymentAddress::parse(format!("wallet-{p}"))?),
                channel_index: n as u64 + 1,
                period: start,
                counted_in: start,
            });
        }
    }
    for c in 0..consumers {
        let mut r = Registration::new(id("consumer", c), ItemType::Consumer, None, None, at(now));
        r.return_channel = Some(ReturnChannel::generate());
        stores.registrations.insert(&r).await?;
        for n in 0..READINGS_EACH {
            readings.push(StoredReading {
                registration: r.id.clone(),
                kind: ReadingKind::Usage,
                reading: Reading { energy: Wh::new(30 + (c + n) as u64 % 90), ..slot(n) },
                party: Some(ItemType::Consumer),
                price: None,
                payment_address: None,
                channel_index: n as u64 + 1,
                period: start,
                counted_in: start,
            });
        }
    }
    for chunk in readings.chunks(10_000) {
        stores.readings.insert_many(chunk).await?;
    }
    stores.settlements.initialize(PeriodStart::parse(period - PERIOD_MS)?).await?;
    let loaded = loading.elapsed().as_secs_f64();

    let settling = Instant::now();
    let settled = Settler::new(&stores, &config).run(at(period + PERIOD_MS + 1_000)).await?;
    let seconds = settling.elapsed().as_secs_f64();
    anyhow::ensure!(settled.len() == 1 && settled[0].consumers == consumers as u64, "the period settled: {settled:?}");
    Ok((loaded, seconds))
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let sizes: [(usize, usize); 3] = if quick {
        [(100, 1_000), (500, 5_000), (1_000, 10_000)]
    } else {
        [(1_000, 10_000), (5_000, 50_000), (10_000, 100_000)]
    };
    let mut figures = Vec::new();
    for (i, (producers, consumers)) in sizes.into_iter().enumerate() {
        let last = i + 1 == sizes.len();
        let label = format!("{producers} producers × {consumers} consumers");
        let pure = pure(producers, consumers);
        let (loaded, job) = job(producers, consumers).await?;
        let mut pure_figure = Figure::new(format!("pure settlement (clearing), {label}"), pure, "s");
        let mut job_figure = Figure::new(format!("whole job on SQLite (clearing), {label}"), job, "s");
        if last && !quick {
            pure_figure = pure_figure.at_most(0.5);
            job_figure = job_figure.at_most(3.0);
        }
        figures.push(pure_figure);
        figures.push(job_figure);
        figures.push(Figure::new(
            format!("  (loading {} readings)", READINGS_EACH * (producers + consumers)),
            loaded,
            "s",
        ));
    }
    Ok(figures)
}
