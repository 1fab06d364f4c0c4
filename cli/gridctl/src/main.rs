//! `gridctl`: the energy grid as one local process.
//!
//! `serve` runs every grid API over the embedded SQLite store; `demo` starts a grid
//! and walks through its APIs against it; `channel` opens, writes and reads channels;
//! `ledger` runs a development ledger; `batches` lists the ledger batches the grid follows;
//! `source`, `producer`, `consumer` and `prosumer` run the device agents; `simulate`
//! backtests a community through the grid's settlement.
//!
//! # Layout
//!
//! - `serve`: the grid on a socket with its jobs (and `--dev-ledger`); `demo/` (with
//!   `demo_load`, `device_addresses`): a grid, its devices and the checks that the money
//!   adds up; `channel`, `ledger`, `batches`: small tools over a running grid;
//! - `bench/`: `make bench`'s measurements, each beside its target and a baseline;
//!   `simulate/`: the community backtest and its load profile;
//! - the device agents' commands are grid-agents' (`grid_agents::cli::Device`).

// `say!`, which every command prints with, as the agents do.
#[macro_use]
extern crate grid_agents;

mod batches;
mod bench;
mod channel;
mod demo;
mod demo_load;
mod device_addresses;
mod ledger;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gridctl", version, about = "Run and try the energy grid locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the grid's HTTP APIs over the embedded SQLite store.
    Serve(serve::ServeArgs),
    /// Start a grid on a fresh store and show its APIs at work.
    Demo(demo::DemoArgs),
    /// Open, write and read channels on a grid's channel node.
    Channel(channel::ChannelArgs),
    /// Run a development ledger (accounts, batches, statuses, injectable faults).
    Ledger(ledger::LedgerArgs),
    #[command(flatten)]
    Device(grid_agents::cli::Device),
    /// Measure the hot paths and print each figure beside its target.
    Bench(bench::BenchArgs),
    /// List the ledger batches the grid follows: pending, stalled, failed, done.
    Batches(batches::BatchesArgs),
    /// Backtest a community: its homes' load and solar, period by period through the
    /// grid's settlement, and what it would save in a month or a year.
    Simulate(simulate::SimulateArgs),
}

/// gridctl's runtime: tokio's, with a blocking pool of twice the cores (at least 4).
///
/// Every SQLite call runs on the blocking pool. At tokio's default bound (512 threads)
/// `serve` under 32 connections kept dozens of threads runnable on two cores, each
/// request's two store calls waiting behind the others' time slices: `GET` p99 5–6 ms.
/// With 4 threads the calls queue instead: the `GET` p99 halved and its rate rose by
/// a half or more (docs/performance.md). A store call never waits
/// for another blocking task, so a small pool cannot deadlock; a writer waiting for
/// SQLite's lock holds a thread while the holder, which has one, finishes.
fn main() -> std::process::ExitCode {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads((2 * cores).max(4)).build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("gridctl: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Channel(args) => channel::run(args).await,
        Command::Ledger(args) => ledger::run(args).await,
        Command::Batches(args) => batches::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::Device(device) => {
            grid_app::telemetry::init(grid_app::config::LogFormat::Pretty, "warn");
            device.run().await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
