//! The grid's use cases, wired to HTTP.
//!
//! This crate turns the ports of `grid-store` and the rules of `grid-core` into the
//! services the grid offers: the registration, storage and channel node APIs (as axum routers that
//! `gridctl serve` mounts and the Lambda functions run unchanged), configuration from
//! the environment, logging, and the channel writer and reader every party uses. It never names a concrete store: adapters are chosen
//! by whoever builds the [`AppState`].

pub mod assembly;
pub mod channels;
pub mod config;
pub mod error;
pub mod http;
pub mod jobs;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod portal;
pub mod registry;
pub mod server;
pub mod telemetry;

pub use assembly::{AssemblyError, app_state, channel_client, open_stores, state_from_config};
pub use config::{ConfigError, GridConfig};
pub use error::ApiError;
pub use grid_store::Stores;
pub use http::{Api, AppState, api_router, router};
pub use registry::Registry;
