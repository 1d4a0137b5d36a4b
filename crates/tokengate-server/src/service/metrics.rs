//! Prometheus metrics at `GET /metrics`, through the `metrics`
//! facade and `metrics-exporter-prometheus` built without its HTTP listener
//! and push gateway (no second HTTP server, no TLS stack): the service
//! renders the recorder's text in a route of its own.
//!
//! Every label value is bounded: routes are the router's patterns (never the
//! raw path), methods the standard ones, outcomes tokengate's error codes.
//!
//! The library counts what only it sees (its `metrics` feature, described
//! here too): `tokengate_token_verifications_total{result}` (each answer of
//! a token extractor, accepted ones included),
//! `tokengate_refresh_reuse_detected_total`,
//! `tokengate_jwks_fetches_total{issuer,outcome}` and the password hashing
//! pool's `tokengate_password_hashing_queue` and
//! `tokengate_password_hashing_running` gauges.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics::{Counter, counter, describe_counter};
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
        "logins_total",
        "Login attempts by method (password, oidc) and outcome"
    );
    describe_counter!(
        "refreshes_total",
        "Refresh-token uses by outcome (token_revoked: a revoked login, or reuse of a spent refresh token, also counted in tokengate_refresh_reuse_detected_total)"
    );
    describe_counter!(
        "revocations_total",
        "Revocations made by the service, by kind (logout, logout_all, password_change)"
    );
    tokengate::metrics::describe();
}

/// `GET /metrics`. Unauthenticated like `/healthz`: operators should not
/// expose it publicly (route it only to the scraper, or block it at the proxy).
pub(super) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(render))
}

/// Metrics
///
/// The process's metrics in the Prometheus text format. Unauthenticated:
/// keep it off the public side of the proxy.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4", body = String))
)]
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
/// (the library then revokes the whole login, and counts the reuse in
/// `tokengate_refresh_reuse_detected_total`) as well as revoked logins.
pub(super) fn refresh<T>(result: &Result<T, Error>) {
    counter!("refreshes_total", "outcome" => outcome(result)).increment(1);
}

/// A revocation made by the service (not by the admin CLI, another process).
pub(super) fn revoked(kind: &'static str) {
    counter!("revocations_total", "kind" => kind).increment(1);
}
