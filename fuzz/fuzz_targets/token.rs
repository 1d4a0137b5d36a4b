//! Token decoding: any bytes through `TokenEngine::verify`, and any header or
//! payload JSON behind a valid signature, so that the fuzzer reaches header
//! rules and claim checks, not only the signature check.
//!
//! Input: the first byte picks the mode and the key; the rest is the token
//! (mode 0), the payload signed under a valid header (1), or the header
//! over a valid payload (2).
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{TokenEngine, Validation};

// Fixed keys of the fuzz targets only (never used anywhere else), so that
// corpus entries stay valid from one run to the next.
const ES256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9lxha8bCTNSkBP5k
RAeRB99PF75fi1h5dnWxut4SQqyhRANCAASP1vIFIWlVq/RI/dxKHjox8AYmpeoA
qVpUuUkv31EW5mQqDz6YgaI9NRf0xuxCqJlbQowYnEnT3Nh5c1aQWk+z
-----END PRIVATE KEY-----
";
const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKtxjIiOZ+n599pNPhCKfyMde6bdpX/eiStIpQOSepIX
-----END PRIVATE KEY-----
";

struct Keyed {
    key: SigningKey,
    engine: TokenEngine,
}

/// The fuzz targets' key number `i` (a fresh copy each call: keys are not
/// `Clone`, so the engine and the signer each get one).
fn key(i: usize) -> SigningKey {
    match i {
        0 => SigningKey::from_secret(Algorithm::HS256, b"tokengate fuzzing secret, 32 bytes!"),
        1 => SigningKey::from_pem(ES256_PEM, Some(Algorithm::ES256)),
        _ => SigningKey::from_pem(ED25519_PEM, Some(Algorithm::EdDSA)),
    }
    .expect("the fuzzing keys are valid")
}

static ENGINES: LazyLock<Vec<Keyed>> = LazyLock::new(|| {
    (0..3)
        .map(|i| Keyed {
            engine: TokenEngine::new(KeyRing::new(key(i)))
                .with_validation(Validation::new().issuer("fuzz").audience(["api"])),
            key: key(i),
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let keyed = &ENGINES[usize::from(selector >> 4) % ENGINES.len()];
    match selector % 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                // Refused or accepted (a corpus token may be valid): never a panic.
                let _ = keyed.engine.verify(token);
            }
        }
        1 => check_signed(keyed, rest, &header(keyed)),
        _ => check_signed(keyed, PAYLOAD, rest),
    }
});

/// A payload the engines accept (until 2100).
const PAYLOAD: &[u8] = br#"{"fresh":false,"iat":1700000000,"jti":"j1","type":"access","sub":"a","nbf":1700000000,"exp":4102444800,"iss":"fuzz","aud":"api"}"#;

fn header(keyed: &Keyed) -> Vec<u8> {
    format!(
        r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#,
        keyed.key.algorithm(),
        keyed.key.kid()
    )
    .into_bytes()
}

/// Signs `header.payload` with the engine's own key and verifies it: what
/// the engine reports as accepted is exactly the payload that was signed.
fn check_signed(keyed: &Keyed, payload: &[u8], header: &[u8]) {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = keyed.key.sign(input.as_bytes()).unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    if let Ok(verified) = keyed.engine.verify(&token) {
        assert_eq!(verified.payload_json(), payload);
    }
}
