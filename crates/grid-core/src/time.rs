//! Time as the grid's protocol carries it: Unix epoch milliseconds.

use std::fmt;

/// Why a timestamp is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("time {ms} is before the Unix epoch")]
    BeforeEpoch { ms: i64 },
    #[error("time {ms} ms is after the year 9999")]
    TooLate { ms: u64 },
}

/// A point in time in milliseconds since 1970-01-01T00:00:00Z.
///
/// The seed documents say "ms since 1900" but their own example values are epoch
/// milliseconds; epoch milliseconds are what the grid uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EpochMs(u64);

impl EpochMs {
    /// 9999-12-31T23:59:59.999Z: later values are typos or attacks.
    pub const MAX: u64 = 253_402_300_799_999;

    /// Validates a timestamp received from outside.
    pub fn parse(ms: i64) -> Result<Self, TimeError> {
        if ms < 0 {
            return Err(TimeError::BeforeEpoch { ms });
        }
        Self::try_from(ms as u64)
    }

    /// The last time the grid holds: "never" for a deadline, "any time" for a query.
    pub const LATEST: Self = Self(Self::MAX);

    /// A time already known to be at most [`EpochMs::MAX`] (a period start).
    pub(crate) const fn from_bounded(ms: u64) -> Self {
        Self(if ms > Self::MAX { Self::MAX } else { ms })
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        Self::at(std::time::SystemTime::now())
    }

    /// A system time as the grid holds it, to the millisecond: a clock before 1970 reads
    /// as 0 and one past 9999 as [`EpochMs::MAX`] (a clock that wrong is the machine's
    /// fault; every time the grid is *told* is parsed and refused instead).
    pub fn at(time: std::time::SystemTime) -> Self {
        let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(since.as_millis().min(u128::from(Self::MAX)) as u64)
    }

    /// `start` plus an elapsed duration (for runs that measure time from a given now).
    pub fn new_from(start: EpochMs, elapsed: std::time::Duration) -> Self {
        Self(start.0.saturating_add(elapsed.as_millis().min(u128::from(Self::MAX)) as u64).min(Self::MAX))
    }

    /// `self` plus `duration`, or an error past [`EpochMs::MAX`] (never clamped: a
    /// deadline that cannot be held is refused, not shortened).
    pub fn plus(self, duration: std::time::Duration) -> Result<Self, TimeError> {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self::try_from(self.0.saturating_add(ms))
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Milliseconds since the epoch.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `YYYY-MM-DD HH:MM` in UTC, for people.
    pub fn utc_minute(self) -> String {
        let secs = self.0 / 1000;
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // The civil date of a day count (Howard Hinnant's days_from_civil, inverted).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
    }
}

/// A stored or computed millisecond count; refused past [`EpochMs::MAX`].
impl TryFrom<u64> for EpochMs {
    type Error = TimeError;

    fn try_from(ms: u64) -> Result<Self, TimeError> {
        if ms > Self::MAX {
            return Err(TimeError::TooLate { ms });
        }
        Ok(Self(ms))
    }
}

impl fmt::Display for EpochMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EpochMs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        let at = |ms: u64| EpochMs::parse(ms as i64).unwrap().utc_minute();
        assert_eq!(at(0), "1970-01-01 00:00");
        assert_eq!(at(1_795_339_200_000), "2026-11-22 09:20");
        assert_eq!(at(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(at(EpochMs::MAX), "9999-12-31 23:59");
    }

    #[test]
    fn the_seed_example_timestamp_is_an_epoch_millisecond_value() {
        // 2019-03-01T00:00:00Z, the era of the seed documents.
        assert_eq!(EpochMs::parse(1_551_398_400_000).unwrap().get(), 1_551_398_400_000);
    }

    #[test]
    fn negative_and_far_future_times_are_refused() {
        assert_eq!(EpochMs::parse(-1), Err(TimeError::BeforeEpoch { ms: -1 }));
        assert_eq!(EpochMs::parse(i64::MAX), Err(TimeError::TooLate { ms: i64::MAX as u64 }));
        assert!(EpochMs::parse(EpochMs::MAX as i64).is_ok());
    }

    #[test]
    fn the_system_clock_is_read_to_the_millisecond_within_the_range_the_grid_holds() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(EpochMs::at(UNIX_EPOCH + Duration::from_micros(1_795_860_000_123_999)).get(), 1_795_860_000_123);
        assert_eq!(EpochMs::at(UNIX_EPOCH - Duration::from_secs(1)).get(), 0, "before 1970");
        let far = UNIX_EPOCH + Duration::from_secs(400_000 * 365 * 86_400);
        assert_eq!(EpochMs::at(far).get(), EpochMs::MAX, "past 9999");
    }

    #[test]
    fn a_deadline_past_the_last_time_held_is_an_error_not_a_shorter_deadline() {
        use std::time::Duration;
        let near_end = EpochMs::try_from(EpochMs::MAX - 10).unwrap();
        assert_eq!(near_end.plus(Duration::from_millis(10)), Ok(EpochMs::LATEST));
        assert_eq!(near_end.plus(Duration::from_millis(11)), Err(TimeError::TooLate { ms: EpochMs::MAX + 1 }));
        assert!(EpochMs::LATEST.plus(Duration::MAX).is_err());
        assert_eq!(EpochMs::try_from(EpochMs::MAX + 1), Err(TimeError::TooLate { ms: EpochMs::MAX + 1 }));
        assert_eq!(near_end.since(EpochMs::default()), Duration::from_millis(EpochMs::MAX - 10));
        assert_eq!(EpochMs::default().since(near_end), Duration::ZERO, "not after");
    }
}
