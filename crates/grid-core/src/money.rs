//! Money as the grid counts it: whole IOTA.

use std::fmt;

/// Arithmetic on money left the range of `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount overflowed")]
    Overflow,
    #[error("amount would become negative")]
    Underflow,
}

/// An amount of IOTA. Money is never a float; intermediate products use `u128`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Iota(u64);

impl Iota {
    pub const ZERO: Iota = Iota(0);
    /// Every IOTA there is (2,779,530,283,277,761): no single payment the grid is told
    /// about, and no deposit on the development ledger, may move more.
    pub const SUPPLY: u64 = 2_779_530_283_277_761;

    pub const fn new(iota: u64) -> Self {
        Self(iota)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// Adds two amounts, refusing to wrap.
    pub fn checked_add(self, other: Iota) -> Result<Iota, MoneyError> {
        self.0.checked_add(other.0).map(Iota).ok_or(MoneyError::Overflow)
    }

    /// Subtracts, refusing to go below zero.
    pub fn checked_sub(self, other: Iota) -> Result<Iota, MoneyError> {
        self.0.checked_sub(other.0).map(Iota).ok_or(MoneyError::Underflow)
    }
}

impl fmt::Display for Iota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} IOTA", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_never_wraps() {
        assert_eq!(Iota::new(u64::MAX).checked_add(Iota::new(1)), Err(MoneyError::Overflow));
        assert_eq!(Iota::ZERO.checked_sub(Iota::new(1)), Err(MoneyError::Underflow));
        assert_eq!(Iota::new(7).checked_sub(Iota::new(7)), Ok(Iota::ZERO));
        assert_eq!(Iota::new(7).checked_add(Iota::new(8)), Ok(Iota::new(15)));
    }

    #[test]
    fn money_is_an_integer_on_the_wire() {
        assert_eq!(serde_json::to_string(&Iota::new(42)).unwrap(), "42");
        assert!(serde_json::from_str::<Iota>("4.2").is_err());
        assert!(serde_json::from_str::<Iota>("-1").is_err());
    }
}
