//! The cookie session: login, status, CSRF on POST, refresh, logout.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::TokenEngine;
use tower::ServiceExt;

fn app() -> Router {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ));
    let frontend = HeaderValue::from_static("http://localhost:5173");
    spa_cookies::app(spa_cookies::gate(engine), frontend)
}

/// The browser's cookie jar, reduced to what the tests need.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn store(&mut self, response: &Response<Body>) {
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (name, rest) = set.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

async fn send(
    app: &Router,
    jar: &mut Jar,
    method: &str,
    path: &str,
    csrf: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, jar.header());
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-TOKEN", csrf);
    }
    let body = match path {
        "/auth/login" => json!({"username": "alice", "password": "correct horse"}),
        _ => json!({"title": "milk"}),
    };
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    jar.store(&response);
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn login_sets_httponly_strict_cookies() {
    let response = app()
        .oneshot(
            Request::post("/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"username":"alice","password":"correct horse"}"#,
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let access = cookies
        .iter()
        .find(|c| c.starts_with("access_token_cookie="))
        .unwrap();
    assert!(access.contains("HttpOnly") && access.contains("SameSite=Strict"));
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("csrf_access_token="))
        .unwrap();
    assert!(!csrf.contains("HttpOnly"), "the SPA must read it");
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let response = app()
        .oneshot(
            Request::post("/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"username":"alice","password":"nope"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn csrf_double_submit_guards_posts() {
    let (app, mut jar) = (app(), Jar::default());
    let (_, status) = send(&app, &mut jar, "GET", "/auth/status", None).await;
    assert_eq!(status["logged_in"], false);
    let (code, _) = send(&app, &mut jar, "POST", "/auth/login", None).await;
    assert_eq!(code, StatusCode::OK);
    let (_, status) = send(&app, &mut jar, "GET", "/auth/status", None).await;
    assert_eq!(
        (&status["user"], &status["role"]),
        (&json!("alice"), &json!("admin"))
    );

    // A cross-site form can send the cookies, but not the header.
    let (code, body) = send(&app, &mut jar, "POST", "/api/memos", None).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("csrf_failed"))
    );
    let (code, body) = send(&app, &mut jar, "POST", "/api/memos", Some("forged")).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("csrf_failed"))
    );
    let csrf = jar.get("csrf_access_token").unwrap().to_owned();
    let (code, body) = send(&app, &mut jar, "POST", "/api/memos", Some(&csrf)).await;
    assert_eq!((code, &body["author"]), (StatusCode::OK, &json!("alice")));
}

#[tokio::test]
async fn refresh_then_logout_clears_the_session() {
    let (app, mut jar) = (app(), Jar::default());
    send(&app, &mut jar, "POST", "/auth/login", None).await;
    let old_access = jar.get("access_token_cookie").unwrap().to_owned();
    let csrf = jar.get("csrf_refresh_token").unwrap().to_owned();
    let (code, _) = send(&app, &mut jar, "POST", "/auth/refresh", Some(&csrf)).await;
    assert_eq!(code, StatusCode::OK);
    assert_ne!(jar.get("access_token_cookie").unwrap(), old_access);

    let csrf = jar.get("csrf_access_token").unwrap().to_owned();
    let (code, _) = send(&app, &mut jar, "POST", "/auth/logout", Some(&csrf)).await;
    assert_eq!(code, StatusCode::OK);
    assert!(jar.0.is_empty(), "logout clears every cookie: {:?}", jar.0);
    let (_, status) = send(&app, &mut jar, "GET", "/auth/status", None).await;
    assert_eq!(status["logged_in"], false);
}
