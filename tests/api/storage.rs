//! The storage API: items, contexts, paging and folder deletes.

use grid_tests::TestGrid;
use serde_json::{Value, json};

use grid_tests::Reply;

use crate::{SIDE_KEY, register_producer};

const REG: &str = "producer-0001";
/// Writes and deletes carry the registration's side key (`register_producer` gives
/// every producer `SIDE_KEY`); reads need none.
const OWNER: [(&str, &str); 1] = [("X-Side-Key", SIDE_KEY)];

async fn put(grid: &TestGrid, path: &str, body: &Value) -> Reply {
    grid.send("PUT", path, Some(body), &OWNER).await
}

async fn put_bytes(grid: &TestGrid, path: &str, body: Vec<u8>) -> Reply {
    grid.send_bytes_with("PUT", path, body, &OWNER).await
}

async fn delete(grid: &TestGrid, path: &str) -> Reply {
    grid.send("DELETE", path, None, &OWNER).await
}

async fn grid_with_producer() -> TestGrid {
    let grid = TestGrid::start().await;
    register_producer(&grid, REG).await;
    grid
}

async fn fill(grid: &TestGrid, context: &str, count: usize) {
    for i in 0..count {
        put(grid, &format!("/storage/{REG}/{context}/item-{i:02}"), &json!({"n": i})).await.expect(200);
    }
}

#[tokio::test]
async fn an_item_stored_by_either_path_reads_back_and_deletes() {
    let grid = grid_with_producer().await;
    let doc = json!({"kWh": 1.25, "meta": {"note": "Süd ☀", "list": [1, null, true]}});
    put(&grid, &format!("/storage/item/{REG}/readings/first"), &doc).await.expect(200);
    put(&grid, &format!("/storage/{REG}/readings/second"), &json!([1, 2, 3])).await.expect(200);

    assert_eq!(grid.get(&format!("/storage/{REG}/readings/first")).await.expect(200).body["item"], doc);
    assert_eq!(grid.get(&format!("/storage/{REG}/readings/second")).await.expect(200).body["item"], json!([1, 2, 3]));

    delete(&grid, &format!("/storage/{REG}/readings/first")).await.expect(200);
    grid.get(&format!("/storage/{REG}/readings/first")).await.expect(404);
    delete(&grid, &format!("/storage/{REG}/readings/first")).await.expect(404);
}

#[tokio::test]
async fn storing_again_replaces_the_item_and_keeps_its_exact_text() {
    let grid = grid_with_producer().await;
    put(&grid, &format!("/storage/{REG}/c/x"), &json!({"v": 1})).await.expect(200);
    put_bytes(&grid, &format!("/storage/{REG}/c/x"), br#"{"v": 2.50, "z": 1e2}"#.to_vec()).await.expect(200);
    let raw = grid.http.get(format!("{}/storage/{REG}/c/x", grid.base)).send().await.unwrap().text().await.unwrap();
    assert!(raw.contains(r#""item":{"v": 2.50, "z": 1e2}"#), "{raw}");
}

#[tokio::test]
async fn storage_for_an_unknown_registration_is_not_found() {
    let grid = TestGrid::start().await;
    let reply = put(&grid, "/storage/nobody-0001/c/x", &json!(1)).await.expect(404);
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
        let reply = put_bytes(&grid, &format!("/storage/{REG}/c/x"), body.to_vec()).await.expect(400);
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
    let reply = put(&grid, &format!("/storage/{REG}/c/big"), &big).await.expect(413);
    assert_eq!(reply.message(), "the request body is larger than the grid accepts");
    grid.get(&format!("/storage/{REG}/c/big")).await.expect(404);
    let fits = json!({"blob": "x".repeat(1024)});
    put(&grid, &format!("/storage/{REG}/c/fits"), &fits).await.expect(200);
}

#[tokio::test]
async fn the_default_body_limit_is_256_kib() {
    let grid = grid_with_producer().await;
    let just_over = format!("\"{}\"", "x".repeat(256 * 1024));
    put_bytes(&grid, &format!("/storage/{REG}/c/big"), just_over.into_bytes()).await.expect(413);
    let under = format!("\"{}\"", "x".repeat(255 * 1024));
    put_bytes(&grid, &format!("/storage/{REG}/c/ok"), under.into_bytes()).await.expect(200);
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
    let reply = delete(&grid, &format!("/storage/{REG}/doomed")).await.expect(200);
    assert_eq!(reply.body["deleted"], 4);
    assert_eq!(grid.get(&format!("/storage/{REG}/doomed")).await.expect(200).body["totalItems"], 0);
    assert_eq!(grid.get(&format!("/storage/{REG}/kept")).await.expect(200).body["totalItems"], 2);
    assert_eq!(delete(&grid, &format!("/storage/{REG}/doomed")).await.expect(200).body["deleted"], 0);
}

#[tokio::test]
async fn deleting_everything_empties_every_context_but_keeps_the_registration() {
    let grid = grid_with_producer().await;
    register_producer(&grid, "producer-0002").await;
    fill(&grid, "a", 3).await;
    fill(&grid, "b", 2).await;
    put(&grid, "/storage/producer-0002/a/x", &json!(true)).await.expect(200);

    assert_eq!(delete(&grid, &format!("/storage/{REG}")).await.expect(200).body["deleted"], 5);
    for context in ["a", "b"] {
        assert_eq!(grid.get(&format!("/storage/{REG}/{context}")).await.expect(200).body["totalItems"], 0);
    }
    put(&grid, &format!("/storage/{REG}/a/again"), &json!(1)).await.expect(200);
    assert_eq!(grid.get("/storage/producer-0002/a/x").await.expect(200).body["item"], Value::Bool(true));
}

/// The issue's finding: anyone could overwrite or wipe any registration's items.
#[tokio::test]
async fn writing_or_deleting_a_protected_registrations_items_needs_its_side_key() {
    let grid = grid_with_producer().await;
    put(&grid, &format!("/storage/{REG}/notes/a"), &json!({"mine": true})).await.expect(200);
    let stranger = [("X-Side-Key", crate::OTHER_KEY)];
    let attempts: [(&str, String, Option<Value>); 6] = [
        ("PUT", format!("/storage/{REG}/notes/a"), Some(json!({"mine": false}))),
        ("PUT", format!("/storage/item/{REG}/notes/b"), Some(json!(1))),
        ("DELETE", format!("/storage/{REG}/notes/a"), None),
        ("DELETE", format!("/storage/{REG}/notes"), None),
        ("DELETE", format!("/storage/{REG}"), None),
        ("DELETE", format!("/storage/{REG}/"), None),
    ];
    for (method, path, body) in &attempts {
        let without = grid.send(method, path, body.as_ref(), &[]).await.expect(401);
        assert!(without.message().contains("X-Side-Key"), "{method} {path}: {}", without.message());
        let wrong = grid.send(method, path, body.as_ref(), &stranger).await.expect(403);
        assert_eq!(wrong.message(), "the side key does not match this registration", "{method} {path}");
    }
    // Nothing changed, and reads stay open to everyone, as the seed has them.
    assert_eq!(grid.get(&format!("/storage/{REG}/notes/a")).await.expect(200).body["item"], json!({"mine": true}));
    assert_eq!(grid.get(&format!("/storage/{REG}/notes")).await.expect(200).body["totalItems"], 1);
}

#[tokio::test]
async fn open_storage_lets_anyone_write_a_registration_without_a_channel_and_nothing_else() {
    let grid = TestGrid::start_with(&[("GRID_OPEN_STORAGE", "true")]).await;
    grid.put("/registration/producer-open", &json!({"itemType": "producer"})).await.expect(201);
    grid.put("/storage/producer-open/c/x", &json!(1)).await.expect(200);
    grid.delete("/storage/producer-open/c/x").await.expect(200);
    // The registration itself stays keyed, and so does storage of one with a channel.
    grid.put("/registration/producer-open", &json!({"itemType": "producer", "itemName": "Mine"})).await.expect(401);
    register_producer(&grid, REG).await;
    grid.put(&format!("/storage/{REG}/c/x"), &json!(1)).await.expect(401);
}

#[tokio::test]
async fn without_open_storage_a_registration_without_a_channel_needs_its_management_key() {
    let grid = TestGrid::start().await;
    let made = grid.put("/registration/producer-open", &json!({"itemType": "producer"})).await.expect(201);
    let key = made.body["sideKey"].as_str().unwrap().to_owned();
    grid.put("/storage/producer-open/c/x", &json!(1)).await.expect(401);
    grid.send("PUT", "/storage/producer-open/c/x", Some(&json!(1)), &[("X-Side-Key", &key)]).await.expect(200);
}

/// The seed's `:context?`: with the context omitted, every context's items, ids
/// `context/id`, in the order S3 lists keys.
#[tokio::test]
async fn listing_without_a_context_lists_every_context() {
    let grid = grid_with_producer().await;
    fill(&grid, "b", 2).await;
    fill(&grid, "a", 1).await;
    for path in [format!("/storage/{REG}"), format!("/storage/{REG}/")] {
        let reply = grid.get(&path).await.expect(200);
        assert_eq!(reply.body["ids"], json!(["a/item-00", "b/item-00", "b/item-01"]), "{path}");
        assert_eq!(reply.body["items"], json!([{"n": 0}, {"n": 0}, {"n": 1}]));
        assert_eq!(reply.body["totalItems"], 3);
        assert_eq!(reply.message(), "3 of 3 items");
    }
    let second = grid.get(&format!("/storage/{REG}?page=1&pageSize=2")).await.expect(200);
    assert_eq!(second.body["ids"], json!(["b/item-01"]));
    grid.get("/storage/nobody-0001").await.expect(404);
}

/// The seed's own example is `DELETE /storage/ABC123/`: a trailing slash names the
/// same folder.
#[tokio::test]
async fn a_trailing_slash_names_the_same_folder() {
    let grid = grid_with_producer().await;
    fill(&grid, "c", 2).await;
    assert_eq!(grid.get(&format!("/storage/{REG}/c/")).await.expect(200).body["totalItems"], 2);
    let one = delete(&grid, &format!("/storage/{REG}/c/")).await.expect(200);
    assert_eq!(one.message(), "2 items of c deleted");
    fill(&grid, "c", 1).await;
    let all = delete(&grid, &format!("/storage/{REG}/")).await.expect(200);
    assert_eq!((all.message(), all.body["deleted"].clone()), ("1 item deleted", json!(1)));
    // The seed's example id is too short for a registration here: a clear 400, not "no route".
    let seed = grid.delete("/storage/ABC123/").await.expect(400);
    assert!(seed.message().contains("registration id is 6 characters long"), "{}", seed.message());
}

/// Found by an attacker: 3,508 items in one registration and 813 MB in five seconds; no
/// quota anywhere.
#[tokio::test]
async fn a_registration_past_its_storage_quota_is_refused_with_413_and_keeps_what_it_had() {
    let grid = TestGrid::start_with(&[("GRID_STORAGE_QUOTA_ITEMS", "3"), ("GRID_STORAGE_QUOTA_BYTES", "4096")]).await;
    register_producer(&grid, REG).await;
    fill(&grid, "c", 3).await;
    let refused = put(&grid, &format!("/storage/{REG}/c/item-03"), &json!(1)).await.expect(413);
    assert!(refused.message().contains("at most 3"), "{}", refused.message());
    grid.get(&format!("/storage/{REG}/c/item-03")).await.expect(404);
    // Replacing an item is within the quota; a body past the bytes is not.
    put(&grid, &format!("/storage/{REG}/c/item-00"), &json!({"n": "zero"})).await.expect(200);
    let big = json!("x".repeat(4090));
    let too_big = put(&grid, &format!("/storage/{REG}/c/item-01"), &big).await.expect(413);
    assert!(too_big.message().contains("quota of 4096"), "{}", too_big.message());
    assert_eq!(grid.get(&format!("/storage/{REG}/c/item-01")).await.expect(200).body["item"], json!({"n": 1}));
    // Deleting makes room.
    delete(&grid, &format!("/storage/{REG}/c/item-02")).await.expect(200);
    put(&grid, &format!("/storage/{REG}/c/item-03"), &json!(3)).await.expect(200);
}
