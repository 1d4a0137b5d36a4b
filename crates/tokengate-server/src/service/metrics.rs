//! Prometheus metrics at `GET /metrics`, through the `metrics`
//! facade and `metrics-exporter-prometheus` built without its HTTP listener
//! and push gateway (no second HTTP server, no TLS stack): the service
//! renders the recorder's text in a route of its own. The two metrics of
//! every request, `tokengate_http_requests_total` and
//! `tokengate_http_request_duration_seconds`, are kept per thread instead
//! ([`requests`]) and rendered with the recorder's.
//!
//! Every metric is named `tokengate_*`. Every label value is bounded:
//! routes are the router's patterns (never the raw path), methods the
//! standard ones, outcomes tokengate's error codes.
//!
//! The library counts what only it sees (its `metrics` feature, described
//! here too): `tokengate_token_verifications_total{result}` (each answer of
//! a token extractor, accepted ones included),
//! `tokengate_refresh_reuse_detected_total`,
//! `tokengate_jwks_fetches_total{issuer,outcome}` and the password hashing
//! pool's `tokengate_password_hashing_queue` and
//! `tokengate_password_hashing_running` gauges.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tokengate::Error;

use super::AppState;

mod requests;

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The renderer of the process's metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-wide recorder: once per process (`serve`).
    /// Nothing records a histogram through it (the request durations are
    /// kept in [`requests`]), so it needs no upkeep: a histogram added
    /// here would need `PrometheusHandle::run_upkeep` now and then.
    pub(crate) fn install() -> Result<Metrics, BuildError> {
        let handle = PrometheusBuilder::new().install_recorder()?;
        describe();
        gauge!("tokengate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Ok(Metrics { handle })
    }
}

fn describe() {
    describe_gauge!(
        "tokengate_build_info",
        "1, labelled with the version of the running tokengate"
    );
    describe_counter!(
        "tokengate_logins_total",
        "Login attempts by method (password, oidc, passkey) and outcome"
    );
    describe_counter!(
        "tokengate_refreshes_total",
        "Refresh-token uses by outcome (token_revoked: a revoked login, or reuse of a spent refresh token, also counted in tokengate_refresh_reuse_detected_total)"
    );
    describe_counter!(
        "tokengate_revocations_total",
        "Revocations made by the service, by kind (logout, logout_all, password_change, revocation_endpoint)"
    );
    describe_counter!(
        "tokengate_introspections_total",
        "Answers of the introspection endpoint (RFC 7662) to authenticated clients, by active (true, false)"
    );
    describe_counter!(
        "tokengate_sessions_ended_total",
        "Sessions (logins) ended by their owner, by how: owner (DELETE /auth/sessions/{id}), owner_others (DELETE /auth/sessions)"
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
    let mut text = String::new();
    requests::render(&mut text);
    text.push_str(&state.metrics.handle.render());
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}

/// Counts a request by route pattern, method and status, and times it by
/// route pattern and status class; a request that matched no route counts
/// as `route="unmatched"`. Called for every request by
/// [`super::observe::ObserveRequests`]; kept per thread ([`requests`]).
pub(super) fn count_request(
    route: Option<&'static str>,
    method: &Method,
    status: http::StatusCode,
    elapsed: Duration,
) {
    requests::record(
        route.unwrap_or("unmatched"),
        method_label(method),
        status.as_u16(),
        elapsed,
    );
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

/// A login attempt with a password (`invalid_credentials`, `rate_limited`, …),
/// an OIDC provider or a passkey.
pub(super) fn login<T>(method: &'static str, result: &Result<T, Error>) {
    counter!("tokengate_logins_total", "method" => method, "outcome" => outcome(result))
        .increment(1);
}

/// A use of a refresh token; `token_revoked` counts reuse of a spent one
/// (the library then revokes the whole login, and counts the reuse in
/// `tokengate_refresh_reuse_detected_total`) as well as revoked logins.
pub(super) fn refresh<T>(result: &Result<T, Error>) {
    counter!("tokengate_refreshes_total", "outcome" => outcome(result)).increment(1);
}

/// Sessions ended by their owner; `by`: `owner` (one) or `owner_others`.
pub(super) fn sessions_ended(by: &'static str, count: usize) {
    counter!("tokengate_sessions_ended_total", "by" => by).increment(count as u64);
}

/// A revocation made by the service (not by the admin CLI, another process);
/// `revocation_endpoint`: a token revoked at `POST /auth/revoke` (not
/// counted when there was nothing to revoke).
pub(super) fn revoked(kind: &'static str) {
    counter!("tokengate_revocations_total", "kind" => kind).increment(1);
}

/// An answer of the introspection endpoint: the token was active or not.
pub(super) fn introspected(active: bool) {
    let active = if active { "true" } else { "false" };
    counter!("tokengate_introspections_total", "active" => active).increment(1);
}
