//! The grid's jobs: the poller (channels → readings), settlement (readings →
//! prices, bills and earnings) and the batch monitor (payments verified, producers
//! paid, ledger batches followed until final). Each is a plain struct over the ports, run by
//! `gridctl serve` on an interval and by the Lambda functions on schedules and queues.
//! Every effect is idempotent, so a job may run twice, concurrently, or be cut off at
//! any point and run again.

mod doorbell;
mod lease;
mod monitor;
mod payer;
mod poller;
mod settlement;

pub use doorbell::QueueDoorbell;
/// What the jobs report: typed at the heartbeat port, where the portal reads them.
pub use grid_store::{DispatchReport, Job, JobReport, LateReport, MonitorReport, PollReport, SweepReport};
pub use monitor::{BatchMonitor, MonitorError};
pub use payer::ProducerPayer;
pub use poller::{Poller, PollerError, WorkFailed};
pub use settlement::{SettlementReport, Settler, SettlerError};

use grid_store::{Heartbeat, HeartbeatLog};

/// Counts a run of the report's job and records what it did, for the operator (the
/// portal's last runs; the alarm on a job that stopped watches the count).
async fn heartbeat(log: &dyn HeartbeatLog, report: JobReport) {
    crate::metrics::ran(report.job().as_str());
    record(log, report).await;
}

/// Whether something done at most once per interval is due now, shared by clones (the
/// poller's tasks) of what holds it.
#[derive(Clone, Default)]
pub(crate) struct Every(std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>);

impl Every {
    /// True, and noted, if it was never done or `interval` has passed since.
    fn due(&self, interval: std::time::Duration) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= interval);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }
}

/// Writes a heartbeat: a run of the report's job, or (for [`Job::LateReadings`]) the
/// latest of an event. A failure to record is logged, never fatal (the run's own effects
/// are what count).
async fn record(log: &dyn HeartbeatLog, report: JobReport) {
    let beat = Heartbeat { at: grid_core::EpochMs::now(), report };
    if let Err(e) = log.beat(&beat).await {
        tracing::warn!(job = %beat.job(), error = %crate::telemetry::cause_chain(&e), "cannot record the heartbeat");
    }
}

/// The jobs `gridctl serve` runs beside the APIs, every `POLL_INTERVAL_SECS`, in place
/// of the Lambda schedules.
pub struct Jobs {
    pub poller: Poller,
    pub settler: Settler,
    pub monitor: BatchMonitor,
    pub interval: std::time::Duration,
    /// Rung when the node stores envelopes: the poller drains the queued work at once.
    pub woken: std::sync::Arc<tokio::sync::Notify>,
}

impl Jobs {
    /// Runs the poller, settlement and the batch monitor every `interval` until `stop`
    /// resolves. Each round sweeps the channels with unread messages; one every
    /// `POLL_FULL_SWEEP_SECS` (not the first), every polled registration. Between
    /// rounds, when woken (the [`QueueDoorbell`] rang: the node stored envelopes), it polls
    /// the work queued at once, as the queue's trigger does on Lambda. A failed round is
    /// logged and retried at the next tick; nothing is lost by it. A round under way when
    /// `stop` resolves gets `grace` to finish, and is dropped after it: every step is
    /// idempotent, so the next start takes up where it was cut (a lease it held expires
    /// first).
    pub async fn run_every_interval(self, grace: std::time::Duration, stop: impl std::future::Future<Output = ()>) {
        let Self { poller, settler, monitor, interval, woken } = self;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Not at start: the channel heads kept in the store show what is unread, and a
        // full sweep of a million registrations is minutes of work at every restart.
        let full_sweep = settler.market.full_sweep;
        let mut last_full = std::time::Instant::now();
        tokio::pin!(stop);
        loop {
            let scheduled = tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => true,
                () = woken.notified() => false,
            };
            let full = scheduled && last_full.elapsed() >= full_sweep;
            if full {
                last_full = std::time::Instant::now();
            }
            let round = async {
                if scheduled {
                    one_round(&poller, &settler, &monitor, interval, full).await;
                } else {
                    drain(&poller, &settler, interval).await;
                }
            };
            tokio::pin!(round);
            tokio::select! {
                () = &mut round => {}
                () = &mut stop => {
                    if tokio::time::timeout(grace, round).await.is_err() {
                        tracing::warn!(?grace, "stopping in the middle of a job round; the next start takes it up");
                    }
                    return;
                }
            }
        }
    }
}

/// Polls the queued work, warning when readings came late.
async fn drain(poller: &Poller, settler: &Settler, interval: std::time::Duration) {
    match poller.drain(grid_core::EpochMs::now()).await {
        Ok(report) if report.late > 0 => warn_late(report.late, settler.market.grace_secs, interval.as_secs()),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %crate::telemetry::cause_chain(&e), "polling failed"),
    }
}

/// Readings that arrive after their period settled count in a later one: the producer
/// is paid, but not in the period its energy was made. Said every round it happens, with
/// what to change, since a grace too short makes every offer late.
fn warn_late(late: u64, grace_secs: u64, poll_secs: u64) {
    tracing::warn!(
        late,
        grace_secs,
        poll_secs,
        "{} arrived after their period had settled and count in a later one; if this keeps happening, \
         raise SETTLEMENT_GRACE_SECS above the producers' --delay-secs plus POLL_INTERVAL_SECS",
        grid_core::count(late, "reading")
    );
}

/// One scheduled round: the sweep of unread channels (with `full`, of every polled
/// registration), polling, settlement, payments.
async fn one_round(
    poller: &Poller,
    settler: &Settler,
    monitor: &BatchMonitor,
    interval: std::time::Duration,
    full: bool,
) {
    let now = grid_core::EpochMs::now();
    let swept = if full { poller.dispatch().await.map(drop) } else { poller.sweep().await.map(drop) };
    if let Err(e) = swept {
        tracing::error!(error = %crate::telemetry::cause_chain(&e), "sweeping for polling work failed");
    }
    drain(poller, settler, interval).await;
    if let Err(e) = settler.run(now).await {
        tracing::error!(error = %crate::telemetry::cause_chain(&e), "settlement failed");
    }
    if let Err(e) = monitor.run(now).await {
        tracing::warn!(error = %crate::telemetry::cause_chain(&e), "payments failed; retrying next round");
    }
}
