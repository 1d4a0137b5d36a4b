//! The key ring: sign with the newest key, verify with any key still held.

use std::sync::Arc;

use super::{Algorithm, JwkSet, Kid, SigningKey, VerifyingKey};

/// The keys of one issuer: the newest signing key signs; every key still in
/// the ring verifies, so tokens signed before a rotation stay valid until
/// the old key is removed.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
///
/// let mut ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
/// let old = ring.signing_key().unwrap().kid().clone();
/// ring.rotate(SigningKey::generate(Algorithm::EdDSA).unwrap());
/// assert_ne!(ring.signing_key().unwrap().kid(), &old);
/// assert_eq!(ring.jwks().keys.len(), 2);
/// ring.remove(&old);
/// assert_eq!(ring.jwks().keys.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    signing: Option<Arc<SigningKey>>,
    verifying: Vec<VerifyingKey>,
}

impl KeyRing {
    /// A ring that signs and verifies with `key`.
    pub fn new(key: SigningKey) -> Self {
        let mut ring = KeyRing::default();
        ring.rotate(key);
        ring
    }

    /// A ring that only verifies.
    pub fn verify_only(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeyRing {
            signing: None,
            verifying: keys.into_iter().collect(),
        }
    }

    /// Makes `key` the signing key; the previous keys keep verifying.
    pub fn rotate(&mut self, key: SigningKey) {
        self.verifying.retain(|k| k.kid() != key.kid());
        self.verifying.insert(0, key.verifying_key().clone());
        self.signing = Some(Arc::new(key));
    }

    /// Adds a key that only verifies.
    pub fn add_verifying(&mut self, key: VerifyingKey) {
        self.verifying.retain(|k| k.kid() != key.kid());
        self.verifying.push(key);
    }

    /// Removes a key (after its overlap period). The signing key cannot be removed.
    pub fn remove(&mut self, kid: &Kid) {
        let signing = self.signing.as_ref().map(|k| k.kid().clone());
        if signing.as_ref() != Some(kid) {
            self.verifying.retain(|k| k.kid() != kid);
        }
    }

    /// The key that signs new tokens.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing.as_deref()
    }

    /// The verifying keys, newest first.
    pub fn verifying_keys(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// The keys a token with this `alg` and `kid` may be checked against:
    /// only keys bound to `alg`, and with `kid` only the key of that id.
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerifyingKey> + 'a {
        self.verifying
            .iter()
            .filter(move |k| k.algorithm() == alg && kid.is_none_or(|kid| k.kid().as_str() == kid))
    }

    /// The public keys as a JWKS (HMAC secrets are never included).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .verifying
                .iter()
                .filter_map(VerifyingKey::to_jwk)
                .collect(),
        }
    }
}
