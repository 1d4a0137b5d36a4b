//! What the OIDC login tests share: tokengate started on
//! a known port with `[[oidc_providers]]`, the checks of a login's first
//! redirect and of a callback's answer, and a cookie-keeping browser.
//!
//! The contract these helpers encode (the service must match it):
//! - `GET /auth/oidc/{name}/login` answers 303 to the provider's
//!   authorization endpoint and sets [`STATE_COOKIE`] (HttpOnly, not
//!   `SameSite=Strict`, a `Max-Age` of at most an hour);
//! - a successful callback answers 303 to the local `next`, sets the four
//!   session cookies of `POST /auth/session` and clears [`STATE_COOKIE`]
//!   (empty value, `Max-Age=0`);
//! - a failed one answers 400 `{"code","msg"}` and sets no session cookie.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use reqwest::{Method, Url};
use serde_json::Value;

use crate::common::{Api, Resp, Server, SetCookie, TestDir, cli};
use crate::oidc_provider::{WEB_CLIENT_ID, WEB_CLIENT_SECRET, form};

/// The cookie that binds a login's `state` to the browser that started it.
pub(crate) const STATE_COOKIE: &str = "tg_oidc";

/// The session cookies `POST /auth/session` sets (Flask-JWT-Extended's names).
pub(crate) const JWT_COOKIES: [&str; 2] = ["access_token_cookie", "refresh_token_cookie"];
pub(crate) const CSRF_COOKIES: [&str; 2] = ["csrf_access_token", "csrf_refresh_token"];

/// One `[[oidc_providers]]` entry: its route name and issuer. The client is
/// always the provider's web client.
pub(crate) struct ProviderEntry<'a> {
    pub(crate) name: &'a str,
    pub(crate) issuer: &'a str,
}

/// `http://127.0.0.1:{port}/auth/oidc/{name}/callback`: the `redirect_url`
/// the config gives for `name`.
pub(crate) fn callback_url(port: u16, name: &str) -> String {
    format!("http://127.0.0.1:{port}/auth/oidc/{name}/callback")
}

/// `http://127.0.0.1:{port}/`: the `post_logout_redirect_url` of every entry.
pub(crate) fn home_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

/// Writes a config with `providers` beside the data directory; returns its
/// path for `TOKENGATE_CONFIG`.
fn write_config(dir: &TestDir, port: u16, providers: &[ProviderEntry<'_>]) -> PathBuf {
    let path = dir
        .data()
        .parent()
        .expect("the test directory")
        .join("tokengate-oidc.toml");
    let mut text = String::new();
    for p in providers {
        text.push_str(&format!(
            r#"[[oidc_providers]]
name = "{name}"
issuer = "{issuer}"
client_id = "{WEB_CLIENT_ID}"
client_secret = "{WEB_CLIENT_SECRET}"
scopes = ["openid", "profile", "email"]
redirect_url = "{redirect}"
post_logout_redirect_url = "{home}"

"#,
            name = p.name,
            issuer = p.issuer,
            redirect = callback_url(port, p.name),
            home = home_url(port),
        ));
    }
    std::fs::write(&path, text).expect("write the config");
    path
}

/// tokengate on `127.0.0.1:{port}` (see [`crate::common::free_port`]) with
/// `providers`. Blocks in place: the test's runtime may serve a provider
/// that tokengate reaches while it starts (a multi-thread runtime is needed).
pub(crate) fn start_rp(dir: &TestDir, port: u16, providers: &[ProviderEntry<'_>]) -> Server {
    start_rp_instance(dir, port, port, providers, &[])
}

/// [`start_rp`] for one instance of a deployment: it listens on `port`,
/// with the callback URLs of `public_port` (where a load balancer in front
/// of every instance would be) and the settings `env`.
pub(crate) fn start_rp_instance(
    dir: &TestDir,
    port: u16,
    public_port: u16,
    providers: &[ProviderEntry<'_>],
    env: &[(&str, &str)],
) -> Server {
    let config = write_config(dir, public_port, providers);
    let listen = format!("127.0.0.1:{port}");
    let mut env = env.to_vec();
    env.push(("TOKENGATE_CONFIG", config.to_str().expect("UTF-8 path")));
    let server = tokio::task::block_in_place(|| Server::start_on(dir, &listen, &env));
    assert_eq!(server.api().addr(), listen, "tokengate took another port");
    server
}

/// How many local users exist (`tokengate user list`, one line each).
pub(crate) fn user_count(dir: &TestDir) -> usize {
    let run = tokio::task::block_in_place(|| cli(dir, &["user", "list"], "")).expect_success();
    run.stdout.lines().filter(|l| !l.trim().is_empty()).count()
}

/// The query parameters of `url`, each name once.
pub(crate) fn query_map(url: &Url) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        let previous = map.insert(k.clone().into_owned(), v.into_owned());
        assert!(previous.is_none(), "{k} twice in {url}");
    }
    map
}

/// The `Location` of a redirect, resolved against the URL that answered.
#[track_caller]
pub(crate) fn location(resp: &Resp, from: &str) -> Url {
    let loc = resp
        .header("location")
        .unwrap_or_else(|| panic!("no Location: {resp:?}"));
    Url::parse(from)
        .and_then(|base| base.join(&loc))
        .unwrap_or_else(|e| panic!("Location {loc:?} does not resolve ({e}): {resp:?}"))
}

/// The path (and query) a 303 of tokengate sends the browser to, resolved
/// as a browser would (WHATWG URL parsing: `//host`, `/\host`, tabs...); it
/// must stay on tokengate's origin.
#[track_caller]
pub(crate) fn local_target(api: &Api, resp: &Resp) -> String {
    assert_eq!(resp.status, 303, "{resp:?}");
    let base = format!("{}/", api.base());
    let target = location(resp, &base);
    let origin = Url::parse(&base).unwrap().origin();
    assert_eq!(
        target.origin(),
        origin,
        "an open redirect to {target}: {resp:?}"
    );
    match target.query() {
        Some(q) => format!("{}?{q}", target.path()),
        None => target.path().to_owned(),
    }
}

/// What `GET /auth/oidc/{name}/login` answered: 303 to the authorization
/// endpoint, and the state cookie.
#[derive(Debug, Clone)]
pub(crate) struct LoginStart {
    pub(crate) url: Url,
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) code_challenge: String,
    pub(crate) cookie: SetCookie,
}

impl LoginStart {
    /// `tg_oidc=...`, for a `Cookie` header.
    pub(crate) fn cookie_header(&self) -> String {
        self.cookie.pair()
    }
}

/// `GET /auth/oidc/{name}/login` (`raw_query` as sent, e.g. `next=%2Fa`),
/// checked: 303 to `authorization_endpoint` with the code flow's parameters
/// (PKCE S256, `state`, `nonce`, the configured `redirect_uri` and scopes)
/// and a short-lived HttpOnly [`STATE_COOKIE`].
pub(crate) async fn start_login(
    api: &Api,
    name: &str,
    raw_query: Option<&str>,
    authorization_endpoint: &str,
) -> LoginStart {
    let path = match raw_query {
        Some(q) => format!("/auth/oidc/{name}/login?{q}"),
        None => format!("/auth/oidc/{name}/login"),
    };
    let resp = api.get(&path).await.expect(303);
    let url = location(&resp, &format!("{}/", api.base()));
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        authorization_endpoint,
        "{resp:?}"
    );
    let params = query_map(&url);
    let param = |k: &str| {
        params
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {url}"))
            .clone()
    };
    assert_eq!(param("response_type"), "code", "{url}");
    assert_eq!(param("client_id"), WEB_CLIENT_ID, "{url}");
    let port = api.addr().rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(param("redirect_uri"), callback_url(port, name), "{url}");
    let scopes: Vec<String> = param("scope").split(' ').map(str::to_owned).collect();
    for s in ["openid", "profile", "email"] {
        assert!(scopes.iter().any(|x| x == s), "{s} not asked for: {url}");
    }
    assert_eq!(param("code_challenge_method"), "S256", "{url}");
    let code_challenge = param("code_challenge");
    // base64url of a SHA-256: 43 characters, no padding.
    assert_eq!(code_challenge.len(), 43, "{url}");
    let state = param("state");
    let nonce = param("nonce");
    // Unguessable values: at least 128 bits in base64url or hex.
    assert!(state.len() >= 22, "a short state: {url}");
    assert!(nonce.len() >= 22, "a short nonce: {url}");
    assert_ne!(state, nonce, "{url}");

    let cookie = resp.cookie(STATE_COOKIE);
    assert!(!cookie.value.is_empty(), "{cookie:?}");
    assert!(cookie.has("HttpOnly"), "{cookie:?}");
    // The callback is a top-level navigation from the provider's site.
    assert!(!cookie.has("SameSite=Strict"), "{cookie:?}");
    let max_age: u64 = cookie
        .attrs
        .iter()
        .find_map(|a| {
            let (k, v) = a.split_once('=')?;
            k.eq_ignore_ascii_case("Max-Age").then(|| v.parse().ok())?
        })
        .unwrap_or_else(|| panic!("a short-lived cookie needs Max-Age: {cookie:?}"));
    assert!((1..=3600).contains(&max_age), "{cookie:?}");
    // No session is set by starting a login.
    assert_no_session(&resp);
    LoginStart {
        url,
        state,
        nonce,
        code_challenge,
        cookie,
    }
}

/// `GET /auth/oidc/{name}/callback?{raw_query}` with `cookie` (a `Cookie`
/// header) and, when given, an `Accept` header.
pub(crate) async fn callback(
    api: &Api,
    name: &str,
    raw_query: &str,
    cookie: Option<&str>,
    accept: Option<&str>,
) -> Resp {
    let mut request = api.request(
        Method::GET,
        &format!("/auth/oidc/{name}/callback?{raw_query}"),
    );
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    api.send(request).await
}

/// `code=..&state=..&iss=..`, form-encoded (any of them may be left out).
pub(crate) fn callback_query(code: Option<&str>, state: Option<&str>, iss: Option<&str>) -> String {
    let mut pairs = Vec::new();
    if let Some(code) = code {
        pairs.push(("code", code));
    }
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    if let Some(iss) = iss {
        pairs.push(("iss", iss));
    }
    form(&pairs)
}

/// The answer sets no session cookie with a value (clearing them is fine).
#[track_caller]
pub(crate) fn assert_no_session(resp: &Resp) {
    for c in resp.set_cookies() {
        if JWT_COOKIES.contains(&c.name.as_str()) || CSRF_COOKIES.contains(&c.name.as_str()) {
            assert!(
                c.value.is_empty(),
                "a session cookie was set ({c:?}): {resp:?}"
            );
        }
    }
}

/// The answer clears cookie `name`: empty value, `Max-Age=0`.
#[track_caller]
pub(crate) fn assert_cleared(resp: &Resp, name: &str) {
    let c = resp.cookie(name);
    assert!(c.value.is_empty(), "{name} not cleared: {c:?}");
    assert!(c.has("Max-Age=0"), "{name} not cleared: {c:?}");
}

/// A failed callback (`what` names the case): `400` with `code` (as JSON:
/// the `{"code","msg"}` body), no session cookie.
#[track_caller]
pub(crate) fn expect_refused(resp: Resp, code: &str, what: &str) {
    assert_eq!(resp.status, 400, "{what}: {resp:?}");
    let body = resp.json();
    assert_eq!(body["code"], code, "{what}: {resp:?}");
    assert_no_session(&resp);
    resp.expect_error(400, code);
}

/// The session cookies of a successful callback, checked as in browser.rs.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) access: SetCookie,
    pub(crate) refresh: SetCookie,
    pub(crate) csrf_access: SetCookie,
    pub(crate) csrf_refresh: SetCookie,
}

impl Session {
    /// The four cookies of `resp`, which also clears [`STATE_COOKIE`].
    #[track_caller]
    pub(crate) fn from(resp: &Resp) -> Session {
        for name in JWT_COOKIES {
            let c = resp.cookie(name);
            assert!(c.has("HttpOnly"), "{c:?}");
            assert_eq!(c.value.matches('.').count(), 2, "a JWT: {c:?}");
            assert!(c.has("Path=/"), "{c:?}");
        }
        for name in CSRF_COOKIES {
            let c = resp.cookie(name);
            assert!(!c.has("HttpOnly"), "scripts must read it: {c:?}");
            assert!(!c.value.is_empty(), "{c:?}");
            assert!(c.has("Path=/"), "{c:?}");
        }
        assert_cleared(resp, STATE_COOKIE);
        Session {
            access: resp.cookie("access_token_cookie"),
            refresh: resp.cookie("refresh_token_cookie"),
            csrf_access: resp.cookie("csrf_access_token"),
            csrf_refresh: resp.cookie("csrf_refresh_token"),
        }
    }

    /// A `Cookie` header with all four.
    pub(crate) fn header(&self) -> String {
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

/// `GET path` with `cookie` as the `Cookie` header.
pub(crate) async fn get_with_cookie(api: &Api, path: &str, cookie: &str) -> Resp {
    api.send(api.request(Method::GET, path).header("cookie", cookie))
        .await
}

/// `GET /auth/me` with the session's access cookie: 200, the local user.
pub(crate) async fn me(api: &Api, session: &Session) -> Value {
    let me = get_with_cookie(api, "/auth/me", &session.access.pair())
        .await
        .expect(200)
        .json();
    assert!(!me["id"].is_null(), "{me}");
    assert!(
        me["username"].as_str().is_some_and(|u| !u.is_empty()),
        "{me}"
    );
    me
}

/// `/auth/me` shows the link to the provider's account: somewhere in it an
/// object `{"provider": provider, "sub": sub, ...}` (for instance
/// `"identities": [{"provider": "dev", "sub": "alice"}]`).
#[track_caller]
pub(crate) fn assert_linked(me: &Value, provider: &str, sub: &str) {
    fn find(v: &Value, provider: &str, sub: &str) -> bool {
        match v {
            Value::Object(map) => {
                (map.get("provider").and_then(Value::as_str) == Some(provider)
                    && map.get("sub").and_then(Value::as_str) == Some(sub))
                    || map.values().any(|v| find(v, provider, sub))
            }
            Value::Array(items) => items.iter().any(|v| find(v, provider, sub)),
            _ => false,
        }
    }
    assert!(
        find(me, provider, sub),
        "/auth/me does not show the link to {provider}/{sub}: {me}"
    );
}

/// A browser without scripts: keeps cookies per origin (`Path` is ignored,
/// expired and emptied cookies are dropped) and follows nothing by itself.
#[derive(Default)]
pub(crate) struct Browser {
    jars: HashMap<String, BTreeMap<String, String>>,
    clients: HashMap<String, Api>,
}

impl Browser {
    pub(crate) fn new() -> Browser {
        Browser::default()
    }

    pub(crate) async fn get(&mut self, url: &Url) -> Resp {
        self.send(Method::GET, url, None).await
    }

    /// Posts an `application/x-www-form-urlencoded` form.
    pub(crate) async fn post_form(&mut self, url: &Url, pairs: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, url, Some(form(pairs))).await
    }

    async fn send(&mut self, method: Method, url: &Url, body: Option<String>) -> Resp {
        let origin = url.origin().ascii_serialization();
        let api = self
            .clients
            .entry(origin.clone())
            .or_insert_with(|| Api::at(&origin))
            .clone();
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = api.request(method, &path);
        if let Some(cookie) = self.cookie_header(&origin) {
            request = request.header("cookie", cookie);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = api.send(request).await;
        let jar = self.jars.entry(origin).or_default();
        for c in resp.set_cookies() {
            let expired = c.value.is_empty()
                || c.has("Max-Age=0")
                || c.attrs
                    .iter()
                    .any(|a| a.to_ascii_lowercase().starts_with("expires=") && a.contains("1970"));
            if expired {
                jar.remove(&c.name);
            } else {
                jar.insert(c.name, c.value);
            }
        }
        resp
    }

    /// The `Cookie` header this browser sends to `origin`.
    pub(crate) fn cookie_header(&self, origin: &str) -> Option<String> {
        let jar = self.jars.get(origin)?;
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}
