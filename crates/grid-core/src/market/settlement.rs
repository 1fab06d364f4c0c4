//! Settling one period's local market (DESIGN.md §6): offers under the cap, matched
//! energy, the price, each party's share, charges, fee and allocations.
//!
//! Only energy both produced and used locally is traded. Supply the market does not
//! use is exported (the producer's utility takes it) and demand it does not cover is
//! imported (the consumer's utility supplies it); both are reported, neither is paid
//! for here. Sums of energy are `u64` Wh (checked), worths and products `u128`.

use std::collections::BTreeMap;

use super::{ConsensusStrategy, apportion};
use crate::{Iota, PaymentAddress, Price, RegistrationId, Wh};

/// A settlement cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the period's {what} exceeds what the grid can count; check its readings for absurd values")]
    Overflow { what: &'static str },
}

fn overflow(what: &'static str) -> SettlementError {
    SettlementError::Overflow { what }
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
    /// `PRICE_CAP`: no offer above it is admitted, so no consumer pays more per kWh than
    /// its utility would charge.
    pub cap: Price,
    /// The reference price before anything was ever traded (`DEFAULT_PRICE`).
    pub default_price: Price,
}

/// One producer's readings in a period, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Output {
    energy: u64,
    /// `Σ Wh · price` over its readings (milli-IOTA).
    worth: u128,
    /// The payment address of its latest reading, and that reading's start time.
    address: Option<(u64, PaymentAddress)>,
}

/// Everything read in one period, summed per registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    output: BTreeMap<RegistrationId, Output>,
    usage: BTreeMap<RegistrationId, u64>,
}

impl PeriodTotals {
    /// Adds a producer's reading: `energy` offered at `price`.
    pub fn add_output(&mut self, producer: RegistrationId, energy: Wh, price: Price) -> Result<(), SettlementError> {
        let output = self.output.entry(producer).or_default();
        output.energy = output.energy.checked_add(energy.get()).ok_or(overflow("output"))?;
        let worth = u128::from(energy.get()) * u128::from(price.get());
        output.worth = output.worth.checked_add(worth).ok_or(overflow("output"))?;
        Ok(())
    }

    /// Notes where a producer asked to be paid in a reading starting at `start`: the
    /// period's allocation goes to the address of its latest reading (ties: the larger
    /// address, so the order readings are read in never matters).
    pub fn name_address(&mut self, producer: RegistrationId, start: u64, address: PaymentAddress) {
        let output = self.output.entry(producer).or_default();
        let named = (start, address);
        if output.address.as_ref().is_none_or(|current| &named > current) {
            output.address = Some(named);
        }
    }

    /// Adds a consumer's reading.
    pub fn add_usage(&mut self, consumer: RegistrationId, energy: Wh) -> Result<(), SettlementError> {
        let entry = self.usage.entry(consumer).or_default();
        *entry = entry.checked_add(energy.get()).ok_or(overflow("usage"))?;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.output.is_empty() && self.usage.is_empty()
    }
}

/// Where the period's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceSource {
    /// Energy was traded at it this period (`consensus` in periods settled as a pool).
    #[serde(alias = "consensus")]
    Traded,
    /// Nothing traded: the last traded price, for reference only.
    Previous,
    /// Nothing ever traded: `DEFAULT_PRICE`, for reference only.
    Default,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traded => "traded",
            Self::Previous => "previous",
            Self::Default => "default",
        }
    }

    /// The source [`as_str`](Self::as_str) names; `consensus` is how periods settled as
    /// a pool named a traded price.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "consensus" => Some(Self::Traded),
            _ => [Self::Traded, Self::Previous, Self::Default].into_iter().find(|s| s.as_str() == name),
        }
    }
}

/// What one producer did in a period's market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerOutcome {
    pub id: RegistrationId,
    /// All it offered.
    pub produced: Wh,
    /// Its volume-weighted ask `floor(V_p / Wh_p)`; none without energy.
    pub ask: Option<Price>,
    /// What the market admitted: all it produced at or below the cap, else nothing.
    pub admitted: Wh,
    /// What the market used of it.
    pub matched: Wh,
    /// `produced − matched`: what its utility takes.
    pub exported: Wh,
    /// Its share of what consumers paid, after the grid's fee.
    pub allocation: Iota,
    /// Where it asked to be paid in this period (its latest reading's address).
    pub payment_address: Option<PaymentAddress>,
}

/// What one consumer did in a period's market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerOutcome {
    pub id: RegistrationId,
    pub used: Wh,
    /// Its share of the matched energy: what it is billed for.
    pub local: Wh,
    /// `used − local`: what its utility supplies.
    pub imported: Wh,
    /// `(local · price + 500) / 1000`.
    pub charge: Iota,
}

/// A settled period: the figures of DESIGN.md §6's report. Always
/// `Σ allocation + fee + unallocated = revenue` and `Σ local = Σ matched = matched`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub strategy: ConsensusStrategy,
    /// IOTA per kWh: what matched energy traded at, or the reference price.
    pub price: Price,
    pub price_source: PriceSource,
    pub produced: Wh,
    /// Supply offered at or below the cap (`S`).
    pub admitted: Wh,
    /// Demand (`D`).
    pub used: Wh,
    /// `M = min(S, D)`.
    pub matched: Wh,
    /// `D − M`.
    pub imported: Wh,
    /// `produced − M`.
    pub exported: Wh,
    pub revenue: Iota,
    pub fee: Iota,
    /// What no producer could take: 0 whenever there is revenue.
    pub unallocated: Iota,
    pub producers: Vec<ProducerOutcome>,
    pub consumers: Vec<ConsumerOutcome>,
}

impl Settlement {
    /// `revenue − fee`: what producers share.
    pub fn distributable(&self) -> Iota {
        Iota::new(self.revenue.get() - self.fee.get())
    }
}

/// An admitted offer: a producer's energy and its ask.
struct Offer<'a> {
    index: usize,
    producer: &'a RegistrationId,
    energy: u64,
    worth: u128,
    ask: Price,
}

/// Settles a period after DESIGN.md §6. `last_price` is the previous period's price
/// (the last traded one), the reference when nothing trades.
pub fn settle(
    totals: &PeriodTotals,
    last_price: Option<Price>,
    policy: &SettlementPolicy,
) -> Result<Settlement, SettlementError> {
    let mut producers = Vec::with_capacity(totals.output.len());
    let mut offers = Vec::new();
    for (index, (producer, output)) in totals.output.iter().enumerate() {
        let ask = match output.worth.checked_div(u128::from(output.energy)) {
            // Every reading's price is at most Price::MAX, so is their weighted mean.
            Some(ask) => {
                Some(Price::parse(u64::try_from(ask).map_err(|_| overflow("ask"))?).map_err(|_| overflow("ask"))?)
            }
            None => None,
        };
        let admitted = ask.filter(|ask| *ask <= policy.cap).map_or(0, |_| output.energy);
        if let Some(ask) = ask.filter(|_| admitted > 0) {
            offers.push(Offer { index, producer, energy: output.energy, worth: output.worth, ask });
        }
        producers.push(ProducerOutcome {
            id: producer.clone(),
            produced: Wh::new(output.energy),
            ask,
            admitted: Wh::new(admitted),
            matched: Wh::ZERO,
            exported: Wh::new(output.energy),
            allocation: Iota::ZERO,
            payment_address: output.address.as_ref().map(|(_, address)| address.clone()),
        });
    }
    let produced = sum(producers.iter().map(|p| p.produced.get()), "output")?;
    let admitted = sum(offers.iter().map(|o| o.energy), "output")?;
    let used = sum(totals.usage.values().copied(), "usage")?;
    let matched = admitted.min(used);

    let mut consumers: Vec<ConsumerOutcome> = totals
        .usage
        .iter()
        .map(|(id, used)| ConsumerOutcome {
            id: id.clone(),
            used: Wh::new(*used),
            local: Wh::ZERO,
            imported: Wh::new(*used),
            charge: Iota::ZERO,
        })
        .collect();
    let mut settlement = Settlement {
        strategy: policy.strategy,
        price: last_price.unwrap_or(policy.default_price),
        price_source: if last_price.is_some() { PriceSource::Previous } else { PriceSource::Default },
        produced: Wh::new(produced),
        admitted: Wh::new(admitted),
        used: Wh::new(used),
        matched: Wh::new(matched),
        imported: Wh::new(used - matched),
        exported: Wh::new(produced - matched),
        revenue: Iota::ZERO,
        fee: Iota::ZERO,
        unallocated: Iota::ZERO,
        producers: Vec::new(),
        consumers: Vec::new(),
    };
    if matched == 0 {
        settlement.producers = producers;
        settlement.consumers = consumers;
        return Ok(settlement);
    }

    let (price, shares) = match_offers(&offers, matched, policy.strategy)?;
    settlement.price = price;
    settlement.price_source = PriceSource::Traded;

    let demand: Vec<(&RegistrationId, u128)> = consumers.iter().map(|c| (&c.id, u128::from(c.used.get()))).collect();
    let local = apportion(matched, &demand);
    let mut revenue: u128 = 0;
    for (consumer, local) in consumers.iter_mut().zip(local) {
        let charge = (u128::from(local) * u128::from(price.get()) + 500) / 1000;
        revenue += charge;
        consumer.local = Wh::new(local);
        consumer.imported = Wh::new(consumer.used.get() - local);
        consumer.charge = Iota::new(u64::try_from(charge).map_err(|_| overflow("charge"))?);
    }
    let revenue = u64::try_from(revenue).map_err(|_| overflow("revenue"))?;
    // fee ≤ revenue, so it fits.
    let fee = (u128::from(revenue) * u128::from(policy.fee.get()) / 10_000) as u64;
    let distributable = revenue - fee;

    let weights: Vec<(&RegistrationId, u128)> =
        offers.iter().zip(&shares).map(|(o, m)| (o.producer, u128::from(*m))).collect();
    let allocations = apportion(distributable, &weights);
    let allocated: u64 = allocations.iter().sum();
    for ((offer, matched), allocation) in offers.iter().zip(shares).zip(allocations) {
        let producer = &mut producers[offer.index];
        producer.matched = Wh::new(matched);
        producer.exported = Wh::new(producer.produced.get() - matched);
        producer.allocation = Iota::new(allocation);
    }
    settlement.revenue = Iota::new(revenue);
    settlement.fee = Iota::new(fee);
    settlement.unallocated = Iota::new(distributable - allocated);
    settlement.producers = producers;
    settlement.consumers = consumers;
    Ok(settlement)
}

/// Adds energies, refusing to wrap.
fn sum(values: impl Iterator<Item = u64>, what: &'static str) -> Result<u64, SettlementError> {
    values.into_iter().try_fold(0u64, |sum, v| sum.checked_add(v)).ok_or(overflow(what))
}

/// The price and each admitted offer's matched energy (in `offers`' order) for
/// `matched > 0` Wh, by `strategy`.
fn match_offers(
    offers: &[Offer<'_>],
    matched: u64,
    strategy: ConsensusStrategy,
) -> Result<(Price, Vec<u64>), SettlementError> {
    let price =
        |value: u128| Price::parse(u64::try_from(value).map_err(|_| overflow("price"))?).map_err(|_| overflow("price"));
    let by_energy = || {
        let weights: Vec<(&RegistrationId, u128)> = offers.iter().map(|o| (o.producer, u128::from(o.energy))).collect();
        apportion(matched, &weights)
    };
    Ok(match strategy {
        ConsensusStrategy::Clearing => {
            let mut merit: Vec<usize> = (0..offers.len()).collect();
            merit.sort_by(|a, b| (offers[*a].ask, offers[*a].producer).cmp(&(offers[*b].ask, offers[*b].producer)));
            let mut shares = vec![0; offers.len()];
            let mut left = matched;
            let mut marginal = Price::ZERO;
            for index in merit {
                if left == 0 {
                    break;
                }
                let take = offers[index].energy.min(left);
                shares[index] = take;
                left -= take;
                marginal = offers[index].ask;
            }
            (marginal, shares)
        }
        ConsensusStrategy::Weighted => {
            let worth: u128 = offers.iter().map(|o| o.worth).sum();
            let energy: u128 = offers.iter().map(|o| u128::from(o.energy)).sum();
            (price(worth / energy)?, by_energy())
        }
        ConsensusStrategy::Mean => {
            let asks: u128 = offers.iter().map(|o| u128::from(o.ask.get())).sum();
            (price(asks / offers.len() as u128)?, by_energy())
        }
        ConsensusStrategy::Median => {
            let mut asks: Vec<Price> = offers.iter().map(|o| o.ask).collect();
            asks.sort_unstable();
            (asks[(asks.len() - 1) / 2], by_energy())
        }
    })
}
