//! Passkeys (WebAuthn) against the real service, with a software
//! authenticator (crates/tokengate/tests/support/soft_authenticator.rs: an
//! aws-lc-rs ES256 key, attestation `none`) playing the browser: register,
//! list, log in (a token pair and a browser session), the login among the
//! sessions, remove with a fresh token; a login without a username; an
//! account without a password; and what must be refused: an expired or
//! replayed challenge, another origin or relying party, a tampered
//! `clientDataJSON`, another user's passkey, a counter going backwards, a
//! disabled user, garbage bodies. And `tokengate user passkeys`.

#[path = "../../../tokengate/tests/support/soft_authenticator.rs"]
mod soft_authenticator;

use reqwest::Method;
use serde_json::{Value, json};
use soft_authenticator::{SoftAuthenticator, tamper_client_data};

use crate::common::{Api, Pair, Resp, Server, TestDir, cli, pair};

const PASSWORD: &str = "correct horse battery";

/// The origin the service is told browsers use (the default,
/// `http://localhost:{port of listen}`, would name port 0 here).
const ORIGIN: &str = "http://localhost:8080";

const ENV: [(&str, &str); 1] = [("TOKENGATE_WEBAUTHN_ORIGIN", ORIGIN)];

fn start(dir: &TestDir) -> Server {
    Server::start(dir, &ENV)
}

/// `POST path` with a bearer token and a JSON body.
async fn post(api: &Api, path: &str, token: &str, body: &Value) -> Resp {
    api.post_bearer(path, token, Some(body)).await
}

/// Registers a passkey of `authenticator` named `name` for the holder of
/// `access`: 201, its id.
async fn add_passkey(
    api: &Api,
    access: &str,
    authenticator: &mut SoftAuthenticator,
    name: &str,
) -> String {
    let options = api
        .post_bearer("/auth/passkeys/register/start", access, None)
        .await
        .expect(200)
        .json();
    let credential = authenticator.register(&options);
    let body = json!({"name": name, "credential": credential});
    let added = post(api, "/auth/passkeys/register/finish", access, &body)
        .await
        .expect(201)
        .json();
    assert_eq!(
        added,
        json!({"id": authenticator.id(), "name": name.trim()})
    );
    authenticator.id()
}

/// `POST /auth/passkeys/login/start` with `body` (none: no body at all).
async fn login_options(api: &Api, body: Option<Value>) -> Value {
    let request = api.request(Method::POST, "/auth/passkeys/login/start");
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    api.send(request).await.expect(200).json()
}

/// `POST /auth/passkeys/login/finish` with the credential.
async fn finish_login(api: &Api, credential: &Value) -> Resp {
    api.post_json(
        "/auth/passkeys/login/finish",
        &json!({"credential": credential}),
    )
    .await
}

/// A whole login of `username` (none: without one) with `authenticator`.
async fn passkey_login(
    api: &Api,
    username: Option<&str>,
    authenticator: &mut SoftAuthenticator,
) -> Resp {
    let body = username.map(|name| json!({"username": name}));
    let options = login_options(api, body).await;
    finish_login(api, &authenticator.assert(&options)).await
}

async fn passkeys(api: &Api, access: &str) -> Vec<Value> {
    let body = api
        .get_bearer("/auth/passkeys", access)
        .await
        .expect(200)
        .json();
    let list = body["passkeys"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    for passkey in &list {
        let keys: Vec<&str> = passkey
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{passkey}");
        for key in ["id", "name", "created_at", "last_used_at"] {
            assert!(keys.contains(&key), "{passkey}");
        }
        assert!(
            passkey["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{passkey}"
        );
    }
    list
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|p| p["id"].as_str().unwrap()).collect()
}

async fn user_with_password(api: &Api, name: &str) -> Pair {
    api.register_ok(name, PASSWORD).await;
    api.login_ok(name, PASSWORD).await
}

#[tokio::test]
async fn register_list_log_in_see_the_session_and_remove() {
    let dir = TestDir::new("passkeys-flow");
    let server = start(&dir);
    let api = server.api().clone();
    let alice = user_with_password(&api, "alice").await;
    let mut laptop = SoftAuthenticator::new(ORIGIN);
    let mut phone = SoftAuthenticator::new(ORIGIN);

    assert!(passkeys(&api, &alice.access).await.is_empty());
    let laptop_id = add_passkey(&api, &alice.access, &mut laptop, " laptop ").await;
    // The next registration excludes the passkey Alice has.
    let options = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        laptop_id
    );
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(options["publicKey"]["user"]["name"], "alice");
    let credential = phone.register(&options);
    let phone_id = post(
        &api,
        "/auth/passkeys/register/finish",
        &alice.access,
        &json!({"name": "phone", "credential": credential}),
    )
    .await
    .expect(201)
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same credential again (a replayed finish, or a new start): refused.
    post(
        &api,
        "/auth/passkeys/register/finish",
        &alice.access,
        &json!({"name": "phone", "credential": credential}),
    )
    .await
    .expect_error(400, "invalid_request");
    let again = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    // (webauthn-rs refuses a credential the options excluded.)
    post(
        &api,
        "/auth/passkeys/register/finish",
        &alice.access,
        &json!({"name": "phone again", "credential": phone.register(&again)}),
    )
    .await
    .expect_error(400, "invalid_request");

    let list = passkeys(&api, &alice.access).await;
    assert_eq!(
        ids(&list),
        [phone_id.as_str(), laptop_id.as_str()],
        "newest first"
    );
    assert_eq!(list[1]["name"], "laptop");
    assert!(list.iter().all(|p| p["last_used_at"].is_null()));

    // A login with a username lists both; a token pair as /auth/login's.
    let options = login_options(&api, Some(json!({"username": "ALICE"}))).await;
    let allowed: Vec<&str> = options["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed.len(), 2, "{options}");
    assert!(allowed.contains(&laptop_id.as_str()) && allowed.contains(&phone_id.as_str()));
    let body = finish_login(&api, &laptop.assert(&options))
        .await
        .expect(200)
        .json();
    let by_passkey = pair(&body);
    assert!(body["expires_in"].as_i64().is_some_and(|s| s > 0), "{body}");
    let me = api
        .get_bearer("/auth/me", &by_passkey.access)
        .await
        .expect(200)
        .json();
    assert_eq!(me["username"], "alice");
    let list = passkeys(&api, &alice.access).await;
    assert!(list[1]["last_used_at"].is_string(), "{list:?}");
    assert!(list[0]["last_used_at"].is_null(), "{list:?}");

    // The login is a session with method passkey.
    let sessions = api
        .get_bearer("/auth/sessions", &by_passkey.access)
        .await
        .expect(200)
        .json();
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("{sessions}"))
        .clone();
    assert_eq!(current["method"], "passkey", "{current}");
    assert!(current.get("provider").is_none(), "{current}");

    // With "session": the browser-session cookies, as /auth/session sets them.
    let options = login_options(&api, None).await;
    let resp = api
        .post_json(
            "/auth/passkeys/login/finish",
            &json!({"credential": phone.assert(&options), "session": true}),
        )
        .await
        .expect(200);
    let body = resp.json();
    assert_eq!(body["username"], "alice", "{body}");
    assert!(
        body.get("access_token").is_none(),
        "no token in the body: {body}"
    );
    let access = resp.cookie("access_token_cookie");
    assert!(access.has("HttpOnly"), "{access:?}");
    let cookies = ["access_token_cookie", "csrf_access_token"]
        .map(|name| resp.cookie(name).pair())
        .join("; ");
    let status = api
        .send(
            api.request(Method::GET, "/auth/status")
                .header("cookie", &cookies),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(status["username"], "alice");
    // A cookie session needs its CSRF header to start a registration.
    let csrf = resp.cookie("csrf_access_token").value;
    let without = api
        .request(Method::POST, "/auth/passkeys/register/start")
        .header("cookie", &cookies);
    api.send(without).await.expect_token_error("csrf_failed");
    let with = api
        .request(Method::POST, "/auth/passkeys/register/start")
        .header("cookie", &cookies)
        .header("x-csrf-token", csrf);
    api.send(with).await.expect(200);

    // Removing needs a fresh token: a refreshed one is refused.
    let refreshed = api.refresh_ok(&by_passkey.refresh).await;
    let path = format!("/auth/passkeys/{laptop_id}");
    api.send(
        api.request(Method::DELETE, &path)
            .bearer_auth(&refreshed.access),
    )
    .await
    .expect_token_error("fresh_token_required");
    // Another user's passkey and an unknown one: the same 404.
    let bob = user_with_password(&api, "bob").await;
    // Alice's passkey for Bob too: one credential, one owner.
    let options = api
        .post_bearer("/auth/passkeys/register/start", &bob.access, None)
        .await
        .expect(200)
        .json();
    let alices_handle = phone.user_handle.clone();
    let msg = post(
        &api,
        "/auth/passkeys/register/finish",
        &bob.access,
        &json!({"name": "alice's", "credential": phone.register(&options)}),
    )
    .await
    .expect_error(400, "invalid_request");
    assert!(msg.contains("registered already"), "{msg}");
    phone.user_handle = alices_handle;
    for (token, path) in [
        (&bob.access, path.clone()),
        (&alice.access, "/auth/passkeys/AAAA".to_owned()),
    ] {
        api.send(api.request(Method::DELETE, &path).bearer_auth(token))
            .await
            .expect_error(404, "not_found");
    }
    api.send(
        api.request(Method::DELETE, &path)
            .bearer_auth(&alice.access),
    )
    .await
    .expect(204);
    api.send(
        api.request(Method::DELETE, &path)
            .bearer_auth(&alice.access),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(
        ids(&passkeys(&api, &alice.access).await),
        [phone_id.as_str()]
    );
    // The removed passkey logs in no more, with a username or without.
    passkey_login(&api, Some("alice"), &mut laptop)
        .await
        .expect_error(401, "invalid_credentials");
    passkey_login(&api, None, &mut laptop)
        .await
        .expect_error(401, "invalid_credentials");
    passkey_login(&api, None, &mut phone).await.expect(200);

    // Counted with the logins, by outcome.
    let metrics = api.get("/metrics").await.expect(200).text();
    for outcome in ["success", "invalid_credentials"] {
        let line = format!(r#"tokengate_logins_total{{method="passkey",outcome="{outcome}"}}"#);
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_account_without_a_password_logs_in_without_a_username() {
    let dir = TestDir::new("passkeys-account");
    let server = start(&dir);
    let api = server.api().clone();
    let mut key = SoftAuthenticator::new(ORIGIN);

    let options = api
        .post_json(
            "/auth/register/passkey/start",
            &json!({"username": "carol"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(options["publicKey"]["user"]["name"], "carol");
    let body = json!({"name": "security key", "credential": key.register(&options)});
    let created = api
        .post_json("/auth/register/passkey/finish", &body)
        .await
        .expect(201)
        .json();
    assert_eq!(created["username"], "carol");
    assert!(created["id"].is_i64(), "{created}");
    assert_eq!(
        created["passkey"],
        json!({"id": key.id(), "name": "security key"})
    );
    // The name is taken, in any case; the same finish again is spent.
    for name in ["carol", "CAROL"] {
        api.post_json("/auth/register/passkey/start", &json!({"username": name}))
            .await
            .expect_error(409, "username_taken");
    }
    api.post_json("/auth/register/passkey/finish", &body)
        .await
        .expect_error(400, "invalid_request");
    // No password logs in, not even an empty one.
    for password in [PASSWORD, "", "!passkey"] {
        api.login("carol", password)
            .await
            .expect_error(401, "invalid_credentials");
    }

    // Without a username: any passkey of the site, its user handle names the user.
    let options = login_options(&api, None).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        json!([]),
        "{options}"
    );
    assert_eq!(options["mediation"], "conditional");
    let tokens = pair(
        &finish_login(&api, &key.assert(&options))
            .await
            .expect(200)
            .json(),
    );
    let me = api
        .get_bearer("/auth/me", &tokens.access)
        .await
        .expect(200)
        .json();
    assert_eq!(
        (me["username"].as_str(), me["id"].as_i64()),
        (Some("carol"), created["id"].as_i64())
    );
    // `{}` is the same as no body.
    let options = login_options(&api, Some(json!({}))).await;
    finish_login(&api, &key.assert(&options)).await.expect(200);

    // Until a password is set by an admin.
    cli(
        &dir,
        &["user", "set-password", "carol"],
        &format!("{PASSWORD}\n"),
    )
    .expect_success();
    api.login_ok("carol", PASSWORD).await;

    // A name that is not a username is refused like at /auth/register.
    api.post_json("/auth/register/passkey/start", &json!({"username": "a b"}))
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn closed_registration_refuses_accounts_with_a_passkey() {
    let dir = TestDir::new("passkeys-closed");
    let server = Server::start(&dir, &[ENV[0], ("TOKENGATE_REGISTRATION", "closed")]);
    let api = server.api().clone();
    api.post_json("/auth/register/passkey/start", &json!({"username": "dave"}))
        .await
        .expect_error(403, "registration_closed");
    let body = json!({"name": "key", "credential": {}});
    api.post_json("/auth/register/passkey/finish", &body)
        .await
        .expect_error(403, "registration_closed");
}

#[tokio::test]
async fn signups_are_limited_like_registrations() {
    let dir = TestDir::new("passkeys-signup-rate");
    let server = Server::start(&dir, &[ENV[0], ("TOKENGATE_REGISTRATION_RATE", "2/min")]);
    let api = server.api().clone();
    for name in ["erin", "frank"] {
        api.post_json("/auth/register/passkey/start", &json!({"username": name}))
            .await
            .expect(200);
    }
    let resp = api
        .post_json(
            "/auth/register/passkey/start",
            &json!({"username": "grace"}),
        )
        .await;
    assert!(resp.header("retry-after").is_some(), "{resp:?}");
    resp.expect_error(429, "rate_limited");
}

#[tokio::test]
async fn login_starts_are_limited_per_client_address() {
    let dir = TestDir::new("passkeys-start-rate");
    // 10x login_max_failures starts per address and window.
    let server = Server::start(&dir, &[ENV[0], ("TOKENGATE_LOGIN_MAX_FAILURES", "1")]);
    let api = server.api().clone();
    for _ in 0..10 {
        login_options(&api, None).await;
    }
    let resp = api
        .send(api.request(Method::POST, "/auth/passkeys/login/start"))
        .await;
    assert!(resp.header("retry-after").is_some(), "{resp:?}");
    resp.expect_error(429, "rate_limited");
}

/// Sets every waiting ceremony's expiry in the past, straight in the
/// database (as if five minutes went by).
async fn expire_ceremonies(dir: &TestDir) {
    let url = dir.database_url();
    let sql = "UPDATE passkey_ceremonies SET expires_at = 0";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

#[tokio::test]
async fn expired_and_replayed_challenges_are_refused_and_nothing_is_stored() {
    let dir = TestDir::new("passkeys-challenges");
    let server = start(&dir);
    let api = server.api().clone();
    let alice = user_with_password(&api, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);

    // Registration: expired.
    let options = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    expire_ceremonies(&dir).await;
    let msg = post(
        &api,
        "/auth/passkeys/register/finish",
        &alice.access,
        &json!({"name": "key", "credential": key.register(&options)}),
    )
    .await
    .expect_error(400, "invalid_request");
    assert!(msg.contains("expired"), "{msg}");
    assert!(
        passkeys(&api, &alice.access).await.is_empty(),
        "nothing stored"
    );
    // Another user cannot finish (nor spend) Alice's registration.
    let bob = user_with_password(&api, "bob").await;
    let options = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    let body = json!({"name": "key", "credential": key.register(&options)});
    post(&api, "/auth/passkeys/register/finish", &bob.access, &body)
        .await
        .expect_error(400, "invalid_request");
    assert!(passkeys(&api, &bob.access).await.is_empty());
    post(&api, "/auth/passkeys/register/finish", &alice.access, &body)
        .await
        .expect(201);

    // Login: a replayed answer (its challenge spent), an expired one.
    let options = login_options(&api, Some(json!({"username": "alice"}))).await;
    let answer = key.assert(&options);
    finish_login(&api, &answer).await.expect(200);
    finish_login(&api, &answer)
        .await
        .expect_error(400, "invalid_request");
    let options = login_options(&api, None).await;
    expire_ceremonies(&dir).await;
    finish_login(&api, &key.assert(&options))
        .await
        .expect_error(400, "invalid_request");
    // A registration's challenge is no login's.
    let options = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    let mut other = SoftAuthenticator::new(ORIGIN);
    let registration = other.register(&options);
    finish_login(&api, &registration)
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn forged_answers_are_refused() {
    let dir = TestDir::new("passkeys-forged");
    let server = start(&dir);
    let api = server.api().clone();
    let alice = user_with_password(&api, "alice").await;
    let bob = user_with_password(&api, "bob").await;
    let mut alices = SoftAuthenticator::new(ORIGIN);
    let mut bobs = SoftAuthenticator::new(ORIGIN);
    add_passkey(&api, &alice.access, &mut alices, "key").await;
    add_passkey(&api, &bob.access, &mut bobs, "key").await;

    // Registration from another origin or for another relying party.
    for misbehave in [
        |a: &mut SoftAuthenticator| a.origin = "http://evil.localhost:8080".into(),
        |a: &mut SoftAuthenticator| a.origin = "http://localhost:8081".into(),
        |a: &mut SoftAuthenticator| a.rp_id_override = Some("example.com".into()),
        |a: &mut SoftAuthenticator| a.verifies_user = false,
    ] {
        let mut forged = SoftAuthenticator::new(ORIGIN);
        misbehave(&mut forged);
        let options = api
            .post_bearer("/auth/passkeys/register/start", &alice.access, None)
            .await
            .expect(200)
            .json();
        let body = json!({"name": "forged", "credential": forged.register(&options)});
        post(&api, "/auth/passkeys/register/finish", &alice.access, &body)
            .await
            .expect_error(400, "invalid_request");
    }
    assert_eq!(
        passkeys(&api, &alice.access).await.len(),
        1,
        "nothing stored"
    );

    // Login: another origin, another relying party, no user verification.
    for misbehave in [
        |a: &mut SoftAuthenticator| a.origin = "http://evil.localhost:8080".into(),
        |a: &mut SoftAuthenticator| a.rp_id_override = Some("example.com".into()),
        |a: &mut SoftAuthenticator| a.verifies_user = false,
    ] {
        misbehave(&mut alices);
        passkey_login(&api, Some("alice"), &mut alices)
            .await
            .expect_error(401, "invalid_credentials");
        alices.origin = ORIGIN.into();
        alices.rp_id_override = None;
        alices.verifies_user = true;
    }
    // A tampered clientDataJSON (a field no check reads: only the signature notices).
    let options = login_options(&api, None).await;
    let tampered = tamper_client_data(&alices.assert(&options), |data| data["extra"] = json!(1));
    finish_login(&api, &tampered)
        .await
        .expect_error(401, "invalid_credentials");
    // Bob's passkey answering a login started for Alice.
    passkey_login(&api, Some("alice"), &mut bobs)
        .await
        .expect_error(401, "invalid_credentials");
    // Bob's signature under Alice's credential id.
    let options = login_options(&api, Some(json!({"username": "alice"}))).await;
    let mut answer = bobs.assert(&options);
    answer["id"] = json!(alices.id());
    answer["rawId"] = json!(alices.id());
    finish_login(&api, &answer)
        .await
        .expect_error(401, "invalid_credentials");
    // Alice's passkey with Bob's user handle, without a username.
    let options = login_options(&api, None).await;
    let handle = alices
        .user_handle
        .replace(bobs.user_handle.clone().unwrap());
    finish_login(&api, &alices.assert(&options))
        .await
        .expect_error(401, "invalid_credentials");
    alices.user_handle = handle;
    // An unknown username: options like a real user's, that nothing answers.
    let options = login_options(&api, Some(json!({"username": "nobody"}))).await;
    // (Some names get no decoy at all, about one in seven, as some accounts
    // hold no passkey: webauthn-rs's distribution; never asserted non-empty.)
    let decoys = options["publicKey"]["allowCredentials"].clone();
    assert!(decoys.is_array(), "{options}");
    assert_eq!(
        login_options(&api, Some(json!({"username": "nobody"}))).await["publicKey"]["allowCredentials"],
        decoys,
        "the same decoys each time"
    );
    finish_login(&api, &alices.assert(&options))
        .await
        .expect_error(401, "invalid_credentials");

    // A counter going backwards: a cloned authenticator.
    for _ in 0..2 {
        passkey_login(&api, Some("alice"), &mut alices)
            .await
            .expect(200);
    }
    // Its next answer repeats the counter of the last but one.
    alices.counter -= 2;
    passkey_login(&api, Some("alice"), &mut alices)
        .await
        .expect_error(401, "invalid_credentials");
    alices.counter = 10;
    passkey_login(&api, Some("alice"), &mut alices)
        .await
        .expect(200);
    let log = server.log();
    assert!(
        log.contains("signature counter did not go forward"),
        "{log}"
    );

    // A disabled user's passkey is refused like a wrong one.
    cli(&dir, &["user", "disable", "alice"], "").expect_success();
    passkey_login(&api, None, &mut alices)
        .await
        .expect_error(401, "invalid_credentials");
    passkey_login(&api, Some("bob"), &mut bobs)
        .await
        .expect(200);
}

#[tokio::test]
async fn garbage_is_a_clear_400() {
    let dir = TestDir::new("passkeys-garbage");
    let server = start(&dir);
    let api = server.api().clone();
    let alice = user_with_password(&api, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    let options = api
        .post_bearer("/auth/passkeys/register/start", &alice.access, None)
        .await
        .expect(200)
        .json();
    let good = key.register(&options);

    let raw = |path: &str, body: &str| {
        api.request(Method::POST, path)
            .bearer_auth(&alice.access)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    for path in [
        "/auth/passkeys/register/finish",
        "/auth/passkeys/login/finish",
        "/auth/register/passkey/start",
        "/auth/register/passkey/finish",
        "/auth/passkeys/login/start",
    ] {
        for body in [
            "not json",
            "[1, 2]",
            r#"{"credential": 5, "name": "x", "username": 7}"#,
        ] {
            api.send(raw(path, body))
                .await
                .expect_error(400, "invalid_request");
        }
    }
    for body in [
        json!({"name": "key"}),
        json!({"name": "key", "credential": {"id": "x"}}),
        json!({"name": "key", "credential": {"id": "AQID", "rawId": "AQID", "type": "public-key",
            "response": {"clientDataJSON": "bm90IGpzb24", "attestationObject": "oA"}}}),
        json!({"name": "", "credential": good}),
        json!({"name": "a\u{0}b", "credential": good}),
        json!({"name": "x".repeat(65), "credential": good}),
    ] {
        post(&api, "/auth/passkeys/register/finish", &alice.access, &body)
            .await
            .expect_error(400, "invalid_request");
    }
    // None of those spent the registration.
    let body = json!({"name": "x".repeat(64), "credential": good});
    post(&api, "/auth/passkeys/register/finish", &alice.access, &body)
        .await
        .expect(201);
    for body in [
        json!({}),
        json!({"credential": {"id": "AQID"}}),
        json!({"credential": {"id": "AQID", "rawId": "AQID", "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "", "signature": ""}}}),
    ] {
        api.post_json("/auth/passkeys/login/finish", &body)
            .await
            .expect_error(400, "invalid_request");
    }
    // No token: 401 on the user's routes.
    for path in [
        "/auth/passkeys/register/start",
        "/auth/passkeys/register/finish",
    ] {
        api.send(api.request(Method::POST, path))
            .await
            .expect_missing();
    }
    api.get("/auth/passkeys").await.expect_missing();
}

#[tokio::test]
async fn the_cli_lists_and_removes_a_users_passkeys() {
    let dir = TestDir::new("passkeys-cli");
    let server = start(&dir);
    let api = server.api().clone();
    let alice = user_with_password(&api, "alice").await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    let id = add_passkey(&api, &alice.access, &mut key, "yubikey").await;
    passkey_login(&api, Some("alice"), &mut key)
        .await
        .expect(200);
    user_with_password(&api, "bob").await;

    let run = cli(&dir, &["user", "passkeys", "alice"], "").expect_success();
    let line = run
        .stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{run:?}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert_eq!((fields[0], fields[1]), (id.as_str(), "yubikey"));
    assert!(
        fields[2].ends_with('Z') && fields[3].ends_with('Z'),
        "{line}"
    );
    let none = cli(&dir, &["user", "passkeys", "bob"], "").expect_success();
    assert_eq!(none.stdout, "");

    // Unknown user, another user's passkey: exit 2, nothing removed.
    for args in [
        ["user", "passkeys", "nobody", "--remove", id.as_str()],
        ["user", "passkeys", "bob", "--remove", id.as_str()],
    ] {
        let run = cli(&dir, &args, "");
        assert_eq!(run.code, 2, "{run:?}");
    }
    cli(&dir, &["user", "passkeys", "alice", "--remove", &id], "").expect_success();
    let run = cli(&dir, &["user", "passkeys", "alice"], "").expect_success();
    assert_eq!(run.stdout, "");
    passkey_login(&api, None, &mut key)
        .await
        .expect_error(401, "invalid_credentials");
}
