//! The edges of the served socket: what hyper refuses by itself comes back as the grid's
//! JSON, headers have a deadline, idle connections are closed, and no number of idle
//! connections keeps an ordinary request out.

use std::time::Duration;

use grid_tests::{TestGrid, parse_raw_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `raw` and reads the answer to the end (the server closes after a refusal).
async fn exchange(grid: &TestGrid, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(grid.addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    answer
}

fn assert_json_refusal(raw: &[u8], status: u16, says: &str) {
    let text = String::from_utf8_lossy(raw);
    assert!(text.to_ascii_lowercase().contains("content-type: application/json"), "{text}");
    let reply = parse_raw_response(raw);
    assert_eq!(reply.status, status, "{text}");
    assert_eq!(reply.body["success"], false, "{text}");
    assert!(reply.message().contains(says), "{text}");
}

#[tokio::test]
async fn a_header_block_over_the_limit_is_a_431_in_json_and_the_grid_keeps_serving() {
    let grid = TestGrid::start().await;
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n", "a".repeat(1024 * 1024));
    assert_json_refusal(&exchange(&grid, raw.as_bytes()).await, 431, "headers are larger than the grid accepts");
    grid.get("/").await.expect(200);
}

#[tokio::test]
async fn a_repeated_content_length_is_a_400_in_json() {
    let grid = TestGrid::start().await;
    let raw =
        b"PUT /registration/consumer-0001 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    assert_json_refusal(&exchange(&grid, raw).await, 400, "not valid HTTP/1.1");
    let garbage = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n";
    assert_json_refusal(&exchange(&grid, garbage).await, 400, "not valid HTTP/1.1");
    grid.get("/").await.expect(200);
}

/// The finding: one header line a second for 60 s was still answered.
#[tokio::test]
async fn a_client_trickling_header_lines_is_cut_off_at_the_header_deadline() {
    let grid = TestGrid::start_with(&[("GRID_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut stream = TcpStream::connect(grid.addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut cut_off_after = None;
    for line in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if stream.write_all(format!("X-Line-{line}: still coming\r\n").as_bytes()).await.is_err() {
            cut_off_after = Some(line);
            break;
        }
        // A closed connection shows as EOF to a read before a write fails.
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await {
            cut_off_after = Some(line);
            break;
        }
    }
    assert!(cut_off_after.is_some(), "40 header lines over 10 s were all taken");
    grid.get("/").await.expect(200);
}

#[tokio::test]
async fn a_connection_with_nothing_to_ask_is_closed_after_its_deadline() {
    let grid = TestGrid::start_with(&[("GRID_IDLE_TIMEOUT_SECS", "1"), ("GRID_HEADER_TIMEOUT_SECS", "1")]).await;
    // Opened and silent (the header deadline); then one request and silence on the
    // kept-alive connection (the idle deadline).
    for first in [&b""[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"] {
        let mut stream = TcpStream::connect(grid.addr).await.unwrap();
        stream.write_all(first).await.unwrap();
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(
            closed.is_ok(),
            "the idle connection was kept past its deadline ({first:?}): {}",
            String::from_utf8_lossy(&answer)
        );
        if !first.is_empty() {
            assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "the request itself was answered");
        }
    }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// The finding: ~20,000 idle connections exhausted the descriptors and ordinary
/// requests timed out. Here the grid holds at most `GRID_MAX_CONNECTIONS` of them (the
/// rest wait in the kernel's queue) and the ordinary request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_connections_neither_exhaust_descriptors_nor_keep_a_request_out() {
    const IDLE: usize = 300;
    let grid = TestGrid::start_with(&[
        ("GRID_MAX_CONNECTIONS", "32"),
        ("GRID_IDLE_TIMEOUT_SECS", "1"),
        ("GRID_HEADER_TIMEOUT_SECS", "1"),
    ])
    .await;
    grid.get("/").await.expect(200);
    let before = open_descriptors();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(grid.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // This process holds both ends: the idle clients' sockets and the grid's accepted ones.
    let held_by_grid = open_descriptors().saturating_sub(before + IDLE);
    assert!(held_by_grid <= 32 + 8, "the grid holds {held_by_grid} connections; its bound is 32");

    let fresh = reqwest::Client::new();
    let answered = tokio::time::timeout(Duration::from_secs(60), fresh.get(format!("{}/", grid.base)).send()).await;
    let status = answered.expect("answered while the idle connections are held").unwrap().status();
    assert_eq!(status, 200);
    drop(idle);
}

/// Found by an attacker: a silent connection was closed only by the 60 s idle deadline,
/// not the 10 s header deadline.
#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_at_the_header_deadline() {
    let grid = TestGrid::start_with(&[("GRID_HEADER_TIMEOUT_SECS", "1"), ("GRID_IDLE_TIMEOUT_SECS", "3600")]).await;
    let mut stream = TcpStream::connect(grid.addr).await.unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "a silent connection was held past the header deadline");
}

/// Connects to `grid` from `local` (another loopback address: another client).
async fn connect_from(grid: &TestGrid, local: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(grid.addr).await.unwrap()
}

/// Found by an attacker: one client with ~600 silent sockets held all 512 connection
/// slots. Here one address holds at most its own limit, what it opens past that is
/// answered 429 and closed, and another address is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holding_silent_sockets_past_its_limit_never_delays_another_client() {
    let grid = TestGrid::start_with(&[
        ("GRID_MAX_CONNECTIONS", "16"),
        ("GRID_MAX_CONNECTIONS_PER_CLIENT", "4"),
        ("GRID_HEADER_TIMEOUT_SECS", "300"),
    ])
    .await;
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(connect_from(&grid, "127.0.0.2").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = 0;
    for stream in &mut silent {
        let mut answer = Vec::new();
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(50), stream.read_to_end(&mut answer)).await {
            let reply = parse_raw_response(&answer);
            assert_eq!(reply.status, 429, "{}", String::from_utf8_lossy(&answer));
            assert!(reply.message().contains("as many connections as the grid allows one client"));
            refused += 1;
        }
    }
    assert_eq!(refused, 36, "all but the client's 4 were refused");

    let mut other = connect_from(&grid, "127.0.0.3").await;
    other.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), other.read_to_end(&mut answer))
        .await
        .expect("another client is answered at once")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}
