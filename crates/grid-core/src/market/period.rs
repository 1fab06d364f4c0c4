//! Settlement periods: fixed windows aligned to the Unix epoch.

use std::fmt;

use crate::EpochMs;

/// Why a period length is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a settlement period must be 60 to 86400 seconds and divide a day evenly, got {0}")]
pub struct PeriodLengthError(pub u64);

/// The length of every period (`SETTLEMENT_PERIOD_SECS`, default 900).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodLength(u64);

impl PeriodLength {
    pub const DEFAULT: PeriodLength = PeriodLength(900);

    /// A length in seconds: 1 minute to 1 day, dividing a day evenly so that periods
    /// line up with days in every report.
    pub fn from_secs(secs: u64) -> Result<Self, PeriodLengthError> {
        if (60..=86_400).contains(&secs) && 86_400u64.is_multiple_of(secs) {
            Ok(Self(secs))
        } else {
            Err(PeriodLengthError(secs))
        }
    }

    pub fn secs(self) -> u64 {
        self.0
    }

    fn ms(self) -> u64 {
        self.0 * 1000
    }
}

/// One period, identified by its start (epoch ms, a multiple of the period length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    start: u64,
    length: u64,
}

impl Period {
    /// The period containing `time`.
    pub fn containing(time: EpochMs, length: PeriodLength) -> Self {
        let start = time.get() - time.get() % length.ms();
        Self { start, length: length.ms() }
    }

    /// The period starting at `start`, if `start` is aligned to `length`.
    pub fn starting_at(start: u64, length: PeriodLength) -> Option<Self> {
        start.is_multiple_of(length.ms()).then_some(Self { start, length: length.ms() })
    }

    /// First millisecond of the period.
    pub fn start(self) -> u64 {
        self.start
    }

    /// First millisecond after the period.
    pub fn end(self) -> u64 {
        self.start + self.length
    }

    pub fn next(self) -> Self {
        Self { start: self.end(), length: self.length }
    }

    /// Whether `grace_secs` have passed since the period ended, so it may settle.
    pub fn is_due(self, now: EpochMs, grace_secs: u64) -> bool {
        now.get() >= self.end().saturating_add(grace_secs.saturating_mul(1000))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "period {}..{}", self.start, self.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> EpochMs {
        EpochMs::parse(ms as i64).unwrap()
    }

    #[test]
    fn periods_are_aligned_to_the_epoch() {
        let p = Period::containing(at(1_795_860_123_456), PeriodLength::DEFAULT);
        assert_eq!((p.start(), p.end()), (1_795_860_000_000, 1_795_860_900_000));
        assert_eq!(Period::containing(at(p.end()), PeriodLength::DEFAULT), p.next());
        assert_eq!(Period::containing(at(p.end() - 1), PeriodLength::DEFAULT), p);
    }

    #[test]
    fn a_period_is_due_once_the_grace_time_has_passed() {
        let p = Period::containing(at(1_795_860_000_000), PeriodLength::DEFAULT);
        assert!(!p.is_due(at(p.end()), 120));
        assert!(!p.is_due(at(p.end() + 119_999), 120));
        assert!(p.is_due(at(p.end() + 120_000), 120));
    }

    #[test]
    fn only_lengths_that_divide_a_day_are_accepted() {
        for ok in [60, 300, 900, 3600, 86_400] {
            assert!(PeriodLength::from_secs(ok).is_ok(), "{ok}");
        }
        for bad in [0, 59, 7, 1000, 86_401, u64::MAX] {
            assert_eq!(PeriodLength::from_secs(bad), Err(PeriodLengthError(bad)));
        }
    }

    #[test]
    fn only_aligned_starts_name_a_period() {
        assert!(Period::starting_at(1_795_860_000_000, PeriodLength::DEFAULT).is_some());
        assert!(Period::starting_at(1_795_860_000_001, PeriodLength::DEFAULT).is_none());
    }
}
