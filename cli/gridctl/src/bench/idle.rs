//! An idle grid: `gridctl serve` holding N registrations with channels and no
//! traffic, and the CPU it uses per minute (its schedule sweeps only unread channels, so
//! the figure should not grow with N); its peak memory under HTTP load with the largest N;
//! and how soon a reading attached to the node is read into the books (the node notifies
//! the poller: no schedule in between).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use grid_client::channels::{ChannelClient, ChannelWriter, HttpChannelClient};
use grid_core::channel::{ChannelSecrets, ChannelSeed, Command as Message, Reading};
use grid_core::{ChannelCredentials, ChannelRoot, EpochMs, ItemType, Registration, RegistrationId, SideKey, Wh};
use grid_store::RegistrationStore;
use grid_store::sqlite::{SqliteDb, SqliteRegistrationStore};

use super::http::{Serve, consumer_with_an_item, peak_rss_mb, wrk};
use super::{Figure, PORTAL_TOKEN};

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000, 1_000_000] };
    let window = Duration::from_secs(if quick { 10 } else { 20 });
    // The largest grid is stored meanwhile (a couple of minutes for a million).
    let (&largest, smaller) = sizes.split_last().expect("sizes");
    let largest_dir = tempfile::tempdir()?;
    let filling = tokio::spawn(fill(largest_dir.path().to_owned(), largest));
    let mut figures = Vec::new();
    for (i, &size) in smaller.iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let filled = fill(dir.path().to_owned(), size).await?;
        let serve = Serve::start(dir.path())?;
        figures.push(idle_cpu(&serve, size, filled, window)?);
        if i == 0 {
            let (p50, p99) = latency(&serve.base, if quick { 30 } else { 100 }).await?;
            figures.push(Figure::new("reading attached → stored by the poller, p50", p50, "ms"));
            figures.push(Figure::new("  p99", p99, "ms").at_most(1000.0));
        }
    }
    let filled = filling.await??;
    let serve = Serve::start(largest_dir.path())?;
    figures.push(idle_cpu(&serve, largest, filled, window)?);
    let rss = under_load(&serve, if quick { 2 } else { 10 }).await?;
    figures.push(
        Figure::new(format!("serve's peak memory (RSS) under HTTP load, {largest} registrations"), rss, "MB")
            .at_most(64.0),
    );
    Ok(figures)
}

/// Serve's CPU per minute over `window`, past its start-up (opening the store, the
/// first round).
fn idle_cpu(serve: &Serve, size: usize, filled: Duration, window: Duration) -> anyhow::Result<Figure> {
    std::thread::sleep(Duration::from_secs(5));
    let cpu = cpu_over(serve, window)? * 60.0 / window.as_secs_f64();
    let name = format!("idle serve, {size} registrations (stored in {:.0} s): CPU per minute", filled.as_secs_f64());
    Ok(Figure::new(name, cpu, "s").at_most(0.6))
}

/// `size` consumers, each with a channel of its own that carries nothing yet; how long
/// storing them took.
async fn fill(dir: std::path::PathBuf, size: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let registrations = SqliteRegistrationStore::new(SqliteDb::open(&dir).await?);
    let now = EpochMs::now();
    let side_key = SideKey::parse("BenchIdleSideKey0000")?;
    for n in 0..size {
        let credentials =
            ChannelCredentials { root: ChannelRoot::parse(format!("{:064x}", n + 1))?, side_key: side_key.clone() };
        let id = RegistrationId::parse(format!("idle-{n:08}"))?;
        registrations.insert(&Registration::new(id, ItemType::Consumer, None, Some(credentials), now)).await?;
    }
    Ok(started.elapsed())
}

/// CPU seconds (user and system) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').context("a stat line")?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / clock_ticks())
}

/// CPU seconds `serve` used over `window`.
fn cpu_over(serve: &Serve, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_seconds(serve.pid())?;
    std::thread::sleep(window);
    Ok(cpu_seconds(serve.pid())? - before)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A consumer publishes `count` readings, one at a time; each is timed from its attach
/// to the grid's cursor passing it (as the portal shows it).
async fn latency(base: &str, count: u64) -> anyhow::Result<(f64, f64)> {
    let http = reqwest::Client::new();
    let client: std::sync::Arc<dyn ChannelClient> = std::sync::Arc::new(HttpChannelClient::new(base, http.clone()));
    let secrets = ChannelSecrets::new(&ChannelSeed::generate(), SideKey::generate());
    let mut writer = ChannelWriter::new(secrets.clone(), 0, client);
    writer.publish(&Message::Hello).await?;
    let body = serde_json::json!({"itemType": "consumer", "root": secrets.root().as_str(),
                                  "sideKey": secrets.access().side_key().expose()});
    http.put(format!("{base}/registration/latency-0001")).json(&body).send().await?.error_for_status()?;
    let read_up_to = async || -> anyhow::Result<u64> {
        let detail: serde_json::Value = http
            .get(format!("{base}/portal/api/registrations/latency-0001"))
            .bearer_auth(PORTAL_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        detail["readUpTo"].as_u64().context("the portal shows how far the grid read")
    };
    let now = EpochMs::now().get() - 60_000;
    let mut samples = Vec::new();
    for i in 1..=count {
        let at = |ms: u64| EpochMs::parse(ms as i64).expect("a valid time");
        let reading = Reading { start: at(now + i * 100), end: at(now + i * 100 + 100), energy: Wh::new(1) };
        let attached = Instant::now();
        writer.publish(&Message::Usage(reading)).await?;
        while read_up_to().await? <= i {
            anyhow::ensure!(attached.elapsed() < Duration::from_secs(30), "reading {i} was never read");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(attached.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.99)))
}

/// The server's peak memory after `seconds` of `GET` of a storage item.
async fn under_load(serve: &Serve, seconds: u32) -> anyhow::Result<f64> {
    consumer_with_an_item(&reqwest::Client::new(), &serve.base, "load-0001").await?;
    wrk(&format!("{}/storage/load-0001/bench/item", serve.base), None, seconds)?;
    Ok(peak_rss_mb(serve.pid()).unwrap_or(f64::NAN))
}
