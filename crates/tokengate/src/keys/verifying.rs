//! Verifying keys: each bound to exactly one algorithm.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use aws_lc_rs::{hmac, rsa};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Algorithm, Jwk, KeyError, KeyFamily, Kid, MIN_HMAC_SECRET, MIN_RSA_BITS};

/// A key that checks signatures of exactly one [`Algorithm`].
///
/// The algorithm is fixed when the key is made; a token's `alg` header can
/// only select among configured (key, algorithm) pairs, never change how a
/// key is used. That is what makes the HS256-with-the-public-key attack
/// impossible.
///
/// ```
/// use tokengate::keys::{Algorithm, VerifyingKey};
///
/// let key = VerifyingKey::from_secret(Algorithm::HS256, &[7u8; 32]).unwrap();
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(VerifyingKey::from_secret(Algorithm::HS256, b"short").is_err());
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    kid: Kid,
    inner: Inner,
}

#[derive(Clone)]
// hmac::Key holds its precomputed pads (1.2 KB); keys are few, so keep it inline.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Hmac(hmac::Key),
    Public {
        key: ParsedPublicKey,
        jwk: Box<Jwk>,
        spki: Box<[u8]>,
    },
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// An HMAC key from a shared secret of at least 32 bytes.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
    ///
    /// let secret = [7u8; 32];
    /// let key = VerifyingKey::from_secret(Algorithm::HS256, &secret).unwrap();
    /// let sig = SigningKey::from_secret(Algorithm::HS256, &secret).unwrap().sign(b"msg").unwrap();
    /// assert!(key.verify_signature(b"msg", &sig));
    /// assert_eq!(VerifyingKey::from_secret(Algorithm::HS256, &[7; 16]).unwrap_err(), KeyError::SecretTooShort(16));
    /// ```
    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let hmac_alg = alg.hmac().ok_or(KeyError::WrongFamily {
            alg,
            found: KeyFamily::Hmac,
        })?;
        if secret.len() < MIN_HMAC_SECRET {
            return Err(KeyError::SecretTooShort(secret.len()));
        }
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some(super::jwk::JwkSecret::new(URL_SAFE_NO_PAD.encode(secret))),
            ..Jwk::default()
        };
        Ok(VerifyingKey {
            alg,
            kid: Kid::new(jwk.thumbprint().unwrap_or_default()),
            inner: Inner::Hmac(hmac::Key::new(hmac_alg, secret)),
        })
    }

    /// A public key from DER: SubjectPublicKeyInfo, PKCS#1 `RSAPublicKey`, or
    /// a raw EC point / Ed25519 key.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey, VerifyingKey};
    ///
    /// let signing = SigningKey::generate(Algorithm::ES256).unwrap();
    /// let der = signing.verifying_key().public_key_der().unwrap();
    /// let key = VerifyingKey::from_public_der(Algorithm::ES256, der).unwrap();
    /// assert!(key.verify_signature(b"msg", &signing.sign(b"msg").unwrap()));
    /// assert!(VerifyingKey::from_public_der(Algorithm::ES384, der).is_err()); // a P-256 key
    /// ```
    pub fn from_public_der(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let verification = alg.verification().ok_or_else(|| {
            KeyError::Algorithm(format!("{alg} needs a shared secret, not a public key"))
        })?;
        if alg.family() == KeyFamily::Rsa {
            let rsa =
                rsa::PublicKey::from_der(der).map_err(|_| KeyError::Malformed("RSA public key"))?;
            check_rsa_size(rsa.modulus().big_endian_without_leading_zero())?;
        }
        let key =
            ParsedPublicKey::new(verification, der).map_err(|_| KeyError::WrongKeyFor(alg))?;
        Self::from_parsed(alg, key)
    }

    pub(crate) fn from_parsed(alg: Algorithm, key: ParsedPublicKey) -> Result<Self, KeyError> {
        let spki: Box<[u8]> = key
            .as_der()
            .map_err(|_| KeyError::Malformed("public key"))?
            .as_ref()
            .into();
        let jwk = public_jwk(alg, &spki)?;
        Ok(VerifyingKey {
            alg,
            kid: Kid::new(jwk.thumbprint().unwrap_or_default()),
            inner: Inner::Public {
                key,
                jwk: Box::new(jwk),
                spki,
            },
        })
    }

    /// A verifying key from a PEM public key (`PUBLIC KEY`, `RSA PUBLIC KEY`)
    /// or from the public half of a PEM private key. `alg` defaults to the
    /// key's natural algorithm (RS256, ES256, ES384, ES512, EdDSA): name it
    /// for an RSA key that verifies RS384, RS512 or PS256/384/512.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey, VerifyingKey};
    ///
    /// let signing = SigningKey::generate(Algorithm::ES384).unwrap();
    /// let pem = signing.verifying_key().public_key_pem().unwrap();
    /// let key = VerifyingKey::from_pem(&pem, None).unwrap();
    /// assert_eq!((key.algorithm(), key.kid()), (Algorithm::ES384, signing.kid()));
    ///
    /// let p521 = SigningKey::generate(Algorithm::ES512).unwrap();
    /// let pem = p521.verifying_key().public_key_pem().unwrap();
    /// assert_eq!(VerifyingKey::from_pem(&pem, None).unwrap().algorithm(), Algorithm::ES512);
    /// assert!(VerifyingKey::from_pem(&pem, Some(Algorithm::ES384)).is_err());
    /// ```
    pub fn from_pem(pem_text: &str, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let pem = pem::parse(pem_text).map_err(|_| KeyError::Malformed("PEM"))?;
        match pem.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                let candidates: &[Algorithm] = match alg {
                    Some(alg) => &[alg][..],
                    None if pem.tag() == "RSA PUBLIC KEY" => &[Algorithm::RS256],
                    None => &[
                        Algorithm::ES256,
                        Algorithm::ES384,
                        Algorithm::ES512,
                        Algorithm::EdDSA,
                        Algorithm::RS256,
                    ],
                };
                let mut last = KeyError::Malformed("public key");
                for &candidate in candidates {
                    match Self::from_public_der(candidate, pem.contents()) {
                        Ok(key) => return Ok(key),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            _ => Ok(super::SigningKey::from_pem(pem_text, alg)?
                .verifying_key()
                .clone()),
        }
    }

    /// A verifying key from a JWK (public members suffice; `oct` needs `k`).
    /// `alg` defaults to the JWK's `alg`, then to the curve's algorithm; an
    /// RSA JWK without `alg` needs `alg` given.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Jwk, VerifyingKey};
    ///
    /// let jwk: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","kid":"k1",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
    /// let key = VerifyingKey::from_jwk(&jwk, None).unwrap();
    /// assert_eq!((key.algorithm(), key.kid().as_str()), (Algorithm::EdDSA, "k1"));
    /// assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::ES256)).is_err());
    /// ```
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        if let Some(use_) = jwk.use_.as_deref().filter(|u| *u != "sig") {
            return Err(KeyError::Algorithm(format!(
                "the JWK's use is {use_:?}, not \"sig\""
            )));
        }
        let alg = super::jwk_algorithm(jwk, alg)?;
        let b64 = |v: Option<&str>, name: &'static str| {
            URL_SAFE_NO_PAD
                .decode(v.ok_or(KeyError::Malformed(name))?)
                .map_err(|_| KeyError::Malformed(name))
        };
        let key = match (alg.family(), jwk.kty.as_str()) {
            (KeyFamily::Hmac, "oct") => {
                let secret = zeroize::Zeroizing::new(b64(jwk.k.as_ref().map(|k| k.expose()), "k")?);
                return Self::from_secret(alg, &secret).map(|k| k.with_kid_opt(jwk.kid.clone()));
            }
            (KeyFamily::Rsa, "RSA") => {
                let n = b64(jwk.n.as_deref(), "n")?;
                let e = b64(jwk.e.as_deref(), "e")?;
                let n = strip_leading_zeros(&n);
                check_rsa_size(n)?;
                rsa::PublicKeyComponents {
                    n,
                    e: strip_leading_zeros(&e),
                }
                .to_parsed_public_key(alg.rsa_verification().expect("RSA family"))
                .map_err(|_| KeyError::Malformed("RSA JWK"))?
            }
            (KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521, "EC") => {
                let (crv, size) = alg.family().ec_coordinates().expect("EC family");
                let (x, y) = (b64(jwk.x.as_deref(), "x")?, b64(jwk.y.as_deref(), "y")?);
                if jwk.crv.as_deref() != Some(crv) || x.len() != size || y.len() != size {
                    return Err(KeyError::WrongKeyFor(alg));
                }
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                ParsedPublicKey::new(alg.verification().expect("EC family"), point)
                    .map_err(|_| KeyError::WrongKeyFor(alg))?
            }
            (KeyFamily::Ed25519, "OKP") if jwk.crv.as_deref() == Some("Ed25519") => {
                let x = b64(jwk.x.as_deref(), "x")?;
                if x.len() != 32 {
                    return Err(KeyError::Malformed("Ed25519 JWK"));
                }
                ParsedPublicKey::new(&signature::ED25519, x)
                    .map_err(|_| KeyError::Malformed("Ed25519 JWK"))?
            }
            _ => return Err(KeyError::WrongKeyFor(alg)),
        };
        Ok(Self::from_parsed(alg, key)?.with_kid_opt(jwk.kid.clone()))
    }

    fn with_kid_opt(self, kid: Option<String>) -> Self {
        match kid {
            Some(kid) => self.with_kid(Kid::new(kid)),
            None => self,
        }
    }

    /// Replaces the key id (default: the RFC 7638 thumbprint).
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Kid, VerifyingKey};
    ///
    /// let key = VerifyingKey::from_secret(Algorithm::HS256, &[7; 32]).unwrap().with_kid(Kid::new("shared-1"));
    /// assert_eq!(key.kid().as_str(), "shared-1");
    /// ```
    pub fn with_kid(mut self, kid: Kid) -> Self {
        self.kid = kid;
        self
    }

    /// The one algorithm this key verifies.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES384).unwrap();
    /// assert_eq!(key.verifying_key().algorithm(), Algorithm::ES384);
    /// ```
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Jwk, VerifyingKey};
    ///
    /// let jwk: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","kid":"k1",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
    /// assert_eq!(VerifyingKey::from_jwk(&jwk, None).unwrap().kid().as_str(), "k1");
    /// ```
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// Checks `signature` over `message`. Constant time for HMAC.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let sig = key.sign(b"message").unwrap();
    /// assert!(key.verifying_key().verify_signature(b"message", &sig));
    /// assert!(!key.verifying_key().verify_signature(b"message", &sig[1..]));
    /// ```
    #[inline]
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            Inner::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Inner::Public { key, .. } => key.verify_sig(message, signature).is_ok(),
        }
    }

    /// The public JWK (`kid`, `alg`, `use: sig`); `None` for HMAC secrets,
    /// which are never published.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256).unwrap();
    /// let jwk = key.verifying_key().to_jwk().unwrap();
    /// assert_eq!((jwk.kty.as_str(), jwk.alg.as_deref(), jwk.use_.as_deref()), ("EC", Some("ES256"), Some("sig")));
    /// assert!(jwk.d.is_none());
    /// assert!(SigningKey::generate(Algorithm::HS256).unwrap().verifying_key().to_jwk().is_none());
    /// ```
    pub fn to_jwk(&self) -> Option<Jwk> {
        match &self.inner {
            Inner::Hmac(_) => None,
            Inner::Public { jwk, .. } => Some(Jwk {
                kid: Some(self.kid.as_str().to_owned()),
                alg: Some(self.alg.as_str().to_owned()),
                use_: Some("sig".into()),
                ..(**jwk).clone()
            }),
        }
    }

    /// The public key as DER SubjectPublicKeyInfo; `None` for HMAC.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// assert_eq!(key.verifying_key().public_key_der().unwrap().len(), 44); // SPKI of a 32-byte key
    /// assert!(SigningKey::generate(Algorithm::HS256).unwrap().verifying_key().public_key_der().is_none());
    /// ```
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Hmac(_) => None,
            Inner::Public { spki, .. } => Some(spki),
        }
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`); `None` for HMAC.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    /// let pem = key.verifying_key().public_key_pem().unwrap();
    /// assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    /// ```
    pub fn public_key_pem(&self) -> Option<String> {
        self.public_key_der()
            .map(|der| pem::encode(&pem::Pem::new("PUBLIC KEY", der.to_vec())))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

/// Refuses a modulus under [`MIN_RSA_BITS`], counting bits, not bytes: a
/// 2047-bit modulus also takes 256 bytes.
fn check_rsa_size(modulus: &[u8]) -> Result<(), KeyError> {
    let modulus = strip_leading_zeros(modulus);
    let bits = modulus
        .first()
        .map_or(0, |&top| modulus.len() * 8 - top.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooSmall(Some(bits)));
    }
    Ok(())
}

/// The public JWK members of a SubjectPublicKeyInfo.
fn public_jwk(alg: Algorithm, spki: &[u8]) -> Result<Jwk, KeyError> {
    let tail = |n: usize| spki.get(spki.len().saturating_sub(n)..).unwrap_or_default();
    let enc = |b: &[u8]| Some(URL_SAFE_NO_PAD.encode(b));
    Ok(match alg.family() {
        KeyFamily::Rsa => {
            let rsa = rsa::PublicKey::from_der(spki).map_err(|_| KeyError::Malformed("RSA key"))?;
            Jwk {
                kty: "RSA".into(),
                n: enc(rsa.modulus().big_endian_without_leading_zero()),
                e: enc(rsa.exponent().big_endian_without_leading_zero()),
                ..Jwk::default()
            }
        }
        // An EC SPKI ends with the uncompressed point 04||x||y.
        KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
            let (crv, size) = alg.family().ec_coordinates().expect("EC family");
            let point = tail(2 * size + 1);
            Jwk {
                kty: "EC".into(),
                crv: Some(crv.into()),
                x: enc(&point[1..=size]),
                y: enc(&point[size + 1..]),
                ..Jwk::default()
            }
        }
        KeyFamily::Ed25519 => Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: enc(tail(32)),
            ..Jwk::default()
        },
        KeyFamily::Hmac => return Err(KeyError::WrongKeyFor(alg)),
    })
}
