//! Settlement at scale: one period with many producers and consumers, settled by the
//! pure formulas alone and by the whole job over SQLite (readings read back, accounts,
//! the report, a payment request on every consumer's return channel, the record), at
//! three sizes to show how the cost grows.

use std::collections::HashMap;
use std::time::Instant;

use grid_app::{GridConfig, Stores};
use grid_core::channel::Reading;
use grid_core::market::{ConsensusStrategy, FeeBps, PeriodTotals, ReadingKind, SettlementPolicy, settle};
use grid_core::{
    ChannelCredentials, ChannelRoot, EpochMs, Iota, ItemType, PaymentAddress, Registration, RegistrationId,
    ReturnChannel, SideKey, Wh,
};
use grid_store::StoredReading;

use super::Figure;

const PERIOD_MS: u64 = 900_000;

fn id(kind: &str, i: usize) -> RegistrationId {
    RegistrationId::parse(format!("{kind}-{i:06}")).expect("a valid id")
}

fn at(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).expect("a valid time")
}

/// The pure settlement of one period: seconds.
fn pure(producers: usize, consumers: usize) -> f64 {
    let mut totals = PeriodTotals::default();
    for p in 0..producers {
        totals.add_output(id("producer", p), Wh::new(1000 + p as u64 % 700), Iota::new(80 + p as u64 % 60)).unwrap();
    }
    for c in 0..consumers {
        totals.add_usage(id("consumer", c), Wh::new(300 + c as u64 % 900)).unwrap();
    }
    let started = Instant::now();
    let policy =
        SettlementPolicy { strategy: ConsensusStrategy::Weighted, fee: FeeBps::DEFAULT, default_price: Iota::new(100) };
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
    let stores = Stores::open(&config).await?;
    let now = EpochMs::now().get();
    let period = now - now % PERIOD_MS - 4 * PERIOD_MS;

    let loading = Instant::now();
    let credentials = ChannelCredentials {
        root: ChannelRoot::parse("ab".repeat(32))?,
        side_key: SideKey::parse("BenchSideKeyForProducers01")?,
    };
    for p in 0..producers {
        let r = Registration::new(id("producer", p), ItemType::Producer, None, Some(credentials.clone()), at(now));
        stores.registrations.insert(&r).await?;
        let reading = StoredReading {
            registration: r.id.clone(),
            kind: ReadingKind::Output,
            reading: Reading { start: at(period), end: at(period + PERIOD_MS), energy: Wh::new(1000 + p as u64 % 700) },
            price: Some(Iota::new(80 + p as u64 % 60)),
            payment_address: Some(PaymentAddress::parse(format!("wallet-{p}"))?),
            channel_index: 1,
            period,
            counted_in: period,
        };
        stores.readings.insert(&reading).await?;
    }
    for c in 0..consumers {
        let mut r = Registration::new(id("consumer", c), ItemType::Consumer, None, None, at(now));
        r.return_channel = Some(ReturnChannel::generate());
        stores.registrations.insert(&r).await?;
        let reading = StoredReading {
            registration: r.id.clone(),
            kind: ReadingKind::Usage,
            reading: Reading { start: at(period), end: at(period + PERIOD_MS), energy: Wh::new(300 + c as u64 % 900) },
            price: None,
            payment_address: None,
            channel_index: 1,
            period,
            counted_in: period,
        };
        stores.readings.insert(&reading).await?;
    }
    stores.settlements.initialize(period - PERIOD_MS).await?;
    let loaded = loading.elapsed().as_secs_f64();

    let settling = Instant::now();
    let settled = stores.settler(&config).run(at(period + PERIOD_MS + 1_000)).await?;
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
        let mut pure_figure = Figure::new(format!("pure settlement, {label}"), pure, "s");
        let mut job_figure = Figure::new(format!("whole job on SQLite, {label}"), job, "s");
        if last && !quick {
            pure_figure = pure_figure.at_most(0.5);
            job_figure = job_figure.at_most(5.0);
        }
        figures.push(pure_figure);
        figures.push(job_figure);
        figures.push(Figure::new(format!("  (loading {} readings)", producers + consumers), loaded, "s"));
    }
    Ok(figures)
}
