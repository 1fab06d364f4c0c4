//! The `poller` function: reads registrations' channels from their cursors. Its
//! schedules sweep for channels with unread messages (hourly, every registration) and
//! queue them on `poll-work`, where the channel node queues what it stores; on
//! `poll-work` batches it polls them. Its metrics go to its log after each event.

use grid_app::jobs::Poller;
use grid_app::{GridConfig, lambda, open_stores, telemetry};
use grid_core::EpochMs;

// One thread: one event at a time on a fraction of a vCPU (docs/decisions.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let poller = Poller::new(&open_stores(&config).await?, &config);
    lambda::run_job(&config, |event| lambda::poller(&poller, event, EpochMs::now())).await
}
