//! The `settlement` function: settles each period once its grace time has passed;
//! runs on a schedule.

use grid_app::jobs::Settler;
use grid_app::{GridConfig, lambda, open_stores, telemetry};
use grid_core::EpochMs;

// One thread: one event at a time on a fraction of a vCPU (docs/decisions.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let settler = Settler::new(&open_stores(&config).await?, &config);
    lambda::run_job(&config, |event| lambda::settlement(&settler, event, EpochMs::now())).await
}
