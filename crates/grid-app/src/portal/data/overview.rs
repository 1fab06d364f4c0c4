//! The overview: the grid at a glance (registrations, money, the last settled period,
//! the tariff now) and the health strip, judged as the alarms judge it.

use grid_core::EpochMs;
use grid_core::market::Period;
use grid_store::{BatchCounts, Heartbeat, Job, JobReport, StoreError, SweepReport};
use serde::Serialize;

use super::{PeriodPoint, PortalData};

/// The jobs that run on a schedule, each with an alarm for when it stops (the full
/// sweep runs too rarely to judge by the interval; the poller's queue trigger only when
/// there is work).
const SCHEDULED: [Job; 3] = [Job::PollerSweep, Job::Settlement, Job::BatchMonitor];

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub active: u64,
    pub removed: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub now: u64,
    pub period_secs: u64,
    pub current_period: u64,
    pub producers: Counts,
    pub consumers: Counts,
    /// Homes that both produce and use (they appear among producers and consumers too).
    pub prosumers: Counts,
    pub last_settled: Option<PeriodPoint>,
    /// Consumer payments confirmed on the ledger.
    pub paid_in: u64,
    pub fees: u64,
    /// Payouts recorded (pending or committed).
    pub payouts: u64,
    /// Buyers' savings against the cap and sellers' gains against the feed-in (IOTA,
    /// signed), over every period settled.
    pub savings: u64,
    pub gains: i64,
    /// What the grid's addresses hold, by its books.
    pub cash_held: u64,
    /// What producers are owed and not yet paid.
    pub owed_to_producers: u64,
    pub batches_pending: u64,
    pub batches_stalled: u64,
    pub batches_failed: u64,
    /// Work messages given up on after every retry (`poll-work` and `completions`),
    /// waiting in the dead-letter queues for the operator.
    pub dead_letters: u64,
    /// The last poll that stored readings after their period had settled.
    pub late_readings: Option<LateReadings>,
    /// The tariff in force now, IOTA/kWh.
    pub cap_now: u64,
    pub feed_in_now: u64,
    /// `TARIFF_TIMEZONE`.
    pub tariff_zone: String,
    /// What the alarms watch.
    pub health: Health,
}

/// What the alarms watch (docs/operations.md), each with whether its alarm would fire
/// now: the portal's health strip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// How far the newest settled period's end is behind now, in seconds; none before
    /// anything settled. Alarmed beyond two periods.
    pub settlement_lag_secs: Option<u64>,
    pub settlement_behind: bool,
    /// How long the longest-unread channel had been unread at the last sweep, in
    /// seconds. Alarmed beyond two periods.
    pub poll_lag_secs: Option<u64>,
    pub polling_behind: bool,
    /// Work messages in the dead-letter queues. Alarmed above none.
    pub dead_letters: u64,
    /// Ledger batches pending too long or asked about too often. Alarmed above none.
    pub batches_stalled: u64,
    /// The scheduled jobs' last runs. Alarmed after three intervals without one.
    pub jobs: Vec<JobHealth>,
    /// The interval the jobs are judged by (`JOB_INTERVAL_SECS`).
    pub job_interval_secs: u64,
}

/// A scheduled job's last run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobHealth {
    pub job: String,
    /// When it last ran (epoch ms), if it ever did.
    pub last_ran: Option<u64>,
    /// Not run for three intervals (or never).
    pub stopped: bool,
}

/// Readings that arrived after their period settled (they count in a later one): when
/// it last happened and how many that poll stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LateReadings {
    pub at: u64,
    pub late: u64,
    /// Whether it happened within the last two periods: a grace too short for the
    /// producers' delay, if it keeps happening.
    pub recent: bool,
}

impl PortalData {
    pub async fn overview(&self, now: EpochMs) -> Result<Overview, StoreError> {
        // Independent reads, side by side: on DynamoDB the page waits for the
        // slowest of them rather than for their sum.
        let (registrations, head, totals, funds, unpaid, batches, late, runs) = tokio::try_join!(
            self.stores.registrations.counts(),
            self.stores.settlements.head(),
            self.stores.accounts.totals(),
            self.stores.accounts.funds(),
            self.stores.accounts.unpaid(),
            self.stores.accounts.batch_counts(),
            self.last_run(Job::LateReadings),
            self.last_runs(),
        )?;
        let swept = runs.iter().find_map(|(_, beat)| match beat.as_ref()?.report {
            JobReport::PollerSweep(swept) => Some(swept),
            _ => None,
        });
        // As the last sweep counted them (a minute old at most; the alarms watch the
        // queues themselves).
        let dead_letters = swept.map_or(0, |swept| swept.dead_letters + swept.completions_dead_letters);
        let counts = |c: grid_store::TypeCount| Counts { active: c.active, removed: c.removed };
        let (producers, consumers) = (counts(registrations.producers), counts(registrations.consumers));
        let prosumers = counts(registrations.prosumers);
        let tariff_now = self.tariff.at(now);
        let last_settled = match head.latest {
            Some(latest) => self.period_point(latest).await?,
            None => None,
        };
        Ok(Overview {
            now: now.get(),
            period_secs: self.period.secs(),
            current_period: Period::containing(now, self.period).start().get(),
            producers,
            consumers,
            prosumers,
            last_settled,
            paid_in: totals.paid_in.get(),
            fees: totals.fees.get(),
            payouts: totals.payouts.get(),
            savings: totals.savings.get(),
            gains: totals.gains,
            cash_held: funds.iter().map(|f| f.available.get()).sum(),
            owed_to_producers: unpaid.iter().map(|u| u.total().get()).sum(),
            // Stalled batches are still pending: the monitor follows them.
            batches_pending: batches.pending + batches.stalled,
            batches_stalled: batches.stalled,
            batches_failed: batches.invalid + batches.rejected,
            dead_letters,
            late_readings: late.and_then(|beat| {
                let JobReport::LateReadings(report) = beat.report else { return None };
                let at = beat.at.get();
                let recent = now.get().saturating_sub(at) <= 2 * self.period.ms();
                Some(LateReadings { at, late: report.late, recent })
            }),
            health: self.health(now, head.lag_secs(now, self.period), swept, &runs, dead_letters, batches),
            cap_now: tariff_now.cap.get(),
            feed_in_now: tariff_now.feed_in.get(),
            tariff_zone: self.tariff.zone.name().to_owned(),
        })
    }

    /// The health strip from what the overview read, judged as the alarms judge.
    fn health(
        &self,
        now: EpochMs,
        settlement_lag_secs: Option<u64>,
        swept: Option<SweepReport>,
        runs: &[(Job, Option<Heartbeat>)],
        dead_letters: u64,
        batches: BatchCounts,
    ) -> Health {
        let two_periods = 2 * self.period.secs();
        let stopped_after_ms = self.job_interval.as_secs().saturating_mul(3 * 1000);
        let poll_lag_secs = swept.map(|swept| swept.lag_seconds);
        Health {
            settlement_lag_secs,
            settlement_behind: settlement_lag_secs.is_some_and(|lag| lag > two_periods),
            poll_lag_secs,
            polling_behind: poll_lag_secs.is_some_and(|lag| lag > two_periods),
            dead_letters,
            batches_stalled: batches.stalled,
            jobs: runs
                .iter()
                .filter(|(job, _)| SCHEDULED.contains(job))
                .map(|(job, beat)| {
                    let last_ran = beat.as_ref().map(|beat| beat.at.get());
                    JobHealth {
                        job: job.to_string(),
                        last_ran,
                        stopped: last_ran.is_none_or(|at| now.get().saturating_sub(at) > stopped_after_ms),
                    }
                })
                .collect(),
            job_interval_secs: self.job_interval.as_secs(),
        }
    }
}
