//! `tokengate token decode`, and the lenient decoding that `verify` uses to
//! read a header before it checks anything.

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use clap::Args;
use serde_json::{Map, Value, json};
use tokengate::Error;
use tokengate::TokenRejection;

use crate::cli::{CliError, stdio};

/// Printed on stderr by every successful decode.
const NOT_VERIFIED: &str = "WARNING: NOT VERIFIED — decoded without checking the signature";

/// base64url without padding; [`lenient_b64`] strips padding and maps the
/// standard alphabet first.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Arguments of `token decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The token, or `-` to read it from standard input (at most 8 KiB).
    #[arg(value_name = "TOKEN")]
    token: String,
}

/// A token's header and payload, read without any check.
pub(super) struct Decoded {
    /// The header object.
    pub(super) header: Map<String, Value>,
    /// The payload: its JSON, or its bytes as a base64url string.
    pub(super) payload: Value,
    /// Whether the payload was JSON.
    pub(super) payload_is_json: bool,
}

/// Prints `{"header": ..., "payload": ...}` and the NOT VERIFIED warning.
pub(super) fn run(args: DecodeArgs) -> Result<(), CliError> {
    let token = stdio::read_token(&args.token)?;
    let decoded = decode(&token)?;
    stdio::warn(format_args!("{NOT_VERIFIED}"));
    if !decoded.payload_is_json {
        stdio::warn(format_args!(
            "note: the payload is not JSON; shown as base64url"
        ));
    }
    stdio::print_json(&json!({ "header": decoded.header, "payload": decoded.payload }))
}

/// Splits a compact JWS and decodes its header and payload, leniently (any
/// base64 padding or alphabet, duplicate members allowed) but boundedly:
/// the caller has already refused tokens over 8 KiB.
pub(super) fn decode(token: &str) -> Result<Decoded, Error> {
    if token.bytes().filter(|&b| b == b'.').count() != 2 {
        return Err(TokenRejection::Invalid(
            "not a compact JWS: expected three segments separated by dots",
        )
        .into());
    }
    let mut parts = token.split('.');
    let (header, payload) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let header = lenient_b64(header).ok_or(Error::Token(TokenRejection::Invalid(
        "the header is not base64url",
    )))?;
    let Ok(Value::Object(header)) = serde_json::from_slice(&header) else {
        return Err(TokenRejection::Invalid("the header is not a JSON object").into());
    };
    let payload = lenient_b64(payload).ok_or(Error::Token(TokenRejection::Invalid(
        "the payload is not base64url",
    )))?;
    let (payload, payload_is_json) = match serde_json::from_slice(&payload) {
        Ok(value) => (value, true),
        Err(_) => (Value::String(URL_SAFE_NO_PAD.encode(&payload)), false),
    };
    Ok(Decoded {
        header,
        payload,
        payload_is_json,
    })
}

/// base64url with optional padding, also accepting `+` and `/`.
fn lenient_b64(segment: &str) -> Option<Vec<u8>> {
    let normalized: String = segment
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    LENIENT.decode(normalized).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_padded_and_standard_alphabet() {
        // {"alg":"HS256"} . {"a":"??>"} . sig
        let header = "eyJhbGciOiJIUzI1NiJ9";
        let padded = format!("{header}.eyJhIjoiPz8+In0=.c2ln");
        let d = decode(&padded).unwrap();
        assert_eq!(d.header["alg"], "HS256");
        assert_eq!(d.payload["a"], "??>");
        assert!(d.payload_is_json);
    }

    #[test]
    fn non_json_payload_is_kept_as_base64url() {
        let d = decode("eyJhbGciOiJIUzI1NiJ9.aGVsbG8.").unwrap();
        assert_eq!(d.payload, "aGVsbG8");
        assert!(!d.payload_is_json);
    }

    #[test]
    fn malformed_tokens_are_errors() {
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.!!.x", "WzFd.e30.x"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
