//! The grid's whole HTTP surface: one axum [`Router`] for `gridctl serve` and the Lambdas.
//!
//! The APIs ([`crate::http`]), the operator portal ([`crate::portal`]), the members'
//! pages ([`crate::members`]) and the OpenAPI document ([`crate::openapi`]) each keep
//! their own state; this module puts the chosen ones together with the cross-cutting
//! layers every route shares ([`grid_http::with_layers`]: the body limit, a request
//! deadline, panic containment, security headers, and request logs and metrics that name
//! the route template, never the raw path, since a DELETE path carries a side key).

use axum::Router;

use crate::config::GridConfig;
use crate::http::{self, ApiState, guard};
use crate::members::MembersState;
use crate::portal::PortalState;

/// Every router's state, as the composition root builds it.
#[derive(Clone)]
pub struct AppState {
    pub api: ApiState,
    pub portal: PortalState,
    pub members: MembersState,
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

/// The full grid API with its layers, ready to serve as one process (`gridctl serve`):
/// writes pass [`guard`]'s rate per client and disk floor.
pub fn router(state: AppState, config: &GridConfig) -> Router {
    let apis = [Api::Registration, Api::Storage, Api::Channels, Api::Portal];
    assemble(&apis, state, config, Some(guard::WriteGuard::new(config.writes.clone())))
}

/// The routes of `apis` only, with the layers every route shares. A function built with
/// one API carries none of the others' handlers (nor the portal's pages and the OpenAPI
/// document, unless it serves them): smaller zips, faster builds.
pub fn api_router(apis: &[Api], state: AppState, config: &GridConfig) -> Router {
    assemble(apis, state, config, None)
}

fn assemble(apis: &[Api], state: AppState, config: &GridConfig, guard: Option<guard::WriteGuard>) -> Router {
    let mut api = Router::new();
    for part in apis {
        api = match part {
            Api::Registration => api.merge(http::registration::routes()),
            Api::Storage => api.merge(http::storage::routes()),
            Api::Channels => api.merge(http::channels::routes()),
            Api::Portal => api,
        };
    }
    let mut routes = api.with_state(state.api);
    if apis.contains(&Api::Portal) {
        routes = routes
            .merge(crate::openapi::routes())
            .merge(crate::portal::routes(state.portal))
            .merge(crate::members::routes(state.members));
    }
    if let Some(guard) = guard {
        routes = routes.layer(axum::middleware::from_fn_with_state(guard, guard::guard));
    }
    grid_http::with_layers(routes, config.body_limit_bytes, config.request_timeout)
}
