//! The envelope: one sealed message as stored at its address.
//!
//! `{"v":1,"root":hex,"index":n,"publicKey":hex,"nonce":hex,"ciphertext":base64,"signature":hex}`
//! Parsing is strict: exactly these fields, lowercase hex of the right length,
//! canonical padded base64, at most 16 KiB. Serialising always gives that exact
//! field order and no whitespace, so an envelope has one canonical text.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};

use super::{root_of, signatures, signed_message};
use crate::ChannelRoot;

/// Why an envelope is malformed, or is not a valid message of a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is {len} bytes; at most {max} are allowed", max = Envelope::MAX_BYTES)]
    TooLarge { len: usize },
    #[error("envelope is not valid: {0}")]
    Json(String),
    #[error("envelope version {0} is not supported; only 1 is")]
    Version(u64),
    #[error("envelope field {field} must be {rule}")]
    Field { field: &'static str, rule: &'static str },
    #[error("envelope index is beyond {max}", max = Envelope::MAX_INDEX)]
    IndexTooLarge,
    #[error("envelope root is not the hash of its publicKey")]
    RootMismatch,
    #[error("envelope publicKey is not a valid Ed25519 key")]
    BadPublicKey,
    #[error("envelope signature does not verify")]
    BadSignature,
    #[error("envelope belongs to another channel")]
    WrongChannel,
    #[error("envelope says index {found} where index {expected} was read")]
    WrongIndex { expected: u64, found: u64 },
    #[error("envelope does not decrypt with this channel's side key")]
    Decrypt,
}

/// A sealed channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    root: [u8; 32],
    index: u64,
    public_key: [u8; 32],
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
    signature: [u8; 64],
}

/// The JSON shape, before its fields are decoded. The text fields borrow from the input
/// (they hold no escapes in a valid envelope): every message read or attached is parsed.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire<'a> {
    v: u64,
    #[serde(borrow)]
    root: Cow<'a, str>,
    index: u64,
    #[serde(borrow)]
    public_key: Cow<'a, str>,
    #[serde(borrow)]
    nonce: Cow<'a, str>,
    #[serde(borrow)]
    ciphertext: Cow<'a, str>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
}

impl Envelope {
    /// The largest envelope the protocol allows, in bytes of JSON.
    pub const MAX_BYTES: usize = 16 * 1024;
    /// Indexes stay exact in every JSON implementation (2^53 − 1).
    pub const MAX_INDEX: u64 = (1 << 53) - 1;
    /// Poly1305's tag: the smallest possible ciphertext.
    const TAG_LEN: usize = 16;
    /// The only version there is (`v`).
    pub const VERSION: u64 = 1;
    /// Hex characters of `root` and `publicKey` (32 bytes each).
    pub const KEY_HEX_LEN: usize = 2 * 32;
    /// Hex characters of `nonce` (12 bytes).
    pub const NONCE_HEX_LEN: usize = 2 * 12;
    /// Hex characters of `signature` (64 bytes).
    pub const SIGNATURE_HEX_LEN: usize = 2 * 64;
    /// The spelling of the hex fields, as an anchored regular expression (lengths apart).
    pub const HEX_PATTERN: &str = crate::LOWER_HEX_PATTERN;
    /// `ciphertext` as an anchored regular expression (ECMA-262): standard base64, padded,
    /// in its one canonical spelling (the unused low bits of the last symbol are zero, or
    /// the decoder refuses it).
    pub const CIPHERTEXT_PATTERN: &str =
        "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)?$";
    /// The shortest `ciphertext`: the 16-byte tag alone takes 24 base64 characters, and no
    /// shorter padded text decodes to 16 bytes.
    pub const MIN_CIPHERTEXT_CHARS: usize = Self::TAG_LEN.div_ceil(3) * 4;

    pub(super) fn new(
        root: [u8; 32],
        index: u64,
        public_key: [u8; 32],
        nonce: [u8; 12],
        ciphertext: Vec<u8>,
        signature: [u8; 64],
    ) -> Result<Self, EnvelopeError> {
        if index > Self::MAX_INDEX {
            return Err(EnvelopeError::IndexTooLarge);
        }
        let envelope = Self { root, index, public_key, nonce, ciphertext, signature };
        let len = envelope.to_json().len();
        if len > Self::MAX_BYTES {
            return Err(EnvelopeError::TooLarge { len });
        }
        Ok(envelope)
    }

    /// Parses an envelope's JSON, checking its shape (not yet its signature).
    pub fn parse(json: &[u8]) -> Result<Self, EnvelopeError> {
        if json.len() > Self::MAX_BYTES {
            return Err(EnvelopeError::TooLarge { len: json.len() });
        }
        let wire: Wire = serde_json::from_slice(json).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        if wire.v != Self::VERSION {
            return Err(EnvelopeError::Version(wire.v));
        }
        if wire.index > Self::MAX_INDEX {
            return Err(EnvelopeError::IndexTooLarge);
        }
        let ciphertext =
            BASE64.decode(wire.ciphertext.as_bytes()).ok().filter(|c| c.len() >= Self::TAG_LEN).ok_or(
                EnvelopeError::Field { field: "ciphertext", rule: "standard padded base64 of at least 16 bytes" },
            )?;
        Ok(Self {
            root: hex_field(&wire.root, "root", "64 lowercase hex characters")?,
            index: wire.index,
            public_key: hex_field(&wire.public_key, "publicKey", "64 lowercase hex characters")?,
            nonce: hex_field(&wire.nonce, "nonce", "24 lowercase hex characters")?,
            ciphertext,
            signature: hex_field(&wire.signature, "signature", "128 lowercase hex characters")?,
        })
    }

    /// The canonical JSON text.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"v":1,"root":"{}","index":{},"publicKey":"{}","nonce":"{}","ciphertext":"{}","signature":"{}"}}"#,
            hex::encode(self.root),
            self.index,
            hex::encode(self.public_key),
            hex::encode(self.nonce),
            BASE64.encode(&self.ciphertext),
            hex::encode(self.signature),
        )
    }

    /// What the channel node can check without the side key: the root is the hash
    /// of the public key, and the signature over the message verifies (strictly:
    /// no malleable signatures, no small-order keys).
    pub fn verify_binding(&self) -> Result<(), EnvelopeError> {
        self.verify_signature(&self.bound_key()?)
    }

    /// The key the envelope carries, once it is checked to be the one its root names.
    pub(super) fn bound_key(&self) -> Result<VerifyingKey, EnvelopeError> {
        if root_of(&self.public_key) != self.root {
            return Err(EnvelopeError::RootMismatch);
        }
        VerifyingKey::from_bytes(&self.public_key).map_err(|_| EnvelopeError::BadPublicKey)
    }

    /// Verifies the signature with `key`, which the caller has bound to this envelope.
    pub(super) fn verify_signature(&self, key: &VerifyingKey) -> Result<(), EnvelopeError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(&self.root, self.index, &self.nonce, &self.ciphertext), &signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }

    /// [`verify_binding`](Self::verify_binding) for many envelopes at once (the node's
    /// batch attach): one outcome each, in order, verified as one batch when they can be.
    pub fn verify_bindings<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Vec<Result<(), EnvelopeError>> {
        let envelopes: Vec<&Envelope> = envelopes.into_iter().collect();
        // A batch often holds many messages of one channel: bind each root and key once.
        let mut keys: HashMap<([u8; 32], [u8; 32]), Result<VerifyingKey, EnvelopeError>> = HashMap::new();
        let bound: Vec<Result<VerifyingKey, EnvelopeError>> = envelopes
            .iter()
            .map(|e| keys.entry((e.root, e.public_key)).or_insert_with(|| e.bound_key()).clone())
            .collect();
        verify_signatures(&envelopes, bound)
    }

    pub(super) fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    /// The root the envelope claims to belong to.
    pub fn root(&self) -> ChannelRoot {
        ChannelRoot::from_bytes(self.root)
    }

    pub(super) fn root_raw(&self) -> &[u8; 32] {
        &self.root
    }

    pub(super) fn nonce(&self) -> &[u8; 12] {
        &self.nonce
    }

    pub(super) fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

/// Decodes a fixed-length lowercase hex field.
fn hex_field<const N: usize>(value: &str, field: &'static str, rule: &'static str) -> Result<[u8; N], EnvelopeError> {
    let error = EnvelopeError::Field { field, rule };
    if value.len() != 2 * N || !value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(error);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(value, &mut out).map_err(|_| error)?;
    Ok(out)
}

/// Verifies each envelope's signature with the key its caller bound to it (or keeps the
/// error binding gave); one outcome each, in order. The signatures of the bound ones are
/// checked as one batch ([`signatures`]: one multiscalar multiplication, two to three times
/// the throughput of checking them one by one). If the batch
/// fails, each is checked on its own (`verify_strict`) to find which, so a bad signature
/// costs its batch a second pass and never hides among good ones. Weak (small-order) keys
/// never go into a batch: strict verification refuses them, and so does this.
pub(super) fn verify_signatures(
    envelopes: &[&Envelope],
    bound: Vec<Result<VerifyingKey, EnvelopeError>>,
) -> Vec<Result<(), EnvelopeError>> {
    let items: Vec<(&Envelope, VerifyingKey)> =
        envelopes.iter().zip(&bound).filter_map(|(e, key)| Some((*e, *key.as_ref().ok()?))).collect();
    let mut verified = batch_or_one_by_one(&items).into_iter();
    bound.into_iter().map(|key| key.and_then(|_| verified.next().expect("one outcome per bound key"))).collect()
}

fn batch_or_one_by_one(items: &[(&Envelope, VerifyingKey)]) -> Vec<Result<(), EnvelopeError>> {
    if items.len() > 1 && items.iter().all(|(_, key)| !key.is_weak()) {
        let messages: Vec<Vec<u8>> =
            items.iter().map(|(e, _)| signed_message(&e.root, e.index, &e.nonce, &e.ciphertext)).collect();
        let signed: Vec<signatures::Signed<'_>> =
            items.iter().zip(&messages).map(|((e, key), message)| (key, message.as_slice(), &e.signature)).collect();
        if signatures::all_verify(&signed) {
            return vec![Ok(()); items.len()];
        }
    }
    items.iter().map(|(e, key)| e.verify_signature(key)).collect()
}
