//! The grid's wallet: the name every settlement's payment address is made from
//! (DESIGN.md §6: a new address per settlement, so a payment names the period it pays).

use crate::market::{PeriodLength, PeriodStart};
use crate::{IdError, PaymentAddress};

/// The grid's wallet (`GRID_WALLET`): the `n`-th period since the epoch is billed at
/// `{wallet}-{n}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridWallet {
    name: String,
    period: PeriodLength,
}

impl GridWallet {
    /// A wallet named `name` for periods of `period`; refused if a payment address
    /// cannot be made from the name (too long, characters an address cannot hold).
    pub fn parse(name: impl Into<String>, period: PeriodLength) -> Result<Self, IdError> {
        let name = name.into();
        // The longest suffix a period can give: its index at the latest time the grid holds.
        PaymentAddress::parse(format!("{name}-{}", crate::EpochMs::MAX / period.ms()))?;
        PaymentAddress::parse(format!("{name}-0"))?;
        Ok(Self { name, period })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The grid's payment address for `period`.
    pub fn payment_address(&self, period: PeriodStart) -> PaymentAddress {
        let index = period.get() / self.period.ms();
        PaymentAddress::parse(format!("{}-{index}", self.name)).expect("checked when the wallet was parsed")
    }

    /// The period whose payment address `address` is, if it is one of the grid's: exactly
    /// as [`payment_address`](Self::payment_address) writes it (no leading zeros, no
    /// sign). Whether it was issued is the settlement's record to say.
    pub fn address_period(&self, address: &PaymentAddress) -> Option<PeriodStart> {
        let digits = address.as_str().strip_prefix(&self.name)?.strip_prefix('-')?;
        let index: u64 = digits.parse().ok()?;
        let start = PeriodStart::parse(index.checked_mul(self.period.ms())?).ok()?;
        (self.payment_address(start) == *address).then_some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet(name: &str) -> GridWallet {
        GridWallet::parse(name, PeriodLength::from_secs(900).unwrap()).unwrap()
    }

    #[test]
    fn each_period_has_its_own_address_and_each_address_names_its_period() {
        let wallet = wallet("grid");
        let start = PeriodStart::parse(29_938_052 * 900_000).unwrap();
        let address = wallet.payment_address(start);
        assert_eq!(address.as_str(), "grid-29938052");
        assert_eq!(wallet.address_period(&address), Some(start));
    }

    #[test]
    fn an_address_spelled_otherwise_is_not_the_grids() {
        let wallet = wallet("grid");
        for foreign in ["grid-029938052", "grid29938052", "grid-", "other-1", "grid-1x", "grid-99999999999999999999"] {
            assert_eq!(wallet.address_period(&PaymentAddress::parse(foreign).unwrap()), None, "{foreign}");
        }
    }

    #[test]
    fn a_name_no_address_can_be_made_from_is_refused() {
        let period = PeriodLength::from_secs(900).unwrap();
        assert!(GridWallet::parse("has space", period).is_err());
        assert!(GridWallet::parse("w".repeat(120), period).is_err());
        assert!(GridWallet::parse("w".repeat(100), period).is_ok());
    }
}
