//! `TokenGate::introspect` (RFC 7662's "is this token active?") and
//! `TokenGate::revoke_token` (RFC 7009's "revoke this presented token"):
//! which tokens are active, what a revocation reaches (an access token
//! alone, a refresh token's whole login), what is left alone (anything not
//! a valid token of the gate, trusted issuers' tokens included), and a
//! revocation store that cannot answer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokengate::axum::{Requirement, TokenGate};
use tokengate::claims::{Claims, TokenType};
use tokengate::clock::{ManualClock, Timestamp};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::revocation::{
    BoxFuture, InMemoryRevocations, Revocation, RevocationStore, StoreError,
};
use tokengate::token::{IssueSettings, NewToken, TokenEngine};

const START: Timestamp = Timestamp::from_secs(1_900_000_000);

/// A gate on a manual clock: access tokens live a minute, refresh tokens an hour.
fn gate_at(clock: &ManualClock) -> TokenGate {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let settings = IssueSettings::default()
        .access_ttl(Duration::from_secs(60))
        .refresh_ttl(Duration::from_secs(3600));
    TokenGate::new(
        TokenEngine::new(KeyRing::new(key))
            .with_settings(settings)
            .with_clock(clock.clone().into()),
    )
}

fn new_gate() -> TokenGate {
    TokenGate::with_generated_key(Algorithm::ES256).unwrap()
}

async fn active(gate: &TokenGate, token: &str) -> bool {
    gate.introspect(token).await.unwrap().is_some()
}

#[tokio::test]
async fn own_access_and_refresh_tokens_are_active_with_their_claims() {
    let gate = new_gate();
    let login = gate.login("alice").await.unwrap();
    let access = gate.introspect(&login.access.token).await.unwrap().unwrap();
    assert_eq!(access.subject(), "alice");
    assert_eq!(access.claims.token_type, Some(TokenType::Access));
    assert_eq!(access.claims.jti.as_ref(), Some(&login.access.jti));
    assert!(access.origin.is_first_party());
    let refresh = gate
        .introspect(&login.refresh.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refresh.claims.token_type, Some(TokenType::Refresh));
    assert_eq!(refresh.claims.family, login.refresh.family);
    // A token outside any login is active too.
    let machine = gate.access_token_for("svc").unwrap();
    assert!(active(&gate, &machine.token).await);
}

#[tokio::test]
async fn invalid_tokens_are_inactive_never_an_error() {
    let gate = new_gate();
    let other = new_gate()
        .engine()
        .issue(NewToken::access("alice"))
        .unwrap();
    let own = gate.engine().issue(NewToken::access("alice")).unwrap();
    let (head, rest) = own.token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let flipped = format!(
        "{head}.{payload}.{}{}",
        if signature.starts_with('A') { 'B' } else { 'A' },
        &signature[1..]
    );
    let too_long = format!("{}.{}", own.token, "A".repeat(tokengate::MAX_TOKEN_LEN));
    for token in [
        "",
        "garbage",
        "a.b.c",
        "..",
        &other.token,
        &flipped,
        &too_long,
    ] {
        assert!(
            gate.introspect(token).await.unwrap().is_none(),
            "{token:.40}"
        );
    }
    assert!(active(&gate, &own.token).await);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_inactive() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let login = gate.login("alice").await.unwrap();
    // Issued (`iat`, `nbf`) 30 s from now: valid from then to 90 s.
    let later = NewToken {
        issued_at: Some(START.as_secs() + 30),
        ..NewToken::access("alice")
    };
    let later = gate.engine().issue(later).unwrap();
    assert!(active(&gate, &login.access.token).await);
    assert!(!active(&gate, &later.token).await);
    clock.advance(Duration::from_secs(60));
    // Cached as verified a moment ago, expired now.
    assert!(!active(&gate, &login.access.token).await);
    assert!(active(&gate, &later.token).await);
    assert!(active(&gate, &login.refresh.token).await);
    clock.advance(Duration::from_secs(3600));
    assert!(!active(&gate, &login.refresh.token).await);
}

#[tokio::test]
async fn revoked_tokens_logins_and_subjects_are_inactive() {
    let gate = new_gate();
    let (one, two, three) = (
        gate.login("alice").await.unwrap(),
        gate.login("alice").await.unwrap(),
        gate.login("bob").await.unwrap(),
    );
    gate.revocation_store()
        .revoke(Revocation::token(&one.access))
        .await
        .unwrap();
    assert!(!active(&gate, &one.access.token).await);
    assert!(active(&gate, &one.refresh.token).await);
    let refresh = gate.verify(&two.refresh.token).await.unwrap();
    gate.logout(&refresh).await.unwrap();
    assert!(!active(&gate, &two.access.token).await);
    assert!(!active(&gate, &two.refresh.token).await);
    gate.logout_all("bob").await.unwrap();
    assert!(!active(&gate, &three.access.token).await);
    assert!(!active(&gate, &three.refresh.token).await);
}

#[tokio::test]
async fn revoking_an_access_token_leaves_its_login() {
    let gate = new_gate();
    let login = gate.login("alice").await.unwrap();
    let revoked = gate.revoke_token(&login.access.token, None).await.unwrap();
    assert_eq!(revoked, Some(TokenType::Access));
    assert!(!active(&gate, &login.access.token).await);
    // The extractors refuse it too: one revocation, seen everywhere.
    let (parts, _) = http::Request::get("/")
        .header("Authorization", format!("Bearer {}", login.access.token))
        .body(())
        .unwrap()
        .into_parts();
    let refused = gate.authenticate(&parts, Requirement::ACCESS).await;
    assert_eq!(refused.unwrap_err().code(), "token_revoked");
    // The login lives on: its refresh token still refreshes.
    assert!(active(&gate, &login.refresh.token).await);
    assert_eq!(gate.sessions("alice").await.unwrap().len(), 1);
    let refresh = gate.verify(&login.refresh.token).await.unwrap();
    let next = gate.refresh("alice", &refresh).await.unwrap();
    assert!(active(&gate, &next.access.token).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_login_whatever_the_hint() {
    for hint in [None, Some(TokenType::Access), Some(TokenType::Refresh)] {
        let gate = new_gate();
        let login = gate.login("alice").await.unwrap();
        let other = gate.login("alice").await.unwrap();
        let revoked = gate.revoke_token(&login.refresh.token, hint).await.unwrap();
        assert_eq!(revoked, Some(TokenType::Refresh), "{hint:?}");
        assert!(!active(&gate, &login.refresh.token).await, "{hint:?}");
        assert!(!active(&gate, &login.access.token).await, "{hint:?}");
        let refresh = gate.verify(&login.refresh.token).await.unwrap();
        assert_eq!(
            gate.refresh("alice", &refresh).await.unwrap_err().code(),
            "token_revoked"
        );
        // Only that login: the user's other one is untouched.
        let sessions = gate.sessions("alice").await.unwrap();
        assert_eq!(sessions.len(), 1, "{hint:?}");
        assert_eq!(Some(&sessions[0].id), other.access.family.as_ref());
        assert!(active(&gate, &other.access.token).await);
    }
}

#[tokio::test]
async fn revoking_what_is_not_a_valid_token_does_nothing() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let login = gate.login("alice").await.unwrap();
    let other = new_gate().login("alice").await.unwrap();
    for token in [
        "",
        "garbage",
        "a.b.c",
        &other.access.token,
        &other.refresh.token,
    ] {
        assert_eq!(
            gate.revoke_token(token, Some(TokenType::Refresh))
                .await
                .unwrap(),
            None
        );
    }
    // An expired refresh token: its login is not ended by it.
    clock.advance(Duration::from_secs(3601));
    assert_eq!(
        gate.revoke_token(&login.refresh.token, None).await.unwrap(),
        None
    );
    clock.advance(Duration::ZERO);
    let fresh = gate.login("alice").await.unwrap();
    assert_eq!(
        gate.revoke_token(&fresh.access.token, None).await.unwrap(),
        Some(TokenType::Access)
    );
    // Again: no harm, the same answer.
    assert_eq!(
        gate.revoke_token(&fresh.access.token, None).await.unwrap(),
        Some(TokenType::Access)
    );
}

/// A store still loading, whose durable record may be down.
struct Loading {
    record: InMemoryRevocations,
    down: AtomicBool,
}

impl RevocationStore for Loading {
    fn is_revoked(&self, _: &Claims) -> bool {
        false
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        let down = self.down.load(Ordering::Relaxed);
        if !down {
            self.record.apply(&revocation);
        }
        Box::pin(async move {
            if down {
                Err(StoreError::new("down"))
            } else {
                Ok(())
            }
        })
    }

    fn is_complete(&self) -> bool {
        false
    }

    fn lookup<'a>(&'a self, claims: &'a Claims) -> BoxFuture<'a, Result<bool, StoreError>> {
        let down = self.down.load(Ordering::Relaxed);
        let revoked = self.record.is_revoked(claims);
        Box::pin(async move {
            if down {
                Err(StoreError::new("down"))
            } else {
                Ok(revoked)
            }
        })
    }
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_an_error_not_an_answer() {
    let store = Arc::new(Loading {
        record: InMemoryRevocations::new(),
        down: AtomicBool::new(false),
    });
    let gate = new_gate().with_revocation(store.clone());
    let (one, two) = (
        gate.login("alice").await.unwrap(),
        gate.login("alice").await.unwrap(),
    );
    gate.revoke_token(&one.access.token, None).await.unwrap();
    // Memory knows nothing: the record is asked, and it knows.
    assert!(!active(&gate, &one.access.token).await);
    assert!(active(&gate, &two.access.token).await);

    store.down.store(true, Ordering::Relaxed);
    for token in [&one.access.token, &two.access.token] {
        let error = gate.introspect(token).await.unwrap_err();
        assert_eq!(error.code(), "store_unavailable");
    }
    // Garbage needs no store: still inactive.
    assert!(gate.introspect("garbage").await.unwrap().is_none());
    let error = gate
        .revoke_token(&two.access.token, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "store_unavailable");
}

/// A trusted issuer's token is not this gate's to answer for: inactive,
/// never revoked, and its keys are not even fetched for it.
#[cfg(feature = "issuers")]
#[tokio::test]
async fn trusted_issuers_tokens_are_neither_active_nor_revoked() {
    use common::issuer::{API, FakeIssuer, issuer_engine, key};
    use tokengate::issuers::{TrustedIssuer, TrustedIssuers};

    let fake = FakeIssuer::start().await;
    let signer = key(Algorithm::ES256, "idp-1");
    fake.publish(&[&signer]);
    let idp = issuer_engine(signer, fake.url(), API);
    let issuers = TrustedIssuers::new(vec![
        TrustedIssuer::new(fake.url(), [API]).jwks_uri(format!("{}/jwks", fake.url())),
    ])
    .unwrap();
    let gate = new_gate().with_trusted_issuers(issuers);
    let theirs = idp.issue(NewToken::access("ext-user")).unwrap();
    // The resource routes accept it...
    let verified = gate.verify(&theirs.token).await.unwrap();
    assert_eq!(verified.origin.issuer(), Some(fake.url()));
    let hits = fake.total_hits();
    // ...introspection and revocation leave it to its issuer.
    assert!(gate.introspect(&theirs.token).await.unwrap().is_none());
    assert_eq!(gate.revoke_token(&theirs.token, None).await.unwrap(), None);
    assert!(gate.verify(&theirs.token).await.is_ok());
    let unseen = idp.issue(NewToken::access("other-user")).unwrap();
    assert!(gate.introspect(&unseen.token).await.unwrap().is_none());
    assert_eq!(fake.total_hits(), hits, "no key fetch for introspection");
    // The gate's own tokens are still answered for.
    let own = gate.login("alice").await.unwrap();
    assert!(active(&gate, &own.access.token).await);
}
