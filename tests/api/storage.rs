//! The storage API: items, contexts, paging and folder deletes.

use grid_tests::TestGrid;
use serde_json::{Value, json};

use crate::register_producer;

const REG: &str = "producer-0001";

async fn grid_with_producer() -> TestGrid {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    grid
}

async fn fill(grid: &TestGrid, context: &str, count: usize) {
    for i in 0..count {
        grid.put(&format!("/storage/{REG}/{context}/item-{i:02}"), &json!({"n": i})).await.expect(200);
    }
}

#[tokio::test]
async fn an_item_stored_by_either_path_reads_back_and_deletes() {
    let grid = grid_with_producer().await;
    let doc = json!({"kWh": 1.25, "meta": {"note": "Süd ☀", "list": [1, null, true]}});
    grid.put(&format!("/storage/item/{REG}/readings/first"), &doc).await.expect(200);
    grid.put(&format!("/storage/{REG}/readings/second"), &json!([1, 2, 3])).await.expect(200);

    assert_eq!(grid.get(&format!("/storage/{REG}/readings/first")).await.expect(200).body["item"], doc);
    assert_eq!(grid.get(&format!("/storage/{REG}/readings/second")).await.expect(200).body["item"], json!([1, 2, 3]));

    grid.delete(&format!("/storage/{REG}/readings/first")).await.expect(200);
    grid.get(&format!("/storage/{REG}/readings/first")).await.expect(404);
    grid.delete(&format!("/storage/{REG}/readings/first")).await.expect(404);
}

#[tokio::test]
async fn storing_again_replaces_the_item_and_keeps_its_exact_text() {
    let grid = grid_with_producer().await;
    grid.put(&format!("/storage/{REG}/c/x"), &json!({"v": 1})).await.expect(200);
    grid.send_bytes("PUT", &format!("/storage/{REG}/c/x"), br#"{"v": 2.50, "z": 1e2}"#.to_vec()).await.expect(200);
    let raw = grid.http.get(format!("{}/storage/{REG}/c/x", grid.base)).send().await.unwrap().text().await.unwrap();
    assert!(raw.contains(r#""item":{"v": 2.50, "z": 1e2}"#), "{raw}");
}

#[tokio::test]
async fn storage_for_an_unknown_registration_is_not_found() {
    let grid = TestGrid::start().await;
    let reply = grid.put("/storage/nobody-0001/c/x", &json!(1)).await.expect(404);
    assert_eq!(reply.message(), "registration nobody-0001 not found");
    grid.get("/storage/nobody-0001/c/x").await.expect(404);
    grid.get("/storage/nobody-0001/c").await.expect(404);
    grid.delete("/storage/nobody-0001/c").await.expect(404);
    grid.delete("/storage/nobody-0001").await.expect(404);
}

#[tokio::test]
async fn a_missing_item_is_not_found() {
    let grid = grid_with_producer().await;
    let reply = grid.get(&format!("/storage/{REG}/c/missing")).await.expect(404);
    assert_eq!(reply.message(), "item c/missing not found");
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_and_store_nothing() {
    let grid = grid_with_producer().await;
    for (body, expected) in [
        (&b""[..], "item is not valid JSON"),
        (b"hello", "item is not valid JSON"),
        (b"{\"a\":1,}", "item is not valid JSON"),
        (b"{\"a\":1} {\"b\":2}", "item is not valid JSON"),
        (b"\xff\xfe\x00", "item is not valid JSON"),
        (b"{\"k\":1,\"k\":2}", "item has the key \"k\" twice"),
    ] {
        let reply = grid.send_bytes("PUT", &format!("/storage/{REG}/c/x"), body.to_vec()).await.expect(400);
        assert!(reply.message().starts_with(expected), "{body:?}: {}", reply.message());
    }
    let listing = grid.get(&format!("/storage/{REG}/c")).await.expect(200);
    assert_eq!(listing.body["totalItems"], 0);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let grid = TestGrid::start_with(&[("GRID_BODY_LIMIT_BYTES", "2048")]).await;
    register_producer(&grid, REG).await;
    let big = json!({"blob": "x".repeat(4096)});
    let reply = grid.put(&format!("/storage/{REG}/c/big"), &big).await.expect(413);
    assert_eq!(reply.message(), "the request body is larger than the grid accepts");
    grid.get(&format!("/storage/{REG}/c/big")).await.expect(404);
    let fits = json!({"blob": "x".repeat(1024)});
    grid.put(&format!("/storage/{REG}/c/fits"), &fits).await.expect(200);
}

#[tokio::test]
async fn the_default_body_limit_is_256_kib() {
    let grid = grid_with_producer().await;
    let just_over = format!("\"{}\"", "x".repeat(256 * 1024));
    grid.send_bytes("PUT", &format!("/storage/{REG}/c/big"), just_over.into_bytes()).await.expect(413);
    let under = format!("\"{}\"", "x".repeat(255 * 1024));
    grid.send_bytes("PUT", &format!("/storage/{REG}/c/ok"), under.into_bytes()).await.expect(200);
}

#[tokio::test]
async fn pages_split_a_context_in_id_order_with_totals() {
    let grid = grid_with_producer().await;
    fill(&grid, "readings", 25).await;
    let page = |n: u64| {
        let path = format!("/storage/{REG}/readings?page={n}&pageSize=10");
        let grid = &grid;
        async move { grid.get(&path).await }
    };

    let first = page(0).await.expect(200).body;
    assert_eq!(
        first["ids"],
        json!([
            "item-00", "item-01", "item-02", "item-03", "item-04", "item-05", "item-06", "item-07", "item-08",
            "item-09"
        ])
    );
    assert_eq!(first["items"][3], json!({"n": 3}));
    assert_eq!(
        (first["totalPages"].clone(), first["totalItems"].clone(), first["pageSize"].clone()),
        (json!(3), json!(25), json!(10))
    );

    let last = page(2).await.expect(200).body;
    assert_eq!(last["ids"], json!(["item-20", "item-21", "item-22", "item-23", "item-24"]));
    assert_eq!(last["items"].as_array().unwrap().len(), 5);

    let past = page(3).await.expect(200).body;
    assert_eq!(past["ids"], json!([]));
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["totalPages"], 3);
    assert_eq!(past["totalItems"], 25);
}

#[tokio::test]
async fn paging_defaults_to_page_zero_of_ten_and_accepts_page_size_with_a_dash() {
    let grid = grid_with_producer().await;
    fill(&grid, "c", 12).await;
    let default = grid.get(&format!("/storage/{REG}/c")).await.expect(200).body;
    assert_eq!((default["page"].clone(), default["pageSize"].clone()), (json!(0), json!(10)));
    assert_eq!(default["ids"].as_array().unwrap().len(), 10);
    let dashed = grid.get(&format!("/storage/{REG}/c?page=1&page-size=5")).await.expect(200).body;
    assert_eq!(dashed["ids"], json!(["item-05", "item-06", "item-07", "item-08", "item-09"]));
    assert_eq!(dashed["totalPages"], 3);
}

#[tokio::test]
async fn an_empty_context_has_no_pages() {
    let grid = grid_with_producer().await;
    let reply = grid.get(&format!("/storage/{REG}/empty")).await.expect(200).body;
    assert_eq!((reply["totalPages"].clone(), reply["totalItems"].clone()), (json!(0), json!(0)));
}

#[tokio::test]
async fn bad_paging_parameters_are_refused_with_400() {
    let grid = grid_with_producer().await;
    for query in [
        "pageSize=0",
        "pageSize=101",
        "pageSize=abc",
        "pageSize=-5",
        "page-size=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "pageSize=10&page-size=20",
        "page=1&page=2",
    ] {
        let reply = grid.get(&format!("/storage/{REG}/c?{query}")).await.expect(400);
        assert!(!reply.message().is_empty(), "{query}");
    }
    let reply = grid.get(&format!("/storage/{REG}/c?pageSize=101")).await.expect(400);
    assert_eq!(reply.message(), "pageSize must be a whole number from 1 to 100, got \"101\"");
    // The boundaries themselves are fine, and agreeing spellings are accepted.
    grid.get(&format!("/storage/{REG}/c?pageSize=1")).await.expect(200);
    grid.get(&format!("/storage/{REG}/c?pageSize=100")).await.expect(200);
    grid.get(&format!("/storage/{REG}/c?pageSize=7&page-size=7")).await.expect(200);
}

#[tokio::test]
async fn deleting_a_context_removes_only_that_context() {
    let grid = grid_with_producer().await;
    fill(&grid, "doomed", 4).await;
    fill(&grid, "kept", 2).await;
    let reply = grid.delete(&format!("/storage/{REG}/doomed")).await.expect(200);
    assert_eq!(reply.body["deleted"], 4);
    assert_eq!(grid.get(&format!("/storage/{REG}/doomed")).await.expect(200).body["totalItems"], 0);
    assert_eq!(grid.get(&format!("/storage/{REG}/kept")).await.expect(200).body["totalItems"], 2);
    assert_eq!(grid.delete(&format!("/storage/{REG}/doomed")).await.expect(200).body["deleted"], 0);
}

#[tokio::test]
async fn deleting_everything_empties_every_context_but_keeps_the_registration() {
    let grid = grid_with_producer().await;
    register_producer(&grid, "producer-0002").await;
    fill(&grid, "a", 3).await;
    fill(&grid, "b", 2).await;
    grid.put("/storage/producer-0002/a/x", &json!(true)).await.expect(200);

    assert_eq!(grid.delete(&format!("/storage/{REG}")).await.expect(200).body["deleted"], 5);
    for context in ["a", "b"] {
        assert_eq!(grid.get(&format!("/storage/{REG}/{context}")).await.expect(200).body["totalItems"], 0);
    }
    grid.put(&format!("/storage/{REG}/a/again"), &json!(1)).await.expect(200);
    assert_eq!(grid.get("/storage/producer-0002/a/x").await.expect(200).body["item"], Value::Bool(true));
}
