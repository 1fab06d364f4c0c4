//! `gridctl serve` under load from `wrk` (Debian package, installed by `make bench`):
//! 32 connections for 10 s each on `GET` and `PUT` of a 200-byte storage item and on
//! `PUT /registration`, with the server's peak memory.

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

/// A `gridctl serve` over a data directory, with a development ledger; stopped when
/// dropped.
pub(super) struct Serve {
    child: Child,
    /// Where it listens (`http://127.0.0.1:<port>`).
    pub(super) base: String,
}

impl Serve {
    pub(super) fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--dev-ledger", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "error")
            .env("PORTAL_TOKEN", PORTAL_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let first =
            BufReader::new(child.stdout.take().expect("piped")).lines().next().context("serve printed nothing")??;
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

pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let seconds = if quick { 2 } else { 10 };
    let dir = tempfile::tempdir()?;
    let server = Serve::start(dir.path())?;
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
    // Each request registers a new consumer (a fresh id per thread and request).
    let new_ids = r#"
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local counter = 0
function request()
  counter = counter + 1
  return wrk.format(nil, "/registration/bench-" .. tid .. "-" .. counter)
end
"#;
    let put_registration = script("put-registration.lua", r#"{"itemType":"consumer"}"#, new_ids)?;

    let get = wrk(&format!("{base}/storage/bench-0001/bench/item"), None, seconds)?;
    let stored = wrk(&format!("{base}/storage/bench-0001/bench/item"), Some(&put_item), seconds)?;
    let registered = wrk(&format!("{base}/registration/bench-0001"), Some(&put_registration), seconds)?;
    let rss = peak_rss_mb(server.pid()).unwrap_or(f64::NAN);

    Ok(vec![
        Figure::new("GET storage item (200 B), 32 connections", get.rate, "req/s").at_least(20_000.0),
        Figure::new("  p50", get.p50, "ms"),
        Figure::new("  p99", get.p99, "ms").at_most(5.0),
        Figure::new("PUT storage item (200 B)", stored.rate, "req/s"),
        Figure::new("  p50", stored.p50, "ms"),
        Figure::new("  p99", stored.p99, "ms"),
        Figure::new("PUT /registration (a new consumer, return channel opened)", registered.rate, "req/s"),
        Figure::new("  p50", registered.p50, "ms"),
        Figure::new("  p99", registered.p99, "ms"),
        Figure::new("server peak memory (RSS) under load", rss, "MB").at_most(64.0),
    ])
}
