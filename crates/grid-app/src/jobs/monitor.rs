//! The batch monitor (DESIGN.md §6–§7, after the DLT polling monitor): keeps the
//! grid's record of every ledger batch in step with the ledger, and pays producers.
//!
//! A run takes a lease (two runs never overlap), then works in rounds while there is
//! work and time: it plans status requests for the batches that are due (least recently
//! checked first, grouped by service, `DLT_IDS_PER_REQUEST` ids each), sends them with
//! at most `DLT_CONNECTION_POOL` in flight, and checks each answer against the ids asked.
//!
//! - `COMMITTED`: a payout is done; a claim is verified against the batch's transfers
//!   (payer, payee, amount) before the consumer is credited. Either way a completion goes
//!   to `completions`.
//! - `INVALID`: a payout's money goes back to the grid and the producer is owed it again
//!   (the next plan re-issues it as a new batch; the old one stays, failed, with its
//!   reasons); a claim is rejected.
//! - Not final (`PENDING`, `UNKNOWN`, …): checked again later. A payout still not final
//!   `RESEND_AFTER_SECS` after submission is sent again, identically (same id: the ledger
//!   applies it once). A batch past `MAX_CHECKS` or `MAX_PENDING_AGE_SECS` is marked
//!   stalled for the operator and still followed; nothing is dropped.
//! - A request that fails (429, 503, timeout, garbage): its batches are checked again
//!   after a backoff recorded on each.
//!
//! A claim is credited with every transfer its batch makes from the consumer to an
//! address the grid issued (one a settled period billed consumers at, spelled exactly as
//! the grid spells it), summed; nothing else counts.
//!
//! Between rounds, its [`ProducerPayer`] pays producers what they are owed, and the
//! monitor follows those payouts like every other batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use grid_client::ledger::{Ledger, LedgerError, StatusAnswer};
use grid_core::books::{ClaimResolution, Credit, PaymentClaim, PayoutResolution};
use grid_core::ledger::{BatchStatus, LedgerBatch};
use grid_core::monitor::{Outcome, PendingBatch, StatusRequest, check_answer, plan_requests};
use grid_core::{BatchId, CompletedBatch, CompletionMessage, EpochMs, Iota, PaymentAddress};
use grid_store::{JobReport, MonitorReport, StoreError, Stores, Watched, WatchedBatch};
use tracing::Instrument;

use super::lease::Lease;
use super::payer::ProducerPayer;
use crate::config::MarketConfig;

/// The one service the grid's ledger client talks to.
const SERVICE: &str = "ledger";
/// How long a claimed batch may be missing from the ledger before the claim is rejected.
const CLAIM_PATIENCE: Duration = Duration::from_secs(60 * 60);
/// Batches taken per round.
const ROUND: usize = 500;
/// The longest backoff after failed requests.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);

/// A run failed; its work is retried on the next run.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The batch monitor over the books, the ledger, the lease and the completions queue.
#[derive(Clone)]
pub struct BatchMonitor {
    /// The books; the settled periods (which of the grid's addresses were issued); the
    /// lease; the completions queue; the heartbeats.
    pub stores: Stores,
    pub ledger: Arc<dyn Ledger>,
    pub market: MarketConfig,
    pub poll_interval: Duration,
}

impl BatchMonitor {
    /// One run: rounds while there is due work and time left of the budget, then payouts.
    pub async fn run(&self, now: EpochMs) -> Result<MonitorReport, MonitorError> {
        let mut report = MonitorReport::default();
        // The lease outlives the budget a little, in case a round runs long.
        let ttl = self.market.monitor.budget + Duration::from_secs(60);
        let Some(lease) = Lease::take(&self.stores.leases, "batch-monitor", now, ttl).await? else {
            report.skipped = true;
            return Ok(report);
        };
        let span = tracing::info_span!("batch_monitor", holder = %lease.holder());
        let result = self.rounds(now, &mut report).instrument(span.clone()).await;
        lease.release().await?;
        result?;
        let pending = self.stores.accounts.pending_batches().await?;
        (report.pending, report.payouts_pending) = (pending.claims + pending.payouts, pending.payouts);
        span.in_scope(|| tracing::info!(?report, "batch monitor run done"));
        metrics::counter!(crate::metrics::BATCHES_STALLED).increment(report.stalled);
        metrics::counter!(crate::metrics::BATCHES_INVALID).increment(report.rejected + report.payouts_refused);
        metrics::gauge!(crate::metrics::BATCHES_PENDING).set(report.pending as f64);
        metrics::gauge!(crate::metrics::PAYOUTS_PENDING).set(report.payouts_pending as f64);
        super::heartbeat(self.stores.heartbeats.as_ref(), JobReport::BatchMonitor(report)).await;
        Ok(report)
    }

    async fn rounds(&self, started: EpochMs, report: &mut MonitorReport) -> Result<(), MonitorError> {
        let clock = Instant::now();
        let budget = self.market.monitor.budget;
        loop {
            let now = EpochMs::new_from(started, clock.elapsed());
            let due = self.stores.accounts.due_batches(now, ROUND).await?;
            if !due.is_empty() {
                report.rounds += 1;
                self.round(&due, now, report).await?;
            }
            let payer = ProducerPayer { accounts: self.stores.accounts.as_ref(), ledger: self.ledger.as_ref() };
            report.payouts_submitted += payer.pay(now, self.market.min_payout).await?;
            let more = !self.stores.accounts.due_batches(EpochMs::LATEST, 1).await?.is_empty();
            if !more || clock.elapsed() + self.poll_interval > budget {
                return Ok(());
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    async fn round(&self, due: &[WatchedBatch], now: EpochMs, report: &mut MonitorReport) -> Result<(), MonitorError> {
        let pending: Vec<PendingBatch> = due
            .iter()
            .map(|b| PendingBatch {
                service: SERVICE.to_owned(),
                id: b.watched.batch_id().clone(),
                submitted: b.submitted,
                last_checked: b.last_checked,
            })
            .collect();
        let requests = plan_requests(&pending, self.market.monitor.ids_per_request);
        let answers: Vec<(StatusRequest, Result<StatusAnswer, LedgerError>)> = stream::iter(requests)
            .map(|request| async move {
                let span = tracing::info_span!("status_request", service = %request.service, asked = request.ids.len());
                let answer = self.ledger.statuses(&request.ids).instrument(span).await;
                (request, answer)
            })
            .buffer_unordered(self.market.monitor.connection_pool)
            .collect()
            .await;
        for (request, answer) in answers {
            report.asked += request.ids.len() as u64;
            let batches: Vec<&WatchedBatch> =
                request.ids.iter().flat_map(|id| due.iter().filter(move |b| b.watched.batch_id() == id)).collect();
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    report.requests_failed += 1;
                    tracing::warn!(error = %crate::telemetry::cause_chain(&e), ids = request.ids.len(), "status request failed; backing off");
                    for batch in batches {
                        let backoff =
                            self.poll_interval.saturating_mul(1 << batch.times_checked.min(10)).min(MAX_BACKOFF);
                        let next = now.plus(backoff).unwrap_or(EpochMs::LATEST);
                        self.not_final(batch, now, next, report).await?;
                    }
                    continue;
                }
            };
            let checked = check_answer(&request.ids, answer);
            if !checked.extras.is_empty() || !checked.missing.is_empty() || !checked.conflicting.is_empty() {
                tracing::warn!(extras = ?checked.extras, missing = ?checked.missing, conflicting = ?checked.conflicting, "the ledger's answer does not match the question");
            }
            for (id, outcome) in checked.outcomes {
                for batch in due.iter().filter(|b| b.watched.batch_id() == &id) {
                    self.apply(batch, &outcome, now, report).await?;
                }
            }
            for id in checked.missing.iter().chain(&checked.conflicting) {
                for batch in due.iter().filter(|b| b.watched.batch_id() == id) {
                    self.not_final(batch, now, self.next_check(now), report).await?;
                }
            }
        }
        Ok(())
    }

    /// When a batch checked at `now` is due again (the last time held if that is past it).
    fn next_check(&self, now: EpochMs) -> EpochMs {
        now.plus(self.poll_interval).unwrap_or(EpochMs::LATEST)
    }

    async fn apply(
        &self,
        batch: &WatchedBatch,
        outcome: &Outcome,
        now: EpochMs,
        report: &mut MonitorReport,
    ) -> Result<(), MonitorError> {
        match (&batch.watched, outcome) {
            (Watched::Payout(payout), Outcome::Committed) => {
                self.final_check(batch, now).await?;
                if self.stores.accounts.resolve_payout(&payout.batch.id, &PayoutResolution::Committed).await? {
                    report.payouts_committed += 1;
                    self.complete(&payout.batch.id, "payout", &payout.producer, payout.amount).await?;
                }
            }
            (Watched::Payout(payout), Outcome::Invalid(reasons)) => {
                tracing::warn!(batch = %payout.batch.id, ?reasons, "payout refused; it will be re-issued as a new batch");
                self.final_check(batch, now).await?;
                let refused = PayoutResolution::Refused { reasons: reasons.clone() };
                if self.stores.accounts.resolve_payout(&payout.batch.id, &refused).await? {
                    report.payouts_refused += 1;
                }
            }
            (Watched::Claim(claim), Outcome::Committed) => match self.ledger.batch(&claim.batch_id).await {
                Ok(Some((ledger_batch, BatchStatus::Committed))) => {
                    self.final_check(batch, now).await?;
                    let resolution = self.verify(claim, &ledger_batch).await?;
                    self.resolve(claim, resolution, report).await?;
                }
                Ok(_) => self.not_final(batch, now, self.next_check(now), report).await?,
                Err(e) => {
                    tracing::warn!(batch = %claim.batch_id, error = %crate::telemetry::cause_chain(&e), "fetching a claimed batch failed");
                    self.not_final(batch, now, self.next_check(now), report).await?;
                }
            },
            (Watched::Claim(claim), Outcome::Invalid(reasons)) => {
                self.final_check(batch, now).await?;
                let reason = format!("the ledger refused batch {}: {}", claim.batch_id, reasons.join("; "));
                self.resolve(claim, ClaimResolution::Rejected { reason }, report).await?;
            }
            (Watched::Claim(claim), Outcome::NotFinal(BatchStatus::Unknown))
                if now.since(claim.claimed) > CLAIM_PATIENCE =>
            {
                // UNKNOWN may be a passing answer; only a ledger that says it has no such
                // batch, asked directly, ends the claim.
                if let Ok(None) = self.ledger.batch(&claim.batch_id).await {
                    self.final_check(batch, now).await?;
                    let reason = format!("the ledger does not show batch {}", claim.batch_id);
                    self.resolve(claim, ClaimResolution::Rejected { reason }, report).await?;
                } else {
                    self.not_final(batch, now, self.next_check(now), report).await?;
                }
            }
            (Watched::Payout(payout), Outcome::NotFinal(_))
                if now.since(batch.submitted) >= self.market.monitor.resend_after =>
            {
                // Sent again as the very same batch: the ledger applies an id once.
                match self.ledger.submit(&payout.batch).await {
                    Ok(()) => report.resent += 1,
                    Err(e) => tracing::warn!(batch = %payout.batch.id, error = %e, "re-sending a payout failed"),
                }
                self.not_final(batch, now, self.next_check(now), report).await?;
            }
            (_, Outcome::NotFinal(_)) => self.not_final(batch, now, self.next_check(now), report).await?,
        }
        Ok(())
    }

    /// Records the check that ended a batch (every batch asked counts its checks).
    async fn final_check(&self, batch: &WatchedBatch, now: EpochMs) -> Result<(), MonitorError> {
        self.stores.accounts.checked(&batch.watched, now, self.next_check(now), batch.stalled).await?;
        Ok(())
    }

    /// Records a check that did not end the batch, and marks it stalled when it has
    /// waited too long or been asked about too often.
    async fn not_final(
        &self,
        batch: &WatchedBatch,
        now: EpochMs,
        next: EpochMs,
        report: &mut MonitorReport,
    ) -> Result<(), MonitorError> {
        report.not_final += 1;
        let config = self.market.monitor;
        let stalled =
            batch.times_checked + 1 >= config.max_checks || now.since(batch.submitted) >= config.max_pending_age;
        if stalled && !batch.stalled {
            report.stalled += 1;
            tracing::warn!(batch = %batch.watched.batch_id(), checks = batch.times_checked + 1, "batch stalled; the operator should look at it");
        }
        self.stores.accounts.checked(&batch.watched, now, next, stalled).await?;
        Ok(())
    }

    async fn resolve(
        &self,
        claim: &PaymentClaim,
        resolution: ClaimResolution,
        report: &mut MonitorReport,
    ) -> Result<(), MonitorError> {
        if !self.stores.accounts.resolve_claim(claim, &resolution).await? {
            return Ok(());
        }
        match resolution {
            ClaimResolution::Verified { .. } => {
                report.verified += 1;
                self.complete(&claim.batch_id, "claim", &claim.registration, claim.amount).await?;
            }
            ClaimResolution::Rejected { reason } => {
                report.rejected += 1;
                tracing::warn!(consumer = %claim.registration, batch = %claim.batch_id, %reason, "payment claim rejected");
            }
        }
        Ok(())
    }

    async fn complete(
        &self,
        batch: &BatchId,
        kind: &str,
        registration: &grid_core::RegistrationId,
        amount: Iota,
    ) -> Result<(), MonitorError> {
        let message = CompletionMessage::new(vec![CompletedBatch {
            batch_id: batch.clone(),
            kind: kind.to_owned(),
            registration: registration.clone(),
            amount,
        }]);
        self.stores.completions.send(&[message.to_json()]).await?;
        Ok(())
    }

    /// A committed batch pays a claim with every transfer it makes from the consumer's
    /// ledger account (its registration id) to an address the grid issued, summed.
    async fn verify(&self, claim: &PaymentClaim, batch: &LedgerBatch) -> Result<ClaimResolution, MonitorError> {
        let payer = claim.registration.as_str();
        let mut credits: Vec<Credit> = Vec::new();
        for transfer in batch.transfers.iter().filter(|t| t.from.as_str() == payer) {
            let Some(seq) = self.issued(&transfer.to).await? else { continue };
            match credits.iter_mut().find(|c| c.address == transfer.to) {
                Some(credit) => {
                    credit.amount = credit.amount.checked_add(transfer.amount).map_err(|_| {
                        MonitorError::Store(StoreError::OutOfRange(format!("batch {} moves too much", batch.id)))
                    })?
                }
                None => credits.push(Credit { address: transfer.to.clone(), seq, amount: transfer.amount }),
            }
        }
        if credits.is_empty() {
            return Ok(ClaimResolution::Rejected {
                reason: format!("batch {} moves nothing from {payer} to an address the grid issued", claim.batch_id),
            });
        }
        let resolution = ClaimResolution::Verified { credits };
        if resolution.credited() != claim.amount {
            tracing::info!(consumer = %claim.registration, batch = %claim.batch_id, claimed = claim.amount.get(),
                credited = resolution.credited().get(), "a claim is credited with what the ledger moved");
        }
        Ok(resolution)
    }

    /// The number of a grid address, if the grid issued it: a settled period billed
    /// consumers at exactly this address.
    async fn issued(&self, address: &PaymentAddress) -> Result<Option<u64>, MonitorError> {
        let Some(period) = self.market.wallet.address_period(address) else { return Ok(None) };
        let record = self.stores.settlements.get(period).await?;
        let issued = record.is_some_and(|r| r.payment_address == *address && r.revenue > Iota::ZERO);
        Ok(issued.then(|| period.get() / self.market.period.ms()))
    }
}
