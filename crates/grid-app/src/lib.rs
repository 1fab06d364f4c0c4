//! The grid's use cases, wired to HTTP and to schedules.
//!
//! This crate turns the ports of `grid-store` and the rules of `grid-core` into the
//! services the grid offers: the registration, storage and channel node APIs and the
//! operator portal (axum routers that `gridctl serve` mounts and the Lambda functions run
//! unchanged), the jobs (polling, settlement, the batch monitor), configuration from the
//! environment, logging and metrics. Only [`assembly`], the composition root, chooses
//! adapters (through `grid_store::Stores`); everything else is given ports.
//!
//! # Layout
//!
//! - [`config`]: every variable, parsed once (with the portal token); [`telemetry`]:
//!   logging; [`metrics`]: the metrics' names and recorders.
//! - [`assembly`]: the composition root (`open_stores`, `app_state`, the jobs' `new`).
//! - [`registry`]: the registration use cases; [`channel_client`]: the grid's own channel
//!   client, straight over its store (devices use `grid-client`'s HTTP one).
//! - [`http`]: the routers by API, their OpenAPI document; [`error`]: the one mapping
//!   from what went wrong to a status ([`ApiError`]), on top of `grid-http`'s edge.
//! - [`jobs`]: the poller (applying `grid_core::intake`'s verdicts), the doorbell,
//!   settlement, the batch monitor, and `serve`'s schedule.
//! - [`portal`]: the operator's pages, JSON API, sign-in and health strip.
//! - [`members`]: each member's statement (JSON, CSV) and its own page;
//!   [`sign_in`]: the failed sign-ins both count.
//! - [`server`]: `serve`'s listener and its limits; `lambda` (feature `lambda`): the
//!   Lambda runners.

pub mod app;
pub mod assembly;
pub mod channel_client;
pub mod config;
pub mod error;
pub mod http;
pub mod jobs;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod members;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod ports;
pub mod registry;
pub mod schema;
pub mod server;
pub mod sign_in;
pub mod telemetry;

pub use app::{Api, AppState, api_router, router};
pub use assembly::{AssemblyError, app_state, channel_client, open_stores, state_from_config};
pub use config::{ConfigError, GridConfig};
pub use error::ApiError;
pub use grid_store::Stores;
pub use registry::Registry;
