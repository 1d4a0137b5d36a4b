//! JSON Web Keys (RFC 7517) and their thumbprints (RFC 7638).

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A private JWK member (`d`, `k`): never printed.
///
/// ```
/// use tokengate::keys::JwkSecret;
///
/// let secret = JwkSecret::new("c2VjcmV0".into());
/// assert_eq!(format!("{secret:?}"), "[redacted]");
/// assert_eq!(secret.expose(), "c2VjcmV0");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JwkSecret(Zeroizing<String>);

impl JwkSecret {
    /// Wraps a base64url string.
    ///
    /// ```
    /// use tokengate::keys::JwkSecret;
    ///
    /// assert_eq!(JwkSecret::new("AQID".into()).expose(), "AQID");
    /// ```
    pub fn new(value: String) -> Self {
        JwkSecret(Zeroizing::new(value))
    }

    /// The base64url text.
    ///
    /// ```
    /// use tokengate::keys::JwkSecret;
    ///
    /// let secret = JwkSecret::new("c2VjcmV0".into());
    /// assert_eq!(secret.expose(), "c2VjcmV0");
    /// assert!(!format!("{secret:?}").contains("c2VjcmV0"));
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JwkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One JSON Web Key: the members tokengate reads and writes.
///
/// ```
/// use tokengate::keys::Jwk;
///
/// let jwk: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
/// // RFC 8037 A.3
/// assert_eq!(jwk.thumbprint().unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: String,
    /// Intended use; tokengate publishes `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations (`verify`, `sign`, ...); absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// The algorithm this key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve (`P-256`, `P-384`, `P-521`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC / OKP public x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC public y.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private scalar (EC, OKP) or exponent (RSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<JwkSecret>,
    /// Symmetric key value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<JwkSecret>,
}

/// A JWK Set: `{"keys": [...]}`.
///
/// ```
/// use tokengate::keys::{JwkSet, VerifyingKey};
///
/// let jwks: JwkSet = serde_json::from_str(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"sig"}]}"#).unwrap();
/// let key = VerifyingKey::from_jwk(&jwks.keys[0], None).unwrap();
/// assert_eq!(key.kid().as_str(), "k1");
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The RFC 7638 thumbprint (SHA-256, base64url), or `None` when a required
    /// member is missing or `kty` is unknown.
    ///
    /// ```
    /// use tokengate::keys::{Algorithm, Jwk, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256).unwrap();
    /// let jwk = key.verifying_key().to_jwk().unwrap();
    /// assert_eq!(jwk.thumbprint().as_deref(), Some(key.kid().as_str())); // the default kid
    /// assert_eq!(Jwk { kty: "EC".into(), ..Jwk::default() }.thumbprint(), None); // no crv, x, y
    /// ```
    pub fn thumbprint(&self) -> Option<String> {
        let mut members: BTreeMap<&str, &str> = BTreeMap::new();
        members.insert("kty", &self.kty);
        match self.kty.as_str() {
            "RSA" => {
                members.insert("n", self.n.as_deref()?);
                members.insert("e", self.e.as_deref()?);
            }
            "EC" => {
                members.insert("crv", self.crv.as_deref()?);
                members.insert("x", self.x.as_deref()?);
                members.insert("y", self.y.as_deref()?);
            }
            "OKP" => {
                members.insert("crv", self.crv.as_deref()?);
                members.insert("x", self.x.as_deref()?);
            }
            "oct" => {
                members.insert("k", self.k.as_ref()?.expose());
            }
            _ => return None,
        }
        let canonical = Zeroizing::new(serde_json::to_string(&members).ok()?);
        let hash = digest::digest(&digest::SHA256, canonical.as_bytes());
        Some(URL_SAFE_NO_PAD.encode(hash.as_ref()))
    }

    /// This key without its private members.
    ///
    /// ```
    /// use tokengate::keys::Jwk;
    ///
    /// let private: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519",
    ///     "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
    /// let public = private.to_public();
    /// assert!(public.d.is_none());
    /// assert_eq!(public.thumbprint(), private.thumbprint());
    /// ```
    pub fn to_public(&self) -> Jwk {
        Jwk {
            d: None,
            k: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            alg: Some("RS256".into()),
            kid: Some("2011-04-29".into()),
            ..Default::default()
        };
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some(JwkSecret::new("c2VjcmV0".into())),
            ..Default::default()
        };
        assert!(!format!("{jwk:?}").contains("c2VjcmV0"));
    }
}
