//! Writing a channel: the seed signs, the side key hides.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};

use super::{ChannelAccess, ChannelSeed, Envelope, EnvelopeError, root_of, signed_message};
use crate::{ChannelRoot, SideKey};

/// What a writer holds: the seed (signing key) and the side key of its channel.
#[derive(Clone)]
pub struct ChannelSecrets {
    signing: SigningKey,
    public_key: [u8; 32],
    access: ChannelAccess,
}

impl ChannelSecrets {
    pub fn new(seed: &ChannelSeed, side_key: SideKey) -> Self {
        let signing = SigningKey::from_bytes(seed.bytes());
        let public_key = signing.verifying_key().to_bytes();
        let root = ChannelRoot::from_bytes(root_of(&public_key));
        Self { signing, public_key, access: ChannelAccess::new(root, side_key) }
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
        &self.public_key
    }

    /// Seals `plaintext` as message `index` with the given (fresh, random) nonce.
    /// Fails only if the envelope would exceed [`Envelope::MAX_BYTES`] or the index
    /// is beyond [`Envelope::MAX_INDEX`].
    pub fn seal(&self, index: u64, plaintext: &[u8], nonce: [u8; 12]) -> Result<Envelope, EnvelopeError> {
        let ciphertext = self.access.encrypt(index, &nonce, plaintext);
        let root = *self.access.root_raw();
        let signature = self.signing.sign(&signed_message(&root, index, &nonce, &ciphertext)).to_bytes();
        Envelope::new(root, index, self.public_key, nonce, ciphertext, signature)
    }
}

impl fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSecrets").field("root", self.root()).finish_non_exhaustive()
    }
}
