//! The `poller` function: reads every registration's channel from its cursor. On its
//! schedule it dispatches shards of registrations to `poll-work`; on `poll-work`
//! batches it polls them.

use grid_app::{GridConfig, Stores, lambda, telemetry};
use lambda_runtime::service_fn;

// One thread: one event at a time on a fraction of a vCPU (docs/decisions.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let poller = Stores::open(&config).await?.poller(&config);
    lambda_runtime::run(service_fn(|event| lambda::poller(&poller, event))).await
}
