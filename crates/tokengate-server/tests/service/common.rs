//! The harness: a scratch directory, the real `tokengate` binary started on
//! 127.0.0.1:0, an HTTP client that refuses any 5xx, and the admin CLI.

use std::ffi::OsStr;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokengate::keys::{KeyRing, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

/// How long the binary may take to print its address (a debug build on a
/// busy machine generates a key and migrates a database first).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A scratch directory under the target directory, removed on drop:
/// `data/` is the service's data directory, server logs go beside it.
///
/// Its database is SQLite in `data/`, or, with `TOKENGATE_TEST_DATABASE=postgres`,
/// a fresh PostgreSQL database of its own: every server and admin command
/// started with it gets `TOKENGATE_DATABASE_URL` (unless the test sets one).
pub(crate) struct TestDir {
    root: PathBuf,
    logs: AtomicU32,
    database_url: Option<String>,
    /// The database this directory owns (dropped with it).
    _database: Option<PgDatabase>,
}

impl TestDir {
    /// A directory on the backend chosen by `TOKENGATE_TEST_DATABASE`.
    pub(crate) fn new(name: &str) -> TestDir {
        match test_backend() {
            Backend::Sqlite => TestDir::create(name, None, None),
            Backend::Postgres => TestDir::with_postgres(name),
        }
    }

    /// A directory with a fresh PostgreSQL database of its own, whatever
    /// `TOKENGATE_TEST_DATABASE` says.
    pub(crate) fn with_postgres(name: &str) -> TestDir {
        let db = PgDatabase::create(name);
        TestDir::create(name, Some(db.url()), Some(db))
    }

    /// A directory (a data directory of its own) whose servers and admin
    /// commands use `db`: several instances of one deployment. The test
    /// keeps `db` alive.
    pub(crate) fn sharing(name: &str, db: &PgDatabase) -> TestDir {
        TestDir::create(name, Some(db.url()), None)
    }

    fn create(name: &str, database_url: Option<String>, db: Option<PgDatabase>) -> TestDir {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("service-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the test directory");
        TestDir {
            root,
            logs: AtomicU32::new(0),
            database_url,
            _database: db,
        }
    }

    /// `env` plus this directory's `TOKENGATE_DATABASE_URL`, unless `env`
    /// names a database itself.
    fn env<'a>(&'a self, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = env.to_vec();
        if let Some(url) = &self.database_url
            && !env.iter().any(|(key, _)| *key == "TOKENGATE_DATABASE_URL")
        {
            all.push(("TOKENGATE_DATABASE_URL", url));
        }
        all
    }

    /// The service's data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn next_log(&self) -> PathBuf {
        let n = self.logs.fetch_add(1, Ordering::Relaxed);
        self.root.join(format!("server-{n}.log"))
    }

    /// A signing engine holding the service's newest key (read from the
    /// data directory), issuing with `issuer`: to forge tokens that only
    /// differ from the service's own in one claim.
    pub(crate) fn service_engine(&self, issuer: &str) -> TokenEngine {
        let keys = self.data().join("keys");
        let mut pems: Vec<PathBuf> = std::fs::read_dir(&keys)
            .expect("the key directory")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("pem")))
            .collect();
        pems.sort();
        let newest = pems.last().expect("a key file");
        let pem = std::fs::read_to_string(newest).unwrap();
        let key = SigningKey::from_pem(&pem, None).expect("the service's key");
        TokenEngine::new(KeyRing::new(key)).with_settings(IssueSettings {
            issuer: Some(issuer.to_owned()),
            ..IssueSettings::default()
        })
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The database backend of [`TestDir::new`].
enum Backend {
    Sqlite,
    Postgres,
}

/// `TOKENGATE_TEST_DATABASE`: unset or `sqlite`, or `postgres`. Anything
/// else is a mistake that must not quietly run the SQLite suite again.
fn test_backend() -> Backend {
    match std::env::var("TOKENGATE_TEST_DATABASE").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        other => panic!("TOKENGATE_TEST_DATABASE={other:?}: expected sqlite or postgres"),
    }
}

/// The PostgreSQL server of the tests: trust authentication, user `postgres`.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// The Redis server of the tests.
const REDIS: &str = "127.0.0.1:6379";

/// Tells apart the databases and prefixes of one test process.
static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// `name` reduced to lower-case letters, digits and `_`, at most `max`
/// characters: usable unquoted in SQL and in a Redis key pattern.
fn slug(name: &str, max: usize) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// A PostgreSQL database of its own for one test, created empty (the
/// service migrates it) and dropped, connections and all, on drop.
pub(crate) struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// Creates `tgtest_{pid}_{n}_{name}`. Panics if PostgreSQL is not
    /// reachable: a suite that needs it must fail, never skip.
    pub(crate) fn create(name: &str) -> PgDatabase {
        let prefix = format!(
            "tgtest_{}_{}_",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        );
        // PostgreSQL truncates identifiers to 63 bytes; stay below.
        let name = format!("{prefix}{}", slug(name, 63 - prefix.len()));
        psql(&format!(r#"CREATE DATABASE "{name}""#)).unwrap_or_else(|e| {
            panic!(
                "cannot create a PostgreSQL database at {POSTGRES} ({e}); \
                 these tests need PostgreSQL there (scripts/test.sh starts it)"
            )
        });
        PgDatabase { name }
    }

    /// `postgres://postgres@127.0.0.1:5432/NAME`.
    pub(crate) fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }

    /// The URL of this database through another port of 127.0.0.1 (a
    /// [`FaultProxy`](crate::proxy::FaultProxy) in front of PostgreSQL).
    pub(crate) fn url_via_port(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    /// Where PostgreSQL listens, for a proxy in front of it.
    pub(crate) fn server_addr() -> std::net::SocketAddr {
        "127.0.0.1:5432".parse().unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: a server killed or still running must not keep it alive.
        if let Err(e) = psql(&format!(
            r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
            self.name
        )) {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs one SQL statement as `postgres` on the `postgres` database.
fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(format!("{POSTGRES}/postgres"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A Redis key prefix of its own for one test (`TOKENGATE_REDIS_PREFIX`):
/// tests share one Redis server. Its keys are deleted on drop.
pub(crate) struct RedisPrefix {
    prefix: String,
}

impl RedisPrefix {
    /// `tgtest:{pid}:{n}:{name}:`. Panics if Redis does not answer.
    pub(crate) fn new(name: &str) -> RedisPrefix {
        if let Err(e) = redis_command(&["PING"]) {
            panic!(
                "Redis at {REDIS} does not answer ({e}); these tests need it (scripts/test.sh starts it)"
            );
        }
        RedisPrefix {
            prefix: format!(
                "tgtest:{}:{}:{}:",
                std::process::id(),
                UNIQUE.fetch_add(1, Ordering::Relaxed),
                slug(name, 40)
            ),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.prefix
    }

    /// How many subscriptions Redis holds on channels under this prefix:
    /// the instances listening for revocations.
    pub(crate) fn subscriptions(&self) -> i64 {
        let pattern = format!("{}*", self.prefix);
        let channels = match redis_command(&["PUBSUB", "CHANNELS", &pattern]) {
            Ok(Reply::Array(channels)) => channels,
            other => panic!("PUBSUB CHANNELS: {other:?}"),
        };
        let mut args = vec!["PUBSUB".to_owned(), "NUMSUB".to_owned()];
        args.extend(channels.into_iter().map(|c| match c {
            Reply::Text(name) => name,
            other => panic!("a channel name: {other:?}"),
        }));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match redis_command(&args) {
            // Channel names and counts, alternating.
            Ok(Reply::Array(counts)) => counts
                .iter()
                .filter_map(|c| match c {
                    Reply::Int(n) => Some(*n),
                    _ => None,
                })
                .sum(),
            other => panic!("PUBSUB NUMSUB: {other:?}"),
        }
    }

    /// `redis://127.0.0.1:6379/`.
    pub(crate) fn url() -> String {
        format!("redis://{REDIS}/")
    }

    /// Where Redis listens, for a proxy in front of it.
    pub(crate) fn server_addr() -> std::net::SocketAddr {
        REDIS.parse().unwrap()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // KEYS is fine on a test server; the prefix has no glob characters.
        let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end";
        let pattern = format!("{}*", self.prefix);
        if let Err(e) = redis_command(&["EVAL", script, "0", &pattern]) {
            eprintln!("cannot delete the Redis keys {pattern}: {e}");
        }
    }
}

/// One Redis answer.
#[derive(Debug)]
enum Reply {
    Text(String),
    Int(i64),
    Nil,
    Array(Vec<Reply>),
}

/// Sends one command to Redis (RESP, no client library) and reads its
/// answer; an error answer is an `Err`.
fn redis_command(args: &[&str]) -> Result<Reply, String> {
    use std::net::TcpStream;
    let mut stream =
        TcpStream::connect_timeout(&RedisPrefix::server_addr(), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut impl BufRead) -> Result<Reply, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim_end_matches(['\r', '\n']);
    let number = |n: &str| n.parse::<i64>().map_err(|_| format!("bad answer {line:?}"));
    match line.split_at_checked(1) {
        Some(("+", text)) => Ok(Reply::Text(text.to_owned())),
        Some(("-", error)) => Err(error.to_owned()),
        Some((":", n)) => Ok(Reply::Int(number(n)?)),
        Some(("$", n)) => match usize::try_from(number(n)?) {
            Err(_) => Ok(Reply::Nil),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                std::io::Read::read_exact(reader, &mut data).map_err(|e| e.to_string())?;
                data.truncate(len);
                Ok(Reply::Text(String::from_utf8_lossy(&data).into_owned()))
            }
        },
        Some(("*", n)) => match usize::try_from(number(n)?) {
            Err(_) => Ok(Reply::Nil),
            Ok(len) => (0..len)
                .map(|_| read_reply(reader))
                .collect::<Result<_, _>>()
                .map(Reply::Array),
        },
        _ => Err(format!("bad answer {line:?}")),
    }
}

/// Removes every `TOKENGATE_*` variable inherited from the test runner, so
/// that only what a test sets reaches the binary.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TOKENGATE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info");
    // Tests register many users from one address; the limit's own tests
    // set it back (a test's variables come after these).
    cmd.env("TOKENGATE_REGISTRATION_RATE", "1000000/min");
}

/// A port of 127.0.0.1 that was free a moment ago (bound to port 0, read,
/// released), for [`Server::start_on`]. Another process could take it in
/// between; on a test machine that is rare enough.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a local address").port()
}

/// A running `tokengate` process; killed on drop (its log is printed if the
/// test is failing).
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
    api: Api,
}

impl Server {
    /// Starts `tokengate --data-dir DIR --listen 127.0.0.1:0` with `env`
    /// (`TOKENGATE_*` settings) and waits for its address on stdout.
    pub(crate) fn start(dir: &TestDir, env: &[(&str, &str)]) -> Server {
        Server::start_on(dir, "127.0.0.1:0", env)
    }

    /// [`Server::start`] with `--listen LISTEN`: for a test that must know
    /// the address before the server starts (an OpenID provider registers
    /// tokengate's callback URL first). See [`free_port`].
    pub(crate) fn start_on(dir: &TestDir, listen: &str, env: &[(&str, &str)]) -> Server {
        let log = dir.next_log();
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir")
            .arg(dir.data())
            .args(["--listen", listen])
            .current_dir(&dir.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        clean_env(&mut cmd);
        let env = dir.env(env);
        let on_postgres = env
            .iter()
            .any(|(key, url)| *key == "TOKENGATE_DATABASE_URL" && url.starts_with("postgres"));
        cmd.envs(env);
        let mut child = cmd.spawn().expect("start tokengate");

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keep draining after the address so that the pipe never fills.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("tokengate listening on http://")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "tokengate did not print its address ({e}; {status:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let server = Server {
            child,
            log,
            api: Api::new(format!("http://{addr}")),
        };
        if on_postgres {
            // A PostgreSQL run that quietly used SQLite would prove nothing.
            let sqlite = std::fs::read_dir(dir.data())
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().contains(".db"));
            assert!(
                sqlite.is_none(),
                "on PostgreSQL, yet a SQLite file in the data directory: {sqlite:?}"
            );
        }
        server
    }

    /// The HTTP client of this server.
    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// What the server wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid}: {kill:?}");
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait for tokengate") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "tokengate did not exit after SIGTERM; its log:\n{}",
            self.log()
        );
    }
}

impl Server {
    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown at all, as
    /// when the process crashes or its machine dies.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL tokengate");
        self.child.wait().expect("wait for tokengate");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- tokengate log (last lines) ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// An HTTP client bound to one server. Every request it sends must be
/// answered below 500.
#[derive(Clone)]
pub(crate) struct Api {
    base: String,
    http: reqwest::Client,
}

/// A login's tokens.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

impl Api {
    fn new(base: String) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            // Generous: a debug build hashes slowly; no test measures time.
            .timeout(Duration::from_secs(240))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Api { base, http }
    }

    /// A client for any other HTTP server at `base` (`http://HOST:PORT`),
    /// with the same rules: no redirects followed, no 5xx accepted.
    pub(crate) fn at(base: &str) -> Api {
        Api::new(base.trim_end_matches('/').to_owned())
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A request to `path` (which starts with `/`).
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `request`; the answer must not be a server error.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Resp {
        let resp = self
            .try_send(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(resp.status < 500, "server error: {resp:?}");
        resp
    }

    /// Sends `request` and reads the answer, whatever its status: for the
    /// tests that expect a 5xx, or no answer at all from a killed server.
    pub(crate) async fn try_send(&self, request: RequestBuilder) -> Result<Resp, String> {
        let request = request.build().expect("a valid request");
        let what = format!(
            "{} {}{}",
            request.method(),
            self.addr(),
            request.url().path()
        );
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| format!("{what}: {e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{what}: reading the body: {e:?}"))?
            .to_vec();
        Ok(Resp {
            what,
            status,
            headers,
            body,
        })
    }

    /// `GET /healthz`: always 200, with what the service can reach.
    pub(crate) async fn health(&self) -> Value {
        self.get("/healthz").await.expect(200).json()
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub(crate) async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        self.send(self.request(Method::GET, path).bearer_auth(token))
            .await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `POST path` with a bearer token and an optional JSON body.
    pub(crate) async fn post_bearer(&self, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let mut request = self.request(Method::POST, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    pub(crate) async fn register(&self, username: &str, password: &str) -> Resp {
        self.post_json(
            "/auth/register",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers a user that must not exist yet.
    pub(crate) async fn register_ok(&self, username: &str, password: &str) -> Value {
        self.register(username, password).await.expect(201).json()
    }

    pub(crate) async fn login(&self, username: &str, password: &str) -> Resp {
        self.post_json(
            "/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in with good credentials.
    pub(crate) async fn login_ok(&self, username: &str, password: &str) -> Pair {
        let body = self.login(username, password).await.expect(200).json();
        pair(&body)
    }

    /// `POST /auth/refresh` with the refresh token as bearer.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Resp {
        self.post_bearer("/auth/refresh", refresh_token, None).await
    }

    /// Refreshes with a refresh token that must still be good.
    pub(crate) async fn refresh_ok(&self, refresh_token: &str) -> Pair {
        pair(&self.refresh(refresh_token).await.expect(200).json())
    }

    /// `GET /api/private` with the token.
    pub(crate) async fn private(&self, access_token: &str) -> Resp {
        self.get_bearer("/api/private", access_token).await
    }

    /// The token works at `/api/private`.
    pub(crate) async fn assert_valid(&self, access_token: &str) {
        self.private(access_token).await.expect(200);
    }

    /// The token is refused at `/api/private` with `code`.
    pub(crate) async fn assert_refused(&self, access_token: &str, code: &str) {
        self.private(access_token).await.expect_token_error(code);
    }

    /// The number of keys `/.well-known/jwks.json` serves.
    pub(crate) async fn jwks_len(&self) -> usize {
        let jwks = self.get("/.well-known/jwks.json").await.expect(200).json();
        jwks["keys"].as_array().expect("keys is an array").len()
    }
}

/// The tokens of a login or refresh answer, checking its shape.
pub(crate) fn pair(body: &Value) -> Pair {
    let token = |name: &str| {
        body[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    assert_eq!(body["token_type"], "Bearer", "{body}");
    Pair {
        access: token("access_token"),
        refresh: token("refresh_token"),
    }
}

/// One answer, read to the end.
pub(crate) struct Resp {
    what: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(600).collect();
        write!(
            f,
            "{} -> {} {:?} body {:?}",
            self.what, self.status, self.headers, shown
        )
    }
}

impl Resp {
    /// Asserts the status.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status, status, "{self:?}");
        self
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap_or_else(|_| panic!("not UTF-8: {self:?}"))
    }

    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    }

    /// Asserts an error answer: `status` with the `{"code","msg"}` body
    /// and `code`; returns the message.
    #[track_caller]
    pub(crate) fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{self:?}");
        let msg = body["msg"]
            .as_str()
            .unwrap_or_else(|| panic!("no msg: {self:?}"));
        assert!(!msg.is_empty(), "{self:?}");
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "only code and msg: {self:?}"
        );
        msg.to_owned()
    }

    /// Asserts a 401 for a presented token: `code`, and the RFC 6750
    /// challenge with `error="invalid_token"`.
    #[track_caller]
    pub(crate) fn expect_token_error(self, code: &str) -> String {
        let challenge = self.header("www-authenticate");
        let what = format!("{self:?}");
        let msg = self.expect_error(401, code);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate", error="invalid_token""#),
            "{what}"
        );
        msg
    }

    /// Asserts a 401 `authorization_header_missing` with the bare challenge.
    #[track_caller]
    pub(crate) fn expect_missing(self) {
        let challenge = self.header("www-authenticate");
        let what = format!("{self:?}");
        self.expect_error(401, "authorization_header_missing");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="tokengate""#),
            "{what}"
        );
    }

    /// The cookies this answer sets.
    pub(crate) fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v.to_str().expect("ASCII cookie")))
            .collect()
    }

    /// The cookie `name` this answer sets; it must set it.
    #[track_caller]
    pub(crate) fn cookie(&self, name: &str) -> SetCookie {
        self.set_cookies()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {self:?}"))
    }
}

/// One `Set-Cookie` value.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    pub(crate) name: String,
    pub(crate) value: String,
    /// The attributes, as sent (`HttpOnly`, `SameSite=Lax`, ...).
    pub(crate) attrs: Vec<String>,
}

impl SetCookie {
    fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|p| p.split_once('='))
            .unwrap_or_else(|| panic!("malformed Set-Cookie {raw:?}"));
        SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            attrs: parts.map(str::to_owned).collect(),
        }
    }

    /// Whether it has the attribute `attr` (case-insensitive, whole
    /// attribute: `HttpOnly`, `SameSite=Lax`, `Max-Age=0`).
    pub(crate) fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    /// `name=value`, for a `Cookie` header.
    pub(crate) fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

/// The decoded JSON of a JWT segment (0: header, 1: claims).
pub(crate) fn jwt_part(token: &str, index: usize) -> Value {
    let segment = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url segment");
    serde_json::from_slice(&bytes).expect("JSON segment")
}

/// The claims of a JWT (not verified).
pub(crate) fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Polls `check` until it holds: up to 50 tries, 200 ms apart (about 10 s
/// when each check is quick). A bounded retry, not a timing assertion.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never happened: {what}");
}

/// What one admin command did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn expect_success(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }
}

/// Runs `tokengate ARGS... --data-dir DIR` with `stdin` (and no inherited
/// `TOKENGATE_*` setting).
pub(crate) fn cli(dir: &TestDir, args: &[&str], stdin: &str) -> Run {
    cli_with_env(dir, args, stdin, &[])
}

/// [`cli`] with `TOKENGATE_*` settings.
pub(crate) fn cli_with_env(dir: &TestDir, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir.data())
        .current_dir(&dir.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clean_env(&mut cmd);
    cmd.envs(dir.env(env));
    let mut child = cmd.spawn().expect("run tokengate");
    // The command may exit before reading stdin; a broken pipe is fine then.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait for tokengate");
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
