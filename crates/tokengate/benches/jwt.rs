//! Issue and verify cost per algorithm, against the bare aws-lc-rs primitive.
//!
//! One criterion group per algorithm (`HS256`, ..., `EdDSA`), each with:
//!
//! - `sign`: [`TokenEngine::issue`] of a typical access token;
//! - `verify`: [`TokenEngine::verify_type`] of such a token (parse, header
//!   rules, signature, payload, claims);
//! - `bare_signature`: the aws-lc-rs check alone on the same signing input
//!   and signature, with a prebuilt `hmac::Key` or a pre-parsed
//!   `ParsedPublicKey` made from the same public key;
//! - `bare_sign`: the aws-lc-rs signing primitive alone on the same input.
//!
//! The group `HS256_profile` splits HS256 verification into its steps. The
//! crate's parser is private, so the steps are rebuilt here from public
//! crates with the same configuration (see `profile`).
//!
//! Run with `cargo bench -p tokengate --bench jwt`; `scripts/bench-report.sh`
//! turns the results into a table.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair};
use aws_lc_rs::{hmac, rand::SecureRandom};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokengate::claims::TokenType;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{NewToken, TokenEngine};

/// The typical access token: `sub`, fresh, two scopes, one extra claim.
fn typical_token() -> NewToken {
    NewToken::access("user-7f3a9c21")
        .fresh()
        .scope("read:messages write:messages")
        .claim("role", json!("editor"))
}

/// The signing input (`header.payload`) and decoded signature of a token.
fn split_token(token: &str) -> (&[u8], Vec<u8>) {
    use base64::Engine;
    let dot = token.rfind('.').expect("three segments");
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token[dot + 1..])
        .expect("base64url signature");
    (&token.as_bytes()[..dot], signature)
}

/// The raw aws-lc-rs signer for an algorithm, made from the same key material
/// as the engine's signing key.
enum RawSigner {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl RawSigner {
    fn sign(&self, rng: &SystemRandom, message: &[u8], buf: &mut [u8]) -> usize {
        match self {
            RawSigner::Hmac(key) => {
                let tag = hmac::sign(key, message);
                let tag = tag.as_ref();
                buf[..tag.len()].copy_from_slice(tag);
                tag.len()
            }
            RawSigner::Rsa(pair, padding) => {
                let len = pair.public_modulus_len();
                pair.sign(*padding, rng, message, &mut buf[..len])
                    .expect("RSA signing");
                len
            }
            RawSigner::Ecdsa(pair) => {
                let sig = pair.sign(rng, message).expect("ECDSA signing");
                let sig = sig.as_ref();
                buf[..sig.len()].copy_from_slice(sig);
                sig.len()
            }
            RawSigner::Ed25519(pair) => {
                let sig = pair.sign(message);
                let sig = sig.as_ref();
                buf[..sig.len()].copy_from_slice(sig);
                sig.len()
            }
        }
    }
}

/// The raw verifier: an HMAC key, or a public key parsed once.
enum RawVerifier {
    Hmac(hmac::Key),
    Public(ParsedPublicKey),
}

impl RawVerifier {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            RawVerifier::Hmac(key) => hmac::verify(key, message, sig).is_ok(),
            RawVerifier::Public(key) => key.verify_sig(message, sig).is_ok(),
        }
    }
}

fn hmac_alg(alg: Algorithm) -> Option<hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn verification_alg(alg: Algorithm) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => unreachable!("HMAC has no public key"),
    }
}

/// The engine's signing key, and the raw aws-lc-rs signer and verifier for
/// the same key material.
fn keys(alg: Algorithm) -> (SigningKey, RawSigner, RawVerifier) {
    if let Some(hmac_alg) = hmac_alg(alg) {
        let mut secret = [0u8; 64];
        SystemRandom::new().fill(&mut secret).expect("random");
        let key = SigningKey::from_secret(alg, &secret).expect("HMAC key");
        let raw = hmac::Key::new(hmac_alg, &secret);
        return (key, RawSigner::Hmac(raw.clone()), RawVerifier::Hmac(raw));
    }
    let key = SigningKey::generate(alg).expect("key generation");
    let spki = key
        .verifying_key()
        .public_key_der()
        .expect("public key")
        .to_vec();
    let verifier = RawVerifier::Public(
        ParsedPublicKey::new(verification_alg(alg), spki).expect("SPKI parses"),
    );
    let pkcs8 = pem::parse(key.to_pkcs8_pem().expect("private key").as_bytes())
        .expect("PEM")
        .into_contents();
    let signer = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 => {
            let padding: &'static dyn signature::RsaEncoding = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                _ => &signature::RSA_PSS_SHA256,
            };
            RawSigner::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).expect("RSA PKCS#8"), padding)
        }
        Algorithm::ES256 => RawSigner::Ecdsa(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .expect("P-256 PKCS#8"),
        ),
        Algorithm::ES384 => RawSigner::Ecdsa(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &pkcs8)
                .expect("P-384 PKCS#8"),
        ),
        Algorithm::EdDSA => RawSigner::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).expect("Ed25519 PKCS#8"),
        ),
        _ => unreachable!("HMAC handled above"),
    };
    (key, signer, verifier)
}

fn bench_algorithm(c: &mut Criterion, alg: Algorithm) {
    let (key, signer, verifier) = keys(alg);
    let engine = TokenEngine::new(KeyRing::new(key));
    let token = engine.issue(typical_token()).expect("issue").token;
    let (signing_input, sig) = split_token(&token);

    // The four measurements must all be of the same, valid token.
    let verified = engine
        .verify_type(&token, TokenType::Access)
        .expect("the token verifies");
    assert_eq!(verified.claims.scopes.len(), 2);
    assert!(verifier.verify(signing_input, &sig), "bare check agrees");
    let rng = SystemRandom::new();
    let mut buf = vec![0u8; 1024];
    let len = signer.sign(&rng, signing_input, &mut buf);
    assert!(
        verifier.verify(signing_input, &buf[..len]),
        "raw signer agrees"
    );

    let mut group = c.benchmark_group(alg.as_str());
    group.bench_function("sign", |b| {
        b.iter(|| engine.issue(black_box(typical_token())).expect("issue"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            engine
                .verify_type(black_box(&token), TokenType::Access)
                .expect("verify")
        })
    });
    group.bench_function("bare_signature", |b| {
        b.iter(|| assert!(verifier.verify(black_box(signing_input), black_box(&sig))))
    });
    group.bench_function("bare_sign", |b| {
        b.iter(|| signer.sign(&rng, black_box(signing_input), black_box(&mut buf)))
    });
    group.finish();
}

fn algorithms(c: &mut Criterion) {
    for alg in Algorithm::ALL {
        bench_algorithm(c, alg);
    }
}

/// HS256 verification, step by step.
///
/// The crate's JWS parser and claim reader are private; each step is rebuilt
/// here the way `jws.rs` and `claims.rs` do it (same base64 configuration, the
/// same duplicate-refusing JSON visitor, the same claim reads), so the steps
/// approximate, not equal, the library's own code. `engine_verify_signature`
/// is the library's public `TokenEngine::verify_signature` (split, header,
/// HMAC, payload base64), measured as is.
mod profile {
    use std::fmt;

    use base64::Engine;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use serde::Deserialize;
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// `jws.rs`'s strict base64url.
    pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    );

    /// `jws.rs`'s JSON object parse, refusing duplicate names at any depth.
    pub(crate) fn parse_object(json: &[u8]) -> Map<String, Value> {
        match serde_json::from_slice::<StrictValue>(json).expect("JSON").0 {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

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

    /// `jws.rs`'s header rules on a parsed header: `alg`, the refused members,
    /// and the `kid`/`typ` copies.
    pub(crate) fn header_rules(fields: &Map<String, Value>) -> (Option<String>, Option<String>) {
        let alg = fields.get("alg").and_then(Value::as_str).expect("alg");
        assert!(!alg.eq_ignore_ascii_case("none"));
        let alg: tokengate::keys::Algorithm = alg.parse().expect("supported alg");
        std::hint::black_box(alg);
        assert!(!fields.contains_key("crit"));
        assert!(fields.get("b64").is_none_or(|b| b == &Value::Bool(true)));
        assert!(
            !["jwk", "jku", "x5u", "x5c"]
                .iter()
                .any(|k| fields.contains_key(*k))
        );
        let string = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        (string("kid"), string("typ"))
    }

    /// The registered claims, read as `Claims::from_payload` reads them.
    #[allow(dead_code)] // the fields are read only through black_box
    pub(crate) struct ClaimsCopy {
        sub: Option<String>,
        iat: Option<i64>,
        nbf: Option<i64>,
        exp: i64,
        jti: Option<String>,
        token_type: Option<String>,
        fresh: Option<bool>,
        csrf: Option<String>,
        iss: Option<String>,
        aud: Vec<String>,
        scopes: Vec<String>,
    }

    pub(crate) fn claims(map: &Map<String, Value>) -> ClaimsCopy {
        let string = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
        let date = |name: &str| map.get(name).and_then(Value::as_i64);
        ClaimsCopy {
            sub: string("sub"),
            iat: date("iat"),
            nbf: date("nbf"),
            exp: date("exp").expect("exp"),
            jti: string("jti"),
            token_type: string("type"),
            fresh: map.get("fresh").and_then(Value::as_bool),
            csrf: string("csrf"),
            iss: string("iss"),
            aud: map
                .get("aud")
                .and_then(Value::as_str)
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default(),
            scopes: map
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }

    /// An alternative to compare with: the payload as a typed struct that
    /// borrows its strings (serde refuses duplicate known members).
    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub(crate) struct BorrowedClaims<'a> {
        #[serde(borrow)]
        sub: Option<&'a str>,
        iat: Option<i64>,
        nbf: Option<i64>,
        exp: i64,
        #[serde(borrow)]
        jti: Option<&'a str>,
        #[serde(rename = "type", borrow)]
        token_type: Option<&'a str>,
        fresh: Option<bool>,
        #[serde(borrow)]
        scope: Option<&'a str>,
    }

    /// The header as a typed struct that borrows its strings.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub(crate) struct BorrowedHeader<'a> {
        #[serde(borrow)]
        alg: &'a str,
        #[serde(borrow)]
        kid: Option<&'a str>,
        #[serde(borrow)]
        typ: Option<&'a str>,
    }

    pub(crate) fn b64(segment: &str) -> Vec<u8> {
        B64.decode(segment).expect("base64url")
    }
}

fn hs256_profile(c: &mut Criterion) {
    use profile::*;
    use tokengate::keys::Algorithm::HS256;

    let (key, _, verifier) = keys(HS256);
    let engine = TokenEngine::new(KeyRing::new(key));
    let token = engine.issue(typical_token()).expect("issue").token;
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let header_json = b64(h);
    let payload_json = b64(p);
    let sig = b64(s);
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    let payload = parse_object(&payload_json);
    let header = parse_object(&header_json);

    let mut group = c.benchmark_group("HS256_profile");
    group.bench_function("engine_verify_signature", |b| {
        b.iter(|| engine.verify_signature(black_box(&token)).expect("valid"))
    });
    group.bench_function("split_b64_header_sig", |b| {
        b.iter(|| {
            let t = black_box(token.as_str());
            assert_eq!(t.bytes().filter(|&b| b == b'.').count(), 2);
            let mut parts = t.splitn(3, '.');
            let h = b64(parts.next().unwrap());
            let _p = parts.next().unwrap();
            let s = b64(parts.next().unwrap());
            (h, s)
        })
    });
    group.bench_function("header_json_strict", |b| {
        b.iter(|| parse_object(black_box(&header_json)))
    });
    group.bench_function("header_rules", |b| {
        b.iter(|| header_rules(black_box(&header)))
    });
    group.bench_function("hmac_verify", |b| {
        b.iter(|| verifier.verify(black_box(signing_input), black_box(&sig)))
    });
    group.bench_function("payload_b64", |b| b.iter(|| b64(black_box(p))));
    group.bench_function("payload_json_strict", |b| {
        b.iter(|| parse_object(black_box(&payload_json)))
    });
    group.bench_function("payload_json_plain_map", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(black_box(
                &payload_json,
            ))
            .expect("JSON")
        })
    });
    group.bench_function("claims_from_map", |b| {
        b.iter(|| claims(black_box(&payload)))
    });
    group.bench_function("clock_now", |b| b.iter(tokengate::token::now));
    group.bench_function("drop_payload_map", |b| {
        b.iter_batched(|| payload.clone(), drop, criterion::BatchSize::SmallInput)
    });
    group.bench_function("alt_header_payload_typed_borrowed", |b| {
        b.iter(|| {
            let h = serde_json::from_slice::<BorrowedHeader<'_>>(black_box(&header_json))
                .expect("header");
            let c = serde_json::from_slice::<BorrowedClaims<'_>>(black_box(&payload_json))
                .expect("claims");
            black_box((h, c));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = algorithms, hs256_profile
}
criterion_main!(benches);
