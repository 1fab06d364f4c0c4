//! `gridctl serve` under load from `wrk` (Debian package, installed by `make bench`):
//! 32 connections for 10 s each on `GET` and `PUT` of a 200-byte storage item and on
//! `PUT /registration` of new producers and of new consumers, with the server's peak
//! memory. Right before each workload the same `wrk` drives a bare hyper server (the
//! `bare_http` example: one route, a fixed small JSON body), and each workload is also
//! given as a share of it: the ceiling this machine's HTTP stack allows in that minute,
//! so a slow hour and a regression no longer look alike.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use super::{Figure, PORTAL_TOKEN};

/// What one wrk run measured: requests/s, p50 and p99 latency in ms.
pub(super) struct Load {
    rate: f64,
    p50: f64,
    p99: f64,
}

fn millis(text: &str) -> Option<f64> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        _ => return None,
    })
}

pub(super) fn wrk(url: &str, script: Option<&std::path::Path>, seconds: u32) -> anyhow::Result<Load> {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().context("wrk is missing: `make bench` installs it (Debian package wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()));
    let errors = field("Non-2xx or 3xx responses:");
    anyhow::ensure!(errors.is_none(), "wrk saw errors ({errors:?}):\n{text}");
    Ok(Load {
        rate: field("Requests/sec:").and_then(|r| r.parse().ok()).context("wrk printed no rate")?,
        p50: field("50%").and_then(|v| millis(&v)).context("wrk printed no p50")?,
        p99: field("99%").and_then(|v| millis(&v)).context("wrk printed no p99")?,
    })
}

/// A server process that prints its address at the end of its first line: a
/// `gridctl serve` over a data directory, with a development ledger, or the bare
/// server; stopped when dropped.
pub(super) struct Serve {
    child: Child,
    /// Where it listens (`http://127.0.0.1:<port>`).
    pub(super) base: String,
}

impl Serve {
    pub(super) fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        let mut serve = Command::new(std::env::current_exe()?);
        serve
            .args(["serve", "--dev-ledger", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "error")
            .env("PORTAL_TOKEN", PORTAL_TOKEN)
            // One client (wrk, on loopback) writes as fast as the grid allows: the write
            // guard is checked on every write but set never to refuse one.
            .env("GRID_WRITE_RATE_PER_CLIENT", "100000000");
        Self::spawn(serve)
    }

    /// The bare HTTP server at `program`.
    fn bare(program: &std::path::Path) -> anyhow::Result<Self> {
        Self::spawn(Command::new(program)).with_context(|| {
            format!("cannot start the bare HTTP server {} (`make bench` builds it)", program.display())
        })
    }

    fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let first = BufReader::new(child.stdout.take().expect("piped"))
            .lines()
            .next()
            .context("the server printed nothing")??;
        let base = first.rsplit(' ').next().context("no address")?.to_owned();
        Ok(Self { child, base })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 200-byte item the benchmarks store and read.
pub(super) fn item() -> serde_json::Value {
    serde_json::json!({"note": "x".repeat(180)})
}

/// Registers consumer `id` and stores [`item`] at `/storage/{id}/bench/item`; the
/// consumer's side key (its storage is its own: writes carry its return channel's key).
pub(super) async fn consumer_with_an_item(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<String> {
    let registered: serde_json::Value = http
        .put(format!("{base}/registration/{id}"))
        .json(&serde_json::json!({"itemType": "consumer"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = registered["sideKey"].as_str().context("the registration gave no side key")?.to_owned();
    http.put(format!("{base}/storage/{id}/bench/item"))
        .header("X-Side-Key", &key)
        .json(&item())
        .send()
        .await?
        .error_for_status()?;
    Ok(key)
}

pub(super) fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// One workload and what it should reach: a share of the bare server and requests per
/// second on the 2-core machine, and for some a p99 in milliseconds.
struct Workload {
    name: &'static str,
    /// How its latencies are named.
    short: &'static str,
    path: String,
    script: Option<std::path::PathBuf>,
    share: Option<f64>,
    rate: Option<f64>,
    p99: Option<f64>,
}

pub async fn run(quick: bool, bare: &std::path::Path) -> anyhow::Result<Vec<Figure>> {
    let seconds = if quick { 2 } else { 10 };
    let dir = tempfile::tempdir()?;
    let server = Serve::start(dir.path())?;
    let bare = Serve::bare(bare)?;
    let base = &server.base;
    let key = consumer_with_an_item(&reqwest::Client::new(), base, "bench-0001").await?;
    let item = item();

    let scripts = tempfile::tempdir()?;
    let script = |name: &str, body: &str, extra: &str| -> anyhow::Result<std::path::PathBuf> {
        let path = scripts.path().join(name);
        let mut lua = format!(
            "wrk.method = \"PUT\"\nwrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            body.replace('\'', "")
        );
        lua.push_str(extra);
        std::fs::write(&path, lua)?;
        Ok(path)
    };
    let put_item = script("put-item.lua", &item.to_string(), &format!("wrk.headers[\"X-Side-Key\"] = \"{key}\"\n"))?;
    // Each request registers a new id (one per thread and request).
    let new_ids = |prefix: &str| {
        format!(
            r#"
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local counter = 0
function request()
  counter = counter + 1
  return wrk.format(nil, "/registration/{prefix}-" .. tid .. "-" .. counter)
end
"#
        )
    };
    let producers = script("put-producer.lua", r#"{"itemType":"producer"}"#, &new_ids("bench-p"))?;
    let consumers = script("put-consumer.lua", r#"{"itemType":"consumer"}"#, &new_ids("bench-c"))?;
    let item_path = "/storage/bench-0001/bench/item".to_owned();
    let workloads = [
        Workload {
            name: "GET storage item (200 B), 32 connections",
            short: "GET item",
            path: item_path.clone(),
            script: None,
            share: Some(0.60),
            rate: Some(40_000.0),
            p99: None,
        },
        Workload {
            name: "PUT storage item (200 B)",
            short: "PUT item",
            path: item_path,
            script: Some(put_item),
            share: Some(0.45),
            rate: Some(30_000.0),
            p99: None,
        },
        Workload {
            name: "PUT /registration (a new producer)",
            short: "producer",
            path: "/registration/bench-0001".to_owned(),
            script: Some(producers),
            share: Some(0.35),
            rate: Some(20_000.0),
            p99: Some(25.0),
        },
        Workload {
            name: "PUT /registration (a new consumer, return channel opened)",
            short: "consumer",
            path: "/registration/bench-0001".to_owned(),
            script: Some(consumers),
            share: None,
            rate: None,
            p99: None,
        },
    ];
    let mut figures = Vec::new();
    for w in workloads {
        let ceiling = wrk(&format!("{}/", bare.base), None, seconds)?;
        let load = wrk(&format!("{base}{}", w.path), w.script.as_deref(), seconds)?;
        let target = |figure: Figure, at_least: Option<f64>| match at_least {
            Some(min) => figure.at_least(min),
            None => figure,
        };
        figures.push(target(Figure::new(w.name, load.rate, "req/s"), w.rate).beside("bare hyper", ceiling.rate));
        let share = Figure::new(format!("  {} as a share of bare hyper", w.short), load.rate / ceiling.rate, "×");
        figures.push(target(share, w.share));
        figures.push(Figure::new(format!("  {} p50", w.short), load.p50, "ms"));
        let p99 = Figure::new(format!("  {} p99", w.short), load.p99, "ms");
        figures.push(match w.p99 {
            Some(max) => p99.at_most(max),
            None => p99,
        });
    }
    let rss = peak_rss_mb(server.pid()).unwrap_or(f64::NAN);
    figures.push(Figure::new("server peak memory (RSS) under load", rss, "MB").at_most(64.0));
    Ok(figures)
}
