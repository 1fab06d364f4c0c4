//! The poller: reads every polled registration's channel from its cursor and stores
//! what it finds, exactly once.
//!
//! Work arrives as messages on `poll-work`, each naming a shard of registrations to
//! poll: the channel node queues one as it stores envelopes ([`QueueDoorbell`](super::QueueDoorbell)), the
//! schedule's sweep queues the channels whose head is past what was read (a
//! notification lost), and the rare full sweep those whose channel holds a message at
//! their cursor (anything else). A worker stores each reading with a conditional insert (the same reading is never
//! stored twice), records rejected messages, then moves the cursor with an
//! expected-value update. Two workers on one channel, a message delivered twice, or a
//! worker cut off between storing and moving the cursor all end the same way: each
//! reading stored once, the cursor past it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use grid_client::channels::{ChannelClient, ChannelClientError, ChannelReader};
use grid_core::books::PaymentClaim;
use grid_core::channel::{ChannelAccess, Command, Envelope, MessageAddress};
use grid_core::intake::{self, MAX_READINGS_PER_PERIOD, ReadingTally, RejectReason, Verdict};
use grid_core::market::{Period, PeriodLength, PeriodStart, PeriodStartError, SettlementHead, StoredReading};
use grid_core::{ChannelCursor, ChannelRoot, EpochMs, Registration, RegistrationId, WorkError, WorkMessage};
use grid_store::{
    ConflictKind, DispatchReport, Insertion, Job, JobReport, LateReport, PollReport, Rejected, StoreError, Stores,
    SweepReport, UnreadChannel,
};
use tokio::task::JoinSet;

/// Registrations per work message.
const SHARD_SIZE: usize = 50;

/// Work messages that poll `registrations`, [`SHARD_SIZE`] to a message.
pub(super) fn work_messages(registrations: &[RegistrationId]) -> Vec<String> {
    registrations.chunks(SHARD_SIZE).map(|shard| WorkMessage::new(shard.to_vec()).to_json()).collect()
}
/// Messages read from one channel per round; the rest waits for the next round.
const MAX_MESSAGES_PER_RUN: u64 = 1_000;
/// Rounds one poll reads a channel that is still unread after it; then it queues
/// itself, so one busy channel does not hold a worker.
const MAX_ROUNDS: usize = 4;
/// How far back the grid's history may start.
const MAX_HISTORY_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// How far before its period may close the poller still writes a reading without a
/// check against the settlement head: more than a poll can take (the poller function's
/// timeout is 60 s, and a write it has not sent by then is never sent), so a reading
/// written without the check lands before settlement may close its period, whatever
/// the write's retries.
const UNCHECKED_MARGIN: Duration = Duration::from_secs(90);
/// How often one process records the worker's heartbeat at most.
const WORKER_BEAT_EVERY: Duration = Duration::from_secs(60);
/// How long a received work message is hidden from other workers.
const VISIBILITY: Duration = Duration::from_secs(300);

/// A poll failed; the work is retried (the message comes back).
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channel(#[from] ChannelClientError),
    #[error(transparent)]
    Work(#[from] WorkError),
    /// Settlement kept closing the periods a registration's readings could count in
    /// while they were stored; the work is retried.
    #[error("no open period found for readings of {0}")]
    NoOpenPeriod(RegistrationId),
    /// The grid's history would begin at a time the grid cannot hold.
    #[error(transparent)]
    History(#[from] PeriodStartError),
}

/// Why a work message is not done (it comes back, and after the queue's receive count
/// goes to its dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum WorkFailed {
    #[error("the message is not polling work: {0}")]
    Unreadable(WorkError),
    #[error("polling failed for {}", .0.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", "))]
    Polling(Vec<RegistrationId>),
}

/// The poller over its ports.
#[derive(Clone)]
pub struct Poller {
    /// The stores; of the channel node's, its heads (which channels have unread
    /// messages) and its messages (what the full sweep checks); the `poll-work` queue.
    pub stores: Stores,
    /// How the poller reads channels.
    pub channel_client: Arc<dyn ChannelClient>,
    pub period: PeriodLength,
    /// Channels read at once (`POLL_CONCURRENCY`).
    pub concurrency: usize,
    /// How long after its end settlement waits before closing a period
    /// (`SETTLEMENT_GRACE_SECS`).
    pub grace: Duration,
    /// When this process last recorded the worker's heartbeat.
    pub(crate) last_beat: super::Every,
    /// The settlement head as this process last read it.
    pub(crate) last_head: Arc<std::sync::Mutex<Option<SettlementHead>>>,
}

impl Poller {
    /// Queues polling work for the channels with unread messages, a page at a time:
    /// what the schedule runs, to catch a notification that was lost. It reads the
    /// node's unread heads, never every registration, so an idle grid costs the same
    /// whatever its size.
    pub async fn sweep(&self) -> Result<SweepReport, PollerError> {
        let now = EpochMs::now();
        let mut report = SweepReport::default();
        let mut owners = Vec::new();
        let mut after: Option<ChannelRoot> = None;
        loop {
            let page = self.stores.channel_messages.unread(after.as_ref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.root.clone());
            let mut behind = Vec::new();
            for UnreadChannel { root, head, since } in page {
                report.unread += 1;
                let reader = match self.stores.registrations.channel_owner(&root).await? {
                    Some(owner) => self.stores.registrations.get(&owner).await?.map(|r| r.value),
                    None => None,
                };
                match reader {
                    Some(r) if r.is_polled() && r.cursor.next_index < head => {
                        let unread_for = since.map_or(0, |since| now.get().saturating_sub(since.get()) / 1000);
                        behind.push((r, unread_for));
                    }
                    // Read already (its mark was lost), or nobody reads it (yet: a
                    // registration that takes this channel polls it when it registers).
                    _ => {
                        self.stores.channel_messages.read_up_to(&root, head).await?;
                        report.marked_read += 1;
                    }
                }
            }
            // A reader reads on from its cursor and stops at the first empty address: a
            // channel with nothing there cannot progress (its device skipped indexes).
            // It is looked at again each sweep, one batched read, but not polled and not
            // counted in the lag until its gap is filled.
            let lag: HashMap<RegistrationId, u64> = behind.iter().map(|(r, lag)| (r.id.clone(), *lag)).collect();
            let waiting = self.with_a_message_waiting(behind.into_iter().map(|(r, _)| r).collect()).await?;
            report.stalled += lag.len() - waiting.len();
            for id in waiting {
                report.lag_seconds = report.lag_seconds.max(lag[&id]);
                owners.push(id);
            }
        }
        // Up to 200 expired unclaimed channels a run, each a few requests on DynamoDB:
        // 288,000 a day at one run a minute, 28 times the default bound.
        report.expired = self.stores.channel_messages.forget_expired(now, 200).await?;
        report.registrations = owners.len();
        let messages = work_messages(&owners);
        report.messages = messages.len();
        self.stores.poll_work.send(&messages).await?;
        report.dead_letters = self.stores.poll_work.dead_letters().await?;
        report.completions_dead_letters = self.stores.completions.dead_letters().await?;
        metrics::gauge!(crate::metrics::POLL_LAG).set(report.lag_seconds as f64);
        crate::metrics::dead_letters("poll-work", report.dead_letters);
        crate::metrics::dead_letters("completions", report.completions_dead_letters);
        if report.unread > 0 || report.expired > 0 {
            tracing::info!(?report, "swept unread channels");
        }
        super::heartbeat(self.stores.heartbeats.as_ref(), JobReport::PollerSweep(report)).await;
        Ok(report)
    }

    /// The full sweep, run rarely, for what neither a notification nor a channel's head
    /// shows: pages through every polled registration and queues polling work for those
    /// whose channel holds a message at their cursor. That check is one item read per
    /// registration, a hundred to a request, so the sweep costs a fraction of polling
    /// every channel and an idle grid's full sweep queues nothing.
    pub async fn dispatch(&self) -> Result<DispatchReport, PollerError> {
        let mut report = DispatchReport::default();
        let mut waiting = Vec::new();
        let mut after = None;
        loop {
            let page = self.stores.registrations.list(after.as_ref(), 500).await?;
            let polled: Vec<Registration> =
                page.registrations.into_iter().map(|v| v.value).filter(Registration::is_polled).collect();
            report.registrations += polled.len();
            waiting.extend(self.with_a_message_waiting(polled).await?);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        report.waiting = waiting.len();
        let messages = work_messages(&waiting);
        report.messages = messages.len();
        self.stores.poll_work.send(&messages).await?;
        tracing::info!(?report, "swept every registration");
        super::heartbeat(self.stores.heartbeats.as_ref(), JobReport::PollerDispatch(report)).await;
        Ok(report)
    }

    /// The registrations whose channel holds a message at their cursor: what a poll of
    /// theirs would start reading (a reader stops at the first empty address).
    async fn with_a_message_waiting(
        &self,
        registrations: Vec<Registration>,
    ) -> Result<Vec<RegistrationId>, PollerError> {
        let next: Vec<(RegistrationId, MessageAddress)> = registrations
            .into_iter()
            .filter_map(|r| {
                let channel = r.channel?;
                let address = ChannelAccess::new(channel.root, channel.side_key).address(r.cursor.next_index);
                Some((r.id, address))
            })
            .collect();
        let addresses: Vec<MessageAddress> = next.iter().map(|(_, address)| address.clone()).collect();
        let found = self.stores.channel_messages.get_many(&addresses).await?;
        Ok(next.into_iter().filter(|(_, address)| found.contains_key(address)).map(|(id, _)| id).collect())
    }

    /// Polls the registrations of one work message, `concurrency` at a time (each on
    /// its own task, so opening channels uses every core). A failure fails the work
    /// and the message comes back; what was stored stays stored once.
    pub async fn work(&self, body: &str, now: EpochMs) -> Result<PollReport, PollerError> {
        let message = WorkMessage::parse(body)?;
        let (report, mut failures) = self.poll_all(message.items().iter().cloned().collect(), now).await;
        tracing::info!(work = %message.hash(), ?report, "polled a shard");
        self.heartbeats(&report).await;
        match failures.pop() {
            Some((_, e)) => Err(e),
            None => Ok(report),
        }
    }

    /// Polls the registrations of a batch of work messages (as the queue hands them
    /// over), each registration once however many of the messages name it. Each
    /// message's outcome: it fails, and comes back, if it cannot be read or one of its
    /// registrations failed, and says which.
    pub async fn work_batch(&self, bodies: &[&str], now: EpochMs) -> (PollReport, Vec<Result<(), WorkFailed>>) {
        let messages: Vec<Result<WorkMessage, WorkError>> =
            bodies.iter().map(|body| WorkMessage::parse(body)).collect();
        let ids: BTreeSet<RegistrationId> = messages.iter().flatten().flat_map(|m| m.items().iter().cloned()).collect();
        let (report, failures) = self.poll_all(ids, now).await;
        let failed: HashSet<RegistrationId> = failures
            .into_iter()
            .map(|(id, e)| {
                tracing::warn!(registration = %id, error = %crate::telemetry::cause_chain(&e), "polling failed; its work comes back");
                id
            })
            .collect();
        tracing::info!(messages = bodies.len(), ?report, "polled a batch of work");
        self.heartbeats(&report).await;
        let outcomes = messages.into_iter().map(|message| match message {
            Err(e) => Err(WorkFailed::Unreadable(e)),
            Ok(message) => {
                let failed: Vec<RegistrationId> =
                    message.items().iter().filter(|id| failed.contains(id)).cloned().collect();
                if failed.is_empty() { Ok(()) } else { Err(WorkFailed::Polling(failed)) }
            }
        });
        (report, outcomes.collect())
    }

    /// Polls each of `ids`, `concurrency` at a time; what they did in sum, and the ones
    /// that failed.
    async fn poll_all(
        &self,
        ids: BTreeSet<RegistrationId>,
        now: EpochMs,
    ) -> (PollReport, Vec<(RegistrationId, PollerError)>) {
        let mut report = PollReport::default();
        let mut failures = Vec::new();
        let mut polls = JoinSet::new();
        let mut ids = ids.into_iter();
        loop {
            while polls.len() < self.concurrency.max(1) {
                let Some(id) = ids.next() else { break };
                let poller = self.clone();
                polls.spawn(async move { (poller.poll(&id, now).await, id) });
            }
            match polls.join_next().await {
                Some(Ok((Ok(done), _))) => report += done,
                Some(Ok((Err(e), id))) => failures.push((id, e)),
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled only when this future is dropped, which drops the set as well.
                Some(Err(_)) => {}
                None => return (report, failures),
            }
        }
    }

    /// What the portal shows of the poller's last work (at most once a minute from one
    /// process: on AWS it was a write for every notification), and when readings last
    /// came late.
    async fn heartbeats(&self, report: &PollReport) {
        crate::metrics::ran(Job::Poller.as_str());
        if self.last_beat.due(WORKER_BEAT_EVERY) {
            super::record(self.stores.heartbeats.as_ref(), JobReport::Poller(*report)).await;
        }
        if report.late > 0 {
            // The portal shows the last time readings came after their period settled.
            let late = LateReport { late: report.late };
            super::record(self.stores.heartbeats.as_ref(), JobReport::LateReadings(late)).await;
        }
    }

    /// Takes work messages from the queue until it is empty, a batch at a time,
    /// acknowledging each one done; a failed one comes back after its visibility timeout.
    pub async fn drain(&self, now: EpochMs) -> Result<PollReport, PollerError> {
        let mut report = PollReport::default();
        loop {
            let messages = self.stores.poll_work.receive(10, VISIBILITY).await?;
            if messages.is_empty() {
                return Ok(report);
            }
            let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
            let (done, outcomes) = self.work_batch(&bodies, now).await;
            report += done;
            let mut receipts = Vec::with_capacity(messages.len());
            for (message, outcome) in messages.iter().zip(outcomes) {
                match outcome {
                    Ok(()) => receipts.push(message.receipt.as_str()),
                    Err(e) => {
                        tracing::warn!(message_id = %message.id, error = %e, "polling work failed; it will be retried")
                    }
                }
            }
            self.stores.poll_work.ack_many(&receipts).await?;
        }
    }

    /// Reads one registration's channel from its cursor, and again while more came
    /// meanwhile (nobody else tells the poller of those: the channel was unread when
    /// they came), up to [`MAX_ROUNDS`] times; then it queues itself to go on.
    pub async fn poll(&self, id: &RegistrationId, now: EpochMs) -> Result<PollReport, PollerError> {
        let mut report = PollReport::default();
        for _ in 0..MAX_ROUNDS {
            let (round, more) = self.poll_once(id, now).await?;
            report += round;
            report.registrations = report.registrations.min(1);
            if !more {
                return Ok(report);
            }
        }
        self.stores.poll_work.send(&work_messages(std::slice::from_ref(id))).await?;
        Ok(report)
    }

    /// Reads one registration's channel from its cursor, once: what it did, and whether
    /// it read something and the channel is still unread.
    async fn poll_once(&self, id: &RegistrationId, now: EpochMs) -> Result<(PollReport, bool), PollerError> {
        let mut report = PollReport::default();
        let Some(current) = self.stores.registrations.get(id).await? else { return Ok((report, false)) };
        let registration = current.value;
        let Some(channel) = registration.channel.clone() else { return Ok((report, false)) };
        if !registration.is_polled() {
            // Removed or closed: nothing more of its channel will be read.
            self.mark_read(&channel.root, Envelope::MAX_INDEX + 1).await;
            return Ok((report, false));
        }
        report.registrations = 1;
        let from = registration.cursor;
        let access = ChannelAccess::new(channel.root.clone(), channel.side_key.clone());
        let read =
            ChannelReader::new(access, self.channel_client.clone()).read(from.next_index, MAX_MESSAGES_PER_RUN).await?;

        // A goodbye ends the channel: nothing after it counts.
        let goodbye = read.messages.iter().find(|m| m.command == Command::Goodbye).map(|m| m.index);
        let end = goodbye.map_or(read.next_index, |index| index + 1);
        let mut readings = Vec::new();
        let mut tally = registration.tally;
        for message in read.messages.iter().filter(|m| m.index < end) {
            report.messages += 1;
            let at = (message.index, &message.command);
            self.handle(&registration, at, now, &mut tally, &mut readings, &mut report).await?;
        }
        self.store(&registration, readings, &mut report, now).await?;
        for rejection in read.rejected.iter().filter(|r| r.index < end) {
            report.rejected += 1;
            self.reject(
                &registration.id,
                rejection.index,
                rejection.address.clone(),
                RejectReason::Unreadable,
                rejection.reason.to_string(),
                now,
            )
            .await?;
        }
        let to = ChannelCursor { next_index: end, closed: goodbye.is_some() };
        if to != from {
            match self.stores.registrations.advance_cursor(id, &channel.root, from, to, tally).await {
                Ok(()) => {}
                // Another worker read the same messages and moved on first; what we
                // stored was stored once regardless.
                Err(e) if e.is_conflict(ConflictKind::Moved) => {
                    tracing::debug!(registration = %id, "cursor moved by another worker");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if to.closed {
            report.closed = 1;
            tracing::info!(registration = %id, "channel said goodbye; polling stops");
        }
        let more = to != from
            && self.mark_read(&channel.root, if to.closed { Envelope::MAX_INDEX + 1 } else { to.next_index }).await;
        Ok((report, more))
    }

    /// Tells the node how far `root` was read: whether the channel is still unread. A
    /// failure only leaves the channel looking unread, so the next sweep polls it once
    /// more: said, never fatal.
    async fn mark_read(&self, root: &ChannelRoot, next_index: u64) -> bool {
        match self.stores.channel_messages.read_up_to(root, next_index).await {
            Ok(still_unread) => still_unread,
            Err(e) => {
                tracing::warn!(%root, error = %crate::telemetry::cause_chain(&e), "cannot mark a channel read; it will be polled again");
                false
            }
        }
    }

    /// Handles the message at `index`: a reading joins `readings` (stored together
    /// afterwards) while its period has room in `tally`; anything else takes effect now.
    async fn handle(
        &self,
        registration: &Registration,
        (index, command): (u64, &Command),
        now: EpochMs,
        tally: &mut ReadingTally,
        readings: &mut Vec<StoredReading>,
        report: &mut PollReport,
    ) -> Result<(), PollerError> {
        match intake::judge(registration.item_type, command, now) {
            Verdict::Pass | Verdict::Close => {}
            Verdict::Store { kind, reading, price, payment_address } => {
                let period = Period::containing(reading.start, self.period).start();
                if !tally.admit(period.get()) {
                    let message = format!(
                        "the period of this reading already holds the {MAX_READINGS_PER_PERIOD} readings one \
                         registration may store"
                    );
                    let address = self.address(registration, index);
                    self.reject(&registration.id, index, address, RejectReason::TooMany, message, now).await?;
                    report.rejected += 1;
                    return Ok(());
                }
                readings.push(StoredReading {
                    registration: registration.id.clone(),
                    kind,
                    reading,
                    party: Some(registration.item_type),
                    price,
                    payment_address,
                    channel_index: index,
                    period,
                    counted_in: period,
                });
            }
            Verdict::Claim { batch_id, amount } => {
                let claim = PaymentClaim {
                    registration: registration.id.clone(),
                    batch_id,
                    amount,
                    channel_index: index,
                    claimed: now,
                };
                if self.stores.accounts.claim_payment(&claim).await? {
                    report.payments += 1;
                } else {
                    let message = format!("batch {} was claimed before", claim.batch_id);
                    let address = self.address(registration, index);
                    self.reject(&registration.id, index, address, RejectReason::ClaimedBefore, message, now).await?;
                    report.rejected += 1;
                }
            }
            Verdict::Reject { reason, message } => {
                self.reject(&registration.id, index, self.address(registration, index), reason, message, now).await?;
                report.rejected += 1;
            }
        }
        Ok(())
    }

    /// Stores a channel's readings together, each in its own period or, if that has
    /// closed, in the earliest open one.
    async fn store(
        &self,
        registration: &Registration,
        mut readings: Vec<StoredReading>,
        report: &mut PollReport,
        now: EpochMs,
    ) -> Result<(), PollerError> {
        let Some(first) = readings.iter().map(|r| r.period).min() else { return Ok(()) };
        // The head this process saw last will do for readings no settlement can close
        // yet, once settlement has begun: it cannot have moved past their periods.
        let recent = *self.last_head.lock().unwrap_or_else(|p| p.into_inner());
        let mut head = match recent.filter(|head| {
            head.latest.is_some()
                && readings.iter().all(|r| head.is_open(r.period) && self.cannot_close_yet(r.period, now))
        }) {
            Some(head) => head,
            None => self.head(first, now).await?,
        };
        // Settlement moves one period at a time; a few rounds always find open ones.
        for _ in 0..8 {
            for reading in &mut readings {
                reading.counted_in = self.earliest_open(reading.period, &head);
            }
            let outcomes = if readings.iter().all(|r| r.counted_in == r.period && self.cannot_close_yet(r.period, now))
            {
                self.stores.readings.insert_fresh(&readings).await?
            } else {
                self.stores.readings.insert_many(&readings).await?
            };
            let mut closed = Vec::new();
            for (reading, outcome) in readings.into_iter().zip(outcomes) {
                match outcome {
                    Insertion::Stored => {
                        metrics::counter!(crate::metrics::READINGS_INGESTED).increment(1);
                        report.stored += 1;
                        report.late += u64::from(reading.counted_in != reading.period);
                    }
                    Insertion::Duplicate => report.duplicates += 1,
                    Insertion::PeriodClosed => closed.push(reading),
                }
            }
            if closed.is_empty() {
                return Ok(());
            }
            readings = closed;
            head = self.read_head().await?;
        }
        Err(PollerError::NoOpenPeriod(registration.id.clone()))
    }

    /// Whether no settlement can close `period` while this poll writes to it:
    /// settlement closes a period no sooner than its grace after its end, and that is
    /// more than [`UNCHECKED_MARGIN`] away.
    fn cannot_close_yet(&self, period: PeriodStart, now: EpochMs) -> bool {
        let closes = Period::containing(period.time(), self.period).end() + self.grace.as_millis() as u64;
        now.get() + UNCHECKED_MARGIN.as_millis() as u64 <= closes
    }

    /// The first period at or after `period` that still takes readings.
    fn earliest_open(&self, period: PeriodStart, head: &SettlementHead) -> PeriodStart {
        let mut candidate = Period::containing(period.time(), self.period);
        while !head.is_open(candidate.start()) {
            candidate = candidate.next();
        }
        candidate.start()
    }

    /// Where settlement stands. Until settlement closes its first period, the earliest
    /// reading polled (here in period `first`) starts the grid's history: channels
    /// polled side by side (or by concurrent workers) may see theirs in any order.
    async fn head(&self, first: PeriodStart, now: EpochMs) -> Result<SettlementHead, PollerError> {
        let head = self.read_head().await?;
        // Settlement begins with the first reading's period, but never more than
        // MAX_HISTORY back, so a bogus timestamp cannot make settlement walk through
        // years of empty periods.
        let length = self.period.ms();
        let earliest = now.get().saturating_sub(MAX_HISTORY_MS);
        let start = first.get().max(earliest - earliest % length);
        let start = PeriodStart::parse(start)?;
        if head.closing.is_some() || head.latest.is_some_and(|_| head.is_open(start)) {
            return Ok(head);
        }
        // Does nothing once a period has closed: the readings are late, and count in
        // the first open period.
        let before = PeriodStart::parse(start.get().saturating_sub(length))?;
        self.stores.settlements.initialize(before).await?;
        self.read_head().await
    }

    /// The settlement head, remembered for [`store`](Self::store).
    async fn read_head(&self) -> Result<SettlementHead, PollerError> {
        let head = self.stores.settlements.head().await?;
        *self.last_head.lock().unwrap_or_else(|p| p.into_inner()) = Some(head);
        Ok(head)
    }

    /// Records a refused message: `reason` is the metric's dimension, `message` what the
    /// operator reads.
    async fn reject(
        &self,
        registration: &RegistrationId,
        channel_index: u64,
        address: grid_core::channel::MessageAddress,
        reason: RejectReason,
        message: String,
        now: EpochMs,
    ) -> Result<(), PollerError> {
        tracing::warn!(%registration, channel_index, reason = %message, "rejected a channel message");
        metrics::counter!(crate::metrics::READINGS_REJECTED, crate::metrics::REASON => reason.as_str()).increment(1);
        let rejected =
            Rejected { registration: registration.clone(), channel_index, address, reason, message, at: now };
        Ok(self.stores.rejections.record(&rejected).await?)
    }

    fn address(&self, registration: &Registration, index: u64) -> grid_core::channel::MessageAddress {
        let channel = registration.channel.as_ref().expect("only polled registrations are handled");
        ChannelAccess::new(channel.root.clone(), channel.side_key.clone()).address(index)
    }
}
