//! Running on AWS Lambda: what the function binaries share.
//!
//! HTTP functions run the very router `gridctl serve` mounts, under `lambda_http`.
//! Job functions (`poller`, `settlement`, `batch-monitor`) take a [`Trigger`]: a
//! schedule (EventBridge Scheduler's input, or the classic scheduled event) or, for the
//! poller, a batch of SQS messages, answered with `batchItemFailures` so only failed
//! messages are retried. Every function runs through [`run_http`] or [`run_job`], which
//! write the invocation's metrics to its log afterwards (CloudWatch's Embedded Metric
//! Format; see [`crate::metrics`]).
//!
//! The job handlers take the time as `now`: the functions pass the clock's, and the
//! serverless soak (tests/soak) passes its simulated day's, through the same code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What started a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule fired. `at` is the scheduled time when the event carries one, `job`
    /// the job the schedule names (EventBridge Scheduler's input; `poller-full` is the
    /// poller's full sweep).
    Schedule { source: ScheduleSource, at: Option<String>, job: Option<String> },
    /// SQS delivered a batch of messages.
    Queue(Vec<QueueRecord>),
}

/// Which kind of scheduler sent the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleSource {
    /// EventBridge Scheduler (SAM `ScheduleV2`), with the input the template gives it.
    Scheduler,
    /// A classic EventBridge rule: `{"detail-type": "Scheduled Event", "source": "aws.events", …}`.
    ScheduledEvent,
}

/// One SQS message of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRecord {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
}

/// The event is none of the shapes a job accepts.
#[derive(Debug, thiserror::Error)]
#[error("unrecognised job event: {0}")]
pub struct TriggerError(String);

#[derive(Deserialize)]
struct SqsEvent {
    #[serde(rename = "Records")]
    records: Vec<SqsRecordShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SqsRecordShape {
    event_source: String,
    #[serde(flatten)]
    record: QueueRecord,
}

#[derive(Deserialize)]
struct ClassicScheduledEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    time: Option<String>,
}

/// The input `infra/template.yaml` gives EventBridge Scheduler targets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerInput {
    job: String,
    #[serde(rename = "scheduledTime")]
    scheduled_time: Option<String>,
}

impl Trigger {
    /// Recognises an event by its shape.
    pub fn parse(event: &Value) -> Result<Self, TriggerError> {
        if event.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(event.clone()).map_err(|e| TriggerError(e.to_string()))?;
            if let Some(other) = sqs.records.iter().find(|r| r.event_source != "aws:sqs") {
                return Err(TriggerError(format!("records from {} are not SQS messages", other.event_source)));
            }
            return Ok(Self::Queue(sqs.records.into_iter().map(|r| r.record).collect()));
        }
        if event.get("detail-type").is_some() {
            let classic: ClassicScheduledEvent =
                serde_json::from_value(event.clone()).map_err(|e| TriggerError(e.to_string()))?;
            if classic.detail_type != "Scheduled Event" || classic.source != "aws.events" {
                return Err(TriggerError(format!("{} from {} is not a schedule", classic.detail_type, classic.source)));
            }
            return Ok(Self::Schedule { source: ScheduleSource::ScheduledEvent, at: classic.time, job: None });
        }
        let input: SchedulerInput = serde_json::from_value(event.clone()).map_err(|e| TriggerError(e.to_string()))?;
        tracing::debug!(job = %input.job, "scheduler input");
        Ok(Self::Schedule { source: ScheduleSource::Scheduler, at: input.scheduled_time, job: Some(input.job) })
    }
}

/// The answer to an SQS batch: the messages to deliver again.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

/// A message that failed and should be delivered again.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

/// A job failed; Lambda reports the error and the schedule or queue retries.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Poll(#[from] crate::jobs::PollerError),
    #[error(transparent)]
    Settle(#[from] crate::jobs::SettlerError),
    #[error(transparent)]
    Pay(#[from] crate::jobs::MonitorError),
}

impl From<JobError> for lambda_runtime::Diagnostic {
    fn from(e: JobError) -> Self {
        let error_type = match &e {
            JobError::Trigger(_) => "TriggerError",
            JobError::Poll(_) => "PollError",
            JobError::Settle(_) => "SettlementError",
            JobError::Pay(_) => "PaymentError",
        };
        Self { error_type: error_type.to_owned(), error_message: crate::telemetry::cause_chain(&e) }
    }
}

/// The job name of the poller's rare schedule: every polled registration, not only the
/// channels with unread messages.
pub const FULL_SWEEP: &str = "poller-full";

/// The poller function: its schedule sweeps the channels with unread messages (and its
/// rare one, [`FULL_SWEEP`], every registration) into polling work on `poll-work`; a
/// batch from `poll-work` (queued by a sweep or by the channel node as it stores
/// envelopes) is polled, and the messages that failed are reported so that only they
/// come back.
pub async fn poller(
    poller: &crate::jobs::Poller,
    event: lambda_runtime::LambdaEvent<Value>,
    now: grid_core::EpochMs,
) -> Result<Value, JobError> {
    match Trigger::parse(&event.payload)? {
        Trigger::Schedule { job, .. } if job.as_deref() == Some(FULL_SWEEP) => {
            let report = poller.dispatch().await?;
            Ok(
                serde_json::json!({"job": FULL_SWEEP, "registrations": report.registrations, "messages": report.messages}),
            )
        }
        Trigger::Schedule { .. } => {
            let report = poller.sweep().await?;
            Ok(serde_json::json!({"job": "poller", "unread": report.unread, "registrations": report.registrations,
                                  "messages": report.messages, "markedRead": report.marked_read,
                                  "expired": report.expired}))
        }
        Trigger::Queue(records) => {
            // The batch's registrations together, each polled once however many of its
            // messages name it (the queue's batching window gathers notifications).
            let bodies: Vec<&str> = records.iter().map(|r| r.body.as_str()).collect();
            let (_, outcomes) = poller.work_batch(&bodies, now).await;
            let mut response = BatchResponse::default();
            for (record, outcome) in records.iter().zip(outcomes) {
                if let Err(e) = outcome {
                    tracing::warn!(message_id = %record.message_id, error = %e, "polling work failed; it comes back");
                    response.batch_item_failures.push(ItemFailure { item_identifier: record.message_id.clone() });
                }
            }
            Ok(serde_json::to_value(response).expect("a batch response serialises"))
        }
    }
}

/// The settlement function: settles every due period on each scheduled run.
pub async fn settlement(
    settler: &crate::jobs::Settler,
    event: lambda_runtime::LambdaEvent<Value>,
    now: grid_core::EpochMs,
) -> Result<Value, JobError> {
    if let Trigger::Queue(_) = Trigger::parse(&event.payload)? {
        return Err(TriggerError("settlement runs on its schedule, not from a queue".to_owned()).into());
    }
    let settled = settler.run(now).await?;
    let periods: Vec<u64> = settled.iter().map(|r| r.period.get()).collect();
    Ok(serde_json::json!({"job": "settlement", "settled": periods}))
}

/// The batch-monitor function: verifies payment claims, follows payouts to final,
/// and pays producers what the cash allows, on each scheduled run.
pub async fn batch_monitor(
    monitor: &crate::jobs::BatchMonitor,
    event: lambda_runtime::LambdaEvent<Value>,
    now: grid_core::EpochMs,
) -> Result<Value, JobError> {
    if let Trigger::Queue(_) = Trigger::parse(&event.payload)? {
        return Err(TriggerError("the batch monitor runs on its schedule, not from a queue".to_owned()).into());
    }
    let report = monitor.run(now).await?;
    Ok(serde_json::json!({
        "job": "batch-monitor",
        "skipped": report.skipped,
        "asked": report.asked,
        "stalled": report.stalled,
        "verified": report.verified,
        "rejected": report.rejected,
        "payoutsSubmitted": report.payouts_submitted,
        "payoutsCommitted": report.payouts_committed,
        "payoutsRefused": report.payouts_refused,
    }))
}

/// The function's metrics, written to its log after each invocation.
static EMF: std::sync::OnceLock<&'static metrics_cloudwatch_embedded::Collector> = std::sync::OnceLock::new();

/// Collects this function's metrics for CloudWatch: after each invocation they are
/// written to the log as Embedded Metric Format lines, under
/// [`NAMESPACE`](crate::metrics::NAMESPACE) with the stack's name (`GRID_STACK`, which the
/// template sets) as the [`STACK`](crate::metrics::STACK) dimension.
fn collect_metrics(stack: &str) {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(crate::metrics::NAMESPACE)
        .with_dimension(crate::metrics::STACK, stack.to_owned())
        .init();
    match collector {
        Ok(collector) => {
            let _ = EMF.set(collector);
            grid_http::count_requests_by_status_only();
        }
        Err(e) => tracing::warn!(error = %e, "cannot collect metrics; the function runs without them"),
    }
}

/// Writes what the invocation recorded to the log (one line per set of dimensions).
fn flush_metrics() {
    if let Some(collector) = EMF.get()
        && let Err(e) = collector.flush(std::io::stdout().lock())
    {
        tracing::warn!(error = %e, "cannot write the invocation's metrics");
    }
}

/// Runs an HTTP function: `router` under `lambda_http`, its metrics written after each
/// request.
pub async fn run_http(router: axum::Router, config: &crate::GridConfig) -> Result<(), lambda_http::Error> {
    collect_metrics(&config.stack);
    let flushed = axum::middleware::from_fn(|request: axum::extract::Request, next: axum::middleware::Next| async {
        let response = next.run(request).await;
        flush_metrics();
        response
    });
    lambda_http::run(router.layer(flushed)).await
}

/// Runs a job function: `handler` for each event, its metrics written after each one.
pub async fn run_job<F, Fut>(config: &crate::GridConfig, handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(lambda_runtime::LambdaEvent<Value>) -> Fut,
    Fut: std::future::Future<Output = Result<Value, JobError>>,
{
    collect_metrics(&config.stack);
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        let answer = handler(event);
        async {
            let answer = answer.await;
            flush_metrics();
            answer
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_eventbridge_scheduler_input_is_a_schedule() {
        let event = json!({"job": "settlement", "scheduledTime": "2026-11-22T10:00:00Z"});
        assert_eq!(
            Trigger::parse(&event).unwrap(),
            Trigger::Schedule {
                source: ScheduleSource::Scheduler,
                at: Some("2026-11-22T10:00:00Z".into()),
                job: Some("settlement".into())
            }
        );
    }

    #[test]
    fn a_classic_scheduled_event_is_a_schedule() {
        let event = json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
            "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/poller"], "detail": {}
        });
        assert_eq!(
            Trigger::parse(&event).unwrap(),
            Trigger::Schedule {
                source: ScheduleSource::ScheduledEvent,
                at: Some("2026-11-22T10:00:00Z".into()),
                job: None
            }
        );
    }

    #[test]
    fn an_sqs_batch_is_a_queue_trigger() {
        let event = json!({"Records": [
            {"messageId": "m1", "receiptHandle": "r", "body": "{\"shard\":1}", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:poll-work", "awsRegion": "eu-west-1",
             "attributes": {}, "messageAttributes": {}, "md5OfBody": "x"}
        ]});
        assert_eq!(
            Trigger::parse(&event).unwrap(),
            Trigger::Queue(vec![QueueRecord { message_id: "m1".into(), body: "{\"shard\":1}".into() }])
        );
    }

    #[test]
    fn other_events_are_refused() {
        for event in [
            json!({}),
            json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2"}),
            json!({"Records": [{"messageId": "m", "eventSource": "aws:s3"}]}),
            json!({"job": "poller", "extra": true}),
            json!([1, 2]),
        ] {
            assert!(Trigger::parse(&event).is_err(), "{event}");
        }
    }

    #[test]
    fn a_batch_response_has_the_shape_lambda_expects() {
        let response = BatchResponse { batch_item_failures: vec![ItemFailure { item_identifier: "m1".into() }] };
        assert_eq!(serde_json::to_value(response).unwrap(), json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}));
    }
}
