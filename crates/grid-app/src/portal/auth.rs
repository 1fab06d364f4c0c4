//! Who may see the portal: whoever presents `PORTAL_TOKEN`, as a bearer token (scripts)
//! or through the login form, which sets a session cookie (people).
//!
//! The session is signed with the token and carries its expiry ([`super::token`]); it
//! is new on every sign-in, and logout revokes it in the store, so a copied cookie dies
//! with the logout. The cookie is `HttpOnly`, `SameSite=Strict`, scoped to `/portal`,
//! `Secure` behind HTTPS, and lasts twelve hours. The token never travels in a URL.
//! Failed attempts by every way in (a bearer token, the form, a session cookie) are
//! counted per client address ([`crate::sign_in`]), after which a bearer token or the
//! form gets 429 with `Retry-After` until the window ends. A live
//! session cookie always passes: it proves an earlier sign-in and cannot be guessed, so
//! a neighbour's guesses behind the same address do not lock a signed-in operator out.
//!
//! Errors are the grid's JSON unless the client asked for a page (`Accept: text/html`,
//! as a browser submitting the form does), which gets the form again with the reason.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use grid_core::EpochMs;
use grid_http::Refusal;
use grid_http::extract::ClientAddress;
use serde::Deserialize;

use super::{PortalState, page};
use crate::error::ApiError;
use crate::sign_in::{SESSION_LENGTH, SessionCookie, Throttle, Throttled, session_expiry};

const COOKIE: SessionCookie = SessionCookie { name: "grid_portal", path: "/portal" };

/// Lets a request through if it carries the token or a live session; otherwise an API
/// call gets 401 and a page the login form. A wrong token or a dead cookie counts as a
/// failed sign-in of the client.
pub(super) async fn require(
    State(state): State<PortalState>,
    ClientAddress(client): ClientAddress,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let api = path.starts_with("/portal/api/") || path == "/metrics";
    let Some(token) = state.token.as_deref() else {
        return not_configured(!api);
    };
    let headers = request.headers();
    let now = EpochMs::now();
    let presented_cookie = COOKIE.read(headers);
    let session = presented_cookie.as_deref().and_then(|value| token.open_session(value, now));
    if let Some(session) = session {
        match state.sign_ins.is_revoked(&session.id, now).await {
            Ok(false) => return next.run(request).await,
            Ok(true) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
    let throttle = Throttle::new(state.sign_ins.as_ref(), &client, now, "portal");
    if let Some(presented) = &bearer {
        match throttle.check().await {
            Err(e) => return throttled(!api, e),
            Ok(failures) if token.matches(presented) => {
                if let Err(e) = throttle.succeeded(failures).await {
                    return ApiError::from(e).into_response();
                }
                return next.run(request).await;
            }
            Ok(_) => {
                if let Err(e) = throttle.failed().await {
                    return throttled(!api, e);
                }
            }
        }
    } else if presented_cookie.is_some()
        && let Err(e) = throttle.failed().await
    {
        return throttled(!api, e);
    }
    if api {
        let message = "the portal needs Authorization: Bearer <PORTAL_TOKEN>";
        let mut response = Refusal::new(StatusCode::UNAUTHORIZED, message).into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"portal\""));
        response
    } else {
        Redirect::to("/portal/login").into_response()
    }
}

/// A throttled or failed count, answered as a page when `html`, else the grid's JSON.
fn throttled(html: bool, e: Throttled) -> Response {
    match e {
        Throttled::TooMany { wait_secs } => {
            let mut response = refuse(html, StatusCode::TOO_MANY_REQUESTS, &e.to_string());
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            response
        }
        Throttled::Store(e) => ApiError::from(e).into_response(),
    }
}

/// No token is configured: no credential can open the portal, so it is 403 for all.
fn not_configured(html: bool) -> Response {
    let message = "the portal is closed: no PORTAL_TOKEN is configured";
    if html {
        (StatusCode::FORBIDDEN, Html(page::message_page("Portal closed", message))).into_response()
    } else {
        Refusal::new(StatusCode::FORBIDDEN, message).into_response()
    }
}

/// A refused sign-in: the form again for a browser, the grid's JSON for anything else.
fn refuse(html: bool, status: StatusCode, message: &str) -> Response {
    if html {
        (status, Html(page::login_page(Some(message)))).into_response()
    } else {
        Refusal::new(status, message).into_response()
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

#[derive(Deserialize)]
pub(super) struct Login {
    token: Option<String>,
}

/// The login form. A `?token=` in the URL is ignored: the token goes in the form only.
pub(super) async fn login_page() -> Html<String> {
    Html(page::login_page(None))
}

pub(super) async fn login(
    State(state): State<PortalState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    form: Result<Form<Login>, FormRejection>,
) -> Response {
    let Form(login) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return Refusal::new(rejection.status(), rejection.body_text()).into_response();
        }
    };
    let html = wants_html(&headers);
    let Some(token) = state.token.as_deref() else { return not_configured(html) };
    let now = EpochMs::now();
    let throttle = Throttle::new(state.sign_ins.as_ref(), &client, now, "portal");
    let failures = match throttle.check().await {
        Ok(failures) => failures,
        Err(e) => return throttled(html, e),
    };
    if !token.matches(login.token.as_deref().unwrap_or_default().trim()) {
        if let Err(e) = throttle.failed().await {
            return throttled(html, e);
        }
        return refuse(html, StatusCode::UNAUTHORIZED, "That token does not open this portal.");
    }
    if let Err(e) = throttle.succeeded(failures).await {
        return ApiError::from(e).into_response();
    }
    let (_, value) = token.sign_session(session_expiry(now));
    let mut response = Redirect::to("/portal").into_response();
    response.headers_mut().insert(header::SET_COOKIE, COOKIE.set(&value, SESSION_LENGTH, &headers));
    response
}

/// Signs out: the session is revoked in the store (so a copy of the cookie stops
/// working too) and the browser's cookie cleared.
pub(super) async fn logout(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let now = EpochMs::now();
    let session =
        state.token.as_deref().zip(COOKIE.read(&headers)).and_then(|(token, value)| token.open_session(&value, now));
    if let Some(session) = session
        && let Err(e) = state.sign_ins.revoke(&session.id, session.expires, now).await
    {
        return ApiError::from(e).into_response();
    }
    let mut response = Redirect::to("/portal/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, COOKIE.cleared());
    response
}
