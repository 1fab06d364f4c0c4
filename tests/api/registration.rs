//! `PUT /registration/{id}` and `DELETE /registration/{id}/{sideKey}`.

use grid_tests::TestGrid;
use serde_json::json;

use crate::{OTHER_KEY, SIDE_KEY, other_channel, own_channel, producer, register_producer};

#[tokio::test]
async fn registering_a_producer_answers_201_and_repeating_it_answers_200() {
    let grid = TestGrid::start().await;
    grid.open_channel(&own_channel()).await;
    let first = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(201);
    assert_eq!(first.message(), "producer producer-0001 registered");
    // The same request again carries the same side key, which proves it is the owner.
    let again = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(200);
    assert_eq!(again.message(), "producer producer-0001 updated");
}

#[tokio::test]
async fn registering_a_consumer_without_a_channel_succeeds() {
    let grid = TestGrid::start().await;
    let reply = grid.put("/registration/consumer-0001", &json!({"itemType": "consumer"})).await.expect(201);
    assert_eq!(reply.message(), "consumer consumer-0001 registered");
}

#[tokio::test]
async fn malformed_registration_bodies_are_refused_with_what_was_wrong() {
    let grid = TestGrid::start().await;
    let root = own_channel().root().to_string();
    let root = root.as_str();
    let cases = [
        (json!({}), "itemType"),
        (json!({"itemType": "battery"}), "itemType must be \"producer\", \"consumer\" or \"prosumer\""),
        (json!({"itemType": 5}), "invalid type"),
        (json!({"itemType": "producer", "root": root}), "root and sideKey must be given together"),
        (json!({"itemType": "producer", "sideKey": SIDE_KEY}), "root and sideKey must be given together"),
        (json!({"itemType": "producer", "root": "abc", "sideKey": SIDE_KEY}), "channel root is 3 characters long"),
        (json!({"itemType": "producer", "root": root, "sideKey": "short"}), "side key is 5 characters long"),
        (json!({"itemType": "producer", "root": root, "sideKey": "with-a-dash-0123456"}), "side key contains '-'"),
        (json!({"itemType": "producer", "itemName": "a\u{0007}b"}), "itemName contains the control character"),
        (json!({"itemType": "producer", "itemName": "x".repeat(201)}), "itemName is 201 characters long"),
        (json!([1, 2]), "it must be a JSON object"),
        // serde fills a struct from an array of its fields; nobody means that.
        (json!([null, "producer", null, null]), "it must be a JSON object"),
        (json!("producer"), "it must be a JSON object"),
    ];
    for (body, expected) in cases {
        let reply = grid.put("/registration/producer-0001", &body).await.expect(400);
        assert!(reply.message().contains(expected), "{body}: {}", reply.message());
    }
    for raw in [&b""[..], b"not json", b"{\"itemType\": \"producer\""] {
        let reply = grid.send_bytes("PUT", "/registration/producer-0001", raw.to_vec()).await.expect(400);
        assert!(reply.message().starts_with("the registration body is not valid"), "{}", reply.message());
    }
    // Nothing was registered by any of the refused requests.
    grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(404);
}

/// The typo: `Root` and `side_key` were ignored, so the registration had no
/// channel and no side key, and a stranger could bind theirs to it.
#[tokio::test]
async fn a_registration_body_with_an_unknown_field_is_refused_and_names_the_field() {
    let grid = TestGrid::start().await;
    let root = own_channel().root().to_string();
    for (body, field) in [
        (json!({"itemType": "producer", "Root": root, "side_key": SIDE_KEY}), "Root"),
        (json!({"itemType": "producer", "root": root, "side_key": SIDE_KEY}), "side_key"),
        (json!({"itemType": "consumer", "itemname": "Kitchen"}), "itemname"),
    ] {
        let reply = grid.put("/registration/producer-0001", &body).await.expect(400);
        assert!(reply.message().contains(&format!("unknown field `{field}`")), "{body}: {}", reply.message());
    }
    grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(404);
}

/// Lookalikes in the portal: ids that differ only in case register as one id.
#[tokio::test]
async fn an_id_that_differs_only_in_case_from_a_registered_one_is_refused() {
    let grid = TestGrid::start().await;
    grid.put("/registration/Kitchen-Meter", &json!({"itemType": "consumer"})).await.expect(201);
    for lookalike in ["kitchen-meter", "KITCHEN-METER", "kitchen-Meter"] {
        let reply = grid.put(&format!("/registration/{lookalike}"), &json!({"itemType": "consumer"})).await.expect(409);
        assert_eq!(
            reply.message(),
            format!(
                "registration id {lookalike} differs only in case from registration Kitchen-Meter; ids are one in any case"
            )
        );
    }
    // The registered id itself is unchanged: a consumer, protected by its return channel.
    grid.put("/registration/Kitchen-Meter", &json!({"itemType": "consumer"})).await.expect(401);
}

#[tokio::test]
async fn malformed_registration_ids_are_refused() {
    let grid = TestGrid::start().await;
    for (id, expected) in [
        ("short", "registration id is 5 characters long; it must be 8 to 128"),
        ("bad%20id-0001", "registration id contains ' '"),
        ("caf%C3%A9-latte", "registration id contains 'é'"),
    ] {
        let reply = grid.put(&format!("/registration/{id}"), &json!({"itemType": "producer"})).await.expect(400);
        assert!(reply.message().contains(expected), "{id}: {}", reply.message());
    }
    let long = "x".repeat(129);
    grid.put(&format!("/registration/{long}"), &json!({"itemType": "producer"})).await.expect(400);
}

#[tokio::test]
async fn changing_a_protected_registration_without_its_side_key_is_refused() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    let reply = grid
        .put("/registration/producer-0001", &json!({"itemType": "producer", "itemName": "Mine now"}))
        .await
        .expect(401);
    assert!(reply.message().contains("X-Side-Key"), "{}", reply.message());
}

#[tokio::test]
async fn changing_a_registration_with_a_wrong_side_key_is_refused() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    let body = json!({"itemType": "producer", "itemName": "Mine now"});
    let reply =
        grid.send("PUT", "/registration/producer-0001", Some(&body), &[("x-side-key", OTHER_KEY)]).await.expect(403);
    assert_eq!(reply.message(), "the side key does not match this registration");
}

#[tokio::test]
async fn re_pointing_a_registration_to_another_channel_without_its_side_key_is_refused() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    // A hijacker sends their own channel, whose side key is not the registration's.
    grid.put("/registration/producer-0001", &producer(&other_channel())).await.expect(403);
    // The owner's key still works and the hijacker's does not.
    grid.delete(&format!("/registration/producer-0001/{OTHER_KEY}")).await.expect(403);
    grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(200);
}

#[tokio::test]
async fn the_owner_can_move_a_registration_to_a_new_channel_and_the_old_key_stops_working() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    grid.open_channel(&other_channel()).await;
    grid.send("PUT", "/registration/producer-0001", Some(&producer(&other_channel())), &[("x-side-key", SIDE_KEY)])
        .await
        .expect(200);
    let body = json!({"itemType": "producer"});
    grid.send("PUT", "/registration/producer-0001", Some(&body), &[("x-side-key", SIDE_KEY)]).await.expect(403);
    grid.send("PUT", "/registration/producer-0001", Some(&body), &[("x-side-key", OTHER_KEY)]).await.expect(200);
}

#[tokio::test]
async fn a_registration_cannot_change_its_item_type() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    let body = json!({"itemType": "consumer", "root": own_channel().root().as_str(), "sideKey": SIDE_KEY});
    let reply = grid.put("/registration/producer-0001", &body).await.expect(409);
    assert!(reply.message().starts_with("itemType cannot change from producer to consumer"), "{}", reply.message());
}

#[tokio::test]
async fn deleting_with_a_wrong_side_key_is_refused_and_changes_nothing() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    grid.send("PUT", "/storage/producer-0001/c/kept", Some(&json!(1)), &[("X-Side-Key", SIDE_KEY)]).await.expect(200);
    grid.delete(&format!("/registration/producer-0001/{OTHER_KEY}")).await.expect(403);
    grid.get("/storage/producer-0001/c/kept").await.expect(200);
}

#[tokio::test]
async fn deleting_a_registration_removes_its_storage_and_retires_its_id() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    register_producer(&grid, "producer-0002").await;
    let owner = [("X-Side-Key", SIDE_KEY)];
    for id in ["a", "b", "c"] {
        let path = format!("/storage/producer-0001/ctx/{id}");
        grid.send("PUT", &path, Some(&json!({"id": id})), &owner).await.expect(200);
    }
    grid.send("PUT", "/storage/producer-0002/ctx/a", Some(&json!("other")), &owner).await.expect(200);

    let reply = grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(200);
    assert_eq!(reply.body["itemsDeleted"], 3);

    grid.get("/storage/producer-0001/ctx/a").await.expect(404);
    grid.send("PUT", "/storage/producer-0001/ctx/a", Some(&json!(1)), &owner).await.expect(404);
    let reregister = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(409);
    assert!(reregister.message().contains("was removed"), "{}", reregister.message());
    // Another registration's storage is untouched.
    grid.get("/storage/producer-0002/ctx/a").await.expect(200);
}

#[tokio::test]
async fn deleting_again_with_the_right_key_is_idempotent_and_with_another_key_is_not_found() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(200);
    let again = grid.delete(&format!("/registration/producer-0001/{SIDE_KEY}")).await.expect(200);
    assert_eq!(again.message(), "registration producer-0001 was already removed");
    grid.delete(&format!("/registration/producer-0001/{OTHER_KEY}")).await.expect(404);
}

#[tokio::test]
async fn deleting_an_unknown_registration_is_not_found() {
    let grid = TestGrid::start().await;
    let reply = grid.delete(&format!("/registration/nobody-0001/{SIDE_KEY}")).await.expect(404);
    assert_eq!(reply.message(), "registration nobody-0001 not found");
}

/// Found by an attacker: a registration made without a channel had no key, so a stranger
/// could bind its own channel to it, delete it and lock its owner out for good.
#[tokio::test]
async fn a_registration_made_without_a_channel_is_owned_by_the_management_key_it_is_answered() {
    let grid = TestGrid::start().await;
    let made = grid.put("/registration/producer-open-0001", &json!({"itemType": "producer"})).await.expect(201);
    let key = made.body["sideKey"].as_str().expect("a management key").to_owned();
    assert!(made.body.get("root").is_none(), "no return channel for a producer: {}", made.body);
    assert_ne!(key, SIDE_KEY);

    // A stranger binds its own channel: refused with and without its own key.
    grid.open_channel(&other_channel()).await;
    let stranger = producer(&other_channel());
    let without = grid.put("/registration/producer-open-0001", &stranger).await.expect(403);
    assert_eq!(without.message(), "the side key does not match this registration");
    grid.send("PUT", "/registration/producer-open-0001", Some(&stranger), &[("X-Side-Key", OTHER_KEY)])
        .await
        .expect(403);
    grid.put("/registration/producer-open-0001", &json!({"itemType": "producer", "itemName": "Mine"}))
        .await
        .expect(401);
    grid.delete(&format!("/registration/producer-open-0001/{OTHER_KEY}")).await.expect(403);
    grid.send("PUT", "/storage/producer-open-0001/c/x", Some(&json!(1)), &[]).await.expect(401);

    // The owner's key does everything.
    let owner = [("X-Side-Key", key.as_str())];
    grid.send("PUT", "/storage/producer-open-0001/c/x", Some(&json!(1)), &owner).await.expect(200);
    let renamed = json!({"itemType": "producer", "itemName": "Rooftop"});
    grid.send("PUT", "/registration/producer-open-0001", Some(&renamed), &owner).await.expect(200);
    grid.send("PUT", "/registration/producer-open-0001", Some(&stranger), &owner).await.expect(200);
    grid.delete(&format!("/registration/producer-open-0001/{key}")).await.expect(200);
}

#[tokio::test]
async fn deleting_with_a_malformed_side_key_is_a_bad_request() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    grid.delete("/registration/producer-0001/tooshort").await.expect(400);
    grid.delete("/registration/producer-0001/has%2Dpunctuation0123").await.expect(400);
}

#[tokio::test]
async fn concurrent_first_registrations_of_one_id_create_it_once() {
    let grid = TestGrid::start().await;
    grid.open_channel(&own_channel()).await;
    let url = format!("{}/registration/producer-0001", grid.base);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (grid.http.clone(), url.clone());
            tokio::spawn(async move {
                http.put(url).json(&producer(&own_channel())).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    // The others either updated it with the same side key or lost a race and may retry.
    assert!(statuses.iter().all(|s| matches!(s, 200 | 201 | 409)), "{statuses:?}");
}
