//! Sealing private keys for the database: AES-256-GCM (aws-lc-rs) under a
//! key derived from `key_encryption_secret` with HKDF-SHA256.
//!
//! A sealed key is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, with a
//! random nonce per key. The key id, algorithm and creation time are
//! authenticated with it (AAD), so a sealed key moved to another row, or a
//! row whose algorithm or age was changed, does not open.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use tokengate::keys::Algorithm;
use zeroize::Zeroizing;

/// Fixed HKDF salt: ties the derived key to this use and format version.
const SALT: &[u8] = b"tokengate signing keys v1";
/// HKDF info: the cipher the derived key is for.
const INFO: &[u8] = b"AES-256-GCM sealing key";

/// The row a sealed key belongs to; authenticated, not encrypted.
pub(super) struct Row<'a> {
    pub(super) kid: &'a str,
    pub(super) alg: Algorithm,
    pub(super) created: i64,
}

impl Row<'_> {
    /// Unambiguous: the algorithm never holds a NUL and the creation time
    /// has a fixed width; the kid comes last.
    fn aad(&self) -> Vec<u8> {
        format!(
            "tokengate signing key\0{}\0{:020}\0{}",
            self.alg, self.created, self.kid
        )
        .into_bytes()
    }
}

/// Seals and opens private keys. `Debug` shows nothing of the key.
#[derive(Clone)]
pub(super) struct Sealer(Arc<RandomizedNonceKey>);

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// A failure of the cipher; the caller says what failed.
#[derive(Debug)]
pub(super) struct Failed;

impl Sealer {
    /// The sealer of `secret` (at least 32 bytes, checked by the settings).
    pub(super) fn new(secret: &[u8]) -> Result<Self, Failed> {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let okm = prk.expand(&[INFO], &AES_256_GCM).map_err(|_| Failed)?;
        let mut key = Zeroizing::new([0u8; 32]);
        okm.fill(&mut key[..]).map_err(|_| Failed)?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &key[..]).map_err(|_| Failed)?;
        Ok(Sealer(Arc::new(key)))
    }

    /// `plaintext` sealed for `row`, under a fresh random nonce.
    pub(super) fn seal(&self, row: &Row<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Failed> {
        let tag_len = AES_256_GCM.tag_len();
        // Room for the tag up front: the plaintext is never copied by a reallocation.
        let mut in_out = Zeroizing::new(Vec::with_capacity(plaintext.len() + tag_len));
        in_out.extend_from_slice(plaintext);
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(row.aad()), &mut *in_out)
            .map_err(|_| Failed)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// The plaintext of `sealed`, if it was sealed with this key for `row`.
    pub(super) fn open(&self, row: &Row<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failed> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(Failed);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Failed)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(row.aad()), &mut in_out[..])
            .map_err(|_| Failed)?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Row<'static> = Row {
        kid: "kid-1",
        alg: Algorithm::ES256,
        created: 1_700_000_000,
    };

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal(&ROW, b"private key").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 11 + 16);
        assert_eq!(&sealer.open(&ROW, &sealed).unwrap()[..], b"private key");
        // A fresh nonce each time.
        assert_ne!(sealer.seal(&ROW, b"private key").unwrap(), sealed);

        let other_secret = Sealer::new(&[8u8; 32]).unwrap();
        assert!(other_secret.open(&ROW, &sealed).is_err());
        for row in [
            Row {
                kid: "kid-2",
                ..ROW
            },
            Row {
                alg: Algorithm::ES384,
                ..ROW
            },
            Row {
                created: ROW.created + 1,
                ..ROW
            },
        ] {
            assert!(sealer.open(&row, &sealed).is_err());
        }
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(sealer.open(&ROW, &flipped).is_err());
        assert!(sealer.open(&ROW, &sealed[..NONCE_LEN + 15]).is_err());
    }

    #[test]
    fn debug_shows_no_key() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        assert_eq!(format!("{sealer:?}"), "Sealer([redacted])");
    }
}
