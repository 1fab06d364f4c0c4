//! Counting the requests the adapters send, by service and operation: how the bench
//! tells what a reading costs on AWS. Nothing counts unless a counter is attached
//! ([`AwsClients::counted`](super::AwsClients::counted)).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// What one operation cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCount {
    pub requests: u64,
    /// Items the requests carried: one per request, except for DynamoDB's batch and
    /// transaction operations, which carry (and bill) several.
    pub items: u64,
}

/// Requests sent, by `(service, operation)` (e.g. `("DynamoDB", "GetItem")`); each
/// operation counts once, its retries included.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<(String, String), OperationCount>>>);

impl RequestCounter {
    /// The counts so far, and back to zero.
    pub fn take(&self) -> BTreeMap<(String, String), OperationCount> {
        std::mem::take(&mut *self.0.lock().expect("the counter is never poisoned"))
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    // The operation's metadata is in the config bag from serialization on.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = cfg.load::<Metadata>() else { return Ok(()) };
        let input = context.input();
        let items = if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
            t.transact_items().len()
        } else if let Some(b) = input.downcast_ref::<BatchWriteItemInput>() {
            b.request_items().map_or(0, |tables| tables.values().map(Vec::len).sum())
        } else if let Some(b) = input.downcast_ref::<BatchGetItemInput>() {
            b.request_items().map_or(0, |tables| tables.values().map(|k| k.keys().len()).sum())
        } else {
            1
        };
        let key = (operation.service().to_owned(), operation.name().to_owned());
        let mut counts = self.0.lock().expect("the counter is never poisoned");
        let count = counts.entry(key).or_default();
        count.requests += 1;
        count.items += items as u64;
        Ok(())
    }
}
