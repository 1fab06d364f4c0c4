//! The operator portal (`/portal`): a read-only view of the whole grid for the people
//! who run it — what every producer and consumer did, what was paid, what is stuck.
//!
//! - `/portal/api/…`: JSON, from the stores through the same ports the jobs use
//!   ([`data`]).
//! - `/portal`, `/portal/registrations/{id}`, `/portal/periods/{start}`: server-rendered
//!   pages ([`page`]) with
//!   inline SVG charts ([`charts`]) and a little script for sorting, searching and
//!   refreshing, all served from here (no CDN), under a strict CSP.
//! - Access ([`auth`]): `Authorization: Bearer <PORTAL_TOKEN>`, or the signed session
//!   cookie the login form sets (throttled per client, revoked at logout). Without a
//!   configured token the portal opens for nobody.

pub(crate) mod api;
mod auth;
pub mod charts;
pub mod data;
mod page;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use grid_store::SignInLog;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::PortalToken;
pub use data::PortalData;

/// What the portal's handlers share.
#[derive(Clone)]
pub struct PortalState {
    pub data: PortalData,
    pub token: Option<Arc<PortalToken>>,
    /// Revoked sessions and sign-in attempts.
    pub sign_ins: Arc<dyn SignInLog>,
}

/// Only the portal's own files; no inline script or style, no framing, no forms elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The portal's routes, with its access check and security headers.
pub(crate) fn routes(state: PortalState) -> Router {
    let protected = Router::new()
        .route("/portal", get(page::overview))
        .route("/portal/registrations/{registrationId}", get(page::registration))
        .route("/portal/periods/{periodStart}", get(page::period))
        .route("/portal/api/overview", get(api::overview))
        .route("/portal/api/periods", get(api::periods))
        .route("/portal/api/periods/{periodStart}", get(api::period))
        .route("/portal/api/periods/{periodStart}/report.csv", get(api::period_csv))
        .route("/portal/api/producers", get(api::producers))
        .route("/portal/api/consumers", get(api::consumers))
        .route("/portal/api/batches", get(api::batches))
        .route("/portal/api/rejections", get(api::rejections))
        .route("/portal/api/heartbeats", get(api::heartbeats))
        .route("/portal/api/registrations/{registrationId}", get(api::registration))
        .route("/metrics", get(api::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require));
    let open = Router::new()
        .route("/portal/login", get(auth::login_page).post(auth::login))
        .route("/portal/logout", post(auth::logout))
        .route("/portal/static/portal.css", get(page::stylesheet))
        .route("/portal/static/portal.js", get(page::script));
    protected
        .merge(open)
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
