//! DPoP (RFC 9449) through the service: a login with a `DPoP` proof gets a
//! pair bound to the proof's key (`token_type` `DPoP`, `cnf.jkt`), good
//! only as `Authorization: DPoP <token>` with a fresh proof by that key for
//! the very request; the refusals (`invalid_dpop_proof`, `use_dpop_nonce`,
//! `invalid_token`) with their `DPoP` challenge; refresh, logout and the
//! sessions list with bound tokens; the modes `off` and `required`; server
//! nonces; the URL behind a trusted proxy; forward auth; and a proof's
//! replay refused across two instances sharing Redis.
//!
//! The proofs are made here, with tokengate's own keys, exactly as a
//! client makes them. The URL a proof names is the one the test client
//! uses: `http://127.0.0.1:PORT/PATH` (reqwest's `Host` is `127.0.0.1:PORT`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokengate::dpop::access_token_hash;
use tokengate::keys::{Algorithm, Jwk, SigningKey};

use crate::common::{
    Api, Pair, PgDatabase, RedisPrefix, Resp, Server, TestDir, claims, eventually,
};

const PASSWORD: &str = "correct horse battery";

/// The challenge's `algs` with the default `dpop_algorithms`.
const ALGS: &str = "ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256";

/// `DPoP algs="…", error="…"`.
fn challenge(algs: &str, error: &str) -> String {
    format!(r#"DPoP algs="{algs}", error="{error}""#)
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("a sane clock")
}

/// A `jti` no other proof of any test uses.
fn new_jti() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// A compact JWS of `header` and `claims` signed by `key`.
fn sign_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A compact JWS of the JSON texts `header` and `claims` as they are
/// (duplicate members and all) signed by `key`.
fn sign_raw(key: &SigningKey, header: &str, claims: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A proof's claims: a fresh `jti`, `htm`, `htu`, `iat` now, and `ath`
/// over `token` when one goes with it.
fn proof_claims(method: &str, url: &str, token: Option<&str>) -> Value {
    let mut claims = json!({"jti": new_jti(), "htm": method, "htu": url, "iat": now()});
    if let Some(token) = token {
        claims["ath"] = json!(access_token_hash(token));
    }
    claims
}

/// A client's DPoP key.
struct Holder {
    key: SigningKey,
    /// The public key as the proofs' header carries it: the members of its
    /// RFC 7638 thumbprint only.
    jwk: Value,
}

impl Holder {
    fn new(alg: Algorithm) -> Holder {
        let key = SigningKey::generate(alg).expect("generate a key");
        let public = key.verifying_key().to_jwk().expect("a public key");
        let mut jwk = serde_json::to_value(&public).expect("JWK");
        let jwk_members = jwk.as_object_mut().expect("an object");
        for member in ["kid", "alg", "use"] {
            jwk_members.remove(member);
        }
        Holder { key, jwk }
    }

    /// The key's RFC 7638 thumbprint: the `cnf.jkt` of its tokens.
    fn jkt(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.jwk.clone()).expect("a JWK");
        jwk.thumbprint().expect("a thumbprint")
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.key.algorithm().as_str(), "jwk": self.jwk})
    }

    /// A proof with these claims and the usual header.
    fn sign(&self, claims: &Value) -> String {
        sign_with(&self.key, &self.header(), claims)
    }

    /// A good proof for `method url`, with `ath` over `token` when given.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.sign(&proof_claims(method, url, token))
    }

    /// [`Holder::proof`] with the server's `nonce`.
    fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: &str,
    ) -> String {
        let mut claims = proof_claims(method, url, token);
        claims["nonce"] = json!(nonce);
        self.sign(&claims)
    }
}

/// The URL the test client sends `path` to.
fn url(api: &Api, path: &str) -> String {
    format!("{}{path}", api.base())
}

fn credentials(name: &str) -> Value {
    json!({"username": name, "password": PASSWORD})
}

/// `POST /auth/login` with `DPoP: proof`.
fn login_request(api: &Api, name: &str, proof: &str) -> RequestBuilder {
    api.request(Method::POST, "/auth/login")
        .header("DPoP", proof)
        .json(&credentials(name))
}

/// `METHOD path` with `Authorization: DPoP token` and, when given, `DPoP: proof`.
fn dpop_request(
    api: &Api,
    method: Method,
    path: &str,
    token: &str,
    proof: Option<&str>,
) -> RequestBuilder {
    let request = api
        .request(method, path)
        .header("Authorization", format!("DPoP {token}"));
    match proof {
        Some(proof) => request.header("DPoP", proof),
        None => request,
    }
}

/// The tokens of a login or refresh answer, which must be bound to `holder`'s
/// key: `token_type` `DPoP`, and `cnf.jkt` in both tokens.
#[track_caller]
fn bound_pair(body: &Value, holder: &Holder) -> Pair {
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0), "{body}");
    let token = |name: &str| {
        body[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    let pair = Pair {
        access: token("access_token"),
        refresh: token("refresh_token"),
    };
    for token in [&pair.access, &pair.refresh] {
        let claims = claims(token);
        assert_eq!(claims["cnf"], json!({"jkt": holder.jkt()}), "{claims}");
    }
    pair
}

/// Logs in with a proof by `holder` (no nonce): a bound pair.
async fn bound_login(api: &Api, name: &str, holder: &Holder) -> Pair {
    let proof = holder.proof("POST", &url(api, "/auth/login"), None);
    let body = api
        .send(login_request(api, name, &proof))
        .await
        .expect(200)
        .json();
    bound_pair(&body, holder)
}

/// `GET /api/private` with the bound token and a good proof by `holder`.
async fn private_with(api: &Api, holder: &Holder, token: &str) -> Resp {
    let proof = holder.proof("GET", &url(api, "/api/private"), Some(token));
    api.send(dpop_request(
        api,
        Method::GET,
        "/api/private",
        token,
        Some(&proof),
    ))
    .await
}

/// Asserts a DPoP refusal: 401, `code`, and the `DPoP` challenge naming
/// `algs` and `code`; returns the message.
#[track_caller]
fn expect_dpop_refusal(resp: Resp, algs: &str, code: &str) -> String {
    let found = resp.header("www-authenticate");
    let what = format!("{resp:?}");
    let msg = resp.expect_error(401, code);
    assert_eq!(
        found.as_deref(),
        Some(challenge(algs, code).as_str()),
        "{what}"
    );
    msg
}

/// [`expect_dpop_refusal`] with the default algorithms and `invalid_dpop_proof`.
#[track_caller]
fn expect_bad_proof(resp: Resp) -> String {
    expect_dpop_refusal(resp, ALGS, "invalid_dpop_proof")
}

/// A `use_dpop_nonce` refusal; returns the nonce of its `DPoP-Nonce`.
#[track_caller]
fn expect_use_nonce(resp: Resp) -> String {
    let nonce = resp
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce: {resp:?}"));
    assert!(!nonce.is_empty(), "{resp:?}");
    expect_dpop_refusal(resp, ALGS, "use_dpop_nonce");
    nonce
}

/// Starts a server on `dir` with `env`, registers `name`.
async fn server_with_user(dir: &TestDir, env: &[(&str, &str)], name: &str) -> Server {
    let server = Server::start(dir, env);
    server.api().register_ok(name, PASSWORD).await;
    server
}

// ---------------------------------------------------------------------------
// A login with a proof binds the tokens.

#[tokio::test]
async fn a_login_with_a_proof_binds_the_pair_to_the_key() {
    let dir = TestDir::new("dpop-bind");
    let server = server_with_user(&dir, &[], "alice").await;
    let api = server.api();

    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let holder = Holder::new(alg);
        let pair = bound_login(api, "alice", &holder).await;

        let resp = private_with(api, &holder, &pair.access).await.expect(200);
        assert_eq!(resp.json()["sub"], claims(&pair.access)["sub"], "{alg:?}");
        let proof = holder.proof("GET", &url(api, "/auth/me"), Some(&pair.access));
        let me = api
            .send(dpop_request(
                api,
                Method::GET,
                "/auth/me",
                &pair.access,
                Some(&proof),
            ))
            .await
            .expect(200)
            .json();
        assert_eq!(me["username"], "alice", "{me}");
        // The scheme is case-insensitive, and the query is no part of `htu`.
        let proof = holder.proof("GET", &url(api, "/api/private"), Some(&pair.access));
        api.send(
            api.request(Method::GET, "/api/private?page=2")
                .header("Authorization", format!("dpop {}", pair.access))
                .header("DPoP", proof),
        )
        .await
        .expect(200);

        // A bound token is no bearer token, with or without a proof.
        let msg = expect_dpop_refusal(api.private(&pair.access).await, ALGS, "invalid_token");
        assert!(msg.contains("DPoP"), "{msg}");
        let proof = holder.proof("GET", &url(api, "/api/private"), Some(&pair.access));
        let resp = api
            .send(
                api.request(Method::GET, "/api/private")
                    .bearer_auth(&pair.access)
                    .header("DPoP", proof),
            )
            .await;
        expect_dpop_refusal(resp, ALGS, "invalid_token");
    }

    // A bearer pair is still what a login without a proof gets, and the
    // DPoP scheme is refused for its unbound token.
    let bearer = api.login_ok("alice", PASSWORD).await;
    assert!(claims(&bearer.access).get("cnf").is_none());
    api.assert_valid(&bearer.access).await;
    let holder = Holder::new(Algorithm::ES256);
    let resp = private_with(api, &holder, &bearer.access).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");
}

/// A browser's key (WebCrypto's `exportKey("jwk")`) carries `ext` and
/// `key_ops` besides the key: accepted, and the thumbprint is the key's.
#[tokio::test]
async fn a_webcrypto_style_jwk_is_accepted() {
    let dir = TestDir::new("dpop-webcrypto");
    let server = server_with_user(&dir, &[], "wendy").await;
    let api = server.api();
    let mut holder = Holder::new(Algorithm::ES256);
    holder.jwk["ext"] = json!(true);
    holder.jwk["key_ops"] = json!(["verify"]);
    let pair = bound_login(api, "wendy", &holder).await;
    private_with(api, &holder, &pair.access).await.expect(200);
}

// ---------------------------------------------------------------------------
// Bad proofs.

/// Every way a proof can be wrong, on a resource: 401
/// `invalid_dpop_proof` with the challenge; none of them spends the token.
#[tokio::test]
async fn bad_proofs_are_refused_with_invalid_dpop_proof() {
    let dir = TestDir::new("dpop-bad-proofs");
    let env = [("TOKENGATE_DPOP_PROOF_MAX_AGE", "5s")];
    let server = server_with_user(&dir, &env, "bob").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let pair = bound_login(api, "bob", &holder).await;
    let token = pair.access.as_str();
    let here = url(api, "/api/private");
    let send = |proof: Option<String>| async move {
        let mut request = dpop_request(api, Method::GET, "/api/private", token, None);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        api.send(request).await
    };

    // No proof.
    let msg = expect_bad_proof(send(None).await);
    assert!(msg.contains("required"), "{msg}");

    // A replay: the same proof twice.
    let proof = holder.proof("GET", &here, Some(token));
    send(Some(proof.clone())).await.expect(200);
    let msg = expect_bad_proof(send(Some(proof)).await);
    assert!(msg.contains("already used"), "{msg}");

    // Each with the reason the message gives.
    let with_claims = |edit: &dyn Fn(&mut Value)| {
        let mut claims = proof_claims("GET", &here, Some(token));
        edit(&mut claims);
        holder.sign(&claims)
    };
    let with_header = |edit: &dyn Fn(&mut Value)| {
        let mut header = holder.header();
        edit(&mut header);
        sign_with(
            &holder.key,
            &header,
            &proof_claims("GET", &here, Some(token)),
        )
    };
    let other = |path: &str| holder.proof("GET", &url(api, path), Some(token));
    let cases: Vec<(&str, String, &str)> = vec![
        ("another URL", other("/api/public"), "another URL"),
        ("a trailing slash", other("/api/private/"), "another URL"),
        (
            "another port",
            holder.proof("GET", "http://127.0.0.1:1/api/private", Some(token)),
            "another URL",
        ),
        (
            "another scheme",
            holder.proof("GET", &here.replace("http://", "https://"), Some(token)),
            "another URL",
        ),
        (
            "a relative URL",
            holder.proof("GET", "/api/private", Some(token)),
            "another URL",
        ),
        (
            "another method",
            holder.proof("POST", &here, Some(token)),
            "another method",
        ),
        (
            "the method in lower case",
            holder.proof("get", &here, Some(token)),
            "another method",
        ),
        (
            "another key",
            Holder::new(Algorithm::ES256).proof("GET", &here, Some(token)),
            "another key",
        ),
        ("no ath", holder.proof("GET", &here, None), "has no ath"),
        (
            "the ath of another token",
            holder.proof("GET", &here, Some(&pair.refresh)),
            "ath is not the token's hash",
        ),
        (
            "an iat older than dpop_proof_max_age (5 s here, 60 s by default)",
            with_claims(&|c| c["iat"] = json!(now() - 30)),
            "too old",
        ),
        (
            "iat in the future",
            with_claims(&|c| c["iat"] = json!(now() + 60)),
            "in the future",
        ),
        (
            "iat as a string",
            with_claims(&|c| c["iat"] = json!(now().to_string())),
            "must hold jti, htm, htu and iat",
        ),
        (
            "no jti",
            with_claims(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "must hold jti, htm, htu and iat",
        ),
        (
            "an empty jti",
            with_claims(&|c| c["jti"] = json!("")),
            "1 to 256 characters",
        ),
        (
            "a private key in jwk",
            private_jwk_proof("GET", &here, Some(token)),
            "must be a public key",
        ),
        (
            "an HMAC proof",
            hmac_proof("GET", &here, Some(token)),
            "algorithm is not accepted",
        ),
        (
            "typ JWT",
            with_header(&|h| h["typ"] = json!("JWT")),
            "typ must be dpop+jwt",
        ),
        (
            "alg none",
            {
                let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": holder.jwk});
                let claims = proof_claims("GET", &here, Some(token));
                format!("{}.{}.", b64_json(&header), b64_json(&claims))
            },
            "algorithm is not accepted",
        ),
        (
            "an alg that is not the key's",
            with_header(&|h| h["alg"] = json!("ES384")),
            "not a key for its algorithm",
        ),
        (
            "a crit header",
            with_header(&|h| h["crit"] = json!(["exp"])),
            "critical header",
        ),
        (
            "no jwk",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            "must hold typ, alg and jwk",
        ),
        (
            "a bad signature",
            {
                let proof = holder.proof("GET", &here, Some(token));
                let (input, _) = proof.rsplit_once('.').unwrap();
                let other = holder.proof("GET", &here, Some(token));
                let (_, signature) = other.rsplit_once('.').unwrap();
                format!("{input}.{signature}")
            },
            "signature does not verify",
        ),
        (
            "a jti of 257 characters",
            with_claims(&|c| c["jti"] = json!("j".repeat(257))),
            "1 to 256 characters",
        ),
        (
            "a member twice in the header",
            sign_raw(
                &holder.key,
                &format!(
                    r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{}}}"#,
                    holder.jwk
                ),
                &proof_claims("GET", &here, Some(token)).to_string(),
            ),
            "must hold typ, alg and jwk",
        ),
        (
            "a member twice in the claims",
            {
                let claims = proof_claims("GET", &here, Some(token)).to_string();
                let claims = claims.replacen('{', r#"{"htu":"http://elsewhere.example/","#, 1);
                sign_raw(&holder.key, &holder.header().to_string(), &claims)
            },
            "must hold jti, htm, htu and iat",
        ),
        (
            "not a JWS",
            "x.y.z".to_owned(),
            "must hold typ, alg and jwk",
        ),
        (
            "the access token itself",
            token.to_owned(),
            "must hold typ, alg and jwk",
        ),
    ];
    for (what, proof, reason) in cases {
        let resp = send(Some(proof)).await;
        let what = format!("{what}: {resp:?}");
        let msg = expect_bad_proof(resp);
        assert!(msg.contains(reason), "{what}: {msg}");
        assert!(!msg.contains(token), "{what}");
    }

    // Two DPoP headers.
    let resp = api
        .send(
            dpop_request(api, Method::GET, "/api/private", token, None)
                .header("DPoP", holder.proof("GET", &here, Some(token)))
                .header("DPoP", holder.proof("GET", &here, Some(token))),
        )
        .await;
    expect_bad_proof(resp);

    // None of that harmed the token.
    private_with(api, &holder, token).await.expect(200);
}

/// A proof whose `jwk` is the private key (RFC 8037's example key), signed
/// by it.
fn private_jwk_proof(method: &str, url: &str, token: Option<&str>) -> String {
    let private = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    });
    let jwk: Jwk = serde_json::from_value(private.clone()).expect("a JWK");
    let key = SigningKey::from_jwk(&jwk, Some(Algorithm::EdDSA)).expect("RFC 8037's key");
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": private});
    sign_with(&key, &header, &proof_claims(method, url, token))
}

/// A proof "signed" with a shared secret, the secret as its `jwk`.
fn hmac_proof(method: &str, url: &str, token: Option<&str>) -> String {
    let secret = [7u8; 32];
    let key = SigningKey::from_secret(Algorithm::HS256, &secret).expect("an HMAC key");
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret)});
    let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk});
    sign_with(&key, &header, &proof_claims(method, url, token))
}

/// A member twice in the proof's `jwk` is refused like a member twice in
/// its header or claims (docs/decisions.md: "duplicate members refused"):
/// two parsers could otherwise read two different keys from one proof.
#[tokio::test]
async fn a_member_twice_in_the_proofs_jwk_is_refused() {
    let dir = TestDir::new("dpop-jwk-twice");
    let server = server_with_user(&dir, &[], "otto").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let pair = bound_login(api, "otto", &holder).await;
    let other = Holder::new(Algorithm::ES256);
    let jwk = format!(
        r#"{{"kty":"EC","crv":"P-256","x":{},"x":{},"y":{}}}"#,
        other.jwk["x"], holder.jwk["x"], holder.jwk["y"]
    );
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk}}}"#);
    let claims = proof_claims("GET", &url(api, "/api/private"), Some(&pair.access));
    let proof = sign_raw(&holder.key, &header, &claims.to_string());
    let resp = api
        .send(dpop_request(
            api,
            Method::GET,
            "/api/private",
            &pair.access,
            Some(&proof),
        ))
        .await;
    expect_bad_proof(resp);
}

/// One proof sent many times at once is accepted once.
#[tokio::test]
async fn a_proof_sent_many_times_at_once_is_accepted_once() {
    let dir = TestDir::new("dpop-race");
    let server = server_with_user(&dir, &[], "pia").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::EdDSA);
    let pair = bound_login(api, "pia", &holder).await;
    let proof = holder.proof("GET", &url(api, "/api/private"), Some(&pair.access));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (api, token, proof) = (api.clone(), pair.access.clone(), proof.clone());
        requests.spawn(async move {
            api.send(dpop_request(
                &api,
                Method::GET,
                "/api/private",
                &token,
                Some(&proof),
            ))
            .await
        });
    }
    let mut accepted = 0;
    while let Some(resp) = requests.join_next().await {
        let resp = resp.expect("the request task");
        if resp.status == 200 {
            accepted += 1;
        } else {
            let msg = expect_bad_proof(resp);
            assert!(msg.contains("already used"), "{msg}");
        }
    }
    assert_eq!(accepted, 1);
}

/// A bad proof at login is a 401 `invalid_dpop_proof` with the challenge
/// (never a 500, never a pair); a login proof is good once.
#[tokio::test]
async fn a_bad_proof_at_login_is_refused() {
    let dir = TestDir::new("dpop-bad-login");
    let server = server_with_user(&dir, &[], "carol").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::EdDSA);
    let login = url(api, "/auth/login");

    let cases: Vec<(&str, String, &str)> = vec![
        ("not a JWS", "garbage".to_owned(), "compact form"),
        (
            "another URL",
            holder.proof("POST", &url(api, "/auth/refresh"), None),
            "another URL",
        ),
        (
            "another method",
            holder.proof("GET", &login, None),
            "another method",
        ),
        (
            "stale iat",
            {
                let mut claims = proof_claims("POST", &login, None);
                claims["iat"] = json!(now() - 600);
                holder.sign(&claims)
            },
            "too old",
        ),
        (
            "a private key in jwk",
            private_jwk_proof("POST", &login, None),
            "must be a public key",
        ),
        (
            "an HMAC proof",
            hmac_proof("POST", &login, None),
            "algorithm is not accepted",
        ),
        (
            "a bad signature",
            {
                let proof = holder.proof("POST", &login, None);
                format!("{}AAAA", &proof[..proof.len() - 4])
            },
            "signature does not verify",
        ),
    ];
    for (what, proof, reason) in cases {
        let resp = api.send(login_request(api, "carol", &proof)).await;
        let what = format!("{what}: {resp:?}");
        assert!(resp.header("set-cookie").is_none(), "{what}");
        let msg = expect_bad_proof(resp);
        assert!(msg.contains(reason), "{what}: {msg}");
    }
    // Two proofs.
    let resp = api
        .send(
            login_request(api, "carol", &holder.proof("POST", &login, None))
                .header("DPoP", holder.proof("POST", &login, None)),
        )
        .await;
    expect_bad_proof(resp);

    // A proof made 30 s ago is still good (`dpop_proof_max_age` is 60 s).
    let mut claims = proof_claims("POST", &login, None);
    claims["iat"] = json!(now() - 30);
    let body = api
        .send(login_request(api, "carol", &holder.sign(&claims)))
        .await
        .expect(200)
        .json();
    bound_pair(&body, &holder);

    // A proof at login is good once.
    let proof = holder.proof("POST", &login, None);
    let body = api
        .send(login_request(api, "carol", &proof))
        .await
        .expect(200)
        .json();
    bound_pair(&body, &holder);
    let msg = expect_bad_proof(api.send(login_request(api, "carol", &proof)).await);
    assert!(msg.contains("already used"), "{msg}");

    // The proof is checked before the password.
    let resp = api
        .send(
            api.request(Method::POST, "/auth/login")
                .header("DPoP", "garbage")
                .json(&json!({"username": "carol", "password": "wrong password"})),
        )
        .await;
    expect_bad_proof(resp);
    // A good proof with a wrong password is the usual refusal.
    let resp = api
        .send(
            api.request(Method::POST, "/auth/login")
                .header("DPoP", holder.proof("POST", &login, None))
                .json(&json!({"username": "carol", "password": "wrong password"})),
        )
        .await;
    resp.expect_error(401, "invalid_credentials");
}

/// `dpop_algorithms` narrows what a proof may use, and the challenge says so.
#[tokio::test]
async fn dpop_algorithms_limit_the_proofs_and_the_challenge() {
    let dir = TestDir::new("dpop-algs");
    let env = [("TOKENGATE_DPOP_ALGORITHMS", "EdDSA, ES384")];
    let server = server_with_user(&dir, &env, "dan").await;
    let api = server.api();

    let es256 = Holder::new(Algorithm::ES256);
    let proof = es256.proof("POST", &url(api, "/auth/login"), None);
    let resp = api.send(login_request(api, "dan", &proof)).await;
    let msg = expect_dpop_refusal(resp, "EdDSA ES384", "invalid_dpop_proof");
    assert!(msg.contains("algorithm"), "{msg}");

    let eddsa = Holder::new(Algorithm::EdDSA);
    let pair = bound_login(api, "dan", &eddsa).await;
    private_with(api, &eddsa, &pair.access).await.expect(200);
    expect_dpop_refusal(
        api.private(&pair.access).await,
        "EdDSA ES384",
        "invalid_token",
    );
}

// ---------------------------------------------------------------------------
// Refresh.

/// `POST /auth/refresh` with the bound refresh token as `DPoP` and a proof
/// (`ath` over the refresh token): a new pair bound to the same key. Another
/// key's proof, no proof, or the bearer scheme are refused, and leave the
/// refresh token unspent.
#[tokio::test]
async fn a_bound_refresh_token_refreshes_with_a_proof_by_its_key() {
    let dir = TestDir::new("dpop-refresh");
    let server = server_with_user(&dir, &[], "erin").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let pair = bound_login(api, "erin", &holder).await;
    let refresh_url = url(api, "/auth/refresh");
    let refresh = |token: &str, proof: Option<String>| {
        dpop_request(api, Method::POST, "/auth/refresh", token, proof.as_deref())
    };

    let thief = Holder::new(Algorithm::ES256);
    let resp = api
        .send(refresh(
            &pair.refresh,
            Some(thief.proof("POST", &refresh_url, Some(&pair.refresh))),
        ))
        .await;
    let msg = expect_bad_proof(resp);
    assert!(msg.contains("another key"), "{msg}");
    expect_bad_proof(api.send(refresh(&pair.refresh, None)).await);
    // The access token's hash, or the access token, will not do.
    let resp = api
        .send(refresh(
            &pair.refresh,
            Some(holder.proof("POST", &refresh_url, Some(&pair.access))),
        ))
        .await;
    expect_bad_proof(resp);
    let resp = api
        .send(refresh(
            &pair.access,
            Some(holder.proof("POST", &refresh_url, Some(&pair.access))),
        ))
        .await;
    resp.expect_token_error("wrong_token_type");
    let resp = api.refresh(&pair.refresh).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");

    // The holder refreshes: the new pair is bound to the same key.
    let proof = holder.proof("POST", &refresh_url, Some(&pair.refresh));
    let resp = api
        .send(refresh(&pair.refresh, Some(proof)))
        .await
        .expect(200);
    assert!(resp.header("dpop-nonce").is_none(), "{resp:?}");
    let second = bound_pair(&resp.json(), &holder);
    assert_eq!(claims(&second.access)["fam"], claims(&pair.access)["fam"]);
    private_with(api, &holder, &second.access).await.expect(200);
    expect_dpop_refusal(api.private(&second.access).await, ALGS, "invalid_token");

    // And again, with the new refresh token.
    let proof = holder.proof("POST", &refresh_url, Some(&second.refresh));
    let body = api
        .send(refresh(&second.refresh, Some(proof)))
        .await
        .expect(200)
        .json();
    bound_pair(&body, &holder);
}

// ---------------------------------------------------------------------------
// Logout, sessions, password change.

#[tokio::test]
async fn logout_sessions_and_password_change_take_bound_tokens() {
    let dir = TestDir::new("dpop-sessions");
    let server = server_with_user(&dir, &[], "frank").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::EdDSA);
    let first = bound_login(api, "frank", &holder).await;
    let second = bound_login(api, "frank", &holder).await;

    // The sessions list.
    let proof = holder.proof("GET", &url(api, "/auth/sessions"), Some(&first.access));
    let body = api
        .send(dpop_request(
            api,
            Method::GET,
            "/auth/sessions",
            &first.access,
            Some(&proof),
        ))
        .await
        .expect(200)
        .json();
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{body}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{body}");
    assert_eq!(current[0]["id"], claims(&first.access)["fam"], "{body}");
    // As a bearer token: refused.
    let resp = api.get_bearer("/auth/sessions", &first.access).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");

    // Logout with the access token (and with the refresh token of the
    // other login), each with a proof: that login is over.
    let logout = url(api, "/auth/logout");
    let resp = api.post_bearer("/auth/logout", &first.access, None).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");
    let proof = holder.proof("POST", &logout, Some(&first.access));
    api.send(dpop_request(
        api,
        Method::POST,
        "/auth/logout",
        &first.access,
        Some(&proof),
    ))
    .await
    .expect(200);
    let resp = private_with(api, &holder, &first.access).await;
    resp.expect_token_error("token_revoked");
    let refresh_url = url(api, "/auth/refresh");
    let proof = holder.proof("POST", &refresh_url, Some(&first.refresh));
    let resp = api
        .send(dpop_request(
            api,
            Method::POST,
            "/auth/refresh",
            &first.refresh,
            Some(&proof),
        ))
        .await;
    resp.expect_token_error("token_revoked");

    let proof = holder.proof("DELETE", &logout, Some(&second.refresh));
    api.send(dpop_request(
        api,
        Method::DELETE,
        "/auth/logout",
        &second.refresh,
        Some(&proof),
    ))
    .await
    .expect(200);
    let proof = holder.proof("POST", &refresh_url, Some(&second.refresh));
    let resp = api
        .send(dpop_request(
            api,
            Method::POST,
            "/auth/refresh",
            &second.refresh,
            Some(&proof),
        ))
        .await;
    resp.expect_token_error("token_revoked");

    // A password change with a fresh bound token: the new pair stays bound.
    let third = bound_login(api, "frank", &holder).await;
    let proof = holder.proof("POST", &url(api, "/auth/password"), Some(&third.access));
    let body = api
        .send(
            dpop_request(
                api,
                Method::POST,
                "/auth/password",
                &third.access,
                Some(&proof),
            )
            .json(&json!({"current_password": PASSWORD, "new_password": "a new long password"})),
        )
        .await
        .expect(200)
        .json();
    let fourth = bound_pair(&body, &holder);
    private_with(api, &holder, &fourth.access).await.expect(200);

    // A bound login does not carry on as a cookie session: its refresh
    // token at /auth/session/refresh (with a good proof) is refused, and
    // the token is not spent.
    let proof = holder.proof(
        "POST",
        &url(api, "/auth/session/refresh"),
        Some(&fourth.refresh),
    );
    let resp = api
        .send(dpop_request(
            api,
            Method::POST,
            "/auth/session/refresh",
            &fourth.refresh,
            Some(&proof),
        ))
        .await;
    assert!(resp.header("set-cookie").is_none(), "{resp:?}");
    resp.expect_token_error("invalid_token");

    // Logout everywhere with a bound token.
    let proof = holder.proof("POST", &url(api, "/auth/logout-all"), Some(&fourth.access));
    api.send(dpop_request(
        api,
        Method::POST,
        "/auth/logout-all",
        &fourth.access,
        Some(&proof),
    ))
    .await
    .expect(200);
    let resp = private_with(api, &holder, &fourth.access).await;
    resp.expect_token_error("token_revoked");
}

// ---------------------------------------------------------------------------
// The modes.

/// `dpop = "off"`: a proof at login is ignored (a bearer pair), the `DPoP`
/// scheme is an `invalid_header`, and a token bound while DPoP was on is
/// refused.
#[tokio::test]
async fn with_dpop_off_proofs_are_ignored_and_the_scheme_refused() {
    let dir = TestDir::new("dpop-off");
    let server = server_with_user(&dir, &[], "gina").await;
    let holder = Holder::new(Algorithm::ES256);
    let bound = bound_login(server.api(), "gina", &holder).await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    let server = Server::start(&dir, &[("TOKENGATE_DPOP", "off")]);
    let api = server.api();
    let proof = holder.proof("POST", &url(api, "/auth/login"), None);
    let body = api
        .send(login_request(api, "gina", &proof))
        .await
        .expect(200)
        .json();
    let pair = crate::common::pair(&body);
    assert!(claims(&pair.access).get("cnf").is_none(), "{body}");
    assert!(claims(&pair.refresh).get("cnf").is_none(), "{body}");
    api.assert_valid(&pair.access).await;
    // Even a garbage proof is ignored.
    let body = api
        .send(login_request(api, "gina", "garbage"))
        .await
        .expect(200)
        .json();
    crate::common::pair(&body);

    // The DPoP scheme, with or without a proof.
    for token in [&pair.access, &bound.access] {
        let resp = private_with(api, &holder, token).await;
        let challenge = resp.header("www-authenticate");
        let what = format!("{resp:?}");
        resp.expect_error(401, "invalid_header");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#),
            "{what}"
        );
    }

    // A token bound before, as a bearer token.
    let resp = api.private(&bound.access).await;
    assert_eq!(resp.status, 401, "{resp:?}");
    assert_eq!(resp.json()["code"], "invalid_token", "{resp:?}");
}

/// `dpop = "off"`: the `DPoP` scheme is an unknown scheme, whatever
/// follows it, as `Basic x` is: 401 `invalid_header`.
#[tokio::test]
async fn with_dpop_off_the_scheme_is_an_invalid_header_whatever_the_token() {
    let dir = TestDir::new("dpop-off-scheme");
    let server = Server::start(&dir, &[("TOKENGATE_DPOP", "off")]);
    let api = server.api();
    for token in ["x", "a.b.c"] {
        let resp = api
            .send(dpop_request(api, Method::GET, "/api/private", token, None))
            .await;
        let challenge = resp.header("www-authenticate");
        let what = format!("{resp:?}");
        resp.expect_error(401, "invalid_header");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#),
            "{what}"
        );
        // As another unknown scheme is.
        api.send(
            api.request(Method::GET, "/api/private")
                .header("Authorization", format!("Basic {token}")),
        )
        .await
        .expect_error(401, "invalid_header");
    }
}

/// `dpop = "required"`: a login needs a proof, a bearer token (made while
/// DPoP was allowed) is refused, bound tokens work; browser sessions in
/// cookies are untouched.
#[tokio::test]
async fn with_dpop_required_only_bound_tokens_and_cookies_are_accepted() {
    let dir = TestDir::new("dpop-required");
    let server = server_with_user(&dir, &[], "hank").await;
    let holder = Holder::new(Algorithm::ES256);
    let bearer = server.api().login_ok("hank", PASSWORD).await;
    let bound = bound_login(server.api(), "hank", &holder).await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    let server = Server::start(&dir, &[("TOKENGATE_DPOP", "required")]);
    let api = server.api();

    // A login without a proof.
    let resp = api.login("hank", PASSWORD).await;
    let msg = expect_bad_proof(resp);
    assert!(msg.contains("required"), "{msg}");
    // With one.
    let pair = bound_login(api, "hank", &holder).await;
    private_with(api, &holder, &pair.access).await.expect(200);
    private_with(api, &holder, &bound.access).await.expect(200);

    // The bearer pair of before: refused, access and refresh token alike.
    let msg = expect_dpop_refusal(api.private(&bearer.access).await, ALGS, "invalid_token");
    assert!(msg.contains("required"), "{msg}");
    expect_dpop_refusal(api.refresh(&bearer.refresh).await, ALGS, "invalid_token");
    // Its access token with the DPoP scheme and a proof: refused too.
    let resp = private_with(api, &holder, &bearer.access).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");

    // A browser session: cookies, no proof.
    let resp = api
        .post_json("/auth/session", &credentials("hank"))
        .await
        .expect(200);
    let access = resp.cookie("access_token_cookie");
    let csrf_refresh = resp.cookie("csrf_refresh_token").value;
    let refresh = resp.cookie("refresh_token_cookie");
    assert!(claims(&access.value).get("cnf").is_none());
    let body = api
        .send(
            api.request(Method::GET, "/api/private")
                .header("cookie", access.pair()),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(body["sub"], claims(&access.value)["sub"], "{body}");
    api.send(
        api.request(Method::GET, "/auth/status")
            .header("cookie", access.pair()),
    )
    .await
    .expect(200);
    api.send(
        api.request(Method::POST, "/auth/session/refresh")
            .header("cookie", refresh.pair())
            .header("x-csrf-token", csrf_refresh),
    )
    .await
    .expect(200);
    // The cookie's token, moved to the Authorization header: refused.
    let resp = api.private(&access.value).await;
    expect_dpop_refusal(resp, ALGS, "invalid_token");
}

// ---------------------------------------------------------------------------
// Nonces.

/// `dpop_nonce = true`: a proof without the server's nonce is refused with
/// `use_dpop_nonce` and a nonce in `DPoP-Nonce`; with it, accepted; login
/// and refresh answers carry the next nonce.
#[tokio::test]
async fn with_nonces_a_proof_needs_the_servers_nonce() {
    let dir = TestDir::new("dpop-nonce");
    let server = server_with_user(&dir, &[("TOKENGATE_DPOP_NONCE", "true")], "ivy").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let login = url(api, "/auth/login");

    let resp = api
        .send(login_request(
            api,
            "ivy",
            &holder.proof("POST", &login, None),
        ))
        .await;
    let nonce = expect_use_nonce(resp);
    let wrong = holder.proof_with_nonce("POST", &login, None, "not-a-nonce");
    expect_use_nonce(api.send(login_request(api, "ivy", &wrong)).await);

    let proof = holder.proof_with_nonce("POST", &login, None, &nonce);
    let resp = api
        .send(login_request(api, "ivy", &proof))
        .await
        .expect(200);
    let next = resp
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce: {resp:?}"));
    let pair = bound_pair(&resp.json(), &holder);

    // A resource: a nonce-less proof is refused, with a nonce to use.
    let here = url(api, "/api/private");
    let send = |proof: String| {
        api.send(dpop_request(
            api,
            Method::GET,
            "/api/private",
            &pair.access,
            Some(&proof),
        ))
    };
    let fresh = expect_use_nonce(send(holder.proof("GET", &here, Some(&pair.access))).await);
    send(holder.proof_with_nonce("GET", &here, Some(&pair.access), &next))
        .await
        .expect(200);
    send(holder.proof_with_nonce("GET", &here, Some(&pair.access), &fresh))
        .await
        .expect(200);
    // The nonce does not make a bad proof good: another URL is still that.
    let resp =
        send(holder.proof_with_nonce("GET", &url(api, "/api/public"), Some(&pair.access), &next))
            .await;
    expect_bad_proof(resp);

    // A refresh: the nonce, and the next one in the answer.
    let refresh_url = url(api, "/auth/refresh");
    let resp = api
        .send(dpop_request(
            api,
            Method::POST,
            "/auth/refresh",
            &pair.refresh,
            Some(&holder.proof("POST", &refresh_url, Some(&pair.refresh))),
        ))
        .await;
    expect_use_nonce(resp);
    let proof = holder.proof_with_nonce("POST", &refresh_url, Some(&pair.refresh), &next);
    let resp = api
        .send(dpop_request(
            api,
            Method::POST,
            "/auth/refresh",
            &pair.refresh,
            Some(&proof),
        ))
        .await
        .expect(200);
    assert!(resp.header("dpop-nonce").is_some(), "{resp:?}");
    bound_pair(&resp.json(), &holder);

    // A bearer login is not asked for a nonce, and gets none.
    let resp = api.login("ivy", PASSWORD).await.expect(200);
    crate::common::pair(&resp.json());
}

// ---------------------------------------------------------------------------
// Behind a trusted proxy.

/// Behind a trusted proxy the URL is the one the client used, from
/// `X-Forwarded-Proto` and `X-Forwarded-Host`; from anyone else those
/// headers are not believed.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_url_is_the_proofs() {
    const FORWARDED: [(&str, &str); 2] = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "api.example"),
    ];
    let forwarded = |mut request: RequestBuilder| {
        for (name, value) in FORWARDED {
            request = request.header(name, value);
        }
        request
    };
    let holder = Holder::new(Algorithm::ES256);

    let dir = TestDir::new("dpop-proxy");
    let env = [("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32")];
    let server = server_with_user(&dir, &env, "judy").await;
    let api = server.api();
    let proof = holder.proof("POST", "https://api.example/auth/login", None);
    let body = api
        .send(forwarded(login_request(api, "judy", &proof)))
        .await
        .expect(200)
        .json();
    let pair = bound_pair(&body, &holder);
    let get = |proof: String| {
        forwarded(dpop_request(
            api,
            Method::GET,
            "/api/private",
            &pair.access,
            Some(&proof),
        ))
    };
    let public_url = "https://api.example/api/private";
    api.send(get(holder.proof("GET", public_url, Some(&pair.access))))
        .await
        .expect(200);
    // A list: the last value is the nearest (trusted) proxy's.
    let resp = api
        .send(
            dpop_request(
                api,
                Method::GET,
                "/api/private",
                &pair.access,
                Some(&holder.proof("GET", public_url, Some(&pair.access))),
            )
            .header("X-Forwarded-Proto", "http, https")
            .header("X-Forwarded-Host", "client-said.example, api.example"),
        )
        .await;
    resp.expect(200);
    // The default port is no difference.
    api.send(get(holder.proof(
        "GET",
        "https://API.example:443/api/private",
        Some(&pair.access),
    )))
    .await
    .expect(200);
    // The URL tokengate itself listens on is not the one the client used.
    let resp = api
        .send(get(holder.proof(
            "GET",
            &url(api, "/api/private"),
            Some(&pair.access),
        )))
        .await;
    let msg = expect_bad_proof(resp);
    assert!(msg.contains("URL"), "{msg}");
    let resp = api
        .send(get(holder.proof(
            "GET",
            "http://api.example/api/private",
            Some(&pair.access),
        )))
        .await;
    expect_bad_proof(resp);
    drop(server);

    // Without a trusted proxy, the same request's headers are the client's
    // own: the URL is the Host's.
    let dir = TestDir::new("dpop-no-proxy");
    let server = server_with_user(&dir, &[], "judy").await;
    let api = server.api();
    let proof = holder.proof("POST", "https://api.example/auth/login", None);
    let resp = api
        .send(forwarded(login_request(api, "judy", &proof)))
        .await;
    let msg = expect_bad_proof(resp);
    assert!(msg.contains("URL"), "{msg}");
    let proof = holder.proof("POST", &url(api, "/auth/login"), None);
    let body = api
        .send(forwarded(login_request(api, "judy", &proof)))
        .await
        .expect(200)
        .json();
    let pair = bound_pair(&body, &holder);
    let get = |proof: String| {
        forwarded(dpop_request(
            api,
            Method::GET,
            "/api/private",
            &pair.access,
            Some(&proof),
        ))
    };
    let resp = api
        .send(get(holder.proof("GET", public_url, Some(&pair.access))))
        .await;
    let msg = expect_bad_proof(resp);
    assert!(msg.contains("URL"), "{msg}");
    api.send(get(holder.proof(
        "GET",
        &url(api, "/api/private"),
        Some(&pair.access),
    )))
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------
// Two instances.

/// Two instances of one deployment (one PostgreSQL database, one Redis, one
/// key-encryption secret, behind one load balancer): a proof accepted by
/// one is a replay on the other, and a nonce one gave out is good on the
/// other. Like the `cluster` tests, it needs PostgreSQL and Redis whatever
/// `TOKENGATE_TEST_DATABASE` says, and fails without them.
#[tokio::test]
async fn cluster_a_proof_used_on_one_instance_is_a_replay_on_the_other() {
    let db = PgDatabase::create("dpop-cluster");
    let redis = RedisPrefix::new("dpop-cluster");
    let redis_url = RedisPrefix::url();
    let env = [
        ("TOKENGATE_ISSUER", "http://tokengate.test"),
        (
            "TOKENGATE_KEY_ENCRYPTION_SECRET",
            "the dpop cluster test's key-encryption secret",
        ),
        ("TOKENGATE_REDIS_URL", redis_url.as_str()),
        ("TOKENGATE_REDIS_PREFIX", redis.as_str()),
        ("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("TOKENGATE_DPOP_NONCE", "true"),
    ];
    let dir_a = TestDir::sharing("dpop-cluster-a", &db);
    let dir_b = TestDir::sharing("dpop-cluster-b", &db);
    let a = Server::start(&dir_a, &env);
    let b = Server::start(&dir_b, &env);
    let (a, b) = (a.api(), b.api());
    eventually("both instances serve one key ring", || async {
        a.get("/.well-known/jwks.json").await.expect(200).json()
            == b.get("/.well-known/jwks.json").await.expect(200).json()
    })
    .await;
    for api in [a, b] {
        assert_eq!(api.health().await["redis"], "ok");
    }
    a.register_ok("kate", PASSWORD).await;

    // Both behind one load balancer: one URL for the client.
    let balanced = |request: RequestBuilder| {
        request
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "api.example")
    };
    let login = "https://api.example/auth/login";
    let holder = Holder::new(Algorithm::EdDSA);

    // A nonce of A's, used at B.
    let resp = a
        .send(balanced(login_request(
            a,
            "kate",
            &holder.proof("POST", login, None),
        )))
        .await;
    let nonce = expect_use_nonce(resp);
    let login_proof = holder.proof_with_nonce("POST", login, None, &nonce);
    let resp = b
        .send(balanced(login_request(b, "kate", &login_proof)))
        .await
        .expect(200);
    let nonce = resp.header("dpop-nonce").expect("a DPoP-Nonce");
    let pair = bound_pair(&resp.json(), &holder);
    // The login proof, replayed at A.
    let msg = expect_bad_proof(
        a.send(balanced(login_request(a, "kate", &login_proof)))
            .await,
    );
    assert!(msg.contains("already used"), "{msg}");

    // A resource proof used at A, replayed at B; and the other way round.
    let here = "https://api.example/api/private";
    let get = |api: &Api, proof: &str| {
        balanced(dpop_request(
            api,
            Method::GET,
            "/api/private",
            &pair.access,
            Some(proof),
        ))
    };
    for (first, second) in [(a, b), (b, a)] {
        let proof = holder.proof_with_nonce("GET", here, Some(&pair.access), &nonce);
        first.send(get(first, &proof)).await.expect(200);
        let msg = expect_bad_proof(second.send(get(second, &proof)).await);
        assert!(msg.contains("already used"), "{msg}");
        // A new proof is good on either.
        let proof = holder.proof_with_nonce("GET", here, Some(&pair.access), &nonce);
        second.send(get(second, &proof)).await.expect(200);
    }
}

// ---------------------------------------------------------------------------
// Forward auth.

/// `GET /auth/verify` as a proxy asks it: a bound token passes when the
/// proof names the original request (`X-Forwarded-Method`,
/// `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Uri`), and is
/// refused otherwise.
#[tokio::test]
async fn forward_auth_checks_the_proof_against_the_original_request() {
    let dir = TestDir::new("dpop-forward");
    let server = server_with_user(&dir, &[], "liam").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let pair = bound_login(api, "liam", &holder).await;
    let token = pair.access.as_str();

    let verify = |proof: &str, original: &[(&str, &str)]| {
        let mut request = dpop_request(api, Method::GET, "/auth/verify", token, Some(proof));
        for (name, value) in original {
            request = request.header(*name, *value);
        }
        api.send(request)
    };
    let original = [
        ("X-Forwarded-Method", "POST"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example"),
        ("X-Forwarded-Uri", "/memos/3?draft=1"),
    ];
    let app_url = "https://app.example/memos/3";

    let proof = holder.proof("POST", app_url, Some(token));
    let resp = verify(&proof, &original).await.expect(200);
    assert_eq!(
        resp.header("x-auth-subject").as_deref(),
        claims(token)["sub"].as_str(),
        "{resp:?}"
    );
    assert!(resp.body.is_empty(), "{resp:?}");
    // Once.
    let msg = expect_bad_proof(verify(&proof, &original).await);
    assert!(msg.contains("already used"), "{msg}");

    // The original request's headers but `dropped`.
    let without = |dropped: &str| -> Vec<(&str, &str)> {
        original
            .iter()
            .copied()
            .filter(|(name, _)| *name != dropped)
            .collect()
    };
    // What is wrong, the proof, a header the proxy did not send, the reason.
    let cases: [(&str, String, Option<&str>, &str); 7] = [
        (
            "the verify endpoint's own URL",
            holder.proof("POST", &url(api, "/auth/verify"), Some(token)),
            None,
            "another URL",
        ),
        (
            "another method",
            holder.proof("GET", app_url, Some(token)),
            None,
            "another method",
        ),
        (
            "another path",
            holder.proof("POST", "https://app.example/memos/4", Some(token)),
            None,
            "another URL",
        ),
        (
            "another scheme",
            holder.proof("POST", "http://app.example/memos/3", Some(token)),
            None,
            "another URL",
        ),
        (
            "another key",
            Holder::new(Algorithm::ES256).proof("POST", app_url, Some(token)),
            None,
            "another key",
        ),
        (
            "no X-Forwarded-Proto: the URL is not known",
            holder.proof("POST", app_url, Some(token)),
            Some("X-Forwarded-Proto"),
            "not known",
        ),
        (
            "no method: it is not known",
            holder.proof("POST", app_url, Some(token)),
            Some("X-Forwarded-Method"),
            "not known",
        ),
    ];
    for (what, proof, dropped, reason) in cases {
        let headers = dropped.map_or_else(|| original.to_vec(), without);
        let resp = verify(&proof, &headers).await;
        let what = format!("{what}: {resp:?}");
        assert!(resp.header("x-auth-subject").is_none(), "{what}");
        let msg = expect_bad_proof(resp);
        assert!(msg.contains(reason), "{what}: {msg}");
    }

    // nginx's headers: X-Original-Method and X-Original-URI.
    let nginx = [
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/memos/3"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example"),
    ];
    let proof = holder.proof("GET", app_url, Some(token));
    verify(&proof, &nginx).await.expect(200);

    // The bound token as a bearer token: refused here too.
    let mut request = api.request(Method::GET, "/auth/verify").bearer_auth(token);
    for (name, value) in original {
        request = request.header(name, value);
    }
    expect_dpop_refusal(api.send(request).await, ALGS, "invalid_token");
}

/// The `proxy_set_header` lines of the shipped nginx config's `location`
/// block `name`, with nginx's variables replaced by `vars`; the headers
/// nginx does not send (an empty value) and the connection's are left out.
fn nginx_headers(location: &str, vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/nginx/tokengate.conf"
    );
    let conf = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let opening = format!("location {location} {{");
    let start = conf
        .find(&opening)
        .unwrap_or_else(|| panic!("no `{opening}` in {path}"));
    let block = &conf[start..];
    let block = &block[..block.find("\n}").expect("the block's end")];
    let mut headers = Vec::new();
    for line in block.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("proxy_set_header ") else {
            continue;
        };
        let (name, value) = rest
            .trim_end_matches(';')
            .split_once(' ')
            .expect("a name and a value");
        let mut value = value.trim().to_owned();
        for (var, replacement) in vars {
            value = value.replace(var, replacement);
        }
        let value = value.trim_matches('"');
        if value.is_empty()
            || ["connection", "content-length"].contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        assert!(
            !value.contains('$'),
            "{line}: a variable the test does not know"
        );
        headers.push((name.to_owned(), value.to_owned()));
    }
    headers
}

/// What nginx knows of a request to `http://app.example/memos/3` (or
/// `https://` behind its TLS).
fn nginx_vars(
    scheme: &'static str,
    method: &'static str,
    uri: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("$request_method", method),
        ("$request_uri", uri),
        ("$http_host", "app.example"),
        ("$host", "app.example"),
        ("$scheme", scheme),
        ("$proxy_add_x_forwarded_for", "203.0.113.9"),
        ("$remote_addr", "203.0.113.9"),
    ]
}

/// Forward auth with exactly the headers the shipped nginx config gives
/// its `/auth/verify` subrequest: a bound token with a proof for the
/// request the client made passes.
#[tokio::test]
async fn forward_auth_with_the_shipped_nginx_headers_checks_a_bound_token() {
    let dir = TestDir::new("dpop-nginx-verify");
    let server = server_with_user(&dir, &[], "quinn").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let pair = bound_login(api, "quinn", &holder).await;
    let headers = nginx_headers(
        "= /_tokengate/verify",
        &nginx_vars("http", "GET", "/memos/3?x=1"),
    );
    let proof = holder.proof("GET", "http://app.example/memos/3", Some(&pair.access));
    let mut request = dpop_request(api, Method::GET, "/auth/verify", &pair.access, Some(&proof));
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let resp = api.send(request).await;
    assert_eq!(resp.status, 200, "with {headers:?}: {resp:?}");
}

/// A DPoP login through the shipped nginx config's `/auth/` location, on a
/// site served over TLS by nginx, tokengate trusting nginx's address: the
/// proof names the URL the client used, `https://app.example/auth/login`.
#[tokio::test]
async fn a_dpop_login_through_the_shipped_nginx_config_over_tls() {
    let dir = TestDir::new("dpop-nginx-login");
    let env = [("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32")];
    let server = server_with_user(&dir, &env, "rosa").await;
    let api = server.api();
    let holder = Holder::new(Algorithm::ES256);
    let headers = nginx_headers("/auth/", &nginx_vars("https", "POST", "/auth/login"));
    let proof = holder.proof("POST", "https://app.example/auth/login", None);
    let mut request = login_request(api, "rosa", &proof);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let resp = api.send(request).await;
    assert_eq!(resp.status, 200, "with {headers:?}: {resp:?}");
    bound_pair(&resp.json(), &holder);
}
