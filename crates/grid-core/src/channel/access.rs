//! Reading a channel: root + side key find its messages and open them.

use std::fmt;
use std::sync::OnceLock;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::VerifyingKey;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::envelope::verify_signatures;
use super::{ADDRESS_DOMAIN, Envelope, EnvelopeError, KEY_INFO, MessageAddress, aad};
use crate::{ChannelRoot, SideKey};

/// What a reader holds: a channel's root and side key, and the message key they give.
#[derive(Clone)]
pub struct ChannelAccess {
    root: ChannelRoot,
    root_raw: [u8; 32],
    side_key: SideKey,
    cipher: ChaCha20Poly1305,
    /// The channel's verifying key, once a message proved it (its hash is the root, so
    /// only one key can ever bind): later messages skip the hash and the point
    /// decompression, the costly half of a verification after the signature check.
    known_key: OnceLock<([u8; 32], VerifyingKey)>,
}

/// Two accesses are the same channel when root and side key match (the key follows).
impl PartialEq for ChannelAccess {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root && self.side_key == other.side_key
    }
}

impl Eq for ChannelAccess {}

impl ChannelAccess {
    /// Derives the message key: `HKDF-SHA256(ikm = sideKey, salt = root raw, info = "grid-channel/key")`.
    pub fn new(root: ChannelRoot, side_key: SideKey) -> Self {
        let root_raw = root.to_bytes();
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&root_raw), side_key.expose().as_bytes())
            .expand(KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let cipher = ChaCha20Poly1305::new(&Key::from(key));
        Self { root, root_raw, side_key, cipher, known_key: OnceLock::new() }
    }

    pub fn root(&self) -> &ChannelRoot {
        &self.root
    }

    pub fn side_key(&self) -> &SideKey {
        &self.side_key
    }

    /// The address of message `index`.
    pub fn address(&self, index: u64) -> MessageAddress {
        let mut hash = Sha256::new();
        hash.update(ADDRESS_DOMAIN);
        hash.update(self.root_raw);
        hash.update(index.to_be_bytes());
        hash.update(self.side_key.expose().as_bytes());
        MessageAddress::from_hash(hash.finalize().into())
    }

    /// Opens message `index`, checking in the order of DESIGN.md §3: the envelope is
    /// for this channel, its root is its public key's, the index is `index`, the
    /// signature verifies, and the ciphertext decrypts. Returns the plaintext.
    pub fn open(&self, index: u64, envelope: &Envelope) -> Result<Vec<u8>, EnvelopeError> {
        self.open_many(index, std::slice::from_ref(envelope)).pop().expect("one outcome per envelope")
    }

    /// Opens consecutive messages `first`, `first + 1`, … with the checks of
    /// [`open`](Self::open), one outcome each, in order; their signatures are verified
    /// as one batch.
    pub fn open_many(&self, first: u64, envelopes: &[Envelope]) -> Vec<Result<Vec<u8>, EnvelopeError>> {
        let bound: Vec<Result<VerifyingKey, EnvelopeError>> =
            envelopes.iter().zip(first..).map(|(envelope, index)| self.bind(index, envelope)).collect();
        let envelopes: Vec<&Envelope> = envelopes.iter().collect();
        let verified = verify_signatures(&envelopes, bound);
        envelopes
            .into_iter()
            .zip(first..)
            .zip(verified)
            .map(|((envelope, index), verified)| {
                verified?;
                self.cipher
                    .decrypt(
                        &Nonce::from(*envelope.nonce()),
                        Payload { msg: envelope.ciphertext(), aad: &aad(&self.root_raw, index) },
                    )
                    .map_err(|_| EnvelopeError::Decrypt)
            })
            .collect()
    }

    /// The checks before the signature: this channel, index `index`, and the key its
    /// root names.
    fn bind(&self, index: u64, envelope: &Envelope) -> Result<VerifyingKey, EnvelopeError> {
        if envelope.root_raw() != &self.root_raw {
            return Err(EnvelopeError::WrongChannel);
        }
        if envelope.index() != index {
            return Err(EnvelopeError::WrongIndex { expected: index, found: envelope.index() });
        }
        match self.known_key.get() {
            Some((bytes, key)) if bytes == envelope.public_key() => Ok(*key),
            _ => {
                let key = envelope.bound_key()?;
                let _ = self.known_key.set((*envelope.public_key(), key));
                Ok(key)
            }
        }
    }

    /// Encrypts the plaintext of message `index` (for [`super::ChannelSecrets::seal`]).
    pub(super) fn encrypt(&self, index: u64, nonce: &[u8; 12], plaintext: &[u8]) -> Vec<u8> {
        self.cipher
            .encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad: &aad(&self.root_raw, index) })
            .expect("ChaCha20-Poly1305 encrypts any message below 256 GiB")
    }

    pub(super) fn root_raw(&self) -> &[u8; 32] {
        &self.root_raw
    }
}

impl fmt::Debug for ChannelAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelAccess").field("root", &self.root).finish_non_exhaustive()
    }
}
