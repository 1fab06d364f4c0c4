//! What members see (DESIGN.md §4, "Members"): every producer, consumer and prosumer its
//! own figures, nobody else's.
//!
//! - `GET /members/{registrationId}/statement` ([`statement`]): the statement as JSON or
//!   CSV, opened with the registration's side key.
//! - `/members` ([`page`]): a page where a member signs in with its registration id and
//!   side key and sees its statement as charts and tables, with a CSV download
//!   (`/members/statement.csv`). The session ([`session`]) is bound to that one
//!   registration, signed with its keys, expires after twelve hours and is revoked at
//!   logout; failed sign-ins are throttled per client as the portal's are
//!   ([`crate::sign_in`]); no secret travels in a URL. The pages are served here with
//!   their own stylesheet, under the portal's strict CSP.

mod page;
mod session;
pub(crate) mod statement;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use grid_core::{Registration, RegistrationId};
use grid_store::Stores;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::registry::Registry;
use crate::sign_in::SessionCookie;

/// What the members' handlers share: the stores (each handler reads one registration's
/// lines, account and sessions) and the registry (whose registration it is).
#[derive(Clone)]
pub struct MembersState {
    pub stores: Stores,
    pub registry: Registry,
}

impl MembersState {
    /// The active registration `id`, or 404.
    async fn registration(&self, id: &RegistrationId) -> Result<Registration, ApiError> {
        Ok(self.registry.active(id).await?)
    }
}

const COOKIE: SessionCookie = SessionCookie { name: "grid_member", path: "/members" };

/// As the portal's: only the pages' own stylesheet; no script, no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The members' routes, with their security headers.
pub(crate) fn routes(state: MembersState) -> Router {
    Router::new()
        .route("/members", get(page::home))
        .route("/members/login", post(page::login))
        .route("/members/logout", post(page::logout))
        .route("/members/statement.csv", get(page::download))
        .route("/members/static/members.css", get(page::stylesheet))
        .route("/members/{registrationId}/statement", get(statement::statement))
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
