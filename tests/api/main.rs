//! The grid's HTTP APIs, tested from outside over real sockets, one fresh grid per test.

mod hostile;
mod meta;
mod registration;
mod storage;

use grid_tests::TestGrid;
use serde_json::{Value, json};

pub const ROOT: &str = "6a1c0d3b2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
pub const OTHER_ROOT: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
pub const SIDE_KEY: &str = "SideKeyOfTheProducer0001";
pub const OTHER_KEY: &str = "SomebodyElsesSideKey999";

/// A producer registration body with a channel.
pub fn producer(root: &str, side_key: &str) -> Value {
    json!({"itemName": "Rooftop", "itemType": "producer", "root": root, "sideKey": side_key})
}

/// Registers `id` as a producer with the standard channel.
pub async fn register_producer(grid: &TestGrid, id: &str) {
    grid.put(&format!("/registration/{id}"), &producer(ROOT, SIDE_KEY)).await.expect(201);
}
