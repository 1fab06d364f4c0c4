//! Reading and writing DynamoDB attribute maps with typed errors.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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
