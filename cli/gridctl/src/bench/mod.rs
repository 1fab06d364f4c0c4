//! `gridctl bench`: the grid's hot paths measured end to end, each figure printed beside
//! its target and written as JSON under `--out` (default `target/bench/`). Figures are
//! measurements, never assertions: a missed target is reported, not failed.

mod codec;
mod footprint;
mod http;
mod idle;
mod ingest;
mod settle;

/// The portal's token of the servers and functions the benchmarks start.
const PORTAL_TOKEN: &str = "bench-portal-token-0001";

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Only these parts: codec, ingest, settle, http, idle, lambda (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The arm64 Lambda zips (`make lambda`), one `<function>/bootstrap.zip` each, and
    /// the baseline's `hello/bootstrap.zip` (`make bench`).
    #[arg(long, default_value = "target/lambda")]
    lambda_zips: PathBuf,
    /// The functions and the baseline's `hello`, built for this machine with the
    /// release profile (`make bench`): their cold starts carry the target.
    #[arg(long, default_value = "target/release")]
    lambda_bins: PathBuf,
    /// The program that provisions the functions' resources on moto (the `provision`
    /// example of grid-functions).
    #[arg(long, default_value = "target/release/examples/provision")]
    provision: PathBuf,
    /// What runs an arm64 binary on this machine, words split on spaces (default:
    /// `qemu-aarch64` with Debian's arm64 libraries; on an arm64 host the bootstraps
    /// are not run apart from the host builds).
    #[arg(long)]
    arm64_runner: Option<String>,
    /// The bare HTTP server each HTTP workload is timed beside (`make bench` builds it:
    /// the `bare_http` example of gridctl).
    #[arg(long, default_value = "target/release/examples/bare_http")]
    bare_http: PathBuf,
    /// Another build of gridctl (the commit before a change, say) whose own bench runs
    /// each part right after this one's, its figures printed beside these.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Smaller sizes, for a quick look (the targets are for the full sizes).
    #[arg(long)]
    quick: bool,
}

/// What a figure should be.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Option<Target>,
    /// What it was timed beside in the same run (the machine's speed drifts by ±20 %
    /// within an hour, so a figure alone cannot tell a slow hour from a regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beside: Option<Beside>,
}

/// A figure of something else timed right beside a [`Figure`].
#[derive(Debug, Clone, Serialize)]
pub struct Beside {
    pub what: &'static str,
    pub value: f64,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self { name: name.into(), value, unit, target: None, beside: None }
    }

    pub fn beside(mut self, what: &'static str, value: f64) -> Self {
        self.beside = Some(Beside { what, value });
        self
    }

    pub fn at_least(mut self, target: f64) -> Self {
        self.target = Some(Target::AtLeast(target));
        self
    }

    pub fn at_most(mut self, target: f64) -> Self {
        self.target = Some(Target::AtMost(target));
        self
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|t| match t {
            Target::AtLeast(min) => self.value >= min,
            Target::AtMost(max) => self.value <= max,
        })
    }
}

fn show(value: f64) -> String {
    if value >= 100.0 {
        format!("{:.0}", value)
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// The machine the figures come from.
#[derive(Debug, Serialize)]
struct Machine {
    cores: usize,
    cpu: String,
    os: String,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Machine {
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    grid_app::telemetry::init(grid_app::config::LogFormat::Pretty, "error");
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let wanted = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    let machine = machine();
    println!(
        "energy-grid bench on {} ({} cores, {}){}\n",
        machine.cpu,
        machine.cores,
        machine.os,
        if args.quick { ", quick sizes" } else { "" }
    );
    let mut all = Vec::new();
    let emulator = match &args.arm64_runner {
        Some(runner) => Some(runner.split_whitespace().map(str::to_owned).collect()),
        None if std::env::consts::ARCH == "aarch64" => None,
        None => Some(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"].map(str::to_owned).to_vec()),
    };
    let builds = footprint::Builds {
        zips: args.lambda_zips.clone(),
        native: args.lambda_bins.clone(),
        provision: args.provision.clone(),
        emulator,
    };
    let parts: [(&str, &str); 6] = [
        ("codec", "Channel codec"),
        ("ingest", "Ingestion (embedded store)"),
        ("settle", "Settlement"),
        ("http", "HTTP (gridctl serve under load)"),
        ("idle", "An idle grid, and readings pushed to the poller"),
        ("lambda", "Lambda footprint"),
    ];
    for (part, title) in parts {
        if !wanted(part) {
            continue;
        }
        println!("{title}");
        let started = Instant::now();
        let figures = match part {
            "codec" => codec::run(args.quick),
            "ingest" => ingest::run(args.quick).await?,
            "settle" => settle::run(args.quick).await?,
            "http" => http::run(args.quick, &args.bare_http).await?,
            "idle" => idle::run(args.quick).await?,
            "lambda" => footprint::run(&builds).await?,
            _ => unreachable!("the parts are listed above"),
        };
        for f in &figures {
            let target = match f.target {
                Some(Target::AtLeast(min)) => format!("≥ {}", show(min)),
                Some(Target::AtMost(max)) => format!("≤ {}", show(max)),
                None => String::new(),
            };
            let mark = match f.met() {
                Some(true) => "✓",
                Some(false) => "✗",
                None => " ",
            };
            let beside = f.beside.as_ref().map(|b| format!("   {} {}", b.what, show(b.value))).unwrap_or_default();
            println!("  {mark} {:<66} {:>12} {:<10} {:<12}{beside}", f.name, show(f.value), f.unit, target);
        }
        println!("  ({:.1} s)\n", started.elapsed().as_secs_f64());
        if let (Some(baseline), true) = (&args.baseline, part != "lambda") {
            beside_baseline(baseline, part, args.quick, &figures)?;
        }
        let path = args.out.join(format!("{part}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        all.push(serde_json::json!({"part": part, "figures": figures}));
    }
    let summary = serde_json::json!({"machine": machine, "quick": args.quick, "parts": all});
    std::fs::write(args.out.join("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    println!("results in {}/", args.out.display());
    Ok(())
}

/// A figure as another build's bench wrote it.
#[derive(Debug, serde::Deserialize)]
struct TheirFigure {
    name: String,
    value: f64,
}

/// Runs `baseline`'s own bench of `part` now, right after this build's, and prints its
/// figures beside `ours` (matched by name), with each ratio.
fn beside_baseline(baseline: &std::path::Path, part: &str, quick: bool, ours: &[Figure]) -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let mut command = std::process::Command::new(baseline);
    command.args(["bench", "--only", part, "--out"]).arg(out.path());
    if quick {
        command.arg("--quick");
    }
    let status = command
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run the baseline {}", baseline.display()))?;
    anyhow::ensure!(status.success(), "the baseline's bench of {part} failed ({status})");
    let path = out.path().join(format!("{part}.json"));
    let theirs: Vec<TheirFigure> = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("cannot read the baseline's {}", path.display()))?;
    println!("  beside {} (its bench of {part}, run right after):", baseline.display());
    println!("    {:<58} {:>12} {:>12} {:>8}", "", "this build", "baseline", "ratio");
    // A name repeated (each workload's "p99") matches the same occurrence of it there.
    for (i, f) in ours.iter().enumerate() {
        let nth = ours[..i].iter().filter(|o| o.name == f.name).count();
        if let Some(their) = theirs.iter().filter(|t| t.name.trim() == f.name.trim()).nth(nth) {
            println!(
                "    {:<58} {:>12} {:>12} {:>7.2}×",
                f.name,
                show(f.value),
                show(their.value),
                f.value / their.value
            );
        }
    }
    println!();
    Ok(())
}
