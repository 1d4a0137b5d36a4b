//! What DPoP (RFC 9449) costs per request next to a bearer token, and what
//! the proof check costs next to its signature check.
//!
//! Group `request`: one request through a bare axum `Router` whose route
//! takes `AccessToken`, with `oneshot`; the access token verified before
//! (as every request after a client's first finds it in the gate's cache).
//! Each request is built outside the timed part, with a proof of its own
//! (a fresh `jti`, `iat` now), so that the replay store sees a new proof
//! each time, as in real traffic:
//!
//! - `bearer`: `Authorization: Bearer <token>`, an unbound token;
//! - `dpop_es256`: `Authorization: DPoP <token>` bound to an ES256 key,
//!   and a fresh ES256 proof in `DPoP`;
//! - `dpop_eddsa`: the same with an Ed25519 key;
//! - `dpop_es256_vs_bearer_ratio_x1000` and `dpop_eddsa_vs_bearer_ratio_x1000`:
//!   the ratio DPoP / bearer, the two timed in alternating chunks so that
//!   it holds up on a busy machine (criterion shows the ratio times 1000
//!   as nanoseconds).
//!
//! Group `proof`: the primitives, on one proof:
//!
//! - `check_proof_es256`, `check_proof_eddsa`: `Dpop::check_proof` (parse,
//!   header rules, the JWK made a key, signature, claims, `ath`,
//!   thumbprint), without the replay store;
//! - `signature_es256`, `signature_eddsa`: `VerifyingKey::verify_signature`
//!   alone on the proof's signing input and signature.
//!
//! Run with `cargo bench -p tokengate --bench dpop` (about a minute and a half).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request, header};
use serde_json::json;
use tokengate::axum::{AccessToken, TokenGate};
use tokengate::dpop::{Dpop, Jkt, ProofTarget, access_token_hash};
use tokengate::keys::{Algorithm, SigningKey};
use tokengate::token::{NewToken, random_id};
use tower::ServiceExt;

const HOST: &str = "bench.example";
const URL: &str = "http://bench.example/r";

/// A client's proof key and the token bound to it.
struct Client {
    key: SigningKey,
    header_b64: String,
    jkt: Jkt,
}

impl Client {
    fn new(alg: Algorithm) -> Client {
        let key = SigningKey::generate(alg).expect("key");
        let jwk = key.verifying_key().to_jwk().expect("public JWK");
        let jkt = Jkt::from(jwk.thumbprint().expect("thumbprint"));
        let header = json!({"typ": "dpop+jwt", "alg": alg.as_str(), "jwk": jwk});
        Client {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            key,
            jkt,
        }
    }

    /// A new proof for `GET URL` with `token`, made now.
    fn proof(&self, token: &str) -> String {
        let claims = json!({
            "jti": random_id(),
            "htm": "GET",
            "htu": URL,
            "iat": tokengate::clock::now().as_secs(),
            "ath": access_token_hash(token),
        });
        let input = format!(
            "{}.{}",
            self.header_b64,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn request(scheme: &str, token: &str, proof: Option<String>) -> Request<Body> {
    let mut builder = Request::get("/r")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("{scheme} {token}"));
    if let Some(proof) = proof {
        builder = builder.header("DPoP", proof);
    }
    builder.body(Body::empty()).expect("request")
}

/// The signing input and decoded signature of a compact JWS.
fn split(jws: &str) -> (&[u8], Vec<u8>) {
    let dot = jws.rfind('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD
        .decode(&jws[dot + 1..])
        .expect("base64url signature");
    (&jws.as_bytes()[..dot], signature)
}

fn bench_dpop(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // The default rules: DPoP allowed, max_age 60 s, the in-memory replay
    // store (it keeps each proof for 65 s, swept as it grows).
    let gate = TokenGate::with_generated_key(Algorithm::ES256)
        .expect("key")
        .with_dpop(Dpop::default());
    let app: Router = Router::new()
        .route(
            "/r",
            get(|t: AccessToken| async move { black_box(t.subject().len()).to_string() }),
        )
        .with_state(gate.clone());
    let issue = |new: NewToken| {
        gate.engine()
            .issue(new.scope("read:messages"))
            .expect("token")
            .token
    };
    let bearer = issue(NewToken::access("alice"));
    let es256 = Client::new(Algorithm::ES256);
    let eddsa = Client::new(Algorithm::EdDSA);
    let es256_token = issue(NewToken::access("alice").bound_to(es256.jkt.clone()));
    let eddsa_token = issue(NewToken::access("alice").bound_to(eddsa.jkt.clone()));

    let make_bearer = || request("Bearer", &bearer, None);
    let make_es256 = || request("DPoP", &es256_token, Some(es256.proof(&es256_token)));
    let make_eddsa = || request("DPoP", &eddsa_token, Some(eddsa.proof(&eddsa_token)));
    let send = |req: Request<Body>| {
        let response = rt.block_on(app.clone().oneshot(req)).expect("answer");
        debug_assert_eq!(response.status(), 200);
        response
    };
    // Every variant answers 200 (and caches its token); a replayed proof does not.
    for (name, make) in [
        ("bearer", &make_bearer as &dyn Fn() -> Request<Body>),
        ("dpop_es256", &make_es256),
        ("dpop_eddsa", &make_eddsa),
    ] {
        let response = rt.block_on(app.clone().oneshot(make())).expect("answer");
        assert_eq!(response.status(), 200, "{name}");
    }
    let proof = es256.proof(&es256_token);
    for expected in [200, 401] {
        let req = request("DPoP", &es256_token, Some(proof.clone()));
        let response = rt.block_on(app.clone().oneshot(req)).expect("answer");
        assert_eq!(response.status(), expected, "the same proof twice");
    }

    let mut group = c.benchmark_group("request");
    for (name, make) in [
        ("bearer", &make_bearer as &dyn Fn() -> Request<Body>),
        ("dpop_es256", &make_es256),
        ("dpop_eddsa", &make_eddsa),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(make, |req| send(black_box(req)), BatchSize::SmallInput)
        });
    }
    // DPoP / bearer, alternating chunks of up to 200 requests each, each
    // chunk's requests (and proofs) made before its clock starts.
    let ratio = |b: &mut criterion::Bencher<'_>, make_dpop: &dyn Fn() -> Request<Body>| {
        b.iter_custom(|iters| {
            let (mut dpop, mut plain) = (Duration::ZERO, Duration::ZERO);
            let (mut left, mut dpop_first) = (iters, true);
            while left > 0 {
                let n = left.min(200);
                for first in [dpop_first, !dpop_first] {
                    let (make, total): (&dyn Fn() -> Request<Body>, _) = if first {
                        (make_dpop, &mut dpop)
                    } else {
                        (&make_bearer, &mut plain)
                    };
                    let requests: Vec<Request<Body>> = (0..n).map(|_| make()).collect();
                    let start = Instant::now();
                    for req in requests {
                        drop(black_box(send(req)));
                    }
                    *total += start.elapsed();
                }
                left -= n;
                dpop_first = !dpop_first;
            }
            let ratio = dpop.as_secs_f64() / plain.as_secs_f64().max(1e-12);
            Duration::from_secs_f64(ratio * 1e-6 * iters as f64)
        })
    };
    group.bench_function("dpop_es256_vs_bearer_ratio_x1000", |b| {
        ratio(b, &make_es256)
    });
    group.bench_function("dpop_eddsa_vs_bearer_ratio_x1000", |b| {
        ratio(b, &make_eddsa)
    });
    group.finish();

    let mut group = c.benchmark_group("proof");
    let dpop = Dpop::default();
    for (name, client, token) in [
        ("es256", &es256, &es256_token),
        ("eddsa", &eddsa, &eddsa_token),
    ] {
        let proof = client.proof(token);
        let target = ProofTarget::new(&Method::GET, URL).access_token(token);
        let now = tokengate::clock::now().as_secs();
        let checked = dpop
            .check_proof(&proof, &target, now)
            .expect("a good proof");
        assert_eq!(checked.jkt, client.jkt);
        group.bench_function(format!("check_proof_{name}"), |b| {
            b.iter(|| dpop.check_proof(black_box(&proof), black_box(&target), now))
        });
        let (input, signature) = split(&proof);
        let key = client.key.verifying_key();
        assert!(key.verify_signature(input, &signature));
        group.bench_function(format!("signature_{name}"), |b| {
            b.iter(|| key.verify_signature(black_box(input), black_box(&signature)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench_dpop
}
criterion_main!(benches);
