//! Black-box tests of `tokengate token`: the real binary, real key files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, Jwk, JwkSecret, JwkSet, KeyRing, Kid, SigningKey};
use tokengate::token::{NewToken, TokenEngine};

/// A scratch directory under the target directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("token_cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Exit 1 with exactly `code` on stdout.
    fn assert_refused(&self, code: &str) {
        assert_eq!(self.code, 1, "{self:?}");
        assert_eq!(self.stdout.trim(), code, "{self:?}");
        self.assert_no_panic();
    }

    /// Exit 2 with the message naming `needle`.
    fn assert_config_error(&self, needle: &str) {
        assert_eq!(self.code, 2, "{self:?}");
        assert!(self.stderr.contains(needle), "{needle:?} not in {self:?}");
        self.assert_no_panic();
    }

    fn assert_no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{self:?}");
    }
}

fn tokengate(args: &[&str]) -> Run {
    tokengate_stdin(args, "")
}

fn tokengate_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may exit before reading stdin; a broken pipe is fine then.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Issues a token with the CLI and returns it.
fn issue(args: &[&str]) -> String {
    let run = tokengate(&[&["token", "issue"], args].concat());
    assert_eq!(run.code, 0, "{run:?}");
    let token = run.stdout.trim().to_owned();
    assert_eq!(token.matches('.').count(), 2, "{run:?}");
    token
}

/// Writes `key`'s private PEM and public PEM; returns their paths.
fn write_pems(dir: &Dir, name: &str, key: &SigningKey) -> (String, String) {
    let private = dir.write(
        &format!("{name}.pem"),
        key.to_pkcs8_pem().unwrap().as_bytes(),
    );
    let public = key.verifying_key().public_key_pem().unwrap();
    (private, dir.write(&format!("{name}.pub.pem"), public))
}

/// The private JWK of an Ed25519 key: its PKCS#8 v1 DER ends with the seed.
fn ed25519_private_jwk(key: &SigningKey) -> Jwk {
    let pem = key.to_pkcs8_pem().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).unwrap();
    let jwk = Jwk {
        d: Some(JwkSecret::new(
            URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]),
        )),
        ..key.verifying_key().to_jwk().unwrap()
    };
    // The library agrees that this is the same key.
    assert_eq!(SigningKey::from_jwk(&jwk, None).unwrap().kid(), key.kid());
    jwk
}

fn verify_ok(args: &[&str]) -> Value {
    let run = tokengate(&[&["token", "verify"], args].concat());
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

fn verify(args: &[&str]) -> Run {
    tokengate(&[&["token", "verify"], args].concat())
}

#[test]
fn es256_round_trip_with_pem_keys() {
    let dir = Dir::new("es256");
    let (private, public) =
        write_pems(&dir, "es", &SigningKey::generate(Algorithm::ES256).unwrap());
    let token = issue(&[
        "--key",
        &private,
        "--sub",
        "alice",
        "--iss",
        "https://auth.example",
        "--aud",
        "api",
        "--claim",
        r#"role="admin""#,
        "--claim",
        "level=3",
        "--scope",
        "read",
        "--scope",
        "write",
        "--fresh",
    ]);
    let claims = verify_ok(&[
        "--key",
        &public,
        "--iss",
        "https://auth.example",
        "--aud",
        "api",
        &token,
    ]);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["fresh"], true);
    assert_eq!(claims["type"], "access");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    // The private PEM verifies too.
    assert_eq!(verify_ok(&["--key", &private, &token])["sub"], "alice");
}

#[test]
fn eddsa_round_trip_with_jwk_files() {
    let dir = Dir::new("eddsa");
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let private = dir.write(
        "ed.jwk",
        serde_json::to_vec(&ed25519_private_jwk(&key)).unwrap(),
    );
    let public_jwk = key.verifying_key().to_jwk().unwrap();
    let public = dir.write("ed.pub.jwk", serde_json::to_vec(&public_jwk).unwrap());
    let jwks = dir.write(
        "jwks.json",
        serde_json::to_vec(&JwkSet {
            keys: vec![public_jwk],
        })
        .unwrap(),
    );

    let token = issue(&[
        "--key", &private, "--sub", "bob", "--type", "refresh", "--ttl", "30d",
    ]);
    let claims = verify_ok(&["--key", &public, &token]);
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["type"], "refresh");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        30 * 86_400
    );
    assert_eq!(verify_ok(&["--jwks", &jwks, &token])["sub"], "bob");
    // A public JWK cannot sign.
    tokengate(&["token", "issue", "--key", &public, "--sub", "x"])
        .assert_config_error("public JWK");
}

#[test]
fn rs256_round_trip_with_jwks_skipping_unusable_keys() {
    let dir = Dir::new("rs256");
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    let (private, _) = write_pems(&dir, "rsa", &key);
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwks = json!({"keys": [
        {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "kid": "enc-key", "use": "enc", "n": "AQAB", "e": "AQAB"},
        other.verifying_key().to_jwk().unwrap(),
        key.verifying_key().to_jwk().unwrap(),
    ]});
    let jwks = dir.write("jwks.json", jwks.to_string());

    let token = issue(&["--key", &private, "--sub", "carol", "--ttl", "12h"]);
    let run = verify(&["--jwks", &jwks, &token]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["sub"], "carol");
    assert!(
        run.stderr.contains("skipping key 0 (kid \"broken\")"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("skipping key 1 (kid \"enc-key\")"),
        "{run:?}"
    );
    let claims = run.json();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        43_200
    );
}

#[test]
fn hs256_round_trip_with_raw_secret_and_stdin() {
    let dir = Dir::new("hs256");
    let secret = dir.write("secret", [0x5a_u8; 32]);
    let token = issue(&["--key", &secret, "--alg", "HS256", "--sub", "dave"]);
    let run = tokengate_stdin(
        &["token", "verify", "--key", &secret, "--alg", "HS256", "-"],
        &format!("{token}\n"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["sub"], "dave");

    // A trailing newline is part of the secret, and a note says so.
    let with_newline = dir.write("secret-nl", [&[0x5a_u8; 32][..], b"\n"].concat());
    let run = verify(&["--key", &with_newline, "--alg", "HS256", &token]);
    run.assert_refused("invalid_token");
    assert!(run.stderr.contains("ends with a newline"), "{run:?}");
}

#[test]
fn wrong_key_is_invalid_token() {
    let dir = Dir::new("wrong-key");
    let (private, _) = write_pems(&dir, "a", &SigningKey::generate(Algorithm::ES256).unwrap());
    let (_, other) = write_pems(&dir, "b", &SigningKey::generate(Algorithm::ES256).unwrap());
    let token = issue(&["--key", &private, "--sub", "alice"]);
    verify(&["--key", &other, &token]).assert_refused("invalid_token");

    let secret = dir.write("s1", [1u8; 32]);
    let other_secret = dir.write("s2", [2u8; 32]);
    let token = issue(&["--key", &secret, "--alg", "HS256", "--sub", "alice"]);
    verify(&["--key", &other_secret, "--alg", "HS256", &token]).assert_refused("invalid_token");
}

#[test]
fn expired_token_is_token_expired() {
    let dir = Dir::new("expired");
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let (private, public) = write_pems(&dir, "ed", &key);
    let token = issue(&["--key", &private, "--sub", "alice", "--ttl", "0"]);
    verify(&["--key", &public, &token]).assert_refused("token_expired");

    // A token that expired ten seconds ago passes with enough leeway.
    let engine = TokenEngine::new(KeyRing::new(key));
    let mut new = NewToken::access("alice").ttl(std::time::Duration::from_secs(50));
    new.issued_at = Some(tokengate::clock::now().as_secs() - 60);
    let token = engine.issue(new).unwrap().token;
    verify(&["--key", &public, &token]).assert_refused("token_expired");
    assert_eq!(
        verify_ok(&["--key", &public, "--leeway", "30", &token])["sub"],
        "alice"
    );
}

#[test]
fn wrong_audience_or_issuer_is_invalid_claims() {
    let dir = Dir::new("aud");
    let (private, public) =
        write_pems(&dir, "es", &SigningKey::generate(Algorithm::ES256).unwrap());
    let token = issue(&[
        "--key", &private, "--sub", "alice", "--aud", "api", "--iss", "me",
    ]);
    verify(&["--key", &public, "--aud", "other", &token]).assert_refused("invalid_claims");
    verify(&["--key", &public, "--iss", "you", &token]).assert_refused("invalid_claims");
    verify_ok(&["--key", &public, "--aud", "other", "--aud", "api", &token]);
}

/// A compact JWS over arbitrary payload bytes, signed with `key`.
fn jws(key: &SigningKey, payload: &[u8]) -> String {
    let header = json!({"alg": key.algorithm().as_str()}).to_string();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The token with one character of its signature changed.
fn flip_signature_char(token: &str) -> String {
    let at = token.len() - 10;
    let replacement = if &token[at..=at] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &token[..at], &token[at + 1..])
}

#[test]
fn signature_only_accepts_payloads_that_are_not_claims() {
    let dir = Dir::new("sigonly");
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let (_, public) = write_pems(&dir, "ed", &key);

    let token = jws(&key, b"hello world");
    verify(&["--key", &public, &token]).assert_refused("invalid_token");
    let run = verify(&["--key", &public, "--signature-only", &token]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), URL_SAFE_NO_PAD.encode("hello world"));

    // A JSON payload without exp: not a valid claim set, but correctly signed.
    let token = jws(&key, br#"{"msg":"hi"}"#);
    verify(&["--key", &public, &token]).assert_refused("invalid_claims");
    assert_eq!(
        verify_ok(&["--key", &public, "--signature-only", &token])["msg"],
        "hi"
    );

    let forged = flip_signature_char(&token);
    verify(&["--key", &public, "--signature-only", &forged]).assert_refused("invalid_token");
}

#[test]
fn decode_prints_header_and_payload_with_a_warning() {
    let dir = Dir::new("decode");
    let (private, _) = write_pems(&dir, "es", &SigningKey::generate(Algorithm::ES256).unwrap());
    let token = issue(&["--key", &private, "--sub", "alice", "--claim", "n=1"]);
    let run = tokengate(&["token", "decode", &token]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("WARNING: NOT VERIFIED"), "{run:?}");
    let decoded = run.json();
    assert_eq!(decoded["header"]["alg"], "ES256");
    assert_eq!(decoded["header"]["typ"], "JWT");
    assert_eq!(decoded["payload"]["sub"], "alice");
    assert_eq!(decoded["payload"]["n"], 1);

    // Decoding does not care about the signature.
    let forged = format!("{}.AAAA", token.rsplit_once('.').unwrap().0);
    let run = tokengate_stdin(&["token", "decode", "-"], &forged);
    assert_eq!(run.json()["payload"]["sub"], "alice", "{run:?}");

    tokengate(&["token", "decode", "not-a-token"]).assert_refused("invalid_token");
}

#[test]
fn oversized_or_garbage_tokens_are_refused_without_panic() {
    let dir = Dir::new("garbage");
    let (_, public) = write_pems(&dir, "es", &SigningKey::generate(Algorithm::ES256).unwrap());
    let big: String = (0..10 * 1024)
        .map(|i| ["a", ".", "é", "="][i % 4])
        .collect();
    let dots = ".".repeat(10 * 1024);
    // `{}.{}.{}` decodes, but has no alg to verify with.
    verify(&["--key", &public, "e30.e30.e30"]).assert_refused("invalid_token");
    for token in [
        big.as_str(),
        dots.as_str(),
        "a.b.c",
        "..",
        "é.é.é",
        "W10.e30.e30",
    ] {
        verify(&["--key", &public, token]).assert_refused("invalid_token");
        tokengate(&["token", "decode", token]).assert_refused("invalid_token");
        tokengate_stdin(&["token", "verify", "--key", &public, "-"], token)
            .assert_refused("invalid_token");
    }
    let huge = "x".repeat(1024 * 1024);
    tokengate_stdin(&["token", "decode", "-"], &huge).assert_refused("invalid_token");
}

#[test]
fn missing_key_file_is_exit_2_naming_the_path() {
    let dir = Dir::new("missing");
    let missing = dir.path("no-such-key.pem");
    tokengate(&["token", "issue", "--key", &missing, "--sub", "a"]).assert_config_error(&missing);
    verify(&["--key", &missing, "a.b.c"]).assert_config_error(&missing);
    verify(&["--jwks", &missing, "a.b.c"]).assert_config_error(&missing);
}

#[test]
fn unusable_keys_and_arguments_are_exit_2() {
    let dir = Dir::new("config");
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let (private, public) = write_pems(&dir, "es", &key);
    let secret = dir.write("secret", [7u8; 32]);
    let short = dir.write("short", [7u8; 16]);
    let token = issue(&["--key", &private, "--sub", "a"]);
    let issue_with = |args: &[&str]| tokengate(&[&["token", "issue", "--sub", "a"], args].concat());

    // A raw secret needs --alg; a PEM key is never an HMAC secret.
    issue_with(&["--key", &secret]).assert_config_error("--alg HS256");
    verify(&["--key", &public, "--alg", "HS256", &token]).assert_config_error(&public);
    let preamble = dir.write(
        "preamble.pem",
        format!(
            "Public key for the API\n{}",
            std::fs::read_to_string(&public).unwrap()
        ),
    );
    verify(&["--key", &preamble, "--alg", "HS256", &token]).assert_config_error(&preamble);
    verify(&["--key", &preamble, "--alg", "HS256", &token])
        .assert_config_error("never used as an HS256 secret");
    issue_with(&["--key", &short, "--alg", "HS256"]).assert_config_error("32 bytes");
    issue_with(&["--key", &public]).assert_config_error("public key");
    issue_with(&["--key", &private, "--alg", "EdDSA"]).assert_config_error(&private);
    issue_with(&["--key", &private, "--type", "refresh", "--fresh"]).assert_config_error("--fresh");
    issue_with(&["--key", &private, "--claim", "exp=1"]).assert_config_error("--ttl");
    issue_with(&["--key", &private, "--claim", "role=admin"]).assert_config_error("not JSON");
    issue_with(&["--key", &private, "--ttl", "5w"]).assert_config_error("--ttl");

    let empty = dir.write("empty.json", r#"{"keys": [{"kty": "EC"}]}"#);
    verify(&["--jwks", &empty, &token]).assert_config_error("no usable key");
    let not_jwks = dir.write("not.json", r#"{"kty": "EC"}"#);
    verify(&["--jwks", &not_jwks, &token]).assert_config_error("\"keys\"");
    verify(&["--key", &private, &token, "--signature-only", "--aud", "x"])
        .assert_config_error("--aud");
    verify(&[&token]).assert_config_error("--key");
}

#[test]
fn a_single_key_is_tried_whatever_the_token_kid() {
    let dir = Dir::new("kid");
    let key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(Kid::new("their-kid"));
    let public_jwk = key.verifying_key().to_jwk().unwrap();
    let (_, public) = write_pems(&dir, "es", &key);
    let token = TokenEngine::new(KeyRing::new(key))
        .issue(NewToken::access("erin"))
        .unwrap()
        .token;
    assert_eq!(verify_ok(&["--key", &public, &token])["sub"], "erin");

    // In a JWK Set, the kid picks the key.
    let renamed = Jwk {
        kid: Some("another".into()),
        ..public_jwk.clone()
    };
    let jwks = dir.write("jwks.json", json!({"keys": [public_jwk]}).to_string());
    assert_eq!(verify_ok(&["--jwks", &jwks, &token])["sub"], "erin");
    let jwks = dir.write("other.json", json!({"keys": [renamed]}).to_string());
    verify(&["--jwks", &jwks, &token]).assert_refused("invalid_token");
}

#[test]
fn algorithm_mismatch_is_refused_with_a_hint() {
    let dir = Dir::new("alg");
    let pem = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    let key = SigningKey::from_pem(&pem, Some(Algorithm::PS256)).unwrap();
    let (_, public) = write_pems(&dir, "rsa", &key);
    let token = TokenEngine::new(KeyRing::new(key))
        .issue(NewToken::access("frank"))
        .unwrap()
        .token;
    let run = verify(&["--key", &public, &token]);
    run.assert_refused("invalid_token");
    assert!(run.stderr.contains("--alg PS256"), "{run:?}");
    assert_eq!(
        verify_ok(&["--key", &public, "--alg", "PS256", &token])["sub"],
        "frank"
    );
}

#[test]
fn key_errors_come_before_token_errors() {
    let dir = Dir::new("order");
    let missing = dir.path("missing.pem");
    verify(&["--key", &missing, &"x".repeat(10 * 1024)]).assert_config_error(&missing);
}

/// The `alg` of a token's header.
fn header_alg(token: &str) -> String {
    let header = URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

#[test]
fn ps384_and_ps512_round_trip_with_pem_keys_and_jwks() {
    let dir = Dir::new("pss");
    for alg in ["PS384", "PS512"] {
        let key = SigningKey::generate(alg.parse().unwrap()).unwrap();
        let (private, public) = write_pems(&dir, alg, &key);
        // An RSA PEM says nothing of the algorithm: --alg names it.
        let token = issue(&["--key", &private, "--alg", alg, "--sub", "grace"]);
        assert_eq!(header_alg(&token), alg);
        assert_eq!(
            verify_ok(&["--key", &public, "--alg", alg, &token])["sub"],
            "grace"
        );
        assert_eq!(
            verify_ok(&["--key", &private, "--alg", alg, &token])["sub"],
            "grace"
        );
        // Without --alg the key is RS256's, and the hint names the token's.
        let run = verify(&["--key", &public, &token]);
        run.assert_refused("invalid_token");
        assert!(run.stderr.contains(&format!("--alg {alg}")), "{run:?}");
        // The other PSS algorithm does not verify it either.
        let other = if alg == "PS384" { "PS512" } else { "PS384" };
        verify(&["--key", &public, "--alg", other, &token]).assert_refused("invalid_token");

        // A JWK Set whose key names its algorithm, as an issuer publishes it.
        let published = key.verifying_key().to_jwk().unwrap();
        assert_eq!(published.alg.as_deref(), Some(alg));
        let jwks = dir.write(
            &format!("{alg}.jwks.json"),
            json!({ "keys": [published.clone()] }).to_string(),
        );
        let run = verify(&["--jwks", &jwks, &token]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.json()["sub"], "grace");
        assert!(!run.stderr.contains("skipping"), "{run:?}");
        // Without its alg, the key takes --alg.
        let bare = Jwk {
            alg: None,
            ..published
        };
        let jwks = dir.write(
            &format!("{alg}.bare.jwks.json"),
            json!({ "keys": [bare] }).to_string(),
        );
        assert_eq!(
            verify_ok(&["--jwks", &jwks, "--alg", alg, &token])["sub"],
            "grace"
        );
    }
}

/// RFC 7515 A.4.1's P-521 private key.
const RFC7515_A4_JWK: &str = r#"{"kty":"EC","crv":"P-521",
 "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
 "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
 "d":"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"}"#;

/// A P-521 key as `openssl ecparam -name secp521r1 -genkey -noout` writes
/// it (SEC1), and its public half (`openssl ec -pubout`). A test key only.
const SEC1_P521: &str = "-----BEGIN EC PRIVATE KEY-----
MIHcAgEBBEIARRT2OhwNYE7CvkNyULn0lEsW4fStW8oRKRvoo77g4bcfKee9PivX
0oR9I6hGgqUlftVN2XzSYcKXOC2ei0kIi0OgBwYFK4EEACOhgYkDgYYABAAzEBxa
AffYc3zwoGA+W9y5SX6gMDL9x/ISA8CbfxOCBr2655YvBhgYotpth70VVoc2PiLU
EfdHKgaJSsDKhKfDCwFVgV0aeEE/upp/LNWKC/CEqUs0/DhJaCt3dqg84n3SfSwO
Llm3Qwo97Fhxr9WTydim7OzI2ymA8LMLC2urLg/Z0A==
-----END EC PRIVATE KEY-----
";
const SEC1_P521_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAMxAcWgH32HN88KBgPlvcuUl+oDAy
/cfyEgPAm38Tgga9uueWLwYYGKLabYe9FVaHNj4i1BH3RyoGiUrAyoSnwwsBVYFd
GnhBP7qafyzVigvwhKlLNPw4SWgrd3aoPOJ90n0sDi5Zt0MKPexYca/Vk8nYpuzs
yNspgPCzCwtrqy4P2dA=
-----END PUBLIC KEY-----
";

#[test]
fn es512_round_trip_with_pkcs8_sec1_and_jwk_files() {
    let dir = Dir::new("es512");
    // PKCS#8, as the library writes it: ES512 without --alg.
    let key = SigningKey::generate(Algorithm::ES512).unwrap();
    let (private, public) = write_pems(&dir, "p521", &key);
    let token = issue(&["--key", &private, "--sub", "heidi", "--scope", "read"]);
    assert_eq!(header_alg(&token), "ES512");
    let claims = verify_ok(&["--key", &public, &token]);
    assert_eq!(
        (claims["sub"].as_str(), claims["scope"].as_str()),
        (Some("heidi"), Some("read"))
    );
    let public_jwk = key.verifying_key().to_jwk().unwrap();
    let jwk = dir.write("p521.pub.jwk", serde_json::to_vec(&public_jwk).unwrap());
    assert_eq!(verify_ok(&["--key", &jwk, &token])["sub"], "heidi");
    let jwks = dir.write("jwks.json", json!({ "keys": [public_jwk] }).to_string());
    assert_eq!(verify_ok(&["--jwks", &jwks, &token])["sub"], "heidi");
    // A P-521 key is ES512's only.
    for alg in ["ES256", "ES384", "PS512"] {
        tokengate(&[
            "token", "issue", "--key", &private, "--alg", alg, "--sub", "x",
        ])
        .assert_config_error(&private);
        verify(&["--key", &public, "--alg", alg, &token]).assert_config_error(&public);
    }

    // SEC1 (`EC PRIVATE KEY`), as openssl writes it.
    let sec1 = dir.write("sec1.pem", SEC1_P521);
    let sec1_public = dir.write("sec1.pub.pem", SEC1_P521_PUBLIC);
    let token = issue(&["--key", &sec1, "--sub", "ivan"]);
    assert_eq!(header_alg(&token), "ES512");
    assert_eq!(verify_ok(&["--key", &sec1_public, &token])["sub"], "ivan");
    verify(&["--key", &public, &token]).assert_refused("invalid_token");

    // A private JWK (no alg: the curve decides), and its public half.
    let private_jwk = dir.write("a4.jwk", RFC7515_A4_JWK);
    let token = issue(&["--key", &private_jwk, "--sub", "judy"]);
    assert_eq!(header_alg(&token), "ES512");
    let public_jwk: Jwk = serde_json::from_str(RFC7515_A4_JWK).unwrap();
    let public_jwk = dir.write(
        "a4.pub.jwk",
        serde_json::to_vec(&public_jwk.to_public()).unwrap(),
    );
    assert_eq!(verify_ok(&["--key", &public_jwk, &token])["sub"], "judy");
}
