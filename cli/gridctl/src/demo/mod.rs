//! `gridctl demo`: the whole system on the embedded default, on a fast clock.
//!
//! A grid (`serve`, in process, with its development ledger), producers each hosting
//! their registration API with their sources, and consumers with funded ledger
//! accounts. Every party is the real agent speaking HTTP over loopback; only the clock
//! is simulated: it runs the periods just before now (the meters replaying a morning's
//! readings) and moves one slot (a fifth of a period) per step, so six 15-minute periods
//! pass in seconds; kept running, the grid's jobs then run on the real clock. At each step the sources, the
//! producers and the consumers act, then the grid's jobs run (poll, settle, pay) at the
//! simulated time. The demo ends when every period is settled and every bill and
//! payout is final, and prints what happened, with the checks that the energy and the
//! money add up. `--scenario shortage` and `--scenario surplus` size the panels and the
//! households so that the local market runs short of energy or has plenty to export.
//!
//! # Layout
//!
//! - `mod.rs`: `run`, the flow: start the grid, its parties, drive, report, check;
//! - `args.rs`: the flags, their bounds and the scenarios;
//! - `world.rs`: the grid's configuration, the meters and the parties;
//! - `drive.rs`: the simulated clock's loop, until everything is settled and paid;
//! - `summary.rs`: what the demo found, from the books and the ledger;
//! - `checks.rs`: the checks that the energy and the money add up;
//! - `print.rs`: the opening line, the story, the tables and the checks as printed;
//! - `soak.rs`: the storage load and the soak's report.

mod args;
mod checks;
mod drive;
mod print;
mod soak;
mod summary;
mod world;

use std::time::Duration;

use anyhow::{Context, bail};
use grid_app::telemetry;
use grid_core::EpochMs;
use grid_core::market::PeriodStart;

pub(crate) use self::args::DemoArgs;
use self::checks::checks;
use self::drive::drive;
use self::print::{print_intro, print_story, print_summary};
use self::soak::{demo_load_start, soak_report};
use self::summary::summarize;
use self::world::{Meters, grid_config, morning_before, start_consumer, start_producer};
use crate::device_addresses::DeviceAddresses;
use crate::serve::Server;

/// Slots (simulated steps) per period.
const SLOTS_PER_PERIOD: u64 = 5;

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    args.check()?;
    let temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let period_ms = args.period * 1000;
    let slot_ms = period_ms / SLOTS_PER_PERIOD;
    let mut config = grid_config(&args, &data_dir, slot_ms)?;
    let made_up = crate::serve::ensure_portal_token(&mut config);
    telemetry::init(config.log_format, "warn");

    // The ledger turns batches final at once: the simulated clock cannot wait for it.
    let ledger_options = dev_ledger::LedgerOptions {
        final_after: Duration::ZERO,
        unavailable_rate: args.ledger_faults,
        unknown_rate: args.ledger_faults,
        ..Default::default()
    };
    let server = Server::start(&config, Some(ledger_options))
        .await
        .with_context(|| format!("cannot start the demo grid (is {} in use? try --listen)", args.listen))?;
    let base = format!("http://{}", server.addr);
    let portal = crate::serve::portal_line(&server, &config, made_up);
    let ledger_url = server.ledger_url.clone();
    let stores = server.stores.clone();
    let (jobs, serve) = server.into_jobs_and_server();
    let serving = tokio::spawn(serve);

    // The periods just before now, so the whole run lies in the past and, kept running,
    // the grid has little to catch up; the meters replay a morning's, so the panels see
    // the sun at any hour.
    let span = (args.periods + 3) * period_ms;
    let latest = EpochMs::now().get().saturating_sub(span + 60_000);
    let start = latest - latest % period_ms;
    let end = start + args.periods * period_ms;
    let meters = Meters { start, end, slot_ms, sun_lag: start - morning_before(start, period_ms) };
    print_intro(&args, &config, start);
    say!("grid at {base}, development ledger at {ledger_url}, data in {}\n", data_dir.display());

    let http = reqwest::Client::new();
    let mut addresses = DeviceAddresses::new();
    let mut producers = Vec::new();
    for p in 0..args.producers {
        producers.push(start_producer(p, &args, &meters, &base, &mut addresses, &ledger_url).await?);
    }
    let mut consumers = Vec::new();
    for c in 0..args.consumers {
        consumers.push(start_consumer(c, &args, &meters, &base, &mut addresses, &ledger_url).await?);
    }

    let load = demo_load_start(&base, args.storage_clients, &mut addresses).await?;
    let steps =
        drive(&jobs, &stores, &mut producers, &mut consumers, start, end, slot_ms, period_ms, args.pace_ms).await?;
    let load = match load {
        Some(load) => Some(load.stop().await?),
        None => None,
    };
    for producer in &mut producers {
        for source in producer.sources.drain(..) {
            source.stop().await?;
        }
    }
    let mut summary = summarize(&stores, &producers, &consumers, &ledger_url, &http, start, end, period_ms).await?;
    (summary.scenario, summary.price_cap) = (args.scenario, config.market.tariff.cap.highest().get());
    print_story(&config, slot_ms);
    let checked = checks(&summary);
    print_summary(&summary, steps, &checked);
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary).expect("plain data serializes");
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut ok = checked.iter().all(|(ok, _)| *ok);
    if args.ledger_faults > 0.0 || load.is_some() {
        ok &= soak_report(&stores, &producers, &consumers, load.as_ref(), start, end, period_ms).await?;
    }

    if args.keep_running {
        // From here the grid runs on the real clock, as `serve` does: its jobs settle the
        // periods since the simulated day ended (nothing traded in them), sweep the
        // channels and follow the ledger, so the portal's health strip tells the truth.
        tokio::spawn(jobs.run_every_interval(Duration::from_secs(5), grid_http::shutdown_signal()));
        say!("\nThe grid keeps running at {base} (ledger at {ledger_url}).");
        say!("{portal}");
        if let Some(member) = consumers.first() {
            say!(
                "a member's page: {base}/members (sign in as {} with the side key {}, made up for this run)",
                member.agent.settings().id,
                member.agent.return_channel().side_key().expose()
            );
        }
        say!("Or try: curl {base}/openapi.json; curl {ledger_url}/accounts/wallet-producer-01");
        say!("Press Ctrl-C to stop.");
        serving.await.context("the demo server stopped unexpectedly")?;
    } else {
        serving.abort();
    }
    for producer in producers {
        producer.serving.abort();
    }
    if !ok {
        bail!("the demo's books do not add up (see the checks above)");
    }
    Ok(())
}

/// The period starting at `ms`.
fn period_start(ms: u64) -> anyhow::Result<PeriodStart> {
    PeriodStart::parse(ms).context("a period start")
}
