//! Prometheus metrics at `GET /metrics`, through the `metrics`
//! facade and `metrics-exporter-prometheus` built without its HTTP listener
//! and push gateway (no second HTTP server, no TLS stack): the service
//! renders the recorder's text in a route of its own.
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
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics::{
    Counter, Histogram, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
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
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), DURATION_BUCKETS)?
            .install_recorder()?;
        describe();
        gauge!("tokengate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Ok(Metrics { handle })
    }

    /// Folds the histograms' recent samples into their buckets now and
    /// then, as the recorder needs when nothing scrapes (its own HTTP
    /// listener would do this; the service renders `/metrics` itself).
    pub(crate) fn spawn_upkeep(&self) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

const REQUEST_DURATION: &str = "tokengate_http_request_duration_seconds";

/// From 1 ms (a cached token check) to 10 s (a login waiting for a hash
/// under a storm); `request_timeout` bounds the rest.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn describe() {
    describe_counter!(
        "tokengate_http_requests_total",
        "HTTP requests by route pattern, method and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and status class (2xx, 4xx, ...)"
    );
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
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.metrics.handle.render(),
    )
        .into_response()
}

/// Counts a request by route pattern, method and status, and times it by
/// route pattern and status class; a request that matched no route counts
/// as `route="unmatched"`. Called for every request by
/// [`super::observe::ObserveRequests`].
pub(super) fn count_request(
    route: Option<&str>,
    method: &Method,
    status: http::StatusCode,
    elapsed: Duration,
) {
    type ByStatus = HashMap<(&'static str, u16), (Counter, Histogram), foldhash::fast::RandomState>;
    type Local = HashMap<String, ByStatus, foldhash::fast::RandomState>;
    thread_local! {
        // Each thread's copy of the handles it has used: a request takes no
        // lock and touches no reference count shared with other threads
        // (the shared map's lock and the handles' clones cost a microsecond
        // of a request under load; BENCHMARKS.md, the plumbing). Hashed by
        // foldhash: the keys are the service's own route patterns, and
        // SipHash's four lookups cost 0.8k instructions a request.
        static LOCAL: RefCell<Local> = RefCell::new(HashMap::default());
    }
    let route = route.unwrap_or("unmatched");
    let method = method_label(method);
    let key = (method, status.as_u16());
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let by_status = match local.get_mut(route) {
            Some(by_status) => by_status,
            None => local.entry(route.to_owned()).or_default(),
        };
        let (counter, duration) = by_status
            .entry(key)
            .or_insert_with(|| request_metrics(route, method, status));
        counter.increment(1);
        duration.record(elapsed);
    });
}

/// The counter of one (route, method, status) and the histogram of its
/// (route, status class), registered once: building the labelled keys on
/// every request cost more than the rest of a cached token check (measured
/// with scripts/bench-service.sh). Asked once per thread and handle by
/// [`count_request`], which keeps a copy.
fn request_metrics(
    route: &str,
    method: &'static str,
    status: http::StatusCode,
) -> (Counter, Histogram) {
    type Handles = RwLock<HashMap<String, HashMap<(&'static str, u16), (Counter, Histogram)>>>;
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let key = (method, status.as_u16());
    if let Some(found) = handles
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(route)
        .and_then(|by_route| by_route.get(&key))
    {
        return found.clone();
    }
    let counter = counter!(
        "tokengate_http_requests_total",
        "route" => route.to_owned(),
        "method" => method,
        "status" => status.as_str().to_owned(),
    );
    let class = match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    let duration =
        histogram!(REQUEST_DURATION, "route" => route.to_owned(), "status_class" => class);
    let found = (counter, duration);
    handles
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(route.to_owned())
        .or_default()
        .insert(key, found.clone());
    found
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
