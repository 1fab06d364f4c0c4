//! Where settlement stands: the last settled period and the one being settled.

use super::PeriodStart;

/// Periods settle one after another; a reading can only join a period after both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementHead {
    pub latest: Option<PeriodStart>,
    pub closing: Option<PeriodStart>,
}

impl SettlementHead {
    /// Whether readings may still be counted in `period`.
    pub fn is_open(&self, period: PeriodStart) -> bool {
        self.latest.is_none_or(|l| period > l) && self.closing.is_none_or(|c| period > c)
    }
}
