//! Every error code of the article's decorator, and the granted request.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssueSettings, NewToken, TokenEngine};
use tower::ServiceExt;

const SECRET: &[u8] = b"a test secret of at least 32 bytes!";

fn key() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).unwrap()
}

/// `/headers` with this `Authorization` value: the status and the body.
async fn call(authorization: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::get("/headers");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let app = header_errors::app(header_errors::engine(key()));
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
}

async fn refused(authorization: Option<&str>) -> String {
    let (status, body) = call(authorization).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_slice(&body).unwrap();
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_valid_token_is_granted() {
    let token = header_errors::engine(key())
        .issue(NewToken::access("alice"))
        .unwrap()
        .token;
    let (status, body) = call(Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"Access Granted");
}

#[tokio::test]
async fn a_missing_header_is_authorization_header_missing() {
    assert_eq!(refused(None).await, "authorization_header_missing");
}

#[tokio::test]
async fn a_malformed_header_is_invalid_header() {
    for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a.b.c extra"] {
        assert_eq!(refused(Some(value)).await, "invalid_header", "{value}");
    }
}

#[tokio::test]
async fn an_expired_token_is_token_expired() {
    let mut old = NewToken::access("alice").ttl(Duration::from_secs(60));
    old.issued_at = Some(tokengate::clock::now().as_secs() - 3600);
    let token = header_errors::engine(key()).issue(old).unwrap().token;
    assert_eq!(
        refused(Some(&format!("Bearer {token}"))).await,
        "token_expired"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_invalid_claims() {
    let other_api = IssueSettings::default().audience(["https://other.example.com"]);
    let engine = TokenEngine::new(KeyRing::new(key())).with_settings(other_api);
    let token = engine.issue(NewToken::access("alice")).unwrap().token;
    assert_eq!(
        refused(Some(&format!("Bearer {token}"))).await,
        "invalid_claims"
    );
}
