//! A misbehaving OpenID provider of the test's own: an axum router on
//! 127.0.0.1:0 in the test's runtime, with discovery, a JWKS of a key the
//! test holds, and a token endpoint that answers each code with whatever the
//! test scripted for it (once: a second exchange of a code gets 400
//! `invalid_grant`, as from a real provider), counting the exchanges.
//!
//! Its authorization and end-session endpoints are advertised but never
//! visited: the tests read tokengate's redirects and forge the callback.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Json;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, SigningKey};

use crate::common::{Api, Resp, Server, TestDir, free_port};
use crate::oidc_provider::WEB_CLIENT_ID;
use crate::rp::{LoginStart, ProviderEntry, callback, callback_query, start_login, start_rp};

/// One request to the token endpoint, as received.
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    /// The `Authorization` header (`Basic ...` for `client_secret_basic`).
    pub(crate) authorization: Option<String>,
    /// The form fields.
    pub(crate) form: BTreeMap<String, String>,
}

/// A scripted answer to the exchange of one code.
struct Exchange {
    response: Value,
    used: bool,
}

#[derive(Default)]
struct Shared {
    codes: HashMap<String, Exchange>,
    requests: Vec<TokenRequest>,
}

/// The provider; its server stops on drop.
pub(crate) struct FakeProvider {
    issuer: String,
    key: Arc<SigningKey>,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeProvider {
    /// A provider that advertises an end-session endpoint.
    pub(crate) async fn start() -> FakeProvider {
        FakeProvider::serve(true).await
    }

    /// A provider whose discovery has no `end_session_endpoint`.
    pub(crate) async fn without_end_session() -> FakeProvider {
        FakeProvider::serve(false).await
    }

    async fn serve(end_session: bool) -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let issuer = format!("http://{}", listener.local_addr().expect("its address"));
        let key = Arc::new(SigningKey::generate(Algorithm::RS256).expect("an RSA key"));
        let jwks = json!({"keys": [key.verifying_key().to_jwk().expect("a public JWK")]});
        let mut discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": ["openid", "profile", "email"],
            "authorization_response_iss_parameter_supported": true,
        });
        if end_session {
            discovery["end_session_endpoint"] = json!(format!("{issuer}/session/end"));
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || std::future::ready(Json(discovery.clone()))),
            )
            .route("/jwks", get(move || std::future::ready(Json(jwks.clone()))))
            .route("/token", post(token))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeProvider {
            issuer,
            key,
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, the `iss` of its good tokens.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.issuer)
    }

    pub(crate) fn end_session_endpoint(&self) -> String {
        format!("{}/session/end", self.issuer)
    }

    /// Its signing key (the one its JWKS publishes).
    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The header of its good tokens: RS256 and its key's `kid`.
    pub(crate) fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": self.key.kid().as_str()})
    }

    /// The claims of a good ID token for `sub`, answering a login with
    /// `nonce`, issued with `access_token`.
    pub(crate) fn id_claims(&self, sub: &str, nonce: &str, access_token: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": WEB_CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "at_hash": at_hash(access_token),
            "name": sub,
            "email": format!("{sub}@example.test"),
            "email_verified": true,
        })
    }

    /// `claims` signed with its key and header.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        sign_jwt(&self.key, &self.header(), claims)
    }

    /// The token endpoint answers the first exchange of `code` with 200 and
    /// `response`; a second exchange, or a code never scripted, gets 400
    /// `invalid_grant`.
    pub(crate) fn script(&self, code: &str, response: Value) {
        self.lock().codes.insert(
            code.to_owned(),
            Exchange {
                response,
                used: false,
            },
        );
    }

    /// Scripts a good answer to `code` for `sub` and the login's `nonce`;
    /// returns the ID token it will hand out.
    pub(crate) fn grant(&self, code: &str, sub: &str, nonce: &str) -> String {
        let access_token = format!("opaque-access-token-for-{code}");
        let id_token = self.sign(&self.id_claims(sub, nonce, &access_token));
        self.script(code, token_response(&id_token, &access_token));
        id_token
    }

    /// How many requests reached the token endpoint.
    pub(crate) fn token_calls(&self) -> usize {
        self.lock().requests.len()
    }

    /// The requests that reached the token endpoint, oldest first.
    pub(crate) fn token_requests(&self) -> Vec<TokenRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn token(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let form: BTreeMap<String, String> = Url::parse(&format!("http://form.invalid/?{body}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    let code = form.get("code").cloned().unwrap_or_default();
    shared.requests.push(TokenRequest {
        authorization,
        form,
    });
    match shared.codes.get_mut(&code) {
        Some(exchange) if !exchange.used => {
            exchange.used = true;
            (StatusCode::OK, Json(exchange.response.clone()))
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_grant",
                "error_description": "grant request is invalid",
            })),
        ),
    }
}

/// A token endpoint's answer with these tokens.
pub(crate) fn token_response(id_token: &str, access_token: &str) -> Value {
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "scope": "openid profile email",
    })
}

/// A compact JWS: `base64url(header).base64url(claims).base64url(sig)`.
pub(crate) fn sign_jwt(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let sig = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// base64url of a JSON value.
pub(crate) fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// OIDC's `at_hash` for RS256: base64url of the left half of the SHA-256
/// of the access token.
pub(crate) fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&sha256(access_token.as_bytes())[..16])
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("a sane clock")
}

/// The route name of the fake provider in tokengate's config.
pub(crate) const FAKE: &str = "bad";

/// tokengate on a known port with one `[[oidc_providers]]` entry, [`FAKE`],
/// for a fake provider. Fields drop in order: the server first.
pub(crate) struct Rig {
    pub(crate) server: Server,
    pub(crate) fake: FakeProvider,
    pub(crate) dir: TestDir,
    pub(crate) port: u16,
    codes: AtomicU32,
}

impl Rig {
    /// A rig around a fresh [`FakeProvider::start`].
    pub(crate) async fn start(test: &str) -> Rig {
        Rig::around(test, FakeProvider::start().await)
    }

    /// A rig around `fake`.
    pub(crate) fn around(test: &str, fake: FakeProvider) -> Rig {
        let dir = TestDir::new(test);
        let port = free_port();
        let server = start_rp(
            &dir,
            port,
            &[ProviderEntry {
                name: FAKE,
                issuer: fake.issuer(),
            }],
        );
        Rig {
            server,
            fake,
            dir,
            port,
            codes: AtomicU32::new(0),
        }
    }

    pub(crate) fn api(&self) -> &Api {
        self.server.api()
    }

    /// A code never handed out before by this rig.
    pub(crate) fn new_code(&self) -> String {
        format!("code-{}", self.codes.fetch_add(1, Ordering::Relaxed))
    }

    /// `GET /auth/oidc/bad/login[?raw_query]`, checked (see [`start_login`]).
    pub(crate) async fn login(&self, raw_query: Option<&str>) -> LoginStart {
        start_login(
            self.api(),
            FAKE,
            raw_query,
            &self.fake.authorization_endpoint(),
        )
        .await
    }

    /// The provider's redirect back for `login` with `code` (and its `iss`),
    /// from the browser that started it.
    pub(crate) async fn callback(&self, login: &LoginStart, code: &str) -> Resp {
        let query = callback_query(Some(code), Some(&login.state), Some(self.fake.issuer()));
        callback(self.api(), FAKE, &query, Some(&login.cookie_header()), None).await
    }

    /// A whole good login of the provider's user `sub`: returns the
    /// callback's answer (a 303 with the session, once tokengate is right)
    /// and the ID token the provider handed out.
    pub(crate) async fn log_in(&self, sub: &str, raw_query: Option<&str>) -> (Resp, String) {
        let login = self.login(raw_query).await;
        let code = self.new_code();
        let id_token = self.fake.grant(&code, sub, &login.nonce);
        (self.callback(&login, &code).await, id_token)
    }
}
