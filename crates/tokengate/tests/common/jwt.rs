//! base64url (unpadded, as in a JWS) and tokens assembled by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokengate::keys::SigningKey;

/// base64url of `bytes`, unpadded.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url of a JSON value's compact text.
pub(crate) fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// The bytes of unpadded base64url `text`.
pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Signs `header_b64.payload_b64` as given and appends the signature.
pub(crate) fn sign_segments(key: &SigningKey, header_b64: &str, payload_b64: &str) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

/// A token with exactly this header and payload JSON text, signed by `key`.
pub(crate) fn craft(key: &SigningKey, header: &str, payload: &str) -> String {
    sign_segments(key, &b64(header.as_bytes()), &b64(payload.as_bytes()))
}

/// A compact JWS of `header` and `claims` signed by `key`.
pub(crate) fn compact(key: &SigningKey, header: &Value, claims: &Value) -> String {
    sign_segments(key, &b64_json(header), &b64_json(claims))
}
