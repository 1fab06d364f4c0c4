//! What `gridctl serve` checks before any write: a rate per client address
//! and a floor of free disk.
//!
//! On AWS, API Gateway's throttles and the WAF stand here (docs/deploy.md); a process
//! of its own has neither, so without these one client could write as fast as the
//! machine allows (5,100 registrations a second) until the disk is full. Reads are not
//! counted: they cost no disk, and the connection limits bound them.
//!
//! - **Rate**: a token bucket per client address (`GRID_WRITE_RATE_PER_CLIENT` writes a
//!   second, a burst of ten seconds' worth), [`governor`]'s; past it, 429 with
//!   `Retry-After`.
//! - **Disk**: below `GRID_MIN_FREE_DISK_MB` free in the data directory, writes get 507
//!   until space is freed. The free space is read at most once a second.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use grid_http::extract::ClientAddress;
use grid_http::{Ack, Refusal};

use crate::config::WriteLimits;

/// The guard's state, shared by every request.
#[derive(Clone)]
pub struct WriteGuard(Arc<Parts>);

struct Parts {
    limits: WriteLimits,
    rate: DefaultKeyedRateLimiter<Option<IpAddr>>,
    clock: DefaultClock,
    started: Instant,
    /// Whether the disk was below its floor when last looked at, and when that was
    /// (milliseconds after `started`, plus one: 0 is never).
    full: AtomicBool,
    looked_at: AtomicU64,
}

/// How many client addresses the rate remembers before forgetting the idle ones.
const REMEMBERED: usize = 100_000;

impl WriteGuard {
    pub fn new(limits: WriteLimits) -> Self {
        let burst = limits.rate_per_client.saturating_mul(NonZeroU32::new(10).expect("ten is not zero"));
        let quota = Quota::per_second(limits.rate_per_client).allow_burst(burst);
        Self(Arc::new(Parts {
            limits,
            rate: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            started: Instant::now(),
            full: AtomicBool::new(false),
            looked_at: AtomicU64::new(0),
        }))
    }

    /// Whether the data directory is below its floor, looked at once a second at most.
    fn disk_full(&self) -> bool {
        let parts = &self.0;
        let Some(dir) = &parts.limits.data_dir else { return false };
        if parts.limits.min_free_disk_mb == 0 {
            return false;
        }
        let now = parts.started.elapsed().as_millis() as u64 + 1;
        let looked_at = parts.looked_at.load(Ordering::Relaxed);
        let due = looked_at == 0 || now.saturating_sub(looked_at) >= 1_000;
        // One request looks; the others go by what it saw last.
        if due && parts.looked_at.compare_exchange(looked_at, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let full = match rustix::fs::statvfs(dir) {
                Ok(stat) => stat.f_bavail.saturating_mul(stat.f_frsize) / (1024 * 1024) < parts.limits.min_free_disk_mb,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot read the data directory's free space");
                    false
                }
            };
            parts.full.store(full, Ordering::Relaxed);
        }
        parts.full.load(Ordering::Relaxed)
    }
}

/// Lets reads through; a write only within its client's rate and above the disk floor.
pub async fn guard(State(guard): State<WriteGuard>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    // The address itself, not its text: no allocation on a write's way.
    let client = ClientAddress::ip(request.extensions());
    let parts = &guard.0;
    if parts.rate.len() > REMEMBERED {
        parts.rate.retain_recent();
    }
    if let Err(not_until) = parts.rate.check_key(&client) {
        let wait = not_until.wait_time_from(parts.clock.now()).max(Duration::from_millis(1));
        let secs = wait.as_secs_f64().ceil() as u64;
        tracing::warn!(client = ?client, "write refused: the client's write rate");
        let message = format!(
            "this address writes faster than the grid allows one client ({} a second); retry in {secs} s",
            parts.limits.rate_per_client
        );
        let mut response = Refusal::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    if guard.disk_full() {
        tracing::error!(floor_mb = parts.limits.min_free_disk_mb, "write refused: the data directory is nearly full");
        // Said as it is (a 5xx refusal would be answered with a generic message): the
        // client did nothing wrong and should retry later.
        let message = "the grid's disk is nearly full; writes are refused until the operator frees space".to_owned();
        return (StatusCode::INSUFFICIENT_STORAGE, Json(Ack { success: false, message })).into_response();
    }
    next.run(request).await
}
