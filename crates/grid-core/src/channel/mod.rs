//! The channel protocol (DESIGN.md §3): MAM's restricted mode, exactly specified.
//!
//! A channel is an append-only chain of encrypted, signed messages at addresses only
//! the holders of its `root` and `sideKey` can compute. The writer holds a 32-byte
//! seed (an Ed25519 signing key); the root is the hash of its public key, so a reader
//! knows every message really comes from the channel's owner. All of it is pure
//! computation over well-kept RustCrypto/dalek crates; nothing here does I/O.
//!
//! - [`ChannelSeed`]: the writer's secret. [`ChannelSecrets`]: seed + side key, seals.
//! - [`ChannelAccess`]: root + side key: computes addresses and opens messages.
//! - [`Envelope`]: what is stored at an address; [`MessageAddress`]: where.
//! - [`UnclaimedChannels`]: how much of the node a channel nobody claimed may take.
//! - [`Command`]: the plaintext protocol between sources, producers, consumers and grid.
//!
//! The byte-level rules are pinned by the test vectors in `tests/vectors/`.

mod access;
mod address;
mod command;
mod envelope;
mod root;
mod secrets;
mod seed;
mod signatures;
mod unclaimed;

/// The most addresses one batch read or write of a channel node takes: the node's limit
/// per request, and DynamoDB's per BatchGetItem.
pub const MAX_BATCH_GET: usize = 100;

/// How far past its channel's head (one past the highest index the node holds) the
/// node takes an envelope: a device writes its indexes in order, a hundred to a
/// `batch-put` at most, so one this far ahead skipped indexes on purpose. Without a
/// bound one envelope at index 2^53−1 made a channel that could never be read to its
/// head.
pub const AHEAD_OF_HEAD: u64 = 1_000;

pub use access::ChannelAccess;
pub use address::{MessageAddress, MessageAddressError};
pub use command::{Command, CommandError, Reading};
pub use envelope::{Envelope, EnvelopeError};
pub use root::{ChannelRoot, ChannelRootError};
pub use secrets::ChannelSecrets;
pub use seed::{ChannelSeed, ChannelSeedError};
pub use unclaimed::{MAX_SOURCES_PER_PRODUCER, UnclaimedChannels, UnclaimedChannelsError};

use sha2::{Digest, Sha256};

/// Domain-separation prefixes: each hash and key has its own, so no value computed
/// for one purpose can be replayed as another.
const ROOT_DOMAIN: &[u8] = b"grid-channel/root";
const ADDRESS_DOMAIN: &[u8] = b"grid-channel/addr";
const KEY_INFO: &[u8] = b"grid-channel/key";
const SIGNATURE_DOMAIN: &[u8] = b"grid-channel/sig";

/// `SHA256("grid-channel/root" || pk)`: the raw root of a public key.
fn root_of(public_key: &[u8; 32]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(ROOT_DOMAIN);
    hash.update(public_key);
    hash.finalize().into()
}

/// `root raw || u64be(index)`: the associated data of message `index`.
fn aad(root: &[u8; 32], index: u64) -> [u8; 40] {
    let mut aad = [0u8; 40];
    aad[..32].copy_from_slice(root);
    aad[32..].copy_from_slice(&index.to_be_bytes());
    aad
}

/// `"grid-channel/sig" || root raw || u64be(n) || nonce || ciphertext`: what is signed.
fn signed_message(root: &[u8; 32], index: u64, nonce: &[u8; 12], ciphertext: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 40 + 12 + ciphertext.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(&aad(root, index));
    message.extend_from_slice(nonce);
    message.extend_from_slice(ciphertext);
    message
}

/// A fresh random 12-byte nonce from the operating system.
pub fn random_nonce() -> [u8; 12] {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("the operating system provides randomness");
    nonce
}
