//! Prices as the grid counts them: whole IOTA per kWh, bounded.

use std::fmt;

use crate::Wh;

/// Why a price is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("a price of {0} IOTA/kWh is above the limit of {max} IOTA/kWh", max = Price::MAX)]
    TooHigh(u64),
    #[error("{energy} at {price} IOTA/kWh is worth more than the grid can count (Wh × price above 2^64 − 1)")]
    Worth { energy: Wh, price: u64 },
}

/// A price in whole IOTA per kWh: a producer's ask, the period's price, the cap.
///
/// Bounded by [`Price::MAX`] (10^12 IOTA/kWh, ten million times any tariff seen), so a
/// price times any energy the grid counts fits 128 bits with room to spare, and every
/// store keeps it exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Price(u64);

impl Price {
    /// The highest price the grid accepts anywhere.
    pub const MAX: u64 = 1_000_000_000_000;
    pub const ZERO: Price = Price(0);

    /// Checks a price received from outside (a reading, the configuration, a store).
    pub fn parse(iota_per_kwh: u64) -> Result<Self, PriceError> {
        if iota_per_kwh > Self::MAX {
            return Err(PriceError::TooHigh(iota_per_kwh));
        }
        Ok(Self(iota_per_kwh))
    }

    /// Checks that `energy` offered at this price has a worth (`Wh × price`, in
    /// milli-IOTA) that fits 64 bits: the bound on one reading.
    pub fn check_worth(self, energy: Wh) -> Result<(), PriceError> {
        match energy.get().checked_mul(self.0) {
            Some(_) => Ok(()),
            None => Err(PriceError::Worth { energy, price: self.0 }),
        }
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} IOTA/kWh", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Price {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Price::parse(u64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_up_to_a_trillion_iota_per_kwh_are_accepted_and_no_more() {
        assert_eq!(Price::parse(Price::MAX).unwrap().get(), 1_000_000_000_000);
        assert_eq!(Price::parse(0).unwrap(), Price::ZERO);
        assert_eq!(Price::parse(Price::MAX + 1), Err(PriceError::TooHigh(Price::MAX + 1)));
        assert_eq!(Price::parse(u64::MAX), Err(PriceError::TooHigh(u64::MAX)));
        assert!(serde_json::from_str::<Price>("18446744073709551615").is_err());
        assert_eq!(serde_json::from_str::<Price>("110").unwrap(), Price::parse(110).unwrap());
    }

    #[test]
    fn a_reading_worth_more_than_64_bits_is_refused() {
        let max = Price::parse(Price::MAX).unwrap();
        assert!(max.check_worth(Wh::new(18_446_744)).is_ok());
        assert_eq!(
            max.check_worth(Wh::new(18_446_745)),
            Err(PriceError::Worth { energy: Wh::new(18_446_745), price: Price::MAX })
        );
        assert!(Price::parse(1).unwrap().check_worth(Wh::new(u64::MAX)).is_ok());
    }
}
