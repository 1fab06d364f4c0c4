//! `gridctl demo`: the whole system on the embedded default, on a fast clock.
//!
//! A grid (`serve`, in process, with its development ledger), producers each hosting
//! their registration API with their sources, and consumers with funded ledger
//! accounts. Every party is the real agent speaking HTTP over loopback; only the clock
//! is simulated: it runs the periods just before now (the meters replaying a morning's
//! readings) and moves one slot (a fifth of a period) per step, so six 15-minute periods
//! pass in seconds; kept running, the grid's jobs then run on the real clock. At each step the sources, the
//! producers and the consumers act, then the grid's jobs run (poll, settle, pay) at the
//! simulated time. The demo ends when every period is settled and every bill and
//! payout is final, and prints what happened, with the checks that the energy and the
//! money add up. `--scenario shortage` and `--scenario surplus` size the panels and the
//! households so that the local market runs short of energy or has plenty to export.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use grid_agents::consumer::{Consumer, ConsumerSettings, Production};
use grid_agents::producer::{Producer, ProducerSettings};
use grid_agents::source::Source;
use grid_agents::{GridApi, Meter, OwnChannel, Wallet};
use grid_app::jobs::Jobs;
use grid_app::{GridConfig, Stores, telemetry};
use grid_client::channels::{ChannelClient, HttpChannelClient};
use grid_core::channel::Reading;
use grid_core::devices::Profile;
use grid_core::market::{ConsensusStrategy, ConsumerOutcome, PeriodReport, PeriodStart, ProducerOutcome};
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId};
use serde::Serialize;

use crate::device_addresses::DeviceAddresses;
use crate::serve::Server;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address the demo grid listens on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Keep the demo's data here instead of in a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Producers, each with its own registration API for its sources.
    #[arg(long, default_value_t = 3)]
    pub producers: usize,
    /// Sources (solar panels) per producer.
    #[arg(long, default_value_t = 2)]
    pub sources: usize,
    /// Consumers.
    #[arg(long, default_value_t = 5)]
    pub consumers: usize,
    /// Settlement period, e.g. 15m, 900s or 1h (60 s to a day, dividing a day).
    #[arg(long, default_value = "15m", value_parser = parse_period)]
    pub period: u64,
    /// How many periods to trade.
    #[arg(long, default_value_t = 6)]
    pub periods: u64,
    /// Real milliseconds between simulated steps, to watch it happen.
    #[arg(long, default_value_t = 120)]
    pub pace_ms: u64,
    /// Keep the grid serving after the summary, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Also write the summary as JSON here.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Chance (0–0.5) that a ledger request fails with 503, and that a status query
    /// reports a known batch `UNKNOWN` (a soak under ledger faults).
    #[arg(long, default_value_t = 0.0)]
    pub ledger_faults: f64,
    /// HTTP clients storing and reading storage items meanwhile (a soak under load).
    #[arg(long, default_value_t = 0)]
    pub storage_clients: usize,
    /// How supply compares with demand: `balanced` (the default morning), `shortage`
    /// (small panels, hungry households: most energy is imported), `surplus` (big
    /// panels, frugal households: most is exported) or `community` (every third household
    /// a prosumer with panels on its roof, every fourth bidding, under a time-of-use
    /// tariff unless the environment sets one).
    #[arg(long, value_enum, default_value_t = Scenario::Balanced)]
    pub scenario: Scenario,
}

/// How supply compares with demand in the demo.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Balanced,
    Shortage,
    Surplus,
    Community,
}

impl Scenario {
    /// Factors on the panels' peak power and on the households' use.
    fn scales(self) -> (f64, f64) {
        match self {
            Self::Balanced => (1.0, 2.0),
            Self::Shortage => (0.25, 3.0),
            Self::Surplus => (2.0, 0.4),
            Self::Community => (0.5, 1.0),
        }
    }

    /// Household `c` of the community: its panels' peak (a prosumer) and its bid.
    fn home(self, c: usize) -> (Option<f64>, Option<Price>) {
        if self != Self::Community {
            return (None, None);
        }
        let panels = c.is_multiple_of(3).then_some(4.0);
        let bid = (c % 4 == 1).then(|| Price::parse(COMMUNITY_BID).expect("a small price"));
        (panels, bid)
    }
}

/// The community's tariff, where the environment sets none: dearer by day, and a feed-in.
const COMMUNITY_TARIFF: [(&str, &str); 2] = [("PRICE_CAP", "00:00=180,07:00=260,21:00=180"), ("FEED_IN_PRICE", "60")];
/// What bidding households pay at most for local energy, and what prosumers ask.
const COMMUNITY_BID: u64 = 120;
const PROSUMER_PRICE: u64 = 100;

/// `15m`, `900s`, `1h` or plain seconds, as seconds.
fn parse_period(text: &str) -> Result<u64, String> {
    let (number, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 15m, 900s or 1h"))?;
    match unit {
        "" | "s" => Ok(value),
        "m" => Ok(value * 60),
        "h" => Ok(value * 3600),
        _ => Err(format!("{text:?}: the unit must be s, m or h")),
    }
}

/// Slots (simulated steps) per period.
const SLOTS_PER_PERIOD: u64 = 5;
/// IOTA each consumer's ledger account starts with.
const FUNDS: u64 = 10_000_000;

/// What the demo found, for the table and for `--summary-json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub scenario: Scenario,
    /// `PRICE_CAP`, IOTA per kWh.
    pub price_cap: u64,
    /// Each period's report, as the grid archived it.
    pub periods: Vec<PeriodReport>,
    pub producers: Vec<ProducerSummary>,
    pub consumers: Vec<ConsumerSummary>,
    pub grid: GridSummary,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerSummary {
    pub id: String,
    pub price: u64,
    pub offered_wh: u64,
    /// What the local market used of it, over the periods, and what it exported.
    pub matched_wh: u64,
    pub exported_wh: u64,
    pub entitled: u64,
    pub paid_out: u64,
    pub unpaid: u64,
    pub ledger_balance: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerSummary {
    pub id: String,
    pub used_wh: u64,
    /// What it got from the local market, over the periods, and what it imported.
    pub local_wh: u64,
    pub imported_wh: u64,
    pub billed: u64,
    pub paid: u64,
    pub owed: u64,
    pub payment_requests: u64,
    /// What left its ledger account net of what a prosumer's sales paid into it.
    pub ledger_spent: u64,
    /// A prosumer's sales: earned, paid out, still owed (0 for a consumer).
    pub entitled: u64,
    pub paid_out: u64,
    pub unpaid: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GridSummary {
    pub paid_in: u64,
    pub fees: u64,
    pub payouts: u64,
    /// What the grid's addresses hold by its books, and on the ledger.
    pub held: u64,
    pub ledger_held: u64,
}

struct ProducerAgent {
    agent: Producer,
    sources: Vec<Source>,
    offered_wh: u64,
    /// Readings offered to the grid.
    offered: u64,
    serving: tokio::task::JoinHandle<()>,
}

struct ConsumerAgent {
    agent: Consumer,
    used_wh: u64,
    /// Readings reported to the grid.
    reported: u64,
    requests: u64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.producers >= 1 && args.producers <= 50, "--producers must be between 1 and 50");
    anyhow::ensure!(args.sources >= 1 && args.sources <= 20, "--sources must be between 1 and 20");
    anyhow::ensure!(args.consumers >= 1 && args.consumers <= 200, "--consumers must be between 1 and 200");
    anyhow::ensure!((1..=96).contains(&args.periods), "--periods must be between 1 and 96");
    anyhow::ensure!((0.0..=0.5).contains(&args.ledger_faults), "--ledger-faults must be between 0 and 0.5");
    anyhow::ensure!(args.storage_clients <= 64, "--storage-clients must be at most 64");
    let temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let period_ms = args.period * 1000;
    let slot_ms = period_ms / SLOTS_PER_PERIOD;
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
    let mut config = GridConfig::from_vars(&vars).context("bad demo configuration")?;
    let made_up = crate::serve::ensure_portal_token(&mut config);
    telemetry::init(config.log_format, "warn");

    // The ledger turns batches final at once: the simulated clock cannot wait for it.
    let ledger_options = dev_ledger::LedgerOptions {
        final_after: Duration::ZERO,
        unavailable_rate: args.ledger_faults,
        unknown_rate: args.ledger_faults,
        ..Default::default()
    };
    let server = Server::start(&config, Some(ledger_options))
        .await
        .with_context(|| format!("cannot start the demo grid (is {} in use? try --listen)", args.listen))?;
    let base = format!("http://{}", server.addr);
    let portal = crate::serve::portal_line(&server, &config, made_up);
    let ledger_url = server.ledger_url.clone();
    let stores = server.stores.clone();
    let (jobs, serve) = server.into_jobs_and_server();
    let serving = tokio::spawn(serve);

    // The periods just before now, so the whole run lies in the past and, kept running,
    // the grid has little to catch up; the meters replay a morning's, so the panels see
    // the sun at any hour.
    let span = (args.periods + 3) * period_ms;
    let latest = EpochMs::now().get().saturating_sub(span + 60_000);
    let start = latest - latest % period_ms;
    let end = start + args.periods * period_ms;
    let meters = Meters { start, end, slot_ms, sun_lag: start - morning_before(start, period_ms) };
    say!(
        "energy-grid demo: {} producers × {} solar sources, {} consumers, {} periods of {} from {} UTC (simulated \
         clock); {} supply and demand, {} market under a cap of {} IOTA/kWh",
        args.producers,
        args.sources,
        args.consumers,
        args.periods,
        human(args.period),
        clock(start),
        match args.scenario {
            Scenario::Balanced => "balanced",
            Scenario::Shortage => "a shortage of",
            Scenario::Surplus => "a surplus of",
            Scenario::Community => "a community's",
        },
        config.market.rules.strategy,
        config.market.tariff.cap.highest().get(),
    );
    say!("grid at {base}, development ledger at {ledger_url}, data in {}\n", data_dir.display());

    let http = reqwest::Client::new();
    let mut addresses = DeviceAddresses::new();
    let mut producers = Vec::new();
    for p in 0..args.producers {
        producers.push(start_producer(p, &args, &meters, &base, &mut addresses, &ledger_url).await?);
    }
    let mut consumers = Vec::new();
    let (_, demand) = args.scenario.scales();
    for c in 0..args.consumers {
        let (http, channels, grid) = device(&base, &mut addresses);
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
        let wallet = Wallet::new(&ledger_url, account, http.clone());
        let settings = ConsumerSettings {
            id,
            name: Some(format!("Household {}", c + 1)),
            slot_ms,
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
        consumers.push(ConsumerAgent { agent, used_wh: 0, reported: 0, requests: 0 });
    }

    let load = demo_load_start(&base, args.storage_clients, &mut addresses).await?;
    let steps =
        drive(&jobs, &stores, &mut producers, &mut consumers, start, end, slot_ms, period_ms, args.pace_ms).await?;
    let load = match load {
        Some(load) => Some(load.stop().await?),
        None => None,
    };
    for producer in &mut producers {
        for source in producer.sources.drain(..) {
            source.stop().await?;
        }
    }
    let mut summary = summarize(&stores, &producers, &consumers, &ledger_url, &http, start, end, period_ms).await?;
    (summary.scenario, summary.price_cap) = (args.scenario, config.market.tariff.cap.highest().get());
    let fee = config.market.rules.fee.get();
    let pricing = match config.market.rules.strategy {
        ConsensusStrategy::Clearing => {
            "matched the cheapest offers first and priced the energy at the ask of the last one it needed"
        }
        ConsensusStrategy::Weighted => "priced the energy at the offers' volume-weighted average",
        ConsensusStrategy::Mean => "priced the energy at the mean of the offers",
        ConsensusStrategy::Median => "priced the energy at the median offer",
    };
    let story = format!(
        "What happened: every {} (simulated) the panels reported their output to their producers, the \
         producers offered it to the grid at their asking price, and the households reported what they used, \
         each on its own signed, encrypted channel. After each period the grid traded only the energy both \
         produced and used locally: it admitted offers at or below {} IOTA/kWh, {pricing}, and shared the \
         matched energy among the households by what they used (the rest they imported from their utility; \
         what the market did not need, the producers exported to theirs). It billed each household for its \
         local energy (a payment request on its return channel), kept its {}% fee and shared the rest among \
         the producers by the energy matched. The households paid on the ledger and named the batch; the grid \
         checked each payment there, then paid each producer, for each period, to the address it named in \
         that period. The figures come from the grid's books and from the ledger.",
        human(slot_ms / 1000),
        config.market.tariff.cap.highest().get(),
        if fee % 100 == 0 { format!("{}", fee / 100) } else { format!("{}.{:02}", fee / 100, fee % 100) },
    );
    say!("{}\n", wrap(&story, 96));
    print_summary(&summary, steps);
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary).expect("plain data serializes");
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut ok = checks(&summary).iter().all(|(ok, _)| *ok);
    if args.ledger_faults > 0.0 || load.is_some() {
        ok &= soak_report(&stores, &producers, &consumers, load.as_ref(), start, end, period_ms).await?;
    }

    if args.keep_running {
        // From here the grid runs on the real clock, as `serve` does: its jobs settle the
        // periods since the simulated day ended (nothing traded in them), sweep the
        // channels and follow the ledger, so the portal's health strip tells the truth.
        tokio::spawn(jobs.run_every_interval(Duration::from_secs(5), grid_http::shutdown_signal()));
        say!("\nThe grid keeps running at {base} (ledger at {ledger_url}).");
        say!("{portal}");
        if let Some(member) = consumers.first() {
            say!(
                "a member's page: {base}/members (sign in as {} with the side key {}, made up for this run)",
                member.agent.settings().id,
                member.agent.return_channel().side_key().expose()
            );
        }
        say!("Or try: curl {base}/openapi.json; curl {ledger_url}/accounts/wallet-producer-01");
        say!("Press Ctrl-C to stop.");
        serving.await.context("the demo server stopped unexpectedly")?;
    } else {
        serving.abort();
    }
    for producer in producers {
        producer.serving.abort();
    }
    if !ok {
        bail!("the demo's books do not add up (see the checks above)");
    }
    Ok(())
}

/// The latest 09:00 UTC at or before `latest`, aligned to the period.
fn morning_before(latest: u64, period_ms: u64) -> u64 {
    const DAY: u64 = 86_400_000;
    let nine = latest - latest % DAY + 9 * 3_600_000;
    let morning = if nine <= latest { nine } else { nine - DAY };
    morning - morning % period_ms
}

/// The demo's meters: what they read over `[start, end)`, one reading per slot, is
/// what they would have read `sun_lag` ms earlier, on a morning.
struct Meters {
    start: u64,
    end: u64,
    slot_ms: u64,
    sun_lag: u64,
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

async fn start_producer(
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

/// Steps the simulated clock until every period is settled and everything is paid.
#[allow(clippy::too_many_arguments)]
async fn drive(
    jobs: &Jobs,
    stores: &Stores,
    producers: &mut [ProducerAgent],
    consumers: &mut [ConsumerAgent],
    start: u64,
    end: u64,
    slot_ms: u64,
    period_ms: u64,
    pace_ms: u64,
) -> anyhow::Result<u64> {
    let periods = (end - start) / period_ms;
    let bar = indicatif::ProgressBar::new(periods);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} periods settled · {msg}")
            .expect("a valid template"),
    );
    let last_period = end - period_ms;
    let mut now = start;
    let mut steps = 0;
    // Generous: the periods, the grace, and rounds for payments to turn final (many
    // more when the ledger fails and the monitor backs off).
    let max_steps = (periods + 30) * SLOTS_PER_PERIOD;
    loop {
        now += slot_ms;
        steps += 1;
        for producer in producers.iter_mut() {
            for source in &mut producer.sources {
                source.step(now).await?;
            }
            let step = producer.agent.step(now).await?;
            producer.offered_wh += step.offered.iter().map(|(_, wh)| wh.get()).sum::<u64>();
            producer.offered += step.offered.len() as u64;
        }
        for consumer in consumers.iter_mut() {
            let step = consumer.agent.step(now).await?;
            consumer.used_wh += step.reported.iter().map(|r| r.energy.get()).sum::<u64>();
            consumer.reported += step.reported.len() as u64;
            consumer.requests += step.bills.len() as u64;
        }
        jobs.poller.dispatch().await?;
        // Every job on the simulated clock, as they would all be on the real one.
        let at = EpochMs::parse(now as i64)?;
        jobs.poller.drain(at).await?;
        jobs.settler.run(at).await?;
        let paid = jobs.monitor.run(at).await?;

        let settled = (start..end).step_by(period_ms as usize).count() as u64
            - count_unsettled(stores, start, end, period_ms).await?;
        let totals = stores.accounts.totals().await?;
        bar.set_position(settled);
        bar.set_message(format!(
            "{} · consumers paid {} IOTA · producers paid {} IOTA",
            clock(now),
            totals.paid_in.get(),
            totals.payouts.get()
        ));
        let done = stores.settlements.get(period_start(last_period)?).await?.is_some()
            && paid.payouts_submitted == 0
            && stores.accounts.due_batches(grid_core::EpochMs::LATEST, 1).await?.is_empty()
            && stores.accounts.unpaid().await?.is_empty()
            && all_paid(stores, consumers).await?;
        if done {
            bar.finish_and_clear();
            return Ok(steps);
        }
        if steps >= max_steps {
            bar.abandon();
            bail!(
                "the demo did not finish in {steps} steps (last period settled: {}, payouts submitted in the last \
                 run: {}, batches still due: {}, producers still owed: {}, all bills paid: {})",
                stores.settlements.get(period_start(last_period)?).await?.is_some(),
                paid.payouts_submitted,
                stores.accounts.due_batches(grid_core::EpochMs::LATEST, 1_000).await?.len(),
                stores.accounts.unpaid().await?.len(),
                all_paid(stores, consumers).await?,
            );
        }
        tokio::time::sleep(Duration::from_millis(pace_ms)).await;
    }
}

async fn demo_load_start(
    base: &str,
    clients: usize,
    addresses: &mut DeviceAddresses,
) -> anyhow::Result<Option<crate::demo_load::Load>> {
    Ok(if clients == 0 { None } else { Some(crate::demo_load::Load::start(base, clients, addresses).await?) })
}

/// What a soak prints after the books: the load served, what was ingested, settled and
/// paid, and what was lost (must be nothing). True when nothing was lost.
async fn soak_report(
    stores: &Stores,
    producers: &[ProducerAgent],
    consumers: &[ConsumerAgent],
    load: Option<&crate::demo_load::LoadReport>,
    start: u64,
    end: u64,
    period_ms: u64,
) -> anyhow::Result<bool> {
    let published: u64 =
        producers.iter().map(|p| p.offered).sum::<u64>() + consumers.iter().map(|c| c.reported).sum::<u64>();
    let mut ingested = 0u64;
    // Late readings count in a later period; look a few past the end.
    for period in (start..end + 8 * period_ms).step_by(period_ms as usize) {
        let mut after = None;
        loop {
            let page = stores.readings.counted_in(period_start(period)?, after.as_ref(), 1_000).await?;
            ingested += page.readings.len() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let settled = (start..end).step_by(period_ms as usize).count() as u64
        - count_unsettled(stores, start, end, period_ms).await?;
    let committed = stores.accounts.batches(Some(grid_core::books::BatchState::Committed), 100_000).await?.len();
    let lost_readings = published.saturating_sub(ingested) + ingested.saturating_sub(published);
    say!("\nSoak");
    if let Some(load) = load {
        let errors = if load.errors.is_empty() {
            "none".to_owned()
        } else {
            load.errors.iter().map(|(kind, n)| format!("{kind}: {n}")).collect::<Vec<_>>().join(", ")
        };
        say!("  storage requests served       {:>10}   errors by kind: {errors}", load.requests);
        say!("  writes throttled (429, waited) {:>9}", load.throttled);
    }
    say!("  readings ingested             {ingested:>10}   of {published} published");
    say!("  periods settled               {settled:>10}");
    say!("  ledger batches committed      {committed:>10}   (payments and payouts)");
    let lost_items = load.map_or(0, |l| l.lost);
    say!(
        "  lost                          {:>10}   ({lost_readings} readings, {lost_items} storage items)",
        lost_readings + lost_items
    );
    Ok(lost_readings + lost_items == 0)
}

async fn count_unsettled(stores: &Stores, start: u64, end: u64, period_ms: u64) -> anyhow::Result<u64> {
    let mut unsettled = 0;
    for period in (start..end).step_by(period_ms as usize) {
        if stores.settlements.get(period_start(period)?).await?.is_none() {
            unsettled += 1;
        }
    }
    Ok(unsettled)
}

async fn all_paid(stores: &Stores, consumers: &[ConsumerAgent]) -> anyhow::Result<bool> {
    for consumer in consumers {
        let account = stores.accounts.get(&consumer.agent.settings().id).await?.unwrap_or_default();
        if account.billed != account.paid {
            return Ok(false);
        }
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
async fn summarize(
    stores: &Stores,
    producers: &[ProducerAgent],
    consumers: &[ConsumerAgent],
    ledger_url: &str,
    http: &reqwest::Client,
    start: u64,
    end: u64,
    period_ms: u64,
) -> anyhow::Result<Summary> {
    let mut periods: Vec<PeriodReport> = Vec::new();
    for period in (start..end).step_by(period_ms as usize) {
        let text = stores
            .archive
            .get(period_start(period)?)
            .await?
            .with_context(|| format!("period {period} has no report"))?;
        periods.push(serde_json::from_str(&text).with_context(|| format!("the report of period {period}"))?);
    }
    let over_periods = |of: &dyn Fn(&PeriodReport) -> u64| periods.iter().map(of).sum::<u64>();
    let mut producer_rows = Vec::new();
    for producer in producers {
        let settings = producer.agent.settings();
        let account = stores.accounts.get(&settings.id).await?.unwrap_or_default();
        let wallet = Wallet::new(ledger_url, settings.payment_address.clone(), http.clone());
        let mine = |r: &PeriodReport| r.settlement.producers.iter().find(|p| p.id == settings.id).cloned();
        producer_rows.push(ProducerSummary {
            id: settings.id.to_string(),
            price: settings.price.get(),
            offered_wh: producer.offered_wh,
            matched_wh: over_periods(&|r| mine(r).map_or(0, |p| p.matched.get())),
            exported_wh: over_periods(&|r| mine(r).map_or(0, |p| p.exported.get())),
            entitled: account.entitled.get(),
            paid_out: account.paid_out.get(),
            unpaid: account.unpaid().get(),
            ledger_balance: wallet.balance().await?.get(),
        });
    }
    let mut consumer_rows = Vec::new();
    for consumer in consumers {
        let id = &consumer.agent.settings().id;
        let account = stores.accounts.get(id).await?.unwrap_or_default();
        let mine = |r: &PeriodReport| r.settlement.consumers.iter().find(|c| c.id == *id).cloned();
        consumer_rows.push(ConsumerSummary {
            id: id.to_string(),
            used_wh: consumer.used_wh,
            local_wh: over_periods(&|r| mine(r).map_or(0, |c| c.local.get())),
            imported_wh: over_periods(&|r| mine(r).map_or(0, |c| c.imported.get())),
            billed: account.billed.get(),
            paid: account.paid.get(),
            owed: account.owed().get(),
            payment_requests: consumer.requests,
            // A prosumer's payouts come into the account it pays from.
            ledger_spent: FUNDS + account.paid_out.get() - consumer.agent.wallet().balance().await?.get(),
            entitled: account.entitled.get(),
            paid_out: account.paid_out.get(),
            unpaid: account.unpaid().get(),
        });
    }
    let totals = stores.accounts.totals().await?;
    let funds = stores.accounts.funds().await?;
    let mut ledger_held = 0;
    for f in &funds {
        ledger_held += Wallet::new(ledger_url, f.address.clone(), http.clone()).balance().await?.get();
    }
    Ok(Summary {
        scenario: Scenario::Balanced,
        price_cap: 0,
        periods,
        producers: producer_rows,
        consumers: consumer_rows,
        grid: GridSummary {
            paid_in: totals.paid_in.get(),
            fees: totals.fees.get(),
            payouts: totals.payouts.get(),
            held: funds.iter().map(|f| f.available.get()).sum(),
            ledger_held,
        },
    })
}

/// The demo's own checks of the summary: `(passed, what)`.
pub fn checks(s: &Summary) -> Vec<(bool, String)> {
    fn report(p: &PeriodReport) -> &grid_core::market::Settlement {
        &p.settlement
    }
    let sum = |it: &mut dyn Iterator<Item = u64>| it.sum::<u64>();
    let revenue = sum(&mut s.periods.iter().map(|p| report(p).revenue.get()));
    let allocated = sum(&mut s.periods.iter().flat_map(|p| report(p).producers.iter().map(|x| x.allocation.get())));
    let fees = sum(&mut s.periods.iter().map(|p| report(p).fee.get() + report(p).unallocated.get()));
    let billed = sum(&mut s.consumers.iter().map(|c| c.billed));
    let paid = sum(&mut s.consumers.iter().map(|c| c.paid));
    // Sellers: producers, and prosumers among the households.
    let paid_out = sum(&mut s.producers.iter().map(|p| p.paid_out)) + sum(&mut s.consumers.iter().map(|c| c.paid_out));
    let entitled = sum(&mut s.producers.iter().map(|p| p.entitled)) + sum(&mut s.consumers.iter().map(|c| c.entitled));
    let matched = sum(&mut s.periods.iter().map(|p| report(p).matched.get()));
    let (imported, exported) = (
        sum(&mut s.periods.iter().map(|p| report(p).imported.get())),
        sum(&mut s.periods.iter().map(|p| report(p).exported.get())),
    );
    let money_ok = s.periods.iter().map(report).all(|r| {
        let allocations: u64 = r.producers.iter().map(|p| p.allocation.get()).sum();
        let charges: u64 = r.consumers.iter().map(|c| c.charge.get()).sum();
        allocations + r.fee.get() + r.unallocated.get() == r.revenue.get() && charges == r.revenue.get()
    });
    // Every Wh once: what a home used of its own output (self-consumed), then what the
    // market matched, then what the utilities took or supplied (with no prosumers,
    // self-consumed is 0 and offered and demand are produced and used).
    let energy_ok = s.periods.iter().map(report).all(|r| {
        let local: u64 = r.consumers.iter().map(|c| c.local.get()).sum();
        let sold: u64 = r.producers.iter().map(|p| p.matched.get()).sum();
        let bought: u64 = r.consumers.iter().map(|c| c.imported.get()).sum();
        let left: u64 = r.producers.iter().map(|p| p.exported.get()).sum();
        let (m, own) = (r.matched.get(), r.self_consumed.get());
        // Without a bid below the cap, the market takes all it can.
        let one_sided = r.consumers.iter().all(|c| c.bid.is_none_or(|b| b >= r.cap));
        local == m
            && sold == m
            && (if one_sided {
                m == r.admitted.get().min(r.demand.get())
            } else {
                m <= r.admitted.get().min(r.demand.get())
            })
            && bought == r.imported.get()
            && own + m + r.imported.get() == r.used.get()
            && left == r.exported.get()
            && own + m + r.exported.get() == r.produced.get()
            && r.consumers
                .iter()
                .all(|c: &ConsumerOutcome| c.self_consumed.get() + c.local.get() + c.imported.get() == c.used.get())
            && r.producers.iter().all(|p: &ProducerOutcome| {
                p.self_consumed.get() + p.matched.get() + p.exported.get() == p.produced.get()
            })
    });
    // Against each period's cap (its tariff at its start), below each buyer's bid, and
    // (pay-as-clear) at or above each matched seller's ask.
    let capped = s.periods.iter().map(report).all(|r| {
        let cap = u128::from(r.cap.get());
        r.consumers.iter().all(|c| u128::from(c.charge.get()) <= (u128::from(c.local.get()) * cap).div_ceil(1000))
            && r.consumers.iter().filter(|c| c.local.get() > 0).all(|c| c.bid.is_some_and(|b| b >= r.price))
            && (r.strategy != ConsensusStrategy::Clearing
                || r.producers.iter().filter(|p| p.matched.get() > 0).all(|p| p.ask.is_some_and(|a| a <= r.price)))
    });
    // The headline figures are the rows': self-sufficiency and self-consumption from the
    // energies, savings and gains from each buyer and seller.
    let bps = |part: u64, whole: u64| (u128::from(part) * 10_000).checked_div(u128::from(whole)).unwrap_or(0) as u64;
    let figures_ok = s.periods.iter().map(report).all(|r| {
        let own = r.self_consumed.get() + r.matched.get();
        r.self_sufficiency_bps == bps(own, r.used.get())
            && r.self_consumption_bps == bps(own, r.produced.get())
            && r.consumers.iter().map(|c| c.savings.get()).sum::<u64>() == r.savings.get()
            && r.producers.iter().map(|p| p.gain).sum::<i64>() == r.gains
    });
    let billed_periods = |id: &str| {
        s.periods
            .iter()
            .filter(|p| report(p).consumers.iter().any(|c| c.id.as_str() == id && c.charge > Iota::ZERO))
            .count() as u64
    };
    vec![
        (
            energy_ok,
            format!(
                "every kWh counted once: each period, Σ local = Σ matched = M, used = self-consumed + M + \
                 imported, produced = self-consumed + M + exported ({} matched, {} imported, {} exported in all)",
                kwh(matched),
                kwh(imported),
                kwh(exported)
            ),
        ),
        (
            capped,
            "no household paid more than the cap, nor above its bid, and no seller below its ask: every charge ≤ \
             ⌈local kWh × the period's cap⌉ IOTA, every local buyer's bid ≥ the price ≥ every matched seller's ask"
                .to_owned(),
        ),
        (
            money_ok,
            format!(
                "every period adds up: charges = revenue = allocations + fee + unallocated ({revenue} IOTA in all)"
            ),
        ),
        (
            billed == revenue && entitled == allocated,
            format!("the accounts hold the periods: {billed} IOTA billed, {entitled} IOTA earned"),
        ),
        (
            s.consumers.iter().all(|c| c.payment_requests == billed_periods(&c.id)),
            "every billed household got one payment request per period it was charged in".to_owned(),
        ),
        (
            paid == billed && s.consumers.iter().all(|c| c.ledger_spent == c.paid),
            format!("households paid every bill: {paid} IOTA, exactly what left their ledger accounts"),
        ),
        (
            paid_out == entitled
                && s.producers.iter().all(|p| p.ledger_balance == p.paid_out && p.unpaid == 0)
                && s.consumers.iter().all(|c| c.paid_out == c.entitled && c.unpaid == 0),
            format!("sellers were paid what they earned: {paid_out} IOTA, exactly what their wallets hold"),
        ),
        (
            figures_ok,
            format!(
                "the community's figures are its rows': self-sufficiency and self-consumption from the energies; \
                 buyers saved {} IOTA against the cap, sellers gained {} IOTA against the feed-in",
                sum(&mut s.periods.iter().map(|p| report(p).savings.get())),
                s.periods.iter().map(|p| report(p).gains).sum::<i64>()
            ),
        ),
        (
            s.grid.paid_in == paid
                && paid == paid_out + s.grid.held
                && s.grid.held == s.grid.ledger_held
                && s.grid.held == fees,
            format!(
                "no IOTA lost: {paid} paid in = {paid_out} paid out + {} kept by the grid (its fees), on the ledger too",
                s.grid.held
            ),
        ),
    ]
}

fn print_summary(s: &Summary, steps: u64) {
    say!("Periods (energy in kWh, price in IOTA/kWh, money in IOTA)");
    say!(
        "{:<17} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>5}  allocations",
        "period",
        "price",
        "produced",
        "used",
        "matched",
        "imported",
        "exported",
        "revenue",
        "fee"
    );
    for p in &s.periods {
        let r = &p.settlement;
        let allocations: Vec<String> = r
            .producers
            .iter()
            .filter(|x| x.allocation > Iota::ZERO)
            .map(|x| format!("{} {}", x.id, x.allocation.get()))
            .collect();
        say!(
            "{:<17} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>5}  {}",
            clock(p.period_start.get()),
            r.price.get(),
            kwh_figure(r.produced.get()),
            kwh_figure(r.used.get()),
            kwh_figure(r.matched.get()),
            kwh_figure(r.imported.get()),
            kwh_figure(r.exported.get()),
            r.revenue.get(),
            r.fee.get(),
            if allocations.is_empty() { "-".to_owned() } else { allocations.join(", ") }
        );
    }
    say!("\nProducers (energy in kWh, money in IOTA)");
    say!(
        "{:<14} {:>5} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>14}",
        "producer",
        "asks",
        "offered",
        "matched",
        "exported",
        "earned",
        "paid out",
        "unpaid",
        "wallet (ledger)"
    );
    for p in &s.producers {
        say!(
            "{:<14} {:>5} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>14}",
            p.id,
            p.price,
            kwh_figure(p.offered_wh),
            kwh_figure(p.matched_wh),
            kwh_figure(p.exported_wh),
            p.entitled,
            p.paid_out,
            p.unpaid,
            p.ledger_balance
        );
    }
    say!("\nConsumers (energy in kWh, money in IOTA)");
    say!(
        "{:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>14}",
        "consumer",
        "used",
        "local",
        "imported",
        "billed",
        "paid",
        "owed",
        "requests",
        "spent (ledger)"
    );
    for c in &s.consumers {
        say!(
            "{:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>14}",
            c.id,
            kwh_figure(c.used_wh),
            kwh_figure(c.local_wh),
            kwh_figure(c.imported_wh),
            c.billed,
            c.paid,
            c.owed,
            c.payment_requests,
            c.ledger_spent
        );
    }
    say!(
        "\nThe grid: {} IOTA paid in, {} paid out, {} in fees; it holds {} on the ledger.",
        s.grid.paid_in,
        s.grid.payouts,
        s.grid.fees,
        s.grid.ledger_held
    );
    say!("\nChecks ({steps} simulated steps)");
    for (ok, what) in checks(s) {
        say!("  {} {}", if ok { "✓" } else { "✗" }, wrap(&what, 92).replace('\n', "\n    "));
    }
}

/// `text` broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

fn kwh(wh: u64) -> String {
    format!("{} kWh", kwh_figure(wh))
}

/// Watt-hours as kWh with three decimals, exactly.
fn kwh_figure(wh: u64) -> String {
    format!("{}.{:03}", wh / 1000, wh % 1000)
}

/// The period starting at `ms`.
fn period_start(ms: u64) -> anyhow::Result<PeriodStart> {
    PeriodStart::parse(ms).context("a period start")
}

fn human(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `YYYY-MM-DD HH:MM` UTC of an epoch-ms instant.
fn clock(ms: u64) -> String {
    EpochMs::parse(ms as i64).map(EpochMs::utc_minute).unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_spaces_within_the_width() {
        assert_eq!(wrap("one two three four", 9), "one two\nthree\nfour");
        assert_eq!(wrap("", 9), "");
    }

    #[test]
    fn periods_read_like_durations() {
        assert_eq!(parse_period("15m"), Ok(900));
        assert_eq!(parse_period("900s"), Ok(900));
        assert_eq!(parse_period("1h"), Ok(3600));
        assert_eq!(parse_period("60"), Ok(60));
        assert!(parse_period("10 days").is_err());
        assert!(parse_period("m").is_err());
    }

    #[test]
    fn the_demo_starts_on_a_morning_before_the_latest_time() {
        let latest = 1_795_339_200_000; // 2026-11-22 09:20
        assert_eq!(clock(morning_before(latest, 900_000)), "2026-11-22 09:00");
        assert_eq!(clock(morning_before(latest - 30 * 60_000, 900_000)), "2026-11-21 09:00");
    }
}
