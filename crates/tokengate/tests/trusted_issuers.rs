//! Trusted external issuers against fake OpenID providers of the test's own
//! (`common::issuer`): axum servers on 127.0.0.1 that serve a discovery
//! document and a JWKS from state the test changes (keys, advertised issuer,
//! Cache-Control, 503, redirects), and count the requests on each path.
//!
//! Tokens are signed by the test: with tokengate's [`TokenEngine`] where its
//! header will do, by hand (`compact`) where the header must be something
//! the engine never writes (`typ: at+jwt`, `jku`, `alg: none`, another kid).

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::routing::get;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tokengate::Error;
use tokengate::axum::{AccessToken, FirstParty, IssuedBy, Scoped, TokenGate};
use tokengate::issuers::{IssuerError, ScopesClaim, TrustedIssuer, TrustedIssuers};
use tokengate::keys::{Algorithm, Kid, SigningKey};
use tokengate::token::{NewToken, Origin, TokenEngine, VerifiedToken};
use tokio::task::JoinSet;
use tower::ServiceExt;

use common::app::AppState;
use common::issuer::{API, DISCOVERY, FakeIssuer, JWKS, MOVED_DISCOVERY, issuer_engine, jwk, key};
use common::jwt::{b64, b64_json, compact, unb64};

// ---------------------------------------------------------------------------
// Tokens

/// The header the engine would write for `key`.
fn header_of(key: &SigningKey) -> Value {
    json!({"alg": key.algorithm().as_str(), "typ": "JWT", "kid": key.kid().as_str()})
}

/// A typical access token of an external issuer: no `jti`, no `type`.
fn external_claims(iss: &str, aud: &str) -> Value {
    let now = tokengate::clock::now().as_secs();
    json!({
        "iss": iss,
        "aud": aud,
        "sub": "ext-user",
        "iat": now,
        "exp": now + 600,
        "scope": "read:messages",
    })
}

/// A token of `iss` signed with `key` under any `kid`.
fn token_with_kid(key: &SigningKey, kid: &str, iss: &str) -> String {
    let header = json!({"alg": key.algorithm().as_str(), "typ": "JWT", "kid": kid});
    compact(key, &header, &external_claims(iss, API))
}

/// The code of a refusal (the test fails if the token was accepted).
fn refused(result: Result<VerifiedToken, Error>) -> &'static str {
    match result {
        Ok(token) => panic!("accepted: {:?}", token.claims),
        Err(e) => e.code(),
    }
}

fn trusted(config: TrustedIssuer) -> TrustedIssuers {
    TrustedIssuers::new(vec![config]).unwrap()
}

// ---------------------------------------------------------------------------
// 1. Discovery, JWKS, accepted tokens and where their claims come from

#[tokio::test]
async fn discovered_keys_verify_rs256_and_es256_tokens() {
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let fake = FakeIssuer::start().await;
        let signer = key(alg, &format!("{alg}-1"));
        fake.publish(&[&signer]);
        fake.set(|p| p.cache_control = Some("public, max-age=300".into()));
        let engine = issuer_engine(signer, fake.url(), API);

        let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
        assert!(issuers.trusts(fake.url()));
        assert!(
            !issuers.trusts(&format!("{}/", fake.url())),
            "iss is matched exactly"
        );
        issuers.start();
        fake.wait_for_jwks_hits(1).await;
        assert_eq!(fake.discovery_hits(), 1);

        let token = engine
            .issue(NewToken::access("alice").scope("read:messages write:messages"))
            .unwrap()
            .token;
        let verified = issuers.verify(&token).await.unwrap();
        assert_eq!(verified.origin, Origin::Trusted(fake.url().into()));
        assert_eq!(verified.origin.issuer(), Some(fake.url()));
        assert_eq!(verified.subject(), "alice");
        assert_eq!(verified.header.alg, alg);
        assert_eq!(verified.claims.scopes, ["read:messages", "write:messages"]);
        assert!(verified.claims.roles.is_empty());

        // A typical external token: no jti, no type, no nbf.
        let external = compact(
            engine.keys().signing_key().unwrap(),
            &header_of(engine.keys().signing_key().unwrap()),
            &external_claims(fake.url(), API),
        );
        let verified = issuers.verify(&external).await.unwrap();
        assert_eq!(verified.subject(), "ext-user");
        assert_eq!(verified.claims.scopes, ["read:messages"]);

        // Verifying fetches nothing: the keys are cached.
        assert_eq!((fake.discovery_hits(), fake.jwks_hits()), (1, 1));

        // Its `iss` with a trailing slash is another issuer, not trusted.
        let mut slash = external_claims(&format!("{}/", fake.url()), API);
        slash["sub"] = json!("mallory");
        let slashed = compact(
            engine.keys().signing_key().unwrap(),
            &header_of(engine.keys().signing_key().unwrap()),
            &slash,
        );
        assert_eq!(refused(issuers.verify(&slashed).await), "invalid_claims");
    }
}

#[tokio::test]
async fn the_first_token_loads_the_keys_when_none_are_held() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let engine = issuer_engine(signer, fake.url(), API);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    assert_eq!(fake.total_hits(), 0, "new() fetches nothing");

    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    let verified = issuers.verify(&token).await.unwrap();
    assert_eq!(verified.origin, Origin::Trusted(fake.url().into()));
    assert_eq!((fake.discovery_hits(), fake.jwks_hits()), (1, 1));
}

#[tokio::test]
async fn scopes_and_roles_come_from_the_configured_claims() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::RS256, "rsa-1");
    fake.publish(&[&signer]);
    let keycloak_like = trusted(
        TrustedIssuer::new(fake.url(), [API])
            .scopes_claim(ScopesClaim::Permissions)
            .roles_claim("realm_access.roles"),
    );
    keycloak_like.refresh_all().await.unwrap();
    let azure_like = trusted(TrustedIssuer::new(fake.url(), [API]).scopes_claim(ScopesClaim::Scp));
    azure_like.refresh_all().await.unwrap();

    let mut claims = external_claims(fake.url(), API);
    claims["scope"] = json!("openid profile");
    claims["permissions"] = json!(["read:orders", "write:orders"]);
    claims["scp"] = json!("a b");
    claims["realm_access"] = json!({"roles": ["admin", "auditor"]});
    let token = compact(&signer, &header_of(&signer), &claims);

    let verified = keycloak_like.verify(&token).await.unwrap();
    assert_eq!(verified.claims.scopes, ["read:orders", "write:orders"]);
    assert_eq!(verified.claims.roles, ["admin", "auditor"]);
    let verified = azure_like.verify(&token).await.unwrap();
    assert_eq!(verified.claims.scopes, ["a", "b"]);
    assert!(verified.claims.roles.is_empty());

    // Without the claims: no scopes, no roles (not the `scope` claim's).
    let mut bare = external_claims(fake.url(), API);
    bare["scope"] = json!("openid profile");
    let token = compact(&signer, &header_of(&signer), &bare);
    let verified = keycloak_like.verify(&token).await.unwrap();
    assert!(verified.claims.scopes.is_empty() && verified.claims.roles.is_empty());

    // Malformed claims are refused, not ignored.
    let mut bad = external_claims(fake.url(), API);
    bad["permissions"] = json!([1, 2]);
    let token = compact(&signer, &header_of(&signer), &bad);
    assert_eq!(
        refused(keycloak_like.verify(&token).await),
        "invalid_claims"
    );
    let mut bad = external_claims(fake.url(), API);
    bad["realm_access"] = json!({"roles": {"admin": true}});
    let token = compact(&signer, &header_of(&signer), &bad);
    assert_eq!(
        refused(keycloak_like.verify(&token).await),
        "invalid_claims"
    );
}

// ---------------------------------------------------------------------------
// 2. Key rotation at the issuer

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_a_removed_one_is_dropped() {
    let fake = FakeIssuer::start().await;
    let (k1, k2) = (key(Algorithm::RS256, "k1"), key(Algorithm::RS256, "k2"));
    fake.publish(&[&k1]);
    let (old, new) = (
        issuer_engine(k1, fake.url(), API),
        issuer_engine(k2, fake.url(), API),
    );
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();
    assert_eq!((fake.discovery_hits(), fake.jwks_hits()), (1, 1));
    let old_token = old.issue(NewToken::access("old")).unwrap().token;
    let new_token = new.issue(NewToken::access("new")).unwrap().token;
    issuers.verify(&old_token).await.unwrap();

    // The issuer adds k2 and signs with it: the first k2 token refetches once.
    fake.publish(&[
        old.keys().signing_key().unwrap(),
        new.keys().signing_key().unwrap(),
    ]);
    assert_eq!(issuers.verify(&new_token).await.unwrap().subject(), "new");
    assert_eq!((fake.discovery_hits(), fake.jwks_hits()), (1, 2));
    // k1 is still published, so still held.
    assert_eq!(issuers.verify(&old_token).await.unwrap().subject(), "old");
    issuers.verify(&new_token).await.unwrap();
    assert_eq!(fake.jwks_hits(), 2);

    // The issuer drops k1. Until the next fetch the held keys still have it...
    fake.publish(&[new.keys().signing_key().unwrap()]);
    issuers.verify(&old_token).await.unwrap();
    assert_eq!(fake.jwks_hits(), 2);
    // ...after it, only the latest JWKS's keys are held: k1 is refused, and
    // asking for it again fetches nothing (the cooldown of the k2 refetch).
    issuers.refresh_all().await.unwrap();
    assert_eq!(fake.jwks_hits(), 3);
    assert_eq!(refused(issuers.verify(&old_token).await), "invalid_token");
    assert_eq!(refused(issuers.verify(&old_token).await), "invalid_token");
    assert_eq!(fake.jwks_hits(), 3);
    assert_eq!(issuers.verify(&new_token).await.unwrap().subject(), "new");
    // Discovery was read once: the JWKS URI is remembered.
    assert_eq!(fake.discovery_hits(), 1);
}

// ---------------------------------------------------------------------------
// 3. The issuer goes down

#[tokio::test]
async fn held_keys_keep_working_while_the_issuer_is_down() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let engine = issuer_engine(signer, fake.url(), API);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();
    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    issuers.verify(&token).await.unwrap();

    fake.set(|p| p.down = true);
    let before = fake.jwks_hits();
    match issuers.refresh_all().await {
        Err(IssuerError::Http { url, reason }) => {
            assert_eq!(url, format!("{}{JWKS}", fake.url()));
            assert!(reason.contains("503"), "{reason}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(fake.jwks_hits(), before + 1, "the refresh did ask");
    assert_eq!(issuers.verify(&token).await.unwrap().subject(), "alice");
    // An unknown kid while it is down: refused, and the keys stay.
    let stranger = key(Algorithm::ES256, "es-unknown");
    let unknown = token_with_kid(&stranger, "es-unknown", fake.url());
    assert_eq!(refused(issuers.verify(&unknown).await), "invalid_token");
    assert_eq!(issuers.verify(&token).await.unwrap().subject(), "alice");

    // Back up: refreshing works again.
    fake.set(|p| p.down = false);
    issuers.refresh_all().await.unwrap();
    issuers.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_silent_issuer_times_out_and_the_keys_stay() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let engine = issuer_engine(signer, fake.url(), API);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();

    fake.set(|p| p.silent = true);
    // The client's own timeout ends the request; 30 s is only a backstop.
    let result = tokio::time::timeout(Duration::from_secs(30), issuers.refresh_all())
        .await
        .expect("the refresh must end by itself");
    match result {
        Err(IssuerError::Http { reason, .. }) => assert_eq!(reason, "timed out"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    issuers.verify(&token).await.unwrap();
}

// ---------------------------------------------------------------------------
// 4. Unknown key ids: one fetch at a time, at most once per cooldown

async fn flood(issuers: &TrustedIssuers, tokens: Vec<String>) {
    let mut tasks = JoinSet::new();
    for token in tokens {
        let issuers = issuers.clone();
        tasks.spawn(async move { issuers.verify(&token).await });
    }
    let mut n = 0;
    while let Some(result) = tasks.join_next().await {
        assert_eq!(refused(result.unwrap()), "invalid_token");
        n += 1;
    }
    assert_eq!(n, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_flood_fetches_the_jwks_once() {
    let fake = FakeIssuer::start().await;
    let published = key(Algorithm::ES256, "es-1");
    fake.publish(&[&published]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();
    assert_eq!(fake.jwks_hits(), 1);

    let attacker = key(Algorithm::ES256, "attacker");
    let tokens = |wave: &str| {
        (0..1000)
            .map(|i| token_with_kid(&attacker, &format!("{wave}-{i}"), fake.url()))
            .collect::<Vec<_>>()
    };
    // The initial load started no cooldown: the first unknown kids fetch,
    // once for the thousand.
    flood(&issuers, tokens("first")).await;
    assert_eq!(fake.jwks_hits(), 2);
    // Right after: within the cooldown, nothing more.
    flood(&issuers, tokens("second")).await;
    assert_eq!(fake.jwks_hits(), 2);
    assert_eq!(fake.discovery_hits(), 1);

    // With a short cooldown, once it has passed, one more fetch. (Only the
    // 60 s cooldown above is checked from within: a 200 ms one could pass
    // during a slow step of a loaded machine.)
    let quick = trusted(
        TrustedIssuer::new(fake.url(), [API]).unknown_kid_cooldown(Duration::from_millis(200)),
    );
    quick.refresh_all().await.unwrap();
    assert_eq!(fake.jwks_hits(), 3);
    let one = token_with_kid(&attacker, "third", fake.url());
    assert_eq!(refused(quick.verify(&one).await), "invalid_token");
    assert_eq!(fake.jwks_hits(), 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let one = token_with_kid(&attacker, "fourth", fake.url());
    assert_eq!(refused(quick.verify(&one).await), "invalid_token");
    assert_eq!(fake.jwks_hits(), 5, "the cooldown has passed");
    assert_eq!(fake.discovery_hits(), 2, "one per TrustedIssuers");
}

// ---------------------------------------------------------------------------
// 5. Discovery must name the configured issuer

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let engine = issuer_engine(signer, fake.url(), API);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    let token = engine.issue(NewToken::access("alice")).unwrap().token;

    for advertised in [
        format!("{}/", fake.url()),
        "https://evil.example".to_owned(),
        fake.url().to_uppercase(),
    ] {
        fake.set(|p| p.issuer = Some(advertised.clone()));
        match issuers.refresh_all().await {
            Err(IssuerError::Discovery { issuer, .. }) => assert_eq!(issuer, fake.url()),
            other => panic!("{advertised}: expected a discovery error, got {other:?}"),
        }
        assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
    }
    assert_eq!(
        fake.jwks_hits(),
        0,
        "the JWKS of a wrong discovery is never read"
    );

    // The right document: the same token is accepted.
    fake.set(|p| p.issuer = None);
    issuers.refresh_all().await.unwrap();
    issuers.verify(&token).await.unwrap();
}

// ---------------------------------------------------------------------------
// 6. A token is checked with its own issuer's keys only

#[tokio::test]
async fn a_token_is_checked_only_with_the_keys_of_its_iss() {
    let (a, b) = (FakeIssuer::start().await, FakeIssuer::start().await);
    let a_key = key(Algorithm::RS256, "a-1");
    a.publish(&[&a_key]);
    b.publish(&[&key(Algorithm::RS256, "b-1")]);
    let issuers = TrustedIssuers::new(vec![
        TrustedIssuer::new(a.url(), [API]),
        TrustedIssuer::new(b.url(), [API]),
    ])
    .unwrap();
    issuers.refresh_all().await.unwrap();
    let a_hits = (a.discovery_hits(), a.jwks_hits());
    assert_eq!(a_hits, (1, 1));

    // Signed with A's key, under A's kid, claiming B.
    let forged = token_with_kid(&a_key, "a-1", b.url());
    assert_eq!(refused(issuers.verify(&forged).await), "invalid_token");
    assert_eq!(
        (a.discovery_hits(), a.jwks_hits()),
        a_hits,
        "A was not asked"
    );
    // The same token claiming A is fine.
    let genuine = token_with_kid(&a_key, "a-1", a.url());
    assert_eq!(
        issuers.verify(&genuine).await.unwrap().origin,
        Origin::Trusted(a.url().into())
    );

    // B also publishes a key under the kid "shared", and so does A: a token
    // of A's "shared" key claiming B is checked with B's "shared" key.
    let a_shared = key(Algorithm::RS256, "shared");
    a.publish(&[&a_key, &a_shared]);
    b.publish(&[&key(Algorithm::RS256, "shared")]);
    issuers.refresh_all().await.unwrap();
    let (a_hits, b_hits) = (a.total_hits(), b.total_hits());
    let forged = token_with_kid(&a_shared, "shared", b.url());
    assert_eq!(refused(issuers.verify(&forged).await), "invalid_token");
    assert_eq!((a.total_hits(), b.total_hits()), (a_hits, b_hits));
    let genuine = token_with_kid(&a_shared, "shared", a.url());
    issuers.verify(&genuine).await.unwrap();
}

// ---------------------------------------------------------------------------
// 7. Attacks

#[tokio::test]
async fn hmac_with_the_public_key_as_secret_is_refused() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::RS256, "rsa-1");
    fake.publish(&[&signer]);
    let published = jwk(&signer);
    let default = trusted(TrustedIssuer::new(fake.url(), [API]));
    default.refresh_all().await.unwrap();
    // Even an issuer (mis)configured to allow HS256 has no HMAC key to use.
    let lax = trusted(
        TrustedIssuer::new(fake.url(), [API]).algorithms([Algorithm::RS256, Algorithm::HS256]),
    );
    lax.refresh_all().await.unwrap();
    let hits = fake.jwks_hits();

    let n = unb64(published["n"].as_str().unwrap()).unwrap();
    let secrets: [Vec<u8>; 3] = [
        published.to_string().into_bytes(),
        serde_json::to_vec(&json!({"keys": [published.clone()]})).unwrap(),
        n,
    ];
    for secret in secrets {
        let hmac = SigningKey::from_secret(Algorithm::HS256, &secret).unwrap();
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"});
        let token = compact(&hmac, &header, &external_claims(fake.url(), API));
        assert_eq!(refused(default.verify(&token).await), "invalid_token");
        assert_eq!(refused(lax.verify(&token).await), "invalid_token");
    }
    // The default refuses HS256 before looking for a key; the lax issuer
    // looked for an HS256 key "rsa-1" once (then the cooldown).
    assert_eq!(fake.jwks_hits(), hits + 1);
    let genuine = compact(
        &signer,
        &header_of(&signer),
        &external_claims(fake.url(), API),
    );
    default.verify(&genuine).await.unwrap();
    lax.verify(&genuine).await.unwrap();
}

#[tokio::test]
async fn hs256_refusal_comes_before_any_fetch() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::RS256, "rsa-1");
    fake.publish(&[&signer]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();
    let hmac = SigningKey::from_secret(Algorithm::HS256, &[7u8; 32]).unwrap();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "never-seen"});
    let token = compact(&hmac, &header, &external_claims(fake.url(), API));
    assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
    assert_eq!(fake.jwks_hits(), 1, "an HS256 token caused no refetch");
}

#[tokio::test]
async fn alg_none_and_token_named_keys_are_refused_without_a_request() {
    let fake = FakeIssuer::start().await;
    let attacker_site = FakeIssuer::start().await;
    let signer = key(Algorithm::RS256, "rsa-1");
    fake.publish(&[&signer]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();

    let claims = external_claims(fake.url(), API);
    let body = b64_json(&claims);
    for alg in ["none", "None", "NONE"] {
        let header = b64_json(&json!({"alg": alg, "kid": "rsa-1"}));
        for signature in ["", "AAAA"] {
            let token = format!("{header}.{body}.{signature}");
            assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
        }
    }

    // The attacker's key, offered by the token itself in every way a JWS allows.
    let attacker = key(Algorithm::RS256, "attacker");
    attacker_site.publish(&[&attacker]);
    let jku = format!("{}{JWKS}", attacker_site.url());
    let headers = [
        json!({"alg": "RS256", "kid": "attacker", "jku": jku}),
        json!({"alg": "RS256", "kid": "rsa-1", "jku": jku}),
        json!({"alg": "RS256", "kid": "attacker", "x5u": format!("{}/cert.pem", attacker_site.url())}),
        json!({"alg": "RS256", "kid": "attacker", "jwk": jwk(&attacker)}),
    ];
    for header in headers {
        let token = compact(&attacker, &header, &claims);
        assert_eq!(
            refused(issuers.verify(&token).await),
            "invalid_token",
            "{header}"
        );
    }
    assert_eq!(
        attacker_site.total_hits(),
        0,
        "the token's URLs were never fetched"
    );
    assert_eq!(fake.jwks_hits(), 1, "nor did they cause a refetch");
}

#[tokio::test]
async fn claims_and_typ_are_checked() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));
    issuers.refresh_all().await.unwrap();
    let sign = |claims: &Value| compact(&signer, &header_of(&signer), claims);

    // Another audience of the same issuer.
    let mut claims = external_claims(fake.url(), API);
    claims["aud"] = json!("https://other.test");
    assert_eq!(
        refused(issuers.verify(&sign(&claims)).await),
        "invalid_claims"
    );
    claims["aud"] = json!(["https://other.test", API]);
    issuers.verify(&sign(&claims)).await.unwrap();
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        refused(issuers.verify(&sign(&claims)).await),
        "invalid_claims"
    );

    // No `iss`: nothing to route by.
    let mut claims = external_claims(fake.url(), API);
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        refused(issuers.verify(&sign(&claims)).await),
        "invalid_claims"
    );

    // Expired, and the leeway.
    let mut claims = external_claims(fake.url(), API);
    claims["exp"] = json!(tokengate::clock::now().as_secs() - 30);
    assert_eq!(
        refused(issuers.verify(&sign(&claims)).await),
        "token_expired"
    );
    let lenient = trusted(TrustedIssuer::new(fake.url(), [API]).leeway(120));
    lenient.refresh_all().await.unwrap();
    lenient.verify(&sign(&claims)).await.unwrap();
    let valid = sign(&external_claims(fake.url(), API));
    assert_eq!(
        refused(
            issuers
                .verify_at(&valid, tokengate::clock::now().as_secs() + 3600)
                .await
        ),
        "token_expired"
    );
    // Not yet valid.
    let mut claims = external_claims(fake.url(), API);
    claims["nbf"] = json!(tokengate::clock::now().as_secs() + 300);
    assert_eq!(
        refused(issuers.verify(&sign(&claims)).await),
        "invalid_token"
    );

    // A tampered payload fails the signature.
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut claims = external_claims(fake.url(), API);
    claims["scope"] = json!("admin");
    parts[1] = b64_json(&claims);
    assert_eq!(
        refused(issuers.verify(&parts.join(".")).await),
        "invalid_token"
    );

    // An issuer restricted to RS256 refuses ES256.
    let rs_only = trusted(TrustedIssuer::new(fake.url(), [API]).algorithms([Algorithm::RS256]));
    assert!(matches!(
        rs_only.refresh_all().await,
        Err(IssuerError::Jwks { .. })
    ));
    assert_eq!(refused(rs_only.verify(&valid).await), "invalid_token");
}

#[tokio::test]
async fn required_typ_is_enforced() {
    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::RS256, "rsa-1");
    fake.publish(&[&signer]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]).required_typ("at+jwt"));
    issuers.refresh_all().await.unwrap();
    let claims = external_claims(fake.url(), API);
    let with_typ = |typ: Option<&str>| {
        let mut header = json!({"alg": "RS256", "kid": "rsa-1"});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        compact(&signer, &header, &claims)
    };
    for typ in [Some("JWT"), None, Some("at+jwt+x")] {
        assert_eq!(
            refused(issuers.verify(&with_typ(typ)).await),
            "invalid_token",
            "{typ:?}"
        );
    }
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        issuers.verify(&with_typ(Some(typ))).await.unwrap();
    }
    // The engine writes typ JWT.
    let engine = issuer_engine(signer, fake.url(), API);
    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
}

// ---------------------------------------------------------------------------
// 8. JWKS hygiene

#[tokio::test]
async fn encryption_keys_are_not_used_and_a_bad_jwks_keeps_the_old_keys() {
    let fake = FakeIssuer::start().await;
    let good = key(Algorithm::ES256, "sig-1");
    let verify_only = key(Algorithm::ES256, "ops-verify");
    let enc = key(Algorithm::ES256, "enc-1");
    let ops = key(Algorithm::ES256, "ops-encrypt");
    let mut enc_jwk = jwk(&enc);
    enc_jwk["use"] = json!("enc");
    let mut ops_jwk = jwk(&ops);
    ops_jwk.as_object_mut().unwrap().remove("use");
    ops_jwk["key_ops"] = json!(["encrypt"]);
    let mut verify_jwk = jwk(&verify_only);
    verify_jwk.as_object_mut().unwrap().remove("use");
    verify_jwk["key_ops"] = json!(["verify"]);
    let secret = [9u8; 32];
    let oct = json!({"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": b64(&secret)});
    fake.set(|p| p.keys = vec![jwk(&good), enc_jwk, ops_jwk, verify_jwk, oct]);

    let issuers = trusted(
        TrustedIssuer::new(fake.url(), [API]).algorithms([Algorithm::ES256, Algorithm::HS256]),
    );
    issuers.refresh_all().await.unwrap();
    let token = |signer: &SigningKey| token_with_kid(signer, signer.kid().as_str(), fake.url());
    issuers.verify(&token(&good)).await.unwrap();
    issuers.verify(&token(&verify_only)).await.unwrap();
    assert_eq!(refused(issuers.verify(&token(&enc)).await), "invalid_token");
    assert_eq!(refused(issuers.verify(&token(&ops)).await), "invalid_token");
    let hmac = SigningKey::from_secret(Algorithm::HS256, &secret)
        .unwrap()
        .with_kid(Kid::new("hmac-1"));
    assert_eq!(
        refused(issuers.verify(&token(&hmac)).await),
        "invalid_token"
    );

    // Two keys under one kid: the whole set is refused, the old keys stay.
    let twin = key(Algorithm::ES256, "sig-1");
    let newcomer = key(Algorithm::ES256, "sig-2");
    fake.publish(&[&good, &twin, &newcomer]);
    match issuers.refresh_all().await {
        Err(IssuerError::Jwks { reason, .. }) => assert!(reason.contains("twice"), "{reason}"),
        other => panic!("expected a JWKS error, got {other:?}"),
    }
    issuers.verify(&token(&good)).await.unwrap();
    issuers.verify(&token(&verify_only)).await.unwrap();
    assert_eq!(
        refused(issuers.verify(&token(&twin)).await),
        "invalid_token"
    );
    assert_eq!(
        refused(issuers.verify(&token(&newcomer)).await),
        "invalid_token"
    );

    // A set with no usable key, one that is not JSON, one over 256 KiB:
    // each refused, the old keys stay.
    let mut only_enc = jwk(&newcomer);
    only_enc["use"] = json!("enc");
    fake.set(|p| p.keys = vec![only_enc]);
    assert!(matches!(
        issuers.refresh_all().await,
        Err(IssuerError::Jwks { .. })
    ));
    fake.set(|p| p.raw_jwks = Some("<html>maintenance</html>".into()));
    assert!(matches!(
        issuers.refresh_all().await,
        Err(IssuerError::Jwks { .. })
    ));
    let padding = "x".repeat(300 * 1024);
    let huge = json!({"keys": [jwk(&newcomer)], "padding": padding}).to_string();
    fake.set(|p| p.raw_jwks = Some(huge));
    match issuers.refresh_all().await {
        Err(IssuerError::Http { reason, .. }) => assert!(reason.contains("larger"), "{reason}"),
        other => panic!("expected a size error, got {other:?}"),
    }
    issuers.verify(&token(&good)).await.unwrap();
    assert_eq!(
        refused(issuers.verify(&token(&newcomer)).await),
        "invalid_token"
    );

    // A just-under-the-limit set is read.
    let padding = "x".repeat(200 * 1024);
    let large = json!({"keys": [jwk(&newcomer)], "padding": padding}).to_string();
    fake.set(|p| p.raw_jwks = Some(large));
    issuers.refresh_all().await.unwrap();
    issuers.verify(&token(&newcomer)).await.unwrap();
    assert_eq!(
        refused(issuers.verify(&token(&good)).await),
        "invalid_token"
    );
}

// ---------------------------------------------------------------------------
// 9. The gate: first-party and trusted tokens on axum routes

tokengate::required_scopes!(ReadMessages = ["read:messages"]);
tokengate::trusted_issuer!(
    /// The partner whose JWKS URI is configured (no discovery).
    Partner = "https://partner.tokengate.test"
);
const PARTNER: &str = "https://partner.tokengate.test";
const FIRST: &str = "https://auth.first.test";

fn who(token: &VerifiedToken) -> String {
    format!(
        "{} from {}",
        token.subject(),
        token.origin.issuer().unwrap_or("first party")
    )
}

async fn call(app: &Router, path: &str, token: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    if status.is_success() {
        (status, body)
    } else {
        let code = serde_json::from_str::<Value>(&body).unwrap()["code"]
            .as_str()
            .unwrap()
            .to_owned();
        (status, code)
    }
}

#[tokio::test]
async fn the_gate_routes_tokens_by_issuer() {
    let partner = FakeIssuer::start().await;
    let other = FakeIssuer::start().await;
    let partner_key = key(Algorithm::RS256, "p-1");
    partner.publish(&[&partner_key]);
    let other_key = key(Algorithm::ES256, "o-1");
    other.publish(&[&other_key]);
    let issuers = TrustedIssuers::new(vec![
        TrustedIssuer::new(PARTNER, [API]).jwks_uri(format!("{}{JWKS}", partner.url())),
        TrustedIssuer::new(other.url(), [API]).scopes_claim(ScopesClaim::Permissions),
    ])
    .unwrap();
    issuers.refresh_all().await.unwrap();
    assert_eq!(
        partner.discovery_hits(),
        0,
        "the configured JWKS URI is used as is"
    );

    let first_party = issuer_engine(key(Algorithm::ES256, "fp-1"), FIRST, API);
    let gate = TokenGate::new(first_party.clone()).with_trusted_issuers(issuers);
    assert!(gate.trusted_issuers().is_some());
    let app = Router::new()
        .route("/any", get(|t: AccessToken| async move { who(&t.token) }))
        .route(
            "/scoped",
            get(|t: Scoped<ReadMessages>| async move { who(&t.token) }),
        )
        .route(
            "/first",
            get(|t: IssuedBy<FirstParty, AccessToken>| async move { who(&t.token) }),
        )
        .route(
            "/partner",
            get(|t: IssuedBy<Partner, AccessToken>| async move { who(&t.token) }),
        )
        .route(
            "/partner-scoped",
            get(|t: IssuedBy<Partner, Scoped<ReadMessages>>| async move { who(&t.token) }),
        )
        .with_state(AppState { gate });
    let ok = |body: &str| (StatusCode::OK, body.to_owned());
    let unauthorized = |code: &str| (StatusCode::UNAUTHORIZED, code.to_owned());
    let forbidden = (StatusCode::FORBIDDEN, "insufficient_scope".to_owned());

    // First party, with and without the scope.
    let mine = first_party
        .issue(NewToken::access("alice").scope("read:messages"))
        .unwrap()
        .token;
    let mine_unscoped = first_party.issue(NewToken::access("alice")).unwrap().token;
    assert_eq!(
        call(&app, "/any", &mine).await,
        ok("alice from first party")
    );
    assert_eq!(
        call(&app, "/scoped", &mine).await,
        ok("alice from first party")
    );
    assert_eq!(call(&app, "/scoped", &mine_unscoped).await, forbidden);
    assert_eq!(
        call(&app, "/first", &mine).await,
        ok("alice from first party")
    );
    assert_eq!(
        call(&app, "/partner", &mine).await,
        unauthorized("invalid_claims")
    );

    // The partner's tokens: a typical external one (no jti, no type).
    let partner_token = |scope: &str| {
        let mut claims = external_claims(PARTNER, API);
        claims["sub"] = json!("bob");
        claims["scope"] = json!(scope);
        compact(&partner_key, &header_of(&partner_key), &claims)
    };
    let theirs = partner_token("read:messages");
    let theirs_unscoped = partner_token("profile");
    let from_partner = format!("bob from {PARTNER}");
    assert_eq!(call(&app, "/any", &theirs).await, ok(&from_partner));
    assert_eq!(call(&app, "/scoped", &theirs).await, ok(&from_partner));
    assert_eq!(call(&app, "/scoped", &theirs_unscoped).await, forbidden);
    assert_eq!(
        call(&app, "/first", &theirs).await,
        unauthorized("invalid_claims")
    );
    assert_eq!(call(&app, "/partner", &theirs).await, ok(&from_partner));
    assert_eq!(
        call(&app, "/partner-scoped", &theirs).await,
        ok(&from_partner)
    );
    assert_eq!(
        call(&app, "/partner-scoped", &theirs_unscoped).await,
        forbidden
    );

    // The other issuer's token: scopes from `permissions`; not the partner.
    let mut claims = external_claims(other.url(), API);
    claims["sub"] = json!("carol");
    claims["scope"] = json!("read:messages");
    claims["permissions"] = json!([]);
    let no_permission = compact(&other_key, &header_of(&other_key), &claims);
    claims["permissions"] = json!(["read:messages"]);
    let permitted = compact(&other_key, &header_of(&other_key), &claims);
    let from_other = format!("carol from {}", other.url());
    assert_eq!(call(&app, "/any", &permitted).await, ok(&from_other));
    assert_eq!(call(&app, "/scoped", &permitted).await, ok(&from_other));
    assert_eq!(call(&app, "/scoped", &no_permission).await, forbidden);
    assert_eq!(
        call(&app, "/partner", &permitted).await,
        unauthorized("invalid_claims")
    );
    assert_eq!(
        call(&app, "/first", &permitted).await,
        unauthorized("invalid_claims")
    );

    // Forgeries: the partner's key claiming the first party, the first
    // party's key claiming the partner, an untrusted issuer.
    let partner_hits = partner.total_hits();
    let mut claims = external_claims(FIRST, API);
    claims["sub"] = json!("mallory");
    let as_first = compact(&partner_key, &header_of(&partner_key), &claims);
    assert_eq!(
        call(&app, "/any", &as_first).await,
        unauthorized("invalid_token")
    );
    assert_eq!(
        call(&app, "/first", &as_first).await,
        unauthorized("invalid_token")
    );
    assert_eq!(
        partner.total_hits(),
        partner_hits,
        "the partner's keys were not asked"
    );
    let fp_key = first_party.keys().signing_key().unwrap();
    let as_partner = compact(fp_key, &header_of(fp_key), &external_claims(PARTNER, API));
    assert_eq!(
        call(&app, "/partner", &as_partner).await,
        unauthorized("invalid_token")
    );
    assert_eq!(
        call(&app, "/any", &as_partner).await,
        unauthorized("invalid_token")
    );
    let stranger = compact(
        &partner_key,
        &header_of(&partner_key),
        &external_claims("https://stranger.test", API),
    );
    // Not trusted: the first party's engine has no key for it.
    assert_eq!(
        call(&app, "/any", &stranger).await,
        unauthorized("invalid_token")
    );
    assert_eq!(
        call(&app, "/partner", &stranger).await,
        unauthorized("invalid_token")
    );
}

/// A gate whose first party is `FIRST` (with `first_leeway`) and which
/// trusts `fake` (with `leeway`), and an engine issuing the fake's tokens.
async fn gate_trusting(
    fake: &FakeIssuer,
    first_leeway: u64,
    leeway: u64,
) -> (TokenGate, TokenEngine) {
    let signer = key(Algorithm::ES256, "ext-1");
    fake.publish(&[&signer]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]).leeway(leeway));
    issuers.refresh_all().await.unwrap();
    let first_party = issuer_engine(key(Algorithm::ES256, "fp-1"), FIRST, API);
    let validation = first_party.validation().clone().leeway(first_leeway);
    let gate =
        TokenGate::new(first_party.with_validation(validation)).with_trusted_issuers(issuers);
    (gate, issuer_engine(signer, fake.url(), API))
}

#[tokio::test]
async fn external_tokens_are_never_refresh_tokens() {
    let fake = FakeIssuer::start().await;
    let (gate, external) = gate_trusting(&fake, 0, 0).await;
    let app = Router::new()
        .route(
            "/first",
            get(|t: IssuedBy<FirstParty, AccessToken>| async move { who(&t.token) }),
        )
        .route(
            "/refresh",
            get(
                |State(state): State<AppState>, t: tokengate::axum::RefreshToken| async move {
                    // What a refresh endpoint does: a new pair for the token's subject.
                    let pair = state
                        .gate
                        .refresh(&t.subject().to_owned(), &t.token)
                        .await
                        .unwrap();
                    pair.access.token
                },
            ),
        )
        .with_state(AppState { gate });

    // The external issuer's token says "refresh" (any issuer may put any claim).
    let refresh = external.issue(NewToken::refresh("42")).unwrap().token;
    let (status, body) = call(&app, "/refresh", &refresh).await;
    if status == StatusCode::OK {
        // It became a first-party login of user 42.
        let (first_status, first_body) = call(&app, "/first", &body).await;
        panic!(
            "an external refresh token was accepted; its first-party access token \
             gets {first_status} {first_body:?} from a FirstParty route"
        );
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn external_tokens_are_never_fresh() {
    let fake = FakeIssuer::start().await;
    let (gate, external) = gate_trusting(&fake, 0, 0).await;
    let app = Router::new()
        .route(
            "/fresh",
            get(|t: tokengate::axum::FreshAccessToken| async move { who(&t.token) }),
        )
        .with_state(AppState { gate });
    // Freshness means a password login here, which an external token never is.
    let fresh = external
        .issue(NewToken::access("42").fresh())
        .unwrap()
        .token;
    assert_eq!(
        call(&app, "/fresh", &fresh).await,
        (StatusCode::UNAUTHORIZED, "fresh_token_required".to_owned())
    );
}

#[tokio::test]
async fn the_gate_cache_keeps_the_issuers_leeway() {
    let fake = FakeIssuer::start().await;
    let (gate, external) = gate_trusting(&fake, 300, 0).await;
    let app = Router::new()
        .route("/any", get(|t: AccessToken| async move { who(&t.token) }))
        .with_state(AppState { gate });
    let token = external
        .issue(NewToken::access("bob").ttl(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(call(&app, "/any", &token.token).await.0, StatusCode::OK);
    // Generous: wait until the token has expired by the clock's seconds.
    for _ in 0..100 {
        if tokengate::clock::now().as_secs() > token.expires_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tokengate::clock::now().as_secs() > token.expires_at);
    assert_eq!(
        call(&app, "/any", &token.token).await,
        (StatusCode::UNAUTHORIZED, "token_expired".to_owned()),
        "the issuer allows no leeway"
    );
}

#[tokio::test]
async fn a_key_removed_by_the_issuer_stops_working_at_the_gate() {
    let fake = FakeIssuer::start().await;
    let (gate, old) = gate_trusting(&fake, 0, 0).await;
    let app = Router::new()
        .route("/any", get(|t: AccessToken| async move { who(&t.token) }))
        .with_state(AppState { gate: gate.clone() });
    let token = old.issue(NewToken::access("bob")).unwrap().token;
    assert_eq!(call(&app, "/any", &token).await.0, StatusCode::OK);

    // The issuer replaces the (say, leaked) key; the gate loads the new set.
    fake.publish(&[&key(Algorithm::ES256, "ext-2")]);
    let issuers = gate.trusted_issuers().unwrap();
    issuers.refresh_all().await.unwrap();
    assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
    assert_eq!(
        call(&app, "/any", &token).await,
        (StatusCode::UNAUTHORIZED, "invalid_token".to_owned()),
        "the gate still accepts a token of the removed key"
    );
}

// ---------------------------------------------------------------------------
// 10. Redirects

#[tokio::test]
async fn discovery_may_not_redirect_to_another_host() {
    let fake = FakeIssuer::start().await;
    let elsewhere = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "es-1");
    fake.publish(&[&signer]);
    let engine = issuer_engine(signer, fake.url(), API);
    // Elsewhere would serve a perfectly good document for the same issuer.
    elsewhere.set(|p| p.issuer = Some(fake.url().to_owned()));
    elsewhere.publish(&[engine.keys().signing_key().unwrap()]);
    let issuers = trusted(TrustedIssuer::new(fake.url(), [API]));

    fake.set(|p| p.redirect_discovery = Some(format!("{}{DISCOVERY}", elsewhere.url())));
    match issuers.refresh_all().await {
        // (The reason is reqwest's "error following redirect", without
        // the policy's "redirect to another host".)
        Err(IssuerError::Http { reason, .. }) => assert!(reason.contains("redirect"), "{reason}"),
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert_eq!(fake.discovery_hits(), 1);
    assert_eq!(elsewhere.total_hits(), 0, "the other host got no request");
    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    assert_eq!(refused(issuers.verify(&token).await), "invalid_token");
    assert_eq!(elsewhere.total_hits(), 0);

    // A redirect within the same host is followed.
    fake.set(|p| p.redirect_discovery = Some(MOVED_DISCOVERY.into()));
    issuers.refresh_all().await.unwrap();
    assert_eq!(fake.hits(MOVED_DISCOVERY), 1);
    issuers.verify(&token).await.unwrap();
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn configurations_that_cannot_work_are_refused() {
    let twice = TrustedIssuers::new(vec![
        TrustedIssuer::new("https://i.test", [API]),
        TrustedIssuer::new("https://i.test", ["other"]),
    ]);
    assert!(matches!(twice, Err(IssuerError::Config(_))));
    let no_audience = TrustedIssuers::new(vec![TrustedIssuer::new("https://i.test", [""])]);
    assert!(matches!(no_audience, Err(IssuerError::Config(_))));
    let none: [&str; 0] = [];
    let no_audience = TrustedIssuers::new(vec![TrustedIssuer::new("https://i.test", none)]);
    assert!(matches!(no_audience, Err(IssuerError::Config(_))));
}

// ---------------------------------------------------------------------------
// DPoP-bound tokens of another issuer (Auth0, Keycloak and Okta issue them)

#[tokio::test]
async fn a_trusted_issuers_dpop_bound_token_needs_a_proof_by_its_key() {
    use tokengate::dpop::{ProofTarget, make_proof};

    let idp = FakeIssuer::start().await;
    let idp_key = key(Algorithm::RS256, "idp-1");
    idp.publish(&[&idp_key]);
    let issuers = trusted(TrustedIssuer::new(idp.url(), [API]));
    issuers.refresh_all().await.unwrap();
    let first_party = issuer_engine(key(Algorithm::ES256, "fp-1"), "https://self.example", API);
    let gate = TokenGate::new(first_party).with_trusted_issuers(issuers);
    let app = Router::new()
        .route(
            "/notes",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .with_state(AppState { gate });

    // The provider bound the token to the client's key (`cnf.jkt`).
    let client = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jkt = client
        .verifying_key()
        .to_jwk()
        .unwrap()
        .thumbprint()
        .unwrap();
    let mut claims = external_claims(idp.url(), API);
    claims["cnf"] = json!({ "jkt": jkt });
    let token = compact(&idp_key, &header_of(&idp_key), &claims);

    let url = "http://api.example/notes";
    let send = |scheme: &str, proof: Option<String>| {
        let mut request = Request::get("/notes")
            .header(header::HOST, "api.example")
            .header(header::AUTHORIZATION, format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        let app = app.clone();
        async move {
            let response = app
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = to_bytes(response.into_body(), 4096).await.unwrap();
            (
                status,
                String::from_utf8_lossy(&body).into_owned(),
                challenge,
            )
        }
    };
    let now = tokengate::clock::now().as_secs();
    let target = ProofTarget::new(&http::Method::GET, url).access_token(&token);

    // With a proof by the client's key: accepted, as the provider's user.
    let proof = make_proof(&client, &target, None, now).unwrap();
    let (status, body, _) = send("DPoP", Some(proof.clone())).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ext-user"));
    // The same proof again: a replay.
    let (status, body, _) = send("DPoP", Some(proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("invalid_dpop_proof"), "{body}");
    // As a bearer token (stolen, without the key): refused.
    let (status, body, challenge) = send("Bearer", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"invalid_token\""), "{body}");
    assert!(challenge.unwrap().starts_with("DPoP algs="));
    // With a proof by another key: refused.
    let thief = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let proof = make_proof(&thief, &target, None, now).unwrap();
    let (status, body, _) = send("DPoP", Some(proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("another key"), "{body}");
}
