//! Registration and channels: the hello check, the consumer's return channel, goodbye.

use grid_core::channel::{ChannelAccess, Command};
use grid_core::{ChannelRoot, SideKey};
use grid_tests::{Reply, TestGrid};
use serde_json::json;

use crate::{other_channel, own_channel, producer, register_producer};

/// The return channel a registration reply hands out.
fn return_channel(reply: &Reply) -> ChannelAccess {
    ChannelAccess::new(
        ChannelRoot::parse(reply.body["root"].as_str().expect("a root in the reply")).unwrap(),
        SideKey::parse(reply.body["sideKey"].as_str().expect("a side key in the reply")).unwrap(),
    )
}

fn names(read: &grid_client::channels::ReadBatch) -> Vec<&'static str> {
    read.messages.iter().map(|m| m.command.name()).collect()
}

#[tokio::test]
async fn a_consumer_gets_a_return_channel_whose_hello_it_can_read() {
    let grid = TestGrid::start().await;
    let reply = grid.put("/registration/consumer-0001", &json!({"itemType": "consumer"})).await.expect(201);
    let access = return_channel(&reply);
    assert_eq!(reply.body["sideKey"].as_str().unwrap().len(), 64, "generated side keys are 64 hex characters");
    let read = grid.read(&access, 0, 10).await;
    assert_eq!(names(&read), ["hello"]);
    assert!(read.at_end && read.rejected.is_empty());
}

/// A prosumer (DESIGN.md §4) registers with its own channel, like a producer, and is
/// billed on a return channel, like a consumer; on both stores.
async fn a_prosumer_registers_its_channel_and_gets_a_return_channel(grid: TestGrid) {
    let home = crate::channel_of("prosumer-0001");
    grid.open_channel(&home).await;
    let body =
        json!({"itemType": "prosumer", "root": home.root().as_str(), "sideKey": home.access().side_key().expose()});
    let reply = grid.put("/registration/prosumer-0001", &body).await.expect(201);
    assert_eq!(reply.message(), "prosumer prosumer-0001 registered");
    assert_eq!(names(&grid.read(&return_channel(&reply), 0, 10).await), ["hello"]);
}

#[tokio::test]
async fn on_the_embedded_store_a_prosumer_registers_its_channel_and_gets_a_return_channel() {
    a_prosumer_registers_its_channel_and_gets_a_return_channel(TestGrid::start().await).await;
}

#[tokio::test]
async fn on_dynamodb_a_prosumer_registers_its_channel_and_gets_a_return_channel() {
    a_prosumer_registers_its_channel_and_gets_a_return_channel(TestGrid::start_on_moto(&[]).await).await;
}

#[tokio::test]
async fn a_consumer_that_updates_itself_gets_the_same_return_channel_back() {
    let grid = TestGrid::start().await;
    let first = grid.put("/registration/consumer-0001", &json!({"itemType": "consumer"})).await.expect(201);
    let key = first.body["sideKey"].as_str().unwrap().to_owned();
    let body = json!({"itemType": "consumer", "itemName": "Flat 3"});
    grid.put("/registration/consumer-0001", &body).await.expect(401);
    let again = grid.send("PUT", "/registration/consumer-0001", Some(&body), &[("x-side-key", &key)]).await.expect(200);
    assert_eq!((&again.body["root"], &again.body["sideKey"]), (&first.body["root"], &first.body["sideKey"]));
    // Still exactly one hello on it.
    assert_eq!(names(&grid.read(&return_channel(&again), 0, 10).await), ["hello"]);
}

#[tokio::test]
async fn a_producer_whose_channel_opens_with_hello_is_registered_without_a_return_channel() {
    let grid = TestGrid::start().await;
    grid.open_channel(&own_channel()).await;
    let reply = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(201);
    assert!(reply.body.get("root").is_none() && reply.body.get("sideKey").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn registering_with_a_channel_that_has_no_message_yet_is_refused() {
    let grid = TestGrid::start().await;
    let reply = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(400);
    assert_eq!(
        reply.message(),
        "the channel must start with a hello message at index 0: there is no message at index 0 for this root and side key"
    );
    grid.delete("/registration/producer-0001/SideKeyOfTheProducer0001").await.expect(404);
}

#[tokio::test]
async fn registering_with_a_channel_whose_first_message_is_not_hello_is_refused() {
    let grid = TestGrid::start().await;
    let usage = Command::parse(br#"{"command":"usage","startTime":1000,"endTime":2000,"usage":1}"#).unwrap();
    grid.publish(&own_channel(), 0, &[usage, Command::Hello]).await;
    let reply = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(400);
    assert!(reply.message().ends_with("message 0 is usage"), "{}", reply.message());
}

#[tokio::test]
async fn registering_with_a_channel_whose_message_0_is_forged_is_refused() {
    let grid = TestGrid::start().await;
    let forged = other_channel().seal(0, Command::Hello.to_json().as_bytes(), [4; 12]).unwrap();
    let address = own_channel().access().address(0);
    grid.send_bytes("PUT", &format!("/channels/messages/{address}"), forged.to_json().into_bytes()).await.expect(201);
    let reply = grid.put("/registration/producer-0001", &producer(&own_channel())).await.expect(400);
    assert!(
        reply.message().ends_with("message 0 is not readable: envelope belongs to another channel"),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn registering_with_a_side_key_that_does_not_fit_the_channel_is_refused() {
    let grid = TestGrid::start().await;
    grid.open_channel(&own_channel()).await;
    let mut body = producer(&own_channel());
    body["sideKey"] = json!("NotTheChannelsSideKey0");
    let reply = grid.put("/registration/producer-0001", &body).await.expect(400);
    assert!(
        reply.message().ends_with("there is no message at index 0 for this root and side key"),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn moving_to_a_channel_without_hello_is_refused_and_keeps_the_old_channel() {
    let grid = TestGrid::start().await;
    register_producer(&grid, "producer-0001").await;
    let key = own_channel().access().side_key().expose().to_owned();
    grid.send("PUT", "/registration/producer-0001", Some(&producer(&other_channel())), &[("x-side-key", &key)])
        .await
        .expect(400);
    // The old channel's key still owns the registration.
    grid.delete(&format!("/registration/producer-0001/{key}")).await.expect(200);
}

#[tokio::test]
async fn removing_a_consumer_ends_its_return_channel_with_one_goodbye() {
    let grid = TestGrid::start().await;
    let reply = grid.put("/registration/consumer-0001", &json!({"itemType": "consumer"})).await.expect(201);
    let access = return_channel(&reply);
    let key = access.side_key().expose().to_owned();

    grid.delete(&format!("/registration/consumer-0001/{key}")).await.expect(200);
    assert_eq!(names(&grid.read(&access, 0, 10).await), ["hello", "goodbye"]);

    let again = grid.delete(&format!("/registration/consumer-0001/{key}")).await.expect(200);
    assert_eq!(again.message(), "registration consumer-0001 was already removed");
    let read = grid.read(&access, 0, 10).await;
    assert_eq!(names(&read), ["hello", "goodbye"], "a repeated removal does not say goodbye twice");
    assert!(read.at_end);
}
