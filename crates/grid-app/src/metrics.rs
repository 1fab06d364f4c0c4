//! What an operator watches, and what the alarms fire on (docs/operations.md).
//!
//! The code records through the [`metrics`] facade, so no job or handler knows where its
//! figures go. `gridctl serve` renders them at `GET /metrics` in Prometheus text, behind
//! the portal's token. A Lambda function writes those of each invocation to its log in
//! CloudWatch's Embedded Metric Format ([`lambda`](crate::lambda)), and CloudWatch turns
//! the lines into metrics under [`NAMESPACE`], each with the stack's name as the [`STACK`]
//! dimension; the template's alarms and dashboard watch those. The names below are the
//! only spelling of each: the template's tests read them from here.
//!
//! Counters count since the process started (Prometheus) or within the invocation
//! (CloudWatch sums them); gauges are the state a job saw last.

use grid_core::market::SettlementRecord;

/// CloudWatch's namespace for the grid's metrics.
pub const NAMESPACE: &str = "EnergyGrid";
/// The dimension every metric carries on Lambda: the stack, so two stacks in one
/// account keep their figures apart.
pub const STACK: &str = "Stack";

/// Readings the poller stored (counter).
pub const READINGS_INGESTED: &str = "readings_ingested";
/// Channel messages the poller refused, by [`REASON`] (counter).
pub const READINGS_REJECTED: &str = "readings_rejected";
/// Envelopes the channel node stored (counter).
pub const MESSAGES_ATTACHED: &str = "channel_messages_attached";
/// Periods settled (counter).
pub const PERIODS_SETTLED: &str = "periods_settled";
/// IOTA billed to consumers for settled periods (counter).
pub const REVENUE: &str = "revenue_iota";
/// The grid's fee of settled periods, in IOTA (counter).
pub const FEE: &str = "fee_iota";
/// Energy traded locally in settled periods, in Wh (counter).
pub const MATCHED: &str = "matched_wh";
/// Energy consumers drew from the utility in settled periods, in Wh (counter).
pub const IMPORTED: &str = "imported_wh";
/// Energy producers offered beyond local use in settled periods, in Wh (counter).
pub const EXPORTED: &str = "exported_wh";
/// How far the newest settled period's end is behind now, in seconds (gauge, set by
/// each settlement run).
pub const SETTLEMENT_LAG: &str = "settlement_lag_seconds";
/// Ledger batches the monitor found stalled: pending too long or asked about too often
/// (counter, once per batch).
pub const BATCHES_STALLED: &str = "ledger_batches_stalled";
/// Ledger batches the monitor found invalid: a consumer's payment claim rejected, or a
/// payout the ledger refused (counter).
pub const BATCHES_INVALID: &str = "ledger_batches_invalid";
/// Ledger batches sent and not yet final, claims and payouts (gauge, set by each
/// monitor run).
pub const BATCHES_PENDING: &str = "ledger_batches_pending";
/// Payouts to producers sent to the ledger and not yet final (gauge, set by each
/// monitor run).
pub const PAYOUTS_PENDING: &str = "payouts_pending";
/// How long the channel unread the longest has had messages its reader has not read,
/// in seconds (gauge, set by each sweep): how far ingestion is behind.
pub const POLL_LAG: &str = "poll_lag_seconds";
/// Messages in a queue's dead-letter queue, by [`QUEUE`] (gauge: `poll-work` set by
/// each sweep, `completions` by each monitor run).
pub const DEAD_LETTERS: &str = "dead_letters";
/// Runs of a job, by [`JOB`] (counter): an alarm fires when one stops.
pub const JOB_RUNS: &str = "job_runs";
/// HTTP requests answered and how long they took, by route template and status class:
/// recorded at the HTTP edge, for the grid and the device agents alike.
pub use grid_http::{HTTP_DURATION, HTTP_REQUESTS, ROUTE, STATUS};

/// Every metric the code emits on Lambda, with the dimensions it carries beside
/// [`STACK`]: what the template's alarms and dashboard may watch.
pub const EMITTED: &[(&str, &[&str])] = &[
    (READINGS_INGESTED, &[]),
    (READINGS_REJECTED, &[REASON]),
    (MESSAGES_ATTACHED, &[]),
    (PERIODS_SETTLED, &[]),
    (REVENUE, &[]),
    (FEE, &[]),
    (MATCHED, &[]),
    (IMPORTED, &[]),
    (EXPORTED, &[]),
    (SETTLEMENT_LAG, &[]),
    (BATCHES_STALLED, &[]),
    (BATCHES_INVALID, &[]),
    (BATCHES_PENDING, &[]),
    (PAYOUTS_PENDING, &[]),
    (POLL_LAG, &[]),
    (DEAD_LETTERS, &[QUEUE]),
    (JOB_RUNS, &[JOB]),
    // By route in `serve` only (see `grid_http::answered`).
    (HTTP_REQUESTS, &[STATUS]),
    (HTTP_DURATION, &[]),
];

/// Why a channel message was refused.
pub const REASON: &str = "reason";
/// Which queue (`poll-work`, `completions`).
pub const QUEUE: &str = "queue";
/// Which job ran.
pub const JOB: &str = "job";

/// A settled period, into the counters.
pub fn settled(record: &SettlementRecord) {
    metrics::counter!(PERIODS_SETTLED).increment(1);
    metrics::counter!(REVENUE).increment(record.revenue.get());
    metrics::counter!(FEE).increment(record.fee.get());
    metrics::counter!(MATCHED).increment(record.matched.get());
    metrics::counter!(IMPORTED).increment(record.imported.get());
    metrics::counter!(EXPORTED).increment(record.exported.get());
}

/// A dead-letter queue's depth.
pub fn dead_letters(queue: &'static str, count: u64) {
    metrics::gauge!(DEAD_LETTERS, QUEUE => queue).set(count as f64);
}

/// A job ran (whatever it found to do).
pub fn ran(job: &'static str) {
    metrics::counter!(JOB_RUNS, JOB => job).increment(1);
}

#[cfg(feature = "prometheus")]
static PROMETHEUS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();

/// Collects this process's metrics for [`render`] (once; later calls change nothing).
/// Fails if another recorder was installed first.
#[cfg(feature = "prometheus")]
pub fn collect_for_prometheus() -> Result<(), metrics::SetRecorderError<metrics_exporter_prometheus::PrometheusRecorder>>
{
    if PROMETHEUS.get().is_some() {
        return Ok(());
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    let _ = PROMETHEUS.set(handle);
    Ok(())
}

/// The metrics so far in Prometheus text, if this process collects them.
pub fn render() -> Option<String> {
    #[cfg(feature = "prometheus")]
    if let Some(handle) = PROMETHEUS.get() {
        return Some(handle.render());
    }
    None
}
