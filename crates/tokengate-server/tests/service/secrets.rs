//! No secret in the logs: a whole session (register, failed and
//! good logins, API calls with the token in the header and the query
//! string, refresh and refresh reuse, a browser session with cookies and
//! CSRF, password change, logouts, shutdown) with every log at debug level,
//! then the log is searched for every token, password, CSRF value and key.

use reqwest::Method;
use serde_json::json;

use crate::common::{Resp, Server, TestDir};

const PASSWORD: &str = "pw-Ωmega-never-logged-1";
const NEW_PASSWORD: &str = "pw-Ψsi-never-logged-2";
const WRONG_PASSWORD: &str = "pw-wrong-never-logged-3";
/// The HMAC secret of the HS256 run (32+ bytes).
const SECRET_KEY: &str = "hs-secret-never-logged-0123456789abcdef";

/// What the service must never print, collected along the session.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 8,
            "{what} is too short to search for: {value:?}"
        );
        self.0.push((what.to_owned(), value.to_owned()));
        // A JWT's signature alone is as good as a token for a log reader
        // who also has the claims; search for it by itself too.
        if let [_, _, signature] = value.split('.').collect::<Vec<_>>()[..] {
            self.0
                .push((format!("{what} (signature)"), signature.to_owned()));
        }
    }

    fn cookie(&mut self, resp: &Resp, name: &str) -> String {
        let value = resp.cookie(name).value;
        self.add(name, &value);
        value
    }

    /// Each secret as it would stand inside a JSON string (`"` and `\\`
    /// escaped, non-ASCII kept), where it differs from the plain text.
    fn escaped_for_json(&self) -> Secrets {
        Secrets(
            self.0
                .iter()
                .filter_map(|(what, value)| {
                    let quoted = serde_json::to_string(value).expect("a string");
                    let inner = &quoted[1..quoted.len() - 1];
                    (inner != value).then(|| (format!("{what} (JSON-escaped)"), inner.to_owned()))
                })
                .collect(),
        )
    }

    #[track_caller]
    fn assert_absent_from(&self, log: &str) {
        assert!(
            log.lines().count() > 20,
            "debug logging is on, yet the log is nearly empty:\n{log}"
        );
        for (what, value) in &self.0 {
            assert!(
                !log.contains(value.as_str()),
                "the log contains {what}:\n{}",
                log.lines()
                    .filter(|l| l.contains(value.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

async fn whole_session(server: &Server, secrets: &mut Secrets) {
    let api = server.api();
    for password in [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD] {
        secrets.add("a password", password);
    }
    api.register_ok("sam", PASSWORD).await;
    api.register("sam", PASSWORD)
        .await
        .expect_error(409, "username_taken");
    api.login("sam", WRONG_PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    api.login("nobody", WRONG_PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");

    let first = api.login_ok("sam", PASSWORD).await;
    secrets.add("an access token", &first.access);
    secrets.add("a refresh token", &first.refresh);
    api.get_bearer("/auth/me", &first.access).await.expect(200);
    api.get(&format!("/api/private?jwt={}", first.access))
        .await
        .expect(200);
    api.get_bearer("/api/private", &format!("{}x", first.access))
        .await
        .expect_token_error("invalid_token");

    let second = api.refresh_ok(&first.refresh).await;
    secrets.add("an access token", &second.access);
    secrets.add("a refresh token", &second.refresh);
    // Reuse of the spent refresh token: the whole login is revoked.
    api.refresh(&first.refresh)
        .await
        .expect_token_error("token_revoked");

    // A browser session: cookies and CSRF double submit.
    let resp = api
        .post_json(
            "/auth/session",
            &json!({"username": "sam", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let access = secrets.cookie(&resp, "access_token_cookie");
    let refresh = secrets.cookie(&resp, "refresh_token_cookie");
    let csrf_access = secrets.cookie(&resp, "csrf_access_token");
    let csrf_refresh = secrets.cookie(&resp, "csrf_refresh_token");
    let cookies = format!(
        "access_token_cookie={access}; refresh_token_cookie={refresh}; \
         csrf_access_token={csrf_access}; csrf_refresh_token={csrf_refresh}"
    );
    let with_cookies = |method: Method, path: &str, csrf: &str| {
        api.request(method, path)
            .header("cookie", &cookies)
            .header("x-csrf-token", csrf)
    };
    api.send(with_cookies(Method::GET, "/auth/status", &csrf_access))
        .await
        .expect(200);
    let resp = api
        .send(with_cookies(
            Method::POST,
            "/auth/session/refresh",
            &csrf_refresh,
        ))
        .await
        .expect(200);
    for name in ["access_token_cookie", "refresh_token_cookie"] {
        secrets.cookie(&resp, name);
    }
    api.send(with_cookies(
        Method::DELETE,
        "/auth/session",
        "wrong-csrf-value",
    ))
    .await
    .expect_token_error("csrf_failed");

    // A password change (a fresh token), then the logouts.
    let fresh = api.login_ok("sam", PASSWORD).await;
    secrets.add("an access token", &fresh.access);
    secrets.add("a refresh token", &fresh.refresh);
    api.post_bearer(
        "/auth/password",
        &fresh.access,
        Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await
    .expect(200);
    let last = api.login_ok("sam", NEW_PASSWORD).await;
    secrets.add("an access token", &last.access);
    secrets.add("a refresh token", &last.refresh);
    api.post_bearer("/auth/logout", &last.access, None)
        .await
        .expect(200);
    api.get_bearer("/auth/me", &last.access)
        .await
        .expect_token_error("token_revoked");
    let again = api.login_ok("sam", NEW_PASSWORD).await;
    secrets.add("an access token", &again.access);
    api.post_bearer("/auth/logout-all", &again.access, None)
        .await
        .expect(200);
}

/// The signing key files of a data directory: their base64 lines.
fn key_material(dir: &TestDir, secrets: &mut Secrets) {
    let keys = dir.data().join("keys");
    let mut found = 0;
    for entry in std::fs::read_dir(&keys).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            secrets.add("a line of a key file", line);
            found += 1;
        }
    }
    // On PostgreSQL the keys live in the database (sealed), not in files.
    if dir.data().join("tokengate.db").exists() {
        assert!(found > 0, "no key file under {}", keys.display());
    }
}

const DEBUG_LOGS: (&str, &str) = ("RUST_LOG", "debug");
const ALL_LOCATIONS: (&str, &str) = ("TOKENGATE_TOKEN_LOCATIONS", "headers,cookies,query_string");

#[tokio::test]
async fn a_whole_session_at_debug_level_logs_no_secret() {
    let dir = TestDir::new("secrets-in-logs");
    let server = Server::start(&dir, &[DEBUG_LOGS, ALL_LOCATIONS]);
    let mut secrets = Secrets::default();
    whole_session(&server, &mut secrets).await;
    key_material(&dir, &mut secrets);
    let log = server.stop();
    secrets.assert_absent_from(&log);
    assert!(
        log.contains("DEBUG"),
        "RUST_LOG=debug gave no debug line:\n{log}"
    );
}

#[tokio::test]
async fn a_whole_session_logged_as_json_logs_no_secret() {
    let dir = TestDir::new("secrets-in-json-logs");
    let server = Server::start(
        &dir,
        &[DEBUG_LOGS, ALL_LOCATIONS, ("TOKENGATE_LOG_FORMAT", "json")],
    );
    let mut secrets = Secrets::default();
    whole_session(&server, &mut secrets).await;
    key_material(&dir, &mut secrets);
    let log = server.stop();
    secrets.assert_absent_from(&log);
    // JSON escapes what text does not: each secret is also looked for as
    // it would appear inside a JSON string.
    let escaped = secrets.escaped_for_json();
    escaped.assert_absent_from(&log);
    assert!(log.contains(r#""level":"DEBUG""#), "no debug line:\n{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

#[tokio::test]
async fn an_hmac_secret_is_never_logged() {
    let dir = TestDir::new("secrets-hs256");
    let server = Server::start(
        &dir,
        &[
            DEBUG_LOGS,
            ALL_LOCATIONS,
            ("TOKENGATE_ALGORITHM", "HS256"),
            ("TOKENGATE_SECRET_KEY", SECRET_KEY),
        ],
    );
    let mut secrets = Secrets::default();
    secrets.add("the HMAC secret", SECRET_KEY);
    whole_session(&server, &mut secrets).await;
    let log = server.stop();
    secrets.assert_absent_from(&log);
}
