//! The `batch-monitor` function: follows pending ledger batches until they are final;
//! runs on a schedule.

use grid_app::{GridConfig, lambda, telemetry};
use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    lambda_runtime::run(service_fn(|event| lambda::acknowledge("batch-monitor", event))).await
}
