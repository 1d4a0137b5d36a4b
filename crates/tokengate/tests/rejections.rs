//! Every way a token is refused, with the error code a client sees.
//!
//! Tokens are crafted from raw header and payload JSON text and signed by
//! the ring's real key over exactly the bytes sent, so in each case the
//! defect under test is the only thing wrong with the token. All times are
//! fixed (`verify_at`), except for `verify_type`, which reads the clock: it
//! is only given tokens valid from a moment before for minutes to come.

mod common;

use std::fmt::Debug;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::{Map, Value, json};
use tokengate::Error;
use tokengate::claims::TokenType;
use tokengate::keys::{Algorithm, Jwk, KeyError, KeyRing, Kid, SigningKey, VerifyingKey};
use tokengate::token::{NewToken, TokenEngine, Validation};

use common::jwt::{b64, craft, sign_segments, unb64};

/// The verification time of every crafted token.
const NOW: i64 = 1_700_000_000;
const KID: &str = "k1";

/// RFC 8037 A.1: a fixed Ed25519 key, so every signature here is deterministic.
const ED_PRIVATE_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519",
 "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
 "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

// ------------------------------------------------------------- helpers

/// base64url of `n` bytes, unpadded.
fn b64_len(n: usize) -> usize {
    (4 * n).div_ceil(3)
}

fn fixed_key() -> SigningKey {
    let jwk: Jwk = serde_json::from_str(ED_PRIVATE_JWK).unwrap();
    SigningKey::from_jwk(&jwk, None)
        .unwrap()
        .with_kid(Kid::new(KID))
}

/// The engine under test: one Ed25519 key, kid `k1`, default policy.
fn engine() -> TokenEngine {
    TokenEngine::new(KeyRing::new(fixed_key()))
}

fn key(engine: &TokenEngine) -> &SigningKey {
    engine.keys().signing_key().unwrap()
}

fn header() -> String {
    format!(r#"{{"alg":"EdDSA","kid":"{KID}","typ":"JWT"}}"#)
}

/// A complete, valid claim set at `NOW`.
fn claims() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "sub": "alice",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 900,
        "jti": "0f8e2b2c-6d4a-4c1e-9a53-3f0b7d1c2e4a",
        "type": "access",
        "fresh": false,
    }) else {
        unreachable!()
    };
    map
}

/// The valid claim set, changed by `edit`, as JSON text.
fn claims_with(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut map = claims();
    edit(&mut map);
    serde_json::to_string(&map).unwrap()
}

fn valid_payload() -> String {
    claims_with(|_| {})
}

/// Asserts that `result` is an error with `code`.
#[track_caller]
fn assert_code<T: Debug>(result: Result<T, Error>, code: &str) {
    match result {
        Ok(v) => panic!("accepted, expected {code}: {v:?}"),
        Err(e) => assert_eq!(e.code(), code, "wrong code for error {e:?}"),
    }
}

/// Asserts that both the full verification and the signature-only path
/// refuse `token` as `invalid_token`: for defects of structure and header.
#[track_caller]
fn assert_invalid_everywhere(engine: &TokenEngine, token: &str) {
    assert_code(engine.verify_at(token, NOW), "invalid_token");
    assert_code(engine.verify_signature(token), "invalid_token");
}

// ------------------------------------------------------------- baseline

#[test]
fn crafted_baseline_token_verifies() {
    let engine = engine();
    let token = craft(key(&engine), &header(), &valid_payload());
    let verified = engine.verify_at(&token, NOW).unwrap();
    assert_eq!(verified.subject(), "alice");
    assert_eq!(verified.header.kid.as_deref(), Some(KID));
    assert!(engine.verify_signature(&token).is_ok());
    // The engine's own tokens verify too.
    let issued = engine.issue(NewToken::access("alice")).unwrap();
    assert!(engine.verify(&issued.token).is_ok());
}

// ------------------------------------------------------------- alg none

#[test]
fn alg_none_in_any_spelling_is_refused() {
    let ed = engine();
    let hs = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS256, &[7u8; 32]).unwrap(),
    ));
    let payload = b64(valid_payload().as_bytes());
    for spelling in ["none", "None", "NONE", "nOnE", "NoNe"] {
        for header in [
            format!(r#"{{"alg":"{spelling}"}}"#),
            format!(r#"{{"alg":"{spelling}","typ":"JWT"}}"#),
            format!(r#"{{"alg":"{spelling}","kid":"{KID}","typ":"JWT"}}"#),
        ] {
            let h = b64(header.as_bytes());
            let signed = sign_segments(key(&ed), &h, &payload);
            for engine in [&ed, &hs] {
                // Empty signature, as a `none` token has.
                assert_invalid_everywhere(engine, &format!("{h}.{payload}."));
                // A signature that is right for the ring's key.
                assert_invalid_everywhere(engine, &signed);
            }
        }
    }
}

#[test]
fn unsupported_or_missing_alg_is_refused() {
    let engine = engine();
    let payload = valid_payload();
    for header in [
        r#"{"alg":"eddsa","kid":"k1"}"#,
        r#"{"alg":"EDDSA","kid":"k1"}"#,
        r#"{"alg":"Ed25519","kid":"k1"}"#,
        r#"{"alg":"ES512","kid":"k1"}"#,
        r#"{"alg":"HS1024","kid":"k1"}"#,
        r#"{"alg":"","kid":"k1"}"#,
        r#"{"alg":" EdDSA","kid":"k1"}"#,
        r#"{"alg":5,"kid":"k1"}"#,
        r#"{"alg":null,"kid":"k1"}"#,
        r#"{"alg":["EdDSA"],"kid":"k1"}"#,
        r#"{"kid":"k1"}"#,
        r#"{}"#,
    ] {
        let token = craft(key(&engine), header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
}

// ------------------------------------------------------------- duplicates

#[test]
fn duplicate_header_members_are_refused() {
    let engine = engine();
    let payload = valid_payload();
    for header in [
        r#"{"alg":"EdDSA","alg":"EdDSA","kid":"k1"}"#,
        r#"{"alg":"none","alg":"EdDSA","kid":"k1"}"#,
        r#"{"alg":"EdDSA","kid":"other","kid":"k1"}"#,
        r#"{"alg":"EdDSA","kid":"k1","typ":"JWT","typ":"JWT"}"#,
        // The same name, once escaped.
        r#"{"alg":"EdDSA","kid":"k1","\u0061lg":"EdDSA"}"#,
        // Nested.
        r#"{"alg":"EdDSA","kid":"k1","x":{"a":1,"a":2}}"#,
    ] {
        let token = craft(key(&engine), header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
}

#[test]
fn duplicate_payload_members_are_refused() {
    let engine = engine();
    let base = valid_payload();
    let body = &base[1..]; // without the opening brace
    for payload in [
        format!(r#"{{"sub":"mallory",{body}"#),
        format!(r#"{{"exp":{},{body}"#, NOW + 1_000_000),
        format!(r#"{{"type":"refresh",{body}"#),
        format!(r#"{{"\u0073ub":"mallory",{body}"#),
        format!(r#"{{"role":{{"admin":false,"admin":true}},{body}"#),
        format!(r#"{{"roles":[{{"a":1,"a":1}}],{body}"#),
    ] {
        let token = craft(key(&engine), &header(), &payload);
        assert_code(engine.verify_at(&token, NOW), "invalid_token");
    }
    // The payload without the duplicate is fine.
    let token = craft(key(&engine), &header(), &base);
    assert!(engine.verify_at(&token, NOW).is_ok());
}

// ------------------------------------------------------------- crit, b64

#[test]
fn crit_is_refused_in_every_form() {
    let engine = engine();
    let payload = valid_payload();
    for crit in [
        r#"["exp"]"#,
        r#"["kid"]"#,
        r#"["b64"]"#,
        r#"["x-unknown"]"#,
        "5",
        "[]",
        r#""exp""#,
        "null",
        "{}",
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":"k1","crit":{crit}}}"#);
        let token = craft(key(&engine), &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
    // RFC 7797's form of an unencoded payload.
    let header = r#"{"alg":"EdDSA","kid":"k1","b64":false,"crit":["b64"]}"#;
    assert_invalid_everywhere(&engine, &craft(key(&engine), header, &payload));
}

#[test]
fn unencoded_payload_is_refused() {
    let engine = engine();
    let payload = valid_payload();
    for b64_value in ["false", r#""false""#, "0", "null"] {
        let header = format!(r#"{{"alg":"EdDSA","kid":"k1","b64":{b64_value}}}"#);
        let token = craft(key(&engine), &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
    // The unencoded form itself: the raw payload as the middle segment.
    let header = b64(br#"{"alg":"EdDSA","kid":"k1","b64":false}"#);
    let token = sign_segments(key(&engine), &header, &payload);
    assert_invalid_everywhere(&engine, &token);
}

// ------------------------------------------------------------- base64 form

/// Padded base64url, with trailing JSON whitespace added until padding is needed.
fn padded(json: &str) -> String {
    let encoded = URL_SAFE.encode(unaligned(json).as_bytes());
    assert!(encoded.ends_with('='));
    encoded
}

#[test]
fn base64_padding_is_refused_in_any_segment() {
    let engine = engine();
    let k = key(&engine);
    let h = b64(header().as_bytes());
    let p = b64(valid_payload().as_bytes());

    // Padded header, signed over as sent.
    assert_invalid_everywhere(&engine, &sign_segments(k, &padded(&header()), &p));
    // Padded payload, signed over as sent.
    let token = sign_segments(k, &h, &padded(&valid_payload()));
    assert_invalid_everywhere(&engine, &token);
    // Padded signature (64 bytes: "==").
    let input = format!("{h}.{p}");
    let sig = URL_SAFE.encode(k.sign(input.as_bytes()).unwrap());
    assert!(sig.ends_with("=="));
    assert_invalid_everywhere(&engine, &format!("{input}.{sig}"));
    // Padding characters where none could belong.
    let valid = sign_segments(k, &h, &p);
    assert_invalid_everywhere(&engine, &format!("{valid}="));
    assert_invalid_everywhere(&engine, &format!("{valid}=="));
    let token = sign_segments(k, &format!("{h}="), &p);
    assert_invalid_everywhere(&engine, &token);
    let token = sign_segments(k, &h, &format!("{p}="));
    assert_invalid_everywhere(&engine, &token);
    let token = sign_segments(k, &format!("={h}"), &p);
    assert_invalid_everywhere(&engine, &token);
}

fn insert_at_middle(segment: &str, what: char) -> String {
    let mid = segment.len() / 2;
    format!("{}{what}{}", &segment[..mid], &segment[mid..])
}

#[test]
fn whitespace_is_refused_in_any_segment() {
    let engine = engine();
    let k = key(&engine);
    let h = b64(header().as_bytes());
    let p = b64(valid_payload().as_bytes());
    let input = format!("{h}.{p}");
    let sig = b64(&k.sign(input.as_bytes()).unwrap());
    for ws in [' ', '\t', '\n', '\r', '\u{a0}'] {
        let token = sign_segments(k, &insert_at_middle(&h, ws), &p);
        assert_invalid_everywhere(&engine, &token);
        let token = sign_segments(k, &h, &insert_at_middle(&p, ws));
        assert_invalid_everywhere(&engine, &token);
        let token = format!("{input}.{}", insert_at_middle(&sig, ws));
        assert_invalid_everywhere(&engine, &token);
        // Around the whole token.
        assert_invalid_everywhere(&engine, &format!("{ws}{input}.{sig}"));
        assert_invalid_everywhere(&engine, &format!("{input}.{sig}{ws}"));
    }
}

/// The first JSON text from `make` whose base64url has both `-` and `_`.
/// ASCII text only encodes to those from a `>` or `?` at a byte offset of
/// 2 mod 3, which "???>>>" provides at any alignment.
fn with_url_safe_chars(make: impl Fn(usize) -> String) -> String {
    (0..10_000)
        .map(make)
        .find(|json| {
            let e = b64(json.as_bytes());
            e.contains('-') && e.contains('_')
        })
        .expect("some text encodes with - and _")
}

#[test]
fn standard_alphabet_characters_are_refused() {
    let engine = engine();
    let k = key(&engine);
    let header_json =
        with_url_safe_chars(|i| format!(r#"{{"alg":"EdDSA","kid":"k1","p":"???>>>{i}"}}"#));
    let payload_json = with_url_safe_chars(|i| {
        claims_with(|c| {
            c.insert("p".into(), json!(format!("???>>>{i}")));
        })
    });
    let h = b64(header_json.as_bytes());
    let p = b64(payload_json.as_bytes());
    // The url-safe token itself is fine.
    assert!(engine.verify_at(&sign_segments(k, &h, &p), NOW).is_ok());

    for (from, to) in [('-', '+'), ('_', '/')] {
        let std_h = h.replace(from, &to.to_string());
        let std_p = p.replace(from, &to.to_string());
        assert_invalid_everywhere(&engine, &sign_segments(k, &std_h, &p));
        assert_invalid_everywhere(&engine, &sign_segments(k, &h, &std_p));
    }

    // A signature holding '-' and one holding '_': vary the jti until each occurs.
    for (from, to) in [('-', '+'), ('_', '/')] {
        let token = (0..1000)
            .map(|i| {
                let payload = claims_with(|c| {
                    c.insert("jti".into(), json!(format!("jti-{i}")));
                });
                craft(k, &header(), &payload)
            })
            .find(|t| t.rsplit('.').next().unwrap().contains(from))
            .unwrap();
        assert!(engine.verify_at(&token, NOW).is_ok());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let forged = format!("{input}.{}", sig.replace(from, &to.to_string()));
        assert_invalid_everywhere(&engine, &forged);
    }
}

/// `segment` with the lowest of its last character's unused bits set: the
/// same bytes, in a non-canonical encoding.
fn with_trailing_bit(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(
        segment.len() % 4,
        0,
        "the last character must carry unused bits"
    );
    let mut bytes = segment.as_bytes().to_vec();
    let last = bytes.last_mut().unwrap();
    let index = ALPHABET.iter().position(|c| c == last).unwrap();
    assert_eq!(index & 1, 0);
    *last = ALPHABET[index | 1];
    let changed = String::from_utf8(bytes).unwrap();
    // A lenient decoder reads the same bytes from it.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    assert_eq!(lenient.decode(&changed).unwrap(), unb64(segment).unwrap());
    changed
}

/// JSON text padded with trailing whitespace to a length that is not a
/// multiple of 3, so its base64url has unused bits.
fn unaligned(json: &str) -> String {
    let mut json = json.to_owned();
    while json.len().is_multiple_of(3) {
        json.push(' ');
    }
    json
}

#[test]
fn non_canonical_trailing_bits_are_refused() {
    let engine = engine();
    let k = key(&engine);
    let h = b64(unaligned(&header()).as_bytes());
    let p = b64(unaligned(&valid_payload()).as_bytes());
    assert!(engine.verify_at(&sign_segments(k, &h, &p), NOW).is_ok());

    let token = sign_segments(k, &with_trailing_bit(&h), &p);
    assert_invalid_everywhere(&engine, &token);
    let token = sign_segments(k, &h, &with_trailing_bit(&p));
    assert_invalid_everywhere(&engine, &token);
    // 64 signature bytes encode to 86 characters: 4 unused bits.
    let input = format!("{h}.{p}");
    let sig = b64(&k.sign(input.as_bytes()).unwrap());
    assert_invalid_everywhere(&engine, &format!("{input}.{}", with_trailing_bit(&sig)));
}

// ------------------------------------------------------------- segments, size

#[test]
fn wrong_segment_counts_are_refused() {
    let engine = engine();
    let valid = craft(key(&engine), &header(), &valid_payload());
    let (input, sig) = valid.rsplit_once('.').unwrap();
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "....".into(),
        "a".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "a.b.c.d.e".into(),
        input.to_owned(),
        format!("{valid}."),
        format!("{valid}.{sig}"),
        format!("{valid}.{sig}.{sig}"),
        format!("{input}..{sig}"),
        format!(".{valid}"),
    ];
    for token in &cases {
        assert_invalid_everywhere(&engine, token);
    }
}

#[test]
fn a_string_of_many_dots_is_refused() {
    let engine = engine();
    let dots = ".".repeat(100_000);
    assert_invalid_everywhere(&engine, &dots);
    // Under the size limit, too.
    assert_invalid_everywhere(&engine, &".".repeat(8000));
}

/// A validly signed token of exactly `target` bytes: the lengths of a
/// header member and a claim are chosen to land on it.
fn token_of_len(key: &SigningKey, target: usize) -> String {
    let header_with = |n: usize| {
        format!(
            r#"{{"alg":"EdDSA","kid":"{KID}","typ":"JWT","h":"{}"}}"#,
            "a".repeat(n)
        )
    };
    let payload_with = |n: usize| {
        claims_with(|c| {
            c.insert("pad".into(), json!("a".repeat(n)));
        })
    };
    let header_base = header_with(0).len();
    let payload_base = payload_with(0).len();
    let sig_len = b64_len(64);
    for h in 0..4 {
        for p in 0..target {
            let len = b64_len(header_base + h) + 1 + b64_len(payload_base + p) + 1 + sig_len;
            if len == target {
                let token = craft(key, &header_with(h), &payload_with(p));
                assert_eq!(token.len(), target);
                return token;
            }
            if len > target {
                break;
            }
        }
    }
    panic!("no token of {target} bytes");
}

#[test]
fn tokens_over_8_kib_are_refused() {
    assert_eq!(tokengate::MAX_TOKEN_LEN, 8192);
    let engine = engine();
    let k = key(&engine);
    for len in [8000, 8190, 8191, 8192] {
        let token = token_of_len(k, len);
        let verified = engine.verify_at(&token, NOW);
        assert!(verified.is_ok(), "{len} bytes: {verified:?}");
    }
    for len in [8193, 8194, 8195, 9000, 64 * 1024] {
        let token = token_of_len(k, len);
        assert_invalid_everywhere(&engine, &token);
    }
    // The engine refuses to issue a token that verification would refuse.
    let too_large =
        engine.issue(NewToken::access("alice").claim("blob", json!("x".repeat(10_000))));
    assert!(
        matches!(too_large, Err(tokengate::keys::KeyError::TokenTooLarge(n)) if n > 8192),
        "{too_large:?}"
    );
}

// ------------------------------------------------------------- JSON shapes

#[test]
fn header_that_is_not_a_json_object_is_refused() {
    let engine = engine();
    let payload = valid_payload();
    for header in [
        "[]",
        r#"[{"alg":"EdDSA","kid":"k1"}]"#,
        r#""EdDSA""#,
        r#""{\"alg\":\"EdDSA\",\"kid\":\"k1\"}""#,
        "5",
        "1e3",
        "null",
        "true",
        "",
        " ",
        "{",
        r#"{"alg":"EdDSA","kid":"k1""#,
        r#"{"alg":"EdDSA","kid":"k1"} x"#,
        r#"{"alg":"EdDSA","kid":"k1"}{}"#,
        r#"{"alg":"EdDSA","kid":"k1",}"#,
        r#"{'alg':'EdDSA','kid':'k1'}"#,
    ] {
        let token = craft(key(&engine), header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
    // Not UTF-8.
    let mut bytes = br#"{"alg":"EdDSA","kid":"k1","x":""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#""}"#);
    let token = sign_segments(key(&engine), &b64(&bytes), &b64(payload.as_bytes()));
    assert_invalid_everywhere(&engine, &token);
}

#[test]
fn payload_that_is_not_a_json_object_is_refused() {
    let engine = engine();
    let valid = valid_payload();
    let trailing = format!("{valid} x");
    let array = format!("[{valid}]");
    let string = serde_json::to_string(&valid).unwrap();
    for payload in [
        "[]",
        array.as_str(),
        r#""alice""#,
        string.as_str(),
        "5",
        "null",
        "true",
        "",
        "{",
        trailing.as_str(),
        "not json",
    ] {
        let token = craft(key(&engine), &header(), payload);
        assert_code(engine.verify_at(&token, NOW), "invalid_token");
    }
    let mut bytes = valid.into_bytes();
    bytes.insert(1, 0xff);
    let token = sign_segments(key(&engine), &b64(header().as_bytes()), &b64(&bytes));
    assert_code(engine.verify_at(&token, NOW), "invalid_token");
}

// ------------------------------------------------------------- keys named by the token

#[test]
fn embedded_or_remote_keys_in_the_header_are_refused() {
    let engine = engine();
    let payload = valid_payload();
    // The ring's own public key, embedded: a naive verifier would accept it.
    let own = serde_json::to_string(&key(&engine).verifying_key().to_jwk().unwrap()).unwrap();
    let attacker = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let attacker_jwk = serde_json::to_string(&attacker.verifying_key().to_jwk().unwrap()).unwrap();
    for member in [
        format!(r#""jwk":{own}"#),
        r#""jku":"https://attacker.example/jwks.json""#.to_owned(),
        r#""x5u":"https://attacker.example/cert.pem""#.to_owned(),
        r#""x5c":["MIIBszCCAVmgAwIBAgIUQ"]"#.to_owned(),
        r#""jwk":null"#.to_owned(),
        r#""jku":"""#.to_owned(),
        r#""x5c":[]"#.to_owned(),
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":"k1",{member}}}"#);
        let token = craft(key(&engine), &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
    // Signed by the embedded attacker key, with and without a kid.
    for header in [
        format!(r#"{{"alg":"EdDSA","kid":"k1","jwk":{attacker_jwk}}}"#),
        format!(r#"{{"alg":"EdDSA","jwk":{attacker_jwk}}}"#),
    ] {
        let token = craft(&attacker, &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
}

// ------------------------------------------------------------- signature and key choice

#[test]
fn signature_by_another_key_of_the_same_alg_is_refused() {
    let engine = engine();
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let payload = valid_payload();
    // Claiming the ring's kid.
    assert_invalid_everywhere(&engine, &craft(&other, &header(), &payload));
    // Without a kid: every EdDSA key of the ring is tried, none matches.
    let no_kid = r#"{"alg":"EdDSA","typ":"JWT"}"#;
    assert_invalid_everywhere(&engine, &craft(&other, no_kid, &payload));
    // Its own kid, unknown to the ring.
    let own_kid = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, other.kid());
    assert_invalid_everywhere(&engine, &craft(&other, &own_kid, &payload));
}

#[test]
fn kid_selects_exactly_one_key() {
    let k1 = fixed_key();
    let k2 = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid(Kid::new("k2"));
    let mut ring = KeyRing::new(k1);
    ring.add_verifying(k2.verifying_key().clone());
    let engine = TokenEngine::new(ring);
    let payload = valid_payload();

    // Signed by k2 but naming k1: refused, though k2 is in the ring.
    assert_invalid_everywhere(&engine, &craft(&k2, &header(), &payload));
    // Naming k2, or no kid: accepted.
    let named = r#"{"alg":"EdDSA","kid":"k2"}"#;
    assert!(engine.verify_at(&craft(&k2, named, &payload), NOW).is_ok());
    let unnamed = r#"{"alg":"EdDSA"}"#;
    assert!(
        engine
            .verify_at(&craft(&k2, unnamed, &payload), NOW)
            .is_ok()
    );
}

#[test]
fn unknown_or_malformed_kid_is_refused() {
    let engine = engine();
    let payload = valid_payload();
    for kid in [
        r#""nope""#,
        r#""""#,
        r#""K1""#,
        r#""k1 ""#,
        "5",
        "null",
        r#"["k1"]"#,
        r#"{"kid":"k1"}"#,
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":{kid}}}"#);
        let token = craft(key(&engine), &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
}

#[test]
fn alg_of_no_configured_key_is_refused() {
    let engine = engine();
    let payload = valid_payload();
    for alg in Algorithm::ALL {
        if alg == Algorithm::EdDSA {
            continue;
        }
        // Signed by the real Ed25519 key, but labelled another algorithm.
        let header = format!(r#"{{"alg":"{alg}","kid":"k1"}}"#);
        let token = craft(key(&engine), &header, &payload);
        assert_invalid_everywhere(&engine, &token);
    }
}

#[test]
fn tampered_tokens_are_refused() {
    let engine = engine();
    let token = craft(key(&engine), &header(), &valid_payload());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (h, p) = input.split_once('.').unwrap();
    // Another claim set under the same signature.
    let forged_payload = b64(claims_with(|c| {
        c.insert("sub".into(), json!("admin"));
    })
    .as_bytes());
    assert_invalid_everywhere(&engine, &format!("{h}.{forged_payload}.{sig}"));
    // Truncated, extended and emptied signatures.
    assert_invalid_everywhere(&engine, &format!("{h}.{p}.{}", &sig[..sig.len() - 2]));
    assert_invalid_everywhere(&engine, &format!("{h}.{p}.{sig}AA"));
    assert_invalid_everywhere(&engine, &format!("{h}.{p}."));
}

// ------------------------------------------------------------- times

fn verify_claims(engine: &TokenEngine, payload: &str) -> Result<(), Error> {
    let token = craft(key(engine), &header(), payload);
    engine.verify_at(&token, NOW).map(|_| ())
}

#[test]
fn expired_tokens_are_refused() {
    let engine = engine();
    for exp in [NOW - 1, NOW, NOW - 1_000_000, 0, -1] {
        let payload = claims_with(|c| {
            c.insert("exp".into(), json!(exp));
            c.insert("iat".into(), json!(exp - 900));
            c.insert("nbf".into(), json!(exp - 900));
        });
        assert_code(verify_claims(&engine, &payload), "token_expired");
    }
    let payload = claims_with(|c| {
        c.insert("exp".into(), json!(NOW + 1));
    });
    assert!(verify_claims(&engine, &payload).is_ok());
}

#[test]
fn leeway_applies_to_exp() {
    let payload = claims_with(|c| {
        c.insert("exp".into(), json!(NOW - 5));
        c.insert("iat".into(), json!(NOW - 905));
        c.insert("nbf".into(), json!(NOW - 905));
    });
    let lenient = engine().with_validation(Validation::new().leeway(10));
    assert!(verify_claims(&lenient, &payload).is_ok());
    let strict = engine().with_validation(Validation::new().leeway(0));
    assert_code(verify_claims(&strict, &payload), "token_expired");
    let short = engine().with_validation(Validation::new().leeway(4));
    assert_code(verify_claims(&short, &payload), "token_expired");
    // A huge leeway does not overflow.
    let huge = engine().with_validation(Validation::new().leeway(u64::MAX));
    assert!(verify_claims(&huge, &payload).is_ok());
}

#[test]
fn not_yet_valid_tokens_are_refused() {
    let engine = engine();
    let nbf_future = claims_with(|c| {
        c.insert("nbf".into(), json!(NOW + 60));
    });
    assert_code(verify_claims(&engine, &nbf_future), "invalid_token");
    let lenient = self::engine().with_validation(Validation::new().leeway(120));
    assert!(verify_claims(&lenient, &nbf_future).is_ok());

    let iat_future = claims_with(|c| {
        c.insert("iat".into(), json!(NOW + 60));
        c.insert("nbf".into(), json!(NOW));
    });
    assert_code(verify_claims(&engine, &iat_future), "invalid_token");
    assert!(verify_claims(&lenient, &iat_future).is_ok());

    // nbf and iat equal to now are fine.
    assert!(verify_claims(&engine, &valid_payload()).is_ok());
}

// ------------------------------------------------------------- iss, aud

#[test]
fn wrong_issuer_is_refused() {
    let engine = engine().with_validation(Validation::new().issuer("https://auth.example"));
    let with_iss = |iss: Value| {
        claims_with(|c| {
            c.insert("iss".into(), iss);
        })
    };
    assert!(verify_claims(&engine, &with_iss(json!("https://auth.example"))).is_ok());
    for iss in [
        json!("https://evil.example"),
        json!("https://auth.example/"),
        json!("HTTPS://AUTH.EXAMPLE"),
        json!(""),
    ] {
        assert_code(verify_claims(&engine, &with_iss(iss)), "invalid_claims");
    }
    assert_code(verify_claims(&engine, &valid_payload()), "invalid_claims");
    for iss in [json!(5), json!(["https://auth.example"]), json!(null)] {
        assert_code(verify_claims(&engine, &with_iss(iss)), "invalid_claims");
    }
}

#[test]
fn wrong_audience_is_refused_and_any_overlap_accepted() {
    let engine = engine().with_validation(Validation::new().audience(["api", "admin"]));
    let with_aud = |aud: Value| {
        claims_with(|c| {
            c.insert("aud".into(), aud);
        })
    };
    for aud in [
        json!("api"),
        json!("admin"),
        json!(["api"]),
        json!(["web", "admin"]),
        json!(["web", "mobile", "api"]),
    ] {
        let result = verify_claims(&engine, &with_aud(aud.clone()));
        assert!(result.is_ok(), "aud {aud}: {result:?}");
    }
    for aud in [
        json!("web"),
        json!("API"),
        json!(["web", "mobile"]),
        json!([]),
        json!(""),
    ] {
        assert_code(verify_claims(&engine, &with_aud(aud)), "invalid_claims");
    }
    // No aud at all.
    assert_code(verify_claims(&engine, &valid_payload()), "invalid_claims");
    // Malformed aud.
    for aud in [
        json!(5),
        json!(["api", 5]),
        json!({"api": true}),
        json!(null),
    ] {
        assert_code(verify_claims(&engine, &with_aud(aud)), "invalid_claims");
    }
}

// ------------------------------------------------------------- claim presence and types

#[test]
fn missing_required_claims_are_refused() {
    let engine = engine();
    for claim in ["sub", "jti", "type", "exp", "iat"] {
        let payload = claims_with(|c| {
            c.remove(claim);
        });
        let result = verify_claims(&engine, &payload);
        assert!(
            matches!(&result, Err(e) if e.code() == "invalid_claims"),
            "without {claim}: {result:?}"
        );
    }
    // nbf and fresh are optional.
    for claim in ["nbf", "fresh"] {
        let payload = claims_with(|c| {
            c.remove(claim);
        });
        assert!(verify_claims(&engine, &payload).is_ok(), "without {claim}");
    }
}

#[test]
fn string_claims_of_another_type_are_refused() {
    let engine = engine();
    for claim in ["sub", "jti"] {
        for value in [
            json!(5),
            json!(null),
            json!(true),
            json!(["alice"]),
            json!({"id": 1}),
        ] {
            let payload = claims_with(|c| {
                c.insert(claim.into(), value.clone());
            });
            let result = verify_claims(&engine, &payload);
            assert!(
                matches!(&result, Err(e) if e.code() == "invalid_claims"),
                "{claim} = {value}: {result:?}"
            );
        }
    }
    for value in [
        json!("id"),
        json!("Access"),
        json!(""),
        json!(1),
        json!(null),
    ] {
        let payload = claims_with(|c| {
            c.insert("type".into(), value.clone());
        });
        let result = verify_claims(&engine, &payload);
        assert!(
            matches!(&result, Err(e) if e.code() == "invalid_claims"),
            "type = {value}: {result:?}"
        );
    }
}

#[test]
fn malformed_numeric_dates_are_refused() {
    let engine = engine();
    let exp = NOW + 900;
    let values = [
        json!(exp.to_string()),
        json!(true),
        json!(false),
        json!(1e300),
        json!(-1e300),
        json!(u64::MAX),
        json!(null),
        json!([exp]),
        json!({"t": exp}),
    ];
    for claim in ["exp", "iat", "nbf"] {
        for value in &values {
            let payload = claims_with(|c| {
                c.insert(claim.into(), value.clone());
            });
            let result = verify_claims(&engine, &payload);
            assert!(
                matches!(&result, Err(e) if e.code() == "invalid_claims"),
                "{claim} = {value}: {result:?}"
            );
        }
    }
    // exp written as raw JSON text, exactly as an attacker would. A number
    // beyond f64's range is not JSON serde_json reads: the payload itself
    // is refused, as invalid_token.
    let base = valid_payload();
    let rest = base.replace(&format!(r#"{{"exp":{exp},"#), "");
    assert_ne!(rest, base, "exp is the first member");
    for (text, code) in [
        ("1e300", "invalid_claims"),
        ("-1e300", "invalid_claims"),
        (r#""1700000900""#, "invalid_claims"),
        ("true", "invalid_claims"),
        ("1.7e9999999", "invalid_token"),
    ] {
        let payload = format!(r#"{{"exp":{text},{rest}"#);
        assert_eq!(payload.matches(r#""exp""#).count(), 1);
        assert_code(verify_claims(&engine, &payload), code);
    }
    // A fractional NumericDate is a NumericDate.
    let payload = claims_with(|c| {
        c.insert("exp".into(), json!(exp as f64 + 0.5));
    });
    assert!(verify_claims(&engine, &payload).is_ok());
}

// ------------------------------------------------------------- token type

#[test]
fn wrong_token_type_is_refused() {
    let engine = engine();
    let access = engine.issue(NewToken::access("alice")).unwrap();
    let refresh = engine.issue(NewToken::refresh("alice")).unwrap();
    assert_code(
        engine.verify_type(&access.token, TokenType::Refresh),
        "wrong_token_type",
    );
    assert_code(
        engine.verify_type(&refresh.token, TokenType::Access),
        "wrong_token_type",
    );
    assert!(engine.verify_type(&access.token, TokenType::Access).is_ok());
    assert!(
        engine
            .verify_type(&refresh.token, TokenType::Refresh)
            .is_ok()
    );
}

/// A token without `type` (an external issuer's, accepted when own-token
/// claims are not required) counts as an access token: it never passes
/// where a refresh token is required.
#[test]
fn token_without_type_is_not_a_refresh_token() {
    let engine = engine().with_validation(Validation::external());
    // verify_type reads the clock: a token valid for an hour around now.
    let now = tokengate::clock::now().as_secs();
    let payload = json!({"sub": "alice", "iat": now - 60, "exp": now + 3600}).to_string();
    let token = craft(key(&engine), &header(), &payload);
    assert_code(
        engine.verify_type(&token, TokenType::Refresh),
        "wrong_token_type",
    );
    assert!(engine.verify_type(&token, TokenType::Access).is_ok());
}

// ------------------------------------------------------------- algorithm confusion

/// Every encoding of `public` an attacker could use as an HMAC secret.
fn public_key_encodings(public: &VerifyingKey, ring: &KeyRing) -> Vec<(String, Vec<u8>)> {
    let pem = public.public_key_pem().unwrap();
    let lf = pem.replace("\r\n", "\n");
    let mut encodings = vec![
        ("PEM".to_owned(), pem.clone()),
        (
            "PEM without trailing newline".into(),
            pem.trim_end().to_owned(),
        ),
        ("PEM, LF".into(), lf.clone()),
        (
            "PEM, LF, without trailing newline".into(),
            lf.trim_end().to_owned(),
        ),
        (
            "JWK".into(),
            serde_json::to_string(&public.to_jwk().unwrap()).unwrap(),
        ),
        (
            "JWK, pretty".into(),
            serde_json::to_string_pretty(&public.to_jwk().unwrap()).unwrap(),
        ),
        ("JWKS".into(), serde_json::to_string(&ring.jwks()).unwrap()),
    ]
    .into_iter()
    .map(|(name, text)| (name, text.into_bytes()))
    .collect::<Vec<_>>();
    encodings.push(("DER".into(), public.public_key_der().unwrap().to_vec()));
    encodings.dedup_by(|a, b| a.1 == b.1);
    encodings
}

fn hmac_forge(alg: Algorithm, secret: &[u8], header: &str, payload: &str) -> String {
    let hmac_alg = match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => unreachable!(),
    };
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac_alg, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

#[test]
fn hmac_tokens_keyed_with_the_public_key_are_refused() {
    let payload = valid_payload();
    for asymmetric in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(asymmetric).unwrap()));
        let public = key(&engine).verifying_key().clone();
        let kid = public.kid().to_string();
        let encodings = public_key_encodings(&public, engine.keys());
        assert!(encodings.len() >= 6, "{asymmetric}: {encodings:?}");
        for (name, secret) in &encodings {
            for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                for header in [
                    format!(r#"{{"alg":"{hs}","kid":"{kid}","typ":"JWT"}}"#),
                    format!(r#"{{"alg":"{hs}","typ":"JWT"}}"#),
                ] {
                    let forged = hmac_forge(hs, secret, &header, &payload);
                    let result = engine.verify_at(&forged, NOW);
                    assert!(
                        matches!(&result, Err(e) if e.code() == "invalid_token"),
                        "{asymmetric} ring, {hs} keyed with {name}: {result:?}"
                    );
                    assert_code(engine.verify_signature(&forged), "invalid_token");

                    // The forgery is well made: a ring that did hold this
                    // secret as an HMAC key would accept it.
                    let hmac_key = VerifyingKey::from_secret(hs, secret)
                        .unwrap()
                        .with_kid(Kid::new(kid.clone()));
                    let confused = TokenEngine::new(KeyRing::verify_only([hmac_key]));
                    assert!(confused.verify_at(&forged, NOW).is_ok(), "{name}");
                }
            }
        }
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a fixed-size `r || s`.
fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    let int = |bytes: &[u8]| {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut v = bytes[start..].to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn degenerate_ecdsa_signatures_are_refused() {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ));
    let kid = key(&engine).kid().to_string();
    let header = format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT"}}"#);
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(valid_payload().as_bytes())
    );
    let with_sig = |sig: &[u8]| format!("{input}.{}", b64(sig));

    // The real signature verifies.
    let real = key(&engine).sign(input.as_bytes()).unwrap();
    assert_eq!(real.len(), 64);
    assert!(engine.verify_at(&with_sig(&real), NOW).is_ok());

    // P-256's group order n.
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut one = [0u8; 32];
    one[31] = 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("all zero (r = s = 0)", vec![0u8; 64]),
        ("r = s = n", [n, n].concat()),
        ("r = 0, s = 1", [[0u8; 32], one].concat()),
        ("r = 1, s = 0", [one, [0u8; 32]].concat()),
        ("all 0xff", vec![0xffu8; 64]),
        ("empty", Vec::new()),
        ("63 bytes", real[..63].to_vec()),
        ("65 bytes", [&real[..], &[0u8][..]].concat()),
        ("DER-encoded", ecdsa_der(&real)),
        ("r || s swapped", [&real[32..], &real[..32]].concat()),
    ];
    for (name, sig) in cases {
        let result = engine.verify_at(&with_sig(&sig), NOW);
        assert!(
            matches!(&result, Err(e) if e.code() == "invalid_token"),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn zero_and_empty_signatures_are_refused_for_every_algorithm() {
    let payload = valid_payload();
    for alg in Algorithm::ALL {
        let engine = TokenEngine::new(KeyRing::new(SigningKey::generate(alg).unwrap()));
        let kid = key(&engine).kid().to_string();
        let header = format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let real = key(&engine).sign(input.as_bytes()).unwrap();
        assert!(
            engine
                .verify_at(&format!("{input}.{}", b64(&real)), NOW)
                .is_ok()
        );
        for sig in [vec![0u8; real.len()], Vec::new(), vec![0u8; 1]] {
            let token = format!("{input}.{}", b64(&sig));
            assert_code(engine.verify_at(&token, NOW), "invalid_token");
        }
    }
}

// ------------------------------------------------------------- weak RSA keys

// A 2047-bit RSA key (generated for this test): one bit under
// MIN_RSA_BITS, yet 256 bytes long like a 2048-bit key.
const RSA_2047_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBITANBgkqhkiG9w0BAQEFAAOCAQ4AMIIBCQKCAQBZP+8GWHBnGrnrIeGNHar3\n\
eKs+ytYJrtZrWIsZZdcMSJDEeV7svN3J3SdOvtDPPikAs2AZApPw2VnVfZIuiq5S\n\
PltzJPF+8Aycl/lyxpxk9K2rBth8qqqigZ/DulW4DMzvKxxaBXw/DXTVgTuywsHo\n\
DZt9sDCwUMlCY6dtPDiHd9rPLG7kJ/nWsWU6qiEc0q03ulh9v5u58mx5knMVlhKv\n\
M4ITqq129KnmLJ1A/j0GtLX3Z7cW3sPt0RPoenonVq5JlT5lfbzOOr5pUCfSxWll\n\
wu5AgW6YrSmurj++C4vxgI3J0z2CbowzMkB9wrOC5EFLSrdy6poLqUElx0DdduJ/\n\
AgMBAAE=\n\
-----END PUBLIC KEY-----\n\
";
const RSA_2047_PKCS8_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEugIBADANBgkqhkiG9w0BAQEFAASCBKQwggSgAgEAAoIBAFk/7wZYcGcauesh\n\
4Y0dqvd4qz7K1gmu1mtYixll1wxIkMR5Xuy83cndJ06+0M8+KQCzYBkCk/DZWdV9\n\
ki6KrlI+W3Mk8X7wDJyX+XLGnGT0rasG2HyqqqKBn8O6VbgMzO8rHFoFfD8NdNWB\n\
O7LCwegNm32wMLBQyUJjp208OId32s8sbuQn+daxZTqqIRzSrTe6WH2/m7nybHmS\n\
cxWWEq8zghOqrXb0qeYsnUD+PQa0tfdntxbew+3RE+h6eidWrkmVPmV9vM46vmlQ\n\
J9LFaWXC7kCBbpitKa6uP74Li/GAjcnTPYJujDMyQH3Cs4LkQUtKt3LqmgupQSXH\n\
QN124n8CAwEAAQKCAQANGL2pj7bG2nwnzev8OjtJX1K5vygTea2LSQ34ZyJcchWU\n\
Tz8nvDtLkQFgo82ea7+2k5vpb6Bn+m0dT/TwkXctKGthBS3O88jV/dMkDZMLmYAW\n\
lcWU3bJ2cFESdrh3bqFwA0KAz0dBNWdMoU8yVzP/KmgD1KQAa4ptDJSYCfs9naGV\n\
xdFFZXrUJmJ7Y2j3GEKFhd9z7pj21+MCLt0ltThWZWiyCf0jVgIje3QqSnm1NdEY\n\
xbO+/thM9X4doXppYe3iQWpvmEWgoltMEOIG6iKqAJ9tfUcKzQ5HHxCwaHn478Tm\n\
Hv/cJQ1/4IvTPh4dhAytEZ+QkH8wnV3X5qBGCfqhAoGBAMsUhDT1L4rkWk2nArIl\n\
zq69xGpxS1Qi5FAylH9XKWzGKQjSYdsagkY14cXecNEOtfHDugciUZDZynOGk3VI\n\
oUN2T41mwPVcsvon9Dy6IE9e95xqUfvR/ryI5oPIjFiYmRgqriDHJGgwTtQnGGtM\n\
5VlrIH1GPgTZi/etXp2pqfmvAoGAcIHJf+JHkTdAopA5FgrQhaf5rxJxOJ4/EVW3\n\
S4vkCRQJx3OGHy0qqeytIUmel2S/pLH+VKiJfdTBu7DXEqLOPwf/Xu1Bk/a8IQos\n\
Bv+5h7IA3eEG/8cT+k5keZxKWcZe2jhDYQ9iDfIQSPeAetncdHoSMxa2Hn8OgD8H\n\
+jQxaDECgYBTxHW4Rn7C4uig6UgCZff4Oky/v1XcMbxNnF+Gm1R6Cs84VVeKAkhE\n\
X8tuTA/rHA9O13ZvpOdSQZPxzUwb78adRjsQT5c+XmtxJnPnbLsRIlIu0ehZYEic\n\
SjgTmfDSRre3sTs8SAirdWm+txWqhQCBvt+a7RN9+qJymq/Rhv+W/wKBgGDdvgmX\n\
X5sOAV514lCyGvsYtwcfT9A5n39jV5954GpYkFrjgjTRhIwtNJsWca9TlRVOEvX8\n\
7fQi/HKHPYXUGtN2JU8r42xr4WppAaM9BhZpEgn3Nzl9xBuc5zE1eWZ2PzCPhKPK\n\
xNfQ9Gh+gGZFsWOvvn+yLDdxmaCdpFauHWPhAoGASBXoQL1CNw6DykekT924Rh0p\n\
c/nV+J3QYWxJUNAjyrMBgwdIdAYvoMh6BC4pn36UPSF9uZdRrY5tHOhAkj98Prex\n\
6yj9lsjUmgDQtFnwIP638obLitKLmI18wwwvC/lkwPc5wEHseu0Z3xTJkvVXmnjM\n\
uvUi3EScU9n2nN8kAvg=\n\
-----END PRIVATE KEY-----\n\
";
const RSA_2047_PKCS1_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEoAIBAAKCAQBZP+8GWHBnGrnrIeGNHar3eKs+ytYJrtZrWIsZZdcMSJDEeV7s\n\
vN3J3SdOvtDPPikAs2AZApPw2VnVfZIuiq5SPltzJPF+8Aycl/lyxpxk9K2rBth8\n\
qqqigZ/DulW4DMzvKxxaBXw/DXTVgTuywsHoDZt9sDCwUMlCY6dtPDiHd9rPLG7k\n\
J/nWsWU6qiEc0q03ulh9v5u58mx5knMVlhKvM4ITqq129KnmLJ1A/j0GtLX3Z7cW\n\
3sPt0RPoenonVq5JlT5lfbzOOr5pUCfSxWllwu5AgW6YrSmurj++C4vxgI3J0z2C\n\
bowzMkB9wrOC5EFLSrdy6poLqUElx0DdduJ/AgMBAAECggEADRi9qY+2xtp8J83r\n\
/Do7SV9Sub8oE3mti0kN+GciXHIVlE8/J7w7S5EBYKPNnmu/tpOb6W+gZ/ptHU/0\n\
8JF3LShrYQUtzvPI1f3TJA2TC5mAFpXFlN2ydnBREna4d26hcANCgM9HQTVnTKFP\n\
Mlcz/ypoA9SkAGuKbQyUmAn7PZ2hlcXRRWV61CZie2No9xhChYXfc+6Y9tfjAi7d\n\
JbU4VmVosgn9I1YCI3t0Kkp5tTXRGMWzvv7YTPV+HaF6aWHt4kFqb5hFoKJbTBDi\n\
BuoiqgCfbX1HCs0ORx8QsGh5+O/E5h7/3CUNf+CL0z4eHYQMrRGfkJB/MJ1d1+ag\n\
Rgn6oQKBgQDLFIQ09S+K5FpNpwKyJc6uvcRqcUtUIuRQMpR/VylsxikI0mHbGoJG\n\
NeHF3nDRDrXxw7oHIlGQ2cpzhpN1SKFDdk+NZsD1XLL6J/Q8uiBPXvecalH70f68\n\
iOaDyIxYmJkYKq4gxyRoME7UJxhrTOVZayB9Rj4E2Yv3rV6dqan5rwKBgHCByX/i\n\
R5E3QKKQORYK0IWn+a8ScTiePxFVt0uL5AkUCcdzhh8tKqnsrSFJnpdkv6Sx/lSo\n\
iX3Uwbuw1xKizj8H/17tQZP2vCEKLAb/uYeyAN3hBv/HE/pOZHmcSlnGXto4Q2EP\n\
Yg3yEEj3gHrZ3HR6EjMWth5/DoA/B/o0MWgxAoGAU8R1uEZ+wuLooOlIAmX3+DpM\n\
v79V3DG8TZxfhptUegrPOFVXigJIRF/LbkwP6xwPTtd2b6TnUkGT8c1MG+/GnUY7\n\
EE+XPl5rcSZz52y7ESJSLtHoWWBInEo4E5nw0ka3t7E7PEgIq3VpvrcVqoUAgb7f\n\
mu0Tffqicpqv0Yb/lv8CgYBg3b4Jl1+bDgFedeJQshr7GLcHH0/QOZ9/Y1efeeBq\n\
WJBa44I00YSMLTSbFnGvU5UVThL1/O30Ivxyhz2F1BrTdiVPK+Nsa+FqaQGjPQYW\n\
aRIJ9zc5fcQbnOcxNXlmdj8wj4SjysTX0PRofoBmRbFjr75/siw3cZmgnaRWrh1j\n\
4QKBgEgV6EC9QjcOg8pHpE/duEYdKXP51fid0GFsSVDQI8qzAYMHSHQGL6DIegQu\n\
KZ9+lD0hfbmXUa2ObRzoQJI/fD63seso/ZbI1JoA0LRZ8CD+t/KGy4rSi5iNfMMM\n\
Lwv5ZMD3OcBB7HrtGd8UyZL1V5p4zLr1ItxEnFPZ9pzfJAL4\n\
-----END RSA PRIVATE KEY-----\n\
";
/// RS256 over `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9` by that key.
const RSA_2047_SIGNATURE: &str = "DSBy5gd4uG9xy_O1bc79i95eGZYJqUZfB7oNwNFKpcMY1i2wu5BPufnUE_jY1lPa_MMSHfLm9pf4ab25w-LTH3WlQjVNjSEIO3yYl6cgiGi979nsEKuD_X82SGNWQd58ZSnw-vLRAWBSvFImf78kEwpCWW9hxl68FaT3KORSYjV3hjtVej4Iz0pEdczJKGr2vSR_vXu7AjWPpIINhpMYa_IB9vwyJx_XbARD-YY3RC4bKLVr7cXFQk0TGzx4qVF2vcr9WVsUCvf-DcZ54H5imiE00QVuu0Rp0aenFoCGxrOaPeY9J9C_a4GGUkt8RJeT1r8yALKNGREfyVXNgQGMRw";

fn rsa_2047_der() -> Vec<u8> {
    pem::parse(RSA_2047_PUBLIC_PEM).unwrap().into_contents()
}

#[test]
fn rsa_2047_fixture_is_a_genuine_2047_bit_key() {
    use aws_lc_rs::signature::{RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};
    let der = rsa_2047_der();
    let public = aws_lc_rs::rsa::PublicKey::from_der(&der).unwrap();
    let n = public.modulus().big_endian_without_leading_zero();
    assert_eq!(n.len(), 256);
    assert_eq!(n[0].leading_zeros(), 1, "2047 bits");
    let sig = unb64(RSA_2047_SIGNATURE).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, &der)
        .verify(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9", &sig)
        .expect("the fixture's signature is genuine");
}

/// MIN_RSA_BITS is 2048, and a key under it is a start-up error
/// (`KeyError::RsaTooSmall`). A 2047-bit public key must not load: if it
/// does, aws-lc still refuses it at verification, so every token would fail
/// at request time instead.
#[test]
fn rsa_public_keys_under_2048_bits_are_refused_at_load() {
    let der = rsa_2047_der();
    let n = aws_lc_rs::rsa::PublicKey::from_der(&der)
        .unwrap()
        .modulus()
        .big_endian_without_leading_zero()
        .to_vec();
    let jwk = Jwk {
        kty: "RSA".into(),
        n: Some(b64(&n)),
        e: Some("AQAB".into()),
        ..Jwk::default()
    };
    let sig = unb64(RSA_2047_SIGNATURE).unwrap();
    let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
    let mut loaded = Vec::new();
    for (form, key) in [
        (
            "from_public_der",
            VerifyingKey::from_public_der(Algorithm::RS256, &der),
        ),
        (
            "from_pem",
            VerifyingKey::from_pem(RSA_2047_PUBLIC_PEM, Some(Algorithm::RS256)),
        ),
        (
            "from_jwk",
            VerifyingKey::from_jwk(&jwk, Some(Algorithm::RS256)),
        ),
    ] {
        match key {
            Err(KeyError::RsaTooSmall(_)) => {}
            Err(e) => loaded.push(format!("{form}: refused, but not as too small: {e:?}")),
            Ok(key) => loaded.push(format!(
                "{form}: loaded (kid {}); it verifies the key's own genuine signature: {}",
                key.kid(),
                key.verify_signature(message, &sig)
            )),
        }
    }
    assert!(
        loaded.is_empty(),
        "2047-bit RSA key:\n{}",
        loaded.join("\n")
    );
}

/// The same for private keys: refused (aws-lc refuses them), and reported
/// as too small whatever the PEM form.
#[test]
fn rsa_private_keys_under_2048_bits_are_refused_as_too_small() {
    let mut wrong = Vec::new();
    for (form, pem) in [
        ("PKCS#1", RSA_2047_PKCS1_PEM),
        ("PKCS#8", RSA_2047_PKCS8_PEM),
    ] {
        for alg in [None, Some(Algorithm::RS256), Some(Algorithm::PS256)] {
            match SigningKey::from_pem(pem, alg) {
                Err(KeyError::RsaTooSmall(_)) => {}
                other => wrong.push(format!("{form}, alg {alg:?}: {other:?}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "2047-bit RSA private key:\n{}",
        wrong.join("\n")
    );
}
