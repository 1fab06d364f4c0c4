//! What a ledger batch is to the grid, and where it stands as the operator sees it.

use std::fmt;

/// A consumer's payment claim, or the grid's payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchKind {
    Claim,
    Payout,
}

impl BatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Payout => "payout",
        }
    }

    /// The kind [`as_str`](Self::as_str) names, as stores keep it.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Claim, Self::Payout].into_iter().find(|k| k.as_str() == name)
    }
}

/// Where a batch stands, as the operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchState {
    /// Not final, followed by the monitor.
    Pending,
    /// Pending too long or checked too often: still followed, shown to the operator.
    Stalled,
    /// A payout the ledger applied.
    Committed,
    /// A payout the ledger refused (re-issued as a new batch).
    Invalid,
    /// A claim the ledger confirmed.
    Verified,
    /// A claim the ledger does not show.
    Rejected,
}

/// The name is not a batch state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status must be pending, stalled, committed, invalid, verified or rejected")]
pub struct BatchStateError;

impl BatchState {
    pub const ALL: [BatchState; 6] =
        [Self::Pending, Self::Stalled, Self::Committed, Self::Invalid, Self::Verified, Self::Rejected];

    pub fn parse(name: &str) -> Result<Self, BatchStateError> {
        Self::ALL.into_iter().find(|s| s.as_str() == name).ok_or(BatchStateError)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Stalled => "stalled",
            Self::Committed => "committed",
            Self::Invalid => "invalid",
            Self::Verified => "verified",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
