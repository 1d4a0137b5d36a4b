//! A fake OpenID provider of the test's own: an axum server on 127.0.0.1
//! that serves a discovery document and a JWKS from state the test changes
//! (keys, advertised issuer, Cache-Control, 503, silence, redirects), and
//! counts the requests on each path. Also the keys and engines its tests
//! sign with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri, header};
use serde_json::{Value, json};
use tokengate::keys::{Algorithm, KeyRing, Kid, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine};

/// The API audience every trusted issuer is configured with.
pub(crate) const API: &str = "https://api.tokengate.test";

pub(crate) const DISCOVERY: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS: &str = "/jwks";
/// A second discovery document on the same server, for same-host redirects.
pub(crate) const MOVED_DISCOVERY: &str = "/moved/openid-configuration";

/// What the fake issuer answers; the test changes it at any time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published {
    /// The discovery document's `issuer`; `None`: the server's own URL.
    pub(crate) issuer: Option<String>,
    /// The discovery document's `jwks_uri`; `None`: `{url}/jwks`.
    pub(crate) jwks_uri: Option<String>,
    /// The JWKS's keys.
    pub(crate) keys: Vec<Value>,
    /// Served as the JWKS instead of `keys`.
    pub(crate) raw_jwks: Option<String>,
    /// The JWKS response's Cache-Control.
    pub(crate) cache_control: Option<String>,
    /// Discovery answers 302 to this location.
    pub(crate) redirect_discovery: Option<String>,
    /// Every path answers 503.
    pub(crate) down: bool,
    /// Every request waits a minute before being answered.
    pub(crate) silent: bool,
}

struct Fake {
    url: String,
    published: Mutex<Published>,
    hits: Mutex<HashMap<String, usize>>,
}

/// A fake OpenID provider on 127.0.0.1; it stops with the test's runtime.
#[derive(Clone)]
pub(crate) struct FakeIssuer(Arc<Fake>);

impl FakeIssuer {
    pub(crate) async fn start() -> FakeIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake {
            url,
            published: Mutex::new(Published::default()),
            hits: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(answer).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeIssuer(fake)
    }

    /// `http://127.0.0.1:{port}`: the issuer's URL unless `issuer` says otherwise.
    pub(crate) fn url(&self) -> &str {
        &self.0.url
    }

    pub(crate) fn set(&self, change: impl FnOnce(&mut Published)) {
        change(&mut self.0.published.lock().unwrap());
    }

    /// Publishes exactly these keys (as their public JWKs).
    pub(crate) fn publish(&self, keys: &[&SigningKey]) {
        let keys = keys.iter().map(|k| jwk(k)).collect();
        self.set(|p| p.keys = keys);
    }

    /// The requests for `path` so far.
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.0.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub(crate) fn discovery_hits(&self) -> usize {
        self.hits(DISCOVERY)
    }

    pub(crate) fn jwks_hits(&self) -> usize {
        self.hits(JWKS)
    }

    /// The requests for any path so far.
    pub(crate) fn total_hits(&self) -> usize {
        self.0.hits.lock().unwrap().values().sum()
    }

    /// Waits (generously) until the JWKS has been fetched `n` times: for
    /// fetches made in the background.
    pub(crate) async fn wait_for_jwks_hits(&self, n: usize) {
        for _ in 0..200 {
            if self.jwks_hits() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the JWKS was fetched {} times, not {n}", self.jwks_hits());
    }
}

async fn answer(State(fake): State<Arc<Fake>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    *fake.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let published = fake.published.lock().unwrap().clone();
    if published.silent {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    if published.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let json = |body: String| ([(header::CONTENT_TYPE, "application/json")], body);
    match path.as_str() {
        DISCOVERY | MOVED_DISCOVERY => {
            if let Some(to) = published.redirect_discovery.filter(|_| path == DISCOVERY) {
                return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
            }
            let doc = json!({
                "issuer": published.issuer.unwrap_or_else(|| fake.url.clone()),
                "jwks_uri": published.jwks_uri.unwrap_or_else(|| format!("{}{JWKS}", fake.url)),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            });
            json(doc.to_string()).into_response()
        }
        JWKS => {
            let body = published
                .raw_jwks
                .unwrap_or_else(|| json!({ "keys": published.keys }).to_string());
            let mut response = json(body).into_response();
            if let Some(cc) = published.cache_control {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, cc.parse().unwrap());
            }
            response
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------
// Keys and engines

/// A new key of `alg` under `kid`.
pub(crate) fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg).unwrap().with_kid(Kid::new(kid))
}

/// The public JWK of `key`, as an issuer publishes it (`kid`, `alg`, `use: sig`).
pub(crate) fn jwk(key: &SigningKey) -> Value {
    serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap()
}

/// An engine that issues `iss`'s tokens for `aud` with `key`.
pub(crate) fn issuer_engine(key: SigningKey, iss: &str, aud: &str) -> TokenEngine {
    TokenEngine::new(KeyRing::new(key))
        .with_settings(IssueSettings::default().issuer(iss).audience([aud]))
}
