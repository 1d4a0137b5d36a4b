//! Browser sessions: tokens in cookies, CSRF double submit, CORS.

use reqwest::Method;
use serde_json::json;

use crate::common::{Api, Resp, Server, SetCookie, TestDir};

const PASSWORD: &str = "correct horse battery";
const JWT_COOKIES: [&str; 2] = ["access_token_cookie", "refresh_token_cookie"];
const CSRF_COOKIES: [&str; 2] = ["csrf_access_token", "csrf_refresh_token"];

/// The four cookies of a session answer, checked for their attributes.
struct Session {
    access: SetCookie,
    refresh: SetCookie,
    csrf_access: SetCookie,
    csrf_refresh: SetCookie,
}

impl Session {
    #[track_caller]
    fn from(resp: &Resp) -> Session {
        for name in JWT_COOKIES {
            let c = resp.cookie(name);
            assert!(c.has("HttpOnly"), "{c:?}");
            assert_eq!(c.value.matches('.').count(), 2, "a JWT: {c:?}");
        }
        for name in CSRF_COOKIES {
            let c = resp.cookie(name);
            assert!(!c.has("HttpOnly"), "scripts must read it: {c:?}");
            assert!(!c.value.is_empty(), "{c:?}");
        }
        for c in resp.set_cookies() {
            assert!(c.has("SameSite=Lax"), "{c:?}");
            assert!(c.has("Path=/"), "{c:?}");
            assert!(!c.has("Secure"), "cookie_secure defaults to false: {c:?}");
        }
        Session {
            access: resp.cookie("access_token_cookie"),
            refresh: resp.cookie("refresh_token_cookie"),
            csrf_access: resp.cookie("csrf_access_token"),
            csrf_refresh: resp.cookie("csrf_refresh_token"),
        }
    }

    /// A `Cookie` header with all four, as a browser would send.
    fn header(&self) -> String {
        [
            &self.access,
            &self.refresh,
            &self.csrf_access,
            &self.csrf_refresh,
        ]
        .iter()
        .map(|c| c.pair())
        .collect::<Vec<_>>()
        .join("; ")
    }
}

async fn with_cookies(
    api: &Api,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
) -> Resp {
    let mut request = api.request(method, path).header("cookie", cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    api.send(request).await
}

#[tokio::test]
async fn session_cookies_with_csrf_double_submit() {
    let dir = TestDir::new("browser-session");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("olga", PASSWORD).await;

    api.post_json(
        "/auth/session",
        &json!({"username": "olga", "password": "wrong password"}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let resp = api
        .post_json(
            "/auth/session",
            &json!({"username": "olga", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let first = Session::from(&resp);
    let body = resp.json();
    assert_eq!(body["username"], "olga", "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let text = resp.text();
    assert!(!text.contains(&first.access.value), "no token in the body");
    assert!(!text.contains(&first.refresh.value), "no token in the body");

    // A safe method needs no CSRF header.
    let status = with_cookies(api, Method::GET, "/auth/status", &first.header(), None)
        .await
        .expect(200)
        .json();
    assert_eq!(status["id"], user["id"], "{status}");
    assert_eq!(status["username"], "olga", "{status}");
    api.get("/auth/status").await.expect_missing();
    // The access cookie alone is enough for resource routes too.
    with_cookies(api, Method::GET, "/api/private", &first.access.pair(), None)
        .await
        .expect(200);

    // Refresh: the refresh cookie and its CSRF value.
    for csrf in [None, Some("wrong"), Some(first.csrf_access.value.as_str())] {
        with_cookies(
            api,
            Method::POST,
            "/auth/session/refresh",
            &first.header(),
            csrf,
        )
        .await
        .expect_token_error("csrf_failed");
    }
    let resp = with_cookies(
        api,
        Method::POST,
        "/auth/session/refresh",
        &first.header(),
        Some(&first.csrf_refresh.value),
    )
    .await
    .expect(200);
    let second = Session::from(&resp);
    assert!(resp.json().get("access_token").is_none());
    assert_ne!(second.access.value, first.access.value);
    assert_ne!(second.refresh.value, first.refresh.value);
    assert_ne!(second.csrf_refresh.value, first.csrf_refresh.value);
    with_cookies(api, Method::GET, "/auth/status", &second.header(), None)
        .await
        .expect(200);

    // Logout: DELETE with the access cookie's CSRF value.
    with_cookies(api, Method::DELETE, "/auth/session", &second.header(), None)
        .await
        .expect_token_error("csrf_failed");
    with_cookies(
        api,
        Method::DELETE,
        "/auth/session",
        &second.header(),
        Some(&second.csrf_refresh.value),
    )
    .await
    .expect_token_error("csrf_failed");
    let resp = with_cookies(
        api,
        Method::DELETE,
        "/auth/session",
        &second.header(),
        Some(&second.csrf_access.value),
    )
    .await
    .expect(200);
    let cleared = resp.set_cookies();
    for name in JWT_COOKIES.iter().chain(&CSRF_COOKIES) {
        let c = cleared
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("{name} not cleared: {resp:?}"));
        assert!(c.value.is_empty(), "{c:?}");
        assert!(c.has("Max-Age=0"), "{c:?}");
    }

    // The old cookies no longer work, even if a client keeps sending them.
    with_cookies(api, Method::GET, "/auth/status", &second.header(), None)
        .await
        .expect_token_error("token_revoked");
    with_cookies(
        api,
        Method::POST,
        "/auth/session/refresh",
        &second.header(),
        Some(&second.csrf_refresh.value),
    )
    .await
    .expect_token_error("token_revoked");
}

#[tokio::test]
async fn cors_allows_configured_origins_with_credentials() {
    let dir = TestDir::new("cors");
    let server = Server::start(&dir, &[("TOKENGATE_CORS_ORIGINS", "http://app.example")]);
    let api = server.api();
    let preflight = |origin: &'static str| {
        api.send(
            api.request(Method::OPTIONS, "/auth/session")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,x-csrf-token",
                ),
        )
    };

    let resp = preflight("http://app.example").await;
    assert!(resp.status < 300, "{resp:?}");
    assert_eq!(
        resp.header("access-control-allow-origin").as_deref(),
        Some("http://app.example"),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("access-control-allow-credentials").as_deref(),
        Some("true"),
        "{resp:?}"
    );
    let methods = resp
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{resp:?}");
    let headers = resp
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("x-csrf-token"), "{resp:?}");
    assert!(headers.contains("content-type"), "{resp:?}");

    // A plain request from the origin is answered for it too.
    let resp = api
        .send(
            api.request(Method::GET, "/api/public")
                .header("origin", "http://app.example"),
        )
        .await
        .expect(200);
    assert_eq!(
        resp.header("access-control-allow-origin").as_deref(),
        Some("http://app.example")
    );

    // Any other origin is not allowed.
    for origin in ["http://evil.example", "http://app.example.evil", "null"] {
        let resp = preflight(origin).await;
        assert!(
            resp.header("access-control-allow-origin").is_none(),
            "{origin}: {resp:?}"
        );
        let resp = api
            .send(
                api.request(Method::GET, "/api/public")
                    .header("origin", origin),
            )
            .await;
        assert!(
            resp.header("access-control-allow-origin").is_none(),
            "{origin}: {resp:?}"
        );
    }
}
