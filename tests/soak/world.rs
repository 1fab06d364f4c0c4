//! The soak's energy community: producers with their panels (each panel a source
//! device on its own channel), and households, every third a prosumer with panels on
//! its roof and every fourth bidding for local energy; every one the real agent
//! speaking HTTP to the grid, with meters replaying a seeded morning so that two runs
//! send exactly the same readings.

use std::sync::Arc;

use grid_agents::consumer::{Consumer, ConsumerSettings, Production};
use grid_agents::producer::{Producer, ProducerSettings};
use grid_agents::source::Source;
use grid_agents::{GridApi, Meter, OwnChannel, Wallet};
use grid_client::channels::{ChannelClient, HttpChannelClient};
use grid_core::channel::Reading;
use grid_core::devices::Profile;
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId};

/// IOTA each household's ledger account starts with.
pub const FUNDS: u64 = 10_000_000;
/// Slots (simulated steps) per period.
pub const SLOTS: u64 = 5;
/// The period, ms.
pub const PERIOD_MS: u64 = 900_000;
pub const SLOT_MS: u64 = PERIOD_MS / SLOTS;

/// How big the community is.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Size {
    pub producers: usize,
    pub sources: usize,
    pub households: usize,
    pub periods: u64,
}

impl Size {
    /// Every device: the producers, their panels and the households.
    pub fn devices(&self) -> usize {
        self.producers * (1 + self.sources) + self.households
    }
}

pub struct ProducerAgent {
    pub agent: Producer,
    pub sources: Vec<Source>,
    pub serving: tokio::task::JoinHandle<()>,
}

/// The days the soak trades: `periods` periods from `start`, the meters reading what
/// they would read from `morning` on.
#[derive(Clone, Copy)]
pub struct Day {
    pub start: u64,
    pub morning: u64,
    pub periods: u64,
}

impl Day {
    /// The periods just before now, on a clock whose panels see a morning's sun.
    pub fn before_now(periods: u64) -> Self {
        let latest = EpochMs::now().get() - (periods + 3) * PERIOD_MS;
        let start = latest - latest % PERIOD_MS;
        const DAY: u64 = 86_400_000;
        let morning = start - start % DAY - DAY + 8 * 3_600_000;
        Self { start, morning, periods }
    }

    pub fn end(&self) -> u64 {
        self.start + self.periods * PERIOD_MS
    }

    /// A meter replaying `profile` with `seed`, one reading a slot.
    fn meter(&self, profile: Profile, seed: u64) -> Meter {
        let at = |ms: u64| EpochMs::parse(ms as i64).expect("soak times are valid");
        let readings: Vec<Reading> = (self.start..self.end())
            .step_by(SLOT_MS as usize)
            .map(|s| {
                let sun = s - self.start + self.morning;
                Reading { start: at(s), end: at(s + SLOT_MS), energy: profile.energy(at(sun), at(sun + SLOT_MS), seed) }
            })
            .collect();
        Meter::Replay(readings.into())
    }
}

/// A device's way to the grid at `base`: the channel node and the grid's API over it.
fn device(base: &str) -> (reqwest::Client, Arc<dyn ChannelClient>, GridApi) {
    let http = reqwest::Client::new();
    let channels: Arc<dyn ChannelClient> = Arc::new(HttpChannelClient::new(base.to_owned(), http.clone()));
    (http.clone(), channels, GridApi::new(base.to_owned(), http))
}

/// Producer `p`, asking a price of its own, with its panels registered at its API.
pub async fn producer(p: usize, size: Size, day: Day, base: &str, ledger: &str) -> ProducerAgent {
    let (http, channels, grid) = device(base);
    let id = RegistrationId::parse(format!("producer-{:02}", p + 1)).unwrap();
    let payment_address = PaymentAddress::parse(format!("wallet-{id}")).unwrap();
    let settings = ProducerSettings {
        id,
        name: None,
        price: Price::parse(90 + 20 * p as u64).unwrap(),
        payment_address: payment_address.clone(),
        slot_ms: SLOT_MS,
        delay_ms: SLOT_MS / 3,
    };
    let wallet = Wallet::new(ledger, payment_address, http);
    let channel = OwnChannel::open(None, channels.clone()).unwrap();
    let agent =
        Producer::start(settings, grid, channels.clone(), channel, Some(wallet)).await.expect("producer starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let api = grid_agents::producer::router(agent.book(), channels);
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, api).await;
    });
    let mut sources = Vec::new();
    for s in 0..size.sources {
        let id = RegistrationId::parse(format!("source-{:02}-{}", p + 1, s + 1)).unwrap();
        let peak_kw = 3.0 + ((p * size.sources + s) % 4) as f64;
        let meter = day.meter(Profile::Solar { peak_kw }, (p * 100 + s) as u64);
        let (http, channels, _) = device(base);
        let channel = OwnChannel::open(None, channels).unwrap();
        let api = GridApi::new(api_url.clone(), http);
        sources.push(Source::start(id, None, api, channel, meter, SLOT_MS).await.expect("source starts"));
    }
    ProducerAgent { agent, sources, serving }
}

/// Household `c`: every third a prosumer, every fourth bidding; its ledger account
/// funded once it has claimed it.
pub async fn household(c: usize, day: Day, base: &str, ledger: &str) -> Consumer {
    let (http, channels, grid) = device(base);
    let prosumer = c.is_multiple_of(3);
    let id = RegistrationId::parse(format!("{}-{:02}", if prosumer { "prosumer" } else { "consumer" }, c + 1)).unwrap();
    let production = prosumer.then(|| Production {
        meter: day.meter(Profile::Solar { peak_kw: 2.0 }, c as u64 + 300),
        price: Price::parse(100).unwrap(),
    });
    let settings = ConsumerSettings {
        id: id.clone(),
        name: None,
        slot_ms: SLOT_MS,
        pay_threshold: Iota::new(1),
        bid: (c % 4 == 1).then(|| Price::parse(120).unwrap()),
    };
    let meter = day.meter(Profile::Random { min_kw: 0.5, max_kw: 3.0 }, c as u64 + 100);
    let wallet = Wallet::new(ledger, PaymentAddress::parse(id.as_str()).unwrap(), http);
    let channel = OwnChannel::open(None, channels.clone()).unwrap();
    let agent = Consumer::start_home(settings, grid, channels, channel, meter, production, wallet)
        .await
        .expect("household starts");
    // The faucet is behind the same (faulty) ledger: a few tries.
    for tries in 1.. {
        match agent.wallet().deposit(Iota::new(FUNDS)).await {
            Ok(_) => break,
            Err(e) => assert!(tries < 50, "the ledger refused every deposit: {e}"),
        }
    }
    agent
}
