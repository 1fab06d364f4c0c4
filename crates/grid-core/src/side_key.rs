//! The shared secret that, with a channel's root, finds and decrypts its messages.

use std::fmt;

use subtle::ConstantTimeEq;

/// Why a string is not a valid side key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SideKeyError {
    #[error("side key is {len} characters long; it must be 16 to 128")]
    Length { len: usize },
    #[error("side key contains {found:?}; only A-Z, a-z and 0-9 are allowed")]
    Character { found: char },
}

/// A channel side key: 16–128 characters of `[A-Za-z0-9]` (81-tryte MAM keys fit).
///
/// A side key is a credential: `Debug` redacts it so it cannot leak into logs, and
/// comparisons run in constant time.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct SideKey(String);

impl SideKey {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 128;
    /// The accepted characters, as an anchored regular expression (lengths apart).
    pub const PATTERN: &str = "^[A-Za-z0-9]+$";

    /// Parses and validates a side key received from outside.
    pub fn parse(value: impl Into<String>) -> Result<Self, SideKeyError> {
        let value = value.into();
        if let Some(found) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(SideKeyError::Character { found });
        }
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&value.len()) {
            return Err(SideKeyError::Length { len: value.len() });
        }
        Ok(Self(value))
    }

    /// A new random side key: 64 hex characters (256 bits) from the operating system.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        Self(hex::encode(bytes))
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

impl fmt::Debug for SideKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SideKey(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for SideKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_81_tryte_mam_side_key_is_accepted() {
        let mam = "A".repeat(81);
        assert!(SideKey::parse(mam).is_ok());
    }

    #[test]
    fn side_keys_outside_16_to_128_characters_are_refused() {
        assert_eq!(SideKey::parse("a".repeat(15)), Err(SideKeyError::Length { len: 15 }));
        assert_eq!(SideKey::parse("a".repeat(129)), Err(SideKeyError::Length { len: 129 }));
        assert_eq!(SideKey::parse(""), Err(SideKeyError::Length { len: 0 }));
        assert!(SideKey::parse("a".repeat(10 * 1024)).is_err());
    }

    #[test]
    fn punctuation_and_non_ascii_are_refused_in_side_keys() {
        for hostile in ["abcdefgh-ijklmnop", "abcdefghijklmno\0", "abcdefghijklmnö", "abcdefgh ijklmnop"] {
            assert!(matches!(SideKey::parse(hostile), Err(SideKeyError::Character { .. })), "{hostile:?}");
        }
    }

    #[test]
    fn a_side_key_never_shows_in_debug_output() {
        let key = SideKey::parse("SECRETSECRETSECRET").unwrap();
        assert!(!format!("{key:?}").contains("SECRET"));
    }

    #[test]
    fn generated_side_keys_are_64_hex_characters_and_differ() {
        let (a, b) = (SideKey::generate(), SideKey::generate());
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(SideKey::parse(a.expose()).unwrap(), a);
        assert_ne!(a, b);
    }

    #[test]
    fn matching_requires_the_exact_key() {
        let key = SideKey::parse("abcdefghijklmnop").unwrap();
        assert!(key.matches("abcdefghijklmnop"));
        assert!(!key.matches("abcdefghijklmnoP"));
        assert!(!key.matches("abcdefghijklmno"));
        assert!(!key.matches(""));
    }
}
