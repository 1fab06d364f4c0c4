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

    /// The length in milliseconds.
    pub fn ms(self) -> u64 {
        self.0 * 1000
    }
}

/// The start of a settlement period, in epoch ms: how records name their period.
///
/// Any storable time is a valid start; whether it is aligned to the period length is
/// [`Period::starting_at`]'s question, which needs the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct PeriodStart(u64);

/// A stored or received period start is not a time the grid can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a period start must be 0 to {max} ms, got {0}", max = EpochMs::MAX)]
pub struct PeriodStartError(pub u64);

impl PeriodStart {
    pub fn parse(ms: u64) -> Result<Self, PeriodStartError> {
        if ms > EpochMs::MAX {
            return Err(PeriodStartError(ms));
        }
        Ok(Self(ms))
    }

    /// Milliseconds since the epoch.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The start as a point in time.
    pub const fn time(self) -> EpochMs {
        // `parse` bounds it by EpochMs::MAX.
        EpochMs::from_bounded(self.0)
    }
}

impl TryFrom<u64> for PeriodStart {
    type Error = PeriodStartError;

    fn try_from(ms: u64) -> Result<Self, Self::Error> {
        Self::parse(ms)
    }
}

impl From<PeriodStart> for u64 {
    fn from(start: PeriodStart) -> u64 {
        start.0
    }
}

impl fmt::Display for PeriodStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
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
    pub fn starting_at(start: PeriodStart, length: PeriodLength) -> Option<Self> {
        start.0.is_multiple_of(length.ms()).then_some(Self { start: start.0, length: length.ms() })
    }

    /// First millisecond of the period.
    pub fn start(self) -> PeriodStart {
        PeriodStart(self.start)
    }

    /// First millisecond after the period.
    pub fn end(self) -> u64 {
        self.start + self.length
    }

    pub fn next(self) -> Self {
        Self { start: self.end(), length: self.length }
    }

    pub fn length(self) -> PeriodLength {
        PeriodLength(self.length / 1000)
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
        assert_eq!((p.start().get(), p.end()), (1_795_860_000_000, 1_795_860_900_000));
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
        let start = |ms| PeriodStart::parse(ms).unwrap();
        assert!(Period::starting_at(start(1_795_860_000_000), PeriodLength::DEFAULT).is_some());
        assert!(Period::starting_at(start(1_795_860_000_001), PeriodLength::DEFAULT).is_none());
        assert_eq!(PeriodStart::parse(EpochMs::MAX + 1), Err(PeriodStartError(EpochMs::MAX + 1)));
    }
}
