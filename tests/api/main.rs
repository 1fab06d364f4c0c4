//! The grid's HTTP APIs, tested from outside over real sockets, one fresh grid per test.

mod channels;
mod edges;
mod errors;
mod guard;
mod hostile;
mod ingestion;
mod meta;
mod registration;
mod return_channel;
mod storage;

use grid_core::channel::ChannelSecrets;
use grid_tests::TestGrid;
use serde_json::{Value, json};

pub const SIDE_KEY: &str = "SideKeyOfTheProducer0001";
pub const OTHER_KEY: &str = "SomebodyElsesSideKey999";

/// The channel the test producers publish on.
pub fn own_channel() -> ChannelSecrets {
    grid_tests::channel(1, SIDE_KEY)
}

/// Somebody else's channel.
pub fn other_channel() -> ChannelSecrets {
    grid_tests::channel(2, OTHER_KEY)
}

/// A producer registration body naming `channel`.
pub fn producer(channel: &ChannelSecrets) -> Value {
    json!({
        "itemName": "Rooftop",
        "itemType": "producer",
        "root": channel.root().as_str(),
        "sideKey": channel.access().side_key().expose(),
    })
}

/// The channel `id` registers with: the standard one for `producer-0001`, one of its
/// own (same side key) for any other id, as a channel backs one registration.
pub fn channel_of(id: &str) -> ChannelSecrets {
    match id {
        "producer-0001" => own_channel(),
        other => grid_tests::channel(
            100 + other.bytes().fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b)) % 100,
            SIDE_KEY,
        ),
    }
}

/// Registers `id` as a producer on its channel, opened with `hello`.
pub async fn register_producer(grid: &TestGrid, id: &str) {
    let channel = channel_of(id);
    grid.open_channel(&channel).await;
    grid.put(&format!("/registration/{id}"), &producer(&channel)).await.expect(201);
}
