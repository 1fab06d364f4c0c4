//! The port for the jobs' heartbeats: when each job last ran and what it did, for the
//! operator (the portal's last runs and its health strip).
//!
//! The reports are typed here, at the port, rather than in grid-core: a heartbeat is the
//! application's record of its own work, not a fact of the market, and nothing in the
//! domain reads one; the jobs that write them and the portal that reads them meet only
//! at this port. A store keeps a report as JSON text under its job's name
//! (`records::HeartbeatRecord`); each report reads a field it lacks as zero, so one
//! written before the field was added still reads.

use async_trait::async_trait;
use grid_core::market::{PeriodStart, SettlementRecord};
use grid_core::{EpochMs, Iota, Price, Wh};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// What records heartbeats: the jobs, and one event of the poller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// The minute sweep of unread channels.
    PollerSweep,
    /// The rare full sweep of every polled registration.
    PollerDispatch,
    /// The poller's work on queued messages.
    Poller,
    Settlement,
    BatchMonitor,
    /// Not a job of its own: the last poll that stored readings after their period
    /// had settled.
    LateReadings,
}

impl Job {
    /// The jobs proper (not [`Job::LateReadings`]), in the order the portal lists their
    /// runs.
    pub const RUNS: [Job; 5] = [Job::PollerSweep, Job::PollerDispatch, Job::Poller, Job::Settlement, Job::BatchMonitor];

    /// The name its heartbeat is stored under, and its runs are counted by.
    pub const fn as_str(self) -> &'static str {
        match self {
            Job::PollerSweep => "poller-sweep",
            Job::PollerDispatch => "poller-dispatch",
            Job::Poller => "poller",
            Job::Settlement => "settlement",
            Job::BatchMonitor => "batch-monitor",
            Job::LateReadings => "late-readings",
        }
    }
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run did, one variant per [`Job`]. Serialized, it is the report alone (the job
/// is the key it is stored under), as the portal's API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum JobReport {
    PollerSweep(SweepReport),
    PollerDispatch(DispatchReport),
    Poller(PollReport),
    Settlement(SettledPeriods),
    BatchMonitor(MonitorReport),
    LateReadings(LateReport),
}

impl JobReport {
    /// The job whose report this is.
    pub fn job(&self) -> Job {
        match self {
            JobReport::PollerSweep(_) => Job::PollerSweep,
            JobReport::PollerDispatch(_) => Job::PollerDispatch,
            JobReport::Poller(_) => Job::Poller,
            JobReport::Settlement(_) => Job::Settlement,
            JobReport::BatchMonitor(_) => Job::BatchMonitor,
            JobReport::LateReadings(_) => Job::LateReadings,
        }
    }
}

/// A job's latest run: when it ended and what it did (which names the job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub at: EpochMs,
    pub report: JobReport,
}

impl Heartbeat {
    pub fn job(&self) -> Job {
        self.report.job()
    }
}

/// Keeps the latest heartbeat of each job.
#[async_trait]
pub trait HeartbeatLog: Send + Sync {
    /// Records a run of the heartbeat's job, replacing its previous heartbeat.
    async fn beat(&self, heartbeat: &Heartbeat) -> Result<(), StoreError>;

    /// The latest heartbeat of `job`, whose report is `job`'s.
    async fn last(&self, job: Job) -> Result<Option<Heartbeat>, StoreError>;
}

/// What a sweep did: the unread channels it found, the registrations it queued polling
/// work for, the channels it marked read (no polled registration reads them, or their
/// reader is already past their head), those that cannot progress (nothing at their
/// reader's cursor: a gap their device left), how long the longest-unread channel that
/// can progress had been unread (the poll lag), the channels nobody claimed that it
/// deleted once they expired, and the dead letters of the polling and completions queues.
/// The sweep counts both every minute, so nothing else asks the queues (the portal shows
/// the last sweep's count): on Lambda the first request to a queue builds its client,
/// which doubled the portal's and the batch monitor's cold starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepReport {
    pub unread: usize,
    pub registrations: usize,
    pub messages: usize,
    pub marked_read: usize,
    pub stalled: usize,
    pub lag_seconds: u64,
    pub expired: usize,
    pub dead_letters: u64,
    pub completions_dead_letters: u64,
}

/// What a full sweep did: the polled registrations it looked at, those with a message
/// waiting at their cursor, and the work messages that queued them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatchReport {
    pub registrations: usize,
    pub waiting: usize,
    pub messages: usize,
}

/// What polling did, summed over registrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PollReport {
    pub registrations: usize,
    pub messages: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub late: u64,
    pub rejected: u64,
    pub payments: u64,
    pub closed: u64,
}

impl std::ops::AddAssign for PollReport {
    fn add_assign(&mut self, other: Self) {
        self.registrations += other.registrations;
        self.messages += other.messages;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.late += other.late;
        self.rejected += other.rejected;
        self.payments += other.payments;
        self.closed += other.closed;
    }
}

/// The periods a settlement run settled, each in brief (the full report is archived).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettledPeriods {
    pub settled: Vec<SettledPeriod>,
}

/// One settled period's figures, as the heartbeat gives them. Runs before the local
/// market (DESIGN.md §6) recorded only the period, its price and its revenue: the rest
/// read as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledPeriod {
    pub period: PeriodStart,
    pub price: Price,
    #[serde(default)]
    pub matched: Wh,
    #[serde(default)]
    pub imported: Wh,
    #[serde(default)]
    pub exported: Wh,
    #[serde(default)]
    pub revenue: Iota,
    #[serde(default)]
    pub fee: Iota,
}

impl From<&SettlementRecord> for SettledPeriod {
    fn from(r: &SettlementRecord) -> Self {
        Self {
            period: r.period,
            price: r.price,
            matched: r.matched,
            imported: r.imported,
            exported: r.exported,
            revenue: r.revenue,
            fee: r.fee,
        }
    }
}

/// What one run of the batch monitor did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorReport {
    /// Another run held the lease; this one did nothing.
    pub skipped: bool,
    pub rounds: u64,
    pub asked: u64,
    pub requests_failed: u64,
    pub not_final: u64,
    pub resent: u64,
    pub stalled: u64,
    pub verified: u64,
    pub rejected: u64,
    pub payouts_submitted: u64,
    pub payouts_committed: u64,
    pub payouts_refused: u64,
    /// Claims and payouts not yet final after the run, and the payouts among them.
    pub pending: u64,
    pub payouts_pending: u64,
}

/// What the [`Job::LateReadings`] heartbeat says: how many readings that poll stored
/// after their period had settled (they count in a later one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LateReport {
    pub late: u64,
}
