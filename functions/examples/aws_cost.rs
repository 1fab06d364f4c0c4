//! What a reading costs on AWS: the DynamoDB, S3 and SQS requests the grid sends to
//! ingest readings (dispatch, poll, store) and to settle them (read, bill, record),
//! counted on a moto server as the functions would send them. `make bench` runs it (a
//! release build, compiled with the functions' host builds) and writes
//! `target/bench/aws-cost.json`; the cost table in `docs/performance.md` comes from its
//! output.
//!
//! ```text
//! scripts/with-moto target/release/examples/aws_cost [PRODUCERS CONSUMERS READINGS_EACH]
//! ```

use std::collections::{BTreeMap, HashMap};

use grid_app::GridConfig;
use grid_app::channels::ChannelWriter;
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command, Reading};
use grid_core::{
    ChannelCredentials, EpochMs, ItemType, PaymentAddress, Price, Registration, RegistrationId, SideKey, Wh,
};
use grid_store::aws::{AwsClients, OperationCount, RequestCounter, schema};
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (producers, consumers, each) = match args[..] {
        [p, c, m] => (p, c, m),
        [] => (5, 50, 10),
        _ => return Err("usage: aws_cost [PRODUCERS CONSUMERS READINGS_EACH]".into()),
    };
    // Warnings (a poll that failed and will be retried) say why a count came out short.
    grid_app::telemetry::init(grid_app::config::LogFormat::Pretty, "warn");
    let endpoint = std::env::var("GRID_TEST_MOTO_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    let counter = RequestCounter::default();
    let clients = AwsClients::counted(&sdk, &counter);
    let names = schema::provision(&clients, &format!("cost{}", std::process::id())).await?;
    let mut vars: HashMap<String, String> = names.to_vars().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    vars.insert("GRID_STORE".into(), "aws".into());
    vars.insert("SETTLEMENT_PERIOD_SECS".into(), (PERIOD_MS / 1000).to_string());
    vars.insert("SETTLEMENT_GRACE_SECS".into(), "0".into());
    let config = GridConfig::from_vars(&vars)?;
    let stores = grid_app::Stores::on_aws(&clients, &names, &config);

    // Every party's channel opened with hello and `each` readings of one period, all
    // written straight to the node's table (what the channels function does).
    let now = EpochMs::now().get();
    let period = now - now % PERIOD_MS - 2 * PERIOD_MS;
    let parties =
        (0..producers).map(|p| (ItemType::Producer, p)).chain((0..consumers).map(|c| (ItemType::Consumer, c)));
    for (kind, i) in parties {
        let id = RegistrationId::parse(format!("{kind}-{i:06}"))?;
        let secrets = ChannelSecrets::new(&ChannelSeed::generate(), SideKey::generate());
        let credentials =
            ChannelCredentials { root: secrets.root().clone(), side_key: secrets.access().side_key().clone() };
        stores.registrations.insert(&Registration::new(id, kind, None, Some(credentials), at(now))).await?;
        let mut writer = ChannelWriter::new(secrets, 0, stores.channel_client());
        writer.publish(&Command::Hello).await?;
        for slot in 0..each {
            let reading = Reading {
                start: at(period + slot * SLOT_MS),
                end: at(period + (slot + 1) * SLOT_MS),
                energy: Wh::new(100 + slot),
            };
            let command = match kind {
                ItemType::Producer => Command::ProducerOutput {
                    reading,
                    price: Price::parse(100 + i % 20)?,
                    payment_address: PaymentAddress::parse(format!("wallet-{i}"))?,
                },
                ItemType::Consumer => Command::Usage(reading),
            };
            writer.publish(&command).await?;
        }
    }
    counter.take();

    let readings = (producers + consumers) * each;
    let poller = stores.poller(&config);
    poller.dispatch().await?;
    let polled = poller.drain(at(now)).await?;
    if polled.stored != readings {
        return Err(format!("{} readings stored of {readings}", polled.stored).into());
    }
    let ingest = counter.take();

    let settled = stores.settler(&config).run(at(period + PERIOD_MS + 1_000)).await?;
    if settled.is_empty() {
        return Err("nothing settled".into());
    }
    let settle = counter.take();

    println!("AWS requests per reading ({producers} producers, {consumers} consumers, {each} readings each)");
    let ingest = show("ingesting", &ingest, readings);
    let settle = show("settling", &settle, readings);
    let report = json!({
        "producers": producers, "consumers": consumers, "readingsEach": each, "readings": readings,
        "ingest": ingest, "settle": settle,
    });
    std::fs::create_dir_all("target/bench")?;
    std::fs::write("target/bench/aws-cost.json", serde_json::to_string_pretty(&report)?)?;
    Ok(())
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
    println!("    {:<36} {:>49} ${total:>8.4} per 1 M readings", "total", "");
    json!({"operations": rows, "usdPerMillionReadings": total})
}
