//! `GET /auth/verify` asked directly, as a proxy would (the proxies
//! themselves are in `forward_auth`): the original request's method decides
//! the CSRF rule, the query's scope, role and issuer rules, and the
//! identity headers. Also the holes found beside it: the registration
//! limit, CORS without origins, and the discovery document.

use reqwest::Method;
use serde_json::json;

use crate::common::{Server, SetCookie, TestDir, cli};

const PASSWORD: &str = "correct horse battery";

/// The cookies of a browser session: (access cookie, its CSRF value).
async fn browser_session(server: &Server, name: &str) -> (SetCookie, String) {
    let api = server.api();
    api.register_ok(name, PASSWORD).await;
    let resp = api
        .post_json(
            "/auth/session",
            &json!({"username": name, "password": PASSWORD}),
        )
        .await
        .expect(200);
    let csrf = resp.cookie("csrf_access_token").value;
    (resp.cookie("access_token_cookie"), csrf)
}

/// `GET /auth/verify` with the session cookie and the given headers.
async fn verify_with_cookie(
    server: &Server,
    cookie: &SetCookie,
    headers: &[(&str, &str)],
) -> crate::common::Resp {
    let api = server.api();
    let mut request = api
        .request(Method::GET, "/auth/verify")
        .header("cookie", cookie.pair());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    api.send(request).await
}

/// The bypass this suite exists for: a cookie session, a forwarded POST or
/// DELETE without the CSRF header, was answered 200. Now it is refused
/// exactly as a direct POST is.
#[tokio::test]
async fn a_cookie_on_a_forwarded_state_changing_request_needs_csrf() {
    let dir = TestDir::new("verify-csrf");
    let server = Server::start(&dir, &[]);
    let (cookie, csrf) = browser_session(&server, "carol").await;

    // The direct request's answer, for comparison.
    let direct = server
        .api()
        .send(
            server
                .api()
                .request(Method::POST, "/api/memos")
                .header("cookie", cookie.pair())
                .json(&json!({"title": "t", "body": "b"})),
        )
        .await;
    let direct_body = direct.json();
    direct.expect_token_error("csrf_failed");

    for method_header in ["X-Forwarded-Method", "X-Original-Method"] {
        for method in ["POST", "DELETE", "PUT", "PATCH", "PROPFIND", "get"] {
            let resp = verify_with_cookie(&server, &cookie, &[(method_header, method)]).await;
            assert_eq!(resp.json(), direct_body, "{method_header}: {method}");
            resp.expect_token_error("csrf_failed");
            // With the double submit, it passes.
            verify_with_cookie(
                &server,
                &cookie,
                &[(method_header, method), ("X-CSRF-TOKEN", &csrf)],
            )
            .await
            .expect(200);
        }
        for safe in ["GET", "HEAD", "OPTIONS"] {
            verify_with_cookie(&server, &cookie, &[(method_header, safe)])
                .await
                .expect(200);
        }
    }

    // Unknown: no header at all, fail closed.
    verify_with_cookie(&server, &cookie, &[])
        .await
        .expect_token_error("csrf_failed");
    // A client's own GET next to the proxy's POST, in either header.
    for headers in [
        [("X-Forwarded-Method", "GET"), ("X-Original-Method", "POST")],
        [("X-Original-Method", "POST"), ("X-Forwarded-Method", "GET")],
        [
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Method", "GET"),
        ],
    ] {
        verify_with_cookie(&server, &cookie, &headers)
            .await
            .expect_token_error("csrf_failed");
    }
    // A wrong CSRF value is refused too.
    verify_with_cookie(
        &server,
        &cookie,
        &[("X-Forwarded-Method", "POST"), ("X-CSRF-TOKEN", "wrong")],
    )
    .await
    .expect_token_error("csrf_failed");

    // A bearer token needs no CSRF, whatever the method.
    let api = server.api();
    let login = api.login_ok("carol", PASSWORD).await;
    for headers in [vec![], vec![("X-Forwarded-Method", "DELETE")]] {
        let mut request = api
            .request(Method::GET, "/auth/verify")
            .bearer_auth(&login.access);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        api.send(request).await.expect(200);
    }
}

#[tokio::test]
async fn scope_role_and_issuer_rules_with_identity_headers() {
    let dir = TestDir::new("verify-rules");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("rita", PASSWORD).await;
    let sub = user["id"].to_string();
    let before = api.login_ok("rita", PASSWORD).await;

    let ok = api
        .get_bearer("/auth/verify", &before.access)
        .await
        .expect(200);
    // No body: nginx keeps its upstream connection only then.
    assert_eq!(ok.header("content-length").as_deref(), Some("0"));
    assert!(ok.text().is_empty());
    assert_eq!(ok.header("x-auth-subject"), Some(sub.clone()));
    // Every identity header is present, empty when there is nothing to say,
    // so a proxy copying them overwrites what a client sent.
    assert_eq!(ok.header("x-auth-scopes").as_deref(), Some(""));
    assert_eq!(ok.header("x-auth-roles").as_deref(), Some(""));
    let issuer = ok.header("x-auth-issuer").expect("x-auth-issuer");
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");

    let resp = api
        .get_bearer("/auth/verify?role=admin", &before.access)
        .await;
    assert_eq!(resp.header("x-auth-subject"), None, "no identity on a 403");
    resp.expect_error(403, "insufficient_role");
    api.get_bearer("/auth/verify?scope=reports:read", &before.access)
        .await
        .expect_error(403, "insufficient_scope");

    cli(&dir, &["user", "grant-role", "rita", "admin"], "").expect_success();
    cli(&dir, &["user", "grant", "rita", "reports:read"], "").expect_success();
    let list = cli(&dir, &["user", "list"], "").expect_success();
    assert!(
        list.stdout.contains("rita\treports:read\tadmin"),
        "{list:?}"
    );
    // The old token keeps what it was issued with.
    api.get_bearer("/auth/verify?role=admin", &before.access)
        .await
        .expect_error(403, "insufficient_role");
    let after = api.login_ok("rita", PASSWORD).await;
    assert_eq!(
        crate::common::claims(&after.access)["roles"],
        json!(["admin"])
    );
    let resp = api
        .get_bearer(
            "/auth/verify?role=admin&scope=reports:read&issuer=self",
            &after.access,
        )
        .await
        .expect(200);
    assert_eq!(resp.header("x-auth-roles").as_deref(), Some("admin"));
    assert_eq!(
        resp.header("x-auth-scopes").as_deref(),
        Some("reports:read")
    );
    // Repeated and space-separated requirements all hold.
    api.get_bearer("/auth/verify?role=admin&role=ops", &after.access)
        .await
        .expect_error(403, "insufficient_role");
    api.get_bearer("/auth/verify?role=admin%20ops", &after.access)
        .await
        .expect_error(403, "insufficient_role");
    // A refresh keeps the roles (the user is loaded again).
    let refreshed = api.refresh_ok(&after.refresh).await;
    api.get_bearer("/auth/verify?role=admin", &refreshed.access)
        .await
        .expect(200);
    // /auth/me says so.
    let me = api
        .get_bearer("/auth/me", &after.access)
        .await
        .expect(200)
        .json();
    assert_eq!(me["roles"], json!(["admin"]), "{me}");

    // Another issuer than this service's.
    api.get_bearer(
        "/auth/verify?issuer=https%3A%2F%2Fidp.example%2F",
        &after.access,
    )
    .await
    .expect_token_error("invalid_claims");
    // A typo must not let every token through.
    for query in [
        "?scopes=admin",
        "?role=admin&rol=x",
        "?issuer=self&issuer=x",
    ] {
        api.get_bearer(&format!("/auth/verify{query}"), &after.access)
            .await
            .expect_error(400, "invalid_request");
    }
    // A role cannot be granted with a space (the header is space-separated).
    let run = cli(&dir, &["user", "grant-role", "rita", "a b"], "");
    assert_eq!(run.code, 2, "{run:?}");
    let run = cli(&dir, &["user", "grant-role", "nobody", "admin"], "");
    assert!(run.stderr.contains("no user named nobody"), "{run:?}");
}

#[tokio::test]
async fn registration_is_limited_per_client_address() {
    let dir = TestDir::new("register-rate");
    let server = Server::start(
        &dir,
        &[
            ("TOKENGATE_REGISTRATION_RATE", "3/min"),
            ("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let api = server.api();
    let register = |name: String, from: &'static str| {
        api.send(
            api.request(Method::POST, "/auth/register")
                .header("x-forwarded-for", from)
                .json(&json!({"username": name, "password": PASSWORD})),
        )
    };
    register("user1".into(), "192.0.2.1").await.expect(201);
    // A taken name and a short password count as attempts too.
    register("user1".into(), "192.0.2.1")
        .await
        .expect_error(409, "username_taken");
    api.send(
        api.request(Method::POST, "/auth/register")
            .header("x-forwarded-for", "192.0.2.1")
            .json(&json!({"username": "user2", "password": "short"})),
    )
    .await
    .expect(400);
    let refused = register("user3".into(), "192.0.2.1").await;
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    refused.expect_error(429, "rate_limited");
    // Another address is not affected; logins are not either.
    register("user4".into(), "192.0.2.2").await.expect(201);
    api.login_ok("user1", PASSWORD).await;
}

#[tokio::test]
async fn no_cors_headers_without_a_configured_origin() {
    let dir = TestDir::new("cors-none");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    for request in [
        api.request(Method::OPTIONS, "/auth/session")
            .header("origin", "http://evil.example")
            .header("access-control-request-method", "POST"),
        api.request(Method::GET, "/api/public")
            .header("origin", "http://evil.example"),
    ] {
        let resp = api.send(request).await;
        for name in [
            "access-control-allow-credentials",
            "access-control-allow-origin",
            "access-control-allow-methods",
        ] {
            assert_eq!(resp.header(name), None, "{name}: {resp:?}");
        }
    }
}

#[tokio::test]
async fn discovery_names_only_what_exists() {
    let dir = TestDir::new("discovery");
    let server = Server::start(&dir, &[("TOKENGATE_ISSUER", "https://auth.example")]);
    let config = server
        .api()
        .get("/.well-known/openid-configuration")
        .await
        .expect(200)
        .json();
    assert_eq!(
        config,
        json!({
            "issuer": "https://auth.example",
            "jwks_uri": "https://auth.example/.well-known/jwks.json",
            "access_token_signing_alg_values_supported": ["ES256"],
            "introspection_endpoint": "https://auth.example/auth/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": "https://auth.example/auth/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256"],
        })
    );
}
