//! The simulated world: the grid's configuration, the meters replaying a morning, and
//! the parties, producers serving their sources and households with funded ledger
//! accounts, each the real agent speaking HTTP to the grid. Apart from the flow so that
//! who takes part, and how each is sized and started, read in one place.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use grid_agents::consumer::{Consumer, ConsumerSettings, Production};
use grid_agents::producer::{Producer, ProducerSettings};
use grid_agents::source::Source;
use grid_agents::{GridApi, Meter, OwnChannel, Wallet};
use grid_app::GridConfig;
use grid_client::channels::{ChannelClient, HttpChannelClient};
use grid_core::channel::Reading;
use grid_core::devices::Profile;
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId};

use super::args::{COMMUNITY_TARIFF, DemoArgs, PROSUMER_PRICE, Scenario};
use crate::device_addresses::DeviceAddresses;

/// IOTA each consumer's ledger account starts with.
pub(super) const FUNDS: u64 = 10_000_000;

/// The grid's configuration for the demo: the market's settings from the environment,
/// the rest from the flags (and the community's tariff where the environment sets none).
pub(super) fn grid_config(args: &DemoArgs, data_dir: &Path, slot_ms: u64) -> anyhow::Result<GridConfig> {
    // The market's settings come from the environment, as for `serve`.
    const PASSED: [&str; 8] = [
        "RUST_LOG",
        "PORTAL_TOKEN",
        "CONSENSUS_STRATEGY",
        "PRICE_CAP",
        "FEED_IN_PRICE",
        "TARIFF_TIMEZONE",
        "GRID_FEE_BPS",
        "DEFAULT_PRICE",
    ];
    let mut vars: HashMap<String, String> = std::env::vars().filter(|(k, _)| PASSED.contains(&k.as_str())).collect();
    for (name, value) in [
        ("GRID_LISTEN", args.listen.to_string()),
        ("GRID_DATA_DIR", data_dir.display().to_string()),
        ("SETTLEMENT_PERIOD_SECS", args.period.to_string()),
        // Producers offer a slot a little after it ends; settlement waits two slots.
        ("SETTLEMENT_GRACE_SECS", (2 * slot_ms / 1000).to_string()),
        ("GRID_WALLET", "grid".to_owned()),
        ("MONITOR_BUDGET_SECS", "0".to_owned()),
    ] {
        vars.insert(name.to_owned(), value);
    }
    if args.scenario == Scenario::Community {
        for (name, value) in COMMUNITY_TARIFF {
            vars.entry(name.to_owned()).or_insert_with(|| value.to_owned());
        }
    }
    GridConfig::from_vars(&vars).context("bad demo configuration")
}

pub(super) struct ProducerAgent {
    pub(super) agent: Producer,
    pub(super) sources: Vec<Source>,
    pub(super) offered_wh: u64,
    /// Readings offered to the grid.
    pub(super) offered: u64,
    pub(super) serving: tokio::task::JoinHandle<()>,
}

pub(super) struct ConsumerAgent {
    pub(super) agent: Consumer,
    pub(super) used_wh: u64,
    /// Readings reported to the grid.
    pub(super) reported: u64,
    pub(super) requests: u64,
}

/// The latest 09:00 UTC at or before `latest`, aligned to the period.
pub(super) fn morning_before(latest: u64, period_ms: u64) -> u64 {
    const DAY: u64 = 86_400_000;
    let nine = latest - latest % DAY + 9 * 3_600_000;
    let morning = if nine <= latest { nine } else { nine - DAY };
    morning - morning % period_ms
}

/// The demo's meters: what they read over `[start, end)`, one reading per slot, is
/// what they would have read `sun_lag` ms earlier, on a morning.
pub(super) struct Meters {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) slot_ms: u64,
    pub(super) sun_lag: u64,
}

impl Meters {
    /// A simulated meter's readings, to replay.
    fn replay(&self, profile: Profile, seed: u64) -> Meter {
        let at = |ms: u64| EpochMs::parse(ms as i64).expect("demo times are valid");
        let readings: Vec<Reading> = (self.start..self.end)
            .step_by(self.slot_ms as usize)
            .map(|s| {
                let (morning, next) = (s - self.sun_lag, s - self.sun_lag + self.slot_ms);
                Reading { start: at(s), end: at(s + self.slot_ms), energy: profile.energy(at(morning), at(next), seed) }
            })
            .collect();
        Meter::Replay(readings.into())
    }
}

/// A device's way to the grid at `base`: its HTTP client (from its own address, when it
/// can be), the channel node and the grid's API over it.
fn device(base: &str, addresses: &mut DeviceAddresses) -> (reqwest::Client, Arc<dyn ChannelClient>, GridApi) {
    let http = addresses.client();
    let channel_client: Arc<dyn ChannelClient> = Arc::new(HttpChannelClient::new(base.to_owned(), http.clone()));
    (http.clone(), channel_client, GridApi::new(base.to_owned(), http))
}

pub(super) async fn start_producer(
    p: usize,
    args: &DemoArgs,
    meters: &Meters,
    base: &str,
    addresses: &mut DeviceAddresses,
    ledger_url: &str,
) -> anyhow::Result<ProducerAgent> {
    let (http, channels, grid) = device(base, addresses);
    let (http, channels, grid) = (&http, &channels, &grid);
    let id = RegistrationId::parse(format!("producer-{:02}", p + 1))?;
    let payment_address = PaymentAddress::parse(format!("wallet-{id}"))?;
    let settings = ProducerSettings {
        id: id.clone(),
        name: Some(format!("Solar farm {}", p + 1)),
        price: Price::parse(90 + 20 * p as u64)?,
        payment_address: payment_address.clone(),
        slot_ms: meters.slot_ms,
        delay_ms: meters.slot_ms / 3,
    };
    let wallet = Wallet::new(ledger_url, payment_address, http.clone());
    let channel = OwnChannel::open(None, channels.clone())?;
    let agent = Producer::start(settings, grid.clone(), channels.clone(), channel, Some(wallet)).await?;
    // Each producer serves its own registration API, where its sources register.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let api = grid_agents::producer::router(agent.book(), channels.clone());
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, api).await;
    });
    let mut sources = Vec::new();
    for s in 0..args.sources {
        let source_id = RegistrationId::parse(format!("source-{:02}-{}", p + 1, s + 1))?;
        let peak_kw = (3.0 + ((p * args.sources + s) % 4) as f64) * args.scenario.scales().0;
        let meter = meters.replay(Profile::Solar { peak_kw }, (p * 100 + s) as u64);
        let (http, channels, _) = device(base, addresses);
        let channel = OwnChannel::open(None, channels)?;
        let producer_api = GridApi::new(api_url.clone(), http);
        sources.push(
            Source::start(source_id, Some(&format!("Panel {}", s + 1)), producer_api, channel, meter, meters.slot_ms)
                .await?,
        );
    }
    Ok(ProducerAgent { agent, sources, offered_wh: 0, offered: 0, serving })
}

/// Household `c`: its meter, its panels if the scenario makes it a prosumer, its bid, and
/// its ledger account, funded once the household has claimed it.
pub(super) async fn start_consumer(
    c: usize,
    args: &DemoArgs,
    meters: &Meters,
    base: &str,
    addresses: &mut DeviceAddresses,
    ledger_url: &str,
) -> anyhow::Result<ConsumerAgent> {
    let (_, demand) = args.scenario.scales();
    let (http, channels, grid) = device(base, addresses);
    let (panels, bid) = args.scenario.home(c);
    let kind = if panels.is_some() { "prosumer" } else { "consumer" };
    let id = RegistrationId::parse(format!("{kind}-{:02}", c + 1))?;
    let profile = Profile::Random { min_kw: 0.5 * demand, max_kw: 3.0 * demand };
    let meter = meters.replay(profile, c as u64 + 100);
    let production = panels.map(|peak_kw| Production {
        meter: meters.replay(Profile::Solar { peak_kw }, c as u64 + 300),
        price: Price::parse(PROSUMER_PRICE).expect("a small price"),
    });
    let account = PaymentAddress::parse(id.as_str())?;
    let wallet = Wallet::new(ledger_url, account, http.clone());
    let settings = ConsumerSettings {
        id,
        name: Some(format!("Household {}", c + 1)),
        slot_ms: meters.slot_ms,
        pay_threshold: Iota::new(1),
        bid,
    };
    let channel = OwnChannel::open(None, channels.clone())?;
    // Started first: it claims its account, and only then is the account funded.
    let agent =
        Consumer::start_home(settings, grid.clone(), channels.clone(), channel, meter, production, wallet).await?;
    // The faucet is behind the same (possibly faulty) ledger: a few tries.
    let mut tries = 0;
    while let Err(error) = agent.wallet().deposit(Iota::new(FUNDS)).await {
        tries += 1;
        anyhow::ensure!(tries < 50, "the ledger refused every deposit: {error}");
    }
    Ok(ConsumerAgent { agent, used_wh: 0, reported: 0, requests: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::print::clock;

    #[test]
    fn the_demo_starts_on_a_morning_before_the_latest_time() {
        let latest = 1_795_339_200_000; // 2026-11-22 09:20
        assert_eq!(clock(morning_before(latest, 900_000)), "2026-11-22 09:00");
        assert_eq!(clock(morning_before(latest - 30 * 60_000, 900_000)), "2026-11-21 09:00");
    }
}
