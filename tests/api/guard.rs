//! `serve`'s write guard: a write rate per client address and a free-disk floor.

use grid_tests::TestGrid;
use serde_json::json;

/// Found by an attacker: 5,100 producer registrations a second from one client, and
/// storage written as fast as the machine allowed. With a rate of 1 a second (a burst
/// of 10), the eleventh write at once is refused with 429 and `Retry-After`; reads and
/// another client's writes are not held back.
#[tokio::test]
async fn writes_past_a_clients_rate_get_429_with_retry_after_and_another_client_is_not_held_back() {
    let grid = TestGrid::start_with(&[("GRID_WRITE_RATE_PER_CLIENT", "1")]).await;
    let register = |client: &reqwest::Client, n: u32| {
        client.put(format!("{}/registration/producer-{n:04}", grid.base)).json(&json!({"itemType": "producer"})).send()
    };
    let client = reqwest::Client::new();
    for n in 0..10 {
        assert_eq!(register(&client, n).await.unwrap().status(), 201, "write {n} of the burst");
    }
    let refused = register(&client, 10).await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["message"].as_str().unwrap().contains("faster than the grid allows one client"), "{body}");
    grid.get("/").await.expect(200);

    let other = reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().ok()).build().unwrap();
    assert_eq!(register(&other, 11).await.unwrap().status(), 201, "another address writes");
}

/// Found by an attacker: storage filled the disk at 813 MB in five seconds. Below the
/// floor of free space, writes get 507 and nothing is written; reads still answer.
#[tokio::test]
async fn below_the_disk_floor_writes_get_507_and_nothing_is_written() {
    // A floor no disk here has: every write is below it.
    let grid = TestGrid::start_with(&[("GRID_MIN_FREE_DISK_MB", "1000000000000")]).await;
    let reply = grid.put("/registration/producer-0001", &json!({"itemType": "producer"})).await.expect(507);
    assert!(reply.message().contains("disk is nearly full"), "{}", reply.message());
    grid.send("DELETE", "/storage/producer-0001", None, &[]).await.expect(507);
    grid.get("/storage/producer-0001/c/x").await.expect(404);
    grid.get("/").await.expect(200);
}
