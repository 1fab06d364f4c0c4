//! What the operator sees, gathered from the stores through the same ports the jobs use.
//! The JSON API serves these structures as they are; the pages render them.
//!
//! Counts and lists come through the stores' indexes (registrations by type, the newest
//! rejections), never by reading every registration, so a page costs the same reads
//! whatever the grid's size.

use std::collections::BTreeMap;
use std::sync::Arc;

use grid_client::channels::{ChannelClient, ChannelReader};
use grid_core::books::BatchState;
use grid_core::channel::ChannelAccess;
use grid_core::market::{Period, PeriodLength, PeriodReport, PeriodStart, Tariff};
use grid_core::{EpochMs, ItemType, Registration, RegistrationId, RegistrationStatus};
use grid_store::{BatchCounts, BatchView, Heartbeat, Job, JobReport, Rejected, StoreError, Stores, SweepReport};
use serde::Serialize;
use serde_json::Value;

/// The jobs that run on a schedule, each with an alarm for when it stops (the full
/// sweep runs too rarely to judge by the interval; the poller's queue trigger only when
/// there is work).
const SCHEDULED: [Job; 3] = [Job::PollerSweep, Job::Settlement, Job::BatchMonitor];

/// The ports the portal reads.
#[derive(Clone)]
pub struct PortalData {
    /// The stores; the work queues for their dead letters.
    pub stores: Stores,
    /// How the portal reads channels.
    pub channel_client: Arc<dyn ChannelClient>,
    pub period: PeriodLength,
    /// `JOB_INTERVAL_SECS`: a job three of these without a run has stopped.
    pub job_interval: std::time::Duration,
    /// `PRICE_CAP`, `FEED_IN_PRICE`, `TARIFF_TIMEZONE`: the tariff in force now.
    pub tariff: Tariff,
}

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

/// One settled period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodPoint {
    pub start: u64,
    /// `local` (DESIGN.md §6's market) or `pool` (settled before it; no market figures).
    pub rules: String,
    /// `clearing`, `weighted`, `mean` or `median`; none for pool periods.
    pub strategy: Option<String>,
    /// IOTA per kWh: what matched energy traded at, or the reference price.
    pub price: u64,
    /// `traded`, `previous` or `default`.
    pub price_source: String,
    pub produced_wh: u64,
    /// Offered at or below the cap.
    pub admitted_wh: u64,
    pub used_wh: u64,
    /// Produced and used locally: what was traded.
    pub matched_wh: u64,
    /// Used beyond the matched energy: the consumers' utility supplied it.
    pub imported_wh: u64,
    /// Produced beyond the matched energy: the producers' utility took it.
    pub exported_wh: u64,
    pub revenue: u64,
    pub fee: u64,
    pub unallocated: u64,
    /// Wh per producer (from the period's archived report).
    pub produced_by: BTreeMap<String, u64>,
    /// The community's figures (0 for periods settled before 2026-12-05): what
    /// prosumers used of their own output, the community's own share of its use and of
    /// its output (basis points), buyers' savings and sellers' gains (IOTA), the tariff.
    pub self_consumed_wh: u64,
    pub self_sufficiency_bps: u64,
    pub self_consumption_bps: u64,
    pub savings: u64,
    pub gains: i64,
    pub cap: u64,
    pub feed_in: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastReading {
    pub start: u64,
    pub end: u64,
    pub wh: u64,
    pub price: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProducerRow {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub produced_wh: u64,
    /// What the local market used of it.
    pub matched_wh: u64,
    /// What it offered beyond that (its utility took it).
    pub exported_wh: u64,
    pub earned: u64,
    pub paid_out: u64,
    pub payout_pending: u64,
    pub owed: u64,
    pub last_reading: Option<LastReading>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRow {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub used_wh: u64,
    /// What it got from the local market (billed).
    pub local_wh: u64,
    /// What its utility supplied.
    pub imported_wh: u64,
    pub billed: u64,
    pub paid: u64,
    pub pending: u64,
    pub outstanding: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRow {
    pub id: String,
    pub kind: String,
    pub registration: String,
    pub amount: u64,
    pub status: String,
    pub reasons: Vec<String>,
    pub submitted: u64,
    pub last_checked: u64,
    pub times_checked: u64,
}

impl From<BatchView> for BatchRow {
    fn from(b: BatchView) -> Self {
        Self {
            id: b.id.to_string(),
            kind: b.kind.as_str().to_owned(),
            registration: b.registration.to_string(),
            amount: b.amount.get(),
            status: b.status.as_str().to_owned(),
            reasons: b.reasons,
            submitted: b.submitted,
            last_checked: b.last_checked,
            times_checked: b.times_checked,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionRow {
    pub registration: String,
    pub channel_index: u64,
    pub reason: String,
    pub at: u64,
}

impl From<Rejected> for RejectionRow {
    fn from(r: Rejected) -> Self {
        Self {
            registration: r.registration.to_string(),
            channel_index: r.channel_index,
            reason: r.reason,
            at: r.at.get(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRow {
    pub job: String,
    /// When it last ran (epoch ms), if it ever did.
    pub at: Option<u64>,
    /// The run's report, as the job wrote it.
    #[schema(value_type = Object)]
    pub report: Option<JobReport>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadingRow {
    pub kind: String,
    pub start: u64,
    pub end: u64,
    pub wh: u64,
    pub price: Option<u64>,
    pub channel_index: u64,
    pub period: u64,
    pub counted_in: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRow {
    pub index: u64,
    /// The command as it reads on the channel.
    #[schema(value_type = Object)]
    pub command: Value,
}

/// Everything about one registration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub id: String,
    pub name: Option<String>,
    pub item_type: String,
    pub status: String,
    pub created: u64,
    pub root: Option<String>,
    pub read_up_to: u64,
    pub producer: Option<ProducerRow>,
    pub consumer: Option<ConsumerRow>,
    pub readings: Vec<ReadingRow>,
    /// The latest messages of its own channel.
    pub messages: Vec<MessageRow>,
    /// A consumer's return channel: what the grid told it.
    pub return_messages: Vec<MessageRow>,
    pub payments: Vec<BatchRow>,
    pub rejections: Vec<RejectionRow>,
}

/// A page of rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: usize,
    pub page_size: usize,
    pub total_items: usize,
    pub total_pages: usize,
}

fn status(r: &Registration) -> &'static str {
    match r.status {
        RegistrationStatus::Active => "active",
        RegistrationStatus::Removed { .. } => "removed",
    }
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
            self.stores.heartbeats.last(Job::LateReadings),
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

    async fn period_point(&self, start: PeriodStart) -> Result<Option<PeriodPoint>, StoreError> {
        let Some(record) = self.stores.settlements.get(start).await? else { return Ok(None) };
        let report = self.period_report(start).await?.unwrap_or(Value::Null);
        // §6 reports list producers; pool-era reports listed their allocations.
        let produced_by = match (report["producers"].as_array(), report["allocations"].as_array()) {
            (Some(producers), _) => {
                producers.iter().filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["produced"].as_u64()?))).collect()
            }
            (None, Some(allocations)) => allocations
                .iter()
                .filter_map(|a| Some((a["producer"].as_str()?.to_owned(), a["wh"].as_u64()?)))
                .collect(),
            (None, None) => BTreeMap::new(),
        };
        Ok(Some(PeriodPoint {
            start: start.get(),
            rules: record.rules.as_str().to_owned(),
            strategy: record.strategy.map(|s| s.as_str().to_owned()),
            price: record.price.get(),
            price_source: record.price_source.as_str().to_owned(),
            produced_wh: record.produced.get(),
            admitted_wh: record.admitted.get(),
            used_wh: record.used.get(),
            matched_wh: record.matched.get(),
            imported_wh: record.imported.get(),
            exported_wh: record.exported.get(),
            revenue: record.revenue.get(),
            fee: record.fee.get(),
            unallocated: record.unallocated.get(),
            produced_by,
            self_consumed_wh: record.community.self_consumed.get(),
            self_sufficiency_bps: record.community.self_sufficiency_bps,
            self_consumption_bps: record.community.self_consumption_bps,
            savings: record.community.savings.get(),
            gains: record.community.gains,
            cap: record.community.cap.get(),
            feed_in: record.community.feed_in.get(),
        }))
    }

    /// A settled period's report as archived: DESIGN.md §6's for market periods (a
    /// [`PeriodReport`]), the pool's own for periods settled before (with `rules: "pool"`
    /// added, which it did not say). `None` if the period is not settled.
    pub async fn period_report(&self, start: PeriodStart) -> Result<Option<Value>, StoreError> {
        let Some(record) = self.stores.settlements.get(start).await? else { return Ok(None) };
        let Some(text) = self.stores.archive.get(start).await? else { return Ok(None) };
        let mut report: Value =
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("report of {start}: {e}")))?;
        if let Some(fields) = report.as_object_mut() {
            fields.entry("rules").or_insert_with(|| Value::from(record.rules.as_str()));
        }
        Ok(Some(report))
    }

    /// A market period's report, typed (for the page and the CSV); `None` for an
    /// unsettled or pool-era period.
    pub async fn market_report(&self, start: PeriodStart) -> Result<Option<PeriodReport>, StoreError> {
        match self.period_report(start).await? {
            Some(report) if report.get("rules").and_then(Value::as_str) == Some("local") => {
                serde_json::from_value(report)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("report of {start}: {e}")))
            }
            _ => Ok(None),
        }
    }

    /// The period starting at `start` ms, if it is one of this grid's periods.
    pub fn period_start(&self, start: u64) -> Option<PeriodStart> {
        let start = PeriodStart::parse(start).ok()?;
        Period::starting_at(start, self.period).map(Period::start)
    }

    /// The last `count` settled periods, oldest first.
    pub async fn periods(&self, count: usize) -> Result<Vec<PeriodPoint>, StoreError> {
        let Some(latest) = self.stores.settlements.head().await?.latest else { return Ok(Vec::new()) };
        let length = self.period.ms();
        let mut points = Vec::new();
        for i in (0..count as u64).rev() {
            let Some(start) = latest.get().checked_sub(i * length).and_then(|s| PeriodStart::parse(s).ok()) else {
                continue;
            };
            if let Some(point) = self.period_point(start).await? {
                points.push(point);
            }
        }
        Ok(points)
    }

    async fn producer_row(&self, r: &Registration) -> Result<ProducerRow, StoreError> {
        let account = self.stores.accounts.get(&r.id).await?.unwrap_or_default();
        let last = self.stores.readings.of_registration(&r.id, 1).await?.into_iter().next();
        Ok(ProducerRow {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            status: status(r).to_owned(),
            produced_wh: account.energy.get(),
            matched_wh: account.matched.get(),
            exported_wh: account.unmatched().get(),
            earned: account.entitled.get(),
            paid_out: account.paid_out.get(),
            payout_pending: account.payout_pending.get(),
            owed: account.unpaid().get(),
            last_reading: last.map(|l| LastReading {
                start: l.reading.start.get(),
                end: l.reading.end.get(),
                wh: l.reading.energy.get(),
                price: l.price.map(|p| p.get()),
            }),
        })
    }

    async fn consumer_row(&self, r: &Registration) -> Result<ConsumerRow, StoreError> {
        let account = self.stores.accounts.get(&r.id).await?.unwrap_or_default();
        Ok(ConsumerRow {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            status: status(r).to_owned(),
            used_wh: account.energy.get(),
            local_wh: account.matched.get(),
            imported_wh: account.unmatched().get(),
            billed: account.billed.get(),
            paid: account.paid.get(),
            pending: account.pending.get(),
            outstanding: account.owed().get(),
        })
    }

    /// Page `page` of the registrations of `types`, one type after the other (each in
    /// the store's index order), through the store's index.
    async fn of_types(
        &self,
        types: &[ItemType],
        page: usize,
        page_size: usize,
    ) -> Result<Page<Registration>, StoreError> {
        let counts = self.stores.registrations.counts().await?;
        let total_items = types.iter().map(|t| counts.of(*t).total() as usize).sum::<usize>();
        // A page far past the end is empty, however far (no overflow).
        let mut skip = page.saturating_mul(page_size);
        let mut items = Vec::new();
        for item_type in types {
            let of_type = counts.of(*item_type).total() as usize;
            if skip >= of_type {
                skip -= of_type;
                continue;
            }
            items.extend(self.stores.registrations.of_type(*item_type, skip, page_size - items.len()).await?);
            skip = 0;
            if items.len() == page_size {
                break;
            }
        }
        Ok(Page { items, page, page_size, total_items, total_pages: total_items.div_ceil(page_size.max(1)) })
    }

    /// The sellers: producers, then prosumers.
    pub async fn producers(&self, page: usize, page_size: usize) -> Result<Page<ProducerRow>, StoreError> {
        let registrations = self.of_types(&[ItemType::Producer, ItemType::Prosumer], page, page_size).await?;
        let mut items = Vec::new();
        for r in &registrations.items {
            items.push(self.producer_row(r).await?);
        }
        Ok(Page { items, ..registrations.map_empty() })
    }

    /// The buyers: consumers, then prosumers.
    pub async fn consumers(&self, page: usize, page_size: usize) -> Result<Page<ConsumerRow>, StoreError> {
        let registrations = self.of_types(&[ItemType::Consumer, ItemType::Prosumer], page, page_size).await?;
        let mut items = Vec::new();
        for r in &registrations.items {
            items.push(self.consumer_row(r).await?);
        }
        Ok(Page { items, ..registrations.map_empty() })
    }

    pub async fn batches(&self, status: Option<BatchState>, limit: usize) -> Result<Vec<BatchRow>, StoreError> {
        Ok(self.stores.accounts.batches(status, limit).await?.into_iter().map(BatchRow::from).collect())
    }

    /// The latest rejected channel messages of every registration, newest first.
    pub async fn rejections(&self, limit: usize) -> Result<Vec<RejectionRow>, StoreError> {
        Ok(self.stores.rejections.recent(limit).await?.into_iter().map(RejectionRow::from).collect())
    }

    pub async fn heartbeats(&self) -> Result<Vec<HeartbeatRow>, StoreError> {
        let runs = self.last_runs().await?;
        Ok(runs
            .into_iter()
            .map(|(job, beat)| HeartbeatRow {
                job: job.to_string(),
                at: beat.as_ref().map(|beat| beat.at.get()),
                report: beat.map(|beat| beat.report),
            })
            .collect())
    }

    /// Each job's last run, in [`Job::RUNS`]'s order.
    async fn last_runs(&self) -> Result<Vec<(Job, Option<Heartbeat>)>, StoreError> {
        let mut runs = Vec::new();
        for job in Job::RUNS {
            runs.push((job, self.stores.heartbeats.last(job).await?));
        }
        Ok(runs)
    }

    /// The latest `count` messages of a channel, read up to `until`.
    async fn messages(&self, access: ChannelAccess, until: u64, count: u64) -> Vec<MessageRow> {
        let from = until.saturating_sub(count);
        match ChannelReader::new(access, self.channel_client.clone()).read(from, count).await {
            Ok(read) => read
                .messages
                .into_iter()
                .rev()
                .map(|m| MessageRow {
                    index: m.index,
                    command: serde_json::from_str(&m.command.to_json()).unwrap_or(Value::Null),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the portal cannot read a channel");
                Vec::new()
            }
        }
    }

    pub async fn detail(&self, id: &RegistrationId) -> Result<Option<Detail>, StoreError> {
        let Some(r) = self.stores.registrations.get(id).await?.map(|v| v.value) else { return Ok(None) };
        let producer = if r.item_type.sells() { Some(self.producer_row(&r).await?) } else { None };
        let consumer = if r.item_type.buys() { Some(self.consumer_row(&r).await?) } else { None };
        let readings = self
            .stores
            .readings
            .of_registration(id, 50)
            .await?
            .into_iter()
            .map(|s| ReadingRow {
                kind: s.kind.as_str().to_owned(),
                start: s.reading.start.get(),
                end: s.reading.end.get(),
                wh: s.reading.energy.get(),
                price: s.price.map(|p| p.get()),
                channel_index: s.channel_index,
                period: s.period.get(),
                counted_in: s.counted_in.get(),
            })
            .collect();
        let messages = match &r.channel {
            Some(c) => {
                let access = ChannelAccess::new(c.root.clone(), c.side_key.clone());
                self.messages(access, r.cursor.next_index, 20).await
            }
            None => Vec::new(),
        };
        let return_messages = match &r.return_channel {
            Some(rc) => self.messages(rc.secrets().access().clone(), rc.next_index, 20).await,
            None => Vec::new(),
        };
        let payments = self
            .stores
            .accounts
            .batches(None, 1_000)
            .await?
            .into_iter()
            .filter(|b| &b.registration == id)
            .map(BatchRow::from)
            .collect();
        let rejections =
            self.stores.rejections.for_registration(id, 50).await?.into_iter().map(RejectionRow::from).collect();
        Ok(Some(Detail {
            id: r.id.to_string(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            item_type: r.item_type.as_str().to_owned(),
            status: status(&r).to_owned(),
            created: r.created.get(),
            root: r.channel.as_ref().map(|c| c.root.to_string()),
            read_up_to: r.cursor.next_index,
            producer,
            consumer,
            readings,
            messages,
            return_messages,
            payments,
            rejections,
        }))
    }
}

impl Page<Registration> {
    /// The paging figures, without the registrations.
    fn map_empty<T>(&self) -> Page<T> {
        Page {
            items: Vec::new(),
            page: self.page,
            page_size: self.page_size,
            total_items: self.total_items,
            total_pages: self.total_pages,
        }
    }
}

/// What a command's JSON says, for a table cell.
pub fn command_name(command: &Value) -> &str {
    command["command"].as_str().unwrap_or("usage")
}
