//! Settlement at scale: one period with many sellers and buyers (ten readings each),
//! settled by the pure formulas alone (readings summed, then the local market cleared)
//! and by the whole job over SQLite (readings read back, accounts and the sellers'
//! entitlements, the report, a payment request on every buyer's return channel, the
//! record), at three sizes to show how the cost grows. The market clears by merit order
//! (`clearing`, the default); asks run from 80 to 139 IOTA/kWh under a cap of 1000, and
//! demand is about five times supply, so every buyer shares.
//!
//! At the largest size the period is also settled as an energy community, timed beside
//! the plain one in the same run: a fifth of the sellers are prosumers (homes that also
//! buy, netted behind their meters; every other one uses more than it makes), and 30 %
//! of the buyers bid from 60 to 159 IOTA/kWh, some below every ask. Last comes
//! `gridctl simulate`'s year of a hundred homes (< 5 s on one core).

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
/// Readings per seller and buyer in the period (one a minute for ten minutes).
const READINGS_EACH: usize = 10;
const SLOT_MS: u64 = 60_000;

/// What one party sends in the period: (kind, energy, its ask or bid).
type Readings = Vec<(ReadingKind, Wh, Option<Price>)>;

/// Who trades in the benchmark's period.
#[derive(Debug, Clone, Copy)]
struct Mix {
    sellers: usize,
    buyers: usize,
    /// The first this many sellers are prosumers, and buyers too.
    prosumers: usize,
    /// Buyers whose index ends in 0, 1 or 2 bid: 30 % of them.
    bids: bool,
}

impl Mix {
    fn plain(sellers: usize, buyers: usize) -> Self {
        Self { sellers, buyers, prosumers: 0, bids: false }
    }

    fn community(sellers: usize, buyers: usize) -> Self {
        Self { sellers, buyers, prosumers: sellers / 5, bids: true }
    }

    fn label(self) -> String {
        if self.prosumers == 0 && !self.bids {
            return format!("{} producers × {} consumers", self.sellers, self.buyers);
        }
        format!("{} sellers × {} buyers, a community", self.sellers, self.buyers)
    }

    /// Every party: its id, its kind, and its readings (kind, energy, price).
    fn parties(self) -> impl Iterator<Item = (RegistrationId, ItemType, Readings)> {
        let id = |kind: &str, i: usize| RegistrationId::parse(format!("{kind}-{i:06}")).expect("a valid id");
        let sellers = (0..self.sellers).map(move |p| {
            let prosumer = p < self.prosumers;
            let mut readings: Vec<_> = (0..READINGS_EACH)
                .map(|n| (ReadingKind::Output, Wh::new(100 + (p + n) as u64 % 70), Some(ask(p))))
                .collect();
            if prosumer {
                // Every other home uses more than its panels make.
                let base = if p % 2 == 1 { 150 } else { 30 };
                readings.extend(
                    (0..READINGS_EACH).map(|n| (ReadingKind::Usage, Wh::new(base + (p + n) as u64 % 90), self.bid(p))),
                );
            }
            let kind = if prosumer { ItemType::Prosumer } else { ItemType::Producer };
            (id(if prosumer { "prosumer" } else { "producer" }, p), kind, readings)
        });
        let consumers = (self.prosumers..self.buyers).map(move |c| {
            let readings = (0..READINGS_EACH)
                .map(|n| (ReadingKind::Usage, Wh::new(30 + (c + n) as u64 % 90), self.bid(c)))
                .collect();
            (id("consumer", c), ItemType::Consumer, readings)
        });
        sellers.chain(consumers)
    }

    /// Buyer `b`'s bid, if it bids.
    fn bid(self, b: usize) -> Option<Price> {
        (self.bids && b % 10 < 3).then(|| Price::parse(60 + b as u64 % 100).expect("a small price"))
    }
}

fn at(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).expect("a valid time")
}

/// Seller `p`'s ask.
fn ask(p: usize) -> Price {
    Price::parse(80 + p as u64 % 60).expect("a small price")
}

/// The pure settlement of one period, its readings summed first: seconds.
fn pure(mix: Mix) -> f64 {
    // Every reading's id cloned before the clock starts, as the job reads them owned.
    type Sent = Vec<(RegistrationId, ReadingKind, Wh, Option<Price>)>;
    let parties: Vec<(RegistrationId, ItemType, Sent)> = mix
        .parties()
        .map(|(id, kind, readings)| {
            let sent =
                readings.into_iter().map(|(reading, energy, price)| (id.clone(), reading, energy, price)).collect();
            (id, kind, sent)
        })
        .collect();
    let started = Instant::now();
    let mut totals = PeriodTotals::default();
    for (id, kind, sent) in parties {
        for (party, reading, energy, price) in sent {
            match (reading, price) {
                (ReadingKind::Output, Some(ask)) => totals.add_output(party, energy, ask).unwrap(),
                (ReadingKind::Output, None) => unreachable!("every output has its ask"),
                (ReadingKind::Usage, bid) => totals.add_bid(party, energy, bid).unwrap(),
            }
        }
        totals.set_kind(id, kind);
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
    assert_eq!(settlement.consumers.len(), mix.buyers, "every buyer has its row");
    assert!(mix.prosumers == 0 || settlement.self_consumed > Wh::ZERO, "prosumers used their own output");
    std::hint::black_box(settlement);
    seconds
}

/// The whole job over a fresh SQLite store: (seconds to load, seconds to settle).
async fn job(mix: Mix) -> anyhow::Result<(f64, f64)> {
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
    let mut readings = Vec::with_capacity(READINGS_EACH * (mix.sellers + mix.buyers));
    let slot = |n: usize| Reading {
        start: at(period + n as u64 * SLOT_MS),
        end: at(period + (n as u64 + 1) * SLOT_MS),
        energy: Wh::ZERO,
    };
    for (i, (id, kind, sent)) in mix.parties().enumerate() {
        // A seller's channel root backs one registration; a buyer is paid through its
        // return channel.
        let credentials = kind.sells().then(|| -> anyhow::Result<ChannelCredentials> {
            Ok(ChannelCredentials {
                root: ChannelRoot::parse(format!("{i:064x}"))?,
                side_key: SideKey::parse("BenchSideKeyForProducers01")?,
            })
        });
        let mut r = Registration::new(id, kind, None, credentials.transpose()?, at(now));
        if kind.buys() {
            r.return_channel = Some(ReturnChannel::generate());
        }
        stores.registrations.insert(&r).await?;
        for (n, (reading, energy, price)) in sent.into_iter().enumerate() {
            let output = reading == ReadingKind::Output;
            readings.push(StoredReading {
                registration: r.id.clone(),
                kind: reading,
                reading: Reading { energy, ..slot(n % READINGS_EACH) },
                party: Some(kind),
                price,
                payment_address: output.then(|| PaymentAddress::parse(format!("wallet-{i}"))).transpose()?,
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
    anyhow::ensure!(settled.len() == 1 && settled[0].consumers == mix.buyers as u64, "the period settled: {settled:?}");
    Ok((loaded, seconds))
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let sizes: [(usize, usize); 3] = if quick {
        [(100, 1_000), (500, 5_000), (1_000, 10_000)]
    } else {
        [(1_000, 10_000), (5_000, 50_000), (10_000, 100_000)]
    };
    let mut figures = Vec::new();
    for (i, (sellers, buyers)) in sizes.into_iter().enumerate() {
        let last = i + 1 == sizes.len();
        let plain = Mix::plain(sellers, buyers);
        let pure_plain = pure(plain);
        let (loaded, job_plain) = job(plain).await?;
        let mut pure_figure = Figure::new(format!("pure settlement (clearing), {}", plain.label()), pure_plain, "s");
        let mut job_figure = Figure::new(format!("whole job on SQLite (clearing), {}", plain.label()), job_plain, "s");
        if last && !quick {
            pure_figure = pure_figure.at_most(0.5);
            job_figure = job_figure.at_most(3.0);
        }
        figures.push(pure_figure);
        figures.push(job_figure);
        figures.push(Figure::new(format!("  (loading {} readings)", READINGS_EACH * (sellers + buyers)), loaded, "s"));
        if last {
            // The community beside the plain period it was timed after.
            let community = Mix::community(sellers, buyers);
            let pure_community = pure(community);
            let (_, job_community) = job(community).await?;
            let mut pure_figure = Figure::new(format!("pure settlement, {}", community.label()), pure_community, "s")
                .beside("the plain period", pure_plain);
            let mut job_figure = Figure::new(format!("whole job on SQLite, {}", community.label()), job_community, "s")
                .beside("the plain period", job_plain);
            if !quick {
                pure_figure = pure_figure.at_most(0.5);
                job_figure = job_figure.at_most(5.0);
            }
            figures.push(pure_figure);
            figures.push(job_figure);
        }
    }
    figures.extend(simulated(quick)?);
    Ok(figures)
}

/// `gridctl simulate`'s year (100 homes, 365 days of 15-minute periods: 35,040 settled
/// periods), beside the same homes without panels or bids (the load alone, nothing to
/// trade), on one core: the loop is single-threaded.
fn simulated(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (homes, days) = if quick { (20, 30) } else { (100, 365) };
    let args = |solar_share: f64, bidders: f64| crate::simulate::SimulateArgs {
        homes,
        solar_share,
        kwp: 6.0,
        bidders,
        ask: 120,
        bid: 200,
        yearly_kwh: 3500.0,
        start: jiff::civil::date(2026, 1, 1),
        days,
        latitude: 51.0,
        longitude: 10.5,
        period_secs: 900,
        seed: 1,
        out: std::path::PathBuf::new(),
    };
    let time = |args: crate::simulate::SimulateArgs| -> anyhow::Result<f64> {
        let started = Instant::now();
        let months = crate::simulate::simulate(&args)?;
        anyhow::ensure!(months.iter().all(crate::simulate::Month::adds_up), "a simulated month does not add up");
        Ok(started.elapsed().as_secs_f64())
    };
    let alone = time(args(0.0, 0.0))?;
    let community = time(args(0.375, 0.3))?;
    let mut figure = Figure::new(format!("simulate {homes} homes × {days} days (a community)"), community, "s")
        .beside("the same homes without panels or bids", alone);
    if !quick {
        figure = figure.at_most(5.0);
    }
    Ok(vec![figure])
}
