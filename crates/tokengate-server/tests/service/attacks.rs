//! The attack suite: one test per attack on the running service,
//! each asserting the exact status and error code, so that no attack is
//! answered 2xx (accepted) or 5xx (the harness refuses any 5xx).
//!
//! Forged tokens are made from raw header and payload JSON text, signed
//! over exactly the bytes sent with the service's own key (read from its
//! data directory) unless the attack is about the key: the defect under
//! test is then the only thing wrong with them. [`Target::start`] checks
//! that a token crafted this way without a defect is accepted.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Map, Value, json};
use tokengate::keys::{Algorithm, KeyFamily, KeyRing, Kid, SigningKey, VerifyingKey};
use tokengate::token::{IssueSettings, TokenEngine};

use crate::common::{Api, Pair, Resp, Server, TestDir, claims, jwt_part};

const PASSWORD: &str = "correct horse battery";
/// The service's `iss` and `aud`: configured, so that both are checked.
const ISSUER: &str = "https://tokengate.example/";
const AUDIENCE: &str = "https://api.tokengate.example";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The service under attack: configured with `alg`, [`ISSUER`] and
/// [`AUDIENCE`], a user `victim` logged in, and the service's own key.
struct Target {
    // Declared first: the server stops before its directory is removed.
    server: Server,
    dir: TestDir,
    /// Signs with the service's own key.
    engine: TokenEngine,
    login: Pair,
    /// The header and claims of the login's access token.
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl Target {
    async fn start(name: &str, alg: &str) -> Target {
        Target::start_with(name, alg, &[]).await
    }

    async fn start_with(name: &str, alg: &str, env: &[(&str, &str)]) -> Target {
        let dir = TestDir::new(&format!("attack-{name}"));
        let mut all = vec![
            ("TOKENGATE_ALGORITHM", alg),
            ("TOKENGATE_ISSUER", ISSUER),
            ("TOKENGATE_AUDIENCE", AUDIENCE),
        ];
        all.extend_from_slice(env);
        let server = Server::start(&dir, &all);
        let api = server.api();
        api.register_ok("victim", PASSWORD).await;
        let login = api.login_ok("victim", PASSWORD).await;
        let engine = dir.service_engine(ISSUER);
        let key = engine.keys().signing_key().expect("a signing key");
        assert_eq!(key.algorithm().as_str(), alg);
        let object = |v: Value| match v {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        };
        let target = Target {
            header: object(jwt_part(&login.access, 0)),
            claims: object(claims(&login.access)),
            server,
            dir,
            engine,
            login,
        };
        // The baseline: a crafted token without a defect is accepted, so
        // each refusal below is about the one thing a case changes.
        let valid = target.valid();
        target.api().assert_valid(&valid).await;
        target
            .api()
            .get_bearer("/auth/me", &valid)
            .await
            .expect(200);
        target
    }

    fn api(&self) -> &Api {
        self.server.api()
    }

    /// The service's signing key.
    fn key(&self) -> &SigningKey {
        self.engine.keys().signing_key().unwrap()
    }

    /// The kid of the service's key.
    fn kid(&self) -> String {
        self.key().kid().to_string()
    }

    /// The login's header as JSON text, changed by `edit`.
    fn header_with(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut header = self.header.clone();
        edit(&mut header);
        Value::Object(header).to_string()
    }

    /// The login's claims as JSON text, changed by `edit`.
    fn claims_with(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut claims = self.claims.clone();
        edit(&mut claims);
        Value::Object(claims).to_string()
    }

    fn header_json(&self) -> String {
        self.header_with(|_| {})
    }

    fn claims_json(&self) -> String {
        self.claims_with(|_| {})
    }

    /// `header_b64.payload_b64`, signed by the service's key as given.
    fn sign_segments(&self, header_b64: &str, payload_b64: &str) -> String {
        let input = format!("{header_b64}.{payload_b64}");
        let signature = self.key().sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&signature))
    }

    /// A token of exactly these header and payload bytes, well signed.
    fn craft_bytes(&self, header: &[u8], payload: &[u8]) -> String {
        self.sign_segments(&b64(header), &b64(payload))
    }

    fn craft(&self, header: &str, payload: &str) -> String {
        self.craft_bytes(header.as_bytes(), payload.as_bytes())
    }

    /// A crafted token without a defect.
    fn valid(&self) -> String {
        self.craft(&self.header_json(), &self.claims_json())
    }

    /// A well-signed token with these claims.
    fn with_claims(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        self.craft(&self.header_json(), &self.claims_with(edit))
    }

    /// A well-signed token with this header.
    fn with_header(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        self.craft(&self.header_with(edit), &self.claims_json())
    }

    /// `token` as a bearer token is refused with 401 `code` and the RFC
    /// 6750 challenge, by a resource route and by one that loads the user.
    async fn refused(&self, token: &str, code: &str) {
        for path in ["/api/private", "/auth/me"] {
            self.api()
                .get_bearer(path, token)
                .await
                .expect_token_error(code);
        }
    }

    /// `GET /api/private` with a raw `Authorization` value.
    async fn authorization(&self, value: impl Into<String>) -> Resp {
        let api = self.api();
        api.send(
            api.request(Method::GET, "/api/private")
                .header("authorization", value.into()),
        )
        .await
    }

    /// A browser session: the `Cookie` header with the access token
    /// cookie and its CSRF cookie, and the CSRF value.
    async fn session(&self) -> (String, String) {
        let resp = self
            .api()
            .post_json(
                "/auth/session",
                &json!({"username": "victim", "password": PASSWORD}),
            )
            .await
            .expect(200);
        let access = resp.cookie("access_token_cookie");
        let csrf = resp.cookie("csrf_access_token");
        (format!("{}; {}", access.pair(), csrf.pair()), csrf.value)
    }

    /// `POST /api/memos` (a state-changing route) with `cookie`, an
    /// optional `X-CSRF-TOKEN`, a query string and a JSON body.
    async fn post_memo(&self, cookie: &str, csrf: Option<&str>, query: &str, body: Value) -> Resp {
        let api = self.api();
        let mut request = api
            .request(Method::POST, &format!("/api/memos{query}"))
            .header("cookie", cookie)
            .json(&body);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        api.send(request).await
    }
}

/// Asserts a 401 `invalid_header` with the bare challenge (no token was
/// read, so no `error="invalid_token"`).
#[track_caller]
fn expect_invalid_header(resp: Resp) -> String {
    let challenge = resp.header("www-authenticate");
    let msg = resp.expect_error(401, "invalid_header");
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="tokengate""#));
    msg
}

/// Asserts a 431 for a request head over the limits: the service's JSON
/// answer, or, for a head larger than hyper's read buffer (64 KiB,
/// `src/listener.rs`), hyper's own 431 without a body on a closed
/// connection. Either way an answer the client reads: never a reset.
#[track_caller]
fn expect_headers_too_large(resp: Resp) {
    if resp.body.is_empty() {
        assert_eq!(resp.status, 431, "{resp:?}");
        assert_eq!(
            resp.header("connection").as_deref(),
            Some("close"),
            "{resp:?}"
        );
    } else {
        resp.expect_error(431, "invalid_request");
    }
}

/// One test per token attack: the service configured with `alg`, the
/// tokens made by the closure, each refused with `code`.
macro_rules! refused_tokens {
    ($($(#[doc = $doc:literal])* $name:ident ($alg:literal) => $code:literal, |$t:ident| $tokens:expr;)*) => {$(
        $(#[doc = $doc])*
        #[tokio::test]
        async fn $name() {
            let $t = Target::start(stringify!($name), $alg).await;
            let tokens: Vec<String> = $tokens;
            assert!(!tokens.is_empty());
            for token in &tokens {
                $t.refused(token, $code).await;
            }
        }
    )*};
}

// ------------------------------------------------------------- alg none

/// `alg` spelled `spelling`, with the service's claims: unsigned (empty
/// signature, and no third segment at all) and with a signature.
fn alg_none(t: &Target, spelling: &str) -> Vec<String> {
    let header = b64(t
        .header_with(|h| {
            h.insert("alg".into(), spelling.into());
            h.remove("kid");
        })
        .as_bytes());
    let with_kid = b64(t
        .header_with(|h| {
            h.insert("alg".into(), spelling.into());
        })
        .as_bytes());
    let payload = b64(t.claims_json().as_bytes());
    vec![
        format!("{header}.{payload}."),
        format!("{with_kid}.{payload}."),
        t.sign_segments(&header, &payload),
        t.sign_segments(&with_kid, &payload),
        format!("{header}.{payload}.{}", b64(&[0u8; 64])),
    ]
}

refused_tokens! {
    alg_none_lower("ES256") => "invalid_token", |t| alg_none(&t, "none");
    alg_none_capitalised("ES256") => "invalid_token", |t| alg_none(&t, "None");
    alg_none_upper("ES256") => "invalid_token", |t| alg_none(&t, "NONE");
    alg_none_mixed_case("ES256") => "invalid_token", |t| alg_none(&t, "nOnE");
    alg_none_trailing_space("ES256") => "invalid_token", |t| alg_none(&t, "none ");
    alg_none_leading_space("ES256") => "invalid_token", |t| alg_none(&t, " none");
    alg_none_nul_byte("ES256") => "invalid_token", |t| alg_none(&t, "none\u{0}");
    alg_none_on_an_eddsa_service("EdDSA") => "invalid_token", |t| alg_none(&t, "none");
    alg_none_on_an_rsa_service("RS256") => "invalid_token", |t| alg_none(&t, "none");
    /// `alg` missing, empty, null, or another type.
    alg_missing_or_not_a_string("ES256") => "invalid_token", |t| {
        let mut tokens = vec![t.with_header(|h| { h.remove("alg"); })];
        for alg in [json!(""), json!(null), json!(["ES256"]), json!({"alg": "ES256"}), json!(256)] {
            tokens.push(t.with_header(|h| { h.insert("alg".into(), alg); }));
        }
        tokens
    };
    /// The service's token with its signature removed, keeping the dot or not.
    signature_stripped("ES256") => "invalid_token", |t| {
        let (input, _) = t.login.access.rsplit_once('.').unwrap();
        vec![format!("{input}."), input.to_owned()]
    };
    signature_truncated("ES256") => "invalid_token", |t| {
        let token = &t.login.access;
        vec![
            token[..token.len() - 1].to_owned(),
            token[..token.len() - 4].to_owned(),
            token[..token.len() - 40].to_owned(),
        ]
    };
    /// One character of the signature changed, at either end and in the middle.
    signature_altered("ES256") => "invalid_token", |t| {
        let token = &t.login.access;
        let sig_start = token.rfind('.').unwrap() + 1;
        [sig_start, (sig_start + token.len()) / 2, token.len() - 2]
            .into_iter()
            .map(|i| {
                let mut bytes = token.clone().into_bytes();
                bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
                String::from_utf8(bytes).unwrap()
            })
            .collect()
    };
    /// Another claim set under the login's signature.
    payload_altered("ES256") => "invalid_token", |t| {
        let (header, rest) = t.login.access.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let payload = b64(t.claims_with(|c| { c.insert("scope".into(), "read:messages admin".into()); }).as_bytes());
        vec![format!("{header}.{payload}.{signature}")]
    };
}

// ------------------------------------------------------------- algorithm confusion

/// Ways an attacker may write the service's public key as an HMAC secret.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// SubjectPublicKeyInfo PEM: LF and CRLF, with and without the final newline.
    Pem,
    /// The key without SubjectPublicKeyInfo: PKCS#1 `RSAPublicKey` (DER and
    /// `RSA PUBLIC KEY` PEM), the SEC1 point of an EC key, the 32 bytes of
    /// an Ed25519 key.
    Bare,
    /// SubjectPublicKeyInfo DER.
    Der,
    /// The JWK, as the library writes it and as served in the JWKS.
    Jwk,
    /// The JWKS text exactly as `/.well-known/jwks.json` serves it.
    Jwks,
    /// The OpenSSH public key line.
    OpenSsh,
}

/// DER: tag, length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A positive big-endian integer with a leading zero when its top bit is set
/// (DER INTEGER content and SSH mpint alike).
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut v = bytes[start..].to_vec();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    v
}

fn pem(label: &str, der: &[u8], eol: &str) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----{eol}{}{eol}-----END {label}-----{eol}",
        lines.join(eol)
    )
}

/// SSH wire string: u32 length, bytes.
fn ssh_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn jwk_member(jwk: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(
            jwk[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name}: {jwk}")),
        )
        .unwrap()
}

/// The secrets of `encoding` for `public`; `served` is the JWKS text.
fn secrets(encoding: Encoding, public: &VerifyingKey, served: &str) -> Vec<Vec<u8>> {
    let served_jwks: Value = serde_json::from_str(served).unwrap();
    let served_jwk = served_jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == public.kid().as_str())
        .expect("the key in the JWKS")
        .clone();
    let spki = public.public_key_der().unwrap().to_vec();
    let kty = served_jwk["kty"].as_str().unwrap().to_owned();
    let texts = |texts: Vec<String>| texts.into_iter().map(String::into_bytes).collect();
    match encoding {
        Encoding::Pem => {
            let crlf = pem("PUBLIC KEY", &spki, "\r\n");
            let lf = pem("PUBLIC KEY", &spki, "\n");
            texts(vec![
                lf.trim_end().to_owned(),
                crlf.trim_end().to_owned(),
                public.public_key_pem().unwrap(),
                lf,
                crlf,
            ])
        }
        Encoding::Bare => match kty.as_str() {
            "RSA" => {
                let n = unsigned(&jwk_member(&served_jwk, "n"));
                let e = unsigned(&jwk_member(&served_jwk, "e"));
                let pkcs1 = der(0x30, &[der(0x02, &n), der(0x02, &e)].concat());
                let pem_lf = pem("RSA PUBLIC KEY", &pkcs1, "\n");
                vec![
                    pkcs1.clone(),
                    pem_lf.trim_end().as_bytes().to_vec(),
                    pem_lf.into_bytes(),
                ]
            }
            "EC" => {
                let point = [
                    &[4u8][..],
                    &jwk_member(&served_jwk, "x"),
                    &jwk_member(&served_jwk, "y"),
                ]
                .concat();
                vec![point]
            }
            // 32 bytes: the shortest HMAC secret accepted.
            _ => vec![jwk_member(&served_jwk, "x")],
        },
        Encoding::Der => vec![spki],
        Encoding::Jwk => texts(vec![
            serde_json::to_string(&public.to_jwk().unwrap()).unwrap(),
            served_jwk.to_string(),
            serde_json::to_string_pretty(&served_jwk).unwrap(),
        ]),
        Encoding::Jwks => texts(vec![served.to_owned(), format!("{served}\n")]),
        Encoding::OpenSsh => {
            let (name, blob) = match kty.as_str() {
                "RSA" => {
                    let e = unsigned(&jwk_member(&served_jwk, "e"));
                    let n = unsigned(&jwk_member(&served_jwk, "n"));
                    (
                        "ssh-rsa",
                        [ssh_string(b"ssh-rsa"), ssh_string(&e), ssh_string(&n)].concat(),
                    )
                }
                "EC" => {
                    let point = [
                        &[4u8][..],
                        &jwk_member(&served_jwk, "x"),
                        &jwk_member(&served_jwk, "y"),
                    ]
                    .concat();
                    // RFC 5656: P-256 is nistp256, P-384 nistp384, P-521 nistp521.
                    let curve = match served_jwk["crv"].as_str() {
                        Some("P-384") => "nistp384",
                        Some("P-521") => "nistp521",
                        _ => "nistp256",
                    };
                    let name = match curve {
                        "nistp384" => "ecdsa-sha2-nistp384",
                        "nistp521" => "ecdsa-sha2-nistp521",
                        _ => "ecdsa-sha2-nistp256",
                    };
                    (
                        name,
                        [
                            ssh_string(name.as_bytes()),
                            ssh_string(curve.as_bytes()),
                            ssh_string(&point),
                        ]
                        .concat(),
                    )
                }
                _ => (
                    "ssh-ed25519",
                    [
                        ssh_string(b"ssh-ed25519"),
                        ssh_string(&jwk_member(&served_jwk, "x")),
                    ]
                    .concat(),
                ),
            };
            let line = format!("{name} {}", STANDARD.encode(blob));
            texts(vec![
                line.clone(),
                format!("{line}\n"),
                format!("{line} tokengate@example\n"),
            ])
        }
    }
}

/// HS256/384/512 tokens keyed with every secret of `encoding`, with and
/// without the service's `kid`: each is well made (an HMAC key of that
/// secret accepts it) and the service refuses it.
async fn algorithm_confusion(name: &str, alg: &str, encoding: Encoding) {
    let t = Target::start(name, alg).await;
    let served = t
        .api()
        .get("/.well-known/jwks.json")
        .await
        .expect(200)
        .text();
    let public = t.key().verifying_key().clone();
    let kid = t.kid();
    let secrets = secrets(encoding, &public, &served);
    let payload = t.claims_json();
    for secret in &secrets {
        for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let hmac = SigningKey::from_secret(hs, secret)
                .unwrap()
                .with_kid(Kid::new(kid.clone()));
            for header in [
                t.header_with(|h| {
                    h.insert("alg".into(), hs.as_str().into());
                }),
                t.header_with(|h| {
                    h.insert("alg".into(), hs.as_str().into());
                    h.remove("kid");
                }),
            ] {
                let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
                let forged = format!("{input}.{}", b64(&hmac.sign(input.as_bytes()).unwrap()));
                // Well made: a ring holding this secret as an HMAC key accepts it.
                let confused = TokenEngine::new(KeyRing::verify_only([hmac
                    .verifying_key()
                    .clone()]))
                .with_settings(IssueSettings::default().issuer(ISSUER).audience([AUDIENCE]));
                confused
                    .verify(&forged)
                    .unwrap_or_else(|e| panic!("{hs} forgery is not well made: {e:?}"));
                t.refused(&forged, "invalid_token").await;
            }
        }
    }
}

macro_rules! confusion {
    ($($name:ident ($alg:literal, $encoding:ident);)*) => {$(
        #[tokio::test]
        async fn $name() {
            algorithm_confusion(stringify!($name), $alg, Encoding::$encoding).await;
        }
    )*};
}

confusion! {
    confusion_rs256_pem("RS256", Pem);
    confusion_rs256_pkcs1("RS256", Bare);
    confusion_rs256_der("RS256", Der);
    confusion_rs256_jwk("RS256", Jwk);
    confusion_rs256_jwks("RS256", Jwks);
    confusion_rs256_openssh("RS256", OpenSsh);
    confusion_es256_pem("ES256", Pem);
    confusion_es256_sec1_point("ES256", Bare);
    confusion_es256_der("ES256", Der);
    confusion_es256_jwk("ES256", Jwk);
    confusion_es256_jwks("ES256", Jwks);
    confusion_es256_openssh("ES256", OpenSsh);
    confusion_eddsa_pem("EdDSA", Pem);
    confusion_eddsa_raw("EdDSA", Bare);
    confusion_eddsa_der("EdDSA", Der);
    confusion_eddsa_jwk("EdDSA", Jwk);
    confusion_eddsa_jwks("EdDSA", Jwks);
    confusion_eddsa_openssh("EdDSA", OpenSsh);
    confusion_es512_pem("ES512", Pem);
    confusion_es512_sec1_point("ES512", Bare);
    confusion_es512_der("ES512", Der);
    confusion_es512_jwk("ES512", Jwk);
    confusion_es512_jwks("ES512", Jwks);
    confusion_es512_openssh("ES512", OpenSsh);
    confusion_ps384_pem("PS384", Pem);
    confusion_ps384_pkcs1("PS384", Bare);
    confusion_ps384_jwk("PS384", Jwk);
    confusion_ps384_jwks("PS384", Jwks);
}

/// A service's RSA key is bound to the configured algorithm: the same key
/// signing under any other RSA algorithm (another padding, another hash)
/// makes tokens the service refuses.
async fn rsa_key_refuses_the_other_rsa_algorithms(name: &str, configured: Algorithm) {
    let t = Target::start(name, configured.as_str()).await;
    let pem = std::fs::read_dir(t.dir.data().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .unwrap();
    let pem = std::fs::read_to_string(pem).unwrap();
    let others = Algorithm::ALL
        .into_iter()
        .filter(|a| a.family() == KeyFamily::Rsa && *a != configured);
    for alg in others {
        let key = SigningKey::from_pem(&pem, Some(alg))
            .unwrap()
            .with_kid(t.key().kid().clone());
        let header = t.header_with(|h| {
            h.insert("alg".into(), alg.as_str().into());
        });
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(t.claims_json().as_bytes())
        );
        let token = format!("{input}.{}", b64(&key.sign(input.as_bytes()).unwrap()));
        t.refused(&token, "invalid_token").await;
    }
}

/// An RS256 service refuses PS256/384/512 and RS384/512 tokens signed with
/// its own key.
#[tokio::test]
async fn confusion_rsa_padding_and_hash() {
    rsa_key_refuses_the_other_rsa_algorithms("confusion-rsa-variants", Algorithm::RS256).await;
}

/// A PS384 service (its generated key kept as a PS384 key) refuses the
/// other PSS hashes and PKCS#1 v1.5 signed with its own key.
#[tokio::test]
async fn confusion_pss_hash() {
    rsa_key_refuses_the_other_rsa_algorithms("confusion-pss-variants", Algorithm::PS384).await;
}

// ------------------------------------------------------------- keys named by the token

/// The attacker's own key, carried in the `jwk` header (and in `x5c`).
#[tokio::test]
async fn embedded_jwk_header() {
    let t = Target::start("embedded-jwk", "ES256").await;
    let attacker = SigningKey::generate(Algorithm::ES256).unwrap();
    let attacker_jwk = serde_json::to_value(attacker.verifying_key().to_jwk().unwrap()).unwrap();
    let spki = STANDARD.encode(attacker.verifying_key().public_key_der().unwrap());
    for (member, value, kid) in [
        ("jwk", attacker_jwk.clone(), Some(t.kid())),
        ("jwk", attacker_jwk.clone(), None),
        ("jwk", attacker_jwk, Some(attacker.kid().to_string())),
        ("x5c", json!([spki]), None),
    ] {
        let header = t.header_with(|h| {
            h.insert(member.into(), value.clone());
            match &kid {
                Some(kid) => h.insert("kid".into(), kid.clone().into()),
                None => h.remove("kid"),
            };
        });
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(t.claims_json().as_bytes())
        );
        let token = format!("{input}.{}", b64(&attacker.sign(input.as_bytes()).unwrap()));
        t.refused(&token, "invalid_token").await;
    }
}

/// A header member naming a URL of a listener of the test: the service
/// refuses the token and never connects there.
async fn remote_key_url(name: &str, member: &str) {
    let t = Target::start(name, "ES256").await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let attacker = SigningKey::generate(Algorithm::ES256).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        format!("http://localhost:{port}/cert.pem"),
    ] {
        for (key, kid) in [(&attacker, attacker.kid().to_string()), (t.key(), t.kid())] {
            let header = t.header_with(|h| {
                h.insert(member.into(), url.clone().into());
                h.insert("kid".into(), kid.into());
            });
            let input = format!(
                "{}.{}",
                b64(header.as_bytes()),
                b64(t.claims_json().as_bytes())
            );
            let token = format!("{input}.{}", b64(&key.sign(input.as_bytes()).unwrap()));
            t.refused(&token, "invalid_token").await;
        }
    }
    // Bounded: a fetch would have happened before the answers above.
    for _ in 0..10 {
        match listener.accept() {
            Ok((_, peer)) => panic!("the service connected to the {member} URL from {peer}"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[tokio::test]
async fn jku_is_never_fetched() {
    remote_key_url("jku", "jku").await;
}

#[tokio::test]
async fn x5u_is_never_fetched() {
    remote_key_url("x5u", "x5u").await;
}

// ------------------------------------------------------------- kid

/// The login's header with `kid`, signed by the service's key.
fn with_kid(t: &Target, kid: Value) -> Vec<String> {
    vec![t.with_header(|h| {
        h.insert("kid".into(), kid);
    })]
}

refused_tokens! {
    kid_path_traversal("ES256") => "invalid_token", |t| {
        ["../../etc/passwd", "../../../../../../dev/null", "..%2f..%2fetc%2fpasswd", "/dev/zero", "keys/../keys/current.pem"]
            .into_iter()
            .flat_map(|k| with_kid(&t, k.into()))
            .collect()
    };
    kid_sql_injection("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        ["' OR 1=1--", "x' UNION SELECT 'secret'--", &format!("{kid}' OR '1'='1"), "\"; DROP TABLE signing_keys;--"]
            .into_iter()
            .flat_map(|k| with_kid(&t, k.into()))
            .collect()
    };
    kid_shell_metacharacters("ES256") => "invalid_token", |t| {
        ["$(id)", "`id`", ";rm -rf /", "| cat /etc/passwd", "&& touch /tmp/pwned", "\u{0}"]
            .into_iter()
            .flat_map(|k| with_kid(&t, k.into()))
            .collect()
    };
    kid_number("ES256") => "invalid_token", |t| with_kid(&t, json!(1));
    kid_object("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        with_kid(&t, json!({"kid": kid}))
    };
    kid_null("ES256") => "invalid_token", |t| with_kid(&t, Value::Null);
    kid_array("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        with_kid(&t, json!([kid]))
    };
    /// The right kid with other letter case or padding.
    kid_near_miss("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        [kid.to_uppercase(), format!("{kid} "), format!(" {kid}"), format!("{kid}\u{0}"), String::new()]
            .into_iter()
            .filter(|k| *k != kid)
            .flat_map(|k| with_kid(&t, k.into()))
            .collect()
    };
}

/// A 1 MB `kid`: the token is far over every limit; the answer is a 431.
#[tokio::test]
async fn kid_of_one_megabyte() {
    let t = Target::start("kid-1mb", "ES256").await;
    let token = t.with_header(|h| {
        h.insert("kid".into(), "k".repeat(1024 * 1024).into());
    });
    expect_headers_too_large(t.authorization(format!("Bearer {token}")).await);
    // Under the header limit but over the 8 KiB token limit.
    let token = t.with_header(|h| {
        h.insert("kid".into(), "k".repeat(8 * 1024).into());
    });
    t.refused(&token, "invalid_token").await;
}

// ------------------------------------------------------------- ECDSA signatures

/// P-256's group order n.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// A valid token with `signature(real)` in place of its own signature.
fn resigned(t: &Target, signature: impl Fn(&[u8]) -> Vec<u8>) -> Vec<String> {
    let input = format!(
        "{}.{}",
        b64(t.header_json().as_bytes()),
        b64(t.claims_json().as_bytes())
    );
    let real = t.key().sign(input.as_bytes()).unwrap();
    assert_eq!(real.len(), 64);
    vec![format!("{input}.{}", b64(&signature(&real)))]
}

refused_tokens! {
    ecdsa_all_zero("ES256") => "invalid_token", |t| resigned(&t, |_| vec![0; 64]);
    ecdsa_r_is_n("ES256") => "invalid_token", |t| resigned(&t, |real| [&P256_N[..], &real[32..]].concat());
    ecdsa_s_is_n("ES256") => "invalid_token", |t| resigned(&t, |real| [&real[..32], &P256_N[..]].concat());
    ecdsa_r_and_s_over_n("ES256") => "invalid_token", |t| resigned(&t, |_| vec![0xff; 64]);
    ecdsa_r_zero_s_one("ES256") => "invalid_token", |t| resigned(&t, |_| {
        let mut sig = vec![0; 64];
        sig[63] = 1;
        sig
    });
    /// `SEQUENCE { INTEGER r, INTEGER s }` instead of JWS's fixed `r || s`.
    ecdsa_der_encoded("ES256") => "invalid_token", |t| resigned(&t, |real| {
        der(0x30, &[der(0x02, &unsigned(&real[..32])), der(0x02, &unsigned(&real[32..]))].concat())
    });
    ecdsa_wrong_length("ES256") => "invalid_token", |t| {
        let mut tokens = resigned(&t, |real| real[..63].to_vec());
        tokens.extend(resigned(&t, |real| [real, &[0][..]].concat()));
        tokens.extend(resigned(&t, |_| Vec::new()));
        tokens
    };
}

// ------------------------------------------------------------- claims

fn now() -> i64 {
    tokengate::clock::now().as_secs()
}

refused_tokens! {
    expired("ES256") => "token_expired", |t| vec![t.with_claims(|c| {
        c.insert("iat".into(), (now() - 3600).into());
        c.insert("nbf".into(), (now() - 3600).into());
        c.insert("exp".into(), (now() - 60).into());
    })];
    nbf_in_the_future("ES256") => "invalid_token", |t| vec![t.with_claims(|c| {
        c.insert("nbf".into(), (now() + 3600).into());
    })];
    iat_in_the_future("ES256") => "invalid_token", |t| vec![t.with_claims(|c| {
        c.insert("iat".into(), (now() + 3600).into());
    })];
    missing_exp("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| { c.remove("exp"); })];
    /// `exp` as a string, a boolean, a float out of range, null.
    exp_not_a_number("ES256") => "invalid_claims", |t| {
        let exp = now() + 600;
        [json!(exp.to_string()), json!(true), json!(1e300), Value::Null]
            .into_iter()
            .map(|v| t.with_claims(|c| { c.insert("exp".into(), v); }))
            .collect()
    };
    sub_not_a_string("ES256") => "invalid_claims", |t| {
        let sub: i64 = t.claims["sub"].as_str().unwrap().parse().unwrap();
        [json!(sub), json!([sub.to_string()]), json!({"id": sub}), Value::Null, json!(true)]
            .into_iter()
            .map(|v| t.with_claims(|c| { c.insert("sub".into(), v); }))
            .collect()
    };
    missing_sub("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| { c.remove("sub"); })];
    audience_superstring("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| {
        c.insert("aud".into(), format!("{AUDIENCE}.evil").into());
    })];
    audience_substring("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| {
        c.insert("aud".into(), AUDIENCE[..AUDIENCE.len() - 3].into());
    })];
    audience_trailing_slash("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| {
        c.insert("aud".into(), format!("{AUDIENCE}/").into());
    })];
    /// Other letter case, an empty array, an array of near misses, missing.
    audience_other_forms("ES256") => "invalid_claims", |t| {
        [json!(AUDIENCE.to_uppercase()), json!([]), json!([format!("{AUDIENCE}/"), "x"])]
            .into_iter()
            .map(|v| t.with_claims(|c| { c.insert("aud".into(), v); }))
            .chain([t.with_claims(|c| { c.remove("aud"); })])
            .collect()
    };
    issuer_superstring("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| {
        c.insert("iss".into(), format!("{ISSUER}evil").into());
    })];
    issuer_substring("ES256") => "invalid_claims", |t| vec![t.with_claims(|c| {
        c.insert("iss".into(), "https://tokengate.exam".into());
    })];
    /// [`ISSUER`] ends in a slash: without it, and with two.
    issuer_trailing_slash("ES256") => "invalid_claims", |t| {
        [ISSUER.trim_end_matches('/').to_owned(), format!("{ISSUER}/")]
            .into_iter()
            .map(|v| t.with_claims(|c| { c.insert("iss".into(), v.into()); }))
            .collect()
    };
    issuer_missing_or_not_a_string("ES256") => "invalid_claims", |t| {
        vec![
            t.with_claims(|c| { c.remove("iss"); }),
            t.with_claims(|c| { c.insert("iss".into(), json!([ISSUER])); }),
        ]
    };
}

// ------------------------------------------------------------- token types and revocation

#[tokio::test]
async fn refresh_token_used_as_access_token() {
    let t = Target::start("refresh-as-access", "ES256").await;
    t.refused(&t.login.refresh, "wrong_token_type").await;
}

#[tokio::test]
async fn access_token_used_as_refresh_token() {
    let t = Target::start("access-as-refresh", "ES256").await;
    t.api()
        .refresh(&t.login.access)
        .await
        .expect_token_error("wrong_token_type");
    // A crafted token claiming no type, or another one, is refused too.
    t.refused(
        &t.with_claims(|c| {
            c.insert("type".into(), "Access".into());
        }),
        "invalid_claims",
    )
    .await;
}

#[tokio::test]
async fn token_revoked_by_logout() {
    let t = Target::start("revoked", "ES256").await;
    t.api()
        .post_bearer("/auth/logout", &t.login.access, None)
        .await
        .expect(200);
    t.refused(&t.login.access, "token_revoked").await;
    // The login's refresh token went with it.
    t.api()
        .refresh(&t.login.refresh)
        .await
        .expect_token_error("token_revoked");
}

/// A spent refresh token presented again revokes the whole login: even the
/// newest refresh token and its access token are refused afterwards.
#[tokio::test]
async fn spent_refresh_token_revokes_the_family() {
    let t = Target::start("spent-refresh", "ES256").await;
    let api = t.api();
    let second = api.refresh_ok(&t.login.refresh).await;
    let third = api.refresh_ok(&second.refresh).await;
    api.refresh(&t.login.refresh)
        .await
        .expect_token_error("token_revoked");
    api.refresh(&third.refresh)
        .await
        .expect_token_error("token_revoked");
    api.refresh(&second.refresh)
        .await
        .expect_token_error("token_revoked");
    t.refused(&third.access, "token_revoked").await;
}

// ------------------------------------------------------------- cookies and CSRF

#[tokio::test]
async fn cookie_token_without_csrf_header() {
    let t = Target::start("csrf-missing", "ES256").await;
    let (cookie, _) = t.session().await;
    t.post_memo(&cookie, None, "", json!({"title": "t", "body": "b"}))
        .await
        .expect_token_error("csrf_failed");
}

#[tokio::test]
async fn cookie_token_with_a_wrong_csrf_header() {
    let t = Target::start("csrf-wrong", "ES256").await;
    let (cookie, csrf) = t.session().await;
    let mut flipped = csrf.clone().into_bytes();
    flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).unwrap();
    for wrong in [
        "",
        "wrong",
        flipped.as_str(),
        &csrf[..csrf.len() - 1],
        &format!("{csrf}x"),
        &csrf.to_uppercase(),
    ] {
        t.post_memo(&cookie, Some(wrong), "", json!({"title": "t", "body": "b"}))
            .await
            .expect_token_error("csrf_failed");
    }
    // Another session's CSRF value.
    let (_, other) = t.session().await;
    t.post_memo(
        &cookie,
        Some(&other),
        "",
        json!({"title": "t", "body": "b"}),
    )
    .await
    .expect_token_error("csrf_failed");
}

#[tokio::test]
async fn cookie_token_with_csrf_in_the_query() {
    let t = Target::start("csrf-query", "ES256").await;
    let (cookie, csrf) = t.session().await;
    for name in ["csrf", "csrf_token", "X-CSRF-TOKEN", "csrf_access_token"] {
        t.post_memo(
            &cookie,
            None,
            &format!("?{name}={csrf}"),
            json!({"title": "t", "body": "b"}),
        )
        .await
        .expect_token_error("csrf_failed");
    }
}

#[tokio::test]
async fn cookie_token_with_csrf_in_the_body() {
    let t = Target::start("csrf-body", "ES256").await;
    let (cookie, csrf) = t.session().await;
    for name in ["csrf", "csrf_token", "X-CSRF-TOKEN", "csrf_access_token"] {
        t.post_memo(
            &cookie,
            None,
            "",
            json!({"title": "t", "body": "b", name: csrf}),
        )
        .await
        .expect_token_error("csrf_failed");
    }
    // And the right header works: the refusals are about where it was.
    t.post_memo(&cookie, Some(&csrf), "", json!({"title": "t", "body": "b"}))
        .await
        .expect(201);
}

/// Cookie tossing: a second `access_token_cookie` (planted by a sibling
/// subdomain or for a narrower path) beside the real one.
#[tokio::test]
async fn access_token_cookie_twice() {
    let t = Target::start("cookie-twice", "ES256").await;
    let (cookie, csrf) = t.session().await;
    let real = cookie
        .split("; ")
        .find_map(|c| c.strip_prefix("access_token_cookie="))
        .unwrap()
        .to_owned();
    // The attacker's own valid session.
    t.api().register_ok("attacker", PASSWORD).await;
    let planted = t.api().login_ok("attacker", PASSWORD).await.access;
    let api = t.api();
    for headers in [
        vec![format!("access_token_cookie={planted}; {cookie}")],
        vec![format!("{cookie}; access_token_cookie={planted}")],
        vec![format!("access_token_cookie={planted}"), cookie.clone()],
        vec![format!("access_token_cookie={real}; {cookie}")],
    ] {
        for (method, path) in [(Method::GET, "/api/private"), (Method::GET, "/auth/me")] {
            let mut request = api.request(method.clone(), path);
            for h in &headers {
                request = request.header("cookie", h);
            }
            let msg = expect_invalid_header(api.send(request).await);
            assert!(msg.contains("access_token_cookie"), "{msg}");
        }
        let mut request = api
            .request(Method::POST, "/api/memos")
            .header("x-csrf-token", &csrf)
            .json(&json!({"title": "t", "body": "b"}));
        for h in &headers {
            request = request.header("cookie", h);
        }
        expect_invalid_header(api.send(request).await);
    }
}

// ------------------------------------------------------------- duplicate members and crit

refused_tokens! {
    duplicate_alg("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        [
            format!(r#"{{"alg":"ES256","alg":"HS256","kid":"{kid}","typ":"JWT"}}"#),
            format!(r#"{{"alg":"HS256","alg":"ES256","kid":"{kid}","typ":"JWT"}}"#),
            format!(r#"{{"alg":"ES256","alg":"ES256","kid":"{kid}","typ":"JWT"}}"#),
            format!(r#"{{"alg":"ES256","\u0061lg":"none","kid":"{kid}"}}"#),
        ]
        .iter()
        .map(|h| t.craft(h, &t.claims_json()))
        .collect()
    };
    duplicate_kid("ES256") => "invalid_token", |t| {
        let kid = t.kid();
        vec![t.craft(&format!(r#"{{"alg":"ES256","kid":"other","kid":"{kid}"}}"#), &t.claims_json())]
    };
    duplicate_sub("ES256") => "invalid_token", |t| {
        let payload = t.claims_json();
        vec![
            t.craft(&t.header_json(), &payload.replacen('{', r#"{"sub":"1","#, 1)),
            t.craft(&t.header_json(), &payload.replacen('{', r#"{"sub":"999","#, 1)),
            t.craft(&t.header_json(), &format!("{},\"sub\":\"999\"}}", &payload[..payload.len() - 1])),
        ]
    };
    duplicate_exp("ES256") => "invalid_token", |t| {
        let payload = t.claims_json();
        let later = now() + 10 * 365 * 24 * 3600;
        vec![
            t.craft(&t.header_json(), &format!("{},\"exp\":{later}}}", &payload[..payload.len() - 1])),
            t.craft(&t.header_json(), &payload.replacen('{', &format!("{{\"exp\":{later},"), 1)),
        ]
    };
    crit_unknown("ES256") => "invalid_token", |t| vec![t.with_header(|h| {
        h.insert("crit".into(), json!(["urn:example:unknown"]));
        h.insert("urn:example:unknown".into(), json!(true));
    })];
    crit_empty("ES256") => "invalid_token", |t| vec![t.with_header(|h| {
        h.insert("crit".into(), json!([]));
    })];
    crit_naming_alg("ES256") => "invalid_token", |t| vec![
        t.with_header(|h| { h.insert("crit".into(), json!(["alg"])); }),
        t.with_header(|h| { h.insert("crit".into(), json!(["exp"])); }),
        t.with_header(|h| { h.insert("crit".into(), json!("alg")); }),
        t.with_header(|h| {
            h.insert("crit".into(), json!(["b64"]));
            h.insert("b64".into(), json!(false));
        }),
    ];
}

// ------------------------------------------------------------- encoding and structure

/// A segment with `=` padding up to a multiple of four.
fn padded(segment: &str) -> String {
    let pad = (4 - segment.len() % 4) % 4;
    format!("{segment}{}", "=".repeat(pad.max(1)))
}

refused_tokens! {
    base64_padding("ES256") => "invalid_token", |t| {
        let h = b64(t.header_json().as_bytes());
        let p = b64(t.claims_json().as_bytes());
        let valid = t.sign_segments(&h, &p);
        let (_, sig) = valid.rsplit_once('.').unwrap();
        vec![
            t.sign_segments(&padded(&h), &p),
            t.sign_segments(&h, &padded(&p)),
            format!("{h}.{p}.{}", padded(sig)),
            format!("{valid}=="),
        ]
    };
    /// A tab in a segment (a space splits the header value: see
    /// `space_in_the_token`).
    whitespace_in_a_segment("ES256") => "invalid_token", |t| {
        let h = b64(t.header_json().as_bytes());
        let p = b64(t.claims_json().as_bytes());
        let (h1, h2) = h.split_at(8);
        let (p1, p2) = p.split_at(8);
        vec![
            t.sign_segments(&format!("{h1}\t{h2}"), &p),
            t.sign_segments(&h, &format!("{p1}\t{p2}")),
        ]
    };
    /// `+` and `/` of the standard alphabet, in each segment, with bytes
    /// chosen so that the standard encoding has them.
    standard_alphabet("ES256") => "invalid_token", |t| {
        let header = t.header_with(|h| { h.insert("x".into(), ">>>>>?????".into()); });
        let payload = t.claims_with(|c| { c.insert("x".into(), ">>>>>?????".into()); });
        let std_h = STANDARD.encode(header.as_bytes()).trim_end_matches('=').to_owned();
        let std_p = STANDARD.encode(payload.as_bytes()).trim_end_matches('=').to_owned();
        assert!(std_h.contains(['+', '/']) && std_p.contains(['+', '/']));
        let url_h = b64(header.as_bytes());
        let url_p = b64(payload.as_bytes());
        let good = t.sign_segments(&url_h, &url_p);
        let (input, sig) = good.rsplit_once('.').unwrap();
        let sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let mut tokens = vec![t.sign_segments(&std_h, &url_p), t.sign_segments(&url_h, &std_p)];
        let std_sig = STANDARD.encode(&sig_bytes).trim_end_matches('=').to_owned();
        if std_sig != sig {
            tokens.push(format!("{input}.{std_sig}"));
        }
        tokens
    };
    four_segments("ES256") => "invalid_token", |t| {
        let valid = t.valid();
        vec![format!("{valid}.{}", b64(b"{}")), format!("{valid}."), format!(".{valid}")]
    };
    five_segments("ES256") => "invalid_token", |t| {
        let valid = t.valid();
        let (input, sig) = valid.rsplit_once('.').unwrap();
        // JWE's five segments, and a JWS with extra ones.
        vec![format!("{valid}.."), format!("{input}.{sig}.{sig}.{sig}"), format!("{input}...{sig}")]
    };
    /// Dots only, under the token limit.
    many_dots_under_the_limit("ES256") => "invalid_token", |_t| vec![".".repeat(8000), "..".to_owned()];
    /// Nested arrays and objects, as deep as the 8 KiB token limit allows,
    /// in the header and the payload.
    deep_json_under_the_limit("ES256") => "invalid_token", |t| {
        let depth = 2500;
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth / 3), "}".repeat(depth / 3));
        let mut tokens = Vec::new();
        for deep in [&arrays, &objects] {
            tokens.push(t.craft(&t.header_json().replacen('{', &format!("{{\"x\":{deep},"), 1), &t.claims_json()));
            tokens.push(t.craft(&t.header_json(), &t.claims_json().replacen('{', &format!("{{\"x\":{deep},"), 1)));
            tokens.push(t.craft(deep, &t.claims_json()));
        }
        tokens
    };
    non_utf8_header("ES256") => "invalid_token", |t| {
        let header = t.header_json().replacen("JWT", "J\u{0}T", 1).into_bytes();
        let mut latin1 = t.header_json().into_bytes();
        latin1.splice(1..1, b"\"x\":\"\xe9\xff\xfe\",".iter().copied());
        let mut bytes = header.clone();
        bytes.push(0xff);
        vec![t.craft_bytes(&latin1, t.claims_json().as_bytes()), t.craft_bytes(&bytes, t.claims_json().as_bytes())]
    };
    non_utf8_payload("ES256") => "invalid_token", |t| {
        let mut latin1 = t.claims_json().into_bytes();
        latin1.splice(1..1, b"\"x\":\"\xe9\xff\xfe\",".iter().copied());
        // An overlong encoding of '/', and a lone surrogate in UTF-8.
        let mut overlong = t.claims_json().into_bytes();
        overlong.splice(1..1, b"\"x\":\"\xc0\xaf\xed\xa0\x80\",".iter().copied());
        vec![
            t.craft_bytes(t.header_json().as_bytes(), &latin1),
            t.craft_bytes(t.header_json().as_bytes(), &overlong),
        ]
    };
    utf8_bom("ES256") => "invalid_token", |t| {
        let bom = |json: String| [&b"\xef\xbb\xbf"[..], json.as_bytes()].concat();
        vec![
            t.craft_bytes(&bom(t.header_json()), t.claims_json().as_bytes()),
            t.craft_bytes(t.header_json().as_bytes(), &bom(t.claims_json())),
        ]
    };
}

/// A space inside the token: the `Authorization` value is then not
/// `Bearer <token>`.
#[tokio::test]
async fn space_in_the_token() {
    let t = Target::start("space", "ES256").await;
    let valid = t.valid();
    let (a, b) = valid.split_at(20);
    for value in [
        format!("Bearer {a} {b}"),
        format!("Bearer  {valid}"),
        format!("Bearer\t{valid}"),
        format!("Bearer{valid}"),
        format!("Basic {valid}"),
        format!("Bearer {valid}, Bearer {valid}"),
    ] {
        expect_invalid_header(t.authorization(value).await);
    }
    // Two Authorization headers, both valid.
    let api = t.api();
    expect_invalid_header(
        api.send(
            api.request(Method::GET, "/api/private")
                .header("authorization", format!("Bearer {valid}"))
                .header("authorization", format!("Bearer {valid}")),
        )
        .await,
    );
}

/// 100,000 dots: over the header limit.
#[tokio::test]
async fn hundred_thousand_dots() {
    let t = Target::start("dots", "ES256").await;
    expect_headers_too_large(
        t.authorization(format!("Bearer {}", ".".repeat(100_000)))
            .await,
    );
    t.api().assert_valid(&t.login.access).await;
}

/// A 1 MB `Authorization` header: answered 431 (by hyper, past its read
/// buffer), not a reset connection.
#[tokio::test]
async fn one_megabyte_authorization_header() {
    let t = Target::start("header-1mb", "ES256").await;
    let valid = t.valid();
    // Over the service's 16 KiB limit, under hyper's buffer: its JSON 431.
    t.authorization(format!("Bearer {}", "a".repeat(30_000)))
        .await
        .expect_error(431, "invalid_request");
    for value in [
        format!("Bearer {}", "a".repeat(1024 * 1024)),
        format!("Bearer {valid}{}", "A".repeat(1024 * 1024)),
    ] {
        expect_headers_too_large(t.authorization(value).await);
    }
    t.api().assert_valid(&t.login.access).await;
}

/// JSON nested 100,000 deep in the header and in the payload: the token is
/// over the header limit.
#[tokio::test]
async fn json_nested_hundred_thousand_deep() {
    let t = Target::start("deep-json", "ES256").await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for token in [
        t.craft(&deep, &t.claims_json()),
        t.craft(
            &t.header_json(),
            &t.claims_json()
                .replacen('{', &format!("{{\"x\":{deep},"), 1),
        ),
    ] {
        expect_headers_too_large(t.authorization(format!("Bearer {token}")).await);
    }
    t.api().assert_valid(&t.login.access).await;
}

// ------------------------------------------------------------- register and login

/// Registration and login with SQL in the username: refused by the
/// username rule, never a login as the victim.
#[tokio::test]
async fn sql_in_usernames() {
    let t = Target::start("sql-usernames", "ES256").await;
    let api = t.api();
    for name in [
        "victim' --",
        "victim'--",
        "' OR 1=1--",
        "' OR '1'='1",
        "victim\" OR \"1\"=\"1",
        "victim'; DROP TABLE users;--",
        "%' OR username LIKE '%",
        "victim%",
        "vic_im",
        "v%",
    ] {
        if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && name.len() >= 3
        {
            // Valid by the rule ("vic_im"): a name of its own, never the victim's.
            api.login(name, PASSWORD)
                .await
                .expect_error(401, "invalid_credentials");
            continue;
        }
        api.register(name, PASSWORD)
            .await
            .expect_error(400, "invalid_request");
        api.login(name, PASSWORD)
            .await
            .expect_error(401, "invalid_credentials");
        api.login(name, "anything at all")
            .await
            .expect_error(401, "invalid_credentials");
    }
    // LIKE wildcards are not wildcards: `vic_im` registers as a new user.
    let other = api.register_ok("vic_im", "another password").await;
    let victim = api
        .get_bearer("/auth/me", &t.login.access)
        .await
        .expect(200)
        .json();
    assert_ne!(other["id"], victim["id"]);
    api.login("vic_im", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    api.login_ok("victim", PASSWORD).await;
}

/// Unicode look-alikes and case-folding tricks of the victim's name: refused
/// by the ASCII rule at registration, and no login as the victim.
#[tokio::test]
async fn unicode_usernames() {
    let t = Target::start("unicode-usernames", "ES256").await;
    let api = t.api();
    for name in [
        "vіctim",         // Cyrillic і
        "ｖｉｃｔｉｍ",   // fullwidth
        "VİCTIM",         // Turkish dotted capital I
        "victim\u{200b}", // zero-width space
        "victim\u{0301}", // combining accent
        "\u{212a}elvin",  // Kelvin sign, lower-cases to k
        "bjørn",
        "用户名",
        "victim\u{0}",
        "\u{feff}victim",
    ] {
        api.register(name, PASSWORD)
            .await
            .expect_error(400, "invalid_request");
        api.login(name, PASSWORD)
            .await
            .expect_error(401, "invalid_credentials");
    }
    api.register("VICTIM", PASSWORD)
        .await
        .expect_error(409, "username_taken");
}

#[tokio::test]
async fn one_megabyte_password() {
    let t = Target::start("password-1mb", "ES256").await;
    let api = t.api();
    let password = "p".repeat(1024 * 1024);
    for path in ["/auth/register", "/auth/login", "/auth/session"] {
        // Refused before the body is read, with `Connection: close`, so
        // the client's pool does not send the next request (below, on the
        // same client) on a connection the server is closing.
        let resp = api
            .send(
                api.request(Method::POST, path)
                    .json(&json!({"username": "victim", "password": password})),
            )
            .await;
        let status = resp.status;
        assert_eq!(
            resp.header("connection").as_deref(),
            Some("close"),
            "{resp:?}"
        );
        let body = resp.json();
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("invalid_request")),
            "{path}: {body}"
        );
        api.get("/healthz").await.expect(200);
    }
    // Just over the 1024-byte password limit, well under the body limit.
    api.register("newcomer", &"p".repeat(1025))
        .await
        .expect_error(400, "invalid_request");
    api.login("victim", &format!("{PASSWORD}{}", "p".repeat(1025)))
        .await
        .expect_error(401, "invalid_credentials");
}

/// Credentials as something other than a JSON body.
#[tokio::test]
async fn credentials_with_wrong_content_types() {
    let t = Target::start("content-types", "ES256").await;
    let api = t.api();
    let json_text = json!({"username": "victim", "password": PASSWORD}).to_string();
    for path in ["/auth/register", "/auth/login", "/auth/session"] {
        for (content_type, body) in [
            (None, json_text.clone()),
            (Some("text/plain"), json_text.clone()),
            (
                Some("application/x-www-form-urlencoded"),
                format!("username=victim&password={}", PASSWORD.replace(' ', "+")),
            ),
            (
                Some("multipart/form-data; boundary=x"),
                "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nvictim\r\n--x--\r\n"
                    .to_owned(),
            ),
            (Some("application/xml"), "<username>victim</username>".into()),
            (Some("json"), json_text.clone()),
        ] {
            let mut request = api.request(Method::POST, path).body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            api.send(request)
                .await
                .expect_error(400, "invalid_request");
        }
    }
}

#[tokio::test]
async fn truncated_or_empty_credentials() {
    let t = Target::start("truncated", "ES256").await;
    let api = t.api();
    let json_text = json!({"username": "victim", "password": PASSWORD}).to_string();
    for path in ["/auth/register", "/auth/login", "/auth/session"] {
        for body in [
            json_text[..json_text.len() - 1].to_owned(),
            json_text[..json_text.len() / 2].to_owned(),
            "{".to_owned(),
            String::new(),
            "null".to_owned(),
            "[]".to_owned(),
            r#"{"username":"victim","password":"correct horse battery","password":"x"}"#.to_owned(),
            r#"{"username":["victim"],"password":"correct horse battery"}"#.to_owned(),
            r#"{"username":"victim","password":null}"#.to_owned(),
            "\u{feff}".to_owned() + &json_text,
        ] {
            let resp = api
                .send(
                    api.request(Method::POST, path)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                )
                .await;
            let shown = format!("{path} {body:?}: {resp:?}");
            let status = resp.status;
            let code = resp.json()["code"].clone();
            assert_eq!(
                (status, code.as_str()),
                (400, Some("invalid_request")),
                "{shown}"
            );
        }
        // No body at all, and no content type.
        api.send(api.request(Method::POST, path))
            .await
            .expect_error(400, "invalid_request");
    }
}
