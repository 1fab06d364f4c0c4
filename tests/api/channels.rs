//! The channel node's HTTP API, and the writer and reader that use it.

use grid_client::channels::RejectionReason;
use grid_core::channel::{Command, Envelope, EnvelopeError};
use grid_tests::TestGrid;
use serde_json::{Value, json};

use crate::{other_channel, own_channel, register_producer};

fn path(address: impl std::fmt::Display) -> String {
    format!("/channels/messages/{address}")
}

fn hello_at(index: u64) -> Envelope {
    own_channel().seal(index, Command::Hello.to_json().as_bytes(), [index as u8; 12]).unwrap()
}

#[tokio::test]
async fn an_address_takes_one_envelope_and_refuses_a_second() {
    let grid = TestGrid::start().await;
    let address = own_channel().access().address(0);
    let envelope = hello_at(0);
    grid.send_bytes("PUT", &path(&address), envelope.to_json().into_bytes()).await.expect(201);
    grid.send_bytes("PUT", &path(&address), envelope.to_json().into_bytes()).await.expect(409);
    let other = own_channel().seal(0, Command::Goodbye.to_json().as_bytes(), [9; 12]).unwrap();
    let reply = grid.send_bytes("PUT", &path(&address), other.to_json().into_bytes()).await.expect(409);
    assert_eq!(reply.message(), format!("address {address} is taken"));

    let stored = grid.get(&path(&address)).await.expect(200);
    assert_eq!(stored.body["envelope"], serde_json::from_str::<Value>(&envelope.to_json()).unwrap());
}

#[tokio::test]
async fn reading_an_empty_address_is_not_found_and_a_malformed_one_is_refused() {
    let grid = TestGrid::start().await;
    grid.get(&path(own_channel().access().address(5))).await.expect(404);
    for bad in ["abc", &"A".repeat(64), &"g".repeat(64), "..%2F..%2Fgrid.db"] {
        let reply = grid.get(&path(bad)).await.expect(400);
        assert_eq!(reply.message(), "a message address must be 64 lowercase hex characters");
    }
}

#[tokio::test]
async fn malformed_envelopes_are_refused_with_what_was_wrong() {
    let grid = TestGrid::start().await;
    let good: Value = serde_json::from_str(&hello_at(0).to_json()).unwrap();
    let with = |field: &str, value: Value| {
        let mut e = good.clone();
        e[field] = value;
        e.to_string()
    };
    let without = |field: &str| {
        let mut e = good.clone();
        e.as_object_mut().unwrap().remove(field);
        e.to_string()
    };
    let cases = [
        ("not json".to_owned(), "envelope is not valid"),
        ("[]".to_owned(), "envelope is not valid"),
        (without("signature"), "missing field `signature`"),
        (with("extra", json!(1)), "unknown field `extra`"),
        (with("v", json!(2)), "envelope version 2 is not supported"),
        (with("index", json!(-1)), "envelope is not valid"),
        (with("index", json!(1.5)), "envelope is not valid"),
        (with("index", json!(1u64 << 60)), "envelope index is beyond"),
        (
            with("root", json!(good["root"].as_str().unwrap().to_uppercase())),
            "envelope field root must be 64 lowercase hex",
        ),
        (with("nonce", json!("00")), "envelope field nonce must be 24 lowercase hex"),
        (with("ciphertext", json!("not base64!")), "envelope field ciphertext must be standard padded base64"),
        (with("ciphertext", json!("AAAA")), "of at least 16 bytes"),
        (
            with("publicKey", json!(hex_of(other_channel().public_key()))),
            "envelope root is not the hash of its publicKey",
        ),
        (with("signature", json!("0".repeat(128))), "envelope signature does not verify"),
    ];
    let address = path(own_channel().access().address(0));
    for (body, expected) in cases {
        let reply = grid.send_bytes("PUT", &address, body.clone().into_bytes()).await.expect(400);
        assert!(reply.message().contains(expected), "{body}: {}", reply.message());
    }
    // Nothing was stored by any of them.
    grid.get(&address).await.expect(404);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn an_envelope_over_16_kib_is_refused_with_413() {
    let grid = TestGrid::start().await;
    let mut e: Value = serde_json::from_str(&hello_at(0).to_json()).unwrap();
    e["ciphertext"] = json!("A".repeat(17 * 1024));
    let reply = grid.send_bytes("PUT", &path(own_channel().access().address(0)), e.to_string().into_bytes()).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
}

#[tokio::test]
async fn batch_get_returns_exactly_the_stored_addresses_and_limits_the_batch() {
    let grid = TestGrid::start().await;
    grid.publish(&own_channel(), 0, &[Command::Hello, Command::Goodbye]).await;
    let access = own_channel().access().clone();
    let asked: Vec<String> = (0..4).map(|i| access.address(i).to_string()).collect();
    let reply =
        grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addresses": asked})), &[]).await.expect(200);
    let messages = reply.body["messages"].as_object().unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages.contains_key(&asked[0]) && messages.contains_key(&asked[1]));

    let too_many: Vec<String> = (0..101).map(|i| access.address(i).to_string()).collect();
    let reply =
        grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addresses": too_many})), &[]).await.expect(400);
    assert_eq!(reply.message(), "101 addresses asked for; at most 100 per request");
    let hundred: Vec<String> = too_many[..100].to_vec();
    grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addresses": hundred})), &[]).await.expect(200);

    grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addresses": ["nothex"]})), &[]).await.expect(400);
    grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addr": []})), &[]).await.expect(400);
    grid.send_bytes("POST", "/channels/messages/batch-get", b"{".to_vec()).await.expect(400);
    let empty =
        grid.send("POST", "/channels/messages/batch-get", Some(&json!({"addresses": []})), &[]).await.expect(200);
    assert_eq!(empty.body["messages"], json!({}));
}

/// `{"messages":[{"address","envelope"}…]}` for envelopes of `channel`.
fn batch_put_body(channel: &grid_core::channel::ChannelSecrets, envelopes: &[Envelope]) -> Value {
    let messages: Vec<Value> = envelopes
        .iter()
        .map(|e| {
            let envelope: Value = serde_json::from_str(&e.to_json()).unwrap();
            json!({"address": channel.access().address(e.index()).to_string(), "envelope": envelope})
        })
        .collect();
    json!({ "messages": messages })
}

#[tokio::test]
async fn a_batch_put_stores_each_envelope_once_and_reports_the_taken_ones() {
    let grid = TestGrid::start().await;
    let channel = own_channel();
    let envelopes: Vec<Envelope> = (0..3).map(hello_at).collect();
    grid.send_bytes("PUT", &path(channel.access().address(1)), envelopes[1].to_json().into_bytes()).await.expect(201);

    let reply =
        grid.send("POST", "/channels/messages/batch-put", Some(&batch_put_body(&channel, &envelopes)), &[]).await;
    let reply = reply.expect(200);
    let address = |i: u64| json!(channel.access().address(i).to_string());
    assert_eq!(reply.body["stored"], json!([address(0), address(2)]));
    assert_eq!(reply.body["taken"], json!([address(1)]));
    assert_eq!(reply.message(), "2 stored, 1 taken");
    for (i, envelope) in envelopes.iter().enumerate() {
        let stored = grid.get(&path(channel.access().address(i as u64))).await.expect(200);
        assert_eq!(stored.body["envelope"], serde_json::from_str::<Value>(&envelope.to_json()).unwrap());
    }
    let again =
        grid.send("POST", "/channels/messages/batch-put", Some(&batch_put_body(&channel, &envelopes)), &[]).await;
    assert_eq!(again.expect(200).body["stored"], json!([]));
}

#[tokio::test]
async fn a_batch_put_with_one_bad_message_stores_nothing_and_says_which() {
    let grid = TestGrid::start().await;
    let channel = own_channel();
    let envelopes: Vec<Envelope> = (0..4).map(hello_at).collect();
    let good = batch_put_body(&channel, &envelopes);
    let nothing_stored = async || {
        for i in 0..4 {
            grid.get(&path(channel.access().address(i))).await.expect(404);
        }
    };

    let mut forged = good.clone();
    forged["messages"][2]["envelope"]["signature"] = json!("00".repeat(64));
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&forged), &[]).await.expect(400);
    let third = channel.access().address(2);
    assert_eq!(reply.message(), format!("message 2 ({third}): envelope signature does not verify"));
    nothing_stored().await;

    let mut twice = good.clone();
    twice["messages"][3]["address"] = twice["messages"][0]["address"].clone();
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&twice), &[]).await.expect(400);
    assert!(reply.message().starts_with("message 3: address ") && reply.message().ends_with(" appears twice"));
    nothing_stored().await;

    let mut malformed = good.clone();
    malformed["messages"][1]["envelope"]["v"] = json!(2);
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&malformed), &[]).await.expect(400);
    assert_eq!(reply.message(), "message 1: envelope version 2 is not supported; only 1 is");
    let mut bad_address = good.clone();
    bad_address["messages"][0]["address"] = json!("../grid.db");
    let reply = grid.send("POST", "/channels/messages/batch-put", Some(&bad_address), &[]).await.expect(400);
    assert_eq!(reply.message(), "message 0: a message address must be 64 lowercase hex characters");
    nothing_stored().await;

    let many: Vec<Envelope> = (0..101).map(hello_at).collect();
    let reply = grid
        .send("POST", "/channels/messages/batch-put", Some(&batch_put_body(&channel, &many)), &[])
        .await
        .expect(400);
    assert_eq!(reply.message(), "101 messages sent; at most 100 per request");
    grid.send("POST", "/channels/messages/batch-put", Some(&json!({"messages": [], "extra": 1})), &[])
        .await
        .expect(400);
    grid.send_bytes("POST", "/channels/messages/batch-put", b"{\"messages\":".to_vec()).await.expect(400);
    nothing_stored().await;
}

#[tokio::test]
async fn a_writer_moves_past_an_address_somebody_else_took() {
    let grid = TestGrid::start().await;
    // A reader of our channel (it knows root and side key) squats index 0 with a
    // message signed by its own key: valid for the node, not for our channel.
    let squat = other_channel().seal(0, Command::Goodbye.to_json().as_bytes(), [1; 12]).unwrap();
    grid.send_bytes("PUT", &path(own_channel().access().address(0)), squat.to_json().into_bytes()).await.expect(201);

    let next = grid.publish(&own_channel(), 0, &[Command::Hello, Command::Goodbye]).await;
    assert_eq!(next, 3, "hello went to index 1, goodbye to 2");

    let read = grid.read(own_channel().access(), 0, 100).await;
    let commands: Vec<(u64, &str)> = read.messages.iter().map(|m| (m.index, m.command.name())).collect();
    assert_eq!(commands, [(1, "hello"), (2, "goodbye")]);
    assert_eq!(read.rejected.len(), 1);
    assert_eq!(read.rejected[0].index, 0);
    assert_eq!(read.rejected[0].reason, RejectionReason::Envelope(EnvelopeError::WrongChannel));
    assert!(read.at_end);
    assert_eq!(read.next_index, 3);
}

#[tokio::test]
async fn a_reader_reads_across_batches_from_its_cursor_and_stops_at_the_first_gap() {
    let grid = TestGrid::start().await;
    let commands: Vec<Command> = std::iter::once(Command::Hello)
        .chain((1..150).map(|i| {
            Command::parse(
                format!(r#"{{"command":"usage","startTime":{i}000,"endTime":{i}999,"usage":0.5}}"#).as_bytes(),
            )
            .unwrap()
        }))
        .collect();
    // A registered channel: one nobody claimed takes only its first 16 indexes.
    register_producer(&grid, "producer-0001").await;
    assert_eq!(grid.publish(&own_channel(), 1, &commands[1..]).await, 150);

    let all = grid.read(own_channel().access(), 0, 1_000).await;
    assert_eq!(all.messages.len(), 150);
    assert!(all.at_end && all.rejected.is_empty());
    assert_eq!(all.next_index, 150);

    let limited = grid.read(own_channel().access(), 0, 120).await;
    assert_eq!((limited.messages.len(), limited.next_index, limited.at_end), (120, 120, false));
    let rest = grid.read(own_channel().access(), limited.next_index, 1_000).await;
    assert_eq!(rest.messages.first().map(|m| m.index), Some(120));
    assert_eq!((rest.messages.len(), rest.next_index, rest.at_end), (30, 150, true));

    // A message published after a gap is not reached: the read ends at the gap.
    let beyond = own_channel().seal(151, Command::Goodbye.to_json().as_bytes(), [0; 12]).unwrap();
    grid.send_bytes("PUT", &path(own_channel().access().address(151)), beyond.to_json().into_bytes()).await.expect(201);
    let after_gap = grid.read(own_channel().access(), 150, 1_000).await;
    assert!(after_gap.messages.is_empty() && after_gap.at_end);
    assert_eq!(after_gap.next_index, 150);
}
