//! Checking many channel signatures at once.
//!
//! Each Ed25519 signature `(R, s)` of message `M` under key `A` satisfies
//! `[s]B = R + [k]A` with `k = SHA-512(R || A || M)`. A batch checks one random
//! combination of those equations, `[-Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ = 0`, with one
//! multiscalar multiplication: if every signature is valid it holds; if any is not, it
//! holds with probability 2⁻¹²⁸ (the weights `zᵢ` are fresh random 128-bit numbers the
//! sender cannot know). This is ed25519-dalek's `verify_batch` with two changes that
//! matter for channels, whose batches are mostly one key: signatures of the same key
//! share its term (a window of n messages of one channel costs n + 2 points instead of
//! 2n + 1), and the weights come straight from the operating system instead of a
//! transcript hash of the whole batch.
//!
//! A batch only ever answers "all valid". Anything it cannot judge the way strict
//! verification would (a non-canonical `s`, an `R` that is not a point or has small
//! order) makes it answer "not all", and the caller then checks each signature on its
//! own with `verify_strict`, which decides. Keys are the caller's, already bound to
//! their envelopes and never weak. Where it still differs from strict verification — an
//! `R` with a small-order component or in a non-canonical encoding, which only the key's
//! owner can sign with — is written down in docs/decisions.md (Channels).

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

/// One signature to check: its key, the signed message and the 64 signature bytes.
pub(super) type Signed<'a> = (&'a VerifyingKey, &'a [u8], &'a [u8; 64]);

/// Whether every signature of `items` verifies; `false` means at least one does not,
/// or one cannot be judged in a batch.
pub(super) fn all_verify(items: &[Signed<'_>]) -> bool {
    let Some(weights) = random_weights(items.len()) else { return false };
    // Term 0 is the base point's; each key's term follows its first signature.
    let mut scalars = Vec::with_capacity(items.len() + 2);
    let mut points = Vec::with_capacity(items.len() + 2);
    scalars.push(Scalar::ZERO);
    points.push(ED25519_BASEPOINT_POINT);
    let mut key_terms: HashMap<[u8; 32], usize> = HashMap::new();
    for (&(key, message, signature), z) in items.iter().zip(weights) {
        let (r_bytes, s_bytes) = signature.split_at(32);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes.try_into().expect("32 bytes")))
        else {
            return false;
        };
        let Some(r) = CompressedEdwardsY::from_slice(r_bytes).ok().and_then(|r| r.decompress()) else { return false };
        if r.is_small_order() {
            return false;
        }
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new().chain_update(r_bytes).chain_update(key.as_bytes()).chain_update(message).finalize().into(),
        );
        scalars[0] -= z * s;
        scalars.push(z);
        points.push(r);
        let term = *key_terms.entry(*key.as_bytes()).or_insert_with(|| {
            scalars.push(Scalar::ZERO);
            points.push(key.to_edwards());
            scalars.len() - 1
        });
        scalars[term] += z * k;
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// `n` random 128-bit weights, or none if the operating system has no randomness to give.
fn random_weights(n: usize) -> Option<Vec<Scalar>> {
    let mut bytes = vec![0u8; 16 * n];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.chunks_exact(16).map(|z| Scalar::from(u128::from_le_bytes(z.try_into().expect("16 bytes")))).collect())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::all_verify;

    fn signed(keys: &[SigningKey], count: usize) -> Vec<(ed25519_dalek::VerifyingKey, Vec<u8>, [u8; 64])> {
        (0..count)
            .map(|i| {
                let key = &keys[i % keys.len()];
                let message = format!("message {i}").into_bytes();
                let signature = key.sign(&message).to_bytes();
                (key.verifying_key(), message, signature)
            })
            .collect()
    }

    fn check(items: &[(ed25519_dalek::VerifyingKey, Vec<u8>, [u8; 64])]) -> bool {
        let items: Vec<_> =
            items.iter().map(|(key, message, signature)| (key, message.as_slice(), signature)).collect();
        all_verify(&items)
    }

    fn keys(n: u8) -> Vec<SigningKey> {
        (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect()
    }

    #[test]
    fn signatures_of_several_keys_interleaved_verify_together() {
        assert!(check(&signed(&keys(3), 10)));
        assert!(check(&signed(&keys(1), 1)));
    }

    #[test]
    fn one_signature_over_another_message_fails_the_batch() {
        let mut items = signed(&keys(3), 10);
        items[7].1.push(b'!');
        assert!(!check(&items));
    }

    #[test]
    fn a_signature_under_another_key_of_the_batch_fails_it() {
        let mut items = signed(&keys(2), 6);
        items[2].0 = items[3].0;
        assert!(!check(&items));
    }

    #[test]
    fn a_non_canonical_s_fails_the_batch_for_strict_verification_to_decide() {
        let mut items = signed(&keys(1), 3);
        // s + ℓ (the group order, little-endian): the same scalar, not in canonical form.
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        ];
        let (mut carry, s) = (0u16, &mut items[1].2[32..]);
        for (byte, add) in s.iter_mut().zip(order) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(!check(&items));
    }
}
