//! Forward auth behind real reverse proxies: Debian's nginx (`auth_request`)
//! and Caddy (`forward_auth`), each run with the very config shipped in
//! `deploy/` (nginx: `deploy/nginx/tokengate.conf` included from a main
//! config the test writes; Caddy: `deploy/caddy/Caddyfile` as is, its
//! addresses given through environment variables). The protected
//! application is an echo server of the test's own that records every
//! request it receives, so a test sees exactly what passed the proxy.
//!
//! `nginx` and `caddy` must be on PATH (scripts/install-proxies.sh installs
//! them); a missing one fails the tests, never skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Json;
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::common::{Api, Pair, Resp, Server, TestDir, claims, cli, eventually, free_port};
use crate::fake_oidc::FakeProvider;
use crate::oidc_provider::{WEB_CLIENT_ID, WEB_CLIENT_SECRET};
use crate::rp::{Session, callback_query, location, query_map};

const PASSWORD: &str = "correct horse battery";

/// The identity headers tokengate answers and the proxies pass on.
const IDENTITY: [&str; 4] = [
    "x-auth-subject",
    "x-auth-scopes",
    "x-auth-roles",
    "x-auth-issuer",
];

/// The `[[oidc_providers]]` name the shipped configs send browsers to.
const SSO: &str = "sso";

/// The repository's root (two levels above this crate).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A file of the repository, as text.
fn repo_file(path: &str) -> String {
    let full = repo().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// The path of `program` (on PATH, or in /usr/sbin, where Debian puts
/// nginx); panics, never skips, when it is missing.
fn require(program: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.into_iter()
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not on PATH: these tests run the real reverse proxies; \
                 run scripts/install-proxies.sh (it installs nginx-light and caddy with apt-get)"
            )
        })
}

// ---------------------------------------------------------------------------
// The protected application: an echo server.

/// One request the application received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, as received.
    uri: String,
    /// Lower-case names; every value of each.
    headers: BTreeMap<String, Vec<String>>,
}

impl Seen {
    /// The application was told the request is `subject`'s, once.
    #[track_caller]
    fn assert_subject(&self, subject: &str) {
        assert_eq!(
            self.one("x-auth-subject").as_deref(),
            Some(subject),
            "{self:?}"
        );
    }

    /// The values of header `name` (lower-case).
    fn values(&self, name: &str) -> Vec<String> {
        self.headers.get(name).cloned().unwrap_or_default()
    }

    /// The single value of header `name`; `None` when absent. Two values
    /// would be a proxy that appended instead of replacing: a failure.
    #[track_caller]
    fn one(&self, name: &str) -> Option<String> {
        let values = self.values(name);
        assert!(values.len() <= 1, "{name} more than once: {self:?}");
        values.into_iter().next()
    }

    /// Header `name` is absent or empty.
    #[track_caller]
    fn assert_empty(&self, name: &str) {
        let value = self.one(name);
        assert!(
            value.as_deref().is_none_or(str::is_empty),
            "{name} should be absent or empty: {self:?}"
        );
    }
}

/// The echo server; stops on drop.
struct Echo {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn record(State(seen): State<Arc<Mutex<Vec<Seen>>>>, request: Request) -> Json<Value> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let entry = Seen {
        method: request.method().as_str().to_owned(),
        uri: request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |pq| pq.as_str().to_owned(),
        ),
        headers,
    };
    let body = json!({"method": entry.method, "uri": entry.uri, "headers": entry.headers});
    seen.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    Json(body)
}

impl Echo {
    async fn start() -> Echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("its address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(seen.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the echo server");
        });
        Echo { addr, seen, task }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The last request received; there must be one.
    #[track_caller]
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
            .expect("the application received no request")
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// The proxies.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nginx,
    Caddy,
}

/// A running proxy; stopped (SIGTERM, then SIGKILL) on drop, its log
/// printed if the test is failing.
struct Proxy {
    kind: Kind,
    child: Child,
    dir: PathBuf,
    api: Api,
}

impl Proxy {
    /// Starts `kind` on 127.0.0.1:`port` in front of tokengate at
    /// `tokengate` and the application at `app` (`127.0.0.1:PORT` each),
    /// and waits until its port answers.
    async fn start(kind: Kind, name: &str, port: u16, tokengate: &str, app: &str) -> Proxy {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "forward-auth-{name}-{kind:?}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the proxy's directory");
        let child = match kind {
            Kind::Nginx => start_nginx(&dir, port, tokengate, app),
            Kind::Caddy => start_caddy(&dir, port, tokengate, app),
        };
        let mut proxy = Proxy {
            kind,
            child,
            dir,
            api: Api::at(&format!("http://127.0.0.1:{port}")),
        };
        proxy.wait_ready(port).await;
        proxy
    }

    /// Bounded retries until the port accepts a connection.
    async fn wait_ready(&mut self, port: u16) {
        for _ in 0..150 {
            if let Some(status) = self.child.try_wait().expect("wait for the proxy") {
                panic!(
                    "{:?} exited at start ({status}); its log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "{:?} never listened on {port}; its log:\n{}",
            self.kind,
            self.log()
        );
    }

    fn log(&self) -> String {
        let mut text = String::new();
        for file in ["error.log", "stderr.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.join(file)) {
                text.push_str(&format!("--- {file} ---\n{t}"));
            }
        }
        text
    }

    fn api(&self) -> &Api {
        &self.api
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // nginx: SIGTERM, for its master to stop its workers (SIGKILL
            // would orphan them, still holding the port). Caddy is one
            // process: SIGKILL spares its graceful wait for idle clients.
            if self.kind == Kind::Caddy {
                let _ = self.child.kill();
            } else {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.child.id().to_string()])
                    .status();
            }
            let mut exited = false;
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !exited {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("---- {:?} log ----\n{}", self.kind, self.log());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether this process runs as root (nginx then needs `user root;` for its
/// workers to use the temp directories it creates).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The test's main nginx config around `server_body`: everything in `dir`,
/// in the foreground, with the upstreams `tokengate` and `app`.
fn nginx_main_config(dir: &Path, tokengate: &str, app: &str, server_body: &str) -> String {
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream tokengate {{ server {tokengate}; keepalive 8; }}
    upstream app {{ server {app}; keepalive 8; }}
{server_body}
}}
"
    )
}

fn start_nginx(dir: &Path, port: u16, tokengate: &str, app: &str) -> Child {
    let nginx = require("nginx");
    let snippet = repo().join("deploy/nginx/tokengate.conf");
    let server = format!(
        "    server {{\n        listen 127.0.0.1:{port};\n        include {};\n    }}",
        snippet.display()
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_main_config(dir, tokengate, app, &server))
        .expect("write nginx.conf");
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create the log");
    Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start nginx")
}

/// The environment Caddy runs the shipped Caddyfile with: its state in
/// `dir`, an admin port of its own (tests run in parallel), the addresses.
fn caddy_env(dir: &Path, port: u16, tokengate: &str, app: &str) -> Vec<(&'static str, String)> {
    let d = dir.display().to_string();
    vec![
        ("HOME", d.clone()),
        ("XDG_DATA_HOME", d.clone()),
        ("XDG_CONFIG_HOME", d),
        ("CADDY_ADMIN", format!("127.0.0.1:{}", free_port())),
        ("TOKENGATE_SITE", format!("127.0.0.1:{port}")),
        ("TOKENGATE_UPSTREAM", tokengate.to_owned()),
        ("APP_UPSTREAM", app.to_owned()),
    ]
}

fn start_caddy(dir: &Path, port: u16, tokengate: &str, app: &str) -> Child {
    let caddy = require("caddy");
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("create the log");
    Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(repo().join("deploy/caddy/Caddyfile"))
        .envs(caddy_env(dir, port, tokengate, app))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start caddy")
}

// ---------------------------------------------------------------------------
// A rig: tokengate, the application, a proxy in front of both.

/// Fields drop in order: the proxy first, tokengate last.
struct Rig {
    proxy: Proxy,
    echo: Echo,
    /// Kept running for the proxy.
    _server: Server,
    dir: TestDir,
}

impl Rig {
    async fn start(kind: Kind, name: &str) -> Rig {
        let dir = TestDir::new(&format!("fa-{name}-{kind:?}"));
        let server = tokio::task::block_in_place(|| Server::start(&dir, &[]));
        let echo = Echo::start().await;
        let proxy = Proxy::start(kind, name, free_port(), server.api().addr(), &echo.addr).await;
        Rig {
            proxy,
            echo,
            _server: server,
            dir,
        }
    }

    /// The client's way in: the proxy.
    fn api(&self) -> &Api {
        self.proxy.api()
    }

    fn kind(&self) -> Kind {
        self.proxy.kind
    }

    /// Registers `name` (through the proxy's /auth/) and returns its id.
    async fn user(&self, name: &str) -> String {
        let user = self.api().register_ok(name, PASSWORD).await;
        user["id"].to_string().trim_matches('"').to_owned()
    }

    async fn login(&self, name: &str) -> Pair {
        self.api().login_ok(name, PASSWORD).await
    }

    /// `tokengate ARGS --data-dir ...`, which must succeed.
    fn admin(&self, args: &[&str]) {
        tokio::task::block_in_place(|| cli(&self.dir, args, "").expect_success());
    }

    /// `method path` through the proxy with `headers`.
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut request = self.api().request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.api().send(request).await
    }

    /// The request passes: 200 from the application, which saw it (one
    /// more request) with `method` and `path`.
    async fn expect_passed(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Seen {
        let before = self.echo.count();
        let resp = self.send(method.clone(), path, headers).await;
        assert_eq!(resp.status, 200, "{what}: {resp:?}");
        assert_eq!(self.echo.count(), before + 1, "{what}: not one request");
        let seen = self.echo.last();
        assert_eq!(seen.method, method.as_str(), "{what}: {seen:?}");
        assert_eq!(seen.uri, path, "{what}: {seen:?}");
        seen
    }

    /// The request is refused with `status` (and, through Caddy, which
    /// passes tokengate's answer on, with its JSON `code` unless it is
    /// empty); the application never sees it.
    async fn expect_refused(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        status: u16,
        code: &str,
        what: &str,
    ) -> Resp {
        let before = self.echo.count();
        let resp = self.send(method, path, headers).await;
        assert_eq!(resp.status, status, "{what}: {resp:?}");
        assert_eq!(
            self.echo.count(),
            before,
            "{what}: the application was reached"
        );
        if self.kind() == Kind::Caddy && !code.is_empty() {
            assert_eq!(resp.json()["code"], code, "{what}: {resp:?}");
        }
        if status == 401 {
            let challenge = resp.header("www-authenticate").unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{what}: no Bearer challenge: {resp:?}"
            );
        }
        resp
    }

    /// A cookie session (`POST /auth/session` through the proxy): the
    /// `Cookie` header and the CSRF value.
    async fn session(&self, name: &str) -> (String, String) {
        let resp = self
            .api()
            .post_json(
                "/auth/session",
                &json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert!(resp.status == 200 || resp.status == 201, "{resp:?}");
        let cookie = [
            "access_token_cookie",
            "refresh_token_cookie",
            "csrf_access_token",
            "csrf_refresh_token",
        ]
        .iter()
        .map(|n| resp.cookie(n).pair())
        .collect::<Vec<_>>()
        .join("; ");
        (cookie, resp.cookie("csrf_access_token").value)
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------------------
// The cases, each run through both proxies.

/// 1 and 2: a bearer token passes with the identity headers; no token (or
/// a bad one) is a 401 that never reaches the application.
async fn bearer_passes_and_no_token_is_refused(kind: Kind) {
    let rig = Rig::start(kind, "bearer").await;
    let id = rig.user("ada").await;
    rig.admin(&["user", "grant", "ada", "reports:read"]);
    let login = rig.login("ada").await;
    let issuer = claims(&login.access)["iss"]
        .as_str()
        .expect("iss")
        .to_owned();
    let auth = bearer(&login.access);

    let seen = rig
        .expect_passed(
            Method::GET,
            "/app/x?a=1&b=2",
            &[("authorization", &auth)],
            "bearer",
        )
        .await;
    seen.assert_subject(&id);
    assert_eq!(
        seen.one("x-auth-scopes").as_deref(),
        Some("reports:read"),
        "{seen:?}"
    );
    assert_eq!(
        seen.one("x-auth-issuer").as_deref(),
        Some(issuer.as_str()),
        "{seen:?}"
    );
    seen.assert_empty("x-auth-roles");

    rig.expect_refused(
        Method::GET,
        "/app/x",
        &[],
        401,
        "authorization_header_missing",
        "no token",
    )
    .await;
    rig.expect_refused(
        Method::POST,
        "/app/x",
        &[],
        401,
        "authorization_header_missing",
        "no token, POST",
    )
    .await;
    let forged = format!("{}x", login.access);
    rig.expect_refused(
        Method::GET,
        "/app/x",
        &[("authorization", &bearer(&forged))],
        401,
        "",
        "a forged token",
    )
    .await;
}

/// 3: a cookie session needs the CSRF header on unsafe methods (a bearer
/// token does not).
async fn cookies_need_csrf_on_unsafe_methods(kind: Kind) {
    let rig = Rig::start(kind, "csrf").await;
    let id = rig.user("bea").await;
    let (cookie, csrf) = rig.session("bea").await;

    rig.expect_refused(
        Method::POST,
        "/app/x",
        &[("cookie", &cookie)],
        401,
        "csrf_failed",
        "cookie POST without X-CSRF-TOKEN",
    )
    .await;
    rig.expect_refused(
        Method::POST,
        "/app/x",
        &[("cookie", &cookie), ("x-csrf-token", "not-the-value")],
        401,
        "csrf_failed",
        "cookie POST with a wrong X-CSRF-TOKEN",
    )
    .await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        rig.expect_refused(
            method.clone(),
            "/app/x",
            &[("cookie", &cookie)],
            401,
            "csrf_failed",
            &format!("cookie {method} without X-CSRF-TOKEN"),
        )
        .await;
    }
    let seen = rig
        .expect_passed(
            Method::POST,
            "/app/x",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            "cookie POST with X-CSRF-TOKEN",
        )
        .await;
    seen.assert_subject(&id);
    let seen = rig
        .expect_passed(
            Method::GET,
            "/app/x?q=1",
            &[("cookie", &cookie)],
            "cookie GET without X-CSRF-TOKEN",
        )
        .await;
    seen.assert_subject(&id);

    let login = rig.login("bea").await;
    rig.expect_passed(
        Method::POST,
        "/app/x",
        &[("authorization", &bearer(&login.access))],
        "bearer POST without X-CSRF-TOKEN",
    )
    .await;
}

/// 4, the regression: a client's own method headers claiming GET must not
/// spare a cookie POST its CSRF check.
async fn client_method_headers_do_not_skip_csrf(kind: Kind) {
    let rig = Rig::start(kind, "spoofed-method").await;
    rig.user("cat").await;
    let (cookie, csrf) = rig.session("cat").await;
    let spoof: [(&str, &str); 4] = [
        ("x-forwarded-method", "GET"),
        ("x-original-method", "GET"),
        ("x-forwarded-uri", "/app/harmless"),
        ("x-original-uri", "/app/harmless"),
    ];
    let mut headers = vec![("cookie", cookie.as_str())];
    headers.extend(spoof);
    rig.expect_refused(
        Method::POST,
        "/app/x",
        &headers,
        401,
        "csrf_failed",
        "cookie POST claiming GET in its own method headers",
    )
    .await;
    for (name, value) in spoof {
        rig.expect_refused(
            Method::POST,
            "/app/x",
            &[("cookie", &cookie), (name, value)],
            401,
            "csrf_failed",
            &format!("cookie POST with {name}: {value}"),
        )
        .await;
    }
    // The same request with the CSRF header passes: the refusal above was
    // the CSRF rule, not the extra headers.
    headers.push(("x-csrf-token", &csrf));
    rig.expect_passed(Method::POST, "/app/x", &headers, "with X-CSRF-TOKEN")
        .await;
}

/// 5: the role rule (/admin/) and the scope rule (/reports/) of the
/// shipped configs; granted in the database, they hold from the next login.
async fn role_and_scope_rules(kind: Kind) {
    let rig = Rig::start(kind, "rules").await;
    let id = rig.user("dan").await;
    let before = rig.login("dan").await;
    let auth = bearer(&before.access);
    rig.expect_refused(
        Method::GET,
        "/admin/users?page=2",
        &[("authorization", &auth)],
        403,
        "insufficient_role",
        "/admin/ without the role",
    )
    .await;
    rig.expect_refused(
        Method::GET,
        "/reports/q1?year=2026&q=a%20b",
        &[("authorization", &auth)],
        403,
        "insufficient_scope",
        "/reports/ without the scope",
    )
    .await;
    // The rest of the site needs no rule.
    rig.expect_passed(Method::GET, "/app/x", &[("authorization", &auth)], "/app/")
        .await;

    rig.admin(&["user", "grant-role", "dan", "admin"]);
    rig.admin(&["user", "grant", "dan", "reports:read"]);
    // The old token has neither.
    rig.expect_refused(
        Method::GET,
        "/admin/users?page=2",
        &[("authorization", &auth)],
        403,
        "insufficient_role",
        "/admin/ with a token from before the grant",
    )
    .await;

    let after = rig.login("dan").await;
    let auth = bearer(&after.access);
    let seen = rig
        .expect_passed(
            Method::GET,
            "/admin/users?page=2",
            &[("authorization", &auth)],
            "/admin/ with the role",
        )
        .await;
    seen.assert_subject(&id);
    let roles = seen.one("x-auth-roles").unwrap_or_default();
    assert!(
        roles.split(' ').any(|r| r == "admin"),
        "roles {roles:?}: {seen:?}"
    );
    let seen = rig
        .expect_passed(
            Method::GET,
            "/reports/q1?year=2026&q=a%20b",
            &[("authorization", &auth)],
            "/reports/ with the scope",
        )
        .await;
    let scopes = seen.one("x-auth-scopes").unwrap_or_default();
    assert!(
        scopes.split(' ').any(|s| s == "reports:read"),
        "scopes {scopes:?}: {seen:?}"
    );
}

/// 6: identity headers sent by the client never reach the application.
async fn spoofed_identity_headers_are_replaced(kind: Kind) {
    let rig = Rig::start(kind, "spoofed-identity").await;
    let id = rig.user("eve").await;
    let login = rig.login("eve").await;
    let issuer = claims(&login.access)["iss"]
        .as_str()
        .expect("iss")
        .to_owned();
    let auth = bearer(&login.access);
    let spoof = [
        ("x-auth-subject", "999"),
        ("x-auth-roles", "admin"),
        ("x-auth-scopes", "everything"),
        ("x-auth-issuer", "evil"),
    ];
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend(spoof);
    for path in [
        "/app/x",
        "/reports/q1?year=2026&q=a%20b",
        "/admin/users?page=2",
    ] {
        let resp = rig.send(Method::GET, path, &headers).await;
        if path == "/app/x" {
            assert_eq!(resp.status, 200, "{resp:?}");
            let seen = rig.echo.last();
            assert_eq!(seen.uri, path, "{seen:?}");
            seen.assert_subject(&id);
            assert_eq!(
                seen.one("x-auth-issuer").as_deref(),
                Some(issuer.as_str()),
                "{seen:?}"
            );
            seen.assert_empty("x-auth-roles");
            seen.assert_empty("x-auth-scopes");
        } else {
            // A spoofed role or scope does not open the rules either.
            assert_eq!(resp.status, 403, "{path} with spoofed headers: {resp:?}");
        }
    }
    // Without a token the spoofed headers get nowhere.
    rig.expect_refused(
        Method::GET,
        "/app/x",
        &spoof,
        401,
        "authorization_header_missing",
        "spoofed headers, no token",
    )
    .await;
    for seen in rig.echo.seen.lock().unwrap().iter() {
        for name in IDENTITY {
            for value in seen.values(name) {
                assert!(
                    !["999", "admin", "everything", "evil"].contains(&value.as_str()),
                    "a spoofed {name} reached the application: {seen:?}"
                );
            }
        }
    }
}

/// 7: a revoked token is refused through the proxy.
async fn revoked_token_is_refused(kind: Kind) {
    let rig = Rig::start(kind, "revoked").await;
    rig.user("fay").await;
    let login = rig.login("fay").await;
    let auth = bearer(&login.access);
    rig.expect_passed(
        Method::GET,
        "/app/x",
        &[("authorization", &auth)],
        "before logout",
    )
    .await;
    let resp = rig
        .api()
        .post_bearer("/auth/logout", &login.access, None)
        .await;
    assert!(resp.status < 300, "logout: {resp:?}");
    eventually("the revoked token is refused through the proxy", || async {
        rig.send(Method::GET, "/app/x", &[("authorization", &auth)])
            .await
            .status
            == 401
    })
    .await;
    rig.expect_refused(
        Method::GET,
        "/app/x",
        &[("authorization", &auth)],
        401,
        "token_revoked",
        "after logout",
    )
    .await;
}

/// 8: a browser without a session is sent to tokengate's OIDC login (the
/// `sso` provider), and after it lands on the page it asked for, signed in;
/// an API client gets the plain 401.
async fn browser_is_sent_to_login_and_back(kind: Kind) {
    let fake = FakeProvider::start().await;
    let dir = TestDir::new(&format!("fa-browser-{kind:?}"));
    let tg_port = free_port();
    let proxy_port = free_port();
    let public = format!("http://127.0.0.1:{proxy_port}");
    let config = dir
        .data()
        .parent()
        .expect("the test directory")
        .join("tokengate-sso.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[oidc_providers]]
name = "{SSO}"
issuer = "{issuer}"
client_id = "{WEB_CLIENT_ID}"
client_secret = "{WEB_CLIENT_SECRET}"
scopes = ["openid", "profile", "email"]
redirect_url = "{public}/auth/oidc/{SSO}/callback"
post_logout_redirect_url = "{public}/"
"#,
            issuer = fake.issuer(),
        ),
    )
    .expect("write the config");
    let server = tokio::task::block_in_place(|| {
        Server::start_on(
            &dir,
            &format!("127.0.0.1:{tg_port}"),
            &[("TOKENGATE_CONFIG", config.to_str().expect("UTF-8 path"))],
        )
    });
    let echo = Echo::start().await;
    let proxy = Proxy::start(kind, "browser", proxy_port, server.api().addr(), &echo.addr).await;
    let api = proxy.api();
    let page = "/app/x?a=1&b=2";

    // An API client: the 401.
    let resp = api
        .send(
            api.request(Method::GET, page)
                .header("accept", "application/json"),
        )
        .await;
    assert_eq!(resp.status, 401, "{resp:?}");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{resp:?}"
    );

    // A browser: tokengate's login, a redirect to the provider.
    let resp = api
        .send(api.request(Method::GET, page).header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ))
        .await;
    assert!(
        resp.status == 302 || resp.status == 303,
        "a redirect to the provider: {resp:?}"
    );
    assert_eq!(echo.count(), 0, "the application was reached");
    let to = location(&resp, &format!("{public}/"));
    assert_eq!(
        format!("{}{}", to.origin().ascii_serialization(), to.path()),
        fake.authorization_endpoint(),
        "{resp:?}"
    );
    let params = query_map(&to);
    assert_eq!(
        params.get("redirect_uri").map(String::as_str),
        Some(format!("{public}/auth/oidc/{SSO}/callback").as_str()),
        "{to}"
    );
    let state_cookie = resp.cookie("tg_oidc");

    // The provider sends the browser back through the proxy.
    let code = "code-browser";
    fake.grant(code, "browser-user", &params["nonce"]);
    let query = callback_query(Some(code), Some(&params["state"]), Some(fake.issuer()));
    let resp = api
        .send(
            api.request(Method::GET, &format!("/auth/oidc/{SSO}/callback?{query}"))
                .header("cookie", state_cookie.pair())
                .header("accept", "text/html"),
        )
        .await;
    assert_eq!(resp.status, 303, "{resp:?}");
    let back: Url = location(&resp, &format!("{public}/"));
    assert_eq!(
        back.origin(),
        Url::parse(&public).unwrap().origin(),
        "{resp:?}"
    );
    let target = match back.query() {
        Some(q) => format!("{}?{q}", back.path()),
        None => back.path().to_owned(),
    };
    assert_eq!(target, page, "back where the browser started: {resp:?}");
    let session = Session::from(&resp);
    let sub = claims(&session.access.value)["sub"]
        .as_str()
        .expect("sub")
        .to_owned();

    // Signed in: the page, with the identity.
    let resp = api
        .send(
            api.request(Method::GET, &target)
                .header("cookie", session.header())
                .header("accept", "text/html"),
        )
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let seen = echo.last();
    assert_eq!(seen.uri, page, "{seen:?}");
    seen.assert_subject(&sub);
    drop(proxy);
}

// ---------------------------------------------------------------------------
// The tests: one per proxy and case.

macro_rules! through_both {
    ($case:ident, $nginx:ident, $caddy:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $nginx() {
            $case(Kind::Nginx).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $caddy() {
            $case(Kind::Caddy).await;
        }
    };
}

through_both!(
    bearer_passes_and_no_token_is_refused,
    nginx_bearer_passes_and_no_token_is_refused,
    caddy_bearer_passes_and_no_token_is_refused
);
through_both!(
    cookies_need_csrf_on_unsafe_methods,
    nginx_cookies_need_csrf_on_unsafe_methods,
    caddy_cookies_need_csrf_on_unsafe_methods
);
through_both!(
    client_method_headers_do_not_skip_csrf,
    nginx_client_method_headers_do_not_skip_csrf,
    caddy_client_method_headers_do_not_skip_csrf
);
through_both!(
    role_and_scope_rules,
    nginx_role_and_scope_rules,
    caddy_role_and_scope_rules
);
through_both!(
    spoofed_identity_headers_are_replaced,
    nginx_spoofed_identity_headers_are_replaced,
    caddy_spoofed_identity_headers_are_replaced
);
through_both!(
    revoked_token_is_refused,
    nginx_revoked_token_is_refused,
    caddy_revoked_token_is_refused
);
through_both!(
    browser_is_sent_to_login_and_back,
    nginx_browser_is_sent_to_login_and_back,
    caddy_browser_is_sent_to_login_and_back
);

/// The shipped example site (deploy/nginx/site.conf) is valid nginx, with
/// its include pointed at the repository's snippet.
#[test]
fn nginx_site_example_is_valid() {
    let nginx = require("nginx");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("forward-auth-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the directory");
    let site = repo_file("deploy/nginx/site.conf");
    let include = "include /etc/nginx/snippets/tokengate.conf;";
    assert!(site.contains(include), "site.conf includes the snippet");
    let snippet = repo().join("deploy/nginx/tokengate.conf");
    let site = site.replace(include, &format!("include {};", snippet.display()));
    std::fs::write(dir.join("site.conf"), site).expect("write site.conf");
    // site.conf defines the upstreams itself: the main config only includes it.
    let main = format!(
        "events {{ }}\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nhttp {{\n    include {d}/site.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .expect("run nginx -t");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `caddy validate` accepts the shipped Caddyfile with its defaults (no
/// environment variable set) and with the tests' values.
#[test]
fn caddyfile_is_valid() {
    let caddy = require("caddy");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "forward-auth-caddy-validate-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the directory");
    let caddyfile = repo().join("deploy/caddy/Caddyfile");
    let env = caddy_env(&dir, free_port(), "127.0.0.1:5000", "127.0.0.1:3000");
    for with_env in [false, true] {
        let mut cmd = Command::new(&caddy);
        cmd.args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir);
        for (key, _) in &env {
            cmd.env_remove(key);
        }
        if with_env {
            cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let out = cmd.output().expect("run caddy validate");
        assert!(
            out.status.success(),
            "caddy validate (env: {with_env}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The operators' guide shows every shipped config verbatim, so the two
/// cannot drift apart.
#[test]
fn docs_show_every_deploy_file_verbatim() {
    let docs = repo_file("docs/forward-auth.md");
    for path in [
        "deploy/nginx/tokengate.conf",
        "deploy/nginx/site.conf",
        "deploy/caddy/Caddyfile",
        "deploy/traefik/dynamic.yml",
    ] {
        let text = repo_file(path);
        assert!(!text.trim().is_empty(), "{path} is empty");
        assert!(
            docs.contains(&format!("```{}", fence_lang(path))) && docs.contains(&text),
            "docs/forward-auth.md does not show {path} verbatim (copy the file's \
             whole text into its fenced block)"
        );
    }
}

/// The fence's language of a deploy file.
fn fence_lang(path: &str) -> &'static str {
    if path.ends_with(".yml") {
        "yaml"
    } else if path.ends_with("Caddyfile") {
        "caddyfile"
    } else {
        "nginx"
    }
}
