//! Who may see the portal: whoever presents `PORTAL_TOKEN`, as a bearer token (scripts)
//! or through the login form, which sets a session cookie (people). The cookie is
//! `HttpOnly`, `SameSite=Strict`, scoped to `/portal`, `Secure` behind HTTPS, and lasts
//! twelve hours.

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{PortalState, page};
use crate::error::ApiError;

const COOKIE: &str = "grid_portal";
const SESSION_SECS: u64 = 12 * 3600;

/// Lets a request through if it carries the token or the session; otherwise an API
/// call gets 401 and a page the login form.
pub(super) async fn require(State(state): State<PortalState>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/portal/api/");
    let Some(token) = state.token.as_deref() else {
        return not_configured(api);
    };
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| token.matches(presented.trim()));
    let session = cookie(headers).is_some_and(|presented| token.opens_session(&presented));
    if bearer || session {
        return next.run(request).await;
    }
    if api {
        let mut response = ApiError::Rejected {
            status: StatusCode::UNAUTHORIZED,
            message: "the portal needs Authorization: Bearer <PORTAL_TOKEN>".to_owned(),
        }
        .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"portal\""));
        response
    } else {
        Redirect::to("/portal/login").into_response()
    }
}

/// No token is configured: no credential can open the portal, so it is 403 for all.
fn not_configured(api: bool) -> Response {
    let message = "the portal is closed: no PORTAL_TOKEN is configured";
    if api {
        ApiError::Rejected { status: StatusCode::FORBIDDEN, message: message.to_owned() }.into_response()
    } else {
        (StatusCode::FORBIDDEN, Html(page::message_page("Portal closed", message))).into_response()
    }
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_owned))
}

#[derive(Deserialize)]
pub(super) struct Login {
    token: Option<String>,
}

/// The login form; `?token=` logs in directly (the link `gridctl serve` prints).
pub(super) async fn login_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Query(login): Query<Login>,
) -> Response {
    match login.token {
        Some(token) => attempt(&state, &headers, &token),
        None => Html(page::login_page(None)).into_response(),
    }
}

pub(super) async fn login(State(state): State<PortalState>, headers: HeaderMap, Form(login): Form<Login>) -> Response {
    attempt(&state, &headers, login.token.as_deref().unwrap_or_default())
}

fn attempt(state: &PortalState, headers: &HeaderMap, presented: &str) -> Response {
    let Some(token) = state.token.as_deref() else { return not_configured(false) };
    if !token.matches(presented.trim()) {
        tracing::warn!("portal login with a wrong token");
        return (StatusCode::UNAUTHORIZED, Html(page::login_page(Some("That token does not open this portal."))))
            .into_response();
    }
    let https = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes() == b"https");
    let cookie = format!(
        "{COOKIE}={}; Path=/portal; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{}",
        token.session(),
        if https { "; Secure" } else { "" }
    );
    let mut response = Redirect::to("/portal").into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a hex cookie is valid"));
    response
}

pub(super) async fn logout() -> Response {
    let mut response = Redirect::to("/portal/login").into_response();
    let expired = format!("{COOKIE}=; Path=/portal; Max-Age=0; HttpOnly; SameSite=Strict");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("a valid cookie"));
    response
}
