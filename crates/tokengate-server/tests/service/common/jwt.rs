//! Reading a JWT's segments (unverified).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The decoded JSON of a JWT segment (0: header, 1: claims).
pub(crate) fn jwt_part(token: &str, index: usize) -> Value {
    let segment = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url segment");
    serde_json::from_slice(&bytes).expect("JSON segment")
}

/// The claims of a JWT (not verified).
pub(crate) fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}
