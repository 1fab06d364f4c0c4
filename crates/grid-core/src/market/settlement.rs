//! Settling one period (DESIGN.md §6): price, charges, fee, allocations.

use std::collections::BTreeMap;

use super::{ConsensusStrategy, apportion, consensus_price};
use crate::{Iota, RegistrationId, Wh};

/// Whether a reading is a producer's output or a consumer's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadingKind {
    Output,
    Usage,
}

impl ReadingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Usage => "usage",
        }
    }

    /// The kind [`as_str`](Self::as_str) names, as stores keep it.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Output, Self::Usage].into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A producer's offer over a period: its energy and `Σ(Wh · price)` over its readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub producer: RegistrationId,
    pub energy: Wh,
    pub value: u128,
}

impl Offer {
    /// The producer's volume-weighted price over the period (IOTA/kWh); 0 without energy.
    pub fn price(&self) -> u128 {
        self.value.checked_div(u128::from(self.energy.get())).unwrap_or(0)
    }
}

/// A settlement cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the period's {what} exceeds what the grid can count; check its readings for absurd values")]
    Overflow { what: &'static str },
}

/// The grid's fee in basis points (`GRID_FEE_BPS`): 0 to 10,000 (100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBps(u16);

/// The fee is more than 100%.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the grid fee must be 0 to 10000 basis points, got {0}")]
pub struct FeeBpsError(pub u64);

impl FeeBps {
    pub const DEFAULT: FeeBps = FeeBps(2000);

    pub fn new(bps: u64) -> Result<Self, FeeBpsError> {
        u16::try_from(bps).ok().filter(|b| *b <= 10_000).map(Self).ok_or(FeeBpsError(bps))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// How periods are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementPolicy {
    pub strategy: ConsensusStrategy,
    pub fee: FeeBps,
    /// The price when no producer has ever offered anything (`DEFAULT_PRICE`).
    pub default_price: Iota,
}

/// Everything read in one period, summed per registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    output: BTreeMap<RegistrationId, (u64, u128)>,
    usage: BTreeMap<RegistrationId, u64>,
}

impl PeriodTotals {
    /// Adds a producer's reading: `energy` offered at `price` IOTA/kWh.
    pub fn add_output(&mut self, producer: RegistrationId, energy: Wh, price: Iota) -> Result<(), SettlementError> {
        let overflow = SettlementError::Overflow { what: "output" };
        let entry = self.output.entry(producer).or_default();
        entry.0 = entry.0.checked_add(energy.get()).ok_or(overflow.clone())?;
        let value = u128::from(energy.get()) * u128::from(price.get());
        entry.1 = entry.1.checked_add(value).ok_or(overflow)?;
        Ok(())
    }

    /// Adds a consumer's reading.
    pub fn add_usage(&mut self, consumer: RegistrationId, energy: Wh) -> Result<(), SettlementError> {
        let entry = self.usage.entry(consumer).or_default();
        *entry = entry.checked_add(energy.get()).ok_or(SettlementError::Overflow { what: "usage" })?;
        Ok(())
    }

    /// Every producer's offer, in registration id order.
    pub fn offers(&self) -> Vec<Offer> {
        self.output
            .iter()
            .map(|(producer, (energy, value))| Offer {
                producer: producer.clone(),
                energy: Wh::new(*energy),
                value: *value,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.output.is_empty() && self.usage.is_empty()
    }
}

/// What one consumer is billed for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub consumer: RegistrationId,
    pub energy: Wh,
    pub amount: Iota,
}

/// What one producer earned in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub producer: RegistrationId,
    pub energy: Wh,
    pub amount: Iota,
}

/// Where the period's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The producers' offers this period.
    Consensus,
    /// No offers: the last settled period's price.
    Previous,
    /// No offers ever: `DEFAULT_PRICE`.
    Default,
}

/// A settled period. Always `Σallocations + fee + unallocated = revenue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// IOTA per kWh.
    pub price: Iota,
    pub price_source: PriceSource,
    pub produced: Wh,
    pub used: Wh,
    pub revenue: Iota,
    pub fee: Iota,
    /// `revenue − fee`: what producers share.
    pub distributable: Iota,
    /// What no producer could take (a period without offers).
    pub unallocated: Iota,
    pub charges: Vec<Charge>,
    pub allocations: Vec<Allocation>,
}

/// Settles a period after DESIGN.md §6:
///
/// - price `P`: the consensus of the offers, else `previous_price`, else the default;
/// - each consumer pays `c = (Wh_c · P + 500) / 1000` (kWh at P, rounded half up);
/// - revenue `R = Σc`, fee `F = floor(R · bps / 10000)`, distributable `D = R − F`;
/// - each producer gets its share of `D` by weight `Wh_p · price_p` (largest remainder,
///   ties by id); without any weight `D` stays unallocated.
pub fn settle(
    totals: &PeriodTotals,
    previous_price: Option<Iota>,
    policy: &SettlementPolicy,
) -> Result<Settlement, SettlementError> {
    let offers = totals.offers();
    let (price, price_source) = match (consensus_price(&offers, policy.strategy), previous_price) {
        (Some(price), _) => (price, PriceSource::Consensus),
        (None, Some(price)) => (price, PriceSource::Previous),
        (None, None) => (policy.default_price, PriceSource::Default),
    };

    let mut charges = Vec::with_capacity(totals.usage.len());
    let mut revenue: u128 = 0;
    let mut used: u128 = 0;
    for (consumer, energy) in &totals.usage {
        let amount = (u128::from(*energy) * u128::from(price.get()) + 500) / 1000;
        revenue += amount;
        used += u128::from(*energy);
        let amount = u64::try_from(amount).map_err(|_| SettlementError::Overflow { what: "charge" })?;
        charges.push(Charge { consumer: consumer.clone(), energy: Wh::new(*energy), amount: Iota::new(amount) });
    }
    let revenue = u64::try_from(revenue).map_err(|_| SettlementError::Overflow { what: "revenue" })?;
    let used = u64::try_from(used).map_err(|_| SettlementError::Overflow { what: "usage" })?;
    let fee = (u128::from(revenue) * u128::from(policy.fee.get()) / 10_000) as u64;
    let distributable = revenue - fee;

    let weights: Vec<(&RegistrationId, u128)> = offers.iter().map(|o| (&o.producer, o.value)).collect();
    let shares = apportion(distributable, &weights);
    let allocated: u64 = shares.iter().sum();
    let produced = offers.iter().try_fold(0u64, |sum, o| sum.checked_add(o.energy.get()));
    let produced = produced.ok_or(SettlementError::Overflow { what: "output" })?;
    let allocations = offers
        .into_iter()
        .zip(shares)
        .map(|(offer, share)| Allocation { producer: offer.producer, energy: offer.energy, amount: Iota::new(share) })
        .collect();

    Ok(Settlement {
        price,
        price_source,
        produced: Wh::new(produced),
        used: Wh::new(used),
        revenue: Iota::new(revenue),
        fee: Iota::new(fee),
        distributable: Iota::new(distributable),
        unallocated: Iota::new(distributable - allocated),
        charges,
        allocations,
    })
}
