//! The `poller` function: reads every registration's channel from its cursor; runs on a schedule (dispatching shards to `poll-work`) and on `poll-work` batches.

use grid_app::{GridConfig, lambda, telemetry};
use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    lambda_runtime::run(service_fn(|event| lambda::job("poller", event))).await
}
