//! The key that spends from a ledger account on the development ledger.
//!
//! A transfer out of an account needs its key (`X-Account-Key`). A device derives its
//! key from its channel seed, so it holds it without storing another secret; the grid's
//! key is configured (`LEDGER_KEY`) and owns its wallet and every per-period address.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::channel::ChannelSeed;

/// Why a string is not an account key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an account key is 16 to 128 characters of A-Z, a-z and 0-9")]
pub struct AccountKeyError;

/// An account key: 16–128 characters of `[A-Za-z0-9]`. A credential: `Debug` redacts it
/// and comparisons run in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey(String);

impl AccountKey {
    /// The header that carries it.
    pub const HEADER: &'static str = "x-account-key";

    pub fn parse(value: impl Into<String>) -> Result<Self, AccountKeyError> {
        let value = value.into();
        let valid = (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid { Ok(Self(value)) } else { Err(AccountKeyError) }
    }

    /// A new random key: 64 hex characters from the operating system.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        Self(hex::encode(bytes))
    }

    /// The key a device with `seed` spends with: HKDF-SHA256 of the seed, under a label
    /// of its own (the storage sealing key has another).
    pub fn derive(seed: &ChannelSeed) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, seed.bytes())
            .expand(b"grid-device/ledger-account/v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self(hex::encode(key))
    }

    /// The key itself. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented key in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_alphanumeric_derived_per_seed_and_never_shown_in_debug() {
        assert!(AccountKey::parse("0123456789abcdefXYZ").is_ok());
        for bad in ["short", "with spaces in the key!", &"x".repeat(129), ""] {
            assert_eq!(AccountKey::parse(bad), Err(AccountKeyError), "{bad:?}");
        }
        let (a, b) = (ChannelSeed::generate(), ChannelSeed::generate());
        assert_eq!(AccountKey::derive(&a), AccountKey::derive(&a));
        assert_ne!(AccountKey::derive(&a), AccountKey::derive(&b));
        assert_eq!(AccountKey::derive(&a).expose().len(), 64);
        let key = AccountKey::parse("ASecretAccountKey0001").unwrap();
        assert!(!format!("{key:?}").contains("Secret") && key.matches("ASecretAccountKey0001"));
    }
}
