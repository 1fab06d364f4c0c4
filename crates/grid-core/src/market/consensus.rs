//! How a period's price is found from the admitted offers (`CONSENSUS_STRATEGY`).

use std::fmt;

/// How producers' asks become the period's price, and how matched energy is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsensusStrategy {
    /// Pay-as-clear in merit order, as power exchanges settle: the cheapest offers are
    /// matched first and the price is the ask of the last one matched (the marginal
    /// offer). Every matched producer gets at least its ask.
    #[default]
    Clearing,
    /// `floor(Σ V_p / S)` over admitted offers: each kWh offered counts once.
    Weighted,
    /// `floor(Σ a_p / n)` over admitted offers: each producer counts once.
    Mean,
    /// The lower median of the admitted asks.
    Median,
}

/// The strategy named is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consensus strategy must be clearing, weighted, mean or median")]
pub struct ConsensusStrategyError;

impl ConsensusStrategy {
    pub const ALL: [ConsensusStrategy; 4] = [Self::Clearing, Self::Weighted, Self::Mean, Self::Median];

    pub fn parse(value: &str) -> Result<Self, ConsensusStrategyError> {
        Self::ALL.into_iter().find(|s| s.as_str() == value).ok_or(ConsensusStrategyError)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clearing => "clearing",
            Self::Weighted => "weighted",
            Self::Mean => "mean",
            Self::Median => "median",
        }
    }
}

impl fmt::Display for ConsensusStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_parses_from_its_own_name_and_clearing_is_the_default() {
        for strategy in ConsensusStrategy::ALL {
            assert_eq!(ConsensusStrategy::parse(strategy.as_str()), Ok(strategy));
        }
        assert_eq!(ConsensusStrategy::default(), ConsensusStrategy::Clearing);
        assert_eq!(ConsensusStrategy::parse("auction"), Err(ConsensusStrategyError));
    }
}
