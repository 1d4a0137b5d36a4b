//! Strict parsing of compact JWS: the only code that decodes token bytes.
//!
//! It parses and nothing else: which keys and claims are acceptable is
//! decided in [`crate::token`]. Every rule here runs before any signature
//! check and does bounded work on any input.

mod strict;

pub(crate) use strict::{ClaimValue, scan};

use crate::TokenRejection;
use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::{Map, Value};

use crate::keys::Algorithm;

/// Tokens longer than this are refused before any decoding.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::TokenEngine;
///
/// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
/// let huge = "a".repeat(tokengate::MAX_TOKEN_LEN + 1);
/// assert_eq!(engine.verify(&huge).unwrap_err().code(), "invalid_token");
/// ```
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// base64url without padding, refusing padding, whitespace, the standard
/// alphabet's `+` and `/`, and non-canonical trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The protected header of a token, after the header rules passed.
///
/// ```
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::{NewToken, TokenEngine};
///
/// let key = SigningKey::generate(Algorithm::ES256).unwrap();
/// let kid = key.kid().as_str().to_owned();
/// let engine = TokenEngine::new(KeyRing::new(key));
/// let verified = engine.verify(&engine.issue(NewToken::access("alice")).unwrap().token).unwrap();
/// assert_eq!(verified.header.alg, Algorithm::ES256);
/// assert_eq!(verified.header.kid.as_deref(), Some(kid.as_str()));
/// assert_eq!(verified.header.typ.as_deref(), Some("JWT"));
/// assert_eq!(verified.header.fields()["typ"], "JWT");
/// ```
#[derive(Clone, PartialEq)]
pub struct Header {
    /// The algorithm (never `none`).
    pub alg: Algorithm,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The `typ`, if any.
    pub typ: Option<String>,
    json: Vec<u8>,
}

impl Header {
    /// Every member, for callers that need custom header parameters.
    ///
    /// ```
    /// use serde_json::json;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::{NewToken, TokenEngine};
    ///
    /// let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(Algorithm::EdDSA).unwrap()));
    /// let mut new = NewToken::access("alice");
    /// new.headers.insert("x-tenant".into(), json!("acme")); // a custom header parameter
    /// let verified = engine.verify(&engine.issue(new).unwrap().token).unwrap();
    /// assert_eq!(verified.header.fields()["x-tenant"], "acme");
    /// ```
    pub fn fields(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish()
    }
}

/// A compact JWS split into its parts, header rules checked, signature not yet.
pub(crate) struct Compact<'a> {
    pub(crate) header: Arc<Header>,
    pub(crate) header_b64: &'a str,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the signed bytes.
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload_b64: &'a str,
    pub(crate) signature: Vec<u8>,
}

const MALFORMED: TokenRejection = TokenRejection::Invalid("malformed token");

/// Splits and decodes a compact JWS and applies the header rules.
pub(crate) fn parse_compact<'t>(
    token: &'t str,
    known: &HeaderCache,
) -> Result<Compact<'t>, TokenRejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenRejection::Invalid("token is too large"));
    }
    // Three segments, found with one pass over the bytes whatever the input.
    let three = |(header, rest): (&'t str, &'t str)| {
        let (payload, signature) = rest.split_once('.')?;
        (!signature.contains('.')).then_some((header, payload, signature))
    };
    let Some((header_b64, payload_b64, signature_b64)) = token.split_once('.').and_then(three)
    else {
        return Err(TokenRejection::Invalid("token must have three segments"));
    };
    let signature = B64.decode(signature_b64).map_err(|_| MALFORMED)?;
    let header = match known.get(header_b64) {
        Some(header) => header,
        None => Arc::new(parse_header(
            B64.decode(header_b64).map_err(|_| MALFORMED)?,
        )?),
    };
    // The payload is decoded only after the signature checks out.
    Ok(Compact {
        header,
        header_b64,
        signing_input: &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
        payload_b64,
        signature,
    })
}

/// Headers of tokens whose signature verified, by their encoded text: the
/// few headers an issuer uses recur on every token, and decoding and
/// reading them again would be a fifth of an HS256 verification.
#[derive(Debug, Default)]
pub(crate) struct HeaderCache(RwLock<Vec<(Box<str>, Arc<Header>)>>);

/// An issuer has a handful of (alg, kid, typ) combinations.
const KNOWN_HEADERS: usize = 8;

impl HeaderCache {
    fn get(&self, header_b64: &str) -> Option<Arc<Header>> {
        let known = self.0.read().unwrap_or_else(|e| e.into_inner());
        known
            .iter()
            .find(|(b64, _)| **b64 == *header_b64)
            .map(|(_, h)| h.clone())
    }

    /// Remembers the header of a token whose signature verified (never an
    /// unverified one, so forged tokens cannot fill or poison the cache).
    pub(crate) fn remember(&self, header_b64: &str, header: &Arc<Header>) {
        let mut known = self.0.write().unwrap_or_else(|e| e.into_inner());
        if known.iter().any(|(b64, _)| **b64 == *header_b64) {
            return;
        }
        if known.len() >= KNOWN_HEADERS {
            known.remove(0);
        }
        known.push((header_b64.into(), header.clone()));
    }
}

/// Decodes a segment of base64url, strictly.
pub(crate) fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenRejection> {
    B64.decode(segment).map_err(|_| MALFORMED)
}

const HEADER_MEMBERS: [&str; 9] = [
    "alg", "kid", "typ", "crit", "b64", "jwk", "jku", "x5u", "x5c",
];

fn parse_header(json: Vec<u8>) -> Result<Header, TokenRejection> {
    let [alg, kid, typ, crit, b64, jwk, jku, x5u, x5c] = strict::scan(&json, &HEADER_MEMBERS)
        .map_err(|_| TokenRejection::Invalid("header is not a JSON object"))?;
    let alg = match alg {
        Some(ClaimValue::Str(alg)) if alg.eq_ignore_ascii_case("none") => {
            return Err(TokenRejection::Invalid("algorithm none is not accepted"));
        }
        Some(ClaimValue::Str(alg)) => alg
            .parse::<Algorithm>()
            .map_err(|_| TokenRejection::Invalid("unsupported algorithm"))?,
        _ => return Err(TokenRejection::Invalid("header has no algorithm")),
    };
    // We implement no JWS extension, so any `crit` names one we do not understand.
    if crit.is_some() {
        return Err(TokenRejection::Invalid("unsupported critical header"));
    }
    if b64.is_some_and(|b| b != ClaimValue::Bool(true)) {
        return Err(TokenRejection::Invalid(
            "unencoded payloads are not accepted",
        ));
    }
    // Keys named by the token itself are never fetched or trusted.
    if jwk.is_some() || jku.is_some() || x5u.is_some() || x5c.is_some() {
        return Err(TokenRejection::Invalid(
            "embedded or remote keys are not accepted",
        ));
    }
    let string = |value: Option<ClaimValue<'_>>| match value {
        None => Ok(None),
        Some(ClaimValue::Str(s)) => Ok(Some(s.into_owned())),
        Some(_) => Err(TokenRejection::Invalid("malformed header")),
    };
    let (kid, typ) = (string(kid)?, string(typ)?);
    Ok(Header {
        alg,
        kid,
        typ,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_must_be_canonical_url_safe_unpadded() {
        assert!(B64.decode("eyJ9").is_ok());
        assert!(B64.decode("eyJ9==").is_err());
        assert!(B64.decode("ey J9").is_err());
        assert!(B64.decode("ey+9").is_err());
        // "QR" carries non-zero trailing bits.
        assert!(B64.decode("QR").is_err());
    }
}
