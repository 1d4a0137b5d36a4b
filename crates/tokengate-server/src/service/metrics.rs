//! Prometheus metrics at `GET /metrics` (issue 9), through the `metrics`
//! facade and `metrics-exporter-prometheus` built without its HTTP listener
//! and push gateway (no second HTTP server, no TLS stack): the service
//! renders the recorder's text in a route of its own.
//!
//! Every label value is bounded: routes are the router's patterns (never the
//! raw path), methods the standard ones, outcomes tokengate's error codes.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, header};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics::{Counter, counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tokengate::Error;

use super::AppState;

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The renderer of the process's metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-wide recorder: once per process (`serve`).
    pub(crate) fn install() -> Result<Metrics, BuildError> {
        let handle = PrometheusBuilder::new().install_recorder()?;
        describe();
        Ok(Metrics { handle })
    }
}

fn describe() {
    describe_counter!(
        "http_requests_total",
        "HTTP requests by route pattern, method and status"
    );
    describe_counter!(
        "token_verifications_total",
        "Requests refused by a token extractor, by tokengate error code"
    );
    describe_counter!(
        "logins_total",
        "Login attempts by method (password, oidc) and outcome"
    );
    describe_counter!(
        "refreshes_total",
        "Refresh-token uses by outcome (token_revoked includes reuse of a spent refresh token)"
    );
    describe_counter!(
        "revocations_total",
        "Revocations made by the service, by kind (logout, logout_all, password_change)"
    );
    describe_gauge!(
        "password_hashing_in_flight",
        "Password hashes and verifications started by requests and not finished (waiting or running)"
    );
}

/// `GET /metrics`. Unauthenticated like `/healthz`: operators should not
/// expose it publicly (route it only to the scraper, or block it at the proxy).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.metrics.handle.render(),
    )
        .into_response()
}

/// Counts every request by route pattern, method and status; a request that
/// matched no route counts as `route="unmatched"`.
pub(super) async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    request_counter(route, method, response.status()).increment(1);
    response
}

/// The counter of one (route, method, status), registered once: building
/// the labelled key on every request cost more than the rest of a cached
/// token check (measured with scripts/bench-service.sh).
fn request_counter(route: String, method: &'static str, status: http::StatusCode) -> Counter {
    type Counters = RwLock<HashMap<(String, &'static str, u16), Counter>>;
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    let counters = COUNTERS.get_or_init(Default::default);
    let key = (route, method, status.as_u16());
    if let Some(counter) = counters.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return counter.clone();
    }
    let counter = counter!(
        "http_requests_total",
        "route" => key.0.clone(),
        "method" => method,
        "status" => status.as_str().to_owned(),
    );
    counters
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, counter.clone());
    counter
}

/// The standard methods by name; any other as `other` (clients choose them).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The gate's error responder: counts the refusal by its code and leaves
/// the response to tokengate. Accepted tokens are not counted: the library
/// has no hook for them.
pub(crate) fn token_refused(error: &Error) -> Option<Response> {
    counter!("token_verifications_total", "result" => error.code()).increment(1);
    None
}

/// The outcome label of a result: `success` or the error's code.
fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(error) => error.code(),
    }
}

/// A login attempt with a password (`invalid_credentials`, `rate_limited`, …)
/// or with an OIDC provider.
pub(super) fn login<T>(method: &'static str, result: &Result<T, Error>) {
    counter!("logins_total", "method" => method, "outcome" => outcome(result)).increment(1);
}

/// A use of a refresh token; `token_revoked` counts reuse of a spent one
/// (the library then revokes the whole login) as well as revoked logins.
pub(super) fn refresh<T>(result: &Result<T, Error>) {
    counter!("refreshes_total", "outcome" => outcome(result)).increment(1);
}

/// A revocation made by the service (not by the admin CLI, another process).
pub(super) fn revoked(kind: &'static str) {
    counter!("revocations_total", "kind" => kind).increment(1);
}

/// Runs a password hash or verification, counted in
/// `password_hashing_in_flight` while it waits for the pool or runs.
pub(super) async fn hashing<T>(work: impl Future<Output = T>) -> T {
    struct InFlight;
    impl Drop for InFlight {
        fn drop(&mut self) {
            gauge!("password_hashing_in_flight").decrement(1.0);
        }
    }
    gauge!("password_hashing_in_flight").increment(1.0);
    let _in_flight = InFlight;
    work.await
}
