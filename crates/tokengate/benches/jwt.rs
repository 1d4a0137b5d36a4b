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
//! - `bare_sign`: the aws-lc-rs signing primitive alone on the same input;
//! - `verify_ratio_x1000`: the ratio verify/bare_signature, the two timed in
//!   alternating chunks so that it holds up on a busy machine (criterion
//!   shows the ratio times 1000 as nanoseconds).
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
use std::time::{Duration, Instant};

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
// Made once per algorithm; unboxed so the bare measurements add no indirection.
#[allow(clippy::large_enum_variant)]
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
// Made once per algorithm; unboxed so the bare measurements add no indirection.
#[allow(clippy::large_enum_variant)]
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
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
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
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let padding: &'static dyn signature::RsaEncoding = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
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
        Algorithm::ES512 => RawSigner::Ecdsa(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P521_SHA512_FIXED_SIGNING, &pkcs8)
                .expect("P-521 PKCS#8"),
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
    eprintln!(
        "{alg}: the typical access token is {} bytes ({} signed)",
        token.len(),
        signing_input.len()
    );

    // The measurements must all be of the same, valid token.
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
    // `verify` against `bare_signature`, timed in alternating chunks of a
    // few microseconds each, so that load from other processes hits both
    // alike: far steadier than the ratio of two benchmarks run seconds apart.
    // Criterion shows the ratio verify/bare times 1000 as nanoseconds: a
    // reported "1.1000 µs" is a ratio of 1.1. (Not the difference: under load
    // a sample can come out negative, which criterion refuses.)
    let chunk = chunk_for(|| verifier.verify(signing_input, &sig));
    group.bench_function("verify_ratio_x1000", |b| {
        b.iter_custom(|iters| {
            let (mut verify, mut bare) = (Duration::ZERO, Duration::ZERO);
            let (mut left, mut verify_first) = (iters, true);
            while left > 0 {
                let n = left.min(chunk);
                for first in [verify_first, !verify_first] {
                    let start = Instant::now();
                    if first {
                        for _ in 0..n {
                            let verified = engine.verify_type(black_box(&token), TokenType::Access);
                            drop(black_box(verified.expect("verify")));
                        }
                        verify += start.elapsed();
                    } else {
                        for _ in 0..n {
                            assert!(verifier.verify(black_box(signing_input), black_box(&sig)));
                        }
                        bare += start.elapsed();
                    }
                }
                left -= n;
                verify_first = !verify_first;
            }
            let ratio = verify.as_secs_f64() / bare.as_secs_f64().max(1e-12);
            Duration::from_secs_f64(ratio * 1e-6 * iters as f64)
        })
    });
    group.finish();
}

/// How many calls of `f` make a chunk of about 5 µs (1 to 64).
fn chunk_for(mut f: impl FnMut() -> bool) -> u64 {
    let start = Instant::now();
    for _ in 0..64 {
        assert!(black_box(f()));
    }
    let each = start.elapsed().as_nanos() / 64;
    (5_000 / each.max(1)).clamp(1, 64) as u64
}

fn algorithms(c: &mut Criterion) {
    for alg in Algorithm::ALL {
        bench_algorithm(c, alg);
    }
}

/// HS256 verification, step by step.
///
/// The crate's JWS parser and claim reader are private, so each step is
/// rebuilt here the way `jws/mod.rs`, `jws/strict.rs` and `claims.rs` do it
/// (as of commit 3a5266b: the same base64 configuration, the same one-pass
/// duplicate-refusing scan, the same claim reads). The steps approximate,
/// not equal, the library's own code; `engine_verify_signature` and
/// `drop_verified_token` measure the library itself.
mod profile {
    use std::borrow::Cow;
    use std::fmt;

    use base64::Engine;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use serde::Deserialize;
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// `jws`'s strict base64url.
    pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    );

    pub(crate) fn b64(segment: &str) -> Vec<u8> {
        B64.decode(segment).expect("base64url")
    }

    /// `jws::parse_compact` up to the JSON: the length and dot checks, the
    /// split, and the header and signature decoded.
    pub(crate) fn split_and_decode(token: &str) -> (Vec<u8>, &str, Vec<u8>) {
        assert!(token.len() <= tokengate::MAX_TOKEN_LEN);
        assert_eq!(token.bytes().filter(|&b| b == b'.').count(), 2);
        let mut parts = token.splitn(3, '.');
        let (h, p, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        (b64(h), p, b64(s))
    }

    /// `jws/strict.rs`'s value: scalars and arrays kept, objects checked and dropped.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Lite<'de> {
        Null,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(Cow<'de, str>),
        Array(Vec<Lite<'de>>),
        Object,
    }

    impl<'de> Deserialize<'de> for Lite<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(LiteVisitor)
        }
    }

    struct LiteVisitor;

    impl<'de> Visitor<'de> for LiteVisitor {
        type Value = Lite<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Lite<'de>, E> {
            Ok(Lite::Null)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Lite<'de>, E> {
            Ok(Lite::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Lite<'de>, E> {
            Ok(Lite::Int(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Lite<'de>, E> {
            Ok(i64::try_from(v).map_or(Lite::Float(v as f64), Lite::Int))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Lite<'de>, E> {
            Ok(Lite::Float(v))
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Lite<'de>, E> {
            Ok(Lite::Str(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Lite<'de>, E> {
            Ok(Lite::Str(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Lite<'de>, E> {
            Ok(Lite::Str(Cow::Owned(v)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lite<'de>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Lite::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lite<'de>, A::Error> {
            let mut seen = Seen::default();
            while let Some(key) = map.next_key::<Key<'de>>()? {
                seen.insert(key.0)?;
                map.next_value::<Lite<'de>>()?;
            }
            Ok(Lite::Object)
        }
    }

    struct Key<'de>(Cow<'de, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match d.deserialize_str(LiteVisitor)? {
                Lite::Str(s) => Ok(Key(s)),
                _ => Err(de::Error::custom("member name is not a string")),
            }
        }
    }

    #[derive(Default)]
    struct Seen<'de>(Vec<Cow<'de, str>>);

    impl<'de> Seen<'de> {
        fn insert<E: de::Error>(&mut self, key: Cow<'de, str>) -> Result<(), E> {
            if self.0.contains(&key) {
                return Err(E::custom("duplicate member name"));
            }
            self.0.push(key);
            Ok(())
        }
    }

    /// `jws/strict.rs`'s one-pass scan of an object for the named members.
    pub(crate) fn scan<'de, const N: usize>(
        json: &'de [u8],
        wanted: &[&str; N],
    ) -> [Option<Lite<'de>>; N] {
        let mut de = serde_json::Deserializer::from_slice(json);
        let found = Scan { wanted }.deserialize(&mut de).expect("JSON object");
        de.end().expect("nothing after the object");
        found
    }

    struct Scan<'w, const N: usize> {
        wanted: &'w [&'w str; N],
    }

    impl<'de, const N: usize> DeserializeSeed<'de> for Scan<'_, N> {
        type Value = [Option<Lite<'de>>; N];

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, const N: usize> Visitor<'de> for Scan<'_, N> {
        type Value = [Option<Lite<'de>>; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found: [Option<Lite<'de>>; N] = std::array::from_fn(|_| None);
            let mut seen = Seen::default();
            while let Some(Key(key)) = map.next_key()? {
                let slot = self.wanted.iter().position(|w| *w == key);
                seen.insert(key)?;
                let value = map.next_value::<Lite<'de>>()?;
                if let Some(i) = slot {
                    found[i] = Some(value);
                }
            }
            Ok(found)
        }
    }

    const HEADER_MEMBERS: [&str; 9] = [
        "alg", "kid", "typ", "crit", "b64", "jwk", "jku", "x5u", "x5c",
    ];

    /// `jws::parse_header`: the scan, the header rules, `kid`/`typ` copied.
    pub(crate) fn header(
        json: &[u8],
    ) -> (tokengate::keys::Algorithm, Option<String>, Option<String>) {
        let [alg, kid, typ, crit, b64, jwk, jku, x5u, x5c] = scan(json, &HEADER_MEMBERS);
        let alg = match alg {
            Some(Lite::Str(alg)) if !alg.eq_ignore_ascii_case("none") => {
                alg.parse().expect("supported alg")
            }
            _ => panic!("bad alg"),
        };
        assert!(crit.is_none());
        assert!(b64.is_none_or(|b| b == Lite::Bool(true)));
        assert!(jwk.is_none() && jku.is_none() && x5u.is_none() && x5c.is_none());
        let string = |v: Option<Lite<'_>>| match v {
            None => None,
            Some(Lite::Str(s)) => Some(s.into_owned()),
            Some(_) => panic!("malformed header"),
        };
        (alg, string(kid), string(typ))
    }

    const REGISTERED: [&str; 12] = [
        "sub", "iat", "nbf", "exp", "jti", "type", "fresh", "csrf", "iss", "aud", "scope", "fam",
    ];

    /// The registered claims, read as `Claims::from_json` reads them.
    #[allow(dead_code)] // the fields are read only through black_box
    pub(crate) struct ClaimsCopy {
        sub: Option<String>,
        iat: Option<i64>,
        nbf: Option<i64>,
        exp: i64,
        jti: Option<String>,
        token_type: Option<bool>,
        fresh: Option<bool>,
        csrf: Option<String>,
        iss: Option<String>,
        aud: Vec<String>,
        scopes: Vec<String>,
        family: Option<String>,
    }

    /// `Claims::from_json`'s scan of the payload alone.
    pub(crate) fn payload_scan(json: &[u8]) -> [Option<Lite<'_>>; 12] {
        scan(json, &REGISTERED)
    }

    /// `Claims::from_json`: the scan, then the typed, owned claims.
    pub(crate) fn claims(json: &[u8]) -> ClaimsCopy {
        let [
            sub,
            iat,
            nbf,
            exp,
            jti,
            token_type,
            fresh,
            csrf,
            iss,
            aud,
            scope,
            fam,
        ] = payload_scan(json);
        let string = |v: Option<Lite<'_>>| match v {
            None => None,
            Some(Lite::Str(s)) => Some(s.into_owned()),
            Some(_) => panic!("not a string"),
        };
        let date = |v: Option<Lite<'_>>| match v {
            None => None,
            Some(Lite::Int(i)) => Some(i),
            Some(Lite::Float(f)) => Some(f.trunc() as i64),
            Some(_) => panic!("not a date"),
        };
        let strings = |v: Option<Lite<'_>>, split: bool| match v {
            None => Vec::new(),
            Some(Lite::Str(s)) if split => s.split_whitespace().map(str::to_owned).collect(),
            Some(Lite::Str(s)) => vec![s.into_owned()],
            Some(_) => panic!("not strings"),
        };
        ClaimsCopy {
            sub: string(sub),
            iat: date(iat),
            nbf: date(nbf),
            exp: date(exp).expect("exp"),
            jti: string(jti),
            token_type: token_type.map(|t| t == Lite::Str("access".into())),
            fresh: match fresh {
                Some(Lite::Bool(b)) => Some(b),
                _ => None,
            },
            csrf: string(csrf),
            iss: string(iss),
            aud: strings(aud, false),
            scopes: strings(scope, true),
            family: string(fam),
        }
    }

    /// For comparison, the parse before commit a1a117d: a whole
    /// `Map<String, Value>` tree, refusing duplicates at any depth.
    pub(crate) fn tree(json: &[u8]) -> Map<String, Value> {
        match serde_json::from_slice::<TreeValue>(json).expect("JSON").0 {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    struct TreeValue(Value);

    impl<'de> Deserialize<'de> for TreeValue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(TreeVisitor).map(TreeValue)
        }
    }

    struct TreeVisitor;

    impl<'de> Visitor<'de> for TreeVisitor {
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
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(TreeValue(v)) = seq.next_element()? {
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
                let TreeValue(value) = access.next_value()?;
                map.insert(key, value);
            }
            Ok(Value::Object(map))
        }
    }

    /// For comparison, a lower bound: typed structs that borrow their
    /// strings (serde refuses duplicate *known* members only).
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
}

fn hs256_profile(c: &mut Criterion) {
    use profile::*;
    use tokengate::keys::Algorithm::HS256;

    let (key, _, verifier) = keys(HS256);
    let engine = TokenEngine::new(KeyRing::new(key));
    let token = engine.issue(typical_token()).expect("issue").token;
    let (header_json, p, sig) = split_and_decode(&token);
    let payload_json = b64(p);
    let signing_input = &token.as_bytes()[..token.rfind('.').unwrap()];
    let verified = engine
        .verify_type(&token, TokenType::Access)
        .expect("valid");

    let mut group = c.benchmark_group("HS256_profile");
    group.bench_function("engine_verify_signature", |b| {
        b.iter(|| engine.verify_signature(black_box(&token)).expect("valid"))
    });
    group.bench_function("split_b64_header_sig", |b| {
        b.iter(|| split_and_decode(black_box(&token)))
    });
    group.bench_function("header_scan_rules", |b| {
        b.iter(|| header(black_box(&header_json)))
    });
    group.bench_function("hmac_verify", |b| {
        b.iter(|| verifier.verify(black_box(signing_input), black_box(&sig)))
    });
    group.bench_function("payload_b64", |b| b.iter(|| b64(black_box(p))));
    group.bench_function("payload_scan", |b| {
        b.iter(|| payload_scan(black_box(&payload_json)))
    });
    group.bench_function("payload_scan_claims", |b| {
        b.iter(|| claims(black_box(&payload_json)))
    });
    group.bench_function("clock_now", |b| b.iter(tokengate::clock::now));
    group.bench_function("drop_verified_token", |b| {
        b.iter_batched(|| verified.clone(), drop, criterion::BatchSize::SmallInput)
    });
    group.bench_function("alt_tree_header_payload", |b| {
        b.iter(|| {
            (
                tree(black_box(&header_json)),
                tree(black_box(&payload_json)),
            )
        })
    });
    group.bench_function("alt_typed_borrowed_header_payload", |b| {
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
        .sample_size(50)
        // The JSON estimates are all the report reads; plots only cost time.
        .without_plots();
    targets = algorithms, hs256_profile
}
criterion_main!(benches);
