//! The HTTP edge the grid and its device agents share, so both answer alike: every
//! answer is `{"success": bool, "message": string}` ([`Ack`]); every refusal, the
//! framework's own included (a malformed path, an oversized body, an unknown route, a
//! wrong method, a deadline passed, a panic), is a [`Refusal`] with a real status; and
//! every route carries the same layers ([`with_layers`]).
//!
//! What a domain error means in HTTP is decided by whoever serves: the grid's one
//! mapping is `grid_app::ApiError`, which turns a [`Refusal`] into one of its own.
//!
//! # Layout
//!
//! - this file: [`Ack`], [`Refusal`], [`with_layers`], the request metrics and
//!   [`shutdown_signal`], which every server (the grid's and the agents') stops on, and
//!   [`cause_chain`], how both log an error;
//! - [`extract`]: axum's extractors with [`Refusal`] as their rejection.

pub mod extract;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The body of every response: `{"success": bool, "message": string}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ack {
    pub success: bool,
    pub message: String,
}

impl Ack {
    pub fn ok(message: impl Into<String>) -> Self {
        Self { success: true, message: message.into() }
    }
}

/// A request refused (4xx, with what was wrong) or failed (5xx, with a generic message:
/// the cause is logged, never told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400: the request is malformed; `message` says how.
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message.to_string())
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 401 or 403: a side key was needed, or the one presented does not fit.
    pub fn denied(e: &grid_core::AccessError) -> Self {
        Self::new(access_status(e), e.to_string())
    }
}

/// The status a side-key problem is answered with: 401 when one is needed and none was
/// sent, 403 when the one sent does not fit (or none can).
pub fn access_status(e: &grid_core::AccessError) -> StatusCode {
    match e {
        grid_core::AccessError::SideKeyRequired(_) => StatusCode::UNAUTHORIZED,
        grid_core::AccessError::WrongSideKey | grid_core::AccessError::NoSideKey => StatusCode::FORBIDDEN,
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
            "internal error; the grid operator can find the cause in the logs".to_owned()
        } else {
            tracing::info!(status = %self.status, error = %self.message, "request refused");
            self.message
        };
        (self.status, Json(Ack { success: false, message })).into_response()
    }
}

/// `routes` with what every route of the grid and of the device agents' APIs shares:
/// JSON answers for unknown routes and methods, the body limit, the deadline, panic
/// containment, `nosniff`, request logs that name the route template, and the request
/// metrics.
pub fn with_layers(routes: Router, body_limit_bytes: usize, deadline: Duration) -> Router {
    routes
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| within(deadline, req, next)))
        .layer(CatchPanicLayer::custom(|_| {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "the request panicked").into_response()
        }))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), route = route_of(req)),
        ))
        .layer(middleware::from_fn(measured))
}

/// `routes` with only the grid's body limit and deadline: for a service mounted beside the
/// grid that answers in its own shape and is not the grid's to log or count (the
/// development ledger at `/ledger` in `serve`).
pub fn with_limits(routes: Router, body_limit_bytes: usize, deadline: Duration) -> Router {
    routes
        .layer(DefaultBodyLimit::max(body_limit_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| within(deadline, req, next)))
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
    answered(route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Answers 408 when a request (reading its body included) outlives its deadline,
/// so a client trickling bytes cannot hold a connection and a task forever.
async fn within(deadline: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            Refusal::new(StatusCode::REQUEST_TIMEOUT, format!("the request took longer than {} s", deadline.as_secs()))
                .into_response()
        }
    }
}

async fn no_route(method: Method, uri: Uri) -> Refusal {
    let path: String = uri.path().chars().take(200).collect();
    Refusal::not_found(format!("no route for {method} {path}"))
}

async fn wrong_method(method: Method) -> Refusal {
    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} is not allowed on this route"))
}

/// HTTP requests answered, by [`ROUTE`] and [`STATUS`] class (counter).
pub const HTTP_REQUESTS: &str = "http_requests";
/// How long HTTP requests took, by [`ROUTE`], in seconds (histogram).
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// The route template (`/storage/{id}/{*path}`), never the path itself.
pub const ROUTE: &str = "route";
/// `2xx`, `3xx`, `4xx` or `5xx`: few enough values to keep CloudWatch's metrics few.
pub const STATUS: &str = "status";

/// Whether HTTP metrics carry the [`ROUTE`]: yes in `serve` (Prometheus series are
/// free), no on Lambda, where each route would make a few CloudWatch custom metrics
/// ($0.30 a month each, ~$27 a month for the grid's routes); there each function is one
/// API, and its log names every request's route.
static BY_ROUTE: AtomicBool = AtomicBool::new(true);

/// HTTP requests are counted by status class only from now on (Lambda).
pub fn count_requests_by_status_only() {
    BY_ROUTE.store(false, Ordering::Relaxed);
}

/// An HTTP request answered.
pub fn answered(route: String, status: u16, seconds: f64) {
    let class = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    if BY_ROUTE.load(Ordering::Relaxed) {
        metrics::counter!(HTTP_REQUESTS, ROUTE => route.clone(), STATUS => class).increment(1);
        metrics::histogram!(HTTP_DURATION, ROUTE => route).record(seconds);
    } else {
        metrics::counter!(HTTP_REQUESTS, STATUS => class).increment(1);
        metrics::histogram!(HTTP_DURATION).record(seconds);
    }
}

/// Resolves at Ctrl-C or SIGTERM (how systemd, containers and CI stop a process): what
/// every server and agent loop stops on, letting work in flight finish.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// An error and its causes on one line, `error: cause: cause`: what logs carry. A cause
/// that only repeats what the line already ends with is left out (the AWS SDK's service
/// errors name their inner error in their own text, then give it as their source).
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod cause_chain_tests {
    use super::cause_chain;

    #[derive(Debug)]
    struct Failed {
        text: &'static str,
        cause: Option<Box<Failed>>,
    }

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Failed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.cause.as_deref().map(|c| c as &(dyn std::error::Error + 'static))
        }
    }

    fn failed(text: &'static str, cause: Option<Failed>) -> Failed {
        Failed { text, cause: cause.map(Box::new) }
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        let inner = failed("Throttled: slow down", None);
        let repeated = failed("Throttled: slow down", Some(inner));
        let error = failed("storage backend failed", Some(failed("service error", Some(repeated))));
        assert_eq!(cause_chain(&error), "storage backend failed: service error: Throttled: slow down");
        let distinct = failed("storage backend failed", Some(failed("timed out", None)));
        assert_eq!(cause_chain(&distinct), "storage backend failed: timed out");
    }
}
