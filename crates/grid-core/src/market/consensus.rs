//! The consensus price of a period, from the producers' offers.

use std::fmt;

use super::Offer;
use crate::Iota;

/// How producers' asking prices become one price (`CONSENSUS_STRATEGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsensusStrategy {
    /// `floor(Σ(Wh_p · price_p) / ΣWh_p)`: each kWh offered counts once.
    #[default]
    Weighted,
    /// `floor(Σprice_p / n)`: each producer counts once.
    Mean,
    /// The lower median of the producers' prices.
    Median,
}

/// The strategy named is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consensus strategy must be weighted, mean or median")]
pub struct ConsensusStrategyError;

impl ConsensusStrategy {
    pub fn parse(value: &str) -> Result<Self, ConsensusStrategyError> {
        match value {
            "weighted" => Ok(Self::Weighted),
            "mean" => Ok(Self::Mean),
            "median" => Ok(Self::Median),
            _ => Err(ConsensusStrategyError),
        }
    }
}

impl fmt::Display for ConsensusStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Weighted => "weighted",
            Self::Mean => "mean",
            Self::Median => "median",
        })
    }
}

/// The consensus price (IOTA per kWh) of `offers`, or `None` when nothing was offered.
///
/// Only offers with energy count: a producer that produced nothing has made no offer.
/// A producer's own price, for `mean` and `median`, is its volume-weighted price over
/// the period, `floor(Σ(Wh·price) / ΣWh)`.
pub fn consensus_price(offers: &[Offer], strategy: ConsensusStrategy) -> Option<Iota> {
    let offers: Vec<&Offer> = offers.iter().filter(|o| o.energy.get() > 0).collect();
    if offers.is_empty() {
        return None;
    }
    let price = match strategy {
        ConsensusStrategy::Weighted => {
            let value: u128 = offers.iter().map(|o| o.value).sum();
            let energy: u128 = offers.iter().map(|o| u128::from(o.energy.get())).sum();
            value / energy
        }
        ConsensusStrategy::Mean => {
            let sum: u128 = offers.iter().map(|o| o.price()).sum();
            sum / offers.len() as u128
        }
        ConsensusStrategy::Median => {
            let mut prices: Vec<u128> = offers.iter().map(|o| o.price()).collect();
            prices.sort_unstable();
            prices[(prices.len() - 1) / 2]
        }
    };
    // Every input price fits u64 and each strategy is at most the largest one.
    Some(Iota::new(u64::try_from(price).expect("a consensus price never exceeds the largest offer")))
}
