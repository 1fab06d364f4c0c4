//! `gridctl`: the energy grid as one local process.
//!
//! `serve` runs every grid API over the embedded SQLite store; `demo` starts a grid
//! and walks through its APIs against it; `channel` opens, writes and reads channels;
//! `ledger` runs a development ledger; `batches` lists the ledger batches the grid follows;
//! `source`, `producer` and `consumer` run the device agents.

/// Prints a line to stdout and carries on when nobody reads it any more: the demo kept
/// running and the device agents are long-lived, and must not die because the terminal
/// or pipe that showed their output went away.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod agents;
mod batches;
mod bench;
mod channel;
mod demo;
mod demo_load;
mod ledger;
mod serve;

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
    /// Run a source: report simulated or recorded output to a producer every slot.
    Source(agents::SourceArgs),
    /// Run a producer: host its sources' registration API, offer their output to the grid.
    Producer(agents::ProducerArgs),
    /// Run a consumer: report usage to the grid, pay its payment requests on the ledger.
    Consumer(agents::ConsumerArgs),
    /// Measure the hot paths and print each figure beside its target.
    Bench(bench::BenchArgs),
    /// List the ledger batches the grid follows: pending, stalled, failed, done.
    Batches(batches::BatchesArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Channel(args) => channel::run(args).await,
        Command::Ledger(args) => ledger::run(args).await,
        Command::Batches(args) => batches::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Source(args) => agents::source(args).await,
        Command::Producer(args) => agents::producer(args).await,
        Command::Consumer(args) => agents::consumer(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
