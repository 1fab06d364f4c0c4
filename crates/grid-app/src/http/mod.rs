//! The grid's HTTP surface: one axum [`Router`] for `gridctl serve` and the Lambdas.
//!
//! Routes are grouped by API (registration, storage, channels, meta); this module assembles
//! them with the cross-cutting layers every route shares ([`grid_http::with_layers`]: the
//! body limit, a request deadline, panic containment, security headers, and request logs
//! and metrics that name the route template, never the raw path, since a DELETE path
//! carries a side key).

mod channels;
pub mod guard;
mod meta;
mod registration;
pub(crate) mod schema;
mod storage;

use std::sync::Arc;

use axum::Router;
use grid_core::StorageQuota;
use grid_core::channel::UnclaimedChannels;
use grid_store::{ChannelMessageStore, ItemStore};

use crate::config::GridConfig;
use crate::jobs::Doorbell;
use crate::members::MembersState;
use crate::portal::PortalState;
use crate::registry::Registry;

pub use meta::ApiDoc;

/// What the handlers share ([`AppParts`]), behind one `Arc`: axum clones the state for
/// every request.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// The use cases and the stores the handlers read directly.
pub struct AppParts {
    pub registry: Registry,
    pub items: Arc<dyn ItemStore>,
    /// What each registration may keep in storage.
    pub storage_quota: StorageQuota,
    /// How many new unclaimed channels the node opens a day.
    pub unclaimed: UnclaimedChannels,
    pub channel_messages: Arc<dyn ChannelMessageStore>,
    /// Tells the poller when the node stores envelopes.
    pub doorbell: Doorbell,
    pub portal: PortalState,
    pub members: MembersState,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The full grid API with its layers, ready to serve as one process (`gridctl serve`):
/// writes pass [`guard`]'s rate per client and disk floor.
pub fn router(state: AppState, config: &GridConfig) -> Router {
    let apis = [Api::Registration, Api::Storage, Api::Channels, Api::Portal];
    assemble(&apis, state, config, Some(guard::WriteGuard::new(config.writes.clone())))
}

/// One part of the grid's API; each Lambda function serves one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/registration/…`
    Registration,
    /// `/storage/…`
    Storage,
    /// `/channels/…`: the channel node.
    Channels,
    /// `/portal…`, `/members…`, `/` and `/openapi.json`.
    Portal,
}

/// The routes of `apis` only, with the layers every route shares. A function built with
/// one API carries none of the others' handlers (nor the portal's pages and the OpenAPI
/// document, unless it serves them): smaller zips, faster builds.
pub fn api_router(apis: &[Api], state: AppState, config: &GridConfig) -> Router {
    assemble(apis, state, config, None)
}

fn assemble(apis: &[Api], state: AppState, config: &GridConfig, guard: Option<guard::WriteGuard>) -> Router {
    let mut routes = Router::new();
    for api in apis {
        routes = match api {
            Api::Registration => routes.merge(registration::routes()),
            Api::Storage => routes.merge(storage::routes()),
            Api::Channels => routes.merge(channels::routes()),
            Api::Portal => routes.merge(meta::routes()),
        };
    }
    let mut routes = routes.with_state(state.clone());
    if apis.contains(&Api::Portal) {
        routes = routes.merge(crate::portal::routes(state.portal.clone()));
        routes = routes.merge(crate::members::routes(state.members.clone()));
    }
    if let Some(guard) = guard {
        routes = routes.layer(axum::middleware::from_fn_with_state(guard, guard::guard));
    }
    grid_http::with_layers(routes, config.body_limit_bytes, config.request_timeout)
}
