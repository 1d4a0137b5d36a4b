//! Strict parsing of compact JWS: the only code that decodes token bytes.
//!
//! It parses and nothing else: which keys and claims are acceptable is
//! decided in [`crate::token`]. Every rule here runs before any signature
//! check and does bounded work on any input.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;
use crate::keys::Algorithm;

/// Tokens longer than this are refused before any decoding.
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
#[derive(Clone, PartialEq)]
pub struct Header {
    /// The algorithm (never `none`).
    pub alg: Algorithm,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The `typ`, if any.
    pub typ: Option<String>,
    /// Every member, for callers that need custom header parameters.
    pub fields: Map<String, Value>,
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
    pub(crate) header: Header,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the signed bytes.
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload_b64: &'a str,
    pub(crate) signature: Vec<u8>,
}

const MALFORMED: Error = Error::InvalidToken("malformed token");

/// Splits and decodes a compact JWS and applies the header rules.
pub(crate) fn parse_compact(token: &str) -> Result<Compact<'_>, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::InvalidToken("token is too large"));
    }
    // Count before splitting, so a token of many dots costs one pass.
    if token.bytes().filter(|&b| b == b'.').count() != 2 {
        return Err(Error::InvalidToken("token must have three segments"));
    }
    let mut parts = token.splitn(3, '.');
    let (header_b64, payload_b64, signature_b64) = match (parts.next(), parts.next(), parts.next())
    {
        (Some(h), Some(p), Some(s)) => (h, p, s),
        _ => return Err(MALFORMED),
    };
    let header_json = B64.decode(header_b64).map_err(|_| MALFORMED)?;
    let signature = B64.decode(signature_b64).map_err(|_| MALFORMED)?;
    // The payload is decoded only after the signature checks out.
    let header = parse_header(&header_json)?;
    Ok(Compact {
        header,
        signing_input: &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
        payload_b64,
        signature,
    })
}

/// Decodes the payload segment into a JSON object (duplicates refused).
pub(crate) fn decode_payload(payload_b64: &str) -> Result<Map<String, Value>, Error> {
    let bytes = B64.decode(payload_b64).map_err(|_| MALFORMED)?;
    parse_object(&bytes).map_err(|_| Error::InvalidToken("payload is not a JSON object"))
}

fn parse_header(json: &[u8]) -> Result<Header, Error> {
    let fields =
        parse_object(json).map_err(|_| Error::InvalidToken("header is not a JSON object"))?;
    let alg = match fields.get("alg") {
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            return Err(Error::InvalidToken("algorithm none is not accepted"));
        }
        Some(Value::String(alg)) => alg
            .parse::<Algorithm>()
            .map_err(|_| Error::InvalidToken("unsupported algorithm"))?,
        _ => return Err(Error::InvalidToken("header has no algorithm")),
    };
    // We implement no JWS extension, so any `crit` names one we do not understand.
    if fields.contains_key("crit") {
        return Err(Error::InvalidToken("unsupported critical header"));
    }
    if fields.get("b64").is_some_and(|b| b != &Value::Bool(true)) {
        return Err(Error::InvalidToken("unencoded payloads are not accepted"));
    }
    // Keys named by the token itself are never fetched or trusted.
    if ["jwk", "jku", "x5u", "x5c"]
        .iter()
        .any(|k| fields.contains_key(*k))
    {
        return Err(Error::InvalidToken(
            "embedded or remote keys are not accepted",
        ));
    }
    let string = |name: &str| match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::InvalidToken("malformed header")),
    };
    Ok(Header {
        alg,
        kid: string("kid")?,
        typ: string("typ")?,
        fields,
    })
}

/// Parses a JSON object, refusing duplicate member names at every depth.
pub(crate) fn parse_object(json: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    match serde_json::from_slice::<StrictValue>(json)?.0 {
        Value::Object(map) => Ok(map),
        _ => Err(de::Error::custom("not a JSON object")),
    }
}

/// A JSON value whose objects have no duplicate member names.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"b":1,"b":1}]}"#).is_err());
        assert!(parse_object(br#"{"a":1,"b":2}"#).is_ok());
        assert!(parse_object(br#"[1]"#).is_err());
    }

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
