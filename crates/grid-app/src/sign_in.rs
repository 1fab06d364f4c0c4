//! Throttling failed sign-ins, the same way for the operator's portal and the members'
//! pages: failures are counted per client address in the store ([`SignInLog`]), and only
//! failures; [`SIGN_IN_LIMIT`] per fixed [`SIGN_IN_WINDOW_MS`] window of the clock, after
//! which the client is refused until the window ends. A success forgets the client's
//! failures. Counting in the store makes every process and Lambda instance count alike.
//! And the one shape of both doors' session cookies ([`SessionCookie`]).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use grid_core::EpochMs;
use grid_store::{SignInLog, StoreError};

/// Failed sign-ins one client may make per window.
pub const SIGN_IN_LIMIT: u32 = 10;
/// The throttling window: fixed five-minute windows of the clock.
pub const SIGN_IN_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Why a sign-in is not even tried.
#[derive(Debug, thiserror::Error)]
pub enum Throttled {
    /// The client failed [`SIGN_IN_LIMIT`] times in this window: it waits `wait_secs`.
    #[error("too many failed sign-ins from this address; try again in {wait_secs} s")]
    TooMany { wait_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One client's failed sign-ins in the current window. `what` names the door in the
/// logs (`portal`, `members`).
pub struct Throttle<'a> {
    log: &'a dyn SignInLog,
    client: &'a str,
    now: EpochMs,
    window_end: EpochMs,
    what: &'static str,
}

impl<'a> Throttle<'a> {
    pub fn new(log: &'a dyn SignInLog, client: &'a str, now: EpochMs, what: &'static str) -> Self {
        let window_end = (now.get() / SIGN_IN_WINDOW_MS + 1) * SIGN_IN_WINDOW_MS;
        // Past the year 9999 only on a clock that wrong, read as [`EpochMs::at`] reads it.
        let window_end = EpochMs::try_from(window_end).unwrap_or(EpochMs::LATEST);
        Self { log, client, now, window_end, what }
    }

    /// The client's failures so far, or [`Throttled::TooMany`] once they reach the limit.
    pub async fn check(&self) -> Result<u32, Throttled> {
        let failures = self.log.failures(self.client, self.window_end).await?;
        if failures >= SIGN_IN_LIMIT {
            return Err(self.too_many(failures));
        }
        Ok(failures)
    }

    /// Counts a failure; [`Throttled::TooMany`] if the client was already past the limit
    /// (concurrent guesses).
    pub async fn failed(&self) -> Result<(), Throttled> {
        let failures = self.log.count_failure(self.client, self.window_end, self.now).await?;
        if failures > SIGN_IN_LIMIT {
            return Err(self.too_many(failures));
        }
        tracing::warn!(client = self.client, failures, door = self.what, "sign-in failed");
        Ok(())
    }

    /// A success forgets the client's failures (`failures`: what [`check`](Self::check)
    /// found).
    pub async fn succeeded(&self, failures: u32) -> Result<(), StoreError> {
        if failures == 0 {
            return Ok(());
        }
        self.log.forget_failures(self.client, self.window_end).await
    }

    fn too_many(&self, failures: u32) -> Throttled {
        tracing::warn!(client = self.client, failures, door = self.what, "sign-in throttled");
        Throttled::TooMany { wait_secs: self.window_end.since(self.now).as_millis().div_ceil(1000) as u64 }
    }
}

/// How long a session of either door lasts.
pub const SESSION_LENGTH: Duration = Duration::from_secs(12 * 3600);

/// When a session signed at `now` expires (the last time held only on a clock past the
/// year 9999, read as [`EpochMs::at`] reads it).
pub fn session_expiry(now: EpochMs) -> EpochMs {
    now.plus(SESSION_LENGTH).unwrap_or(EpochMs::LATEST)
}

/// A door's session cookie: `HttpOnly`, `SameSite=Strict`, scoped to the door's `path`,
/// `Secure` behind HTTPS.
pub struct SessionCookie {
    pub name: &'static str,
    pub path: &'static str,
}

impl SessionCookie {
    /// The session's value, if the request has one.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(self.name)?.strip_prefix('=').map(str::to_owned))
    }

    /// The `Set-Cookie` that keeps `value` for `max_age`, `Secure` if the request
    /// (`headers`) came over HTTPS.
    pub fn set(&self, value: &str, max_age: Duration, headers: &HeaderMap) -> HeaderValue {
        let https = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes() == b"https");
        let cookie = format!(
            "{}={value}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{}",
            self.name,
            self.path,
            max_age.as_secs(),
            if https { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&cookie).expect("a session value is ASCII")
    }

    /// The `Set-Cookie` that clears the session from the browser.
    pub fn cleared(&self) -> HeaderValue {
        let cookie = format!("{}=; Path={}; Max-Age=0; HttpOnly; SameSite=Strict", self.name, self.path);
        HeaderValue::from_str(&cookie).expect("a cookie name and path are ASCII")
    }
}
