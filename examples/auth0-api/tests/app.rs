//! The quickstart's three routes, driven with `oneshot`.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{NewToken, TokenEngine};
use tower::ServiceExt;

struct Fixture {
    app: axum::Router,
    engine: std::sync::Arc<TokenEngine>,
}

fn fixture(auth0: Option<&auth0_api::Auth0>) -> Fixture {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ));
    let gate = auth0_api::gate(engine, auth0).unwrap();
    Fixture {
        engine: gate.engine(),
        app: auth0_api::app(gate),
    }
}

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn public_needs_nothing() {
    let (status, body) = get(&fixture(None).app, "/api/public", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["message"].as_str().unwrap().contains("public"));
}

#[tokio::test]
async fn private_needs_a_valid_token() {
    let f = fixture(None);
    let (status, body) = get(&f.app, "/api/private", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "authorization_header_missing");

    let (status, body) = get(&f.app, "/api/private", Some("not.a.jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_token");

    let token = f.engine.issue(NewToken::access("alice")).unwrap().token;
    let (status, body) = get(&f.app, "/api/private", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], "alice");
}

#[tokio::test]
async fn private_scoped_needs_read_messages() {
    // With a tenant configured (never contacted here): own tokens still work.
    let auth0 = auth0_api::Auth0 {
        domain: "tenant.example.auth0.com".into(),
        audience: "https://api.example.com".into(),
    };
    let f = fixture(Some(&auth0));
    let plain = f.engine.issue(NewToken::access("alice")).unwrap().token;
    let (status, body) = get(&f.app, "/api/private-scoped", Some(&plain)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "insufficient_scope");

    let scoped = f
        .engine
        .issue(NewToken::access("alice").scope("read:messages"))
        .unwrap();
    let (status, body) = get(&f.app, "/api/private-scoped", Some(&scoped.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], "alice");
}
