//! Reading and writing DynamoDB attribute maps with typed errors, and reading many items
//! by key.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use grid_core::EpochMs;

use crate::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(table: &str, name: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}: attribute {name} {what}"))
}

/// A required string attribute.
pub(super) fn get_s<'a>(item: &'a Item, table: &str, name: &str) -> Result<&'a str, StoreError> {
    opt_s(item, table, name)?.ok_or_else(|| corrupt(table, name, "is missing"))
}

/// An optional string attribute.
pub(super) fn opt_s<'a>(item: &'a Item, table: &str, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(_) => Err(corrupt(table, name, "is not a string")),
    }
}

/// A required non-negative integer attribute.
pub(super) fn get_n(item: &Item, table: &str, name: &str) -> Result<u64, StoreError> {
    opt_n(item, table, name)?.ok_or_else(|| corrupt(table, name, "is missing"))
}

/// An optional non-negative integer attribute.
pub(super) fn opt_n(item: &Item, table: &str, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(value)) => {
            value.parse().map(Some).map_err(|_| corrupt(table, name, "is not a whole number"))
        }
        Some(_) => Err(corrupt(table, name, "is not a number")),
    }
}

/// An optional signed integer attribute.
pub(super) fn opt_signed(item: &Item, table: &str, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(value)) => {
            value.parse().map(Some).map_err(|_| corrupt(table, name, "is not a whole number"))
        }
        Some(_) => Err(corrupt(table, name, "is not a number")),
    }
}

/// A required time attribute (epoch milliseconds).
pub(super) fn get_time(item: &Item, table: &str, name: &str) -> Result<EpochMs, StoreError> {
    opt_time(item, table, name)?.ok_or_else(|| corrupt(table, name, "is missing"))
}

/// An optional time attribute (epoch milliseconds).
pub(super) fn opt_time(item: &Item, table: &str, name: &str) -> Result<Option<EpochMs>, StoreError> {
    opt_n(item, table, name)?
        .map(|ms| i64::try_from(ms).ok().and_then(|ms| EpochMs::parse(ms).ok()))
        .map(|time| time.ok_or_else(|| corrupt(table, name, "is not a time")))
        .transpose()
}

/// Unprocessed keys are retried this often (with growing pauses) before giving up.
const BATCH_RETRIES: u32 = 8;

/// The items of `table` at `keys` (strongly consistent), a hundred keys to a
/// BatchGetItem, retrying what DynamoDB leaves unprocessed; absent keys have no item, and
/// the items come in no particular order. The keys must be distinct.
pub(super) async fn batch_get(client: &Client, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(grid_core::channel::MAX_BATCH_GET) {
        let request = KeysAndAttributes::builder().set_keys(Some(chunk.to_vec())).consistent_read(true).build();
        let mut pending = Some(request.map_err(super::backend)?);
        let mut attempt = 0;
        while let Some(request) = pending.take() {
            let output = client.batch_get_item().request_items(table, request).send().await.map_err(super::backend)?;
            found.extend(output.responses().and_then(|r| r.get(table)).into_iter().flatten().cloned());
            pending = output.unprocessed_keys().and_then(|u| u.get(table)).cloned();
            if pending.is_some() {
                attempt += 1;
                if attempt > BATCH_RETRIES {
                    return Err(StoreError::Backend("DynamoDB left keys unprocessed after retries".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
        }
    }
    Ok(found)
}
