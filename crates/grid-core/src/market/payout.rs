//! Paying producers what they are owed, from the cash the grid holds.

use std::collections::BTreeMap;

use crate::{Iota, RegistrationId};

/// What the grid still owes one producer from one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// The period's start (epoch ms): older periods are paid first.
    pub period: u64,
    pub producer: RegistrationId,
    pub unpaid: Iota,
}

/// One transfer to a producer and the entitlements it settles (fully or in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub producer: RegistrationId,
    pub amount: Iota,
    /// `(period, amount)` pairs, oldest first; they sum to `amount`.
    pub covers: Vec<(u64, Iota)>,
}

/// Plans payouts after DESIGN.md §6: entitlements are paid oldest first (then by
/// producer id), each as far as the cash left allows, and a producer whose total would
/// be below `min_payout` waits for the next run (its share of cash stays with the grid).
pub fn plan_payouts(entitlements: &[Entitlement], cash: Iota, min_payout: Iota) -> Vec<Payout> {
    let mut ordered: Vec<&Entitlement> = entitlements.iter().filter(|e| e.unpaid.get() > 0).collect();
    ordered.sort_by(|a, b| (a.period, &a.producer).cmp(&(b.period, &b.producer)));
    let mut left = cash.get();
    let mut by_producer: BTreeMap<&RegistrationId, Vec<(u64, u64)>> = BTreeMap::new();
    for entitlement in ordered {
        if left == 0 {
            break;
        }
        let paid = entitlement.unpaid.get().min(left);
        left -= paid;
        by_producer.entry(&entitlement.producer).or_default().push((entitlement.period, paid));
    }
    by_producer
        .into_iter()
        .filter_map(|(producer, covers)| {
            let amount: u64 = covers.iter().map(|(_, a)| a).sum();
            (amount > 0 && amount >= min_payout.get()).then(|| Payout {
                producer: producer.clone(),
                amount: Iota::new(amount),
                covers: covers.into_iter().map(|(p, a)| (p, Iota::new(a))).collect(),
            })
        })
        .collect()
}
