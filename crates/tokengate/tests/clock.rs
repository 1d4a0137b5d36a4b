//! Time moved by a manual clock instead of slept through: expiry, the
//! verification cache, revoke-all within one millisecond, and the refresh
//! token's lifetime all follow the engine's clock.

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
