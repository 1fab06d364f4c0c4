//! The `channels` function: the channel node (`/channels/messages/…`), behind API Gateway.
//!
//! It runs its part of the router `gridctl serve` runs (the same handlers and layers);
//! API Gateway sends it only its routes, and it carries no other part.

use grid_app::{Api, GridConfig, telemetry};

// One thread: one event at a time on a fraction of a vCPU (docs/decisions.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let state = grid_app::state_from_config(&config).await?;
    grid_app::lambda::run_http(grid_app::api_router(&[Api::Channels], state, &config), &config).await
}
