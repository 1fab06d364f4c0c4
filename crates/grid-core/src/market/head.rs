//! Where settlement stands: the last settled period and the one being settled.

use super::{PeriodLength, PeriodStart};
use crate::EpochMs;

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

    /// How far the newest settled period's end is behind `now`, in whole seconds (what
    /// the settlement-lag alarm watches); `None` before anything settled.
    pub fn lag_secs(&self, now: EpochMs, length: PeriodLength) -> Option<u64> {
        let end = self.latest?.get().saturating_add(length.ms());
        Some(now.get().saturating_sub(end) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_runs_from_the_end_of_the_newest_settled_period() {
        let length = PeriodLength::from_secs(900).unwrap();
        let at = |ms: i64| EpochMs::parse(ms).unwrap();
        assert_eq!(SettlementHead::default().lag_secs(at(5_000_000), length), None, "nothing settled");
        let head = SettlementHead { latest: Some(PeriodStart::parse(1_800_000).unwrap()), closing: None };
        assert_eq!(head.lag_secs(at(2_700_000), length), Some(0), "at its end");
        assert_eq!(head.lag_secs(at(2_000_000), length), Some(0), "within it");
        assert_eq!(head.lag_secs(at(4_501_999), length), Some(1_801), "two periods and a second behind");
    }
}
