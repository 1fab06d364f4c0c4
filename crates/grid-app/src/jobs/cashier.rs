//! The cashier: verifies consumers' payments on the ledger, pays producers from the
//! cash the grid holds, and follows its payouts until they are final.
//!
//! A claimed payment is credited only when the ledger shows it committed, from the
//! consumer's account to one of the grid's addresses, for the amount claimed; a claim
//! the ledger refuses, or does not show within `CLAIM_PATIENCE`, is rejected and its
//! pending amount released. Payouts follow DESIGN.md §6 (oldest first, only from cash
//! held, never below `MIN_PAYOUT`); each is recorded with a deterministic batch id
//! before it is submitted, so a retry re-sends the same batch and nothing is paid twice.

use std::sync::Arc;

use grid_core::ledger::{BatchStatus, LedgerBatch};
use grid_core::market::{Entitlement, plan_payouts};
use grid_core::{BatchId, EpochMs, Iota, PaymentAddress};
use grid_store::{AccountStore, ClaimResolution, PaymentClaim, PayoutRecord, StoreError};

use crate::config::MarketConfig;
use crate::ledger::{Ledger, LedgerError};

/// How long a claimed batch may be missing from the ledger before the claim is rejected.
const CLAIM_PATIENCE_MS: u64 = 60 * 60 * 1000;
/// Batches looked at per run.
const BATCH: usize = 100;
/// Ids per status request.
const IDS_PER_REQUEST: usize = 15;

/// A cashier run failed; its work is retried on the next run.
#[derive(Debug, thiserror::Error)]
pub enum CashierError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CashierReport {
    pub verified: u64,
    pub rejected: u64,
    pub payouts_submitted: u64,
    pub payouts_committed: u64,
    pub payouts_refused: u64,
}

/// The cashier over the books and the ledger.
#[derive(Clone)]
pub struct Cashier {
    pub accounts: Arc<dyn AccountStore>,
    pub ledger: Arc<dyn Ledger>,
    pub market: MarketConfig,
}

impl Cashier {
    /// Verifies claims, settles final payouts, then pays what the cash allows.
    pub async fn run(&self, now: EpochMs) -> Result<CashierReport, CashierError> {
        let mut report = CashierReport::default();
        self.verify_claims(now, &mut report).await?;
        self.follow_payouts(&mut report).await?;
        self.pay_producers(&mut report).await?;
        Ok(report)
    }

    async fn verify_claims(&self, now: EpochMs, report: &mut CashierReport) -> Result<(), CashierError> {
        for claim in self.accounts.pending_claims(BATCH).await? {
            let resolution = match self.ledger.batch(&claim.batch_id).await? {
                Some((batch, BatchStatus::Committed)) => Some(self.check(&claim, &batch)),
                Some((_, BatchStatus::Invalid(_))) => {
                    Some(ClaimResolution::Rejected { reason: format!("the ledger refused batch {}", claim.batch_id) })
                }
                None if now.get().saturating_sub(claim.claimed.get()) > CLAIM_PATIENCE_MS => {
                    Some(ClaimResolution::Rejected {
                        reason: format!("the ledger does not show batch {}", claim.batch_id),
                    })
                }
                _ => None,
            };
            let Some(resolution) = resolution else { continue };
            if self.accounts.resolve_claim(&claim, &resolution).await? {
                match &resolution {
                    ClaimResolution::Verified { .. } => report.verified += 1,
                    ClaimResolution::Rejected { reason } => {
                        tracing::warn!(consumer = %claim.registration, batch = %claim.batch_id, %reason, "payment claim rejected");
                        report.rejected += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// A committed batch pays a claim if it moves the claimed amount from the
    /// consumer's ledger account (its registration id) to one of the grid's addresses.
    fn check(&self, claim: &PaymentClaim, batch: &LedgerBatch) -> ClaimResolution {
        let payer = claim.registration.as_str();
        let paid = batch.transfers.iter().find_map(|t| {
            let seq = self.grid_address_seq(&t.to)?;
            (t.from.as_str() == payer && t.amount == claim.amount).then(|| (t.to.clone(), seq))
        });
        match paid {
            Some((address, seq)) => ClaimResolution::Verified { address, seq },
            None => ClaimResolution::Rejected {
                reason: format!(
                    "batch {} does not move {} from {payer} to the grid",
                    claim.batch_id,
                    claim.amount.get()
                ),
            },
        }
    }

    /// The number of a grid address `{GRID_WALLET}-{n}`, or `None` for anyone else's.
    fn grid_address_seq(&self, address: &PaymentAddress) -> Option<u64> {
        address.as_str().strip_prefix(&self.market.wallet)?.strip_prefix('-')?.parse().ok()
    }

    async fn follow_payouts(&self, report: &mut CashierReport) -> Result<(), CashierError> {
        let pending = self.accounts.pending_payouts(BATCH).await?;
        for chunk in pending.chunks(IDS_PER_REQUEST) {
            let ids: Vec<BatchId> = chunk.iter().map(|p| p.batch.id.clone()).collect();
            let statuses = self.ledger.statuses(&ids).await?;
            for payout in chunk {
                // Only answers for ids we asked about count; the rest stay pending.
                let status = statuses.iter().find(|(id, _)| id == payout.batch.id.as_str()).map(|(_, s)| s);
                match status {
                    Some(BatchStatus::Committed) => {
                        if self.accounts.resolve_payout(&payout.batch.id, true).await? {
                            report.payouts_committed += 1;
                        }
                    }
                    Some(BatchStatus::Invalid(reasons)) => {
                        tracing::warn!(batch = %payout.batch.id, ?reasons, "payout refused; it will be re-issued");
                        if self.accounts.resolve_payout(&payout.batch.id, false).await? {
                            report.payouts_refused += 1;
                        }
                    }
                    // Not there (a submit that never arrived): send the very same batch again.
                    Some(BatchStatus::Unknown) | None => self.ledger.submit(&payout.batch).await?,
                    Some(BatchStatus::Pending) => {}
                }
            }
        }
        Ok(())
    }

    async fn pay_producers(&self, report: &mut CashierReport) -> Result<(), CashierError> {
        let totals = self.accounts.totals().await?;
        let mut funds = self.accounts.funds().await?;
        let held: u64 = funds.iter().map(|f| f.available.get()).sum();
        let cash = Iota::new(totals.cash().get().min(held));
        let unpaid = self.accounts.unpaid().await?;
        let entitlements: Vec<Entitlement> = unpaid
            .iter()
            .filter(|u| u.address.is_some())
            .map(|u| Entitlement { period: u.oldest_period, producer: u.producer.clone(), unpaid: u.unpaid })
            .collect();
        for payout in plan_payouts(&entitlements, cash, self.market.min_payout) {
            let owed = unpaid.iter().find(|u| u.producer == payout.producer).expect("planned from these");
            let to = owed.address.clone().expect("only producers with an address are planned");
            // Draw on the oldest addresses first.
            let mut left = payout.amount.get();
            let mut sources = Vec::new();
            for funds in funds.iter_mut().filter(|f| f.available.get() > 0) {
                if left == 0 {
                    break;
                }
                let part = funds.available.get().min(left);
                funds.available = Iota::new(funds.available.get() - part);
                left -= part;
                sources.push((funds.address.clone(), Iota::new(part)));
            }
            let batch = LedgerBatch::payout(&payout.producer, owed.paid_before, owed.refused, &sources, &to);
            let record =
                PayoutRecord { batch: batch.clone(), producer: payout.producer.clone(), amount: payout.amount };
            if self.accounts.record_payout(&record).await? {
                tracing::info!(producer = %payout.producer, amount = payout.amount.get(), batch = %batch.id, "payout");
                self.ledger.submit(&batch).await?;
                report.payouts_submitted += 1;
            }
        }
        Ok(())
    }
}
