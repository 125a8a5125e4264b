//! Ed25519 batch verification with the terms of each distinct key summed.
//!
//! The batch equation is the one `ed25519_dalek::verify_batch` checks
//! (cofactorless, canonical `s` required, every `R` must decompress):
//!
//! ```text
//! [-Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢhᵢ]Aᵢ = 0,   hᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ Mᵢ) mod ℓ
//! ```
//!
//! with random 128-bit weights `zᵢ`. A log is signed by few keys, so here the
//! `Aᵢ` terms of one key are added up front, `[Σ zᵢhᵢ]A`: the same equation,
//! term for term, but the multiscalar multiplication shrinks from 2n+1 points
//! to n+1+k (k distinct keys), and the dropped points are the ones with full
//! 253-bit scalars. The weights come from the thread's CSPRNG (seeded from the
//! OS), so a signer cannot choose signatures that cancel out, as in the paper
//! (Bernstein et al., "High-speed high-security signatures", section 5).
//!
//! Like any batch check it only answers "all valid" or "not all valid"; the
//! audit re-checks a failing batch one signature at a time (strict
//! verification) to name the statements.

use std::collections::HashMap;
use std::iter::once;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::Rng;
use sha2::{Digest, Sha512};

/// Whether every `(message, signature, key)` verifies; `false` when any does
/// not (or when the slices differ in length).
pub fn verify_batch(messages: &[&[u8]], sigs: &[Signature], keys: &[VerifyingKey]) -> bool {
    if messages.len() != sigs.len() || sigs.len() != keys.len() {
        return false;
    }
    let mut rng = rand::thread_rng();
    let mut b_coefficient = Scalar::ZERO;
    let mut weights = Vec::with_capacity(sigs.len());
    let mut rs = Vec::with_capacity(sigs.len());
    // Distinct keys in order of first use, with their summed coefficient.
    let mut slot: HashMap<[u8; 32], usize> = HashMap::new();
    let mut key_points: Vec<EdwardsPoint> = Vec::new();
    let mut key_scalars: Vec<Scalar> = Vec::new();
    for ((message, sig), key) in messages.iter().zip(sigs).zip(keys) {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(*sig.r_bytes()).decompress() else {
            return false;
        };
        let h = Scalar::from_hash(
            Sha512::new()
                .chain_update(sig.r_bytes())
                .chain_update(key.as_bytes())
                .chain_update(message),
        );
        let z = Scalar::from(rng.gen::<u128>());
        b_coefficient += z * s;
        let k = *slot.entry(*key.as_bytes()).or_insert_with(|| {
            key_points.push(key.to_edwards());
            key_scalars.push(Scalar::ZERO);
            key_points.len() - 1
        });
        key_scalars[k] += z * h;
        weights.push(z);
        rs.push(r);
    }
    let sum = EdwardsPoint::vartime_multiscalar_mul(
        once(-b_coefficient).chain(weights).chain(key_scalars),
        once(ED25519_BASEPOINT_POINT).chain(rs).chain(key_points),
    );
    sum.is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// `n` messages signed round-robin by `keys` keys.
    fn signed(n: usize, keys: usize) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<VerifyingKey>) {
        let signers: Vec<SigningKey> = (0..keys)
            .map(|k| {
                let mut seed = [1u8; 32];
                seed[..8].copy_from_slice(&(k as u64).to_le_bytes());
                SigningKey::from_bytes(&seed)
            })
            .collect();
        let mut ms = Vec::new();
        let mut ss = Vec::new();
        let mut ks = Vec::new();
        for i in 0..n {
            let key = &signers[i % keys];
            let m = format!("suyuan/v1/event\n{{\"n\":{i}}}").into_bytes();
            ss.push(key.sign(&m));
            ks.push(key.verifying_key());
            ms.push(m);
        }
        (ms, ss, ks)
    }

    fn check(ms: &[Vec<u8>], ss: &[Signature], ks: &[VerifyingKey]) -> bool {
        let refs: Vec<&[u8]> = ms.iter().map(Vec::as_slice).collect();
        let ours = verify_batch(&refs, ss, ks);
        // Same answer as ed25519-dalek's own batch verification.
        assert_eq!(ours, ed25519_dalek::verify_batch(&refs, ss, ks).is_ok());
        ours
    }

    #[test]
    fn valid_batches_pass_whatever_the_number_of_keys() {
        for (n, keys) in [(1, 1), (2, 2), (300, 1), (300, 2), (300, 300), (1024, 3)] {
            let (ms, ss, ks) = signed(n, keys);
            assert!(check(&ms, &ss, &ks), "{n} signatures, {keys} keys");
        }
        assert!(verify_batch(&[], &[], &[]));
    }

    #[test]
    fn any_wrong_message_signature_or_key_fails_the_batch() {
        let (ms, ss, ks) = signed(300, 2);
        let mut m2 = ms.clone();
        m2[17][12] ^= 1;
        assert!(!check(&m2, &ss, &ks));

        let mut s2 = ss.clone();
        s2[299] = ss[298];
        assert!(!check(&ms, &s2, &ks));

        // The other party's key for one statement.
        let mut k2 = ks.clone();
        k2[5] = ks[6];
        assert!(!check(&ms, &ss, &k2));

        // s + ℓ: same value mod ℓ, but not canonical.
        let mut bytes = ss[3].to_bytes();
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let t = u16::from(bytes[32 + i]) + u16::from(l[i]) + carry;
            bytes[32 + i] = t as u8;
            carry = t >> 8;
        }
        let mut s3 = ss.clone();
        s3[3] = Signature::from_bytes(&bytes);
        assert!(!check(&ms, &s3, &ks));

        // An R that is not a curve point.
        let mut bytes = ss[4].to_bytes();
        bytes[..32].copy_from_slice(&[0xff; 32]);
        bytes[31] = 0x7f;
        let mut s4 = ss.clone();
        s4[4] = Signature::from_bytes(&bytes);
        assert!(!verify_batch(
            &ms.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            &s4,
            &ks
        ));

        assert!(!verify_batch(&[b"x".as_slice()], &ss[..2], &ks[..2]));
    }

    #[test]
    fn two_signatures_swapped_between_messages_fail() {
        // Each wrong on its own; a fixed-weight sum could cancel, random weights do not.
        let (ms, ss, ks) = signed(2, 1);
        assert!(!check(&ms, &[ss[1], ss[0]], &ks));
    }
}
