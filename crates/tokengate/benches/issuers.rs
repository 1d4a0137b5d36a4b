//! Verification of a trusted external issuer's token with a warm key cache,
//! against the bare signature check of the same token.
//!
//! One criterion group per algorithm (`trusted_RS256`, `trusted_ES256`),
//! each with:
//!
//! - `verify_at`: [`TrustedIssuers::verify_at`] of a typical external access
//!   token (`iss` read to choose the issuer, header rules, algorithm and
//!   `typ` policy, key by `kid`, signature, payload, claims), with the keys
//!   already loaded from a fake issuer served inside the benchmark;
//! - `engine_verify_at`: [`TokenEngine::verify_at`] of the same token on a
//!   verify-only engine with the same key and the same claim policy: the
//!   work without the trusted-issuer layer;
//! - `bare_signature`: [`VerifyingKey::verify_signature`] alone on the same
//!   signing input and signature;
//! - `verify_ratio_x1000`: the ratio verify_at/bare_signature, the two timed
//!   in alternating chunks (as in `benches/jwt.rs`; criterion shows the
//!   ratio times 1000 as nanoseconds).
//!
//! With the keys held, `verify_at` never waits: its future is polled once
//! (a pending poll would mean a fetch, and fails the benchmark).
//!
//! Run with `cargo bench -p tokengate --features issuers --bench issuers`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
use tokengate::keys::{Algorithm, KeyRing, SigningKey, VerifyingKey};
use tokengate::token::{TokenEngine, Validation, VerifiedToken};

const API: &str = "https://api.tokengate.test";

/// A fake issuer serving discovery and a JWKS of `key` on 127.0.0.1, in
/// `rt`; its URL (the issuer).
fn serve_issuer(rt: &tokio::runtime::Runtime, key: &VerifyingKey) -> String {
    let jwk = serde_json::to_value(key.to_jwk().expect("public key")).expect("JWK");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}).to_string();
        let jwks = json!({ "keys": [jwk] }).to_string();
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { discovery }),
            )
            .route("/jwks", get(move || async move { jwks }));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        url
    })
}

/// A typical external access token: no `jti`, no `type`, two scopes.
fn external_token(key: &SigningKey, iss: &str, now: i64) -> String {
    let header = json!({"alg": key.algorithm().as_str(), "typ": "JWT", "kid": key.kid().as_str()});
    let claims = json!({
        "iss": iss,
        "aud": API,
        "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "azp": "9f3b1c2d4e5f6a7b8c9d0e1f2a3b4c5d",
        "iat": now,
        "exp": now + 3600,
        "scope": "read:messages write:messages",
    });
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(token.as_bytes()).expect("sign");
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// The signing input (`header.payload`) and decoded signature of a token.
fn split_token(token: &str) -> (&[u8], Vec<u8>) {
    let dot = token.rfind('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD
        .decode(&token[dot + 1..])
        .expect("base64url signature");
    (&token.as_bytes()[..dot], signature)
}

/// `TrustedIssuers::verify_at`, polled once: with the keys held it is ready.
fn verify_warm(issuers: &TrustedIssuers, token: &str, now: i64) -> VerifiedToken {
    let future = pin!(issuers.verify_at(token, now));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result.expect("the token verifies"),
        Poll::Pending => panic!("verification waited on a fetch: the cache is not warm"),
    }
}

fn bench_algorithm(c: &mut Criterion, rt: &tokio::runtime::Runtime, alg: Algorithm) {
    let key = SigningKey::generate(alg).expect("key generation");
    let iss = serve_issuer(rt, key.verifying_key());
    let issuers = TrustedIssuers::new(vec![TrustedIssuer::new(iss.as_str(), [API])])
        .expect("trusted issuers");
    rt.block_on(issuers.refresh_all()).expect("keys load");

    let now = tokengate::clock::now().as_secs();
    let token = external_token(&key, &iss, now);
    let (signing_input, sig) = split_token(&token);
    let verifying = key.verifying_key().clone();
    let engine = TokenEngine::new(KeyRing::verify_only([verifying.clone()]))
        .with_validation(Validation::external().issuer(iss.clone()).audience([API]));
    eprintln!(
        "{alg}: the external access token is {} bytes ({} signed)",
        token.len(),
        signing_input.len()
    );

    // The measurements must all be of the same, valid token.
    let verified = verify_warm(&issuers, &token, now);
    assert_eq!(verified.origin.issuer(), Some(iss.as_str()));
    assert_eq!(verified.claims.scopes.len(), 2);
    assert!(engine.verify_at(&token, now).is_ok());
    assert!(
        verifying.verify_signature(signing_input, &sig),
        "bare check agrees"
    );

    let mut group = c.benchmark_group(format!("trusted_{alg}"));
    group.bench_function("verify_at", |b| {
        b.iter(|| verify_warm(&issuers, black_box(&token), now))
    });
    group.bench_function("engine_verify_at", |b| {
        b.iter(|| {
            engine
                .verify_at(black_box(&token), now)
                .expect("engine verifies")
        })
    });
    group.bench_function("bare_signature", |b| {
        b.iter(|| assert!(verifying.verify_signature(black_box(signing_input), black_box(&sig))))
    });
    // verify_at against bare_signature in alternating chunks of a few
    // microseconds, so that load from other processes hits both alike.
    let chunk = chunk_for(|| verifying.verify_signature(signing_input, &sig));
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
                            drop(black_box(verify_warm(&issuers, black_box(&token), now)));
                        }
                        verify += start.elapsed();
                    } else {
                        for _ in 0..n {
                            assert!(
                                verifying
                                    .verify_signature(black_box(signing_input), black_box(&sig))
                            );
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

fn trusted(c: &mut Criterion) {
    // The fake issuers run here; only the key loading talks to them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        bench_algorithm(c, &rt, alg);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .without_plots();
    targets = trusted
}
criterion_main!(benches);
