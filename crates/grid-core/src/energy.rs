//! Energy as the grid counts it: integer watt-hours.

use std::fmt;

/// Why a reported energy value is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnergyError {
    #[error("energy must be a finite number of kWh")]
    NotFinite,
    #[error("energy cannot be negative ({kwh} kWh)")]
    Negative { kwh: f64 },
    #[error("energy of {kwh} kWh in one reading is beyond the limit of {max} kWh", max = Wh::MAX_READING_KWH)]
    Absurd { kwh: f64 },
}

/// An amount of energy in whole watt-hours.
///
/// Devices report kWh as JSON numbers; the grid converts once, at the edge, with
/// `round(kWh × 1000)` and from then on adds integers, so no kWh is ever lost or
/// double counted to floating-point drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Wh(u64);

impl Wh {
    /// The largest energy a single reading may report.
    pub const MAX_READING_KWH: f64 = 1_000_000.0;
    pub const ZERO: Wh = Wh(0);

    /// Wraps a count of watt-hours the grid already holds (a sum, a stored reading).
    pub const fn new(wh: u64) -> Self {
        Self(wh)
    }

    /// Converts one reading reported in kWh, refusing negative, non-finite and absurd values.
    pub fn from_reading_kwh(kwh: f64) -> Result<Self, EnergyError> {
        if !kwh.is_finite() {
            return Err(EnergyError::NotFinite);
        }
        if kwh < 0.0 {
            return Err(EnergyError::Negative { kwh });
        }
        if kwh > Self::MAX_READING_KWH {
            return Err(EnergyError::Absurd { kwh });
        }
        // Bounded above by 10^9, so the cast is exact after rounding.
        Ok(Self((kwh * 1000.0).round() as u64))
    }

    /// The count of watt-hours.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The amount in kWh, for display and the wire.
    pub fn kwh(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Adds, or `None` on overflow.
    pub fn checked_add(self, other: Wh) -> Option<Wh> {
        self.0.checked_add(other.0).map(Wh)
    }
}

impl fmt::Display for Wh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Wh", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kwh_are_rounded_to_the_nearest_watt_hour() {
        assert_eq!(Wh::from_reading_kwh(1.2345).unwrap(), Wh::new(1235));
        assert_eq!(Wh::from_reading_kwh(0.0004).unwrap(), Wh::new(0));
        assert_eq!(Wh::from_reading_kwh(0.0005).unwrap(), Wh::new(1));
        assert_eq!(Wh::from_reading_kwh(0.0).unwrap(), Wh::ZERO);
    }

    #[test]
    fn the_largest_reading_is_exactly_a_billion_watt_hours() {
        assert_eq!(Wh::from_reading_kwh(1_000_000.0).unwrap(), Wh::new(1_000_000_000));
        assert!(matches!(Wh::from_reading_kwh(1_000_000.001), Err(EnergyError::Absurd { .. })));
    }

    #[test]
    fn negative_nan_and_infinite_readings_are_refused() {
        assert_eq!(Wh::from_reading_kwh(f64::NAN), Err(EnergyError::NotFinite));
        assert_eq!(Wh::from_reading_kwh(f64::INFINITY), Err(EnergyError::NotFinite));
        assert_eq!(Wh::from_reading_kwh(f64::NEG_INFINITY), Err(EnergyError::NotFinite));
        assert_eq!(Wh::from_reading_kwh(-0.001), Err(EnergyError::Negative { kwh: -0.001 }));
    }

    #[test]
    fn adding_watt_hours_reports_overflow() {
        assert_eq!(Wh::new(u64::MAX).checked_add(Wh::new(1)), None);
        assert_eq!(Wh::new(2).checked_add(Wh::new(3)), Some(Wh::new(5)));
    }

    proptest! {
        #[test]
        fn whole_watt_hours_survive_the_trip_through_kwh(wh in 0u64..=1_000_000_000) {
            let reading = Wh::from_reading_kwh(Wh::new(wh).kwh()).unwrap();
            prop_assert_eq!(reading, Wh::new(wh));
        }
    }
}
