//! The example resource routes, forward-auth, discovery, health, and
//! the errors of every way a token can be wrong.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssueSettings, NewToken, TokenEngine};

use crate::common::{Server, TestDir, claims, cli, jwt_part};

const PASSWORD: &str = "correct horse battery";

/// `examples = false`: the service's own routes only, and the OpenAPI
/// document says so.
#[tokio::test]
async fn examples_off_leaves_only_the_service_routes() {
    let dir = TestDir::new("examples-off");
    let server = Server::start(&dir, &[("TOKENGATE_EXAMPLES", "false")]);
    let api = server.api();
    api.register("olga", PASSWORD).await.expect(201);
    let login = api.login_ok("olga", PASSWORD).await;
    for path in [
        "/api/public",
        "/api/private",
        "/api/private-scoped",
        "/headers",
        "/api/memos",
        "/api/files",
        "/",
        "/assets/app.js",
    ] {
        api.get_bearer(path, &login.access)
            .await
            .expect_error(404, "not_found");
    }
    api.get_bearer("/auth/verify", &login.access)
        .await
        .expect(200);
    api.get_bearer("/auth/me", &login.access).await.expect(200);
    api.get("/.well-known/jwks.json").await.expect(200);
    api.get("/healthz").await.expect(200);
    api.get("/metrics").await.expect(200);
    let document = api.get("/openapi.json").await.expect(200).json();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/auth/login"), "{paths:?}");
    assert!(paths.contains_key("/auth/verify"), "{paths:?}");
    for example in ["/api/public", "/api/memos", "/api/files", "/headers", "/"] {
        assert!(
            !paths.contains_key(example),
            "{example} documented: {paths:?}"
        );
    }

    // On by default: the quick start has them.
    let dir = TestDir::new("examples-on");
    let server = Server::start(&dir, &[]);
    server.api().get("/api/public").await.expect(200);
    let document = server.api().get("/openapi.json").await.expect(200).json();
    assert!(document["paths"]["/api/memos"].is_object());
}

#[tokio::test]
async fn public_routes_need_no_token() {
    let dir = TestDir::new("public");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let body = api.get("/api/public").await.expect(200).json();
    assert!(body["message"].is_string(), "{body}");
    api.get("/healthz").await.expect(200);
    // An unknown route is a JSON 404, not a bare one.
    api.get("/no/such/route")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn discovery_documents_describe_the_signing_keys() {
    let dir = TestDir::new("discovery");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    let jwks = api.get("/.well-known/jwks.json").await.expect(200).json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{jwks}");
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert!(key["alg"].as_str().is_some_and(|a| !a.is_empty()), "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key.get("d").is_none(), "no private part: {key}");
    }

    let config = api
        .get("/.well-known/openid-configuration")
        .await
        .expect(200)
        .json();
    let issuer = config["issuer"].as_str().expect("issuer");
    assert!(issuer.starts_with("http"), "{config}");
    let jwks_uri = config["jwks_uri"].as_str().expect("jwks_uri");
    assert_eq!(
        jwks_uri,
        format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        "{config}"
    );

    // The service's tokens carry that issuer and a kid from the JWKS.
    api.register_ok("lena", PASSWORD).await;
    let login = api.login_ok("lena", PASSWORD).await;
    assert_eq!(claims(&login.access)["iss"], issuer);
    let header = jwt_part(&login.access, 0);
    assert_eq!(header["kid"], keys[0]["kid"], "{header}");
    assert_eq!(header["alg"], keys[0]["alg"], "{header}");
}

#[tokio::test]
async fn protected_routes_accept_an_access_token() {
    let dir = TestDir::new("protected");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("mallory", PASSWORD).await;
    let login = api.login_ok("mallory", PASSWORD).await;
    let sub = user["id"].to_string();

    let body = api.private(&login.access).await.expect(200).json();
    assert_eq!(body["sub"], sub, "{body}");

    let resp = api.get_bearer("/headers", &login.access).await.expect(200);
    assert_eq!(resp.text(), "Access Granted");

    let resp = api
        .get_bearer("/auth/verify", &login.access)
        .await
        .expect(200);
    assert_eq!(resp.header("x-auth-subject").as_deref(), Some(sub.as_str()));
    assert_eq!(resp.header("x-auth-scopes").as_deref(), Some(""));

    // The scheme is case-insensitive (RFC 7235).
    api.send(
        api.request(Method::GET, "/api/private")
            .header("authorization", format!("bearer {}", login.access)),
    )
    .await
    .expect(200);

    for path in [
        "/api/private",
        "/headers",
        "/auth/verify",
        "/api/private-scoped",
    ] {
        api.get(path).await.expect_missing();
        api.get_bearer(path, &login.refresh)
            .await
            .expect_token_error("wrong_token_type");
    }
}

#[tokio::test]
async fn scoped_route_needs_read_messages_granted_before_login() {
    let dir = TestDir::new("scoped");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("nina", PASSWORD).await;
    let before = api.login_ok("nina", PASSWORD).await;

    let resp = api.get_bearer("/api/private-scoped", &before.access).await;
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    resp.expect_error(403, "insufficient_scope");
    assert!(
        challenge.starts_with(r#"Bearer realm="tokengate""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="read:messages""#),
        "{challenge}"
    );

    let run = cli(&dir, &["user", "grant", "nina", "read:messages"], "").expect_success();
    assert!(run.stdout.contains("read:messages"), "{run:?}");

    // The scopes are in the token: the old one still lacks it.
    api.get_bearer("/api/private-scoped", &before.access)
        .await
        .expect_error(403, "insufficient_scope");
    let after = api.login_ok("nina", PASSWORD).await;
    assert_eq!(claims(&after.access)["scope"], "read:messages");
    let body = api
        .get_bearer("/api/private-scoped", &after.access)
        .await
        .expect(200)
        .json();
    assert!(body["message"].is_string(), "{body}");
    let me = api
        .get_bearer("/auth/me", &after.access)
        .await
        .expect(200)
        .json();
    assert_eq!(me["scopes"], serde_json::json!(["read:messages"]), "{me}");
    let resp = api
        .get_bearer("/auth/verify", &after.access)
        .await
        .expect(200);
    assert_eq!(
        resp.header("x-auth-scopes").as_deref(),
        Some("read:messages")
    );
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_header() {
    let dir = TestDir::new("invalid-header");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a.b.c extra",
        "Token abc.def.ghi",
        "abc.def.ghi",
    ] {
        let resp = api
            .send(
                api.request(Method::GET, "/api/private")
                    .header("authorization", value),
            )
            .await;
        let challenge = resp.header("www-authenticate");
        resp.expect_error(401, "invalid_header");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#),
            "{value:?}"
        );
    }
    // Two Authorization headers are ambiguous.
    api.send(
        api.request(Method::GET, "/api/private")
            .header("authorization", "Bearer a.b.c")
            .header("authorization", "Bearer d.e.f"),
    )
    .await
    .expect_error(401, "invalid_header");
}

#[tokio::test]
async fn garbage_and_forged_tokens_are_refused() {
    let dir = TestDir::new("garbage");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("oscar", PASSWORD).await;
    let login = api.login_ok("oscar", PASSWORD).await;
    let sub = user["id"].to_string();
    let (header, rest) = login.access.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());

    let mut tampered_payload = claims(&login.access);
    tampered_payload["sub"] = "999".into();
    let mut alg_hs256 = jwt_part(&login.access, 0);
    alg_hs256["alg"] = "HS256".into();
    let mut flipped = signature.as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };

    let garbage = [
        "x".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "eyJ.eyJ.sig".to_owned(),
        format!("{header}.{payload}"),
        format!("{header}.{payload}."),
        format!("{header}.{payload}.{}", String::from_utf8(flipped).unwrap()),
        format!("{header}.{}.{signature}", b64(tampered_payload)),
        format!("{}.{payload}.{signature}", b64(alg_hs256)),
        format!(
            "{}.{payload}.",
            b64(serde_json::json!({"alg": "none", "typ": "JWT"}))
        ),
        format!(
            "{}.{payload}.{signature}",
            b64(serde_json::json!({"alg": "none", "typ": "JWT"}))
        ),
        "A".repeat(10_000),
    ];
    for token in &garbage {
        let resp = api.private(token).await;
        let shown: String = token.chars().take(80).collect();
        assert_eq!(resp.status, 401, "{shown}: {resp:?}");
        resp.expect_token_error("invalid_token");
    }

    // Signed by a key the service does not know (same algorithm).
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let issuer = claims(&login.access)["iss"].as_str().unwrap().to_owned();
    let engine = TokenEngine::new(KeyRing::new(stranger))
        .with_settings(IssueSettings::default().issuer(issuer.clone()));
    let forged = engine.issue(NewToken::access(sub.clone())).unwrap().token;
    api.assert_refused(&forged, "invalid_token").await;
    // An HMAC token: the algorithm of the service's key is never chosen by `alg`.
    let hmac = TokenEngine::new(KeyRing::new(
        SigningKey::from_secret(Algorithm::HS256, &[7u8; 32]).unwrap(),
    ))
    .issue(NewToken::access(sub.clone()))
    .unwrap()
    .token;
    api.assert_refused(&hmac, "invalid_token").await;

    // The service's own key, but claims it must refuse.
    let own = dir.service_engine(&issuer);
    let now = tokengate::clock::now().as_secs();
    let expired = own
        .issue(NewToken {
            issued_at: Some(now - 3600),
            ttl: Some(Duration::from_secs(60)),
            ..NewToken::access(sub.clone())
        })
        .unwrap()
        .token;
    api.assert_refused(&expired, "token_expired").await;
    let not_yet = own
        .issue(NewToken {
            issued_at: Some(now + 3600),
            ..NewToken::access(sub.clone())
        })
        .unwrap()
        .token;
    api.assert_refused(&not_yet, "invalid_token").await;
    let other_issuer = dir
        .service_engine("https://evil.example/")
        .issue(NewToken::access(sub.clone()))
        .unwrap()
        .token;
    api.assert_refused(&other_issuer, "invalid_claims").await;
    // A well-formed token of the service's own key and issuer is accepted:
    // the refusals above are about the one claim that differs.
    let good = own.issue(NewToken::access(sub)).unwrap().token;
    api.assert_valid(&good).await;
    api.assert_valid(&login.access).await;
}
