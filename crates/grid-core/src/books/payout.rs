//! Paying producers: the plan (what the grid owes each producer period by period, paid
//! oldest first from the cash it holds, to the address named in each period), the
//! record of a payout made before it goes to the ledger, and what the ledger finally
//! did with it. One place for the money that leaves the grid.

use std::collections::BTreeMap;

use crate::ledger::LedgerBatch;
use crate::market::PeriodStart;
use crate::{EpochMs, Iota, PaymentAddress, RegistrationId};

/// The most periods one payout covers: a payout is one atomic write on every store
/// (DynamoDB's transactions take 100 items), and the next run pays the rest.
pub const MAX_COVERS: usize = 32;

/// What the grid still owes one producer from one period, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// Older periods are paid first.
    pub period: PeriodStart,
    pub producer: RegistrationId,
    /// The address the producer named in that period.
    pub address: PaymentAddress,
    pub unpaid: Iota,
}

/// The part of one period's entitlement a payout pays.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cover {
    pub period: PeriodStart,
    pub address: PaymentAddress,
    pub amount: Iota,
}

/// One payment to a producer and the entitlements it settles (fully or in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub producer: RegistrationId,
    pub amount: Iota,
    /// Oldest first; they sum to `amount`.
    pub covers: Vec<Cover>,
}

impl Payout {
    /// What goes to each address, in the order the covers first name them.
    pub fn destinations(&self) -> Vec<(PaymentAddress, Iota)> {
        destinations(&self.covers)
    }
}

/// What `covers` pay to each address, in the order they first name it.
pub fn destinations(covers: &[Cover]) -> Vec<(PaymentAddress, Iota)> {
    let mut out: Vec<(PaymentAddress, Iota)> = Vec::new();
    for cover in covers {
        match out.iter_mut().find(|(address, _)| *address == cover.address) {
            Some((_, amount)) => *amount = Iota::new(amount.get() + cover.amount.get()),
            None => out.push((cover.address.clone(), cover.amount)),
        }
    }
    out
}

/// Plans payouts after DESIGN.md §6: entitlements are paid oldest first (then by
/// producer id), each as far as the cash left allows, one payout per producer covering
/// at most [`MAX_COVERS`] periods (planning stops at the first that would cover more,
/// so nothing newer is paid before it); a producer whose total would be below
/// `min_payout` waits for the next run (its share of cash stays with the grid).
pub fn plan_payouts(entitlements: &[Entitlement], cash: Iota, min_payout: Iota) -> Vec<Payout> {
    let mut ordered: Vec<&Entitlement> = entitlements.iter().filter(|e| e.unpaid.get() > 0).collect();
    ordered.sort_by(|a, b| (a.period, &a.producer).cmp(&(b.period, &b.producer)));
    let mut left = cash.get();
    let mut by_producer: BTreeMap<&RegistrationId, Vec<Cover>> = BTreeMap::new();
    for entitlement in ordered {
        let covers = by_producer.entry(&entitlement.producer).or_default();
        if left == 0 || covers.len() == MAX_COVERS {
            break;
        }
        let paid = entitlement.unpaid.get().min(left);
        left -= paid;
        covers.push(Cover {
            period: entitlement.period,
            address: entitlement.address.clone(),
            amount: Iota::new(paid),
        });
    }
    by_producer
        .into_iter()
        .filter_map(|(producer, covers)| {
            let amount: u64 = covers.iter().map(|c| c.amount.get()).sum();
            (amount > 0 && amount >= min_payout.get()).then(|| Payout {
                producer: producer.clone(),
                amount: Iota::new(amount),
                covers,
            })
        })
        .collect()
}

/// A payout: the ledger batch, whom it pays, and which periods' entitlements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    pub batch: LedgerBatch,
    pub producer: RegistrationId,
    pub amount: Iota,
    /// The periods it pays, each to the address named in it; they sum to `amount`.
    pub covers: Vec<Cover>,
    /// When the monitor made it, by the monitor's clock (resends count from here).
    pub created: EpochMs,
}

/// What the ledger finally did with a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutResolution {
    /// Committed: the producer is paid.
    Committed,
    /// Refused, with the ledger's reasons: the money is the grid's again and the periods
    /// it covered are owed again (planned anew, as a new batch).
    Refused { reasons: Vec<String> },
}
