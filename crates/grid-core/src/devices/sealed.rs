//! Items a device keeps in the grid's storage that only it can read.
//!
//! Storage reads are open to everyone, as the seed has them ("any entity storing items in
//! the grid that wants them to be private should encrypt them before storing"). A device
//! that keeps secrets there (a producer, its sources' side keys) seals them with
//! ChaCha20-Poly1305 under a key derived from its own channel seed:
//! `HKDF-SHA256(ikm = seed, info = "grid-device/storage/v1")`. The item's place
//! (`registration/context/id`) is the associated data, so a sealed item moved to another
//! place does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::channel::ChannelSeed;

const KEY_INFO: &[u8] = b"grid-device/storage/v1";

/// Why a stored item does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the item is not a sealed item (v 1, nonce, ciphertext)")]
    Shape,
    #[error("the item does not open with this device's key at this place")]
    Open,
}

/// What is stored: `{"v":1,"nonce":base64(12 bytes),"ciphertext":base64}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedItem {
    v: u8,
    nonce: String,
    ciphertext: String,
}

/// A device's key for its own storage items.
#[derive(Clone)]
pub struct ItemSealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for ItemSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemSealer(<redacted>)")
    }
}

impl ItemSealer {
    /// The key of the device whose channel seed is `seed`.
    pub fn new(seed: &ChannelSeed) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, seed.bytes())
            .expand(KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self { cipher: ChaCha20Poly1305::new(&Key::from(key)) }
    }

    /// Seals `plaintext` for the item at `place` (`registration/context/id`), with a
    /// fresh random nonce.
    pub fn seal(&self, place: &str, plaintext: &[u8]) -> SealedItem {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: place.as_bytes() })
            .expect("ChaCha20-Poly1305 encrypts any message that fits in memory");
        SealedItem { v: 1, nonce: BASE64.encode(nonce), ciphertext: BASE64.encode(ciphertext) }
    }

    /// Opens the item stored at `place`.
    pub fn open(&self, place: &str, item: &SealedItem) -> Result<Vec<u8>, SealError> {
        if item.v != 1 {
            return Err(SealError::Shape);
        }
        let nonce: [u8; 12] =
            BASE64.decode(&item.nonce).ok().and_then(|n| n.try_into().ok()).ok_or(SealError::Shape)?;
        let ciphertext = BASE64.decode(&item.ciphertext).map_err(|_| SealError::Shape)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad: place.as_bytes() })
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> ItemSealer {
        ItemSealer::new(&ChannelSeed::from_bytes([byte; 32]))
    }

    #[test]
    fn a_sealed_item_opens_with_its_devices_key_at_its_place_only() {
        let item = sealer(1).seal("producer-0001/sources/source-a", b"side key");
        assert_eq!(sealer(1).open("producer-0001/sources/source-a", &item).unwrap(), b"side key");
        assert_eq!(sealer(2).open("producer-0001/sources/source-a", &item), Err(SealError::Open));
        assert_eq!(sealer(1).open("producer-0001/sources/source-b", &item), Err(SealError::Open));
    }

    #[test]
    fn the_stored_form_shows_nothing_of_the_plaintext_and_differs_every_time() {
        let (a, b) =
            (sealer(1).seal("p/c/i", b"SideKeyOfTheSource01"), sealer(1).seal("p/c/i", b"SideKeyOfTheSource01"));
        assert_ne!(a, b);
        let text = serde_json::to_string(&a).unwrap();
        assert!(!text.contains("SideKey"), "{text}");
        let back: SealedItem = serde_json::from_str(&text).unwrap();
        assert_eq!(sealer(1).open("p/c/i", &back).unwrap(), b"SideKeyOfTheSource01");
    }

    #[test]
    fn a_tampered_or_misshapen_item_does_not_open() {
        let mut item = sealer(1).seal("p/c/i", b"x");
        item.ciphertext = BASE64.encode(b"not the ciphertext at all");
        assert_eq!(sealer(1).open("p/c/i", &item), Err(SealError::Open));
        item.nonce = "short".to_owned();
        assert_eq!(sealer(1).open("p/c/i", &item), Err(SealError::Shape));
        assert!(serde_json::from_str::<SealedItem>(r#"{"v":1,"nonce":"a","ciphertext":"b","extra":1}"#).is_err());
    }
}
