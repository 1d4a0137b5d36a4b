//! Time moved by a manual clock instead of slept through: expiry, the
//! verification cache, revoke-all within one millisecond, the refresh
//! token's lifetime, the reuse interval and the sessions list all follow
//! the engine's clock.

use std::time::Duration;

use tokengate::axum::{Requirement, TokenGate};
use tokengate::clock::{ManualClock, Timestamp};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine};

const START: Timestamp = Timestamp::from_secs(1_900_000_000);

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

#[tokio::test]
async fn tokens_expire_when_the_clock_says_so_cached_or_not() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let login = gate.login("alice").await.unwrap();
    assert_eq!(login.access.issued_at, START.as_secs());
    assert_eq!(login.access.expires_at, START.as_secs() + 60);
    // Verified once: now in the cache.
    assert!(gate.verify(&login.access.token).await.is_ok());

    clock.advance(Duration::from_secs(59));
    assert!(
        gate.verify(&login.access.token).await.is_ok(),
        "valid until its exp second (RFC 7519: now must be before exp)"
    );
    clock.advance(Duration::from_secs(1));
    let err = gate.verify(&login.access.token).await.unwrap_err();
    assert_eq!(err.code(), "token_expired");
    // The refresh token lives on until its own exp.
    assert!(gate.verify(&login.refresh.token).await.is_ok());
    clock.advance(Duration::from_secs(3600));
    let err = gate.verify(&login.refresh.token).await.unwrap_err();
    assert_eq!(err.code(), "token_expired");
}

#[tokio::test]
async fn logout_all_cuts_exactly_at_the_call_even_within_one_millisecond() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let before = gate.login("alice").await.unwrap();
    let other = gate.login("bob").await.unwrap();
    // The clock has not moved: the next login would share the millisecond
    // of the first. logout_all steps it past the cut-off instead of sleeping.
    gate.logout_all("alice").await.unwrap();
    assert_eq!(clock.now(), Timestamp::from_millis(START.as_millis() + 1));
    let after = gate.login("alice").await.unwrap();

    let code = async |token: &str, requirement: Requirement| {
        let (parts, ()) = http::Request::get("/")
            .header("Authorization", format!("Bearer {token}"))
            .body(())
            .unwrap()
            .into_parts();
        match gate.authenticate(&parts, requirement).await {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    };
    let (access, refresh) = (Requirement::ACCESS, Requirement::REFRESH);
    assert_eq!(code(&before.access.token, access).await, "token_revoked");
    assert_eq!(code(&before.refresh.token, refresh).await, "token_revoked");
    assert_eq!(code(&after.access.token, access).await, "ok");
    assert_eq!(code(&after.refresh.token, refresh).await, "ok");
    assert_eq!(code(&other.access.token, access).await, "ok");
}

#[tokio::test]
async fn a_reused_refresh_token_ends_its_login_for_the_refresh_lifetime_from_now() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let login = gate.login("alice").await.unwrap();
    let first = gate.engine().verify(&login.refresh.token).unwrap();
    clock.advance(Duration::from_secs(10));
    let next = gate.refresh("alice", &first).await.unwrap();
    assert_eq!(next.refresh.issued_at, START.as_secs() + 10);
    // Reuse of the spent token ends the login: the next pair is refused too.
    assert_eq!(
        gate.refresh("alice", &first).await.unwrap_err().code(),
        "token_revoked"
    );
    let second = gate.engine().verify(&next.refresh.token).unwrap();
    assert!(gate.revocation_store().is_revoked(&second.claims));
}

#[tokio::test]
async fn the_reuse_interval_runs_from_the_first_use_of_the_refresh_token() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock).with_refresh_reuse_interval(Duration::from_secs(10));
    let login = gate.login("alice").await.unwrap();
    let first = gate.verify(&login.refresh.token).await.unwrap();
    clock.advance(Duration::from_secs(5));
    let tab1 = gate.refresh("alice", &first).await.unwrap();
    clock.advance(Duration::from_millis(9_999));
    // Another tab, just within 10 s of the first use: the same login, and
    // the refresh token tab 1 got (the same id), not a third one.
    let tab2 = gate.refresh("alice", &first).await.unwrap();
    assert_eq!(tab2.refresh.jti, tab1.refresh.jti);
    assert_eq!(tab2.access.family, login.access.family);
    assert_ne!(tab2.refresh.token, tab1.refresh.token);
    // Both tabs go on: tab 2 rotates, then tab 1's copy of that token is
    // the one spent last and within the interval.
    let tab2_refresh = gate.verify(&tab2.refresh.token).await.unwrap();
    let tab1_refresh = gate.verify(&tab1.refresh.token).await.unwrap();
    let next = gate.refresh("alice", &tab2_refresh).await.unwrap();
    let again = gate.refresh("alice", &tab1_refresh).await.unwrap();
    assert_eq!(again.refresh.jti, next.refresh.jti);
    let sessions = gate.sessions("alice").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].created_at, START);
    assert_eq!(sessions[0].last_used_at, clock.now());

    // The first token is two refreshes back now: reuse ends the login.
    clock.advance(Duration::from_millis(1));
    let err = gate.refresh("alice", &first).await.unwrap_err();
    assert_eq!(err.code(), "token_revoked");
    assert!(gate.sessions("alice").await.unwrap().is_empty());
    let latest = gate.verify(&next.refresh.token).await.unwrap();
    assert!(gate.revocation_store().is_revoked(&latest.claims));
}

#[tokio::test]
async fn a_refresh_token_reused_after_the_interval_ends_the_login() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock).with_refresh_reuse_interval(Duration::from_secs(10));
    let login = gate.login("alice").await.unwrap();
    let first = gate.verify(&login.refresh.token).await.unwrap();
    let pair = gate.refresh("alice", &first).await.unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        gate.refresh("alice", &first).await.unwrap_err().code(),
        "token_revoked"
    );
    let next = gate.verify(&pair.refresh.token).await.unwrap();
    assert_eq!(
        gate.refresh("alice", &next).await.unwrap_err().code(),
        "token_revoked"
    );
    // Longer than a minute is cut to a minute.
    let gate = gate.with_refresh_reuse_interval(Duration::from_secs(3600));
    assert_eq!(gate.refresh_reuse_interval(), Duration::from_secs(60));
}

#[tokio::test]
async fn sessions_are_live_logins_newest_first_and_end_one_at_a_time() {
    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let phone = gate.login("alice").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let laptop = gate.login("alice").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let tablet = gate.login("alice").await.unwrap();
    gate.login("bob").await.unwrap();
    let ids = async || {
        let sessions = gate.sessions("alice").await.unwrap();
        sessions.into_iter().map(|s| Some(s.id)).collect::<Vec<_>>()
    };
    let family = |pair: &tokengate::axum::TokenPair| pair.access.family.clone();
    assert_eq!(
        ids().await,
        [family(&tablet), family(&laptop), family(&phone)]
    );

    let bob_cannot = gate.end_session("bob", phone.access.family.as_ref().unwrap());
    assert_eq!(bob_cannot.await.unwrap_err().code(), "not_found");
    gate.end_session("alice", phone.access.family.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(ids().await, [family(&tablet), family(&laptop)]);
    let current = gate.verify(&tablet.access.token).await.unwrap();
    assert_eq!(gate.end_other_sessions(&current).await.unwrap(), 1);
    assert_eq!(ids().await, [family(&tablet)]);
    assert_eq!(gate.sessions("bob").await.unwrap().len(), 1);

    // A login whose refresh token has expired is no session.
    clock.advance(Duration::from_secs(3600));
    assert!(gate.sessions("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn rotated_keys_verify_for_the_token_lifetime_then_leave_the_jwks() {
    use tokengate::axum::KeyRotation;
    use tokengate::keys::Kid;
    use tokengate::token::NewToken;

    let clock = ManualClock::new(START);
    let gate = gate_at(&clock);
    let mut rotation = KeyRotation::new(gate.clone(), Algorithm::EdDSA);
    // The refresh lifetime is the longer one.
    assert_eq!(rotation.keeps_for(), Duration::from_secs(3600));
    let first = gate.engine().issue(NewToken::refresh("alice")).unwrap();
    let second_kid = rotation.rotate_now().unwrap();
    clock.advance(Duration::from_secs(1800));
    let second = gate.engine().issue(NewToken::refresh("alice")).unwrap();
    let chosen = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid(Kid::new("app-chosen"));
    rotation.rotate_to(chosen).unwrap();
    let kids = |gate: &TokenGate| {
        gate.engine()
            .keys()
            .jwks()
            .keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(kids(&gate).len(), 3);
    assert!(gate.verify(&first.token).await.is_ok());
    assert!(gate.verify(&second.token).await.is_ok());

    // An hour after the first rotation the first key goes at the next one;
    // the second, retired half an hour ago, stays.
    clock.advance(Duration::from_secs(1800));
    rotation.rotate_now().unwrap();
    let now = kids(&gate);
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.contains(&second_kid.as_str().to_owned()));
    assert!(now.contains(&"app-chosen".to_owned()));
    // Its last token has just expired, and its key is gone: no key verifies it.
    assert_eq!(
        gate.verify(&first.token).await.unwrap_err().code(),
        "invalid_token"
    );
    let third = gate.engine().issue(NewToken::access("alice")).unwrap();
    assert!(gate.verify(&third.token).await.is_ok());
}

#[tokio::test]
async fn a_spawned_rotation_changes_the_signing_key_on_its_schedule() {
    use tokengate::axum::KeyRotation;

    let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    let signing_kid = || gate.engine().keys().signing_key().unwrap().kid().clone();
    let before = signing_kid();
    let task = KeyRotation::new(gate.clone(), Algorithm::EdDSA).spawn(Duration::from_millis(20));
    let mut rotated = false;
    for _ in 0..500 {
        if signing_kid() != before {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert!(rotated, "no rotation within 5 s");
}
