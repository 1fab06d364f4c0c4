//! The grid's HTTP surface: one axum [`Router`] for `gridctl serve` and the Lambdas.
//!
//! Routes are grouped by API (registration, storage, channels, meta); this module assembles
//! them with the cross-cutting layers every route shares: the body limit, a request
//! deadline, panic containment, security headers and request logging that names the
//! route template, never the raw path (a DELETE path carries a side key).

mod channels;
pub mod extract;
mod meta;
mod registration;
pub(crate) mod schema;
mod storage;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use grid_store::{ChannelStore, ItemStore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::GridConfig;
use crate::error::ApiError;
use crate::jobs::Doorbell;
use crate::portal::PortalState;
use crate::registry::Registry;

pub use meta::ApiDoc;

/// What the handlers share: the use cases and the stores they read directly.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub items: Arc<dyn ItemStore>,
    pub channels: Arc<dyn ChannelStore>,
    /// Tells the poller when the node stores envelopes.
    pub doorbell: Doorbell,
    pub portal: PortalState,
}

/// The full grid API with its layers, ready to serve.
pub fn router(state: AppState, config: &GridConfig) -> Router {
    api_router(&[Api::Registration, Api::Storage, Api::Channels, Api::Portal], state, config)
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
    /// `/portal…`, `/` and `/openapi.json`.
    Portal,
}

/// The routes of `apis` only, with the layers every route shares. A function built with
/// one API carries none of the others' handlers (nor the portal's pages and the OpenAPI
/// document, unless it serves them): smaller zips, faster builds.
pub fn api_router(apis: &[Api], state: AppState, config: &GridConfig) -> Router {
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
        routes = routes.merge(crate::portal::routes(state.portal));
    }
    with_layers(routes, config.body_limit_bytes, config.request_timeout)
}

/// `routes` with what every route of the grid (and of the device agents' APIs) shares:
/// JSON answers for unknown routes and methods, the body limit, the deadline, panic
/// containment, `nosniff`, and request logs that name the route template.
pub fn with_layers(routes: Router, body_limit_bytes: usize, deadline: Duration) -> Router {
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| within(deadline, req, next)))
        .layer(CatchPanicLayer::custom(|_| ApiError::Panic.into_response()))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), route = route_of(req)),
        ))
        .layer(middleware::from_fn(measured))
}

/// The route template a request matched, never its path (ids and keys stay out of logs
/// and metrics).
fn route_of(req: &Request) -> String {
    req.extensions().get::<MatchedPath>().map_or("<no route>", MatchedPath::as_str).to_owned()
}

/// Counts and times every answer, by route and status class.
async fn measured(req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    crate::metrics::answered(route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Answers 408 when a request (reading its body included) outlives its deadline,
/// so a client trickling bytes cannot hold a connection and a task forever.
async fn within(deadline: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Rejected {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("the request took longer than {} s", deadline.as_secs()),
        }
        .into_response(),
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound(format!("no route for {method} {path}"))
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
