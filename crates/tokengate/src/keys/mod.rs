//! Signing and verifying keys, JWK/JWKS, and the key ring that rotates them.
//!
//! Every key is bound to exactly one [`Algorithm`] when it is made. A token's
//! `alg` header only selects among the configured (key, algorithm) pairs of a
//! [`KeyRing`]; it never decides how key material is interpreted.
//!
//! ```
//! use tokengate::keys::{Algorithm, KeyRing, SigningKey};
//!
//! let key = SigningKey::generate(Algorithm::ES256).unwrap();
//! let ring = KeyRing::new(key);
//! let jwks = serde_json::to_value(ring.jwks()).unwrap();
//! assert_eq!(jwks["keys"][0]["alg"], "ES256"); // what /.well-known/jwks.json serves
//! ```

mod algorithm;
mod jwk;
mod ring;
mod signing;
mod verifying;

use std::fmt;

pub use algorithm::{Algorithm, KeyFamily, UnsupportedAlgorithm};
pub use jwk::{Jwk, JwkSecret, JwkSet};
pub use ring::KeyRing;
pub use signing::SigningKey;
pub use verifying::VerifyingKey;

/// The shortest HMAC secret accepted, in bytes.
///
/// ```
/// use tokengate::keys::{Algorithm, MIN_HMAC_SECRET, SigningKey};
///
/// assert!(SigningKey::from_secret(Algorithm::HS256, &[7; MIN_HMAC_SECRET]).is_ok());
/// assert!(SigningKey::from_secret(Algorithm::HS256, &[7; MIN_HMAC_SECRET - 1]).is_err());
/// ```
pub const MIN_HMAC_SECRET: usize = 32;
/// The smallest RSA modulus accepted, in bits.
///
/// ```
/// use tokengate::keys::{Algorithm, MIN_RSA_BITS, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::RS256).unwrap(); // RSA-2048
/// let der = key.verifying_key().public_key_der().unwrap();
/// assert!(der.len() * 8 > MIN_RSA_BITS);
/// ```
pub const MIN_RSA_BITS: usize = 2048;

/// A key id (`kid`).
///
/// ```
/// use tokengate::keys::Kid;
/// assert_eq!(Kid::new("2024-01").as_str(), "2024-01");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Kid(String);

impl Kid {
    /// Wraps a key id.
    ///
    /// ```
    /// use tokengate::keys::Kid;
    ///
    /// assert_eq!(Kid::new("2024-01").to_string(), "2024-01");
    /// ```
    pub fn new(kid: impl Into<String>) -> Self {
        Kid(kid.into())
    }

    /// The key id text.
    ///
    /// ```
    /// use tokengate::keys::Kid;
    ///
    /// assert_eq!(Kid::new(String::from("k1")).as_str(), "k1");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key that cannot be used: a start-up error, never a request error.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyError, SigningKey};
///
/// let err = SigningKey::from_secret(Algorithm::HS256, b"too short").unwrap_err();
/// assert_eq!(err, KeyError::SecretTooShort(9));
/// assert_eq!(err.to_string(), "HMAC secret is 9 bytes; at least 32 bytes are required");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret under [`MIN_HMAC_SECRET`] bytes.
    #[error("HMAC secret is {0} bytes; at least 32 bytes are required")]
    SecretTooShort(usize),
    /// An RSA key under [`MIN_RSA_BITS`] bits.
    #[error("RSA key{} is too small; at least 2048 bits are required", .0.map(|b| format!(" of {b} bits")).unwrap_or_default())]
    RsaTooSmall(Option<usize>),
    /// The key's family does not fit the requested algorithm.
    #[error("{alg} needs a {:?} key, not a {found:?} key", alg.family())]
    WrongFamily {
        /// The requested algorithm.
        alg: Algorithm,
        /// The family of key given.
        found: KeyFamily,
    },
    /// The key material is not a valid key for the algorithm.
    #[error("the key is not a valid {0} key")]
    WrongKeyFor(Algorithm),
    /// The input could not be parsed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A token was to be signed by a ring that only verifies
    /// ([`KeyRing::verify_only`]).
    #[error("the key ring has no signing key")]
    NoSigningKey,
    /// A JWK whose algorithm cannot be determined or is unsupported.
    #[error("{0}")]
    Algorithm(String),
    /// A token to issue would exceed [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN),
    /// which verification refuses.
    #[error("the token would be {0} bytes; at most 8192 are accepted")]
    TokenTooLarge(usize),
}

/// The algorithm for a JWK: the caller's choice, else the JWK's `alg`, else
/// the curve's only algorithm. An `alg` that disagrees with the caller's is refused.
fn jwk_algorithm(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Algorithm, KeyError> {
    let declared = jwk
        .alg
        .as_deref()
        .map(|a| {
            a.parse::<Algorithm>()
                .map_err(|e| KeyError::Algorithm(e.to_string()))
        })
        .transpose()?;
    match (alg, declared) {
        (Some(a), Some(d)) if a != d => {
            Err(KeyError::Algorithm(format!("the JWK is for {d}, not {a}")))
        }
        (Some(a), _) | (None, Some(a)) => Ok(a),
        (None, None) => Algorithm::of_curve(&jwk.kty, jwk.crv.as_deref()).ok_or_else(|| {
            KeyError::Algorithm(format!("the {} JWK has no alg; name one", jwk.kty))
        }),
    }
}
