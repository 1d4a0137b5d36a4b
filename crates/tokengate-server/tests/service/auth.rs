//! Bearer clients: register, login, refresh, logout, logout-all,
//! password change, me.

use reqwest::Method;
use serde_json::json;

use crate::common::{Server, TestDir, claims};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn register_answers_201_and_refuses_a_taken_name_in_any_case() {
    let dir = TestDir::new("register-taken");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    let body = api.register_ok("Alice.B-1_x", PASSWORD).await;
    assert_eq!(body["username"], "Alice.B-1_x", "{body}");
    assert!(body["id"].is_i64(), "{body}");
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());

    for taken in ["Alice.B-1_x", "alice.b-1_x", "ALICE.B-1_X"] {
        api.register(taken, "another password")
            .await
            .expect_error(409, "username_taken");
    }
    // The name as first registered logs in, in any case.
    api.login_ok("aLiCe.b-1_X", PASSWORD).await;
}

#[tokio::test]
async fn register_validates_the_body_and_names_the_field() {
    let dir = TestDir::new("register-validation");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    let long_name = "a".repeat(65);
    for name in [
        "ab",
        "",
        long_name.as_str(),
        "has space",
        "slash/name",
        " alice",
        "semi;colon",
    ] {
        let msg = api
            .register(name, PASSWORD)
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("username"), "{name:?}: {msg}");
    }

    let too_long = "p".repeat(1025);
    // 513 characters, 1026 bytes: the limit is in bytes.
    let too_long_utf8 = "é".repeat(513);
    for password in ["1234567", "", too_long.as_str(), too_long_utf8.as_str()] {
        let msg = api
            .register("carol", password)
            .await
            .expect_error(400, "invalid_request");
        assert!(msg.contains("password"), "{} bytes: {msg}", password.len());
    }

    let post = |body: &'static str, content_type: &'static str| {
        api.send(
            api.request(Method::POST, "/auth/register")
                .header("content-type", content_type)
                .body(body),
        )
    };
    let msg = post(r#"{"username":"carol"}"#, "application/json")
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("password"), "{msg}");
    let msg = post(r#"{"password":"long enough"}"#, "application/json")
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("username"), "{msg}");
    let msg = post(
        r#"{"username":"carol","password":12345678}"#,
        "application/json",
    )
    .await
    .expect_error(400, "invalid_request");
    assert!(msg.contains("password"), "{msg}");
    for malformed in [
        r#"{"username": "carol", "password": "#,
        "",
        "[]",
        "null",
        "not json",
    ] {
        post(malformed, "application/json")
            .await
            .expect_error(400, "invalid_request");
    }
    let msg = post(
        r#"{"username":"carol","password":"long enough"}"#,
        "text/plain",
    )
    .await
    .expect_error(400, "invalid_request");
    assert!(msg.to_lowercase().contains("content-type"), "{msg}");
    post(
        r#"{"username":"carol","password":"long enough"}"#,
        "application/x-www-form-urlencoded",
    )
    .await
    .expect_error(400, "invalid_request");

    // Nothing above created carol.
    api.login("carol", "long enough")
        .await
        .expect_error(401, "invalid_credentials");

    // The boundaries are accepted: 3 and 64 characters, 8 characters, 1024 bytes.
    let name64 = format!("{}.-_9", "Z".repeat(60));
    let password1024 = "q".repeat(1024);
    api.register_ok(&name64, &password1024).await;
    api.register_ok("abc", "12345678").await;
    api.login_ok(&name64, &password1024).await;
}

#[tokio::test]
async fn registration_closed_by_configuration() {
    let dir = TestDir::new("register-closed");
    let server = Server::start(&dir, &[("TOKENGATE_REGISTRATION", "closed")]);
    let api = server.api();
    api.register("dave", PASSWORD)
        .await
        .expect_error(403, "registration_closed");
    api.login("dave", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn login_answers_a_fresh_bearer_pair() {
    let dir = TestDir::new("login");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("erin", PASSWORD).await;

    let resp = api.login("erin", PASSWORD).await.expect(200);
    let body = resp.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "token_type"],
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);

    let access = claims(body["access_token"].as_str().unwrap());
    let refresh = claims(body["refresh_token"].as_str().unwrap());
    assert_eq!(access["type"], "access", "{access}");
    assert_eq!(access["fresh"], true, "{access}");
    assert_eq!(access["sub"], user["id"].to_string(), "{access}");
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(refresh["type"], "refresh", "{refresh}");
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        30 * 24 * 3600
    );
    assert_ne!(access["jti"], refresh["jti"]);
    api.assert_valid(body["access_token"].as_str().unwrap())
        .await;

    api.login("erin", "wrong password")
        .await
        .expect_error(401, "invalid_credentials");
    api.login("nobody", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_login() {
    let dir = TestDir::new("refresh");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("frank", PASSWORD).await;
    let first = api.login_ok("frank", PASSWORD).await;
    let other_login = api.login_ok("frank", PASSWORD).await;

    // An access token is not a refresh token.
    api.refresh(&first.access)
        .await
        .expect_token_error("wrong_token_type");
    // ...and the reverse.
    api.private(&first.refresh)
        .await
        .expect_token_error("wrong_token_type");
    api.post_json("/auth/refresh", &json!({}))
        .await
        .expect_missing();

    let second = api.refresh_ok(&first.refresh).await;
    assert_ne!(second.access, first.access);
    assert_ne!(second.refresh, first.refresh);
    let second_claims = claims(&second.access);
    assert_eq!(second_claims["fresh"], false, "{second_claims}");
    assert_eq!(second_claims["sub"], claims(&first.access)["sub"]);
    api.assert_valid(&second.access).await;
    let third = api.refresh_ok(&second.refresh).await;
    api.assert_valid(&third.access).await;

    // The spent first refresh token again: reuse; the whole login is revoked.
    api.refresh(&first.refresh)
        .await
        .expect_token_error("token_revoked");
    for access in [&first.access, &second.access, &third.access] {
        api.assert_refused(access, "token_revoked").await;
    }
    api.refresh(&third.refresh)
        .await
        .expect_token_error("token_revoked");
    api.refresh(&second.refresh)
        .await
        .expect_token_error("token_revoked");

    // Another login of the same user is untouched.
    api.assert_valid(&other_login.access).await;
    let next = api.refresh_ok(&other_login.refresh).await;
    api.assert_valid(&next.access).await;
}

#[tokio::test]
async fn logout_with_either_token_revokes_both() {
    let dir = TestDir::new("logout");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("grace", PASSWORD).await;
    let by_access = api.login_ok("grace", PASSWORD).await;
    let by_refresh = api.login_ok("grace", PASSWORD).await;
    let untouched = api.login_ok("grace", PASSWORD).await;

    // POST with the access token.
    let body = api
        .post_bearer("/auth/logout", &by_access.access, None)
        .await
        .expect(200)
        .json();
    assert!(body["msg"].is_string(), "{body}");
    api.assert_refused(&by_access.access, "token_revoked").await;
    api.refresh(&by_access.refresh)
        .await
        .expect_token_error("token_revoked");

    // DELETE with the refresh token.
    api.send(
        api.request(Method::DELETE, "/auth/logout")
            .bearer_auth(&by_refresh.refresh),
    )
    .await
    .expect(200);
    api.refresh(&by_refresh.refresh)
        .await
        .expect_token_error("token_revoked");
    api.assert_refused(&by_refresh.access, "token_revoked")
        .await;

    // A logged-out token cannot log out again; no token is no logout.
    api.post_bearer("/auth/logout", &by_access.access, None)
        .await
        .expect_token_error("token_revoked");
    api.send(api.request(Method::POST, "/auth/logout"))
        .await
        .expect_missing();
    api.send(api.request(Method::DELETE, "/auth/logout"))
        .await
        .expect_missing();

    api.assert_valid(&untouched.access).await;
    api.refresh_ok(&untouched.refresh).await;
}

#[tokio::test]
async fn logout_all_revokes_earlier_tokens_only() {
    let dir = TestDir::new("logout-all");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("heidi", PASSWORD).await;
    api.register_ok("ivan", PASSWORD).await;
    let a = api.login_ok("heidi", PASSWORD).await;
    let b = api.login_ok("heidi", PASSWORD).await;
    let bystander = api.login_ok("ivan", PASSWORD).await;

    // A refresh token is not enough.
    api.post_bearer("/auth/logout-all", &b.refresh, None)
        .await
        .expect_token_error("wrong_token_type");
    api.post_bearer("/auth/logout-all", &a.access, None)
        .await
        .expect(200);
    // A login right after (possibly within the same second) stays valid.
    let after = api.login_ok("heidi", PASSWORD).await;

    for access in [&a.access, &b.access] {
        api.assert_refused(access, "token_revoked").await;
    }
    for refresh in [&a.refresh, &b.refresh] {
        api.refresh(refresh)
            .await
            .expect_token_error("token_revoked");
    }
    api.assert_valid(&after.access).await;
    let next = api.refresh_ok(&after.refresh).await;
    api.assert_valid(&next.access).await;
    // Only heidi's tokens.
    api.assert_valid(&bystander.access).await;
}

#[tokio::test]
async fn password_change_needs_a_fresh_token_and_revokes_everything_before() {
    let dir = TestDir::new("password");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("judy", PASSWORD).await;
    let login = api.login_ok("judy", PASSWORD).await;
    let refreshed = api.refresh_ok(&login.refresh).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    // A refreshed access token is not fresh.
    api.post_bearer(
        "/auth/password",
        &refreshed.access,
        Some(&change(PASSWORD, "a new password")),
    )
    .await
    .expect_token_error("fresh_token_required");
    api.post_bearer(
        "/auth/password",
        &login.refresh,
        Some(&change(PASSWORD, "a new password")),
    )
    .await
    .expect_token_error("wrong_token_type");
    api.post_json("/auth/password", &change(PASSWORD, "a new password"))
        .await
        .expect_missing();
    api.post_bearer(
        "/auth/password",
        &login.access,
        Some(&change("not my password", "a new password")),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let msg = api
        .post_bearer(
            "/auth/password",
            &login.access,
            Some(&change(PASSWORD, "short")),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(msg.contains("new_password"), "{msg}");
    api.post_bearer(
        "/auth/password",
        &login.access,
        Some(&json!({"current_password": PASSWORD})),
    )
    .await
    .expect_error(400, "invalid_request");
    // Nothing above changed anything.
    api.assert_valid(&login.access).await;

    let resp = api
        .post_bearer(
            "/auth/password",
            &login.access,
            Some(&change(PASSWORD, "a new password")),
        )
        .await
        .expect(200);
    let new = crate::common::pair(&resp.json());
    assert_eq!(resp.json()["expires_in"], 900);
    api.assert_valid(&new.access).await;
    for old in [&login.access, &refreshed.access] {
        api.assert_refused(old, "token_revoked").await;
    }
    api.refresh(&refreshed.refresh)
        .await
        .expect_token_error("token_revoked");
    api.refresh_ok(&new.refresh).await;

    api.login("judy", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    api.login_ok("judy", "a new password").await;
}

#[tokio::test]
async fn me_describes_the_token_user() {
    let dir = TestDir::new("me");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("kim", PASSWORD).await;
    let login = api.login_ok("kim", PASSWORD).await;

    let me = api
        .get_bearer("/auth/me", &login.access)
        .await
        .expect(200)
        .json();
    assert_eq!(me["id"], user["id"], "{me}");
    assert_eq!(me["username"], "kim", "{me}");
    assert_eq!(me["scopes"], json!([]), "{me}");

    api.get("/auth/me").await.expect_missing();
    api.get_bearer("/auth/me", &login.refresh)
        .await
        .expect_token_error("wrong_token_type");
    api.get_bearer("/auth/me", "not-a-token")
        .await
        .expect_token_error("invalid_token");
}

/// `token_locations` with `json`: a token in a JSON body is found (the
/// service installs the body-reading middleware only then).
#[tokio::test]
async fn a_token_in_a_json_body_counts_when_configured() {
    let dir = TestDir::new("json-location");
    let server = Server::start(&dir, &[("TOKENGATE_TOKEN_LOCATIONS", "headers,json")]);
    let api = server.api();
    api.register_ok("jason", PASSWORD).await;
    let pair = api.login_ok("jason", PASSWORD).await;
    let resp = api
        .send(
            api.request(Method::POST, "/auth/logout")
                .json(&json!({"access_token": pair.access})),
        )
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    api.assert_refused(&pair.access, "token_revoked").await;

    // Without the json location the same body is not looked at.
    let dir = TestDir::new("json-location-off");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("jason", PASSWORD).await;
    let pair = api.login_ok("jason", PASSWORD).await;
    api.send(
        api.request(Method::POST, "/auth/logout")
            .json(&json!({"access_token": pair.access})),
    )
    .await
    .expect_error(401, "authorization_header_missing");
}
