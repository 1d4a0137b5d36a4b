//! The OAuth endpoints of `[[clients]]`: token introspection (RFC 7662,
//! `POST /auth/introspect`), token revocation (RFC 7009,
//! `POST /auth/revoke`) and the metadata that names them (RFC 8414,
//! `/.well-known/oauth-authorization-server`, and the OpenID discovery
//! document). Client authentication (HTTP Basic with RFC 6749's
//! url-encoding, the form, public clients), what each client may call,
//! the limits, form errors, and Python's Authlib as an independent client.

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::{IssueSettings, NewToken, TokenEngine};

use crate::common::{Api, Pair, Resp, Server, TestDir, claims, cli, cli_with_env};
use crate::metrics::{scrape, value};

#[path = "../../../tokengate/tests/support/python_venv.rs"]
mod python_venv;

const PASSWORD: &str = "correct horse battery";
const ISSUER: &str = "https://tokengate.example";
const AUDIENCE: &str = "https://api.tokengate.example";

/// A confidential client allowed everything (the default `scopes`).
const RS: (&str, &str) = ("resource-server", "rs-secret-0123456789abcdef");
/// A confidential client whose secret is in a file.
const FILE_CLIENT: (&str, &str) = ("file-client", "file-secret-0123456789abcdef");
/// A confidential client that may only revoke.
const REVOKER: (&str, &str) = ("revoker", "revoker-secret-0123456789");
/// A public client (no secret): it may only revoke.
const SPA: &str = "spa";
/// A client of 3 requests a minute.
const LIMITED: (&str, &str) = ("limited", "limited-secret-0123456789");
/// A client whose id and secret change when form-urlencoded.
const ODD: (&str, &str) = ("odd client é", "p@ss w+rd%/é:secret");

/// Writes the config of the test's clients beside `data/`; its path.
fn config(dir: &TestDir) -> String {
    let secret_file = dir.join("file-client.secret");
    std::fs::write(&secret_file, format!("{}\n", FILE_CLIENT.1)).expect("write the secret file");
    let path = dir.join("tokengate.toml");
    let toml = format!(
        r#"
[[clients]]
client_id = "{rs}"
client_secret = "{rs_secret}"

[[clients]]
client_id = "{file}"
client_secret_file = "{secret_file}"

[[clients]]
client_id = "{revoker}"
client_secret = "{revoker_secret}"
scopes = ["revoke"]

[[clients]]
client_id = "{spa}"
public = true

[[clients]]
client_id = "{limited}"
client_secret = "{limited_secret}"
rate = "3/min"

[[clients]]
client_id = "{odd}"
client_secret = "{odd_secret}"
"#,
        rs = RS.0,
        rs_secret = RS.1,
        file = FILE_CLIENT.0,
        secret_file = secret_file.display(),
        revoker = REVOKER.0,
        revoker_secret = REVOKER.1,
        spa = SPA,
        limited = LIMITED.0,
        limited_secret = LIMITED.1,
        odd = ODD.0,
        odd_secret = ODD.1,
    );
    std::fs::write(&path, toml).expect("write the config");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// tokengate with the test's clients, [`ISSUER`] and [`AUDIENCE`], and `env`.
fn start(dir: &TestDir, env: &[(&str, &str)]) -> Server {
    let config = config(dir);
    let mut all = vec![
        ("TOKENGATE_CONFIG", config.as_str()),
        ("TOKENGATE_ISSUER", ISSUER),
        ("TOKENGATE_AUDIENCE", AUDIENCE),
    ];
    all.extend_from_slice(env);
    Server::start(dir, &all)
}

/// An engine signing with the service's key, [`ISSUER`] and [`AUDIENCE`]:
/// tokens the service takes for its own.
fn service_engine(dir: &TestDir) -> TokenEngine {
    dir.service_engine(ISSUER)
        .with_settings(IssueSettings::default().issuer(ISSUER).audience([AUDIENCE]))
}

/// `application/x-www-form-urlencoded` (every byte but letters and digits
/// percent-encoded: what RFC 6749 2.3.1 asks of Basic credentials too).
fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `client_secret_basic`, as RFC 6749 2.3.1 has it: url-encoded, then base64.
fn basic(client: (&str, &str)) -> HeaderValue {
    let credentials = format!("{}:{}", urlencode(client.0), urlencode(client.1));
    HeaderValue::from_str(&format!("Basic {}", b64(credentials.as_bytes()))).unwrap()
}

/// `POST path` with the form `pairs` and these `Authorization` headers.
async fn post_form(api: &Api, path: &str, auth: &[HeaderValue], pairs: &[(&str, &str)]) -> Resp {
    let mut request = api
        .request(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    for value in auth {
        request = request.header("authorization", value.clone());
    }
    api.send(request).await
}

/// `POST /auth/introspect` of `token` by `client` (HTTP Basic).
async fn introspect(api: &Api, client: (&str, &str), token: &str) -> Resp {
    post_form(
        api,
        "/auth/introspect",
        &[basic(client)],
        &[("token", token)],
    )
    .await
}

/// `POST /auth/revoke` of `token` by `client` (HTTP Basic).
async fn revoke(api: &Api, client: (&str, &str), token: &str) -> Resp {
    post_form(api, "/auth/revoke", &[basic(client)], &[("token", token)]).await
}

/// Every answer of these endpoints may not be cached.
#[track_caller]
fn assert_no_store(resp: &Resp) {
    assert_eq!(
        resp.header("cache-control").as_deref(),
        Some("no-store"),
        "{resp:?}"
    );
}

/// 200 `{"active":false}` and nothing else.
#[track_caller]
fn assert_inactive(resp: Resp) {
    assert_no_store(&resp);
    let body = resp.expect(200).json();
    assert_eq!(body, json!({"active": false}));
}

/// 200 `{"active":true,…}`: the body.
#[track_caller]
fn active(resp: Resp) -> Value {
    assert_no_store(&resp);
    let body = resp.expect(200).json();
    assert_eq!(body["active"], true, "{body}");
    body
}

/// An error of these endpoints: `status`, `{"error","code","msg"}` with
/// `error` = `code` = `code`; a 401 with the Basic challenge. The message.
#[track_caller]
fn expect_oauth_error(resp: Resp, status: u16, code: &str) -> String {
    assert_no_store(&resp);
    let challenge = resp.header("www-authenticate");
    let what = format!("{resp:?}");
    let body = resp.expect(status).json();
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| &**k)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "error", "msg"], "{what}");
    assert_eq!(
        (&body["error"], &body["code"]),
        (&json!(code), &json!(code)),
        "{what}"
    );
    let msg = body["msg"].as_str().expect("a msg");
    assert!(!msg.is_empty(), "{what}");
    if status == 401 {
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Basic realm="tokengate""#),
            "{what}"
        );
    }
    msg.to_owned()
}

/// Registers `user` and logs in.
async fn user(api: &Api, name: &str) -> Pair {
    api.register_ok(name, PASSWORD).await;
    api.login_ok(name, PASSWORD).await
}

/// The login ids `GET /auth/sessions` lists for `access`'s user.
async fn session_ids(api: &Api, access: &str) -> Vec<String> {
    let body = api
        .get_bearer("/auth/sessions", access)
        .await
        .expect(200)
        .json();
    body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn standards_introspection_answers_the_claims_of_active_tokens() {
    let dir = TestDir::new("standards-introspect");
    let server = start(&dir, &[]);
    let api = server.api();
    cli(
        &dir,
        &["user", "add", "ada", "--scope", "read:messages"],
        PASSWORD,
    )
    .expect_success();
    let login = api.login_ok("ada", PASSWORD).await;

    // An access token: its claims, `Bearer`, and tokengate's `type`.
    let body = active(introspect(api, RS, &login.access).await);
    let jwt = claims(&login.access);
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(|k| &**k).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "aud",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "scope",
            "sub",
            "token_type",
            "type"
        ],
        "{body}"
    );
    for claim in ["sub", "exp", "iat", "nbf", "iss", "aud", "jti"] {
        assert_eq!(body[claim], jwt[claim], "{claim}: {body}");
    }
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["aud"], AUDIENCE);
    assert_eq!(body["scope"], "read:messages");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["type"], "access");

    // The refresh token too, whatever the hint says; an unknown hint is ignored.
    for hint in ["refresh_token", "access_token", "id_token", ""] {
        let resp = post_form(
            api,
            "/auth/introspect",
            &[basic(RS)],
            &[("token", &login.refresh), ("token_type_hint", hint)],
        )
        .await;
        let body = active(resp);
        assert_eq!(body["type"], "refresh", "{hint}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["jti"], claims(&login.refresh)["jti"]);
        // tokengate's refresh tokens carry the user's scopes too.
        assert_eq!(body["scope"], claims(&login.refresh)["scope"], "{body}");
    }

    // client_secret_post, the secret from a file, an id and a secret that
    // url-encoding changes: the same answer.
    let resp = post_form(
        api,
        "/auth/introspect",
        &[],
        &[
            ("token", &login.access),
            ("client_id", RS.0),
            ("client_secret", RS.1),
        ],
    )
    .await;
    assert_eq!(active(resp)["jti"], jwt["jti"]);
    assert_eq!(
        active(introspect(api, FILE_CLIENT, &login.access).await)["jti"],
        jwt["jti"]
    );
    assert_eq!(
        active(introspect(api, ODD, &login.access).await)["jti"],
        jwt["jti"]
    );

    // A token bound to a key (RFC 9449's `cnf.jkt`): `DPoP`, and its `cnf`.
    let cnf = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
    let bound = service_engine(&dir)
        .issue(NewToken::access("1").claim("cnf", cnf.clone()))
        .unwrap();
    let body = active(introspect(api, RS, &bound.token).await);
    assert_eq!(
        (&body["token_type"], &body["cnf"]),
        (&json!("DPoP"), &cnf),
        "{body}"
    );
    // A `cnf` binding by another method (a certificate, RFC 8705) cannot be
    // checked here: such a token is refused everywhere, so it is inactive.
    let other_cnf = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"});
    let cert = service_engine(&dir)
        .issue(NewToken::access("1").claim("cnf", other_cnf.clone()))
        .unwrap();
    assert_inactive(introspect(api, RS, &cert.token).await);
}

#[tokio::test]
async fn standards_anything_but_an_active_token_is_only_active_false() {
    let dir = TestDir::new("standards-inactive");
    let server = start(&dir, &[]);
    let api = server.api();
    let login = user(api, "ada").await;
    let own = service_engine(&dir);
    let an_hour_ago = claims(&login.access)["iat"].as_i64().unwrap() - 3600;
    let expired = own
        .issue(NewToken {
            issued_at: Some(an_hour_ago),
            ..NewToken::access("1")
        })
        .unwrap();
    let other_key = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ))
    .with_settings(IssueSettings::default().issuer(ISSUER).audience([AUDIENCE]))
    .issue(NewToken::access("1"))
    .unwrap();
    let other_issuer = dir
        .service_engine("https://evil.example")
        .with_settings(
            IssueSettings::default()
                .issuer("https://evil.example")
                .audience([AUDIENCE]),
        )
        .issue(NewToken::access("1"))
        .unwrap();
    let too_long = format!("{}{}", login.access, "A".repeat(9000));
    let (head, rest) = login.access.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    let unsigned = format!("{head}.{payload}.");
    for token in [
        "garbage",
        "a.b.c",
        &unsigned,
        &expired.token,
        &other_key.token,
        &other_issuer.token,
        &too_long,
    ] {
        assert_inactive(introspect(api, RS, token).await);
    }

    // Revoked: after a logout, both tokens of the login.
    active(introspect(api, RS, &login.access).await);
    api.post_bearer("/auth/logout", &login.access, None)
        .await
        .expect(200);
    assert_inactive(introspect(api, RS, &login.access).await);
    assert_inactive(introspect(api, RS, &login.refresh).await);
    // After logout-all, every earlier token of the user.
    let again = api.login_ok("ada", PASSWORD).await;
    active(introspect(api, RS, &again.refresh).await);
    api.post_bearer("/auth/logout-all", &again.access, None)
        .await
        .expect(200);
    assert_inactive(introspect(api, RS, &again.refresh).await);
}

#[tokio::test]
async fn standards_client_authentication_failures_are_invalid_client() {
    let dir = TestDir::new("standards-clients");
    let server = start(&dir, &[]);
    let api = server.api();
    let login = user(api, "ada").await;
    let token = [("token", login.access.as_str())];
    let header = |value: &[u8]| HeaderValue::from_bytes(value).unwrap();

    for path in ["/auth/introspect", "/auth/revoke"] {
        // No client at all.
        let msg = expect_oauth_error(
            post_form(api, path, &[], &token).await,
            401,
            "invalid_client",
        );
        assert!(msg.contains("client authentication is required"), "{msg}");
        // Wrong secret, unknown client: one answer.
        for client in [(RS.0, "wrong-secret-0123456789"), ("ghost", RS.1)] {
            let a = expect_oauth_error(
                post_form(api, path, &[basic(client)], &token).await,
                401,
                "invalid_client",
            );
            let b = expect_oauth_error(
                post_form(
                    api,
                    path,
                    &[],
                    &[
                        token[0],
                        ("client_id", client.0),
                        ("client_secret", client.1),
                    ],
                )
                .await,
                401,
                "invalid_client",
            );
            assert_eq!(a, b);
        }
        // A confidential client naming itself without its secret; a secret
        // without a client.
        let resp = post_form(api, path, &[], &[token[0], ("client_id", RS.0)]).await;
        expect_oauth_error(resp, 401, "invalid_client");
        let resp = post_form(api, path, &[], &[token[0], ("client_secret", RS.1)]).await;
        expect_oauth_error(resp, 401, "invalid_client");
        // Headers that are not HTTP Basic credentials: 401, never a 500.
        let not_basic = [
            header(format!("Bearer {}", login.access).as_bytes()),
            header(b"Basic"),
            header(b"Basic !!!not-base64!!!"),
            header(format!("Basic {}", b64(b"no-colon")).as_bytes()),
            header(format!("Basic {}", b64(b"\xff\xfe:\xfd")).as_bytes()),
            header(format!("Basic {}", b64(b"resource-server:%ff%fe")).as_bytes()),
            header(b"Basic \xff\xfe"),
        ];
        for value in not_basic {
            let resp = post_form(api, path, &[value], &token).await;
            expect_oauth_error(resp, 401, "invalid_client");
        }
        // Two Authorization headers.
        let resp = post_form(api, path, &[basic(RS), basic(RS)], &token).await;
        expect_oauth_error(resp, 401, "invalid_client");
        // The credentials sent without url-encoding: the id reads the same,
        // but the secret's `+` reads as a space.
        let raw = format!("{}:{}", ODD.0, ODD.1);
        let raw = header(format!("Basic {}", b64(raw.as_bytes())).as_bytes());
        expect_oauth_error(
            post_form(api, path, &[raw], &token).await,
            401,
            "invalid_client",
        );
        // Two methods at once: RFC 6749 2.3 allows one.
        let resp = post_form(
            api,
            path,
            &[basic(RS)],
            &[token[0], ("client_id", RS.0), ("client_secret", RS.1)],
        )
        .await;
        expect_oauth_error(resp, 400, "invalid_request");
        let resp = post_form(
            api,
            path,
            &[basic(RS)],
            &[token[0], ("client_id", "someone-else")],
        )
        .await;
        expect_oauth_error(resp, 400, "invalid_request");
    }
    // Basic with the same client_id in the form is fine.
    let resp = post_form(
        api,
        "/auth/introspect",
        &[basic(RS)],
        &[token[0], ("client_id", RS.0)],
    )
    .await;
    active(resp);

    // What each client may call: a public client cannot authenticate, so
    // it cannot introspect; a client without `introspect` in its scopes is
    // 403 unauthorized_client.
    let resp = post_form(
        api,
        "/auth/introspect",
        &[],
        &[token[0], ("client_id", SPA)],
    )
    .await;
    let msg = expect_oauth_error(resp, 401, "invalid_client");
    assert!(
        msg.contains("introspection needs client authentication"),
        "{msg}"
    );
    let msg = expect_oauth_error(
        introspect(api, REVOKER, &login.access).await,
        403,
        "unauthorized_client",
    );
    assert!(msg.contains("/auth/introspect"), "{msg}");
    // None of this revoked anything.
    api.assert_valid(&login.access).await;
}

#[tokio::test]
async fn standards_form_errors_are_invalid_request_in_json() {
    let dir = TestDir::new("standards-forms");
    let server = start(&dir, &[]);
    let api = server.api();
    let login = user(api, "ada").await;

    for path in ["/auth/introspect", "/auth/revoke"] {
        // JSON, and nothing at all.
        let resp = api
            .send(
                api.request(Method::POST, path)
                    .header("authorization", basic(RS))
                    .json(&json!({"token": login.access})),
            )
            .await;
        let msg = expect_oauth_error(resp, 400, "invalid_request");
        assert!(msg.contains("application/x-www-form-urlencoded"), "{msg}");
        let resp = api.send(api.request(Method::POST, path)).await;
        expect_oauth_error(resp, 400, "invalid_request");
        // A parameter twice (RFC 6749 3.2).
        let resp = post_form(
            api,
            path,
            &[basic(RS)],
            &[("token", &login.access), ("token", "x")],
        )
        .await;
        let msg = expect_oauth_error(resp, 400, "invalid_request");
        assert!(msg.contains("duplicate field `token`"), "{msg}");
        // No token, an empty one.
        for pairs in [
            &[][..],
            &[("token", "")][..],
            &[("token_type_hint", "access_token")][..],
        ] {
            let resp = post_form(api, path, &[basic(RS)], pairs).await;
            let msg = expect_oauth_error(resp, 400, "invalid_request");
            assert!(msg.contains("token parameter is required"), "{msg}");
        }
    }
    // A charset on the content type, and unknown parameters, are fine.
    let resp = api
        .send(
            api.request(Method::POST, "/auth/introspect")
                .header("authorization", basic(RS))
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=UTF-8",
                )
                .body(form(&[
                    ("token", &login.access),
                    ("resource", "https://api"),
                    ("scope", "x"),
                ])),
        )
        .await;
    active(resp);
    api.assert_valid(&login.access).await;
}

#[tokio::test]
async fn standards_failed_authentications_and_each_clients_requests_are_limited() {
    let dir = TestDir::new("standards-limits");
    let server = start(&dir, &[("TOKENGATE_LOGIN_MAX_FAILURES", "3")]);
    let api = server.api();
    let login = user(api, "ada").await;

    // Failed authentications, per client id: the right secret waits too.
    for _ in 0..3 {
        let resp = introspect(api, (RS.0, "wrong-secret-0123456789"), &login.access).await;
        expect_oauth_error(resp, 401, "invalid_client");
    }
    let resp = introspect(api, RS, &login.access).await;
    let retry_after = resp.header("retry-after");
    expect_oauth_error(resp, 429, "rate_limited");
    let wait: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((1..=15 * 60).contains(&wait), "{wait}");
    // An unknown client id counts the same.
    for _ in 0..3 {
        expect_oauth_error(
            introspect(api, ("ghost", RS.1), &login.access).await,
            401,
            "invalid_client",
        );
    }
    expect_oauth_error(
        introspect(api, ("ghost", RS.1), &login.access).await,
        429,
        "rate_limited",
    );
    // Other clients are not blocked by these.
    active(introspect(api, FILE_CLIENT, &login.access).await);

    // A client's own rate: 3 a minute, whatever the answers.
    for token in ["garbage", login.access.as_str(), "garbage"] {
        let resp = introspect(api, LIMITED, token).await;
        assert_eq!(resp.status, 200, "{resp:?}");
    }
    let resp = revoke(api, LIMITED, "garbage").await;
    let retry_after = resp.header("retry-after");
    expect_oauth_error(resp, 429, "rate_limited");
    let wait: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    active(introspect(api, FILE_CLIENT, &login.access).await);
}

#[tokio::test]
async fn standards_revoking_an_access_token_leaves_its_login() {
    let dir = TestDir::new("standards-revoke-access");
    let server = start(&dir, &[]);
    let api = server.api();
    let login = user(api, "ada").await;

    // A wrong hint changes nothing: the token says what it is.
    let resp = post_form(
        api,
        "/auth/revoke",
        &[basic(RS)],
        &[
            ("token", &login.access),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_no_store(&resp);
    assert!(resp.expect(200).body.is_empty());
    api.assert_refused(&login.access, "token_revoked").await;
    assert_inactive(introspect(api, RS, &login.access).await);
    // Its login lives on: the refresh token still refreshes, once.
    active(introspect(api, RS, &login.refresh).await);
    let next = api.refresh_ok(&login.refresh).await;
    api.assert_valid(&next.access).await;

    // Counted once; nothing to revoke is not counted.
    let revocations = |samples: &[_]| {
        value(
            samples,
            "tokengate_revocations_total",
            &[("kind", "revocation_endpoint")],
        )
    };
    assert_eq!(revocations(&scrape(api).await), 1.0);
    assert!(revoke(api, RS, "garbage").await.expect(200).body.is_empty());
    assert_eq!(revocations(&scrape(api).await), 1.0);
    let samples = scrape(api).await;
    assert_eq!(
        value(
            &samples,
            "tokengate_introspections_total",
            &[("active", "true")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "tokengate_introspections_total",
            &[("active", "false")]
        ),
        1.0
    );
}

#[tokio::test]
async fn standards_revoking_a_refresh_token_ends_its_login() {
    let dir = TestDir::new("standards-revoke-refresh");
    let server = start(&dir, &[]);
    let api = server.api();
    let first = user(api, "ada").await;
    let second = api.login_ok("ada", PASSWORD).await;
    assert_eq!(session_ids(api, &second.access).await.len(), 2);

    // client_secret_post, by a client that may only revoke.
    let resp = post_form(
        api,
        "/auth/revoke",
        &[],
        &[
            ("token", &first.refresh),
            ("client_id", REVOKER.0),
            ("client_secret", REVOKER.1),
        ],
    )
    .await;
    assert!(resp.expect(200).body.is_empty());
    api.refresh(&first.refresh)
        .await
        .expect_token_error("token_revoked");
    api.assert_refused(&first.access, "token_revoked").await;
    let login_of = |token: &str| claims(token)["fam"].as_str().unwrap().to_owned();
    assert_eq!(
        session_ids(api, &second.access).await,
        [login_of(&second.access)]
    );
    api.assert_valid(&second.access).await;

    // A public client names itself: the access token alone.
    let resp = post_form(
        api,
        "/auth/revoke",
        &[],
        &[("token", &second.access), ("client_id", SPA)],
    )
    .await;
    assert!(resp.expect(200).body.is_empty());
    api.assert_refused(&second.access, "token_revoked").await;
    api.refresh_ok(&second.refresh).await;
    // An unknown public client is no client.
    let resp = post_form(
        api,
        "/auth/revoke",
        &[],
        &[("token", &second.refresh), ("client_id", "nobody")],
    )
    .await;
    expect_oauth_error(resp, 401, "invalid_client");

    // Whatever the token, 200 and an empty body.
    let own = service_engine(&dir);
    let an_hour_ago = claims(&first.access)["iat"].as_i64().unwrap() - 3600;
    let expired = own
        .issue(NewToken {
            issued_at: Some(an_hour_ago),
            ..NewToken::refresh("1")
        })
        .unwrap();
    let foreign = dir
        .service_engine("https://evil.example")
        .issue(NewToken::refresh("1"))
        .unwrap();
    for token in [
        "garbage",
        "a.b.c",
        &expired.token,
        &foreign.token,
        &first.refresh,
    ] {
        let resp = revoke(api, REVOKER, token).await;
        assert_no_store(&resp);
        assert!(resp.expect(200).body.is_empty());
    }
}

/// The `*_endpoint` and `*_uri` members of a discovery document.
fn endpoint_members(doc: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = doc
        .as_object()
        .expect("an object")
        .keys()
        .map(|k| &**k)
        .filter(|k| k.ends_with("_endpoint") || k.ends_with("_uri"))
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn standards_metadata_names_exactly_the_endpoints_that_exist() {
    let dir = TestDir::new("standards-metadata");
    let server = start(&dir, &[]);
    let api = server.api();

    let doc = api
        .get("/.well-known/oauth-authorization-server")
        .await
        .expect(200)
        .json();
    let mut keys: Vec<&str> = doc.as_object().unwrap().keys().map(|k| &**k).collect();
    keys.sort_unstable();
    // DPoP proofs are accepted by default (`dpop = "allowed"`).
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!([
            "ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256"
        ])
    );
    assert_eq!(
        keys,
        [
            "dpop_signing_alg_values_supported",
            "grant_types_supported",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "issuer",
            "jwks_uri",
            "response_types_supported",
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
        ],
        "{doc}"
    );
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/auth/introspect")
    );
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/auth/revoke"));
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    // A public client is configured: `none` for revocation.
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(doc["response_types_supported"], json!([]));
    assert_eq!(doc["grant_types_supported"], json!([]));
    assert_eq!(
        endpoint_members(&doc),
        ["introspection_endpoint", "jwks_uri", "revocation_endpoint"]
    );
    // Each named path is served.
    for (member, path) in [
        ("introspection_endpoint", "/auth/introspect"),
        ("revocation_endpoint", "/auth/revoke"),
    ] {
        assert_eq!(
            doc[member].as_str().unwrap().strip_prefix(ISSUER),
            Some(path)
        );
        let resp = post_form(api, path, &[basic(RS)], &[("token", "garbage")]).await;
        assert_eq!(resp.status, 200, "{resp:?}");
    }

    // The OpenID discovery document names them too, and no other endpoint.
    let oidc = api
        .get("/.well-known/openid-configuration")
        .await
        .expect(200)
        .json();
    assert_eq!(
        endpoint_members(&oidc),
        ["introspection_endpoint", "jwks_uri", "revocation_endpoint"]
    );
    for member in [
        "issuer",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "dpop_signing_alg_values_supported",
    ] {
        assert_eq!(oidc[member], doc[member], "{member}");
    }
    drop(server);

    // `dpop = "off"`: no DPoP algorithms in either document.
    let off = TestDir::new("standards-dpop-off");
    let server = Server::start(
        &off,
        &[("TOKENGATE_ISSUER", ISSUER), ("TOKENGATE_DPOP", "off")],
    );
    let api = server.api();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let doc = api.get(path).await.expect(200).json();
        assert!(
            doc.get("dpop_signing_alg_values_supported").is_none(),
            "{path}: {doc}"
        );
    }
    drop(server);

    // Without any client: the routes and the metadata stay, every call is
    // invalid_client, and no public client means no `none`.
    let bare = TestDir::new("standards-no-clients");
    let server = Server::start(&bare, &[("TOKENGATE_ISSUER", ISSUER)]);
    let api = server.api();
    let doc = api
        .get("/.well-known/oauth-authorization-server")
        .await
        .expect(200)
        .json();
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/auth/introspect")
    );
    for path in ["/auth/introspect", "/auth/revoke"] {
        let resp = post_form(api, path, &[basic(RS)], &[("token", "garbage")]).await;
        expect_oauth_error(resp, 401, "invalid_client");
        let resp = post_form(api, path, &[], &[("token", "garbage"), ("client_id", SPA)]).await;
        expect_oauth_error(resp, 401, "invalid_client");
    }
}

/// `tokengate config check` lists the clients (never a secret) and
/// refuses a bad `[[clients]]` table like any other bad setting.
#[tokio::test]
async fn standards_config_check_lists_the_clients_and_refuses_bad_ones() {
    let dir = TestDir::sqlite("standards-config-check");
    let config = config(&dir);
    let run = cli_with_env(
        &dir,
        &["config", "check"],
        "",
        &[("TOKENGATE_CONFIG", &config)],
    )
    .expect_success();
    let line = run
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some("clients"))
        .unwrap_or_else(|| panic!("no clients line: {run:?}"));
    for shown in [
        "resource-server (client secret set; introspect revoke; 6000 per 60s)",
        "revoker (client secret set; revoke; 6000 per 60s)",
        "spa (public; revoke; 6000 per 60s)",
        "limited (client secret set; introspect revoke; 3 per 60s)",
    ] {
        assert!(line.contains(shown), "{shown}: {line}");
    }
    assert!(line.ends_with(&format!("({config})")), "{line}");
    for secret in [RS.1, FILE_CLIENT.1, REVOKER.1, LIMITED.1, ODD.1] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{run:?}"
        );
    }

    let bad = dir.join("bad.toml");
    let bad = bad.to_str().unwrap();
    for (toml, message) in [
        (
            "[[clients]]\nclient_id = \"a\"\npublic = true\n[[clients]]\nclient_id = \"a\"\npublic = true\n",
            "client_id \"a\" appears twice",
        ),
        ("[[clients]]\nclient_id = \"a\"\n", "has no secret"),
    ] {
        std::fs::write(bad, toml).unwrap();
        let run = cli_with_env(&dir, &["config", "check"], "", &[("TOKENGATE_CONFIG", bad)]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(message), "{message}: {run:?}");
    }
}

/// Authlib, the Python OAuth library, and requests, pinned.
const AUTHLIB: python_venv::Venv = python_venv::Venv {
    name: "python-authlib",
    requirements: &[
        "Authlib==1.9.10",
        "requests==2.34.2",
        "cryptography==50.0.2",
    ],
    check: "import authlib, requests; from authlib.integrations.requests_client import OAuth2Session",
};

/// Authlib's `OAuth2Session.introspect_token` and `revoke_token` against
/// the service, with each way a client authenticates; prints what it got.
const AUTHLIB_SCRIPT: &str = r#"
import json, os, sys
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
import authlib
from authlib.integrations.requests_client import OAuth2Session

req = json.load(sys.stdin)
introspection = req["base"] + "/auth/introspect"
revocation = req["base"] + "/auth/revoke"

def session(client_id, client_secret=None, method=None):
    s = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    s.trust_env = False  # no proxy for 127.0.0.1
    return s

def answer(resp):
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    return {
        "status": resp.status_code,
        "body": body,
        "cache_control": resp.headers.get("Cache-Control"),
        "www_authenticate": resp.headers.get("WWW-Authenticate"),
    }

basic = session(req["client_id"], req["client_secret"])
post = session(req["client_id"], req["client_secret"], "client_secret_post")
public = session(req["public_client_id"])
wrong = session(req["client_id"], "not-the-secret-0123456789")
out = {"authlib": authlib.__version__}
out["access"] = answer(basic.introspect_token(introspection, token=req["access"]))
out["refresh"] = answer(basic.introspect_token(introspection, token=req["refresh"], token_type_hint="refresh_token"))
out["post"] = answer(post.introspect_token(introspection, token=req["access"]))
out["garbage"] = answer(basic.introspect_token(introspection, token="garbage"))
out["wrong_secret"] = answer(wrong.introspect_token(introspection, token=req["access"]))
out["public_introspects"] = answer(public.introspect_token(introspection, token=req["access"]))
out["revoke_access"] = answer(basic.revoke_token(revocation, token=req["access"], token_type_hint="access_token"))
out["after_revoke"] = answer(post.introspect_token(introspection, token=req["access"]))
out["refresh_still"] = answer(basic.introspect_token(introspection, token=req["refresh"]))
out["public_revokes_refresh"] = answer(public.revoke_token(revocation, token=req["refresh"], token_type_hint="refresh_token"))
out["refresh_after"] = answer(basic.introspect_token(introspection, token=req["refresh"]))
out["revoke_garbage"] = answer(post.revoke_token(revocation, token="garbage"))
json.dump(out, sys.stdout)
"#;

#[tokio::test]
async fn standards_authlib_introspects_and_revokes() {
    let dir = TestDir::new("standards-authlib");
    let server = start(&dir, &[]);
    let api = server.api();
    let login = user(api, "ada").await;
    let input = json!({
        "base": api.base(),
        "client_id": RS.0,
        "client_secret": RS.1,
        "public_client_id": SPA,
        "access": login.access,
        "refresh": login.refresh,
    });
    let out = tokio::task::spawn_blocking(move || AUTHLIB.run(AUTHLIB_SCRIPT, &input))
        .await
        .expect("the Authlib script ran");
    assert_eq!(out["authlib"], "1.9.10", "{out}");
    let answer = |name: &str| {
        let answer = &out[name];
        assert!(answer.is_object(), "{name}: {out}");
        answer.clone()
    };
    let ok = |name: &str| {
        let answer = answer(name);
        assert_eq!(answer["status"], 200, "{name}: {answer}");
        assert_eq!(answer["cache_control"], "no-store", "{name}: {answer}");
        answer["body"].clone()
    };

    let access = ok("access");
    assert_eq!(access["active"], true, "{access}");
    assert_eq!(access["sub"], claims(&login.access)["sub"]);
    assert_eq!(
        (&access["token_type"], &access["type"]),
        (&json!("Bearer"), &json!("access"))
    );
    let refresh = ok("refresh");
    assert_eq!(
        (&refresh["active"], &refresh["type"]),
        (&json!(true), &json!("refresh"))
    );
    assert_eq!(ok("post")["jti"], access["jti"]);
    assert_eq!(ok("garbage"), json!({"active": false}));
    for refused in ["wrong_secret", "public_introspects"] {
        let answer = answer(refused);
        assert_eq!(answer["status"], 401, "{refused}: {answer}");
        assert_eq!(
            answer["body"]["error"], "invalid_client",
            "{refused}: {answer}"
        );
        assert_eq!(answer["www_authenticate"], r#"Basic realm="tokengate""#);
    }
    assert_eq!(ok("revoke_access"), "");
    assert_eq!(ok("after_revoke"), json!({"active": false}));
    assert_eq!(ok("refresh_still")["active"], true);
    assert_eq!(ok("public_revokes_refresh"), "");
    assert_eq!(ok("refresh_after"), json!({"active": false}));
    assert_eq!(ok("revoke_garbage"), "");
    // What Authlib did, the service did.
    api.assert_refused(&login.access, "token_revoked").await;
    api.refresh(&login.refresh)
        .await
        .expect_token_error("token_revoked");
}
