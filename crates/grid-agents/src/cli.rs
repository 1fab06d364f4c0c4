//! The devices as commands (`gridctl source`, `producer`, `consumer`, `prosumer`): the
//! agents on the wall clock. A new device is a variant of [`Device`] and its function
//! here; `gridctl` takes every variant as a subcommand.
//!
//! Each opens (or, with `--state-file`, continues) its channel, registers, and then
//! steps once per slot, a second after the slot ends, until Ctrl-C or SIGTERM. What it
//! does is printed on stdout, one line per event; logs go to stderr.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::consumer::{Consumer, ConsumerSettings, Production};
use crate::producer::{Producer, ProducerSettings};
use crate::source::Source;
use crate::{GridApi, Meter, OwnChannel, Wallet};
use anyhow::Context;
use grid_client::channels::{ChannelClient, HttpChannelClient};
use grid_core::channel::ChannelAccess;
use grid_core::devices::{Placement, Profile, parse_meter_csv};
use grid_core::ledger::BatchStatus;
use grid_core::{EpochMs, Iota, PaymentAddress, Price, RegistrationId};
use grid_http::shutdown_signal;
use tokio::net::TcpListener;

/// What every agent needs: who it is, where the grid is, how it keeps time.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// The agent's registration id (8–128 characters of [A-Za-z0-9._-]).
    #[arg(long)]
    id: String,
    /// A display name.
    #[arg(long)]
    name: Option<String>,
    /// The grid: its registration and storage APIs and its channel node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    grid_url: String,
    /// Slot length in seconds: how often the agent reports.
    #[arg(long, default_value_t = 60)]
    slot_secs: u64,
    /// Keep the channel's keys and position here, so a restart continues the channel.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Print the channel's side key on stdout (it is a secret: by default only its root
    /// is printed; the key is in the state file, which is written with mode 0600).
    #[arg(long)]
    show_secrets: bool,
}

/// Where readings come from.
#[derive(clap::Args, Debug)]
pub struct MeterArgs {
    /// Simulated meter: solar[:PEAK_KW], fixed:KW or random:MIN..MAX.
    #[arg(long)]
    profile: Option<String>,
    /// Replay meter data from a CSV of startTime,endTime,kWh (epoch ms) instead.
    #[arg(long, conflicts_with = "profile")]
    replay: Option<PathBuf>,
}

impl MeterArgs {
    fn meter(&self, default_profile: &str, id: &RegistrationId) -> anyhow::Result<Meter> {
        if let Some(path) = &self.replay {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let readings = parse_meter_csv(&text).with_context(|| format!("{} is not meter data", path.display()))?;
            return Ok(Meter::Replay(readings.into()));
        }
        let profile = Profile::parse(self.profile.as_deref().unwrap_or(default_profile))?;
        Ok(Meter::Simulated { profile, seed: seed_of(id) })
    }
}

/// A meter's noise seed from its id, so each meter differs and replays the same.
fn seed_of(id: &RegistrationId) -> u64 {
    id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

impl Common {
    /// The line that says which channel the agent writes: its root, and its side key
    /// only when asked (`--show-secrets`).
    fn channel_line(&self, who: &str, access: &ChannelAccess) -> String {
        match self.show_secrets {
            true => format!("{who} writes channel root={} sideKey={}", access.root(), access.side_key().expose()),
            false => format!("{who} writes channel root={}", access.root()),
        }
    }

    fn parse(&self) -> anyhow::Result<(RegistrationId, Duration)> {
        let id = RegistrationId::parse(self.id.clone()).context("--id")?;
        anyhow::ensure!((1..=86_400).contains(&self.slot_secs), "--slot-secs must be between 1 and 86400");
        Ok((id, Duration::from_secs(self.slot_secs)))
    }

    fn clients(&self) -> (GridApi, Arc<dyn ChannelClient>, reqwest::Client) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client builds");
        let channel_client: Arc<dyn ChannelClient> =
            Arc::new(HttpChannelClient::new(self.grid_url.clone(), http.clone()));
        (GridApi::new(self.grid_url.clone(), http.clone()), channel_client, http)
    }

    fn ledger_url(&self, given: &Option<String>) -> String {
        given.clone().unwrap_or_else(|| format!("{}/ledger", self.grid_url.trim_end_matches('/')))
    }
}

#[derive(clap::Args, Debug)]
pub struct SourceArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    meter: MeterArgs,
    /// The producer this source reports to (its registration API).
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    producer_url: String,
}

#[derive(clap::Args, Debug)]
pub struct ProducerArgs {
    #[command(flatten)]
    common: Common,
    /// Where the producer's registration API for its sources listens; port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Asking price in IOTA per kWh.
    #[arg(long, default_value_t = 100)]
    price: u64,
    /// Where the grid pays this producer [default: wallet-{id}].
    #[arg(long)]
    payment_address: Option<String>,
    /// Seconds after a slot ends that its offer waits for late source data.
    #[arg(long, default_value_t = 10)]
    delay_secs: u64,
    /// The ledger, to watch payouts [default: {grid-url}/ledger].
    #[arg(long)]
    ledger_url: Option<String>,
    /// On exit, end the channel with goodbye and deregister from the grid.
    #[arg(long)]
    leave: bool,
}

#[derive(clap::Args, Debug)]
pub struct ConsumerArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    meter: MeterArgs,
    /// The ledger the consumer pays on [default: {grid-url}/ledger].
    #[arg(long)]
    ledger_url: Option<String>,
    /// Pay only when at least this much IOTA is owed.
    #[arg(long, default_value_t = 1)]
    pay_threshold: u64,
    /// The most the consumer pays for local energy, IOTA/kWh (`consumerPrice` on each
    /// usage reading); without it, the utility's tariff (the grid's PRICE_CAP).
    #[arg(long)]
    bid: Option<u64>,
    /// IOTA to deposit into the consumer's ledger account at start (development ledger).
    #[arg(long, default_value_t = 0)]
    fund: u64,
    /// On exit, end the channel with goodbye and deregister from the grid.
    #[arg(long)]
    leave: bool,
}

/// A device agent to run.
#[derive(clap::Subcommand, Debug)]
pub enum Device {
    /// Run a source: report simulated or recorded output to a producer every slot.
    Source(SourceArgs),
    /// Run a producer: host its sources' registration API, offer their output to the grid.
    Producer(ProducerArgs),
    /// Run a consumer: report usage to the grid, pay its payment requests on the ledger.
    Consumer(ConsumerArgs),
    /// Run a prosumer: a home whose panels and load share one channel; it sells what it
    /// does not use, buys what it lacks, pays its bills and is paid on the ledger.
    Prosumer(ProsumerArgs),
}

impl Device {
    /// Runs the agent until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Source(args) => source(args).await,
            Self::Producer(args) => producer(args).await,
            Self::Consumer(args) => consumer(args).await,
            Self::Prosumer(args) => prosumer(args).await,
        }
    }
}

/// Calls `step` a second after each slot boundary until Ctrl-C or SIGTERM.
async fn every_slot(slot: Duration, mut step: impl AsyncFnMut(u64)) {
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let slot_ms = slot.as_millis() as u64;
    loop {
        let now = EpochMs::now().get();
        let next = crate::slot_start(now, slot_ms) + slot_ms + 1_000;
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(Duration::from_millis(next - now)) => step(EpochMs::now().get()).await,
        }
    }
}

fn kwh(wh: u64) -> String {
    format!("{:.3} kWh", wh as f64 / 1000.0)
}

async fn source(args: SourceArgs) -> anyhow::Result<()> {
    let (id, slot) = args.common.parse()?;
    let meter = args.meter.meter("solar", &id)?;
    let (_, channels, http) = args.common.clients();
    let producer = GridApi::new(args.producer_url.clone(), http);
    let channel = OwnChannel::open(args.common.state_file.as_deref(), channels)?;
    let mut source =
        Source::start(id.clone(), args.common.name.as_deref(), producer, channel, meter, slot.as_millis() as u64)
            .await
            .with_context(|| format!("cannot register with the producer at {}", args.producer_url))?;
    let access = source.channel().access();
    say!("{}", args.common.channel_line(&format!("source {id}"), access));
    every_slot(slot, async |now| match source.step(now).await {
        Ok(readings) => {
            for r in readings {
                say!("output {} for {}..{}", kwh(r.energy.get()), r.start.get(), r.end.get());
            }
        }
        Err(e) => tracing::warn!(error = %grid_http::cause_chain(&e), "reporting failed; retrying next slot"),
    })
    .await;
    source.stop().await.context("cannot say goodbye")?;
    say!("source {id} said goodbye and deregistered");
    Ok(())
}

async fn producer(args: ProducerArgs) -> anyhow::Result<()> {
    let (id, slot) = args.common.parse()?;
    let payment_address = PaymentAddress::parse(args.payment_address.clone().unwrap_or_else(|| format!("wallet-{id}")))
        .context("--payment-address")?;
    let (grid, channels, http) = args.common.clients();
    let wallet = Wallet::new(args.common.ledger_url(&args.ledger_url), payment_address.clone(), http);
    let settings = ProducerSettings {
        id: id.clone(),
        name: args.common.name.clone(),
        price: Price::parse(args.price).context("--price")?,
        payment_address,
        slot_ms: slot.as_millis() as u64,
        delay_ms: args.delay_secs * 1000,
    };
    let channel = OwnChannel::open(args.common.state_file.as_deref(), channels.clone())?;
    let mut producer = Producer::start(settings, grid, channels.clone(), channel, Some(wallet))
        .await
        .with_context(|| format!("cannot register with the grid at {}", args.common.grid_url))?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    say!("producer {id} listening on http://{}", listener.local_addr()?);
    let access = producer.channel().access();
    say!("{}", args.common.channel_line(&format!("producer {id}"), access));
    let api = crate::producer::router(producer.book(), channels);
    let serving = tokio::spawn(async move { axum::serve(listener, api).await });
    every_slot(slot, async |now| match producer.step(now).await {
        Ok(step) => {
            for (slot, wh) in step.offered {
                say!("offered {} for {}..{} at {} IOTA/kWh", kwh(wh.get()), slot.start, slot.end, args.price);
            }
            for (source, placement) in step.carried {
                if let Placement::Carried { late_for, into } = placement {
                    say!("late data from {source} for {}.. carried into {}..", late_for.start, into.start);
                }
            }
            if let Some((arrived, balance)) = step.paid {
                say!("payout received: {} IOTA (balance {})", arrived.get(), balance.get());
            }
        }
        Err(e) => tracing::warn!(error = %grid_http::cause_chain(&e), "producer step failed; retrying next slot"),
    })
    .await;
    serving.abort();
    producer.stop(args.leave).await.context("cannot leave the grid")?;
    if args.leave {
        say!("producer {id} said goodbye and deregistered");
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ProsumerArgs {
    #[command(flatten)]
    home: ConsumerArgs,
    /// The home's panels, a simulated meter: solar[:PEAK_KW] or fixed:KW.
    #[arg(long, default_value = "solar:3")]
    solar: String,
    /// What it asks for the energy it sells, IOTA per kWh.
    #[arg(long, default_value_t = 100)]
    price: u64,
}

async fn consumer(args: ConsumerArgs) -> anyhow::Result<()> {
    home(args, None).await
}

/// A prosumer: a consumer with panels behind its meter, on one channel.
async fn prosumer(args: ProsumerArgs) -> anyhow::Result<()> {
    let id = args.home.common.parse()?.0;
    let meter = Meter::Simulated { profile: Profile::parse(&args.solar).context("--solar")?, seed: seed_of(&id) ^ 1 };
    let price = Price::parse(args.price).context("--price")?;
    home(args.home, Some(Production { meter, price })).await
}

/// A consumer, or with `production` a prosumer.
async fn home(args: ConsumerArgs, production: Option<Production>) -> anyhow::Result<()> {
    let (id, slot) = args.common.parse()?;
    let meter = args.meter.meter("random:0.2..1.5", &id)?;
    let (grid, channels, http) = args.common.clients();
    let account = PaymentAddress::parse(id.as_str()).expect("a registration id is a ledger account");
    let wallet = Wallet::new(args.common.ledger_url(&args.ledger_url), account, http);
    let settings = ConsumerSettings {
        id: id.clone(),
        name: args.common.name.clone(),
        slot_ms: slot.as_millis() as u64,
        pay_threshold: Iota::new(args.pay_threshold),
        bid: args.bid.map(Price::parse).transpose().context("--bid")?,
    };
    let channel = OwnChannel::open(args.common.state_file.as_deref(), channels.clone())?;
    let who = if production.is_some() { "prosumer" } else { "consumer" };
    let mut consumer = Consumer::start_home(settings, grid, channels, channel, meter, production, wallet)
        .await
        .with_context(|| format!("cannot register with the grid at {}", args.common.grid_url))?;
    let access = consumer.channel().access();
    say!("{}", args.common.channel_line(&format!("{who} {id}"), access));
    say!("{who} {id} reads return channel root={}", consumer.return_channel().root());
    // Funded once its account is claimed (at start), so no one else can claim it first.
    if args.fund > 0 {
        let balance =
            consumer.wallet().deposit(Iota::new(args.fund)).await.context("cannot fund the ledger account")?;
        say!("funded: balance {} IOTA", balance.get());
    }
    every_slot(slot, async |now| match consumer.step(now).await {
        Ok(step) => {
            for r in step.reported {
                say!("usage {} for {}..{}", kwh(r.energy.get()), r.start.get(), r.end.get());
            }
            for r in step.produced {
                say!("output {} for {}..{}", kwh(r.energy.get()), r.start.get(), r.end.get());
            }
            for bill in step.bills {
                say!("payment request: {} IOTA owed, payable to {}", bill.owed.get(), bill.payment_address);
            }
            if let Some((batch, amount)) = step.paid {
                say!("paid {} IOTA in batch {batch}, pending on the ledger", amount.get());
            }
            if let Some((batch, status, balance)) = step.settled {
                let outcome = if status == BatchStatus::Committed { "committed" } else { "refused" };
                say!("batch {batch} {outcome}: balance {} IOTA", balance.get());
            }
        }
        Err(e) => tracing::warn!(error = %grid_http::cause_chain(&e), "consumer step failed; retrying next slot"),
    })
    .await;
    consumer.stop(args.leave).await.context("cannot leave the grid")?;
    if args.leave {
        say!("{who} {id} said goodbye and deregistered");
    }
    Ok(())
}
