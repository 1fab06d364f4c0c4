//! The public address of a channel: where its message chain starts.

/// Why a string is not a valid channel root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelRootError {
    #[error("channel root is {len} characters long; it must be 64 lowercase hex characters")]
    Length { len: usize },
    #[error("channel root contains {found:?}; it must be 64 lowercase hex characters")]
    Character { found: char },
}

/// A channel root: `hex(SHA256("grid-channel/root" || pk))`, 64 lowercase hex characters.
///
/// Only the lowercase form is accepted so that one channel has exactly one spelling
/// in storage keys and comparisons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ChannelRoot(String);

impl ChannelRoot {
    pub const LEN: usize = 64;
    /// The accepted characters, as an anchored regular expression (the length apart).
    pub const PATTERN: &str = crate::LOWER_HEX_PATTERN;

    /// Parses and validates a root received from outside.
    pub fn parse(value: impl Into<String>) -> Result<Self, ChannelRootError> {
        let value = value.into();
        if let Some(found) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(ChannelRootError::Character { found });
        }
        if value.len() != Self::LEN {
            return Err(ChannelRootError::Length { len: value.len() });
        }
        Ok(Self(value))
    }

    /// The root as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32 raw bytes the hex spells.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(&self.0, &mut raw).expect("a parsed root is 64 hex characters");
        raw
    }

    /// The root of 32 raw bytes.
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        Self(hex::encode(raw))
    }
}

impl std::fmt::Display for ChannelRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ChannelRoot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_character_lowercase_hex_root_is_accepted() {
        let root = "0123456789abcdef".repeat(4);
        assert_eq!(ChannelRoot::parse(root.clone()).unwrap().as_str(), root);
    }

    #[test]
    fn uppercase_hex_is_refused_so_a_root_has_one_spelling() {
        let root = "0123456789ABCDEF".repeat(4);
        assert_eq!(ChannelRoot::parse(root), Err(ChannelRootError::Character { found: 'A' }));
    }

    #[test]
    fn roots_of_the_wrong_length_are_refused() {
        assert_eq!(ChannelRoot::parse("ab"), Err(ChannelRootError::Length { len: 2 }));
        assert_eq!(ChannelRoot::parse(""), Err(ChannelRootError::Length { len: 0 }));
        assert!(ChannelRoot::parse("a".repeat(10 * 1024)).is_err());
    }

    #[test]
    fn a_tryte_root_from_the_old_mam_network_is_refused() {
        assert!(matches!(ChannelRoot::parse("9".repeat(81)), Err(ChannelRootError::Length { len: 81 })));
        assert!(matches!(ChannelRoot::parse("Z".repeat(64)), Err(ChannelRootError::Character { found: 'Z' })));
    }
}
