//! Hostile paths and headers: traversal, encodings, control bytes, oversized ids.
//!
//! These requests are written raw to the socket, because an HTTP client would
//! normalise `..` and `%2e%2e` away before sending.

use grid_tests::TestGrid;
use serde_json::json;

use crate::{SIDE_KEY, register_producer};

const REG: &str = "producer-0001";

#[tokio::test]
async fn path_traversal_attempts_in_storage_paths_are_refused_with_400() {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    grid.send("PUT", &format!("/storage/{REG}/c/x"), Some(&json!(1)), &[("X-Side-Key", SIDE_KEY)]).await.expect(200);
    for path in [
        format!("/storage/{REG}/../x"),
        format!("/storage/{REG}/c/.."),
        format!("/storage/{REG}/./x"),
        format!("/storage/{REG}/%2e%2e/x"),
        format!("/storage/{REG}/%2E%2E/x"),
        format!("/storage/{REG}/c/..%2f..%2fetc%2fpasswd"),
        format!("/storage/{REG}/c%2f..%2f/x"),
        format!("/storage/{REG}/c/%00"),
        format!("/storage/{REG}/c/a%5Cb"),
        "/storage/..%2f..%2ftmp/c/x".to_owned(),
    ] {
        let reply = grid.raw(&format!("GET {path} HTTP/1.1"), b"").await;
        assert_eq!(reply.status, 400, "GET {path}: {}", reply.body);
        assert_eq!(reply.body["success"], false);
        let put = grid.raw(&format!("PUT {path} HTTP/1.1"), b"{}").await;
        assert_eq!(put.status, 400, "PUT {path}: {}", put.body);
    }
}

#[tokio::test]
async fn unicode_tricks_in_ids_are_refused() {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    for id in [
        "%D0%B0dmin-0001",     // Cyrillic 'а'
        "a%E2%80%AEb-000001",  // right-to-left override
        "a%EF%BC%8E%EF%BC%8E", // fullwidth dots
        "e%CC%81-00000001",    // combining accent
        "%FF%FE-bad-utf8",     // not UTF-8 at all
    ] {
        let reply = grid.raw(&format!("PUT /storage/{REG}/c/{id} HTTP/1.1"), b"1").await;
        assert_eq!(reply.status, 400, "{id}: {}", reply.body);
        let reply = grid.raw(&format!("PUT /registration/{id} HTTP/1.1"), br#"{"itemType":"consumer"}"#).await;
        assert_eq!(reply.status, 400, "{id}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_10_kb_id_is_refused_without_echoing_it() {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    let huge = "a".repeat(10 * 1024);
    let reply = grid.raw(&format!("GET /storage/{REG}/c/{huge} HTTP/1.1"), b"").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["message"].as_str().unwrap().len() < 200, "{}", reply.body);
}

#[tokio::test]
async fn a_side_key_header_that_is_not_ascii_is_a_bad_request() {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    // The extra header rides on the request line; `é` goes out as raw UTF-8 bytes.
    let head = format!("PUT /registration/{REG} HTTP/1.1\r\nX-Side-Key: {SIDE_KEY}\u{e9}");
    let reply = grid.raw(&head, br#"{"itemType":"producer"}"#).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["message"], "the X-Side-Key header is not printable ASCII");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_with_400() {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let reply = grid.send_bytes("PUT", &format!("/storage/{REG}/c/deep"), deep.into_bytes()).await.expect(400);
    assert!(reply.message().contains("recursion limit"), "{}", reply.message());
    let deep_registration =
        format!("{{\"itemType\":\"producer\",\"itemName\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    grid.send_bytes("PUT", "/registration/producer-0002", deep_registration.into_bytes()).await.expect(400);
}

#[tokio::test]
async fn a_body_trickled_slower_than_the_request_timeout_is_cut_off_with_408_and_stores_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let grid = TestGrid::start_with(&[("GRID_REQUEST_TIMEOUT_SECS", "1")]).await;
    register_producer(&grid, REG).await;
    let mut slow = tokio::net::TcpStream::connect(grid.addr).await.unwrap();
    let head = format!(
        "PUT /storage/{REG}/c/slow HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        grid.addr
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(b"{\"a\":").await.unwrap();
    // The rest never comes; meanwhile the grid serves others.
    grid.get(&format!("/storage/{REG}/c/x")).await.expect(404);
    let mut reply = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the slow request was not cut off");
    let reply = grid_tests::parse_raw_response(&reply);
    assert_eq!(reply.status, 408, "{}", reply.body);
    assert!(reply.message().contains("longer than 1 s"), "{}", reply.body);
    grid.get(&format!("/storage/{REG}/c/slow")).await.expect(404);
}

#[tokio::test]
async fn a_registration_body_with_a_duplicate_key_is_refused_with_400() {
    let grid = TestGrid::start().await;
    let body = br#"{"itemType":"consumer","itemType":"producer"}"#.to_vec();
    let reply = grid.send_bytes("PUT", "/registration/consumer-0009", body).await.expect(400);
    assert!(reply.message().contains("duplicate field"), "{}", reply.message());
    // Nothing was registered: the first valid registration creates it.
    grid.put("/registration/consumer-0009", &json!({"itemType": "consumer"})).await.expect(201);
}
