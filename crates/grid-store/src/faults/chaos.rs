//! The serverless path's weather: throttles, server errors, lost answers, unprocessed
//! batch items and transaction conflicts, at random from a seed, answered at the HTTP
//! connection the way DynamoDB, S3 and SQS answer them.
//!
//! Faults are made at the connection rather than in an interceptor so that the SDK
//! meets them exactly as it meets AWS's: a `ThrottlingException` body, a 500, a
//! connection that dropped after the request went out; its own error parsing and
//! standard retry take them, and the adapters see what they would see on AWS (an
//! `UnprocessedItems` map, a `TransactionCanceledException` with its reasons).
//!
//! One thing moto lacks is emulated here: DynamoDB answers a `TransactWriteItems`
//! retried with the same `ClientRequestToken` (the SDK sends one per call and keeps it
//! across its retries) with the first attempt's success, without applying it again;
//! moto ignores the token. So when the plan loses the answer to a transaction, it
//! remembers the token and answers its retry as DynamoDB would.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde::Serialize;
use serde_json::{Value, json};

/// How often each fault strikes, per thousand requests it can strike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Weather {
    /// Throttled before they reach the service (DynamoDB's `ThrottlingException` or
    /// `ProvisionedThroughputExceededException`, S3's `SlowDown`, SQS's `RequestThrottled`).
    pub throttles: u64,
    /// Failed by the service with a 500, nothing done.
    pub server_errors: u64,
    /// Done by the service, its answer lost on the way back (a dropped connection).
    pub lost_answers: u64,
    /// Batches answered with every item left undone: DynamoDB's batch writes and reads
    /// (`UnprocessedItems`, `UnprocessedKeys`), SQS's batch sends (every entry `Failed`).
    pub unprocessed: u64,
    /// DynamoDB transactions cancelled by a conflicting transaction on an item.
    pub conflicts: u64,
}

/// What a plan has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChaosTally {
    /// Requests that reached the connection (each retry is one more).
    pub requests: u64,
    pub throttles: u64,
    pub server_errors: u64,
    pub lost_answers: u64,
    pub unprocessed: u64,
    pub conflicts: u64,
    /// Transactions retried after a lost answer and answered from their token.
    pub replayed: u64,
}

impl ChaosTally {
    /// Every fault injected.
    pub fn faults(&self) -> u64 {
        self.throttles + self.server_errors + self.lost_answers + self.unprocessed + self.conflicts
    }
}

/// Seeded, shared faults for every client it is given to (see [`ChaosHttpClient`]).
#[derive(Debug, Clone)]
pub struct ChaosPlan(Arc<Chaos>);

#[derive(Debug)]
struct Chaos {
    weather: Weather,
    dice: Dice,
    counts: [AtomicU64; 7],
    /// Operations whose next answer is lost, whatever the weather (one test's fault).
    lose_next: Mutex<Vec<String>>,
    /// The tokens of transactions whose answer was lost.
    lost_transactions: Mutex<HashSet<String>>,
}

/// Indices into `Chaos::counts`, in [`ChaosTally`]'s order.
const REQUESTS: usize = 0;
const THROTTLES: usize = 1;
const SERVER_ERRORS: usize = 2;
const LOST_ANSWERS: usize = 3;
const UNPROCESSED: usize = 4;
const CONFLICTS: usize = 5;
const REPLAYED: usize = 6;

impl ChaosPlan {
    /// Faults at `weather`'s rates, at random from `seed`: the same seed and the same
    /// requests, the same faults.
    pub fn new(seed: u64, weather: Weather) -> Self {
        Self(Arc::new(Chaos {
            weather,
            dice: Dice::new(seed),
            counts: Default::default(),
            lose_next: Mutex::default(),
            lost_transactions: Mutex::default(),
        }))
    }

    /// A plan that injects nothing until told to (see [`ChaosPlan::lose_next_answer`]).
    pub fn calm() -> Self {
        Self::new(0, Weather::default())
    }

    /// The next request of `operation` (as DynamoDB or SQS name it: `PutItem`,
    /// `TransactWriteItems`, `SendMessageBatch`; for S3 the method: `PUT`) is done and
    /// its answer lost; the SDK tries it again.
    pub fn lose_next_answer(&self, operation: &str) {
        self.0.lose_next.lock().expect("not poisoned").push(operation.to_owned());
    }

    /// What the plan has done so far.
    pub fn tally(&self) -> ChaosTally {
        let count = |i: usize| self.0.counts[i].load(Ordering::SeqCst);
        ChaosTally {
            requests: count(REQUESTS),
            throttles: count(THROTTLES),
            server_errors: count(SERVER_ERRORS),
            lost_answers: count(LOST_ANSWERS),
            unprocessed: count(UNPROCESSED),
            conflicts: count(CONFLICTS),
            replayed: count(REPLAYED),
        }
    }

    fn count(&self, i: usize) {
        self.0.counts[i].fetch_add(1, Ordering::SeqCst);
    }

    /// What becomes of `request`.
    fn weather_for(&self, request: &HttpRequest) -> Fate {
        self.count(REQUESTS);
        let call = Call::of(request);
        let token = (call.operation == "TransactWriteItems")
            .then(|| body_json(request))
            .flatten()
            .and_then(|body| body.get("ClientRequestToken").and_then(Value::as_str).map(str::to_owned));
        if let Some(token) = &token
            && self.0.lost_transactions.lock().expect("not poisoned").contains(token)
        {
            // DynamoDB's idempotency: the retried transaction's first success, not applied again.
            self.count(REPLAYED);
            return Fate::Answer(Box::new(answer(&call, 200, json!({}))));
        }
        let lose = {
            let mut next = self.0.lose_next.lock().expect("not poisoned");
            next.iter().position(|op| *op == call.operation).map(|i| next.remove(i)).is_some()
        };
        let w = self.0.weather;
        let roll = self.0.dice.roll(1000);
        let mut bound = 0;
        let mut strikes = |rate: u64| {
            let hit = (bound..bound + rate).contains(&roll);
            bound += rate;
            hit
        };
        let fate = if lose {
            Fate::LoseAnswer
        } else if strikes(w.throttles) {
            self.count(THROTTLES);
            Fate::Answer(Box::new(call.throttled(roll)))
        } else if strikes(w.server_errors) {
            self.count(SERVER_ERRORS);
            Fate::Answer(Box::new(call.failed()))
        } else if strikes(w.lost_answers) {
            Fate::LoseAnswer
        } else if strikes(w.unprocessed)
            && matches!(call.operation.as_str(), "BatchWriteItem" | "BatchGetItem" | "SendMessageBatch")
        {
            self.count(UNPROCESSED);
            let body = body_json(request).unwrap_or_default();
            let items = body.get("RequestItems").cloned().unwrap_or(json!({}));
            let body = match call.operation.as_str() {
                "BatchWriteItem" => json!({"UnprocessedItems": items}),
                "BatchGetItem" => json!({"Responses": {}, "UnprocessedKeys": items}),
                // SQS takes a batch entry by entry: here every one failed, on its side.
                _ => {
                    let entries = body["Entries"].as_array().cloned().unwrap_or_default();
                    let failed: Vec<Value> = entries
                        .iter()
                        .map(|e| json!({"Id": e["Id"], "SenderFault": false, "Code": "InternalError", "Message": "injected fault"}))
                        .collect();
                    json!({"Successful": [], "Failed": failed})
                }
            };
            Fate::Answer(Box::new(answer(&call, 200, body)))
        } else if strikes(w.conflicts) && call.operation == "TransactWriteItems" {
            self.count(CONFLICTS);
            let items = body_json(request).and_then(|b| b["TransactItems"].as_array().map(Vec::len)).unwrap_or(1);
            // The first item is held by another transaction; the others were fine.
            let reasons: Vec<Value> = (0..items)
                .map(|i| if i == 0 { json!({"Code": "TransactionConflict"}) } else { json!({"Code": "None"}) })
                .collect();
            Fate::Answer(Box::new(call.error(400, "TransactionCanceledException", Some(reasons))))
        } else {
            Fate::Send
        };
        if let Fate::LoseAnswer = fate {
            self.count(LOST_ANSWERS);
            if let Some(token) = token {
                self.0.lost_transactions.lock().expect("not poisoned").insert(token);
            }
        }
        fate
    }
}

/// Seeded dice, shared: SplitMix64 (Steele, Lea and Flood), one step per roll, so the same
/// seed and the same rolls give the same numbers (the soak's event source rolls them too).
#[derive(Debug)]
pub struct Dice(AtomicU64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }

    /// A number in `0..sides`.
    pub fn roll(&self, sides: u64) -> u64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % sides
    }
}

/// What the plan does with one request.
enum Fate {
    /// Sent as it is, answered by the service.
    Send,
    /// Sent, done, and the answer lost.
    LoseAnswer,
    /// Not sent; this is the answer.
    Answer(Box<HttpResponse>),
}

/// The service and operation of a request: DynamoDB and SQS (and SSM) name it in their
/// `x-amz-target` header; an S3 request is named by its method.
struct Call {
    service: Service,
    operation: String,
}

#[derive(PartialEq)]
enum Service {
    DynamoDb,
    /// SQS, SSM: JSON errors under their own namespace.
    Json(&'static str),
    S3,
}

impl Call {
    fn of(request: &HttpRequest) -> Self {
        match request.headers().get("x-amz-target").and_then(|t| t.split_once('.')) {
            Some((prefix, operation)) => {
                let service = if prefix.starts_with("DynamoDB") {
                    Service::DynamoDb
                } else if prefix.starts_with("AmazonSQS") {
                    Service::Json("com.amazonaws.sqs")
                } else {
                    Service::Json("com.amazonaws.ssm")
                };
                Self { service, operation: operation.to_owned() }
            }
            None => Self { service: Service::S3, operation: request.method().to_owned() },
        }
    }

    /// A throttling error as the service sends it.
    fn throttled(&self, roll: u64) -> HttpResponse {
        match self.service {
            // DynamoDB throttles both ways; either is retried as a throttle.
            Service::DynamoDb if roll.is_multiple_of(2) => self.error(400, "ThrottlingException", None),
            Service::DynamoDb => self.error(400, "ProvisionedThroughputExceededException", None),
            Service::Json(_) => self.error(400, "RequestThrottled", None),
            Service::S3 => self.error(503, "SlowDown", None),
        }
    }

    /// An internal error as the service sends it.
    fn failed(&self) -> HttpResponse {
        match self.service {
            Service::S3 => self.error(500, "InternalError", None),
            _ => self.error(500, "InternalServerError", None),
        }
    }

    fn error(&self, status: u16, code: &str, reasons: Option<Vec<Value>>) -> HttpResponse {
        let message = format!("injected fault: {code}");
        match self.service {
            Service::S3 => {
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
                );
                let mut response = HttpResponse::new(status_code(status), SdkBody::from(xml));
                response.headers_mut().insert("content-type", "application/xml");
                response
            }
            Service::DynamoDb | Service::Json(_) => {
                let namespace = match self.service {
                    Service::Json(namespace) => namespace,
                    _ => "com.amazonaws.dynamodb.v20120810",
                };
                let mut body = json!({"__type": format!("{namespace}#{code}"), "message": message});
                if let Some(reasons) = reasons {
                    body["CancellationReasons"] = Value::Array(reasons);
                }
                answer(self, status, body)
            }
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::try_from(status).expect("a valid status")
}

/// A JSON answer (DynamoDB, SQS and SSM speak JSON 1.0).
fn answer(call: &Call, status: u16, body: Value) -> HttpResponse {
    let mut response = HttpResponse::new(status_code(status), SdkBody::from(body.to_string()));
    let content_type =
        if call.service == Service::DynamoDb { "application/x-amz-json-1.0" } else { "application/json" };
    response.headers_mut().insert("content-type", content_type);
    response
}

/// The request's JSON body, when it has one in memory (every DynamoDB request has).
fn body_json(request: &HttpRequest) -> Option<Value> {
    request.body().bytes().and_then(|bytes| serde_json::from_slice(bytes).ok())
}

/// An HTTP client that puts every request through a [`ChaosPlan`] before (or instead
/// of) sending it with the client it wraps.
#[derive(Debug, Clone)]
pub struct ChaosHttpClient {
    inner: SharedHttpClient,
    plan: ChaosPlan,
}

impl ChaosHttpClient {
    pub fn new(inner: SharedHttpClient, plan: ChaosPlan) -> Self {
        Self { inner, plan }
    }
}

impl HttpClient for ChaosHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(ChaosConnector { inner, plan: self.plan.clone() })
    }
}

#[derive(Debug)]
struct ChaosConnector {
    inner: SharedHttpConnector,
    plan: ChaosPlan,
}

impl HttpConnector for ChaosConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match self.plan.weather_for(&request) {
            Fate::Send => self.inner.call(request),
            Fate::Answer(response) => HttpConnectorFuture::ready(Ok(*response)),
            Fate::LoseAnswer => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    let _done = sent.await;
                    Err(ConnectorError::io("injected fault: the connection dropped before the answer".into()))
                })
            }
        }
    }
}
