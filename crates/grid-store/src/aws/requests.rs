//! Counting the requests the adapters send, by service and operation: how the bench
//! tells what a reading costs on AWS; and logging them with the resources they name:
//! how the deploy rehearsal checks each function's requests against its IAM role.
//! Nothing counts or logs unless attached ([`AwsClients::counted`](super::AwsClients::counted),
//! `GRID_REQUEST_LOG` for [`AwsClients::from_env`](super::AwsClients::from_env)).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
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

/// Every request the adapters send, one JSON line each appended to a file: the service,
/// the operation, and the resources it names (tables, indexes and the kind of each
/// transaction item; buckets and keys; queues), never what an item holds. What a
/// function did, for checking against its IAM role (`GRID_REQUEST_LOG`, the deploy
/// rehearsal).
#[derive(Debug, Clone)]
pub struct RequestLog(Arc<Mutex<std::fs::File>>);

impl RequestLog {
    /// Appends to `path`, creating it.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self(Arc::new(Mutex::new(file))))
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    // Once per attempt: a retry names the same resources again, which is harmless.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use std::io::Write;
        let Some(operation) = cfg.load::<Metadata>() else { return Ok(()) };
        let request = context.request();
        let resources = match operation.service() {
            "S3" => s3_resources(request.uri(), request.body().bytes()),
            _ => request
                .body()
                .bytes()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
                .map(|body| named_resources(&body))
                .unwrap_or_default(),
        };
        let line = serde_json::json!({
            "service": operation.service(),
            "operation": operation.name(),
            "resources": resources,
        });
        let mut file = self.0.lock().expect("the log is never poisoned");
        writeln!(file, "{line}")?;
        Ok(())
    }
}

/// The bucket and key of a path-style (`/bucket/key`) or virtual-hosted
/// (`bucket.s3…/key`) S3 request; for a multi-object delete, each key its body names.
fn s3_resources(uri: &str, body: Option<&[u8]>) -> Vec<serde_json::Value> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (bucket, key) = match host.split_once(".s3") {
        Some((bucket, _)) => (bucket, path),
        None => path.split_once('/').unwrap_or((path, "")),
    };
    let text = body.map(String::from_utf8_lossy).unwrap_or_default();
    let deleted: Vec<&str> = if text.contains("<Delete") {
        text.split("<Key>").skip(1).filter_map(|rest| rest.split_once("</Key>").map(|(k, _)| k)).collect()
    } else {
        Vec::new()
    };
    if !deleted.is_empty() {
        return deleted.into_iter().map(|key| serde_json::json!({ "bucket": bucket, "key": key })).collect();
    }
    let mut resource = serde_json::json!({ "bucket": bucket });
    if !key.is_empty() {
        resource["key"] = serde_json::Value::from(key);
    }
    vec![resource]
}

/// The tables, indexes, queues and parameters a DynamoDB, SQS or SSM request body names:
/// `TableName` (with `IndexName`), each transaction item's table and kind (`Put`,
/// `Update`, …), the tables of a batch, `QueueUrl`, and a parameter's `Name`.
fn named_resources(body: &serde_json::Value) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut found = Vec::new();
    if let Some(table) = body["TableName"].as_str() {
        found.push(json!({"table": table, "index": body["IndexName"].as_str()}));
    }
    for item in body["TransactItems"].as_array().into_iter().flatten() {
        for (kind, action) in item.as_object().into_iter().flatten() {
            found.push(json!({"table": action["TableName"].as_str(), "kind": kind}));
        }
    }
    for (table, requests) in body["RequestItems"].as_object().into_iter().flatten() {
        // BatchWriteItem lists PutRequest/DeleteRequest entries; BatchGetItem its keys.
        let kinds: Vec<&str> = requests
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object()?.keys().next().map(String::as_str))
            .collect();
        found.push(json!({"table": table, "kinds": kinds}));
    }
    if let Some(queue) = body["QueueUrl"].as_str() {
        found.push(json!({ "queueUrl": queue }));
    }
    // SSM's GetParameter.
    if let Some(parameter) = body["Name"].as_str() {
        found.push(json!({ "parameter": parameter }));
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{named_resources, s3_resources};

    #[test]
    fn an_s3_request_names_its_bucket_and_key_in_either_addressing_style() {
        assert_eq!(
            s3_resources("http://127.0.0.1:5000/grid-bucket/storage/a/b?x-id=PutObject", None),
            [json!({"bucket": "grid-bucket", "key": "storage/a/b"})]
        );
        assert_eq!(
            s3_resources("https://grid-bucket.s3.us-east-1.amazonaws.com/archive/1.json", None),
            [json!({"bucket": "grid-bucket", "key": "archive/1.json"})]
        );
        assert_eq!(
            s3_resources("http://127.0.0.1:5000/grid-bucket?list-type=2&prefix=s", None),
            [json!({"bucket": "grid-bucket"})]
        );
        let delete = b"<Delete><Object><Key>storage/a/1</Key></Object><Object><Key>storage/a/2</Key></Object></Delete>";
        assert_eq!(
            s3_resources("http://127.0.0.1:5000/grid-bucket?delete", Some(delete)),
            [
                json!({"bucket": "grid-bucket", "key": "storage/a/1"}),
                json!({"bucket": "grid-bucket", "key": "storage/a/2"}),
            ]
        );
    }

    #[test]
    fn a_json_request_names_its_tables_transaction_items_batches_and_queues_not_its_items() {
        let body = json!({
            "TransactItems": [
                {"Put": {"TableName": "readings", "Item": {"secret": {"S": "side key"}}}},
                {"ConditionCheck": {"TableName": "settlements", "Key": {}}},
            ],
        });
        assert_eq!(
            named_resources(&body),
            [json!({"table": "readings", "kind": "Put"}), json!({"table": "settlements", "kind": "ConditionCheck"}),]
        );
        let query =
            json!({"TableName": "batches", "IndexName": "pending-by-last-check", "KeyConditionExpression": "x"});
        assert_eq!(named_resources(&query), [json!({"table": "batches", "index": "pending-by-last-check"})]);
        let batch = json!({"RequestItems": {"items": [{"DeleteRequest": {"Key": {}}}]}});
        assert_eq!(named_resources(&batch), [json!({"table": "items", "kinds": ["DeleteRequest"]})]);
        let sqs = json!({"QueueUrl": "http://127.0.0.1:5000/123456789012/poll-work", "MaxNumberOfMessages": 10});
        assert_eq!(named_resources(&sqs), [json!({"queueUrl": "http://127.0.0.1:5000/123456789012/poll-work"})]);
        assert!(!serde_json::to_string(&named_resources(&body)).unwrap().contains("side key"));
    }
}
