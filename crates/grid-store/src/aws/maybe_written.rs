//! A lost answer is "maybe written": DynamoDB did a write, its answer was lost on the
//! way back (a dropped connection, a timeout), and the SDK's standard retry sent the
//! same request again. A transaction is safe (DynamoDB answers a retried
//! `ClientRequestToken` with the first success), a single-item write is not: a
//! conditional one fails its condition on our own write, and an `ADD` applies twice.
//!
//! So each such write carries a fresh operation id, set on the item as `lastOp` (one id
//! per call, the same on every retry the SDK makes of it), and asks for the item its
//! condition met when it fails (`ReturnValuesOnConditionCheckFailure = ALL_OLD`). A
//! failed condition whose item carries our id is our own write, done: [`landed`]. A
//! counter's `ADD` is made to apply once by conditioning it on `lastOp` not being ours
//! already ([`NOT_APPLIED`]).
//!
//! What remains: `lastOp` holds one id, the last write's. Another write of the same
//! kind to the same item between our lost attempt and its retry replaces our id, and
//! the retry is then taken for a write of its own: a conditional write reports the
//! conflict it would without us, a counter adds twice. The SDK retries within
//! milliseconds, so this takes a lost answer and a concurrent write to the same item
//! in that gap.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::Item;
use super::backend;
use crate::StoreError;

/// The attribute a write that may be retried sets to its operation id.
pub(super) const LAST_OP: &str = "lastOp";

/// The condition that the write `:op` has not been applied to the item yet (for an
/// `ADD`, which applies again on every retry otherwise).
pub(super) const NOT_APPLIED: &str = "(attribute_not_exists(lastOp) OR lastOp <> :op)";

/// A fresh operation id for one write call: 16 random hex digits, never repeated in
/// practice among the writes to one item.
pub(super) fn op_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's randomness");
    hex::encode(bytes)
}

/// A write's error that may carry the item its failed condition met.
pub(super) trait ConditionFailure {
    fn condition_failed(&self) -> bool;
    fn failed_item(&self) -> Option<&Item>;
}

/// The single-item writes' errors: a failed condition carries the item it met.
macro_rules! condition_failure {
    ($($error:ty),*) => {$(
        impl ConditionFailure for $error {
            fn condition_failed(&self) -> bool {
                matches!(self, Self::ConditionalCheckFailedException(_))
            }

            fn failed_item(&self) -> Option<&Item> {
                match self {
                    Self::ConditionalCheckFailedException(failed) => failed.item(),
                    _ => None,
                }
            }
        }
    )*};
}
condition_failure!(PutItemError, DeleteItemError, UpdateItemError);

/// The item a failed condition met (asked for with `ReturnValuesOnConditionCheckFailure
/// = ALL_OLD`; none if there was no item).
pub(super) fn failed_item<E: ConditionFailure, R>(error: &SdkError<E, R>) -> Option<&Item> {
    error.as_service_error().and_then(ConditionFailure::failed_item)
}

/// Whether `item` was last written by the write `op`.
pub(super) fn is_ours(item: &Item, op: &str) -> bool {
    matches!(item.get(LAST_OP), Some(AttributeValue::S(last)) if last == op)
}

/// Whether a write `op` whose condition failed had landed after all: an attempt whose
/// answer was lost did it, and the retry met it.
pub(super) fn landed<E: ConditionFailure, R>(error: &SdkError<E, R>, op: &str) -> bool {
    failed_item(error).is_some_and(|item| is_ours(item, op))
}

/// The outcome of the conditional write `op` (as `written!`'s, knowing its own write):
/// `Ok(true)` if it was written, now or by an attempt whose answer was lost; `Ok(false)`
/// if its condition failed on another write.
pub(super) fn written_once<T, E, R>(result: Result<T, SdkError<E, R>>, op: &str) -> Result<bool, StoreError>
where
    E: ConditionFailure + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(ConditionFailure::condition_failed) => Ok(landed(&e, op)),
        Err(e) => Err(backend(e)),
    }
}
