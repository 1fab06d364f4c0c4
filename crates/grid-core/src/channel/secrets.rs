//! Writing a channel: the seed signs, the side key hides.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use sha2::Sha512;

use super::{ChannelAccess, ChannelSeed, Envelope, EnvelopeError, root_of, signed_message};
use crate::{ChannelRoot, SideKey};

/// What a writer holds: the seed (signing key) and the side key of its channel.
#[derive(Clone)]
pub struct ChannelSecrets {
    seed: ChannelSeed,
    public_key: VerifyingKey,
    access: ChannelAccess,
}

impl ChannelSecrets {
    pub fn new(seed: &ChannelSeed, side_key: SideKey) -> Self {
        let public_key = VerifyingKey::from(&ExpandedSecretKey::from(seed.bytes()));
        Self::with_key(seed, public_key, side_key)
    }

    /// [`new`](Self::new) with the seed's public key known already (the grid keeps
    /// its return channels' beside their seeds): decoding it costs a fraction of
    /// deriving it. A key that is not the seed's makes envelopes nobody accepts.
    pub fn with_public_key(seed: &ChannelSeed, public_key: [u8; 32], side_key: SideKey) -> Self {
        match VerifyingKey::from_bytes(&public_key) {
            Ok(key) => Self::with_key(seed, key, side_key),
            Err(_) => Self::new(seed, side_key),
        }
    }

    fn with_key(seed: &ChannelSeed, public_key: VerifyingKey, side_key: SideKey) -> Self {
        let root = ChannelRoot::from_bytes(root_of(public_key.as_bytes()));
        Self { seed: seed.clone(), public_key, access: ChannelAccess::new(root, side_key) }
    }

    /// `hex(SHA256("grid-channel/root" || pk))`.
    pub fn root(&self) -> &ChannelRoot {
        self.access.root()
    }

    /// The reader's view of this channel (what the owner hands out as root + side key).
    pub fn access(&self) -> &ChannelAccess {
        &self.access
    }

    pub fn public_key(&self) -> &[u8; 32] {
        self.public_key.as_bytes()
    }

    /// Seals `plaintext` as message `index` with the given (fresh, random) nonce.
    /// Fails only if the envelope would exceed [`Envelope::MAX_BYTES`] or the index
    /// is beyond [`Envelope::MAX_INDEX`].
    pub fn seal(&self, index: u64, plaintext: &[u8], nonce: [u8; 12]) -> Result<Envelope, EnvelopeError> {
        let ciphertext = self.access.encrypt(index, &nonce, plaintext);
        let root = *self.access.root_raw();
        // Ed25519 as `SigningKey::sign` computes it, with the public key already at hand.
        let expanded = ExpandedSecretKey::from(self.seed.bytes());
        let message = signed_message(&root, index, &nonce, &ciphertext);
        let signature = raw_sign::<Sha512>(&expanded, &message, &self.public_key).to_bytes();
        Envelope::new(root, index, *self.public_key.as_bytes(), nonce, ciphertext, signature)
    }
}

impl fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSecrets").field("root", self.root()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::ChannelSecrets;
    use crate::SideKey;
    use crate::channel::{ChannelSeed, Command};

    fn side_key() -> SideKey {
        SideKey::parse("SecretsTestSideKey01").unwrap()
    }

    #[test]
    fn with_its_stored_public_key_a_seed_seals_the_very_envelope_it_seals_alone() {
        let seed = ChannelSeed::from_bytes([42; 32]);
        let derived = ChannelSecrets::new(&seed, side_key());
        let stored = ChannelSecrets::with_public_key(&seed, *derived.public_key(), side_key());
        let plaintext = Command::Hello.to_json();
        let sealed = |s: &ChannelSecrets| s.seal(3, plaintext.as_bytes(), [7; 12]).unwrap();
        assert_eq!(sealed(&stored), sealed(&derived));
        assert!(sealed(&stored).verify_binding().is_ok());
        // Ed25519 as the reference implementation signs it.
        let signing = SigningKey::from_bytes(&[42; 32]);
        assert_eq!(derived.public_key(), signing.verifying_key().as_bytes());
        let envelope = sealed(&derived);
        let message = super::signed_message(envelope.root_raw(), 3, &[7; 12], envelope.ciphertext());
        assert!(envelope.to_json().contains(&hex::encode(signing.sign(&message).to_bytes())));
    }

    #[test]
    fn with_another_seeds_public_key_it_seals_envelopes_that_nobody_accepts() {
        let other = *ChannelSecrets::new(&ChannelSeed::from_bytes([1; 32]), side_key()).public_key();
        let wrong = ChannelSecrets::with_public_key(&ChannelSeed::from_bytes([42; 32]), other, side_key());
        let envelope = wrong.seal(0, Command::Hello.to_json().as_bytes(), [7; 12]).unwrap();
        assert!(envelope.verify_binding().is_err());
    }
}
