//! Serving a router on a TCP socket with the edges a server open to strangers needs
//! (`gridctl serve`, the test grids). On AWS, API Gateway is this edge.
//!
//! - **A bound on open connections** ([`ServerLimits::max_connections`], lowered to what
//!   the open-file limit allows once it is raised to its hard limit): at the bound the
//!   server stops accepting, and further connections wait in the kernel's queue, so no
//!   number of clients can exhaust the process's file descriptors.
//! - **A bound per client address** ([`ServerLimits::max_connections_per_client`], well
//!   under the total): a connection past it is answered 429 and closed at once, so one
//!   client holding silent sockets cannot take the slots everyone else needs.
//! - **A header deadline**: a connection's first request must be complete (its headers)
//!   within [`ServerLimits::header_timeout`] of being accepted, and every later one
//!   within that of its first byte, so neither a silent socket nor a client trickling a
//!   header line a second holds a connection for long.
//! - **An idle deadline**: a kept-alive connection with nothing in flight after a
//!   response is closed after [`ServerLimits::idle_timeout`].
//! - **JSON for hyper's own refusals**: hyper answers a request it cannot parse (a
//!   duplicate `Content-Length`, a header block over its buffer, a malformed line)
//!   itself, with an empty body. Those answers are rewritten on the way out to the
//!   grid's `{"success":false,"message"}`, with their status kept.
//! - **A bounded shutdown**: on `shutdown`, accepting stops, connections finish their
//!   request in flight, and whatever is left after [`ServerLimits::shutdown_grace`] is
//!   dropped.
//!
//! hyper has one timer for both deadlines (`header_read_timeout`, which starts when it
//! begins waiting for a request, idle time included), so both are kept here instead, by
//! watching the socket: [`EdgeIo`] sees the bytes, the service wrapper sees each request
//! start and its response leave the handler. HTTP/1.1 only.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use grid_http::extract::ClientAddress;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The edges of a served socket (the `GRID_*` variables of `GridConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// `GRID_MAX_CONNECTIONS`: connections open at once.
    pub max_connections: usize,
    /// `GRID_MAX_CONNECTIONS_PER_CLIENT`: connections one client address may hold.
    pub max_connections_per_client: usize,
    /// `GRID_HEADER_TIMEOUT_SECS`: from a request's first byte to its last header.
    pub header_timeout: Duration,
    /// `GRID_IDLE_TIMEOUT_SECS`: how long a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// `GRID_SHUTDOWN_GRACE_SECS`: how long a shutdown waits for work in flight.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_client: 64,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish for up to `limits.shutdown_grace`.
pub async fn serve(listener: TcpListener, app: Router, limits: ServerLimits, shutdown: impl Future<Output = ()>) {
    let total = connections_allowed(limits.max_connections);
    let permits = Arc::new(Semaphore::new(total));
    let clients = Clients::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our own deadlines (above) replace hyper's single timer.
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(None);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted:
                    // nothing to answer; wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Counted by client as the write guard counts (an IPv6 peer by its /64).
        let client = ClientAddress::client_of(peer.ip());
        let Some(held) = clients.admit(client, limits.max_connections_per_client) else {
            tracing::warn!(%client, "connection refused: the client holds its limit");
            // Best effort: the socket is new, so its buffer takes the short answer.
            let _ = stream.try_write(&too_many_connections());
            continue;
        };
        let _ = stream.set_nodelay(true);
        let phase: Watch = Arc::new(Mutex::new(Shared { phase: Phase::Opened(Instant::now()), reader: None }));
        let io = TokioIo::new(EdgeIo::new(stream, phase.clone(), limits));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            set(&phase, Phase::Busy);
            // Who is asking, for throttling (the portal's sign-in).
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let (phase, answer) = (phase.clone(), app.clone().oneshot(request.map(Body::new)));
            async move {
                let response = answer.await;
                set(&phase, Phase::Responded(Instant::now()));
                response
            }
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop((permit, held));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "requests still in flight at the end of the shutdown grace; dropped");
    }
}

/// How many connections the process can hold: `configured`, or fewer if the open-file
/// limit (raised to its hard limit first) leaves less room; 64 descriptors are kept for
/// the store, logs and outgoing calls.
fn connections_allowed(configured: usize) -> usize {
    const RESERVED: u64 = 64;
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
        limit = getrlimit(Resource::Nofile);
    }
    let room = limit.current.map_or(usize::MAX, |n| usize::try_from(n.saturating_sub(RESERVED)).unwrap_or(usize::MAX));
    if room < configured {
        tracing::warn!(configured, allowed = room, "GRID_MAX_CONNECTIONS lowered to what the open-file limit allows");
    }
    configured.min(room).max(1)
}

/// Connections held per client address.
#[derive(Clone, Default)]
struct Clients(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection of a client, counted until it is dropped.
struct Held {
    clients: Clients,
    client: IpAddr,
}

impl Clients {
    /// Counts a connection of `client`, unless it already holds `limit`.
    fn admit(&self, client: IpAddr, limit: usize) -> Option<Held> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(client).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Held { clients: self.clone(), client })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// The answer on a connection past its client's limit.
fn too_many_connections() -> Vec<u8> {
    let message = "this address holds as many connections as the grid allows one client; reuse or close one";
    answer(StatusCode::TOO_MANY_REQUESTS, message, "retry-after: 1\r\n")
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted at this instant; nothing read yet. Its first request has the header
    /// deadline from here.
    Opened(Instant),
    /// A request's first byte came at this instant; its headers are not complete.
    Head(Instant),
    /// The handler has the request.
    Busy,
    /// The handler answered; hyper writes the response, last written at this instant.
    Responded(Instant),
}

/// A connection's phase, shared by its socket and its service, and the reader to wake
/// when a deadline starts: hyper polls the socket while the handler works and then
/// waits for the socket, so without a wake-up it would never see the idle deadline.
#[derive(Debug)]
struct Shared {
    phase: Phase,
    reader: Option<Waker>,
}

type Watch = Arc<Mutex<Shared>>;

fn lock(watch: &Watch) -> std::sync::MutexGuard<'_, Shared> {
    watch.lock().unwrap_or_else(|p| p.into_inner())
}

fn set(watch: &Watch, to: Phase) {
    let mut shared = lock(watch);
    shared.phase = to;
    if let Some(reader) = shared.reader.take() {
        reader.wake();
    }
}

/// The socket, watched: deadlines on reads, hyper's automatic refusals rewritten.
struct EdgeIo {
    inner: TcpStream,
    phase: Watch,
    limits: ServerLimits,
    deadline: Pin<Box<Sleep>>,
    /// hyper's own refusal, rewritten: the bytes to send in its place and how many went.
    rewrite: Option<(Vec<u8>, usize)>,
}

impl EdgeIo {
    fn new(inner: TcpStream, phase: Watch, limits: ServerLimits) -> Self {
        Self { inner, phase, limits, deadline: Box::pin(tokio::time::sleep(limits.header_timeout)), rewrite: None }
    }

    fn phase(&self) -> Phase {
        lock(&self.phase).phase
    }

    /// When the current wait ends the connection, if it may end it; while the handler
    /// works there is none, and the reader is woken when it answers.
    fn deadline(&self, reader: &Waker) -> Option<(Instant, &'static str)> {
        let mut shared = lock(&self.phase);
        match shared.phase {
            Phase::Opened(since) => Some((since + self.limits.header_timeout, "no request within the header deadline")),
            Phase::Responded(since) => Some((since + self.limits.idle_timeout, "idle")),
            Phase::Head(since) => Some((since + self.limits.header_timeout, "headers not complete")),
            Phase::Busy => {
                shared.reader = Some(reader.clone());
                None
            }
        }
    }
}

impl AsyncRead for EdgeIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut shared = lock(&self.phase);
                    if matches!(shared.phase, Phase::Opened(_) | Phase::Responded(_)) {
                        shared.phase = Phase::Head(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((at, why)) = self.deadline(cx.waker()) else { return Poll::Pending };
                let this = &mut *self;
                this.deadline.as_mut().reset(at);
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("connection closed: {why}"))))
            }
        }
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // A response while no handler had the request is hyper's own refusal.
        if this.rewrite.is_none()
            && matches!(this.phase(), Phase::Opened(_) | Phase::Head(_))
            && buf.starts_with(b"HTTP/1.")
        {
            this.rewrite = Some((refusal(buf), 0));
        }
        if let Some((bytes, sent)) = &mut this.rewrite {
            while *sent < bytes.len() {
                *sent += ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*sent..]))?;
            }
            // What hyper meant to send is replaced, and it closes the connection next.
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        let mut shared = lock(&this.phase);
        if let Phase::Responded(_) = shared.phase {
            shared.phase = Phase::Responded(Instant::now());
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The grid's JSON answer in place of hyper's empty one, with hyper's status.
fn refusal(head: &[u8]) -> Vec<u8> {
    let code = head.get(9..12).and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.parse::<u16>().ok());
    let status = code.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::BAD_REQUEST);
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request's headers are larger than the grid accepts",
        StatusCode::URI_TOO_LONG => "the request's URI is longer than the grid accepts",
        _ => "the request is not valid HTTP/1.1: a malformed request line or header, or a repeated Content-Length",
    };
    answer(status, message, "")
}

/// The grid's JSON refusal written straight to a socket, before or instead of hyper:
/// `status`, `message`, any `extra` header lines, and the connection closed after it.
fn answer(status: StatusCode, message: &str, extra: &str) -> Vec<u8> {
    let body = serde_json::json!({"success": false, "message": message}).to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-content-type-options: nosniff\r\n{extra}connection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}
