//! The token lifecycle, and a blocklist that survives a restart.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::TokenEngine;
use tower::ServiceExt;

/// The app as started with a fixed key (tokens outlive restarts) and `blocklist`.
fn start(blocklist: &Path) -> Router {
    let key =
        SigningKey::from_secret(Algorithm::HS256, b"a test secret of at least 32 bytes!").unwrap();
    blocklist::app(TokenEngine::new(KeyRing::new(key)), blocklist).unwrap()
}

fn blocklist(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("blocklist-{test}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Logs alice in: (access, refresh).
async fn login(app: &Router) -> (String, String) {
    let alice = json!({"username": "alice", "password": "correct horse"});
    let (status, body) = call(app, "POST", "/login", None, alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().into(),
        body["refresh_token"].as_str().unwrap().into(),
    )
}

async fn register(app: &Router) {
    let alice = json!({"username": "alice", "password": "correct horse"});
    assert_eq!(
        call(app, "POST", "/register", None, alice).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn register_validates_and_refuses_duplicates() {
    let app = start(&blocklist("register"));
    register(&app).await;
    let again = json!({"username": "ALICE", "password": "another password"});
    let (status, body) = call(&app, "POST", "/register", None, again).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("username_taken"))
    );
    let short = json!({"username": "bob", "password": "x"});
    assert_eq!(
        call(&app, "POST", "/register", None, short).await.0,
        StatusCode::BAD_REQUEST
    );
    let wrong = json!({"username": "alice", "password": "wrong password"});
    assert_eq!(
        call(&app, "POST", "/login", None, wrong).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_is_remembered_after_a_restart() {
    let file = blocklist("restart");
    let app = start(&file);
    register(&app).await;
    let (revoked, _) = login(&app).await;
    let (kept, _) = login(&app).await;
    assert_eq!(
        call(&app, "GET", "/me", Some(&revoked), Value::Null)
            .await
            .1["username"],
        "alice"
    );
    assert_eq!(
        call(&app, "POST", "/logout", Some(&revoked), Value::Null)
            .await
            .0,
        StatusCode::OK
    );

    let app = start(&file);
    let (status, body) = call(&app, "GET", "/protected", Some(&revoked), Value::Null).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
    // Only the logged-out login is refused; the other one lives on.
    assert_eq!(
        call(&app, "GET", "/protected", Some(&kept), Value::Null)
            .await
            .0,
        StatusCode::OK
    );
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_login() {
    let file = blocklist("reuse");
    let app = start(&file);
    register(&app).await;
    let (_, first) = login(&app).await;
    let (status, next) = call(&app, "POST", "/refresh", Some(&first), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (access, second) = (
        next["access_token"].as_str().unwrap(),
        next["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(
        call(&app, "GET", "/protected", Some(access), Value::Null)
            .await
            .0,
        StatusCode::OK
    );

    // The spent token again: someone holds a copy. The whole login ends...
    let (status, body) = call(&app, "POST", "/refresh", Some(&first), Value::Null).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
    for (method, path, token) in [("POST", "/refresh", second), ("GET", "/protected", access)] {
        assert_eq!(
            call(&app, method, path, Some(token), Value::Null).await.1["code"],
            "token_revoked"
        );
    }
    // ... and stays ended after a restart.
    let app = start(&file);
    assert_eq!(
        call(&app, "GET", "/protected", Some(access), Value::Null)
            .await
            .1["code"],
        "token_revoked"
    );
    let _ = std::fs::remove_file(file);
}
