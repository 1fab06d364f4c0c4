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
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self { name: name.into(), value, unit, target: None }
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
            "http" => http::run(args.quick).await?,
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
            println!("  {mark} {:<58} {:>12} {:<10} {}", f.name, show(f.value), f.unit, target);
        }
        println!("  ({:.1} s)\n", started.elapsed().as_secs_f64());
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
