//! The `batch-monitor` function: verifies consumers' payments on the ledger, follows
//! the grid's payouts until they are final, and pays producers; runs on a schedule.

use grid_app::jobs::BatchMonitor;
use grid_app::{GridConfig, assembly, lambda, open_stores, telemetry};
use grid_core::EpochMs;

// One thread: one event at a time on a fraction of a vCPU (docs/decisions.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let ledger = config.ledger.clone().ok_or("LEDGER_URL must be set for the batch monitor")?;
    let stores = open_stores(&config).await?;
    let monitor = BatchMonitor::new(&stores, &config, assembly::ledger(&ledger));
    lambda::run_job(&config, |event| lambda::batch_monitor(&monitor, event, EpochMs::now())).await
}
