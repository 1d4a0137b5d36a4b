//! The routes' failures, without any provider running.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tokengate::axum::TokenGate;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::oidc::{OidcLogin, OidcProvider, local_path};
use tokengate::token::TokenEngine;
use tower::ServiceExt;

fn app() -> Router {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let provider = OidcProvider::new(
        oidc_login::PROVIDER,
        "http://127.0.0.1:9/realms/dev",
        "example",
        "http://127.0.0.1:3000/callback",
    );
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ));
    oidc_login::app(
        TokenGate::new(engine),
        OidcLogin::new(vec![provider]).unwrap(),
    )
}

async fn get(path: &str) -> (StatusCode, Value) {
    let response = app()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn login_without_a_reachable_provider_is_unavailable() {
    let (status, body) = get("/login?next=/memos").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let (status, body) = get("/callback?code=abc").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = get("/callback?code=abc&state=never-issued").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn logout_without_a_session_goes_home() {
    let response = app()
        .oneshot(Request::get("/logout").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    assert_eq!(response.headers()["location"], "/");
}

#[test]
fn next_stays_local() {
    assert_eq!(local_path("/memos?x=1"), "/memos?x=1");
    for bad in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        assert_eq!(local_path(bad), "/", "{bad}");
    }
}
