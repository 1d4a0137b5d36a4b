//! A real OpenID Provider for the tests: `testing/oidc-provider/provider.mjs`
//! (node-oidc-provider) run with Node on 127.0.0.1, killed on drop.
//!
//! It needs Node 20+ and its locked packages (`npm ci --prefix
//! testing/oidc-provider`, which scripts/test.sh runs). A machine without
//! them fails these tests: an identity-provider suite that quietly skipped
//! would prove nothing.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::first_line;

/// How long node may take to generate its keys and print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The API audience the provider issues tokens for, as tokengate is
/// configured to expect it.
pub(crate) const API: &str = "https://api.tokengate.test";

/// Another resource of the same provider: a token for it has the wrong `aud`.
pub(crate) const OTHER_API: &str = "https://other.tokengate.test";

/// The machine client (client credentials, `client_secret_post`).
pub(crate) const MACHINE_CLIENT_ID: &str = "tokengate-machine";
const MACHINE_CLIENT_SECRET: &str = "tokengate-machine-secret";

/// The web client (authorization code + PKCE, `client_secret_basic`):
/// tokengate's OIDC login logs in through it.
pub(crate) const WEB_CLIENT_ID: &str = "tokengate-web";
pub(crate) const WEB_CLIENT_SECRET: &str = "tokengate-web-secret";

/// The provider's directory in the repository.
fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testing/oidc-provider")
}

/// A running provider: its issuer is `http://127.0.0.1:{port}`.
pub(crate) struct OidcProvider {
    child: Child,
    /// Held open: the provider exits when its stdin closes, so that it dies
    /// with a test process killed before its destructors ran.
    _stdin: ChildStdin,
    issuer: String,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl OidcProvider {
    /// Starts `node provider.mjs --port 0 ARGS...` (see provider.mjs for the
    /// arguments) and waits for the JSON line that names its issuer.
    pub(crate) fn start(args: &[&str]) -> OidcProvider {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "{} has no node_modules: run `npm ci --prefix testing/oidc-provider` \
             (scripts/test.sh does) before these tests",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .args(["--port", "0"])
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node (Node.js 20+ is required): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");

        // Both pipes are drained until the process ends, so that neither fills.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                collected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let line = first_line(stdout, |line| Some(line.to_owned())).recv_timeout(START_TIMEOUT);
        let started: Option<Value> = line
            .as_ref()
            .ok()
            .and_then(|l| serde_json::from_str(l).ok());
        let Some(issuer) = started
            .as_ref()
            .and_then(|s| s["issuer"].as_str())
            .map(str::to_owned)
        else {
            let _ = child.kill();
            let status = child.wait();
            // Give the reader a moment to collect what node wrote last.
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "the OIDC provider did not start ({line:?}; {status:?}); its stderr:\n{}",
                stderr.lock().unwrap_or_else(|e| e.into_inner())
            );
        };
        OidcProvider {
            child,
            _stdin: stdin,
            issuer,
            stderr,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
        }
    }

    /// A provider whose web client has exactly `redirect_uri` and
    /// `post_logout_redirect_uri` registered (it refuses any other).
    pub(crate) fn start_for_web(
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
    ) -> OidcProvider {
        OidcProvider::start(&[
            "--redirect-uri",
            redirect_uri,
            "--post-logout-redirect-uri",
            post_logout_redirect_uri,
        ])
    }

    /// `http://127.0.0.1:{port}`, exactly the `iss` of its tokens.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's JWKS (its public keys).
    pub(crate) async fn jwks(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/jwks", self.issuer))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {}/jwks: {e}", self.issuer));
        assert_eq!(resp.status(), 200, "GET /jwks");
        resp.json().await.expect("a JSON JWKS")
    }

    /// A client-credentials access token of the machine client for
    /// `resource`, asking for `scope`; the provider must grant it.
    pub(crate) async fn machine_token(&self, scope: &str, resource: &str) -> String {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", MACHINE_CLIENT_ID),
            ("client_secret", MACHINE_CLIENT_SECRET),
            ("scope", scope),
            ("resource", resource),
        ]);
        let resp = self
            .http
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {}/token: {e}", self.issuer));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "client credentials: {text}\n{}", self.stderr());
        let json: Value = serde_json::from_str(&text).expect("a JSON token response");
        assert_eq!(json["token_type"], "Bearer", "{json}");
        json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {json}"))
            .to_owned()
    }

    /// Kills the provider now: its issuer becomes unreachable.
    pub(crate) fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- OIDC provider stderr ({}) ----\n{}",
                self.issuer,
                self.stderr()
            );
        }
    }
}

/// An `application/x-www-form-urlencoded` body (reqwest's `form` is a
/// feature this crate does not build).
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
