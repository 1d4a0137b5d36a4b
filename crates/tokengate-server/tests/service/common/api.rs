//! [`Api`]: an HTTP client bound to one server, and the service's requests.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use super::Resp;

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
    pub(super) fn new(base: String) -> Api {
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

    /// Whether `/readyz` answers 200 (a 503 is an answer here, not a failure).
    pub(crate) async fn is_ready(&self) -> bool {
        let resp = self.try_send(self.request(Method::GET, "/readyz")).await;
        resp.is_ok_and(|r| r.status == 200)
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

    /// `POST /auth/register` with the credentials.
    pub(crate) async fn register(&self, username: &str, password: &str) -> Resp {
        self.post_credentials("/auth/register", username, password)
            .await
    }

    /// `POST path` with `{"username", "password"}`.
    async fn post_credentials(&self, path: &str, username: &str, password: &str) -> Resp {
        let body = json!({"username": username, "password": password});
        self.post_json(path, &body).await
    }

    /// Registers a user that must not exist yet.
    pub(crate) async fn register_ok(&self, username: &str, password: &str) -> Value {
        self.register(username, password).await.expect(201).json()
    }

    /// `POST /auth/login` with the credentials.
    pub(crate) async fn login(&self, username: &str, password: &str) -> Resp {
        self.post_credentials("/auth/login", username, password)
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
