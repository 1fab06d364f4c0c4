//! Paying producers (DESIGN.md §6): what settlement entitled them to, oldest first, only
//! from cash the grid holds, never below `MIN_PAYOUT`, each period's share to the address
//! the producer named in that period (one batch, a transfer per address). Each payout is
//! recorded with a deterministic id before it is submitted, so a lost submission is sent
//! again by the batch monitor, which follows payouts until they are final.

use grid_client::ledger::Ledger;
use grid_core::books::{Entitlement, MAX_COVERS, PayoutRecord, plan_payouts};
use grid_core::ledger::LedgerBatch;
use grid_core::market::PeriodStart;
use grid_core::{EpochMs, Iota};
use grid_store::{AccountStore, StoreError};

/// Pays producers from the books through the ledger; the batch monitor runs it.
pub struct ProducerPayer<'a> {
    pub accounts: &'a dyn AccountStore,
    pub ledger: &'a dyn Ledger,
}

impl ProducerPayer<'_> {
    /// Records and submits the payouts due now (at least `min_payout` each); how many.
    pub async fn pay(&self, now: EpochMs, min_payout: Iota) -> Result<u64, StoreError> {
        let totals = self.accounts.totals().await?;
        // A payout draws on at most MAX_COVERS of the grid's addresses, oldest first (it
        // is one atomic write); the next round draws on the next ones.
        let mut funds = self.accounts.funds().await?;
        funds.truncate(MAX_COVERS);
        let held: u64 = funds.iter().map(|f| f.available.get()).sum();
        let cash = Iota::new(totals.cash().get().min(held));
        if cash == Iota::ZERO {
            return Ok(0);
        }
        let unpaid = self.accounts.unpaid().await?;
        let mut submitted = 0;
        let entitlements: Vec<Entitlement> = unpaid.iter().flat_map(|u| u.owed.iter().cloned()).collect();
        for payout in plan_payouts(&entitlements, cash, min_payout) {
            let owed = unpaid.iter().find(|u| u.producer == payout.producer).expect("planned from these");
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
            let batch =
                LedgerBatch::payout(&payout.producer, owed.paid_before, owed.refused, &sources, &payout.destinations());
            let record = PayoutRecord {
                batch: batch.clone(),
                producer: payout.producer.clone(),
                amount: payout.amount,
                covers: payout.covers.clone(),
                created: now,
            };
            if self.accounts.record_payout(&record).await? {
                let periods: Vec<PeriodStart> = payout.covers.iter().map(|c| c.period).collect();
                tracing::info!(producer = %payout.producer, amount = payout.amount.get(), batch = %batch.id,
                    periods = ?periods, "payout");
                submitted += 1;
                // Recorded first: if this submit fails, the monitor sends the same batch later.
                if let Err(e) = self.ledger.submit(&batch).await {
                    tracing::warn!(batch = %batch.id, error = %e, "submitting a payout failed; it will be re-sent");
                }
            }
        }
        Ok(submitted)
    }
}
