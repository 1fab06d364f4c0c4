//! The `channels` function: the channel node (`/channels/messages/…`), behind API Gateway.
//!
//! It runs the same router as `gridctl serve`; API Gateway sends it only its routes.

use grid_app::{GridConfig, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = GridConfig::from_env()?;
    telemetry::init(config.log_format, "info");
    let state = grid_app::state_from_config(&config).await?;
    lambda_http::run(grid_app::router(state, &config)).await
}
