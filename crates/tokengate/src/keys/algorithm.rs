//! The JWS algorithms tokengate signs and verifies with.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{hmac, signature};

/// A JWS `alg` that tokengate supports. `none` is not one of them.
///
/// | `alg` | key | signature |
/// |---|---|---|
/// | HS256, HS384, HS512 | a shared secret of at least 32 bytes | HMAC with SHA-256/384/512 |
/// | RS256, RS384, RS512 | RSA, at least 2048 bits | RSASSA-PKCS1-v1_5 with SHA-256/384/512 |
/// | PS256, PS384, PS512 | RSA, at least 2048 bits | RSASSA-PSS with SHA-256/384/512, MGF1 with the same hash, a salt as long as the hash |
/// | ES256 | NIST P-256 | ECDSA with SHA-256, `r‖s` of 64 bytes |
/// | ES384 | NIST P-384 | ECDSA with SHA-384, `r‖s` of 96 bytes |
/// | ES512 | NIST P-521 | ECDSA with SHA-512, `r‖s` of 132 bytes |
/// | EdDSA | Ed25519 | Ed25519 |
///
/// An RSA key serves one of the six RSA algorithms, chosen when it is
/// loaded; every other key has exactly one algorithm.
///
/// ```
/// use tokengate::keys::Algorithm;
///
/// let alg: Algorithm = "ES256".parse().unwrap();
/// assert_eq!(alg, Algorithm::ES256);
/// assert_eq!("PS384".parse(), Ok(Algorithm::PS384));
/// assert_eq!(Algorithm::ES512.to_string(), "ES512");
/// assert!("none".parse::<Algorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

/// The family of key an algorithm needs.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyFamily};
///
/// assert_eq!(Algorithm::PS256.family(), KeyFamily::Rsa);
/// assert_eq!(Algorithm::ES512.family(), KeyFamily::P521);
/// assert_eq!(Algorithm::EdDSA.family(), KeyFamily::Ed25519);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA key pair (RS*, PS*).
    Rsa,
    /// A NIST P-256 key pair (ES256).
    P256,
    /// A NIST P-384 key pair (ES384).
    P384,
    /// A NIST P-521 key pair (ES512).
    P521,
    /// An Ed25519 key pair (EdDSA).
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm.
    ///
    /// ```
    /// use tokengate::keys::Algorithm;
    ///
    /// let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
    /// assert_eq!(
    ///     names.join(" "),
    ///     "HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA"
    /// );
    /// ```
    pub const ALL: [Algorithm; 13] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The `alg` string.
    ///
    /// ```
    /// use tokengate::keys::Algorithm;
    ///
    /// assert_eq!(Algorithm::EdDSA.as_str(), "EdDSA");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The key family this algorithm needs.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, KeyFamily};
    ///
    /// assert_eq!(Algorithm::PS256.family(), KeyFamily::Rsa);
    /// assert_eq!(Algorithm::PS512.family(), KeyFamily::Rsa);
    /// assert_eq!(Algorithm::ES384.family(), KeyFamily::P384);
    /// assert_eq!(Algorithm::ES512.family(), KeyFamily::P521);
    /// assert_eq!(Algorithm::EdDSA.family(), KeyFamily::Ed25519);
    /// ```
    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::P256,
            Algorithm::ES384 => KeyFamily::P384,
            Algorithm::ES512 => KeyFamily::P521,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// The one algorithm of a JWK's curve (`kty` `EC` or `OKP`, `crv`);
    /// `None` for RSA and `oct` keys, which serve several, and for curves
    /// tokengate does not support.
    pub(crate) fn of_curve(kty: &str, crv: Option<&str>) -> Option<Algorithm> {
        let crv = crv?;
        Algorithm::ALL.into_iter().find(|alg| match alg.family() {
            KeyFamily::P256 | KeyFamily::P384 | KeyFamily::P521 => {
                kty == "EC" && alg.family().ec_coordinates().map(|(name, _)| name) == Some(crv)
            }
            KeyFamily::Ed25519 => kty == "OKP" && crv == "Ed25519",
            KeyFamily::Hmac | KeyFamily::Rsa => false,
        })
    }

    pub(crate) fn hmac(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::HS256 => Some(hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }

    /// The aws-lc-rs verification algorithm; `None` for HMAC.
    pub(crate) fn verification(self) -> Option<&'static dyn signature::VerificationAlgorithm> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            _ => return None,
        })
    }

    pub(crate) fn rsa_verification(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn rsa_signing(self) -> Option<&'static dyn signature::RsaEncoding> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn ecdsa_signing(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::ES512 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
            _ => None,
        }
    }
}

impl KeyFamily {
    /// For an EC family: the JWK `crv` and the size in bytes of each
    /// coordinate (and of `r` and `s` in a signature).
    pub(crate) fn ec_coordinates(self) -> Option<(&'static str, usize)> {
        match self {
            KeyFamily::P256 => Some(("P-256", 32)),
            KeyFamily::P384 => Some(("P-384", 48)),
            KeyFamily::P521 => Some(("P-521", 66)),
            KeyFamily::Hmac | KeyFamily::Rsa | KeyFamily::Ed25519 => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `alg` string is not one tokengate supports.
///
/// ```
/// use tokengate::keys::{Algorithm, UnsupportedAlgorithm};
///
/// // Case-sensitive, as RFC 7515 requires.
/// assert_eq!("hs256".parse::<Algorithm>(), Err(UnsupportedAlgorithm("hs256".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm {0:?}")]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    /// Exact, case-sensitive match, as RFC 7515 requires of `alg`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnsupportedAlgorithm(s.to_owned()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
