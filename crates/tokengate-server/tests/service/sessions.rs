//! Sessions people can see and end: `GET /auth/sessions` (the caller's
//! live logins, newest first, the asking one marked `current`),
//! `DELETE /auth/sessions/{id}` (one of them; another user's and an unknown
//! id get one and the same 404), `DELETE /auth/sessions` (all but the
//! current one), the refresh reuse interval, the metric of ended sessions,
//! and `tokengate sessions list|end`.
//!
//! Times in the list are to the second: a test that needs two of them to
//! differ sleeps past a second boundary, and never asserts how long
//! anything took.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::common::{Api, Pair, Resp, Server, SetCookie, TestDir, claims, cli, eventually, pair};

const PASSWORD: &str = "correct horse battery";

/// The fields of every session; `provider` comes on top for an OIDC login.
const FIELDS: [&str; 7] = [
    "id",
    "created_at",
    "last_used_at",
    "user_agent",
    "ip",
    "method",
    "current",
];

/// `YYYY-MM-DDTHH:MM:SSZ`, the list's (and the CLI's) form of a time.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// Now, to the second, in the list's form: a bound for the times it shows
/// (compared as text, which orders them).
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).expect("a sane clock"))
        .expect("a valid time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

/// The login (`fam`) of a token: the id the list shows for it.
fn login_id(token: &str) -> String {
    let claims = claims(token);
    claims["fam"]
        .as_str()
        .unwrap_or_else(|| panic!("no fam: {claims}"))
        .to_owned()
}

fn jti(token: &str) -> String {
    let claims = claims(token);
    claims["jti"]
        .as_str()
        .unwrap_or_else(|| panic!("no jti: {claims}"))
        .to_owned()
}

/// The sessions of a 200 answer of `GET /auth/sessions`, each checked for
/// its shape: the fields and nothing else, RFC 3339 times, at most one
/// `current`.
#[track_caller]
fn sessions_of(resp: &Resp) -> Vec<Value> {
    let body = resp.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {resp:?}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["sessions"], "{body}");
    let sessions = body["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("sessions is not an array: {body}"))
        .clone();
    for s in &sessions {
        let keys: BTreeSet<&str> = s
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {s}"))
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: BTreeSet<&str> = FIELDS.into_iter().collect();
        if s["method"] == "oidc" {
            expected.insert("provider");
            assert!(s["provider"].is_string(), "{s}");
        } else {
            assert_eq!(s["method"], "password", "{s}");
        }
        assert_eq!(keys, expected, "{s}");
        assert!(s["id"].as_str().is_some_and(|id| !id.is_empty()), "{s}");
        for time in ["created_at", "last_used_at"] {
            let text = s[time].as_str().unwrap_or_else(|| panic!("{time}: {s}"));
            assert!(is_rfc3339_utc(text), "{time} is not RFC 3339: {s}");
        }
        assert!(
            s["created_at"].as_str() <= s["last_used_at"].as_str(),
            "used before it began: {s}"
        );
        assert!(s["current"].is_boolean(), "{s}");
        assert!(
            s["user_agent"].is_null() || s["user_agent"].is_string(),
            "{s}"
        );
        let ip = s["ip"].as_str().unwrap_or_else(|| panic!("no ip: {s}"));
        ip.parse::<IpAddr>()
            .unwrap_or_else(|_| panic!("not an address: {s}"));
    }
    let current = sessions.iter().filter(|s| s["current"] == true).count();
    assert!(current <= 1, "{current} current sessions: {body}");
    sessions
}

/// `GET /auth/sessions` with `access` as bearer: 200, the sessions.
async fn list(api: &Api, access: &str) -> Vec<Value> {
    sessions_of(&api.get_bearer("/auth/sessions", access).await.expect(200))
}

/// The ids of `sessions`, in order.
fn ids(sessions: &[Value]) -> Vec<String> {
    sessions
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The session with `id` in `sessions`.
#[track_caller]
fn find<'a>(sessions: &'a [Value], id: &str) -> &'a Value {
    sessions
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no session {id} in {sessions:?}"))
}

/// The session marked `current`.
#[track_caller]
fn current(sessions: &[Value]) -> &Value {
    sessions
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("no current session in {sessions:?}"))
}

/// `POST /auth/login` with these extra headers.
async fn login_with_headers(api: &Api, username: &str, headers: &[(&str, HeaderValue)]) -> Pair {
    let mut request = api
        .request(Method::POST, "/auth/login")
        .json(&json!({"username": username, "password": PASSWORD}));
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    pair(&api.send(request).await.expect(200).json())
}

/// A bearer login with `User-Agent: agent` (raw bytes: a header may carry
/// UTF-8 beyond ASCII).
async fn login_as(api: &Api, username: &str, agent: &[u8]) -> Pair {
    let agent = HeaderValue::from_bytes(agent).expect("a header value");
    login_with_headers(api, username, &[("user-agent", agent)]).await
}

/// A bearer login through a proxy that says `X-Forwarded-For: forwarded`.
async fn login_forwarded(api: &Api, username: &str, forwarded: &str) -> Pair {
    let forwarded = HeaderValue::from_str(forwarded).expect("a header value");
    login_with_headers(api, username, &[("x-forwarded-for", forwarded)]).await
}

/// `DELETE /auth/sessions/{id}` with `access` as bearer.
async fn end(api: &Api, access: &str, id: &str) -> Resp {
    api.send(
        api.request(Method::DELETE, &format!("/auth/sessions/{id}"))
            .bearer_auth(access),
    )
    .await
}

/// `DELETE /auth/sessions` with `access` as bearer.
async fn end_others(api: &Api, access: &str) -> Resp {
    api.send(
        api.request(Method::DELETE, "/auth/sessions")
            .bearer_auth(access),
    )
    .await
}

/// A 204 with nothing in it.
#[track_caller]
fn expect_ended(resp: Resp) {
    let resp = resp.expect(204);
    assert!(resp.body.is_empty(), "{resp:?}");
}

/// Both tokens of `login` are refused as revoked.
async fn assert_ended(api: &Api, login: &Pair) {
    api.assert_refused(&login.access, "token_revoked").await;
    api.refresh(&login.refresh)
        .await
        .expect_token_error("token_revoked");
}

/// A browser session (`POST /auth/session`): its four cookies.
struct Browser {
    access: SetCookie,
    refresh: SetCookie,
    csrf_access: SetCookie,
    csrf_refresh: SetCookie,
}

impl Browser {
    /// Logs in with cookies, with `User-Agent: agent` if given.
    async fn log_in(api: &Api, username: &str, agent: Option<&str>) -> Browser {
        let mut request = api
            .request(Method::POST, "/auth/session")
            .json(&json!({"username": username, "password": PASSWORD}));
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        let resp = api.send(request).await.expect(200);
        Browser {
            access: resp.cookie("access_token_cookie"),
            refresh: resp.cookie("refresh_token_cookie"),
            csrf_access: resp.cookie("csrf_access_token"),
            csrf_refresh: resp.cookie("csrf_refresh_token"),
        }
    }

    /// The `Cookie` header a browser sends: all four.
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

    /// The cookies' values: none may appear in a body.
    fn values(&self) -> [&str; 4] {
        [
            &self.access.value,
            &self.refresh.value,
            &self.csrf_access.value,
            &self.csrf_refresh.value,
        ]
        .map(String::as_str)
    }

    /// `method path` with this browser's cookies and, if given, an
    /// `X-CSRF-TOKEN` header.
    async fn send(&self, api: &Api, method: Method, path: &str, csrf: Option<&str>) -> Resp {
        let mut request = api.request(method, path).header("cookie", self.header());
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        api.send(request).await
    }

    fn login_id(&self) -> String {
        login_id(&self.access.value)
    }
}

/// `body` holds none of `secrets`.
#[track_caller]
fn assert_holds_none(body: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !body.contains(secret),
            "a token or CSRF value in the body: {secret} in {body}"
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_newest_first_with_the_current_one_marked() {
    let dir = TestDir::new("sessions-list");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("alice", PASSWORD).await;
    api.register_ok("bob", PASSWORD).await;

    let before = now_rfc3339();
    let phone = login_as(api, "alice", b"TokengatePhone/1.0").await;
    let browser = Browser::log_in(api, "alice", Some("Mozilla/5.0 (X11; Linux x86_64)")).await;
    let laptop = api.login_ok("alice", PASSWORD).await;
    let after = now_rfc3339();
    let bobs = api.login_ok("bob", PASSWORD).await;
    let (phone_id, browser_id, laptop_id) = (
        login_id(&phone.access),
        browser.login_id(),
        login_id(&laptop.access),
    );
    let mut secrets = vec![
        phone.access.as_str(),
        phone.refresh.as_str(),
        laptop.access.as_str(),
        laptop.refresh.as_str(),
        bobs.access.as_str(),
        bobs.refresh.as_str(),
    ];
    secrets.extend(browser.values());

    let resp = api
        .get_bearer("/auth/sessions", &laptop.access)
        .await
        .expect(200);
    assert_holds_none(&resp.text(), &secrets);
    let sessions = sessions_of(&resp);
    assert_eq!(
        ids(&sessions),
        [laptop_id.as_str(), browser_id.as_str(), phone_id.as_str()],
        "newest first: {sessions:?}"
    );
    for s in &sessions {
        assert_eq!(s["current"], s["id"] == laptop_id.as_str(), "{s}");
        assert_eq!(s["method"], "password", "{s}");
        assert_eq!(s["ip"], "127.0.0.1", "{s}");
        let created = s["created_at"].as_str().unwrap();
        assert!(
            before.as_str() <= created && created <= after.as_str(),
            "{before} <= {created} <= {after}: {s}"
        );
        // Never refreshed: last used when it began.
        assert_eq!(s["last_used_at"], s["created_at"], "{s}");
    }
    assert_eq!(find(&sessions, &laptop_id)["user_agent"], Value::Null);
    assert_eq!(
        find(&sessions, &browser_id)["user_agent"],
        "Mozilla/5.0 (X11; Linux x86_64)"
    );
    assert_eq!(
        find(&sessions, &phone_id)["user_agent"],
        "TokengatePhone/1.0"
    );

    // The access cookie is enough for a GET; the browser's login is current then.
    let resp = browser
        .send(api, Method::GET, "/auth/sessions", None)
        .await
        .expect(200);
    assert_holds_none(&resp.text(), &secrets);
    let by_cookie = sessions_of(&resp);
    assert_eq!(ids(&by_cookie), ids(&sessions));
    assert_eq!(current(&by_cookie)["id"], browser_id.as_str());
    assert_eq!(
        current(&list(api, &phone.access).await)["id"],
        phone_id.as_str()
    );

    // Only one's own.
    let bob_sessions = list(api, &bobs.access).await;
    assert_eq!(ids(&bob_sessions), [login_id(&bobs.access)]);
    assert_eq!(bob_sessions[0]["current"], true);

    // A refresh stays in its login: the same session, still current.
    let refreshed = api.refresh_ok(&phone.refresh).await;
    let resp = api
        .get_bearer("/auth/sessions", &refreshed.access)
        .await
        .expect(200);
    assert_holds_none(
        &resp.text(),
        &[refreshed.access.as_str(), refreshed.refresh.as_str()],
    );
    let after_refresh = sessions_of(&resp);
    assert_eq!(ids(&after_refresh), ids(&sessions));
    assert_eq!(current(&after_refresh)["id"], phone_id.as_str());

    // A logout ends its session.
    api.post_bearer("/auth/logout", &refreshed.access, None)
        .await
        .expect(200);
    assert_eq!(
        ids(&list(api, &laptop.access).await),
        [laptop_id.as_str(), browser_id.as_str()]
    );

    // Only an access token of this service's own lists.
    api.get("/auth/sessions").await.expect_missing();
    api.get_bearer("/auth/sessions", &laptop.refresh)
        .await
        .expect_token_error("wrong_token_type");
    api.get_bearer("/auth/sessions", "not-a-token")
        .await
        .expect_token_error("invalid_token");
    api.get_bearer("/auth/sessions", &refreshed.access)
        .await
        .expect_token_error("token_revoked");
}

#[tokio::test]
async fn user_agents_are_cut_to_256_characters_without_control_characters() {
    let dir = TestDir::new("sessions-user-agent");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("carol", PASSWORD).await;

    let long_ascii = "A".repeat(300);
    let long_utf8 = "é".repeat(300);
    let cases: [(String, Option<String>); 5] = [
        (long_ascii, Some("A".repeat(256))),
        // Characters, not bytes.
        (long_utf8, Some("é".repeat(256))),
        // A tab and U+0085 (NEL, a C1 control character) are dropped.
        (
            "Mozilla/5.0\t(X11)\u{85} Firefox/140.0".to_owned(),
            Some("Mozilla/5.0(X11) Firefox/140.0".to_owned()),
        ),
        ("Exactly/1.0".to_owned(), Some("Exactly/1.0".to_owned())),
        (String::new(), None),
    ];
    for (agent, expected) in &cases {
        let login = login_as(api, "carol", agent.as_bytes()).await;
        let sessions = list(api, &login.access).await;
        let own = current(&sessions);
        assert_eq!(own["id"], login_id(&login.access).as_str());
        match expected {
            Some(expected) => assert_eq!(own["user_agent"], expected.as_str(), "{agent:?}"),
            None => assert_eq!(own["user_agent"], Value::Null, "{agent:?}"),
        }
    }

    // Control characters before the cut do not push the text past 256.
    let agent = format!("{}{}", "\t".repeat(20), "B".repeat(300));
    let login = login_as(api, "carol", agent.as_bytes()).await;
    let sessions = list(api, &login.access).await;
    let kept = current(&sessions)["user_agent"]
        .as_str()
        .unwrap_or_else(|| panic!("no user agent: {sessions:?}"))
        .to_owned();
    assert!(kept.chars().count() <= 256, "{} characters", kept.len());
    assert!(
        kept.len() >= 236 && kept.chars().all(|c| c == 'B'),
        "{kept:?}"
    );
}

#[tokio::test]
async fn the_address_is_the_forwarded_one_only_behind_a_trusted_proxy() {
    let dir = TestDir::new("sessions-ip-trusted");
    let server = Server::start(&dir, &[("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32")]);
    let api = server.api();
    api.register_ok("dave", PASSWORD).await;
    for (forwarded, expected) in [
        ("198.51.100.7", "198.51.100.7"),
        // Read right to left: the last hop that is not a trusted proxy.
        ("203.0.113.1, 198.51.100.8", "198.51.100.8"),
        ("198.51.100.9, 127.0.0.1", "198.51.100.9"),
        ("2001:db8::7", "2001:db8::7"),
        // Nothing to believe: the proxy itself.
        ("not an address", "127.0.0.1"),
    ] {
        let login = login_forwarded(api, "dave", forwarded).await;
        let sessions = list(api, &login.access).await;
        assert_eq!(current(&sessions)["ip"], expected, "{forwarded}");
    }
    let plain = api.login_ok("dave", PASSWORD).await;
    assert_eq!(current(&list(api, &plain.access).await)["ip"], "127.0.0.1");

    // Without trusted proxies, a client cannot choose its address.
    let dir = TestDir::new("sessions-ip-untrusted");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("dave", PASSWORD).await;
    let login = login_forwarded(api, "dave", "198.51.100.7").await;
    assert_eq!(current(&list(api, &login.access).await)["ip"], "127.0.0.1");
}

#[tokio::test]
async fn ending_a_session_refuses_its_access_and_refresh_tokens_and_nothing_else() {
    let dir = TestDir::new("sessions-end-one");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("erin", PASSWORD).await;
    api.register_ok("frank", PASSWORD).await;
    let phone = api.login_ok("erin", PASSWORD).await;
    let phone_refreshed = api.refresh_ok(&phone.refresh).await;
    let laptop = api.login_ok("erin", PASSWORD).await;
    let bystander = api.login_ok("frank", PASSWORD).await;
    let phone_id = login_id(&phone.access);

    // A refresh token does not end sessions.
    end(api, &laptop.refresh, &phone_id)
        .await
        .expect_token_error("wrong_token_type");
    api.send(api.request(Method::DELETE, &format!("/auth/sessions/{phone_id}")))
        .await
        .expect_missing();
    api.assert_valid(&phone_refreshed.access).await;

    expect_ended(end(api, &laptop.access, &phone_id).await);
    // Every token of that login: the refreshed pair and the first access token.
    assert_ended(api, &phone_refreshed).await;
    api.assert_refused(&phone.access, "token_revoked").await;
    api.refresh(&phone.refresh)
        .await
        .expect_token_error("token_revoked");

    // The others are untouched.
    api.assert_valid(&laptop.access).await;
    api.assert_valid(&bystander.access).await;
    let laptop = api.refresh_ok(&laptop.refresh).await;
    api.refresh_ok(&bystander.refresh).await;
    assert_eq!(
        ids(&list(api, &laptop.access).await),
        [login_id(&laptop.access)]
    );

    // Ended is ended: not found a second time.
    end(api, &laptop.access, &phone_id)
        .await
        .expect_error(404, "not_found");

    // One's own current session too.
    let laptop_id = login_id(&laptop.access);
    expect_ended(end(api, &laptop.access, &laptop_id).await);
    assert_ended(api, &laptop).await;
    api.assert_valid(&bystander.access).await;
}

#[tokio::test]
async fn another_users_session_and_an_unknown_one_get_the_same_404() {
    let dir = TestDir::new("sessions-404");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("grace", PASSWORD).await;
    api.register_ok("mallory", PASSWORD).await;
    let graces = api.login_ok("grace", PASSWORD).await;
    let mallorys = api.login_ok("mallory", PASSWORD).await;
    let grace_id = login_id(&graces.access);

    let theirs = end(api, &mallorys.access, &grace_id).await;
    let unknown = end(api, &mallorys.access, "no-such-session").await;
    assert_eq!(theirs.body, unknown.body, "{theirs:?} / {unknown:?}");
    assert_eq!(
        theirs.header("content-type"),
        unknown.header("content-type")
    );
    theirs.expect_error(404, "not_found");
    unknown.expect_error(404, "not_found");
    // A made-up id that looks like a real one, an odd one, a long one.
    let mut lookalike = grace_id.clone();
    let last = lookalike.pop().expect("a non-empty id");
    lookalike.push(if last == 'a' { 'b' } else { 'a' });
    let long = "x".repeat(500);
    for id in [lookalike.as_str(), "%FF", long.as_str()] {
        end(api, &mallorys.access, id)
            .await
            .expect_error(404, "not_found");
    }

    // Grace's session lives on, and she still sees it.
    api.assert_valid(&graces.access).await;
    let graces = api.refresh_ok(&graces.refresh).await;
    assert_eq!(ids(&list(api, &graces.access).await), [grace_id]);
    assert_eq!(
        ids(&list(api, &mallorys.access).await),
        [login_id(&mallorys.access)]
    );
}

#[tokio::test]
async fn cookie_requests_that_end_sessions_need_the_csrf_token() {
    let dir = TestDir::new("sessions-csrf");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("heidi", PASSWORD).await;
    let browser = Browser::log_in(api, "heidi", None).await;
    let phone = api.login_ok("heidi", PASSWORD).await;
    let tablet = api.login_ok("heidi", PASSWORD).await;
    let phone_path = format!("/auth/sessions/{}", login_id(&phone.access));

    for csrf in [
        None,
        Some("wrong"),
        Some(browser.csrf_refresh.value.as_str()),
    ] {
        browser
            .send(api, Method::DELETE, &phone_path, csrf)
            .await
            .expect_token_error("csrf_failed");
        browser
            .send(api, Method::DELETE, "/auth/sessions", csrf)
            .await
            .expect_token_error("csrf_failed");
    }
    // Nothing ended.
    api.assert_valid(&phone.access).await;
    api.assert_valid(&tablet.access).await;
    assert_eq!(list(api, &phone.access).await.len(), 3);

    let csrf = Some(browser.csrf_access.value.as_str());
    expect_ended(browser.send(api, Method::DELETE, &phone_path, csrf).await);
    assert_ended(api, &phone).await;
    api.assert_valid(&tablet.access).await;

    expect_ended(
        browser
            .send(api, Method::DELETE, "/auth/sessions", csrf)
            .await,
    );
    assert_ended(api, &tablet).await;
    // The browser's own session goes on.
    let left = sessions_of(
        &browser
            .send(api, Method::GET, "/auth/sessions", None)
            .await
            .expect(200),
    );
    assert_eq!(ids(&left), [browser.login_id()]);
    assert_eq!(left[0]["current"], true);
    browser
        .send(
            api,
            Method::POST,
            "/auth/session/refresh",
            Some(&browser.csrf_refresh.value),
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn ending_the_other_sessions_keeps_the_current_one() {
    let dir = TestDir::new("sessions-end-others");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("ivan", PASSWORD).await;
    api.register_ok("judy", PASSWORD).await;
    let keeper = api.login_ok("ivan", PASSWORD).await;
    let browser = Browser::log_in(api, "ivan", None).await;
    let other = api.login_ok("ivan", PASSWORD).await;
    let other = api.refresh_ok(&other.refresh).await;
    let bystander = api.login_ok("judy", PASSWORD).await;

    end_others(api, &keeper.refresh)
        .await
        .expect_token_error("wrong_token_type");
    api.send(api.request(Method::DELETE, "/auth/sessions"))
        .await
        .expect_missing();

    expect_ended(end_others(api, &keeper.access).await);
    assert_ended(api, &other).await;
    browser
        .send(api, Method::GET, "/auth/status", None)
        .await
        .expect_token_error("token_revoked");
    browser
        .send(
            api,
            Method::POST,
            "/auth/session/refresh",
            Some(&browser.csrf_refresh.value),
        )
        .await
        .expect_token_error("token_revoked");

    api.assert_valid(&keeper.access).await;
    let keeper = api.refresh_ok(&keeper.refresh).await;
    let left = list(api, &keeper.access).await;
    assert_eq!(ids(&left), [login_id(&keeper.access)]);
    assert_eq!(left[0]["current"], true);
    // Another user's sessions are not the caller's others.
    api.assert_valid(&bystander.access).await;
    api.refresh_ok(&bystander.refresh).await;

    // Nothing left to end is still a 204; a later login is not touched.
    expect_ended(end_others(api, &keeper.access).await);
    let later = api.login_ok("ivan", PASSWORD).await;
    api.assert_valid(&later.access).await;
    assert_eq!(list(api, &later.access).await.len(), 2);
}

/// The list shows live logins only: a login whose tokens `logout-all`
/// revoked is no longer one.
#[tokio::test]
async fn sessions_revoked_by_logout_all_are_not_listed() {
    let dir = TestDir::new("sessions-logout-all");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("kim", PASSWORD).await;
    let first = api.login_ok("kim", PASSWORD).await;
    let second = api.login_ok("kim", PASSWORD).await;
    api.post_bearer("/auth/logout-all", &first.access, None)
        .await
        .expect(200);
    assert_ended(api, &second).await;
    let after = api.login_ok("kim", PASSWORD).await;
    assert_eq!(
        ids(&list(api, &after.access).await),
        [login_id(&after.access)],
        "logins revoked by logout-all are still listed"
    );
}

/// Nor is a login that a password change revoked.
#[tokio::test]
async fn sessions_revoked_by_a_password_change_are_not_listed() {
    let dir = TestDir::new("sessions-password");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("kit", PASSWORD).await;
    let other = api.login_ok("kit", PASSWORD).await;
    let login = api.login_ok("kit", PASSWORD).await;
    let resp = api
        .post_bearer(
            "/auth/password",
            &login.access,
            Some(&json!({"current_password": PASSWORD, "new_password": "a new password"})),
        )
        .await
        .expect(200);
    let new = pair(&resp.json());
    assert_ended(api, &other).await;
    assert_ended(api, &login).await;
    assert_eq!(
        ids(&list(api, &new.access).await),
        [login_id(&new.access)],
        "logins revoked by a password change are still listed"
    );
}

#[tokio::test]
async fn a_refresh_moves_last_used_at_and_using_an_access_token_does_not() {
    let dir = TestDir::new("sessions-last-used");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("leo", PASSWORD).await;
    let login = api.login_ok("leo", PASSWORD).await;
    let started = current(&list(api, &login.access).await).clone();
    assert_eq!(started["last_used_at"], started["created_at"]);

    // Past the next second boundary: a new time would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.assert_valid(&login.access).await;
    api.get_bearer("/auth/me", &login.access).await.expect(200);
    let used = current(&list(api, &login.access).await).clone();
    assert_eq!(used, started, "using an access token changed the session");

    let before = now_rfc3339();
    let next = api.refresh_ok(&login.refresh).await;
    let after = now_rfc3339();
    let refreshed = current(&list(api, &next.access).await).clone();
    assert_eq!(refreshed["id"], started["id"]);
    assert_eq!(refreshed["created_at"], started["created_at"]);
    let last_used = refreshed["last_used_at"].as_str().unwrap();
    assert!(
        started["created_at"].as_str().unwrap() < last_used,
        "last_used_at did not move: {refreshed}"
    );
    assert!(
        before.as_str() <= last_used && last_used <= after.as_str(),
        "{before} <= {last_used} <= {after}"
    );
}

/// `n` refreshes with the same token at once; the answers in the order sent.
async fn race(api: &Api, refresh: &str, n: usize) -> Vec<Resp> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (api, refresh) = (api.clone(), refresh.to_owned());
        tasks.spawn(async move { (i, api.refresh(&refresh).await) });
    }
    let mut answers: Vec<Option<Resp>> = (0..n).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, resp) = done.expect("the refresh task");
        answers[i] = Some(resp);
    }
    answers.into_iter().map(|a| a.expect("an answer")).collect()
}

#[tokio::test]
async fn within_the_reuse_interval_a_spent_refresh_token_gets_the_current_one_again() {
    let dir = TestDir::new("sessions-reuse-within");
    let server = Server::start(&dir, &[("TOKENGATE_REFRESH_REUSE_INTERVAL", "30s")]);
    let api = server.api();
    api.register_ok("mia", PASSWORD).await;
    let login = api.login_ok("mia", PASSWORD).await;
    let id = login_id(&login.access);

    let first = api.refresh_ok(&login.refresh).await;
    // The second tab, with the same (now spent) token.
    let second = api.refresh_ok(&login.refresh).await;
    assert_eq!(
        jti(&second.refresh),
        jti(&first.refresh),
        "the login's current refresh token again"
    );
    for pair in [&first, &second] {
        assert_eq!(login_id(&pair.access), id);
        assert_eq!(login_id(&pair.refresh), id);
        api.assert_valid(&pair.access).await;
    }
    api.assert_valid(&login.access).await;
    assert_eq!(ids(&list(api, &second.access).await), [id.as_str()]);

    // Either tab refreshes on: the first rotates, the other's is then the
    // one spent last, within the interval.
    let third = api.refresh_ok(&second.refresh).await;
    let fourth = api.refresh_ok(&first.refresh).await;
    assert_eq!(jti(&fourth.refresh), jti(&third.refresh));
    api.assert_valid(&third.access).await;
    api.assert_valid(&fourth.access).await;
    assert_eq!(ids(&list(api, &fourth.access).await), [id.as_str()]);

    // The first token is two rotations back: reuse, the login ends.
    api.refresh(&login.refresh)
        .await
        .expect_token_error("token_revoked");
    for pair in [&first, &second, &third, &fourth] {
        assert_ended(api, pair).await;
    }

    // Two refreshes at once with one token: both answered in one login.
    let login = api.login_ok("mia", PASSWORD).await;
    let answers = race(api, &login.refresh, 2).await;
    let pairs: Vec<Pair> = answers
        .iter()
        .map(|resp| {
            assert_eq!(resp.status, 200, "{resp:?}");
            pair(&resp.json())
        })
        .collect();
    assert_eq!(jti(&pairs[0].refresh), jti(&pairs[1].refresh));
    for pair in &pairs {
        api.assert_valid(&pair.access).await;
    }
    let sessions = list(api, &pairs[0].access).await;
    assert_eq!(ids(&sessions), [login_id(&login.access)]);
    api.refresh_ok(&pairs[1].refresh).await;
}

/// Many tabs refreshing at once with one token, within the interval: each
/// gets a pair, whichever of them the store saw first, and the login goes
/// on. (A request that read the clock before the winner did, and reached
/// the store after it, is one of them too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_concurrent_refresh_within_the_reuse_interval_gets_a_pair() {
    let dir = TestDir::new("sessions-reuse-many");
    let server = Server::start(&dir, &[("TOKENGATE_REFRESH_REUSE_INTERVAL", "30s")]);
    let api = server.api();
    api.register_ok("max", PASSWORD).await;
    for round in 0..5 {
        let login = api.login_ok("max", PASSWORD).await;
        let answers = race(api, &login.refresh, 20).await;
        let refused: Vec<&Resp> = answers.iter().filter(|r| r.status != 200).collect();
        assert!(
            refused.is_empty(),
            "round {round}: {} of 20 refused: {:?}",
            refused.len(),
            refused.first()
        );
        let jtis: BTreeSet<String> = answers
            .iter()
            .map(|resp| jti(&pair(&resp.json()).refresh))
            .collect();
        assert_eq!(jtis.len(), 1, "round {round}: {jtis:?}");
        let next = pair(&answers[0].json());
        api.assert_valid(&next.access).await;
        api.refresh_ok(&next.refresh).await;
    }
}

#[tokio::test]
async fn after_the_reuse_interval_a_spent_refresh_token_ends_the_login() {
    let dir = TestDir::new("sessions-reuse-after");
    let server = Server::start(&dir, &[("TOKENGATE_REFRESH_REUSE_INTERVAL", "1s")]);
    let api = server.api();
    api.register_ok("nina", PASSWORD).await;
    let witness = api.login_ok("nina", PASSWORD).await;
    let login = api.login_ok("nina", PASSWORD).await;
    let next = api.refresh_ok(&login.refresh).await;

    // Well past the interval since the token's first use.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    api.refresh(&login.refresh)
        .await
        .expect_token_error("token_revoked");
    assert_ended(api, &next).await;
    api.assert_refused(&login.access, "token_revoked").await;
    assert_eq!(
        ids(&list(api, &witness.access).await),
        [login_id(&witness.access)]
    );
    api.refresh_ok(&witness.refresh).await;
}

#[tokio::test]
async fn without_a_reuse_interval_one_of_two_concurrent_refreshes_wins_and_the_login_ends() {
    let dir = TestDir::new("sessions-reuse-zero");
    let server = Server::start(&dir, &[("TOKENGATE_REFRESH_REUSE_INTERVAL", "0s")]);
    let api = server.api();
    api.register_ok("otto", PASSWORD).await;
    let witness = api.login_ok("otto", PASSWORD).await;
    let login = api.login_ok("otto", PASSWORD).await;

    let answers = race(api, &login.refresh, 2).await;
    let mut winners = Vec::new();
    for resp in answers {
        if resp.status == 200 {
            winners.push(pair(&resp.json()));
        } else {
            resp.expect_token_error("token_revoked");
        }
    }
    assert_eq!(winners.len(), 1, "{} refreshes succeeded", winners.len());
    // The loser was reuse: the login ended, the winner's tokens with it.
    assert_ended(api, &winners[0]).await;
    api.assert_refused(&login.access, "token_revoked").await;
    assert_eq!(
        ids(&list(api, &witness.access).await),
        [login_id(&witness.access)]
    );
}

/// `tokengate_sessions_ended_total{by}` of a scrape, 0 if absent.
fn ended_total(metrics: &str, by: &str) -> f64 {
    let series = format!("tokengate_sessions_ended_total{{by=\"{by}\"}}");
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .map_or(0.0, |(_, value)| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {value}"))
        })
}

#[tokio::test]
async fn ended_sessions_are_counted_in_the_metrics() {
    let dir = TestDir::new("sessions-metrics");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("pat", PASSWORD).await;
    let keeper = api.login_ok("pat", PASSWORD).await;
    let metrics = api.get("/metrics").await.expect(200).text();
    assert_eq!(ended_total(&metrics, "owner"), 0.0);
    assert_eq!(ended_total(&metrics, "owner_others"), 0.0);

    let one = api.login_ok("pat", PASSWORD).await;
    expect_ended(end(api, &keeper.access, &login_id(&one.access)).await);
    // A 404 ends nothing.
    end(api, &keeper.access, &login_id(&one.access))
        .await
        .expect_error(404, "not_found");
    for _ in 0..2 {
        api.login_ok("pat", PASSWORD).await;
    }
    expect_ended(end_others(api, &keeper.access).await);

    let metrics = api.get("/metrics").await.expect(200).text();
    assert!(
        metrics.contains("# TYPE tokengate_sessions_ended_total counter"),
        "{metrics}"
    );
    assert_eq!(ended_total(&metrics, "owner"), 1.0, "{metrics}");
    assert_eq!(ended_total(&metrics, "owner_others"), 2.0, "{metrics}");
    assert_holds_none(&metrics, &[keeper.access.as_str(), keeper.refresh.as_str()]);
}

#[tokio::test]
async fn the_cli_lists_a_users_sessions_and_ends_one() {
    let dir = TestDir::new("sessions-cli");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let user = api.register_ok("quinn", PASSWORD).await;
    api.register_ok("rob", PASSWORD).await;
    let older = login_as(api, "quinn", "curl/8.5.0 (\tlinux)".as_bytes()).await;
    let newer = api.login_ok("quinn", PASSWORD).await;
    let robs = api.login_ok("rob", PASSWORD).await;
    let (older_id, newer_id) = (login_id(&older.access), login_id(&newer.access));

    let run = cli(&dir, &["sessions", "list", "--user", "quinn"], "").expect_success();
    for secret in [&older.access, &older.refresh, &newer.access, &newer.refresh] {
        assert!(!run.stdout.contains(secret.as_str()), "{run:?}");
    }
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    // The same sessions as the API's, in its order.
    let api_sessions = list(api, &newer.access).await;
    assert_eq!(ids(&api_sessions), [newer_id.as_str(), older_id.as_str()]);
    for (fields, session) in lines.iter().zip(&api_sessions) {
        let [id, created, last_used, method, ip, agent] = fields[..] else {
            panic!("not six tab-separated fields: {fields:?}")
        };
        assert_eq!(id, session["id"], "{fields:?}");
        assert_eq!(created, session["created_at"], "{fields:?}");
        assert_eq!(last_used, session["last_used_at"], "{fields:?}");
        assert!(
            is_rfc3339_utc(created) && is_rfc3339_utc(last_used),
            "{fields:?}"
        );
        assert_eq!(method, "password", "{fields:?}");
        assert_eq!(ip, "127.0.0.1", "{fields:?}");
        let expected_agent = if id == older_id {
            "curl/8.5.0 (linux)"
        } else {
            "-"
        };
        assert_eq!(agent, expected_agent, "{fields:?}");
    }

    let run = cli(&dir, &["sessions", "list", "--user", "nobody"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("nobody"), "{run:?}");

    let run = cli(&dir, &["sessions", "end", older_id.as_str()], "").expect_success();
    assert_eq!(
        run.stdout.trim_end(),
        format!(
            "ended session {older_id} of user id {}; its tokens are revoked",
            user["id"]
        ),
        "{run:?}"
    );
    // The running service hears of it (at its next poll without Redis).
    let (api_ref, token) = (api, &older.access);
    eventually(
        "the running service refuses the ended session's token",
        || async move { api_ref.private(token).await.status == 401 },
    )
    .await;
    assert_ended(api, &older).await;
    api.assert_valid(&newer.access).await;
    api.assert_valid(&robs.access).await;
    let run = cli(&dir, &["sessions", "list", "--user", "quinn"], "").expect_success();
    let listed: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(listed, [newer_id.as_str()], "{run:?}");

    for id in [older_id.as_str(), "no-such-session"] {
        let run = cli(&dir, &["sessions", "end", id], "");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains(&format!("no live session {id}")),
            "{run:?}"
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    api.assert_valid(&newer.access).await;
}

/// An OpenID login is listed as `oidc` with its provider's name, in the
/// API and in the CLI (`oidc:NAME`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_login_is_listed_with_its_provider() {
    use crate::fake_oidc::{FAKE, Rig};
    use crate::rp::{Session, me};

    let rig = Rig::start("sessions-oidc").await;
    let api = rig.api();
    let (resp, _) = rig.log_in("sam", None).await;
    let session = Session::from(&resp);
    let username = me(api, &session).await["username"]
        .as_str()
        .expect("a username")
        .to_owned();

    let resp = api
        .send(
            api.request(Method::GET, "/auth/sessions")
                .header("cookie", session.header()),
        )
        .await
        .expect(200);
    for cookie in [
        &session.access,
        &session.refresh,
        &session.csrf_access,
        &session.csrf_refresh,
    ] {
        assert!(!resp.text().contains(&cookie.value), "{resp:?}");
    }
    let sessions = sessions_of(&resp);
    let [own] = &sessions[..] else {
        panic!("one session: {sessions:?}")
    };
    assert_eq!(own["method"], "oidc", "{own}");
    assert_eq!(own["provider"], FAKE, "{own}");
    assert_eq!(own["current"], true, "{own}");
    assert_eq!(own["id"], login_id(&session.access.value).as_str());
    assert_eq!(own["ip"], "127.0.0.1", "{own}");

    let run = tokio::task::block_in_place(|| {
        cli(
            &rig.dir,
            &["sessions", "list", "--user", username.as_str()],
            "",
        )
    })
    .expect_success();
    let fields: Vec<&str> = run.stdout.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 6, "{run:?}");
    assert_eq!(fields[0], own["id"], "{run:?}");
    assert_eq!(fields[3], format!("oidc:{FAKE}"), "{run:?}");
}
