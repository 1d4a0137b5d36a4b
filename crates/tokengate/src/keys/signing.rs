//! Signing keys: each bound to exactly one algorithm.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair};
use aws_lc_rs::{hmac, rsa};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use super::{Algorithm, Jwk, KeyError, KeyFamily, Kid, VerifyingKey};

/// A key that signs with exactly one [`Algorithm`], with its verifying half.
///
/// ```
/// use tokengate::keys::{Algorithm, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::ES256).unwrap();
/// let sig = key.sign(b"message").unwrap();
/// assert!(key.verifying_key().verify_signature(b"message", &sig));
/// assert!(!key.verifying_key().verify_signature(b"massage", &sig));
/// ```
pub struct SigningKey {
    inner: Inner,
    verifying: VerifyingKey,
}

// hmac::Key holds its precomputed pads (1.2 KB); keys are few, so keep it inline.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm())
            .field("kid", self.kid())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key: 64 random bytes for HS*, RSA-2048 for RS*/PS*, the
    /// algorithm's curve otherwise.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::ES384, Algorithm::ES512, Algorithm::EdDSA] {
    ///     assert_eq!(SigningKey::generate(alg).unwrap().algorithm(), alg);
    /// }
    /// // RS* and PS* keys are RSA-2048: 256-byte signatures.
    /// let ps384 = SigningKey::generate(Algorithm::PS384).unwrap();
    /// assert_eq!((ps384.algorithm(), ps384.sign(b"message").unwrap().len()), (Algorithm::PS384, 256));
    /// ```
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let failed = |_| KeyError::Malformed("key generation failed");
        match alg.family() {
            KeyFamily::Hmac => {
                let mut secret = Zeroizing::new([0u8; 64]);
                SystemRandom::new().fill(&mut secret[..]).map_err(failed)?;
                Self::from_secret(alg, &secret[..])
            }
            KeyFamily::Rsa => {
                let pair = RsaKeyPair::generate(rsa::KeySize::Rsa2048).map_err(failed)?;
                Self::from_rsa(alg, pair)
            }
            KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
                let signing = alg.ecdsa_signing().expect("EC family");
                Self::from_ecdsa(alg, EcdsaKeyPair::generate(signing).map_err(failed)?)
            }
            KeyFamily::Ed25519 => Self::from_ed25519(Ed25519KeyPair::generate().map_err(failed)?),
        }
    }

    /// An HMAC key from a shared secret of at least 32 bytes.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyError, SigningKey};
    ///
    /// let key = SigningKey::from_secret(Algorithm::HS256, b"a shared secret of 32 bytes or more").unwrap();
    /// assert_eq!(key.algorithm(), Algorithm::HS256);
    /// assert_eq!(SigningKey::from_secret(Algorithm::HS256, b"short").unwrap_err(), KeyError::SecretTooShort(5));
    /// assert!(SigningKey::from_secret(Algorithm::ES256, &[1; 32]).is_err()); // not an HMAC algorithm
    /// ```
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let verifying = VerifyingKey::from_secret(alg, secret)?;
        let hmac_alg = alg.hmac().expect("checked by VerifyingKey::from_secret");
        Ok(SigningKey {
            inner: Inner::Hmac(hmac::Key::new(hmac_alg, secret)),
            verifying,
        })
    }

    /// A key from a PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). `alg` defaults to the
    /// key's natural algorithm (RS256, ES256, ES384, ES512, EdDSA): name it
    /// for an RSA key that signs RS384, RS512 or PS256/384/512.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let pem = SigningKey::generate(Algorithm::ES256).unwrap().to_pkcs8_pem().unwrap();
    /// let key = SigningKey::from_pem(&pem, None).unwrap();
    /// assert_eq!(key.algorithm(), Algorithm::ES256);
    /// assert!(SigningKey::from_pem(&pem, Some(Algorithm::RS256)).is_err()); // not an RSA key
    /// assert!(SigningKey::from_pem(&pem, Some(Algorithm::ES512)).is_err()); // not a P-521 key
    ///
    /// // An RSA key's PEM does not say which RSA algorithm it is for.
    /// let rsa = SigningKey::generate(Algorithm::PS512).unwrap().to_pkcs8_pem().unwrap();
    /// assert_eq!(SigningKey::from_pem(&rsa, None).unwrap().algorithm(), Algorithm::RS256);
    /// assert_eq!(SigningKey::from_pem(&rsa, Some(Algorithm::PS512)).unwrap().algorithm(), Algorithm::PS512);
    /// ```
    pub fn from_pem(pem_text: &str, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let pem = pem::parse(pem_text).map_err(|_| KeyError::Malformed("PEM"))?;
        let der = Zeroizing::new(pem.into_contents());
        let tag_hint = pem::parse(pem_text)
            .map(|p| p.tag().to_owned())
            .unwrap_or_default();
        let candidates: Vec<Algorithm> = match alg {
            Some(alg) => vec![alg],
            None => match tag_hint.as_str() {
                "RSA PRIVATE KEY" => vec![Algorithm::RS256],
                "EC PRIVATE KEY" => vec![Algorithm::ES256, Algorithm::ES384, Algorithm::ES512],
                _ => vec![
                    Algorithm::ES256,
                    Algorithm::ES384,
                    Algorithm::ES512,
                    Algorithm::EdDSA,
                    Algorithm::RS256,
                ],
            },
        };
        let mut last = KeyError::Malformed("private key");
        for candidate in candidates {
            match Self::from_private_der(candidate, &der) {
                Ok(key) => return Ok(key),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn from_private_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let wrong = |_| KeyError::WrongKeyFor(alg);
        match alg.family() {
            KeyFamily::Hmac => Err(KeyError::WrongKeyFor(alg)),
            KeyFamily::Rsa => {
                let too_small = |e: &aws_lc_rs::error::KeyRejected| e.description_() == "TooSmall";
                let pair = match RsaKeyPair::from_pkcs8(der) {
                    Ok(pair) => pair,
                    Err(pkcs8) => RsaKeyPair::from_der(der).map_err(|pkcs1| {
                        if too_small(&pkcs8) || too_small(&pkcs1) {
                            KeyError::RsaTooSmall(None)
                        } else {
                            KeyError::WrongKeyFor(alg)
                        }
                    })?,
                };
                Self::from_rsa(alg, pair)
            }
            KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
                let signing = alg.ecdsa_signing().expect("EC family");
                Self::from_ecdsa(
                    alg,
                    EcdsaKeyPair::from_private_key_der(signing, der).map_err(wrong)?,
                )
            }
            KeyFamily::Ed25519 => {
                Self::from_ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(wrong)?)
            }
        }
    }

    /// A key from a private JWK: `oct` (`k`), `EC` and `OKP` (`d` with the
    /// public members). RSA private JWKs are not read: use PEM for RSA.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Jwk, SigningKey};
    ///
    /// // RFC 8037 A.1: an Ed25519 private key.
    /// let jwk: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519",
    ///     "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
    /// let key = SigningKey::from_jwk(&jwk, None).unwrap();
    /// assert_eq!(key.algorithm(), Algorithm::EdDSA);
    /// assert_eq!(key.kid().as_str(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"); // the thumbprint
    /// ```
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let alg = super::jwk_algorithm(jwk, alg)?;
        let secret = |v: Option<&super::jwk::JwkSecret>, name: &'static str| {
            URL_SAFE_NO_PAD
                .decode(v.ok_or(KeyError::Malformed(name))?.expose())
                .map(Zeroizing::new)
                .map_err(|_| KeyError::Malformed(name))
        };
        let public = VerifyingKey::from_jwk(jwk, Some(alg))?;
        let key = match alg.family() {
            KeyFamily::Hmac => Self::from_secret(alg, &secret(jwk.k.as_ref(), "k")?)?,
            KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
                let signing = alg.ecdsa_signing().expect("EC family");
                // An EC SPKI ends with the uncompressed point 04||x||y.
                let (_, size) = alg.family().ec_coordinates().expect("EC family");
                let point = public
                    .public_key_der()
                    .map(|d| d[d.len() - (2 * size + 1)..].to_vec());
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    &secret(jwk.d.as_ref(), "d")?,
                    &point.unwrap_or_default(),
                )
                .map_err(|_| KeyError::WrongKeyFor(alg))?;
                Self::from_ecdsa(alg, pair)?
            }
            KeyFamily::Ed25519 => {
                let x = public
                    .public_key_der()
                    .map(|d| d[d.len() - 32..].to_vec())
                    .unwrap_or_default();
                let pair =
                    Ed25519KeyPair::from_seed_and_public_key(&secret(jwk.d.as_ref(), "d")?, &x)
                        .map_err(|_| KeyError::WrongKeyFor(alg))?;
                Self::from_ed25519(pair)?
            }
            KeyFamily::Rsa => return Err(KeyError::Malformed("RSA private JWK (use PEM)")),
        };
        Ok(match &jwk.kid {
            Some(kid) => key.with_kid(Kid::new(kid.clone())),
            None => key,
        })
    }

    fn from_rsa(alg: Algorithm, pair: RsaKeyPair) -> Result<Self, KeyError> {
        let der = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Malformed("RSA key"))?;
        let verifying = VerifyingKey::from_public_der(alg, der.as_ref())?;
        Ok(SigningKey {
            inner: Inner::Rsa(pair),
            verifying,
        })
    }

    fn from_ecdsa(alg: Algorithm, pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let key = ParsedPublicKey::new(
            alg.verification().expect("EC family"),
            pair.public_key().as_ref(),
        )
        .map_err(|_| KeyError::WrongKeyFor(alg))?;
        Ok(SigningKey {
            inner: Inner::Ecdsa(pair),
            verifying: VerifyingKey::from_parsed(alg, key)?,
        })
    }

    fn from_ed25519(pair: Ed25519KeyPair) -> Result<Self, KeyError> {
        let key = ParsedPublicKey::new(&aws_lc_rs::signature::ED25519, pair.public_key().as_ref())
            .map_err(|_| KeyError::Malformed("Ed25519 key"))?;
        Ok(SigningKey {
            inner: Inner::Ed25519(pair),
            verifying: VerifyingKey::from_parsed(Algorithm::EdDSA, key)?,
        })
    }

    /// Replaces the key id (default: the RFC 7638 thumbprint of the public key).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Kid, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap().with_kid(Kid::new("2025-06"));
    /// assert_eq!(key.kid().as_str(), "2025-06");
    /// assert_eq!(key.verifying_key().kid().as_str(), "2025-06");
    /// ```
    pub fn with_kid(mut self, kid: Kid) -> Self {
        self.verifying = self.verifying.with_kid(kid);
        self
    }

    /// The one algorithm this key signs with.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::from_secret(Algorithm::HS384, &[1; 48]).unwrap();
    /// assert_eq!(key.algorithm(), Algorithm::HS384);
    /// ```
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.algorithm()
    }

    /// The key id.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256).unwrap();
    /// // By default, the RFC 7638 thumbprint of the public JWK.
    /// assert_eq!(key.kid().as_str(), key.verifying_key().to_jwk().unwrap().thumbprint().unwrap());
    /// ```
    pub fn kid(&self) -> &Kid {
        self.verifying.kid()
    }

    /// The verifying half (for HMAC, the same secret).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let public = key.verifying_key();
    /// assert_eq!((public.algorithm(), public.kid()), (Algorithm::EdDSA, key.kid()));
    /// assert!(public.verify_signature(b"hello", &key.sign(b"hello").unwrap()));
    /// ```
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs `message`, returning the JWS signature bytes (fixed-size `r||s`
    /// for ECDSA, as RFC 7518 requires).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let es256 = SigningKey::generate(Algorithm::ES256).unwrap();
    /// assert_eq!(es256.sign(b"message").unwrap().len(), 64); // r||s, 32 bytes each
    /// let hs256 = SigningKey::from_secret(Algorithm::HS256, &[7; 32]).unwrap();
    /// assert_eq!(hs256.sign(b"message").unwrap(), hs256.sign(b"message").unwrap());
    /// ```
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Malformed("signing failed");
        Ok(match &self.inner {
            Inner::Hmac(key) => hmac::sign(key, message).as_ref().to_vec(),
            Inner::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let padding = self.algorithm().rsa_signing().expect("RSA family");
                pair.sign(padding, &SystemRandom::new(), message, &mut sig)
                    .map_err(failed)?;
                sig
            }
            Inner::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Inner::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        })
    }

    /// The private key as PKCS#8 PEM, to keep on disk; `None` for HMAC secrets.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let pem = key.to_pkcs8_pem().unwrap();
    /// assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    /// assert_eq!(SigningKey::from_pem(&pem, None).unwrap().kid(), key.kid());
    /// assert!(SigningKey::generate(Algorithm::HS256).unwrap().to_pkcs8_pem().is_none());
    /// ```
    pub fn to_pkcs8_pem(&self) -> Option<Zeroizing<String>> {
        let der: Pkcs8V1Der<'static> = match &self.inner {
            Inner::Hmac(_) => return None,
            Inner::Rsa(pair) => pair.as_der().ok()?,
            Inner::Ecdsa(pair) => {
                let doc = pair.to_pkcs8v1().ok()?;
                return Some(Zeroizing::new(pem::encode(&pem::Pem::new(
                    "PRIVATE KEY",
                    doc.as_ref().to_vec(),
                ))));
            }
            Inner::Ed25519(pair) => pair.as_der().ok()?,
        };
        Some(Zeroizing::new(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.as_ref().to_vec(),
        ))))
    }
}
