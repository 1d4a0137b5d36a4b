//! tokengate's metrics (feature `metrics`), read from a recorder of the
//! test's own over `metrics-util`'s registry: verifications by result as
//! the extractors answer, refresh-token reuse, JWKS fetches by issuer and
//! outcome against a fake issuer (`common::issuer`, an axum server on
//! 127.0.0.1), and the password hashing gauges.
//!
//! The recorder is process-wide and installed before anything counts (the
//! verification counters are registered at first use). Tests read values
//! without resetting them and compare with what they read before; the
//! JWKS series carry each fake issuer's own URL, and only one test verifies
//! tokens through extractors or hashes passwords.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use tokengate::axum::{AccessToken, AnyToken, FirstParty, IssuedBy, Scoped, TokenGate};
use tokengate::issuers::{TrustedIssuer, TrustedIssuers};
use tokengate::keys::{Algorithm, KeyRing};
use tokengate::metrics::{
    JWKS_FETCHES, PASSWORD_HASHING_QUEUE, PASSWORD_HASHING_RUNNING, REFRESH_REUSE_DETECTED,
    TOKEN_VERIFICATIONS,
};
use tokengate::token::{NewToken, TokenEngine};
use tokengate::users::{Password, PasswordHasher};
use tower::ServiceExt;

use common::issuer::{API, FakeIssuer, issuer_engine, key};

/// Counters and gauges kept in a registry, for the test to read.
struct TestRecorder(Registry<Key, AtomicStorage>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// The process's recorder, installed on first use.
fn recorder() -> &'static Arc<TestRecorder> {
    static RECORDER: OnceLock<Arc<TestRecorder>> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Arc::new(TestRecorder(Registry::atomic()));
        metrics::set_global_recorder(recorder.clone()).expect("the only recorder of the process");
        tokengate::metrics::describe();
        recorder
    })
}

/// The value of the series `name` with exactly these labels (0 if absent).
fn value(name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    let matches = |key: &Key| {
        let mut have: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        have.sort();
        key.name() == name && have == wanted
    };
    let registry = &recorder().0;
    let counters: f64 = registry
        .get_counter_handles()
        .into_iter()
        .filter(|(key, _)| matches(key))
        .map(|(_, c)| c.load(Ordering::SeqCst) as f64)
        .sum();
    let gauges: f64 = registry
        .get_gauge_handles()
        .into_iter()
        .filter(|(key, _)| matches(key))
        .map(|(_, g)| f64::from_bits(g.load(Ordering::SeqCst)))
        .sum();
    counters + gauges
}

fn verifications(result: &str) -> f64 {
    value(TOKEN_VERIFICATIONS, &[("result", result)])
}

// ---------------------------------------------------------------------------
// A fake issuer (`common::issuer`)

/// The count of `fake`'s JWKS fetches with this outcome.
fn fetches(fake: &FakeIssuer, outcome: &str) -> f64 {
    value(
        JWKS_FETCHES,
        &[("issuer", fake.url()), ("outcome", outcome)],
    )
}

fn trusting(fake: &FakeIssuer) -> TrustedIssuers {
    TrustedIssuers::new(vec![TrustedIssuer::new(fake.url(), [API])]).unwrap()
}

// ---------------------------------------------------------------------------
// Verifications

tokengate::required_scopes!(Admin = ["admin"]);

async fn call(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn each_extractor_answer_counts_once_by_result() {
    recorder();
    let fake = FakeIssuer::start().await;
    let external_key = key(Algorithm::ES256, "ext-1");
    fake.publish(&[&external_key]);
    let issuers = trusting(&fake);
    issuers.refresh_all().await.unwrap();
    let engine = TokenEngine::new(KeyRing::new(key(Algorithm::ES256, "fp-1")));
    let access = engine.issue(NewToken::access("alice")).unwrap().token;
    let refresh = engine.issue(NewToken::refresh("alice")).unwrap().token;
    let external = issuer_engine(external_key, fake.url(), API)
        .issue(NewToken::access("bob"))
        .unwrap()
        .token;
    let gate = TokenGate::new(engine).with_trusted_issuers(issuers);
    let app: Router = Router::new()
        .route("/access", get(|_: AccessToken| async {}))
        .route("/optional", get(|_: Option<AccessToken>| async {}))
        .route("/scoped", get(|_: Scoped<Admin>| async {}))
        .route(
            "/first-party",
            get(|_: IssuedBy<FirstParty, AccessToken>| async {}),
        )
        .route("/any", get(|_: AnyToken| async {}))
        .with_state(gate);

    let accepted = verifications("accepted");
    assert_eq!(call(&app, "/access", Some(&access)).await, StatusCode::OK);
    // Cached the second time, counted all the same.
    assert_eq!(call(&app, "/access", Some(&access)).await, StatusCode::OK);
    assert_eq!(call(&app, "/access", Some(&external)).await, StatusCode::OK);
    assert_eq!(verifications("accepted"), accepted + 3.0);

    // No token: refused by a plain extractor, nothing for an optional one.
    let missing = verifications("authorization_header_missing");
    assert_eq!(call(&app, "/access", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "/optional", None).await, StatusCode::OK);
    assert_eq!(verifications("authorization_header_missing"), missing + 1.0);
    assert_eq!(call(&app, "/optional", Some(&access)).await, StatusCode::OK);
    assert_eq!(verifications("accepted"), accepted + 4.0);

    let invalid = verifications("invalid_token");
    assert_eq!(
        call(&app, "/optional", Some("not.a.token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verifications("invalid_token"), invalid + 1.0);

    // A wrapping extractor's refusal counts once, and not as accepted too.
    let scope = verifications("insufficient_scope");
    assert_eq!(
        call(&app, "/scoped", Some(&access)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(verifications("insufficient_scope"), scope + 1.0);
    let claims = verifications("invalid_claims");
    assert_eq!(
        call(&app, "/first-party", Some(&external)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verifications("invalid_claims"), claims + 1.0);
    assert_eq!(
        call(&app, "/first-party", Some(&access)).await,
        StatusCode::OK
    );
    // AnyToken tries the access type first: one answer for a refresh token.
    let wrong_type = verifications("wrong_token_type");
    assert_eq!(call(&app, "/any", Some(&refresh)).await, StatusCode::OK);
    assert_eq!(verifications("wrong_token_type"), wrong_type);
    assert_eq!(verifications("accepted"), accepted + 6.0);
}

#[tokio::test]
async fn a_layer_counts_its_verification_and_the_extractors_behind_it_nothing() {
    recorder();
    let engine = TokenEngine::new(KeyRing::new(key(Algorithm::ES256, "layer-1")));
    let access = engine.issue(NewToken::access("alice")).unwrap().token;
    let gate = TokenGate::new(engine);
    let app: Router = Router::new()
        .route("/both", get(|_: AccessToken| async {}))
        .route("/scoped", get(|_: Scoped<Admin>| async {}))
        .route_layer(gate.require())
        .with_state(gate);
    let accepted = verifications("accepted");
    let missing = verifications("authorization_header_missing");
    assert_eq!(call(&app, "/both", Some(&access)).await, StatusCode::OK);
    assert_eq!(call(&app, "/both", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(verifications("accepted"), accepted + 1.0);
    assert_eq!(verifications("authorization_header_missing"), missing + 1.0);
    // The layer accepted the token; the extractor's own refusal is not a
    // second verification.
    let scope = verifications("insufficient_scope");
    assert_eq!(
        call(&app, "/scoped", Some(&access)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(verifications("accepted"), accepted + 2.0);
    assert_eq!(verifications("insufficient_scope"), scope);
}

#[tokio::test]
async fn a_reused_refresh_token_is_counted() {
    recorder();
    let gate = TokenGate::new(TokenEngine::new(KeyRing::new(key(
        Algorithm::ES256,
        "fp-1",
    ))));
    let login = gate.login("alice").await.unwrap();
    let spent = gate.engine().verify(&login.refresh.token).unwrap();
    let before = value(REFRESH_REUSE_DETECTED, &[]);
    gate.refresh("alice", &spent).await.unwrap();
    assert_eq!(value(REFRESH_REUSE_DETECTED, &[]), before);
    assert!(gate.refresh("alice", &spent).await.is_err());
    assert_eq!(value(REFRESH_REUSE_DETECTED, &[]), before + 1.0);
}

// ---------------------------------------------------------------------------
// JWKS fetches

#[tokio::test]
async fn jwks_fetches_count_by_issuer_and_outcome() {
    recorder();
    let fake = FakeIssuer::start().await;
    fake.publish(&[&key(Algorithm::ES256, "k1")]);
    let issuers = trusting(&fake);

    issuers.refresh_all().await.unwrap();
    assert_eq!(fetches(&fake, "ok"), 1.0);

    fake.set(|p| p.down = true);
    assert!(issuers.refresh_all().await.is_err());
    assert_eq!(fetches(&fake, "http_error"), 1.0);

    fake.set(|p| {
        p.down = false;
        p.raw_jwks = Some("not json".into());
    });
    assert!(issuers.refresh_all().await.is_err());
    fake.set(|p| p.raw_jwks = Some(r#"{"keys":[]}"#.into()));
    assert!(issuers.refresh_all().await.is_err());
    assert_eq!(fetches(&fake, "invalid"), 2.0);

    fake.set(|p| p.raw_jwks = None);
    issuers.refresh_all().await.unwrap();
    assert_eq!(fetches(&fake, "ok"), 2.0);

    // An issuer nobody listens for: its own series.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = TrustedIssuers::new(vec![TrustedIssuer::new(gone.as_str(), [API])]).unwrap();
    assert!(unreachable.refresh_all().await.is_err());
    let labels = |outcome| [("issuer", gone.as_str()), ("outcome", outcome)];
    assert_eq!(value(JWKS_FETCHES, &labels("unreachable")), 1.0);
    assert_eq!(value(JWKS_FETCHES, &labels("ok")), 0.0);
    assert_eq!(fetches(&fake, "unreachable"), 0.0);
}

// ---------------------------------------------------------------------------
// The password hashing pool

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hashing_gauges_show_the_queue_and_the_running_hash() {
    recorder();
    let hasher = PasswordHasher::new(1);
    let hashes: Vec<_> = (0..3)
        .map(|_| {
            let hasher = hasher.clone();
            let password = Password::for_login("correct horse battery".to_owned()).unwrap();
            tokio::spawn(async move { hasher.hash(&password).await.unwrap() })
        })
        .collect();
    // One thread: one hash runs, two wait (one at the thread's door, one
    // for a permit), for as long as the first hash takes.
    let mut seen = false;
    for _ in 0..5000 {
        let (queue, running) = (
            value(PASSWORD_HASHING_QUEUE, &[]),
            value(PASSWORD_HASHING_RUNNING, &[]),
        );
        // All three may be queued for a moment before the thread takes one.
        // The two gauges are read one after the other, so a hash that
        // starts in between shows in both (3 queued, 1 running): only each
        // bound on its own holds for two reads.
        assert!(running <= 1.0 && queue <= 3.0, "{queue} {running}");
        if queue == 2.0 && running == 1.0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(seen, "never saw two queued and one running");
    for hash in hashes {
        hash.await.unwrap();
    }
    assert_eq!(value(PASSWORD_HASHING_QUEUE, &[]), 0.0);
    assert_eq!(value(PASSWORD_HASHING_RUNNING, &[]), 0.0);
}
