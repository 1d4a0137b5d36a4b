//! DPoP (RFC 9449): tokens bound to a client key, each request carrying a
//! proof signed by it. Proofs are made here by hand with tokengate's own
//! `SigningKey` (a JWS of `{"typ":"dpop+jwt","alg","jwk"}` and
//! `{jti,htm,htu,iat,ath?,nonce?}`), then sent through a real axum `Router`
//! (the `AccessToken` extractor, the `gate.require()` layer, both) and
//! given to `Dpop::check_proof` / `Dpop::verify` directly. Every refusal is
//! checked for its status, code, reason and exact `WWW-Authenticate`
//! challenge, next to a control that the same proof without the defect is
//! accepted. The RFC's own example proofs (§4.1 Figure 2 and §7.1
//! Figure 13) are verified at their `iat`.

mod common;

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};
use tokengate::axum::{AccessToken, RefreshToken, TokenGate, TokenPair};
use tokengate::clock::{Clock, ManualClock, Timestamp};
use tokengate::dpop::{
    DEFAULT_ALGORITHMS, Dpop, DpopError, DpopMode, Jkt, Nonces, ProofTarget, access_token_hash,
    normalize_htu,
};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::login::LoginDetails;
use tokengate::token::{NewToken, TokenEngine, random_id};
use tokengate::transport::{TokenLocation, Transport};
use tower::ServiceExt;

use common::jwt::{b64, b64_json, sign_segments};

/// The gate's clock at the start of every test.
const T0: i64 = 1_700_000_000;
/// The `Host` of the test requests (the default scheme is `http`).
const HOST: &str = "api.example";
/// The URL a proof for `GET /private` must name.
const PRIVATE: &str = "http://api.example/private";
/// The default `algs` of the challenge: every asymmetric algorithm.
const ALGS: &str = "ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256";

fn challenge(error: &str) -> String {
    challenge_with(ALGS, error)
}

fn challenge_with(algs: &str, error: &str) -> String {
    format!(r#"DPoP algs="{algs}", error="{error}""#)
}

/// `ath` computed here, not by the library: base64url(SHA-256(token)).
fn ath_of(token: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

// ---------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------

/// A client's DPoP key: the signing key, its public JWK and thumbprint.
struct Holder {
    key: SigningKey,
    jwk: Value,
    jkt: Jkt,
}

impl Holder {
    fn new(alg: Algorithm) -> Holder {
        let key = SigningKey::generate(alg).unwrap();
        let jwk = key.verifying_key().to_jwk().unwrap();
        let jkt = Jkt::from(jwk.thumbprint().unwrap());
        Holder {
            jwk: serde_json::to_value(&jwk).unwrap(),
            key,
            jkt,
        }
    }

    /// A proof for `method url` made at `iat`, with a fresh `jti`.
    fn proof(&self, method: &str, url: &str, iat: i64) -> ProofSpec<'_> {
        let header = json!({
            "typ": "dpop+jwt",
            "alg": self.key.algorithm().as_str(),
            "jwk": self.jwk,
        });
        let claims = json!({"jti": random_id(), "htm": method, "htu": url, "iat": iat});
        ProofSpec {
            key: &self.key,
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    /// A proof for `GET /private` with `token`, at `iat`.
    fn for_private(&self, token: &str, iat: i64) -> String {
        self.proof("GET", PRIVATE, iat).ath(token).sign()
    }
}

/// A proof being made: header and claims as JSON objects, edited freely.
struct ProofSpec<'a> {
    key: &'a SigningKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofSpec<'_> {
    fn ath(self, token: &str) -> Self {
        self.claim("ath", json!(ath_of(token)))
    }

    fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", json!(nonce))
    }

    fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    fn jwk_member(mut self, name: &str, value: Value) -> Self {
        self.header
            .get_mut("jwk")
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(name.into(), value);
        self
    }

    fn sign(self) -> String {
        sign_segments(
            self.key,
            &b64_json(&Value::Object(self.header)),
            &b64_json(&Value::Object(self.claims)),
        )
    }

    /// Signed with another key than the one named in `jwk`.
    fn sign_with(self, other: &SigningKey) -> String {
        sign_segments(
            other,
            &b64_json(&Value::Object(self.header)),
            &b64_json(&Value::Object(self.claims)),
        )
    }
}

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

async fn whoami(token: AccessToken) -> String {
    token.subject().to_owned()
}

async fn refresh(
    State(gate): State<TokenGate>,
    token: RefreshToken,
) -> Result<Json<Value>, tokengate::Error> {
    let pair = gate.refresh(token.subject(), &token.token).await?;
    Ok(Json(pair_json(&pair)))
}

fn pair_json(pair: &TokenPair) -> Value {
    json!({
        "access": pair.access.token,
        "refresh": pair.refresh.token,
        "token_type": pair.token_type(),
        "access_jkt": pair.access.confirmation.as_ref().map(Jkt::to_string),
        "refresh_jkt": pair.refresh.confirmation.as_ref().map(Jkt::to_string),
    })
}

/// `/private` (GET and POST) takes `AccessToken`; `/refresh` takes
/// `RefreshToken` and rotates; `/layered` is behind `gate.require()` only,
/// `/layered/extractor` behind the layer and with the extractor.
fn app(gate: &TokenGate) -> Router {
    let layered = Router::new()
        .route("/layered", get(|| async { "layered" }))
        .route("/layered/extractor", get(whoami))
        .route_layer(gate.require());
    Router::new()
        .route("/private", get(whoami).post(whoami))
        .route("/refresh", post(refresh))
        .merge(layered)
        .with_state(gate.clone())
}

struct Fixture {
    gate: TokenGate,
    app: Router,
    clock: ManualClock,
}

/// A gate (ES256 tokens) whose clock reads [`T0`] and stands still, with
/// these DPoP rules.
fn fixture(dpop: Dpop) -> Fixture {
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ))
    .with_clock(Clock::from(clock.clone()));
    let gate = TokenGate::new(engine).with_dpop(dpop);
    Fixture {
        app: app(&gate),
        gate,
        clock,
    }
}

impl Fixture {
    /// A login bound to `holder`'s key; its access token.
    async fn bound_login(&self, holder: &Holder) -> TokenPair {
        let pair = self
            .gate
            .login_with(
                "alice",
                LoginDetails::default().bound_to(holder.jkt.clone()),
            )
            .await
            .unwrap();
        assert_eq!(pair.access.confirmation.as_ref(), Some(&holder.jkt));
        assert_eq!(pair.refresh.confirmation.as_ref(), Some(&holder.jkt));
        assert_eq!(pair.token_type(), "DPoP");
        pair
    }

    async fn bound_token(&self, holder: &Holder) -> String {
        self.bound_login(holder).await.access.token
    }

    fn now(&self) -> i64 {
        self.clock.now().as_secs()
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
    challenge: Option<String>,
    nonce: Option<String>,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    fn msg(&self) -> &str {
        self.body["msg"].as_str().unwrap_or_default()
    }

    #[track_caller]
    fn ok(&self, subject: &str) {
        assert_eq!(
            (self.status, &self.body),
            (StatusCode::OK, &json!(subject)),
            "expected 200 {subject}, got {} {} ({:?})",
            self.status,
            self.body,
            self.challenge
        );
    }

    /// 401 with this code, a `msg` containing `reason`, and exactly the
    /// DPoP challenge for `error` with the default `algs`.
    #[track_caller]
    fn refused(&self, code: &str, reason: &str) {
        self.refused_with(ALGS, code, reason);
    }

    #[track_caller]
    fn refused_with(&self, algs: &str, code: &str, reason: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(
            self.msg().contains(reason),
            "refused for another reason: {:?}, expected one with {reason:?}",
            self.msg()
        );
        assert_eq!(
            self.challenge.as_deref(),
            Some(challenge_with(algs, code).as_str()),
            "{}",
            self.body
        );
    }
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let challenge = header_text(header::WWW_AUTHENTICATE);
    let nonce = header_text(tokengate::dpop::DPOP_NONCE);
    let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    Answer {
        status,
        body,
        challenge,
        nonce,
    }
}

/// A request to `path` on [`HOST`] with `Authorization: <scheme> <token>`
/// and each proof as a `DPoP` header.
fn request(
    method: Method,
    path: &str,
    scheme: &str,
    token: &str,
    proofs: &[&str],
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("{scheme} {token}"));
    for proof in proofs {
        builder = builder.header("DPoP", *proof);
    }
    builder.body(Body::empty()).unwrap()
}

/// `GET /private` with `DPoP <token>` and `proof`.
fn dpop_get(token: &str, proof: &str) -> Request<Body> {
    request(Method::GET, "/private", "DPoP", token, &[proof])
}

// ---------------------------------------------------------------------------
// A bound token with its proof
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_bound_token_with_a_good_proof_is_accepted_es256_and_eddsa() {
    let f = fixture(Dpop::default());
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let holder = Holder::new(alg);
        let login = f.bound_login(&holder).await;
        let token = login.access.token.clone();
        // The token carries cnf.jkt.
        let verified = f.gate.engine().verify(&token).unwrap();
        assert_eq!(verified.claims.confirmation.as_ref(), Some(&holder.jkt));
        assert_eq!(
            verified.payload()["cnf"],
            json!({"jkt": holder.jkt.as_str()})
        );

        call(&f.app, dpop_get(&token, &holder.for_private(&token, T0)))
            .await
            .ok("alice");
        // The scheme is case-insensitive (RFC 7235).
        let proof = holder.for_private(&token, T0);
        call(
            &f.app,
            request(Method::GET, "/private", "dpop", &token, &[&proof]),
        )
        .await
        .ok("alice");
        // Through the layer, and the layer with the extractor behind it
        // (which takes the layer's verdict: the proof is not used twice).
        let proof = holder
            .proof("GET", "http://api.example/layered", T0)
            .ath(&token)
            .sign();
        let answer = call(
            &f.app,
            request(Method::GET, "/layered", "DPoP", &token, &[&proof]),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body),
            (StatusCode::OK, json!("layered")),
            "{alg}"
        );
        let proof = holder
            .proof("GET", "http://api.example/layered/extractor", T0)
            .ath(&token)
            .sign();
        call(
            &f.app,
            request(Method::GET, "/layered/extractor", "DPoP", &token, &[&proof]),
        )
        .await
        .ok("alice");
        // POST with a proof for POST.
        let proof = holder.proof("POST", PRIVATE, T0).ath(&token).sign();
        call(
            &f.app,
            request(Method::POST, "/private", "DPoP", &token, &[&proof]),
        )
        .await
        .ok("alice");
    }
}

#[tokio::test]
async fn a_token_bound_with_new_token_bound_to_works_the_same() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let issued = f
        .gate
        .engine()
        .issue(NewToken::access("bob").bound_to(holder.jkt.clone()))
        .unwrap();
    assert_eq!(issued.confirmation.as_ref(), Some(&holder.jkt));
    let token = issued.token;
    call(&f.app, dpop_get(&token, &holder.for_private(&token, T0)))
        .await
        .ok("bob");
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[]),
    )
    .await
    .refused("invalid_token", "DPoP scheme");
}

#[tokio::test]
async fn the_bound_token_as_a_bearer_token_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    // Without a proof, and even with a good one.
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[]),
    )
    .await
    .refused("invalid_token", "must be sent with the DPoP scheme");
    let proof = holder.for_private(&token, T0);
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[&proof]),
    )
    .await
    .refused("invalid_token", "must be sent with the DPoP scheme");
    // In a cookie too (it never carries a proof).
    let cookie = Request::get("/private")
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("access_token_cookie={token}"))
        .body(Body::empty())
        .unwrap();
    call(&f.app, cookie)
        .await
        .refused("invalid_token", "must be sent with the DPoP scheme");
    // The proof was not spent by the refusals: it still works.
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
}

#[tokio::test]
async fn no_proof_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    call(
        &f.app,
        request(Method::GET, "/private", "DPoP", &token, &[]),
    )
    .await
    .refused("invalid_dpop_proof", "a DPoP proof is required");
}

#[tokio::test]
async fn two_dpop_headers_are_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    let (a, b) = (
        holder.for_private(&token, T0),
        holder.for_private(&token, T0),
    );
    call(
        &f.app,
        request(Method::GET, "/private", "DPoP", &token, &[&a, &b]),
    )
    .await
    .refused("invalid_dpop_proof", "one DPoP header");
    // Two proofs in one header value are not one proof either.
    let both = format!("{a}, {b}");
    call(&f.app, dpop_get(&token, &both))
        .await
        .refused("invalid_dpop_proof", "compact form");
    // Neither proof was spent: each alone is accepted.
    call(&f.app, dpop_get(&token, &a)).await.ok("alice");
    call(&f.app, dpop_get(&token, &b)).await.ok("alice");
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    let proof = holder.for_private(&token, T0);
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "already used");
    // Through the layer too: a proof is good once across the routes of a gate.
    let proof = holder
        .proof("GET", "http://api.example/layered", T0)
        .ath(&token)
        .sign();
    let first = call(
        &f.app,
        request(Method::GET, "/layered", "DPoP", &token, &[&proof]),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    call(
        &f.app,
        request(Method::GET, "/layered", "DPoP", &token, &[&proof]),
    )
    .await
    .refused("invalid_dpop_proof", "already used");
    // The same jti in a new proof (another iat) is a replay as well.
    let jti = random_id();
    let one = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .claim("jti", json!(jti))
        .sign();
    let two = holder
        .proof("GET", PRIVATE, T0 - 1)
        .ath(&token)
        .claim("jti", json!(jti))
        .sign();
    call(&f.app, dpop_get(&token, &one)).await.ok("alice");
    call(&f.app, dpop_get(&token, &two))
        .await
        .refused("invalid_dpop_proof", "already used");
}

#[tokio::test]
async fn a_proof_for_another_url_or_method_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    for url in [
        "http://api.example/other",
        "https://api.example/private",
        "http://api.example:8080/private",
        "http://evil.example/private",
        "http://api.example/private/",
        "/private",
    ] {
        let proof = holder.proof("GET", url, T0).ath(&token).sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "another URL");
    }
    for method in ["POST", "get", "HEAD"] {
        let proof = holder.proof(method, PRIVATE, T0).ath(&token).sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "another method");
    }
    // A POST proof sent with a GET, and the reverse.
    let post_proof = holder.proof("POST", PRIVATE, T0).ath(&token).sign();
    call(&f.app, dpop_get(&token, &post_proof))
        .await
        .refused("invalid_dpop_proof", "another method");
    let get_proof = holder.for_private(&token, T0);
    call(
        &f.app,
        request(Method::POST, "/private", "DPoP", &token, &[&get_proof]),
    )
    .await
    .refused("invalid_dpop_proof", "another method");
}

#[tokio::test]
async fn a_proof_by_another_key_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let thief = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    // A perfectly good proof, by another key than cnf.jkt.
    assert_ne!(holder.jkt, thief.jkt);
    call(&f.app, dpop_get(&token, &thief.for_private(&token, T0)))
        .await
        .refused("invalid_dpop_proof", "another key");
    // The holder's jwk, signed by the thief: the signature does not verify.
    let forged = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .sign_with(&thief.key);
    call(&f.app, dpop_get(&token, &forged))
        .await
        .refused("invalid_dpop_proof", "signature");
    // Another algorithm's key (EdDSA) for an ES256 holder's token.
    let other = Holder::new(Algorithm::EdDSA);
    call(&f.app, dpop_get(&token, &other.for_private(&token, T0)))
        .await
        .refused("invalid_dpop_proof", "another key");
}

#[tokio::test]
async fn a_stale_or_future_iat_is_refused_at_the_edges() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    // max_age 60 s, leeway 5 s by default.
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 - 61)),
    )
    .await
    .refused("invalid_dpop_proof", "too old");
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 + 6)),
    )
    .await
    .refused("invalid_dpop_proof", "in the future");
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 - 60)),
    )
    .await
    .ok("alice");
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 + 5)),
    )
    .await
    .ok("alice");
    // A proof made now and sent a minute and a second later.
    let proof = holder.for_private(&token, T0);
    f.clock.advance(Duration::from_secs(61));
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "too old");
    // The gate's clock decides, not the system's: a proof at the new time passes.
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, f.now())),
    )
    .await
    .ok("alice");

    // Other limits.
    let f = fixture(
        Dpop::default()
            .max_age(Duration::from_secs(10))
            .leeway(Duration::ZERO),
    );
    let token = f.bound_token(&holder).await;
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 - 11)),
    )
    .await
    .refused("invalid_dpop_proof", "too old");
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 + 1)),
    )
    .await
    .refused("invalid_dpop_proof", "in the future");
    call(
        &f.app,
        dpop_get(&token, &holder.for_private(&token, T0 - 10)),
    )
    .await
    .ok("alice");
    // A fractional iat is a NumericDate too.
    let proof = holder
        .proof("GET", PRIVATE, 0)
        .claim("iat", json!(T0 as f64 + 0.5))
        .ath(&token)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
    // A string is not.
    let proof = holder
        .proof("GET", PRIVATE, 0)
        .claim("iat", json!(T0.to_string()))
        .ath(&token)
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "must hold jti, htm, htu and iat");
}

#[tokio::test]
async fn a_missing_or_wrong_ath_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    let other_token = f.bound_token(&holder).await;
    let no_ath = holder.proof("GET", PRIVATE, T0).sign();
    call(&f.app, dpop_get(&token, &no_ath))
        .await
        .refused("invalid_dpop_proof", "no ath");
    // The hash of another token of the same key.
    let wrong = holder.proof("GET", PRIVATE, T0).ath(&other_token).sign();
    call(&f.app, dpop_get(&token, &wrong))
        .await
        .refused("invalid_dpop_proof", "ath is not the token's hash");
    // The token itself instead of its hash, and the hex hash.
    for ath in [
        json!(token),
        json!(ath_of(&token).to_uppercase()),
        json!(""),
        json!(null),
    ] {
        let bad = holder
            .proof("GET", PRIVATE, T0)
            .claim("ath", ath.clone())
            .sign();
        let answer = call(&f.app, dpop_get(&token, &bad)).await;
        assert_eq!(
            answer.code(),
            "invalid_dpop_proof",
            "ath {ath}: {}",
            answer.body
        );
        assert_eq!(answer.challenge, Some(challenge("invalid_dpop_proof")));
    }
    // The library's hash is the one computed here.
    assert_eq!(access_token_hash(&token), ath_of(&token));
}

#[tokio::test]
async fn a_private_key_in_the_jwk_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    // Any private member, whatever its value: the proof is otherwise good.
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .jwk_member(member, json!("AAAA"))
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "must be a public key");
    }
    // The real private scalar of an EdDSA key, as a careless client would send it.
    let ed = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&ed).await;
    let pem = ed.key.to_pkcs8_pem().unwrap();
    let der = pem::parse(pem.as_bytes()).unwrap().into_contents();
    // The Ed25519 PKCS#8 prefix is 16 bytes, then the 32-byte seed (v2
    // appends the public key after it).
    let seed = &der[16..48];
    let proof = ed
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .jwk_member("d", json!(b64(seed)))
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "must be a public key");
}

#[tokio::test]
async fn hmac_none_and_unlisted_algorithms_are_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    // HS256 with the key as an `oct` JWK (what an HMAC "proof" would carry).
    let hmac = SigningKey::from_secret(Algorithm::HS256, &[7; 32]).unwrap();
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("alg", json!("HS256"))
        .header("jwk", json!({"kty": "oct", "k": b64(&[7; 32])}))
        .sign_with(&hmac);
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "algorithm is not accepted");
    // HS256 naming the holder's public key (the classic confusion).
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("alg", json!("HS256"))
        .sign_with(&hmac);
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "algorithm is not accepted");
    // alg none, with and without a signature.
    let none = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("alg", json!("none"));
    let unsigned = format!(
        "{}.{}.",
        b64_json(&Value::Object(none.header.clone())),
        b64_json(&Value::Object(none.claims.clone()))
    );
    call(&f.app, dpop_get(&token, &unsigned))
        .await
        .refused("invalid_dpop_proof", "algorithm is not accepted");
    call(&f.app, dpop_get(&token, &none.sign()))
        .await
        .refused("invalid_dpop_proof", "algorithm is not accepted");
    // `alg` is case-sensitive.
    let lower = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("alg", json!("es256"))
        .sign();
    call(&f.app, dpop_get(&token, &lower))
        .await
        .refused("invalid_dpop_proof", "algorithm is not accepted");

    // A gate that accepts EdDSA only: an ES256 proof is refused, and the
    // challenge names what is accepted.
    let f = fixture(Dpop::default().algorithms([Algorithm::EdDSA]));
    let token = f.bound_token(&holder).await;
    call(&f.app, dpop_get(&token, &holder.for_private(&token, T0)))
        .await
        .refused_with("EdDSA", "invalid_dpop_proof", "algorithm is not accepted");
    let ed = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&ed).await;
    call(&f.app, dpop_get(&token, &ed.for_private(&token, T0)))
        .await
        .ok("alice");
    // Bound tokens as bearer tokens get the same algs.
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[]),
    )
    .await
    .refused_with("EdDSA", "invalid_token", "DPoP scheme");

    // HMAC algorithms cannot be allowed at all.
    let dpop = Dpop::default().algorithms([Algorithm::HS256, Algorithm::ES256, Algorithm::HS512]);
    assert_eq!(dpop.accepted_algorithms(), [Algorithm::ES256]);
    assert_eq!(dpop.algs_text(), "ES256");
    assert_eq!(Dpop::default().algs_text(), ALGS);
    assert_eq!(Dpop::default().accepted_algorithms(), DEFAULT_ALGORITHMS);
}

#[tokio::test]
async fn a_wrong_typ_or_a_crit_header_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!("dpop"),
        json!("application/jwt"),
    ] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .header("typ", typ)
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "typ must be dpop+jwt");
    }
    // No typ, or not a string: the header is not a proof's.
    for proof in [
        holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .without_header("typ")
            .sign(),
        holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .header("typ", json!(1))
            .sign(),
        holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .without_header("jwk")
            .sign(),
        holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .header("jwk", json!("key"))
            .sign(),
    ] {
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "must hold typ, alg and jwk");
    }
    // A media type's case does not matter (RFC 7515 §4.1.9).
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("typ", json!("DPoP+JWT"))
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
    // Any `crit`, even an empty one.
    for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .header("crit", crit)
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "critical header");
    }
}

#[tokio::test]
async fn garbage_and_oversized_proofs_are_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    let good = holder.for_private(&token, T0);
    let segments: Vec<&str> = good.split('.').collect();
    for garbage in [
        "x".to_owned(),
        "a.b".to_owned(),
        "a.b.c".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{}.{}", segments[0], segments[1]),
        format!("{good}.{}", segments[2]),
        format!("{}.{}.!!", segments[0], segments[1]),
        format!("{}.{}.{}", segments[0], b64(b"{not json"), segments[2]),
        format!("{}.{}.{}", b64(b"[]"), segments[1], segments[2]),
        token.clone(),
    ] {
        let answer = call(&f.app, dpop_get(&token, &garbage)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{garbage}");
        assert_eq!(
            answer.code(),
            "invalid_dpop_proof",
            "{garbage}: {}",
            answer.body
        );
        assert_eq!(
            answer.challenge,
            Some(challenge("invalid_dpop_proof")),
            "{garbage}"
        );
    }
    // A payload that is not the proof's signed one.
    let tampered = {
        let other = holder.proof("GET", PRIVATE, T0 + 1).ath(&token).sign();
        let o: Vec<&str> = other.split('.').collect();
        format!("{}.{}.{}", segments[0], o[1], segments[2])
    };
    call(&f.app, dpop_get(&token, &tampered))
        .await
        .refused("invalid_dpop_proof", "signature");
    // A proof larger than any token tokengate reads (8 KiB), otherwise good.
    let big = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .claim("pad", json!("x".repeat(9 * 1024)))
        .sign();
    call(&f.app, dpop_get(&token, &big))
        .await
        .refused("invalid_dpop_proof", "too large");
    // Padding just under the limit is fine.
    let padded = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .claim("pad", json!("x".repeat(4 * 1024)))
        .sign();
    call(&f.app, dpop_get(&token, &padded)).await.ok("alice");
    // A jti of more than 256 characters, or empty.
    for jti in [json!("j".repeat(257)), json!("")] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .claim("jti", jti)
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "jti");
    }
    // A header value that is not visible ASCII.
    let mut req = dpop_get(&token, &good);
    req.headers_mut()
        .insert("DPoP", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap());
    call(&f.app, req)
        .await
        .refused("invalid_dpop_proof", "one DPoP header");
}

#[tokio::test]
async fn a_jwk_for_another_algorithm_than_the_header_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    // The JWK says ES384 (or EdDSA), the header ES256.
    for alg in ["ES384", "EdDSA", "RS256", "HS256"] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .jwk_member("alg", json!(alg))
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("invalid_dpop_proof", "not a key for its algorithm");
    }
    // The header says ES384 for a P-256 key.
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("alg", json!("ES384"));
    let proof = proof.jwk_member("alg", json!("ES384")).sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "not a key for its algorithm");
    // A JWK for encryption.
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .jwk_member("use", json!("enc"))
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "not a key for its algorithm");
    // Without alg, kid and use, the JWK is still the holder's key.
    let bare = json!({
        "kty": holder.jwk["kty"], "crv": holder.jwk["crv"],
        "x": holder.jwk["x"], "y": holder.jwk["y"],
    });
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .header("jwk", bare)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
}

#[tokio::test]
async fn the_dpop_scheme_with_an_unbound_token_is_refused() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let unbound = f.gate.login("alice").await.unwrap();
    assert_eq!(unbound.token_type(), "Bearer");
    assert_eq!(unbound.access.confirmation, None);
    let token = unbound.access.token;
    call(&f.app, dpop_get(&token, &holder.for_private(&token, T0)))
        .await
        .refused("invalid_token", "needs a DPoP-bound token");
    call(
        &f.app,
        request(Method::GET, "/private", "DPoP", &token, &[]),
    )
    .await
    .refused("invalid_token", "needs a DPoP-bound token");
    // As a bearer token it is fine (mode allowed), a proof or not.
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[]),
    )
    .await
    .ok("alice");
    let proof = holder.for_private(&token, T0);
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &token, &[&proof]),
    )
    .await
    .ok("alice");
}

// ---------------------------------------------------------------------------
// The request's URL
// ---------------------------------------------------------------------------

#[tokio::test]
async fn htu_is_compared_after_normalisation() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    for htu in [
        "http://api.example/private?page=2",
        "http://api.example/private#top",
        "http://api.example/private?x=1#y",
        "HTTP://API.Example/private",
        "http://api.example:80/private",
        "http://api.example/%70rivate",
        "http://api.example/a/../private",
        "http://api.example/./private",
    ] {
        let proof = holder.proof("GET", htu, T0).ath(&token).sign();
        let answer = call(&f.app, dpop_get(&token, &proof)).await;
        assert_eq!(answer.status, StatusCode::OK, "htu {htu}: {}", answer.body);
    }
    // The request's own query does not count either.
    let proof = holder.for_private(&token, T0);
    let answer = call(
        &f.app,
        request(Method::GET, "/private?q=1", "DPoP", &token, &[&proof]),
    )
    .await;
    answer.ok("alice");
    // Upper case in the request's Host, a default port in it.
    for host in ["API.EXAMPLE", "api.example:80"] {
        let mut req = dpop_get(&token, &holder.for_private(&token, T0));
        req.headers_mut()
            .insert(header::HOST, host.parse().unwrap());
        call(&f.app, req).await.ok("alice");
    }
    // An absolute request URI is taken as it is (the Host header aside).
    let proof = holder
        .proof("GET", "http://other.example:8080/private", T0)
        .ath(&token)
        .sign();
    let req = Request::get("http://other.example:8080/private")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header("DPoP", proof)
        .body(Body::empty())
        .unwrap();
    call(&f.app, req).await.ok("alice");

    assert_eq!(
        normalize_htu("HTTPS://Server.Example.COM:443/token?x#y").as_deref(),
        Some("https://server.example.com/token")
    );
    assert_eq!(normalize_htu("http://h").as_deref(), Some("http://h/"));
    assert_ne!(normalize_htu("http://h/A"), normalize_htu("http://h/a"));
}

#[tokio::test]
async fn without_a_host_the_url_is_not_known() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    let req = Request::get("/private")
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header("DPoP", holder.for_private(&token, T0))
        .body(Body::empty())
        .unwrap();
    call(&f.app, req)
        .await
        .refused("invalid_dpop_proof", "URL are not known");
}

#[tokio::test]
async fn the_scheme_setting_and_the_host_header_make_the_url() {
    let f = fixture(Dpop::default().scheme("https"));
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    let https = holder
        .proof("GET", "https://api.example/private", T0)
        .ath(&token)
        .sign();
    call(&f.app, dpop_get(&token, &https)).await.ok("alice");
    let https = holder
        .proof("GET", "https://api.example:443/private", T0)
        .ath(&token)
        .sign();
    call(&f.app, dpop_get(&token, &https)).await.ok("alice");
    call(&f.app, dpop_get(&token, &holder.for_private(&token, T0)))
        .await
        .refused("invalid_dpop_proof", "another URL");
    // Another Host is another URL.
    let mut req = dpop_get(
        &token,
        &holder
            .proof("GET", "https://api.example/private", T0)
            .ath(&token)
            .sign(),
    );
    req.headers_mut()
        .insert(header::HOST, "api.example:8443".parse().unwrap());
    call(&f.app, req)
        .await
        .refused("invalid_dpop_proof", "another URL");
    let mut req = dpop_get(
        &token,
        &holder
            .proof("GET", "https://api.example:8443/private", T0)
            .ath(&token)
            .sign(),
    );
    req.headers_mut()
        .insert(header::HOST, "api.example:8443".parse().unwrap());
    call(&f.app, req).await.ok("alice");

    // request_url itself.
    let parts = |uri: &str, host: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(host) = host {
            b = b.header(header::HOST, host);
        }
        b.body(()).unwrap().into_parts().0
    };
    let dpop = Dpop::default();
    assert_eq!(
        dpop.request_url(&parts("/a/b?c=d", Some("h.example")))
            .as_deref(),
        Some("http://h.example/a/b")
    );
    assert_eq!(
        dpop.clone()
            .scheme("https")
            .request_url(&parts("/a", Some("h.example:8443")))
            .as_deref(),
        Some("https://h.example:8443/a")
    );
    assert_eq!(
        dpop.request_url(&parts("https://x.example/a", Some("h.example")))
            .as_deref(),
        Some("https://x.example/a")
    );
    assert_eq!(dpop.request_url(&parts("/a", None)), None);
}

#[tokio::test]
async fn url_of_decides_the_url_behind_a_proxy() {
    let dpop = Dpop::default().url_of(|parts| {
        let prefix = parts.headers.get("x-forwarded-prefix")?.to_str().ok()?;
        Some(format!(
            "https://public.example{prefix}{}",
            parts.uri.path()
        ))
    });
    let f = fixture(dpop);
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    let public = holder
        .proof("GET", "https://public.example/api/private", T0)
        .ath(&token)
        .sign();
    let mut req = dpop_get(&token, &public);
    req.headers_mut()
        .insert("x-forwarded-prefix", "/api".parse().unwrap());
    call(&f.app, req).await.ok("alice");
    // The Host header's URL is not the one any more.
    let mut req = dpop_get(&token, &holder.for_private(&token, T0));
    req.headers_mut()
        .insert("x-forwarded-prefix", "/api".parse().unwrap());
    call(&f.app, req)
        .await
        .refused("invalid_dpop_proof", "another URL");
    // The function answering None: the URL is not known.
    let public = holder
        .proof("GET", "https://public.example/api/private", T0)
        .ath(&token)
        .sign();
    call(&f.app, dpop_get(&token, &public))
        .await
        .refused("invalid_dpop_proof", "URL are not known");
}

#[tokio::test]
async fn a_nested_router_checks_the_url_the_client_used() {
    // axum strips a nest's prefix from the URI the inner routes (and their
    // route layers) see; the client signed the whole path.
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let token = f.bound_token(&holder).await;
    let inner = Router::new().route("/private", get(whoami));
    let layered = Router::new()
        .route("/layered", get(|| async { "layered" }))
        .route_layer(f.gate.require());
    let app: Router = Router::new()
        .nest("/api", inner.merge(layered))
        .with_state(f.gate.clone());
    // The proof for the URL the client used is accepted...
    let proof = holder
        .proof("GET", "http://api.example/api/private", T0)
        .ath(&token)
        .sign();
    call(
        &app,
        request(Method::GET, "/api/private", "DPoP", &token, &[&proof]),
    )
    .await
    .ok("alice");
    let proof = holder
        .proof("GET", "http://api.example/api/layered", T0)
        .ath(&token)
        .sign();
    let answer = call(
        &app,
        request(Method::GET, "/api/layered", "DPoP", &token, &[&proof]),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body),
        (StatusCode::OK, json!("layered"))
    );
    // ...and one for the prefix-less path (another resource) is not.
    let proof = holder.proof("GET", PRIVATE, T0).ath(&token).sign();
    call(
        &app,
        request(Method::GET, "/api/private", "DPoP", &token, &[&proof]),
    )
    .await
    .refused("invalid_dpop_proof", "another URL");
}

// ---------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mode_off_refuses_the_scheme_and_bound_tokens_and_ignores_proofs() {
    let f = fixture(Dpop::default().mode(DpopMode::Off));
    let holder = Holder::new(Algorithm::ES256);
    let unbound = f.gate.login("alice").await.unwrap().access.token;
    let bound = f.bound_token(&holder).await;
    // The DPoP scheme is not a scheme this gate knows.
    for token in [&unbound, &bound] {
        let answer = call(&f.app, dpop_get(token, &holder.for_private(token, T0))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.code(), "invalid_header", "{}", answer.body);
        assert_eq!(
            answer.challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#)
        );
    }
    // A bound token as a bearer token: refused, whatever the proof, with
    // the bearer challenge (DPoP is not advertised where it is off).
    let proof = holder.for_private(&bound, T0);
    let answer = call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &bound, &[&proof]),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert!(
        answer.msg().contains("not accepted here"),
        "{}",
        answer.body
    );
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer realm="tokengate", error="invalid_token""#)
    );
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &unbound, &[]),
    )
    .await
    .ok("alice");
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &unbound, &[&proof]),
    )
    .await
    .ok("alice");
    // Logins are not bound: a proof is ignored, even a bad one.
    let login = |proof: &str| {
        Request::post("/auth/login")
            .header(header::HOST, HOST)
            .header("DPoP", proof)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let good = holder
        .proof("POST", "http://api.example/auth/login", T0)
        .sign();
    assert_eq!(f.gate.proof_key(&login(&good)).await.unwrap(), None);
    assert_eq!(f.gate.proof_key(&login("garbage")).await.unwrap(), None);
}

#[tokio::test]
async fn mode_required_refuses_unbound_header_tokens_but_not_cookie_sessions() {
    let f = fixture(Dpop::default().mode(DpopMode::Required));
    let holder = Holder::new(Algorithm::EdDSA);
    let unbound = f.gate.login("alice").await.unwrap().access.token;
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &unbound, &[]),
    )
    .await
    .refused("invalid_token", "a DPoP-bound token is required");
    // Through the layer too.
    call(
        &f.app,
        request(Method::GET, "/layered", "Bearer", &unbound, &[]),
    )
    .await
    .refused("invalid_token", "a DPoP-bound token is required");
    // The query string is no way around it.
    let with_query = f.gate.clone().with_transport(
        Transport::default().locations([TokenLocation::Headers, TokenLocation::QueryString]),
    );
    let query = Request::get(format!("/private?jwt={unbound}"))
        .header(header::HOST, HOST)
        .body(Body::empty())
        .unwrap();
    call(&app(&with_query), query)
        .await
        .refused("invalid_token", "a DPoP-bound token is required");
    // A cookie session is not affected (the default transport reads cookies).
    let cookie = Request::get("/private")
        .header(header::HOST, HOST)
        .header(header::COOKIE, format!("access_token_cookie={unbound}"))
        .body(Body::empty())
        .unwrap();
    call(&f.app, cookie).await.ok("alice");
    // A bound token with its proof is fine.
    let bound = f.bound_token(&holder).await;
    call(&f.app, dpop_get(&bound, &holder.for_private(&bound, T0)))
        .await
        .ok("alice");

    // Logins need a proof: proof_key refuses a login without one.
    let login = |proof: Option<&str>| {
        let mut b = Request::post("/auth/login").header(header::HOST, HOST);
        if let Some(proof) = proof {
            b = b.header("DPoP", proof);
        }
        b.body(()).unwrap().into_parts().0
    };
    let err = f.gate.proof_key(&login(None)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
    assert_eq!(
        err.www_authenticate(),
        Some(challenge("invalid_dpop_proof"))
    );
    // With a good one, its key; a proof at login has no ath.
    let proof = holder
        .proof("POST", "http://api.example/auth/login", T0)
        .sign();
    assert_eq!(
        f.gate.proof_key(&login(Some(&proof))).await.unwrap(),
        Some(holder.jkt.clone())
    );
    // Used once.
    let err = f.gate.proof_key(&login(Some(&proof))).await.unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
    // For another URL.
    let proof = holder
        .proof("POST", "http://api.example/auth/refresh", T0)
        .sign();
    assert_eq!(
        f.gate
            .proof_key(&login(Some(&proof)))
            .await
            .unwrap_err()
            .code(),
        "invalid_dpop_proof"
    );

    // Mode allowed: no proof, no binding.
    let f = fixture(Dpop::default());
    assert_eq!(f.gate.proof_key(&login(None)).await.unwrap(), None);
    let proof = holder
        .proof("POST", "http://api.example/auth/login", T0)
        .sign();
    assert_eq!(
        f.gate.proof_key(&login(Some(&proof))).await.unwrap(),
        Some(holder.jkt.clone())
    );
    assert_eq!(
        f.gate
            .proof_key(&login(Some("x.y.z")))
            .await
            .unwrap_err()
            .code(),
        "invalid_dpop_proof"
    );
}

// ---------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------

#[tokio::test]
async fn nonces_are_asked_for_given_and_accepted() {
    let period = Duration::from_secs(300);
    let f = fixture(Dpop::default().nonces(Nonces::new(&[7; 32], period)));
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;

    // No nonce: use_dpop_nonce, and a nonce to use.
    let answer = call(&f.app, dpop_get(&token, &holder.for_private(&token, T0))).await;
    answer.refused("use_dpop_nonce", "nonce");
    let nonce = answer.nonce.clone().expect("a DPoP-Nonce header");
    assert!(!nonce.is_empty());
    // The retry with it.
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .nonce(&nonce)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
    // The same nonce in another proof (a nonce is not single-use).
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .nonce(&nonce)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");

    // A nonce made under another server key.
    let foreign = Nonces::new(&[8; 32], period).issue(Timestamp::from_secs(T0));
    assert_ne!(foreign, nonce);
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .nonce(&foreign)
        .sign();
    let answer = call(&f.app, dpop_get(&token, &proof)).await;
    answer.refused("use_dpop_nonce", "nonce");
    assert_eq!(answer.nonce.as_deref(), Some(nonce.as_str()));
    // Garbage.
    for bad in ["", "nonce", &nonce[..nonce.len() - 1]] {
        let proof = holder
            .proof("GET", PRIVATE, T0)
            .ath(&token)
            .nonce(bad)
            .sign();
        call(&f.app, dpop_get(&token, &proof))
            .await
            .refused("use_dpop_nonce", "nonce");
    }
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .claim("nonce", json!(7))
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "must hold");

    // A period later the nonce is still good; two periods later it is not,
    // and the refusal brings a new one.
    f.clock.advance(period);
    let proof = holder
        .proof("GET", PRIVATE, f.now())
        .ath(&token)
        .nonce(&nonce)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");
    f.clock.advance(period);
    let proof = holder
        .proof("GET", PRIVATE, f.now())
        .ath(&token)
        .nonce(&nonce)
        .sign();
    let answer = call(&f.app, dpop_get(&token, &proof)).await;
    answer.refused("use_dpop_nonce", "nonce");
    let fresh = answer.nonce.expect("a new DPoP-Nonce");
    assert_ne!(fresh, nonce);
    let proof = holder
        .proof("GET", PRIVATE, f.now())
        .ath(&token)
        .nonce(&fresh)
        .sign();
    call(&f.app, dpop_get(&token, &proof)).await.ok("alice");

    // Other refusals carry no nonce header; nor do bearer tokens' answers.
    let answer = call(&f.app, dpop_get(&token, "x.y.z")).await;
    answer.refused("invalid_dpop_proof", "");
    assert_eq!(answer.nonce, None);

    // A nonce does not make a bad proof good: the nonce is checked last.
    let other = Holder::new(Algorithm::ES256);
    let proof = other
        .proof("GET", PRIVATE, f.now())
        .ath(&token)
        .nonce(&fresh)
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "another key");
    let proof = holder
        .proof("GET", PRIVATE, f.now() - 61)
        .ath(&token)
        .nonce(&fresh)
        .sign();
    call(&f.app, dpop_get(&token, &proof))
        .await
        .refused("invalid_dpop_proof", "too old");
}

#[tokio::test]
async fn a_nonce_is_shared_by_instances_with_the_same_key() {
    let period = Duration::from_secs(60);
    let a =
        fixture(Dpop::default().nonces(Nonces::new(b"a key both instances share.......", period)));
    let engine_b =
        TokenEngine::new(a.gate.engine().keys().clone()).with_clock(Clock::from(a.clock.clone()));
    let b_gate = TokenGate::new(engine_b).with_dpop(
        Dpop::default().nonces(Nonces::new(b"a key both instances share.......", period)),
    );
    let b_app = app(&b_gate);
    let holder = Holder::new(Algorithm::EdDSA);
    let token = a.bound_token(&holder).await;
    let answer = call(&a.app, dpop_get(&token, &holder.for_private(&token, T0))).await;
    let nonce = answer.nonce.expect("nonce");
    let proof = holder
        .proof("GET", PRIVATE, T0)
        .ath(&token)
        .nonce(&nonce)
        .sign();
    call(&b_app, dpop_get(&token, &proof)).await.ok("alice");
}

// ---------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_bound_login_refreshes_with_a_proof_and_stays_bound() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let login = f.bound_login(&holder).await;
    let refresh_token = login.refresh.token.clone();
    let refresh_url = "http://api.example/refresh";

    // As a bearer token: refused before it is spent.
    let answer = call(
        &f.app,
        request(Method::POST, "/refresh", "Bearer", &refresh_token, &[]),
    )
    .await;
    answer.refused("invalid_token", "DPoP scheme");
    // A proof with the access token's ath is not one for the refresh token.
    let proof = holder
        .proof("POST", refresh_url, T0)
        .ath(&login.access.token)
        .sign();
    call(
        &f.app,
        request(Method::POST, "/refresh", "DPoP", &refresh_token, &[&proof]),
    )
    .await
    .refused("invalid_dpop_proof", "ath");
    // Another key's proof.
    let thief = Holder::new(Algorithm::ES256);
    let proof = thief
        .proof("POST", refresh_url, T0)
        .ath(&refresh_token)
        .sign();
    call(
        &f.app,
        request(Method::POST, "/refresh", "DPoP", &refresh_token, &[&proof]),
    )
    .await
    .refused("invalid_dpop_proof", "another key");

    // With its proof: a new pair, bound to the same key.
    let proof = holder
        .proof("POST", refresh_url, T0)
        .ath(&refresh_token)
        .sign();
    let answer = call(
        &f.app,
        request(Method::POST, "/refresh", "DPoP", &refresh_token, &[&proof]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let pair = answer.body;
    assert_eq!(pair["token_type"], "DPoP");
    assert_eq!(pair["access_jkt"], holder.jkt.as_str());
    assert_eq!(pair["refresh_jkt"], holder.jkt.as_str());
    let access = pair["access"].as_str().unwrap().to_owned();
    let next_refresh = pair["refresh"].as_str().unwrap().to_owned();
    for token in [&access, &next_refresh] {
        let claims = f.gate.engine().verify(token).unwrap().claims;
        assert_eq!(claims.confirmation.as_ref(), Some(&holder.jkt));
        assert_eq!(claims.family, login.access.family, "the same login");
    }
    // The new access token works with a proof, not as a bearer token.
    call(&f.app, dpop_get(&access, &holder.for_private(&access, T0)))
        .await
        .ok("alice");
    call(
        &f.app,
        request(Method::GET, "/private", "Bearer", &access, &[]),
    )
    .await
    .refused("invalid_token", "DPoP scheme");
    // Nor does the new refresh token as a bearer token.
    call(
        &f.app,
        request(Method::POST, "/refresh", "Bearer", &next_refresh, &[]),
    )
    .await
    .refused("invalid_token", "DPoP scheme");
    // The new refresh token, with its proof, refreshes again.
    let proof = holder
        .proof("POST", refresh_url, T0)
        .ath(&next_refresh)
        .sign();
    let answer = call(
        &f.app,
        request(Method::POST, "/refresh", "DPoP", &next_refresh, &[&proof]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["access_jkt"], holder.jkt.as_str());

    // gate.refresh directly keeps the binding too.
    let login = f.bound_login(&holder).await;
    let presented = f.gate.engine().verify(&login.refresh.token).unwrap();
    let next = f.gate.refresh("alice", &presented).await.unwrap();
    assert_eq!(next.token_type(), "DPoP");
    assert_eq!(next.access.confirmation.as_ref(), Some(&holder.jkt));
    assert_eq!(
        f.gate
            .engine()
            .verify(&next.access.token)
            .unwrap()
            .claims
            .confirmation
            .as_ref(),
        Some(&holder.jkt)
    );
    // An unbound login's refresh stays unbound.
    let plain = f.gate.login("alice").await.unwrap();
    let presented = f.gate.engine().verify(&plain.refresh.token).unwrap();
    let next = f.gate.refresh("alice", &presented).await.unwrap();
    assert_eq!(
        (next.token_type(), next.access.confirmation),
        ("Bearer", None)
    );
}

// ---------------------------------------------------------------------------
// The layer and the extractors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_layer_and_the_extractors_refuse_alike() {
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::EdDSA);
    let thief = Holder::new(Algorithm::EdDSA);
    let bound = f.bound_token(&holder).await;
    let unbound = f.gate.login("alice").await.unwrap().access.token;

    type Case<'a> = (
        &'a str,
        Box<dyn Fn(&str) -> (String, String, Vec<String>) + 'a>,
        &'a str,
    );
    // Each case: (label, for a path -> (scheme, token, proofs), code).
    let url = |path: &str| format!("http://api.example{path}");
    let cases: Vec<Case<'_>> = vec![
        (
            "bearer",
            Box::new(|_| ("Bearer".into(), bound.clone(), vec![])),
            "invalid_token",
        ),
        (
            "no proof",
            Box::new(|_| ("DPoP".into(), bound.clone(), vec![])),
            "invalid_dpop_proof",
        ),
        (
            "two proofs",
            Box::new(|p| {
                let proof = |_| holder.proof("GET", &url(p), T0).ath(&bound).sign();
                ("DPoP".into(), bound.clone(), vec![proof(0), proof(1)])
            }),
            "invalid_dpop_proof",
        ),
        (
            "other key",
            Box::new(|p| {
                (
                    "DPoP".into(),
                    bound.clone(),
                    vec![thief.proof("GET", &url(p), T0).ath(&bound).sign()],
                )
            }),
            "invalid_dpop_proof",
        ),
        (
            "other url",
            Box::new(|_| {
                (
                    "DPoP".into(),
                    bound.clone(),
                    vec![
                        holder
                            .proof("GET", &url("/elsewhere"), T0)
                            .ath(&bound)
                            .sign(),
                    ],
                )
            }),
            "invalid_dpop_proof",
        ),
        (
            "stale",
            Box::new(|p| {
                (
                    "DPoP".into(),
                    bound.clone(),
                    vec![holder.proof("GET", &url(p), T0 - 61).ath(&bound).sign()],
                )
            }),
            "invalid_dpop_proof",
        ),
        (
            "no ath",
            Box::new(|p| {
                (
                    "DPoP".into(),
                    bound.clone(),
                    vec![holder.proof("GET", &url(p), T0).sign()],
                )
            }),
            "invalid_dpop_proof",
        ),
        (
            "unbound with DPoP",
            Box::new(|p| {
                (
                    "DPoP".into(),
                    unbound.clone(),
                    vec![holder.proof("GET", &url(p), T0).ath(&unbound).sign()],
                )
            }),
            "invalid_token",
        ),
    ];
    for (label, make, code) in &cases {
        let mut seen = Vec::new();
        for path in ["/private", "/layered", "/layered/extractor"] {
            let (scheme, token, proofs) = make(path);
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let answer = call(&f.app, request(Method::GET, path, &scheme, &token, &proofs)).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{label} {path}: {}",
                answer.body
            );
            assert_eq!(answer.code(), *code, "{label} {path}: {}", answer.body);
            assert_eq!(answer.challenge, Some(challenge(code)), "{label} {path}");
            seen.push((
                answer.code().to_owned(),
                answer.msg().to_owned(),
                answer.challenge,
            ));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{label}: {seen:?}");
    }
    // And the good request passes all three, each with its own proof.
    for (path, expected) in [
        ("/private", "alice"),
        ("/layered", "layered"),
        ("/layered/extractor", "alice"),
    ] {
        let proof = holder.proof("GET", &url(path), T0).ath(&bound).sign();
        let answer = call(
            &f.app,
            request(Method::GET, path, "DPoP", &bound, &[&proof]),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body),
            (StatusCode::OK, json!(expected)),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------
// Dpop::check_proof and Dpop::verify directly
// ---------------------------------------------------------------------------

#[test]
fn check_proof_accepts_each_asymmetric_family() {
    let dpop = Dpop::default();
    for alg in [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES384,
    ] {
        let holder = Holder::new(alg);
        let token = "an.access.token";
        let proof = holder
            .proof("PATCH", "https://api.example/things/1", T0)
            .ath(token)
            .sign();
        let target =
            ProofTarget::new(&Method::PATCH, "https://api.example/things/1").access_token(token);
        let checked = dpop
            .check_proof(&proof, &target, T0)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(checked.jkt, holder.jkt, "{alg}");
        assert_eq!(checked.issued_at, T0);
        // The thumbprint is RFC 7638's, computed here by hand for EC and OKP.
        if let Some(expected) = rfc7638(&holder.jwk) {
            assert_eq!(checked.jkt.as_str(), expected, "{alg}");
        }
        // And only that algorithm's gate accepts it.
        let other = if alg == Algorithm::EdDSA {
            Algorithm::ES256
        } else {
            Algorithm::EdDSA
        };
        let only_other = Dpop::default().algorithms([other]);
        let err = only_other.check_proof(&proof, &target, T0).unwrap_err();
        assert_eq!(err.error, DpopError::InvalidProof, "{alg}");
        assert_eq!(
            err.challenge(),
            challenge_with(other.as_str(), "invalid_dpop_proof")
        );
    }
}

/// RFC 7638 by hand: the required members in lexicographic order, no
/// whitespace, SHA-256, base64url.
fn rfc7638(jwk: &Value) -> Option<String> {
    let s = |k: &str| jwk[k].as_str().unwrap().to_owned();
    let canonical = match jwk["kty"].as_str()? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        _ => return None,
    };
    Some(b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    )
    .as_ref()))
}

#[test]
fn check_proof_names_each_refusal() {
    let dpop = Dpop::default();
    let holder = Holder::new(Algorithm::ES256);
    let token = "tok";
    let target = ProofTarget::new(&Method::GET, PRIVATE).access_token(token);
    let check = |proof: String| dpop.check_proof(&proof, &target, T0);
    let good = || holder.proof("GET", PRIVATE, T0).ath(token);
    assert!(check(good().sign()).is_ok());
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "htm",
            holder.proof("PUT", PRIVATE, T0).ath(token).sign(),
            "the DPoP proof is for another method",
        ),
        (
            "htu",
            holder
                .proof("GET", "http://api.example/x", T0)
                .ath(token)
                .sign(),
            "the DPoP proof is for another URL",
        ),
        (
            "old",
            holder.proof("GET", PRIVATE, T0 - 61).ath(token).sign(),
            "the DPoP proof is too old",
        ),
        (
            "future",
            holder.proof("GET", PRIVATE, T0 + 6).ath(token).sign(),
            "the DPoP proof is issued in the future",
        ),
        (
            "no ath",
            holder.proof("GET", PRIVATE, T0).sign(),
            "the DPoP proof has no ath",
        ),
        (
            "wrong ath",
            holder.proof("GET", PRIVATE, T0).ath("other").sign(),
            "the DPoP proof's ath is not the token's hash",
        ),
        (
            "d",
            good().jwk_member("d", json!("AAAA")).sign(),
            "the DPoP proof's jwk must be a public key",
        ),
        (
            "typ",
            good().header("typ", json!("JWT")).sign(),
            "the DPoP proof's typ must be dpop+jwt",
        ),
        (
            "crit",
            good().header("crit", json!(["x"])).sign(),
            "the DPoP proof has a critical header",
        ),
        (
            "alg",
            good().header("alg", json!("HS256")).sign(),
            "the DPoP proof's algorithm is not accepted",
        ),
        (
            "jwk alg",
            good().jwk_member("alg", json!("ES384")).sign(),
            "the DPoP proof's jwk is not a key for its algorithm",
        ),
        (
            "signature",
            good().sign_with(&Holder::new(Algorithm::ES256).key),
            "the DPoP proof's signature does not verify",
        ),
        (
            "no jti",
            {
                let mut p = good();
                p.claims.remove("jti");
                p.sign()
            },
            "the DPoP proof must hold jti, htm, htu and iat",
        ),
        (
            "no htu",
            {
                let mut p = good();
                p.claims.remove("htu");
                p.sign()
            },
            "the DPoP proof must hold jti, htm, htu and iat",
        ),
        (
            "size",
            "a".repeat(8 * 1024 + 1),
            "the DPoP proof is too large",
        ),
        (
            "form",
            "a.b".into(),
            "the DPoP proof must be a JWS in compact form",
        ),
    ];
    for (label, proof, reason) in cases {
        let err = check(proof).expect_err(label);
        assert_eq!(
            (err.error, err.reason),
            (DpopError::InvalidProof, reason),
            "{label}"
        );
        assert_eq!(err.challenge(), challenge("invalid_dpop_proof"), "{label}");
        assert_eq!(err.nonce, None, "{label}");
    }
    // A proof without an access token (a login) needs no ath, and may carry one.
    let login = ProofTarget::new(&Method::GET, PRIVATE);
    assert!(
        dpop.check_proof(&holder.proof("GET", PRIVATE, T0).sign(), &login, T0)
            .is_ok()
    );
    assert!(dpop.check_proof(&good().sign(), &login, T0).is_ok());
}

#[tokio::test]
async fn verify_records_proofs_and_refuses_replays() {
    let dpop = Dpop::default();
    let holder = Holder::new(Algorithm::EdDSA);
    let other = Holder::new(Algorithm::EdDSA);
    let target = ProofTarget::new(&Method::POST, "http://api.example/auth/login");
    let proof = holder
        .proof("POST", "http://api.example/auth/login", T0)
        .claim("jti", json!("same"))
        .sign();
    let checked = dpop.verify(&proof, &target, T0).await.unwrap();
    assert_eq!(
        (checked.jkt, checked.jti.as_str()),
        (holder.jkt.clone(), "same")
    );
    let err = dpop.verify(&proof, &target, T0 + 1).await.unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
    assert_eq!(
        err.www_authenticate(),
        Some(challenge("invalid_dpop_proof"))
    );
    assert!(err.to_string().contains("already used"), "{err}");
    // The same jti from another key is another proof.
    let theirs = other
        .proof("POST", "http://api.example/auth/login", T0)
        .claim("jti", json!("same"))
        .sign();
    assert!(dpop.verify(&theirs, &target, T0).await.is_ok());
    // A clone of the rules shares the store.
    assert!(dpop.clone().verify(&proof, &target, T0).await.is_err());
    // check_proof alone does not record: it accepts the proof again.
    assert!(dpop.check_proof(&proof, &target, T0).is_ok());
    // A refused proof is not recorded.
    let stale = holder
        .proof("POST", "http://api.example/auth/login", T0 - 100)
        .sign();
    assert!(dpop.verify(&stale, &target, T0).await.is_err());
    assert!(
        dpop.clone()
            .max_age(Duration::from_secs(200))
            .verify(&stale, &target, T0)
            .await
            .is_ok()
    );
}

// ---------------------------------------------------------------------------
// RFC 9449's examples
// ---------------------------------------------------------------------------

/// RFC 9449 §4.1, Figure 2 (the token request's proof), line folding undone.
const RFC_TOKEN_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

/// RFC 9449 §7.1, Figure 13 (the protected resource request's proof).
const RFC_RESOURCE_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";

/// The access token of RFC 9449 §7.1 (Figure 12) and its `ath`.
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

/// The thumbprint of the examples' key (RFC 9449 §6.1, Figure 8 `cnf.jkt`).
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[tokio::test]
async fn rfc_9449_example_proofs_verify_at_their_iat() {
    let dpop = Dpop::default();
    // §4.1: POST https://server.example.com/token at 1562262616.
    let target = ProofTarget::new(&Method::POST, "https://server.example.com/token");
    let proof = dpop
        .check_proof(RFC_TOKEN_PROOF, &target, 1_562_262_616)
        .unwrap();
    assert_eq!(proof.jkt.as_str(), RFC_JKT);
    assert_eq!(
        (proof.jti.as_str(), proof.issued_at),
        ("-BwC3ESc6acc2lTc", 1_562_262_616)
    );
    // As a token request (no access token), through verify: once.
    let checked = dpop
        .verify(RFC_TOKEN_PROOF, &target, 1_562_262_616)
        .await
        .unwrap();
    assert_eq!(checked.jkt, Jkt::from(RFC_JKT));
    assert!(
        dpop.verify(RFC_TOKEN_PROOF, &target, 1_562_262_617)
            .await
            .is_err()
    );
    // Another method or URL, or a minute and a second later: refused.
    for (method, url, now) in [
        (
            Method::GET,
            "https://server.example.com/token",
            1_562_262_616,
        ),
        (
            Method::POST,
            "https://server.example.com/authorize",
            1_562_262_616,
        ),
        (
            Method::POST,
            "http://server.example.com/token",
            1_562_262_616,
        ),
        (
            Method::POST,
            "https://server.example.com/token",
            1_562_262_616 + 61,
        ),
        (
            Method::POST,
            "https://server.example.com/token",
            1_562_262_616 - 6,
        ),
    ] {
        let target = ProofTarget::new(&method, url);
        assert_eq!(
            dpop.check_proof(RFC_TOKEN_PROOF, &target, now)
                .unwrap_err()
                .error,
            DpopError::InvalidProof,
            "{method} {url} at {now}"
        );
    }
    // As a resource request with an access token, it has no ath.
    let with_token = ProofTarget::new(&Method::POST, "https://server.example.com/token")
        .access_token(RFC_ACCESS_TOKEN);
    assert_eq!(
        dpop.check_proof(RFC_TOKEN_PROOF, &with_token, 1_562_262_616)
            .unwrap_err()
            .reason,
        "the DPoP proof has no ath"
    );

    // §7.1: GET https://resource.example.org/protectedresource at 1562262618,
    // with the access token's ath.
    assert_eq!(access_token_hash(RFC_ACCESS_TOKEN), RFC_ATH);
    assert_eq!(ath_of(RFC_ACCESS_TOKEN), RFC_ATH);
    let target = ProofTarget::new(
        &Method::GET,
        "https://resource.example.org/protectedresource",
    )
    .access_token(RFC_ACCESS_TOKEN);
    let proof = dpop
        .check_proof(RFC_RESOURCE_PROOF, &target, 1_562_262_618)
        .unwrap();
    assert_eq!(proof.jkt.as_str(), RFC_JKT);
    assert_eq!(
        (proof.jti.as_str(), proof.issued_at),
        ("e1j3V_bKic8-LAEB", 1_562_262_618)
    );
    // With another access token: its ath is wrong.
    let other = ProofTarget::new(
        &Method::GET,
        "https://resource.example.org/protectedresource",
    )
    .access_token("another-token");
    assert_eq!(
        dpop.check_proof(RFC_RESOURCE_PROOF, &other, 1_562_262_618)
            .unwrap_err()
            .reason,
        "the DPoP proof's ath is not the token's hash"
    );
    // A single changed signature byte.
    let mut tampered = RFC_RESOURCE_PROOF.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert!(dpop.check_proof(&tampered, &target, 1_562_262_618).is_err());
    // A gate that accepts EdDSA only refuses the ES256 examples.
    assert!(
        Dpop::default()
            .algorithms([Algorithm::EdDSA])
            .check_proof(RFC_RESOURCE_PROOF, &target, 1_562_262_618)
            .is_err()
    );

    // The RFC's key, from its JWK (§4.2, Figure 4), has the RFC's thumbprint.
    let jwk: tokengate::keys::Jwk = serde_json::from_value(json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256",
    }))
    .unwrap();
    assert_eq!(jwk.thumbprint().as_deref(), Some(RFC_JKT));
    assert_eq!(
        rfc7638(&serde_json::to_value(&jwk).unwrap()).as_deref(),
        Some(RFC_JKT)
    );

    // The §4.1 token request through a gate (clock at the proof's iat, the
    // server's URL known as the RFC's): the login is bound to the RFC's key.
    let clock = ManualClock::new(Timestamp::from_secs(1_562_262_616));
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::EdDSA).unwrap(),
    ))
    .with_clock(Clock::from(clock));
    let gate = TokenGate::new(engine).with_dpop(
        Dpop::default().url_of(|p| Some(format!("https://server.example.com{}", p.uri.path()))),
    );
    let token_request = |proof: &str| {
        Request::post("/token")
            .header(header::HOST, "server.example.com")
            .header("DPoP", proof)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let jkt = gate
        .proof_key(&token_request(RFC_TOKEN_PROOF))
        .await
        .unwrap();
    assert_eq!(jkt, Some(Jkt::from(RFC_JKT)));
    let pair = gate
        .login_with("rfc", LoginDetails::default().bound_to(jkt.unwrap()))
        .await
        .unwrap();
    assert_eq!(pair.token_type(), "DPoP");
    assert_eq!(
        gate.engine().verify(&pair.access.token).unwrap().payload()["cnf"],
        json!({"jkt": RFC_JKT})
    );
    // The same proof again is a replay.
    let err = gate
        .proof_key(&token_request(RFC_TOKEN_PROOF))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
    // The resource proof is not one for the token endpoint.
    let err = gate
        .proof_key(&token_request(RFC_RESOURCE_PROOF))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
}

// ---------------------------------------------------------------------------
// The cnf claim and forward auth
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_cnf_is_refused() {
    let f = fixture(Dpop::default());
    for cnf in [
        json!({"jkt": 5}),
        json!({"jkt": ""}),
        json!("jkt"),
        json!(["jkt"]),
        // Bound by a method tokengate cannot check (RFC 8705's certificate
        // thumbprint), or by none: never taken for a bearer token.
        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!({}),
    ] {
        let token = f
            .gate
            .engine()
            .issue(NewToken::access("carol").claim("cnf", cnf.clone()))
            .unwrap()
            .token;
        for scheme in ["Bearer", "DPoP"] {
            let answer = call(
                &f.app,
                request(Method::GET, "/private", scheme, &token, &[]),
            )
            .await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{cnf} {scheme}");
            assert_eq!(
                answer.code(),
                "invalid_claims",
                "{cnf} {scheme}: {}",
                answer.body
            );
        }
    }
}

#[tokio::test]
async fn forward_auth_checks_the_proof_against_the_original_request() {
    use tokengate::forward::OriginalRequest;
    let f = fixture(Dpop::default());
    let holder = Holder::new(Algorithm::ES256);
    let token = f.bound_token(&holder).await;
    let original = "https://app.example/memos/3";
    let verify = |method: &str, proof: &str| {
        Request::get("/auth/verify")
            .header(header::HOST, "auth.internal")
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "app.example")
            .header("X-Forwarded-Uri", "/memos/3?page=1")
            .header(header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let check = |parts: http::request::Parts| {
        let gate = f.gate.clone();
        async move {
            let original = OriginalRequest::from_headers(&parts.headers);
            gate.authenticate_forwarded(&parts, &original)
                .await
                .map(|(_, t)| t.subject().to_owned())
        }
    };
    let proof = holder.proof("PUT", original, T0).ath(&token).sign();
    assert_eq!(check(verify("PUT", &proof)).await.unwrap(), "alice");
    // Not the proxy's own request.
    let proof = holder
        .proof("GET", "http://auth.internal/auth/verify", T0)
        .ath(&token)
        .sign();
    let err = check(verify("PUT", &proof)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        ("invalid_dpop_proof", "the DPoP proof is for another method")
    );
    let proof = holder
        .proof("PUT", "http://auth.internal/auth/verify", T0)
        .ath(&token)
        .sign();
    let err = check(verify("PUT", &proof)).await.unwrap_err();
    assert_eq!(err.to_string(), "the DPoP proof is for another URL");
    // The original method, not the proxy's GET.
    let proof = holder.proof("GET", original, T0).ath(&token).sign();
    let err = check(verify("PUT", &proof)).await.unwrap_err();
    assert_eq!(err.to_string(), "the DPoP proof is for another method");
    // Without X-Forwarded-Proto the original URL is not known.
    let proof = holder.proof("PUT", original, T0).ath(&token).sign();
    let mut parts = verify("PUT", &proof);
    parts.headers.remove("x-forwarded-proto");
    let err = check(parts).await.unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_proof");
    assert_eq!(
        err.www_authenticate(),
        Some(challenge("invalid_dpop_proof"))
    );
}
