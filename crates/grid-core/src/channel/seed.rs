//! The channel writer's secret.

use std::fmt;

/// Why a stored seed cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a channel seed must be 64 lowercase hex characters")]
pub struct ChannelSeedError;

/// 32 secret bytes: the Ed25519 signing key of a channel.
///
/// Whoever holds the seed can write the channel, so `Debug` redacts it and it is
/// only ever exposed as hex for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSeed([u8; 32]);

impl ChannelSeed {
    /// A new random seed from the operating system.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system provides randomness");
        Self(seed)
    }

    /// A seed with known bytes (test vectors, stored seeds).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the stored form, 64 lowercase hex characters.
    pub fn from_hex(hex_seed: &str) -> Result<Self, ChannelSeedError> {
        if hex_seed.len() != 64 || !hex_seed.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ChannelSeedError);
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(hex_seed, &mut seed).map_err(|_| ChannelSeedError)?;
        Ok(Self(seed))
    }

    /// The stored form. Callers must not log it.
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ChannelSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSeed(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_round_trips_through_hex_and_never_shows_in_debug() {
        let seed = ChannelSeed::generate();
        assert_eq!(ChannelSeed::from_hex(&seed.expose_hex()).unwrap(), seed);
        assert_eq!(format!("{seed:?}"), "ChannelSeed(<redacted>)");
    }

    #[test]
    fn two_generated_seeds_differ() {
        assert_ne!(ChannelSeed::generate(), ChannelSeed::generate());
    }

    #[test]
    fn malformed_stored_seeds_are_refused() {
        for bad in ["", "00", &"A".repeat(64), &"0".repeat(63), &"g".repeat(64)] {
            assert_eq!(ChannelSeed::from_hex(bad), Err(ChannelSeedError), "{bad:?}");
        }
    }
}
