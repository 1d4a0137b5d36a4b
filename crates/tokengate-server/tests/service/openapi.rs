//! `GET /openapi.json`: an OpenAPI 3.1 document that describes
//! exactly the routes the service serves, each with the answers it gives.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::common::{Resp, Server, TestDir};

/// Every route the service serves (the `routes!` of
/// `src/service/*.rs`). A route added there must be added here.
const SERVED: &[(&str, &str)] = &[
    // Bearer clients.
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("DELETE", "/auth/logout"),
    ("POST", "/auth/logout-all"),
    ("POST", "/auth/password"),
    ("GET", "/auth/me"),
    // Browser sessions.
    ("POST", "/auth/session"),
    ("DELETE", "/auth/session"),
    ("POST", "/auth/session/refresh"),
    ("GET", "/auth/status"),
    // Sessions (logins).
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{id}"),
    // Passkeys.
    ("POST", "/auth/passkeys/register/start"),
    ("POST", "/auth/passkeys/register/finish"),
    ("GET", "/auth/passkeys"),
    ("DELETE", "/auth/passkeys/{id}"),
    ("POST", "/auth/passkeys/login/start"),
    ("POST", "/auth/passkeys/login/finish"),
    ("POST", "/auth/register/passkey/start"),
    ("POST", "/auth/register/passkey/finish"),
    // OAuth clients (`[[clients]]`).
    ("POST", "/auth/introspect"),
    ("POST", "/auth/revoke"),
    // OpenID login.
    ("GET", "/auth/oidc"),
    ("GET", "/auth/oidc/{name}/login"),
    ("GET", "/auth/oidc/{name}/callback"),
    ("GET", "/auth/oidc/{name}/logout"),
    // Keys and discovery.
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    // Resources.
    ("GET", "/api/public"),
    ("GET", "/api/private"),
    ("GET", "/api/private-scoped"),
    ("GET", "/headers"),
    ("GET", "/auth/verify"),
    ("GET", "/api/memos"),
    ("POST", "/api/memos"),
    ("PUT", "/api/memos/{id}"),
    ("DELETE", "/api/memos/{id}"),
    ("GET", "/api/files"),
    ("POST", "/api/files/{name}/link"),
    ("GET", "/files/{name}"),
    // The demo page.
    ("GET", "/"),
    ("GET", "/assets/app.js"),
    ("GET", "/assets/app.css"),
    // Operations.
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// The (METHOD, path) of every operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item");
            methods
                .keys()
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

/// `path` with plausible values for its parameters.
fn fill(path: &str) -> String {
    path.replace("{id}", "1").replace("{name}", "tokengate.png")
}

/// Whether `resp` is the router's own answer for a route it does not have.
fn is_fallback(resp: &Resp) -> bool {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let msg = body["msg"].as_str().unwrap_or("");
    (resp.status == 404 && body["code"] == "not_found" && msg == "no such route")
        || (resp.status == 405 && msg == "method not allowed on this route")
}

/// Whether the operation always needs a token: it has security
/// requirements, none of them empty (an empty one means "or nothing").
fn needs_token(operation: &Value) -> bool {
    operation["security"].as_array().is_some_and(|reqs| {
        !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| r.as_object().is_some_and(|r| !r.is_empty()))
    })
}

#[tokio::test]
async fn the_document_describes_exactly_the_served_routes() {
    let dir = TestDir::new("openapi");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    let resp = api.get("/openapi.json").await.expect(200);
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("application/json"),
        "{resp:?}"
    );
    let doc = resp.json();
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1"), "{version}");

    // Every served route is documented, and nothing else is.
    let documented = operations(&doc);
    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    let unknown: Vec<_> = documented.difference(&served).collect();
    assert!(unknown.is_empty(), "documented, not in SERVED: {unknown:?}");

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for name in ["bearer", "access_cookie", "refresh_cookie", "csrf"] {
        assert!(schemes.contains_key(name), "no {name} scheme: {schemes:?}");
    }
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["access_cookie"]["in"], "cookie");
    assert_eq!(schemes["access_cookie"]["name"], "access_token_cookie");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-TOKEN");

    // Each documented operation exists, and answers a request without a
    // token (and without a body) with one of its documented statuses.
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method.to_ascii_lowercase()];
        let what = format!("{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        let request = api.request(Method::from_bytes(method.as_bytes()).unwrap(), &fill(path));
        let resp = api.send(request).await;
        assert!(!is_fallback(&resp), "{what} is not a route: {resp:?}");
        assert!(
            responses.contains_key(&resp.status.to_string()),
            "{what} answered an undocumented {}: {resp:?}",
            resp.status
        );
        if needs_token(operation) {
            assert!(responses.contains_key("401"), "{what}: no 401 documented");
            resp.expect_error(401, "authorization_header_missing");
        }
        // Every failure answer refers to the `{"code","msg"}` body.
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let text = response.to_string();
                assert!(
                    text.contains("#/components/responses/") || text.contains("ErrorBody"),
                    "{what} {status}: {text}"
                );
            }
        }
    }

    // The scoped route names its scope, and the scope error is documented.
    let scoped = &doc["paths"]["/api/private-scoped"]["get"];
    assert_eq!(
        scoped["security"][0]["bearer"][0], "read:messages",
        "{scoped}"
    );
    assert!(scoped["responses"]["403"].is_object(), "{scoped}");
    // State-changing routes name the CSRF header with the cookie.
    let create = &doc["paths"]["/api/memos"]["post"];
    assert!(
        create["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("access_cookie").is_some() && r.get("csrf").is_some()),
        "{create}"
    );
}
