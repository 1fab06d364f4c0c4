//! Where a message is stored on the channel node.

use std::fmt;

/// Why a string is not a message address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message address must be 64 lowercase hex characters")]
pub struct MessageAddressError;

/// `hex(SHA256("grid-channel/addr" || root raw || u64be(n) || sideKey))`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct MessageAddress(String);

impl MessageAddress {
    /// An address is a SHA-256 hash in hex.
    pub const LEN: usize = 64;
    /// The accepted characters, as an anchored regular expression (the length apart).
    pub const PATTERN: &str = crate::LOWER_HEX_PATTERN;

    /// Parses an address received from outside (64 lowercase hex characters).
    pub fn parse(value: impl Into<String>) -> Result<Self, MessageAddressError> {
        let value = value.into();
        if value.len() != Self::LEN || !value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(MessageAddressError);
        }
        Ok(Self(value))
    }

    pub(crate) fn from_hash(hash: [u8; 32]) -> Self {
        Self(hex::encode(hash))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for MessageAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_characters_make_an_address() {
        assert!(MessageAddress::parse("ab".repeat(32)).is_ok());
        for bad in ["", "ab", &"AB".repeat(32), &"zz".repeat(32), &"a".repeat(65), "../../etc/passwd"] {
            assert_eq!(MessageAddress::parse(bad), Err(MessageAddressError), "{bad:?}");
        }
    }
}
