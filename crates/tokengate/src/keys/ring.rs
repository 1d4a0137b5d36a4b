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
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let kid = key.kid().clone();
    /// let ring = KeyRing::new(key);
    /// assert_eq!(ring.signing_key().unwrap().kid(), &kid);
    /// assert_eq!(ring.verifying_keys()[0].kid(), &kid);
    /// ```
    pub fn new(key: SigningKey) -> Self {
        let mut ring = KeyRing::default();
        ring.rotate(key);
        ring
    }

    /// A ring that only verifies: for a service that checks the tokens of
    /// another, from its public keys.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, JwkSet, KeyRing, SigningKey, VerifyingKey};
    ///
    /// let issuer = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let published: JwkSet = serde_json::from_str(&serde_json::to_string(&issuer.jwks()).unwrap()).unwrap();
    /// let keys = published.keys.iter().map(|jwk| VerifyingKey::from_jwk(jwk, None).unwrap());
    /// let ring = KeyRing::verify_only(keys);
    /// assert!(ring.signing_key().is_none());
    /// assert_eq!(ring.verifying_keys().len(), 1);
    /// ```
    pub fn verify_only(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeyRing {
            signing: None,
            verifying: keys.into_iter().collect(),
        }
    }

    /// Makes `key` the signing key; the previous keys keep verifying.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let mut ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let before = TokenEngine::new(ring.clone()).issue(NewToken::access("alice")).unwrap();
    /// ring.rotate(SigningKey::generate(Algorithm::ES256).unwrap());
    /// assert_eq!(ring.signing_key().unwrap().algorithm(), Algorithm::ES256);
    /// assert!(TokenEngine::new(ring).verify(&before.token).is_ok()); // the old key still verifies
    /// ```
    pub fn rotate(&mut self, key: SigningKey) {
        self.verifying.retain(|k| k.kid() != key.kid());
        self.verifying.insert(0, key.verifying_key().clone());
        self.signing = Some(Arc::new(key));
    }

    /// Adds a key that only verifies.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let mut ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let partner = SigningKey::generate(Algorithm::ES256).unwrap();
    /// ring.add_verifying(partner.verifying_key().clone());
    /// assert_eq!(ring.candidates(Algorithm::ES256, Some(partner.kid().as_str())).count(), 1);
    /// ```
    pub fn add_verifying(&mut self, key: VerifyingKey) {
        self.verifying.retain(|k| k.kid() != key.kid());
        self.verifying.push(key);
    }

    /// Removes a key (after its overlap period). The signing key cannot be removed.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let mut ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let first = ring.signing_key().unwrap().kid().clone();
    /// ring.remove(&first); // the signing key stays
    /// assert_eq!(ring.verifying_keys().len(), 1);
    /// ring.rotate(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// ring.remove(&first);
    /// assert!(ring.verifying_keys().iter().all(|k| k.kid() != &first));
    /// ```
    pub fn remove(&mut self, kid: &Kid) {
        let signing = self.signing.as_ref().map(|k| k.kid().clone());
        if signing.as_ref() != Some(kid) {
            self.verifying.retain(|k| k.kid() != kid);
        }
    }

    /// The key that signs new tokens.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let public = key.verifying_key().clone();
    /// assert_eq!(KeyRing::new(key).signing_key().unwrap().algorithm(), Algorithm::EdDSA);
    /// assert!(KeyRing::verify_only([public]).signing_key().is_none());
    /// ```
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing.as_deref()
    }

    /// The verifying keys, newest first.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let mut ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// ring.rotate(SigningKey::generate(Algorithm::ES256).unwrap());
    /// let algs: Vec<_> = ring.verifying_keys().iter().map(|k| k.algorithm()).collect();
    /// assert_eq!(algs, [Algorithm::ES256, Algorithm::EdDSA]); // newest first
    /// ```
    pub fn verifying_keys(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// The keys a token with this `alg` and `kid` may be checked against:
    /// only keys bound to `alg`, and with `kid` only the key of that id.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// assert_eq!(ring.candidates(Algorithm::EdDSA, None).count(), 1);
    /// assert_eq!(ring.candidates(Algorithm::HS256, None).count(), 0); // `alg` never picks another key type
    /// assert_eq!(ring.candidates(Algorithm::EdDSA, Some("unknown")).count(), 0);
    /// ```
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerifyingKey> + 'a {
        self.verifying
            .iter()
            .filter(move |k| k.algorithm() == alg && kid.is_none_or(|kid| k.kid().as_str() == kid))
    }

    /// The public keys as a JWKS (HMAC secrets are never included): what
    /// `/.well-known/jwks.json` serves.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    ///
    /// let ring = KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
    /// let json = serde_json::to_value(ring.jwks()).unwrap();
    /// assert_eq!(json["keys"][0]["alg"], "EdDSA");
    /// assert!(json["keys"][0].get("d").is_none());
    /// assert!(KeyRing::new(SigningKey::generate(Algorithm::HS256).unwrap()).jwks().keys.is_empty());
    /// ```
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
