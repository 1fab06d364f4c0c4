//! What the grid costs on AWS, and how soon a reading lands there: the DynamoDB, S3 and
//! SQS requests it sends to ingest readings (the channel node storing each message and
//! queuing polling work, the poller reading and storing it) and to settle them (read,
//! bill, record); what an idle grid sends in an hour by its size (the minute sweep of
//! unread channels, the hourly full sweep); and the time from a reading's `PUT` to its
//! being stored. Counted on a moto server as the functions would send them. `make bench`
//! runs it (a release build, compiled with the functions' host builds) and writes
//! `target/bench/aws-cost.json`; the cost tables in `docs/performance.md` come from its
//! output.
//!
//! The path a reading takes is the Lambda functions' code: the channels function's
//! router, served on a local socket (API Gateway's part), and the poller's worker,
//! handed each work message as the queue's trigger would (Lambda's part: the trigger's
//! own long poll and an invocation, which AWS adds, are not in the figure).
//!
//! ```text
//! scripts/with-moto target/release/examples/aws_cost [PRODUCERS CONSUMERS READINGS_EACH [IDLE_SIZES…]]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use grid_app::jobs::PollReport;
use grid_app::{Api, GridConfig};
use grid_client::channels::{ChannelWriter, HttpChannelClient};
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Reading};
use grid_core::{
    ChannelCredentials, ChannelRoot, EpochMs, ItemType, PaymentAddress, Price, Registration, RegistrationId, SideKey,
    Wh,
};
use grid_store::aws::{AwsClients, DynamoRegistrationStore, OperationCount, RequestCounter, schema};
use serde_json::json;

const PERIOD_MS: u64 = 900_000;
const SLOT_MS: u64 = 60_000;

/// On-demand prices in us-east-1 (USD): per request for SQS and S3, per request unit
/// for DynamoDB (a transaction's item costs two units, a batch's item one).
fn price(service: &str, operation: &str) -> (f64, u64) {
    match (service, operation) {
        ("DynamoDB", "TransactWriteItems") => (0.625e-6, 2),
        ("DynamoDB", "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem") => (0.625e-6, 1),
        ("DynamoDB", _) => (0.125e-6, 1),
        ("S3", "PutObject" | "CopyObject" | "ListObjectsV2" | "DeleteObjects") => (5e-6, 1),
        ("S3", _) => (0.4e-6, 1),
        ("SQS", _) => (0.4e-6, 1),
        _ => (0.0, 1),
    }
}

fn at(ms: u64) -> EpochMs {
    EpochMs::parse(ms as i64).expect("a valid time")
}

/// Party `i`'s reading of minute `slot` of the period starting at `period`.
fn command(kind: ItemType, i: u64, period: u64, slot: u64) -> Result<Command, Box<dyn std::error::Error>> {
    let reading = Reading {
        start: at(period + slot * SLOT_MS),
        end: at(period + (slot + 1) * SLOT_MS),
        energy: Wh::new(100 + slot),
    };
    Ok(match kind {
        ItemType::Producer => Command::ProducerOutput {
            reading,
            price: Price::parse(100 + i % 20)?,
            payment_address: PaymentAddress::parse(format!("wallet-{i}"))?,
        },
        // The example's parties are producers and consumers only.
        ItemType::Consumer | ItemType::Prosumer => Command::Usage(reading),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (producers, consumers, each, sizes) = match args[..] {
        [p, c, m, ref sizes @ ..] => (p, c, m, sizes.to_vec()),
        [] => (5, 50, 10, vec![1_000, 10_000]),
        _ => return Err("usage: aws_cost [PRODUCERS CONSUMERS READINGS_EACH [IDLE_SIZES…]]".into()),
    };
    // Warnings (a poll that failed and will be retried) say why a count came out short.
    grid_app::telemetry::init(grid_app::config::LogFormat::Pretty, "warn");
    let counter = RequestCounter::default();
    let clients = AwsClients::counted(&sdk().await?, &counter);
    let grid = Grid::provision(&clients, "cost").await?;

    // Every party registered, its channel opened with hello and read (not counted).
    let now = EpochMs::now().get();
    let period = now - now % PERIOD_MS - 2 * PERIOD_MS;
    let node = grid.serve_channel_node().await?;
    let mut parties = Vec::new();
    for kind in [ItemType::Producer, ItemType::Consumer] {
        let count = if kind == ItemType::Producer { producers } else { consumers };
        for i in 0..count {
            let mut writer = grid.register(&format!("{kind}-{i:06}"), kind, &node).await?;
            writer.publish(&Command::Hello).await?;
            grid.trigger_poller(now).await?;
            parties.push((kind, i, writer));
        }
    }
    counter.take();

    // Each reading as a device sends it: one `PUT`, then the work it queued.
    let mut latencies = Vec::new();
    for slot in 0..each {
        for (kind, i, writer) in &mut parties {
            // Polled as the reading happens: a minute-long reading lands a second after its end.
            let attached = Instant::now();
            writer.publish(&command(*kind, *i, period, slot)?).await?;
            let polled = grid.trigger_poller(period + (slot + 1) * SLOT_MS + 1_000).await?;
            latencies.push(attached.elapsed().as_secs_f64() * 1000.0);
            if polled.map(|p| p.stored) != Some(1) {
                return Err(format!("{polled:?} stored of one reading").into());
            }
        }
    }
    let readings = (producers + consumers) * each;
    let ingest = counter.take();

    // The same readings of the next period sent together, as a busy grid gets them: every
    // party's reading of a minute, then the queue's trigger taking ten notifications at a
    // time (its batch), until none is left.
    let next = period + PERIOD_MS;
    for slot in 0..each {
        for (kind, i, writer) in &mut parties {
            writer.publish(&command(*kind, *i, next, slot)?).await?;
        }
        let mut stored = 0;
        while let Some(polled) = grid.trigger_poller(next + (slot + 1) * SLOT_MS + 1_000).await? {
            stored += polled.stored;
        }
        if stored != producers + consumers {
            return Err(format!("{stored} readings stored of {}", producers + consumers).into());
        }
    }
    let together = counter.take();

    let settled = grid_app::jobs::Settler::new(&grid.stores, &grid.config).run(at(period + PERIOD_MS + 1_000)).await?;
    if settled.is_empty() {
        return Err("nothing settled".into());
    }
    let settle = counter.take();

    println!("AWS requests per reading ({producers} producers, {consumers} consumers, {each} readings each)");
    let ingest = show("ingesting, one reading at a time", &ingest, readings);
    let together = show("ingesting, every party's reading of a minute together", &together, readings);
    let settle = show("settling", &settle, readings);
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let (p50, p99) = (quantile(0.5), quantile(0.99));
    println!("reading PUT → stored, through the functions' code over moto: p50 {p50:.1} ms, p99 {p99:.1} ms");
    let busy = together["usdPerMillionReadings"].as_f64().unwrap_or(f64::NAN);
    let mark = |met: bool| if met { "✓" } else { "✗" };
    println!("{} a reading on a busy grid: ${busy:.2} per million (target ≤ $4.00)", mark(busy <= 4.0));
    println!("{} PUT → stored p99: {p99:.0} ms (target < 1000 ms)", mark(p99 < 1000.0));

    println!("AWS requests of an idle grid per hour (a sweep a minute, a full sweep an hour), by size");
    let mut idle = Vec::new();
    for size in sizes {
        idle.push(idle_hour(&clients, &counter, size).await?);
    }
    let report = json!({
        "producers": producers, "consumers": consumers, "readingsEach": each, "readings": readings,
        "ingest": ingest, "ingestTogether": together, "settle": settle, "latencyMs": {"p50": p50, "p99": p99}, "idle": idle,
    });
    std::fs::create_dir_all("target/bench")?;
    std::fs::write("target/bench/aws-cost.json", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

async fn sdk() -> Result<aws_config::SdkConfig, std::env::VarError> {
    let endpoint = std::env::var("GRID_TEST_MOTO_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))?;
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await)
}

/// A grid's resources on moto, and its stores over them.
struct Grid {
    stores: grid_app::Stores,
    config: GridConfig,
    registrations: DynamoRegistrationStore,
    poller: grid_app::jobs::Poller,
}

impl Grid {
    async fn provision(clients: &AwsClients, name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let names = schema::provision(clients, &format!("{name}{}", std::process::id())).await?;
        let mut vars: HashMap<String, String> =
            names.to_vars().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        vars.insert("GRID_STORE".into(), "aws".into());
        vars.insert("SETTLEMENT_PERIOD_SECS".into(), (PERIOD_MS / 1000).to_string());
        vars.insert("SETTLEMENT_GRACE_SECS".into(), "0".into());
        let config = GridConfig::from_vars(&vars)?;
        let registrations = DynamoRegistrationStore::new(clients, &names.registrations_table);
        let stores = grid_app::Stores::on_aws(clients, &names, config.market.reading_shards);
        let poller = grid_app::jobs::Poller::new(&stores, &config);
        Ok(Self { stores, config, registrations, poller })
    }

    /// The channels function's router on a local socket; its address.
    async fn serve_channel_node(&self) -> std::io::Result<String> {
        let router =
            grid_app::api_router(&[Api::Channels], grid_app::app_state(&self.stores, &self.config), &self.config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(address)
    }

    /// A registration with a channel of its own, and the device's writer to the node.
    async fn register(
        &self,
        id: &str,
        kind: ItemType,
        node: &str,
    ) -> Result<ChannelWriter, Box<dyn std::error::Error>> {
        let secrets = ChannelSecrets::new(&ChannelSeed::generate(), SideKey::generate());
        let credentials =
            ChannelCredentials { root: secrets.root().clone(), side_key: secrets.access().side_key().clone() };
        // As the registry does: its channel claimed at the node, then the registration.
        let id = RegistrationId::parse(id)?;
        self.stores.channel_messages.claim(&credentials.root, &id, None).await?;
        let registration = Registration::new(id, kind, None, Some(credentials), EpochMs::now());
        self.stores.registrations.insert(&registration).await?;
        let client = Arc::new(HttpChannelClient::new(node, reqwest::Client::new()));
        Ok(ChannelWriter::new(secrets, 0, client))
    }

    /// What the queue's trigger does as messages arrive: its long poll returns the
    /// waiting work messages (up to ten), the poller function (warm: one process) is
    /// handed them, and those done are deleted in one request. None waiting: `None`.
    /// (Its long polls of an empty queue, a few a minute whatever the traffic, are the
    /// idle grid's cost, not a reading's.)
    async fn trigger_poller(&self, now: u64) -> Result<Option<PollReport>, Box<dyn std::error::Error>> {
        let messages = self.stores.poll_work.receive(10, std::time::Duration::from_secs(300)).await?;
        if messages.is_empty() {
            return Ok(None);
        }
        let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
        let (report, done) = self.poller.work_batch(&bodies, at(now)).await;
        if let Some((message, Err(e))) = messages.iter().zip(done).find(|(_, done)| done.is_err()) {
            return Err(format!("work message {} failed: {e}", message.id).into());
        }
        self.stores.poll_work.ack_many(&messages.iter().map(|m| m.receipt.as_str()).collect::<Vec<_>>()).await?;
        Ok(Some(report))
    }
}

/// One hour of an idle grid of `size` registrations, each with a channel and nothing
/// unread on it: sixty runs of the minute sweep, then the hourly full sweep (every
/// registration read, and the address at each one's cursor).
async fn idle_hour(
    clients: &AwsClients,
    counter: &RequestCounter,
    size: u64,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let grid = Grid::provision(clients, &format!("idle{size}-")).await?;
    let stored = Instant::now();
    let side_key = SideKey::parse("CostIdleSideKey00000")?;
    let ids: Vec<u64> = (0..size).collect();
    for chunk in ids.chunks(1_000) {
        let mut registrations = Vec::with_capacity(chunk.len());
        for n in chunk {
            let root = ChannelRoot::parse(format!("{:064x}", n + 1))?;
            let credentials = ChannelCredentials { root, side_key: side_key.clone() };
            let id = RegistrationId::parse(format!("idle-{n:08}"))?;
            registrations.push(Registration::new(id, ItemType::Consumer, None, Some(credentials), EpochMs::now()));
        }
        grid.registrations.load_unchecked(&registrations).await?;
    }
    let stored = stored.elapsed().as_secs_f64();
    counter.take();
    let poller = grid_app::jobs::Poller::new(&grid.stores, &grid.config);
    for _ in 0..60 {
        poller.sweep().await?;
    }
    let sweeps = counter.take();
    let full = poller.dispatch().await?;
    if (full.registrations as u64, full.waiting) != (size, 0) {
        return Err(format!("the full sweep looked at {full:?} of {size} idle registrations").into());
    }
    let full = counter.take();
    let month = 730.0;
    let (sweep_requests, sweep_usd) = totals(&sweeps);
    let (full_requests, full_usd) = totals(&full);
    println!(
        "  {size:>9} registrations (stored in {stored:.0} s): sweeps {sweep_requests:>6} requests, full sweep {full_requests:>9} requests   ${:>8.2} a month",
        (sweep_usd + full_usd) * month
    );
    Ok(json!({
        "registrations": size,
        "sweepsPerHour": {"requests": sweep_requests, "usdPerMonth": sweep_usd * month, "operations": rows(&sweeps)},
        "fullSweepPerHour": {"requests": full_requests, "usdPerMonth": full_usd * month, "operations": rows(&full)},
    }))
}

/// Requests and their price in USD.
fn totals(counts: &BTreeMap<(String, String), OperationCount>) -> (u64, f64) {
    counts.iter().fold((0, 0.0), |(requests, usd), ((service, operation), count)| {
        let (unit_price, units_per_item) = price(service, operation);
        (requests + count.requests, usd + count.items as f64 * units_per_item as f64 * unit_price)
    })
}

fn rows(counts: &BTreeMap<(String, String), OperationCount>) -> Vec<serde_json::Value> {
    counts
        .iter()
        .map(|((service, operation), count)| {
            json!({"service": service, "operation": operation, "requests": count.requests, "items": count.items})
        })
        .collect()
}

/// Prints one phase's requests per reading and the cost of a million readings.
fn show(phase: &str, counts: &BTreeMap<(String, String), OperationCount>, readings: u64) -> serde_json::Value {
    println!("  {phase}");
    let mut total = 0.0;
    let mut rows = Vec::new();
    for ((service, operation), count) in counts {
        let (unit_price, units_per_item) = price(service, operation);
        let per_million = 1e6 / readings as f64;
        let cost = count.items as f64 * units_per_item as f64 * unit_price * per_million;
        total += cost;
        println!(
            "    {:<36} {:>8.3} requests {:>8.3} items per reading   ${:>8.4} per 1 M readings",
            format!("{service} {operation}"),
            count.requests as f64 / readings as f64,
            count.items as f64 / readings as f64,
            cost
        );
        rows.push(json!({
            "service": service, "operation": operation, "requests": count.requests, "items": count.items,
            "usdPerMillionReadings": cost,
        }));
    }
    let requests: u64 = counts.values().map(|c| c.requests).sum();
    let per_reading = requests as f64 / readings as f64;
    println!("    {:<36} {per_reading:>8.3} requests {:>30} ${total:>8.4} per 1 M readings", "total", "");
    json!({"operations": rows, "requestsPerReading": per_reading, "usdPerMillionReadings": total})
}
