//! JWKS documents, as fetched from a trusted issuer: any bytes parsed as a
//! JWK set, and every key in it turned into a verifying key (with and
//! without a pinned algorithm). Refusals are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate::keys::{Algorithm, JwkSet, VerifyingKey};

fuzz_target!(|data: &[u8]| {
    let Ok(set) = serde_json::from_slice::<JwkSet>(data) else {
        return;
    };
    for jwk in &set.keys {
        for alg in [
            None,
            Some(Algorithm::RS256),
            Some(Algorithm::PS384),
            Some(Algorithm::ES256),
            Some(Algorithm::ES512),
            Some(Algorithm::EdDSA),
        ] {
            if let Ok(key) = VerifyingKey::from_jwk(jwk, alg) {
                let _ = key.verify_signature(b"message", &[0u8; 64]);
            }
        }
        let _ = jwk.thumbprint();
    }
});
