//! `tokengate serve`: the HTTP service.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use tokengate::users::PasswordHasher;
use tower::{Layer, Service};
use tracing::Instrument;

use super::CliError;
use crate::config::{ConfigArgs, Settings};
use crate::runtime;
use crate::service::limits::LoginLimiter;
use crate::service::metrics::Metrics;
use crate::service::{AppState, Shared, metrics_router, router};

/// Loads the settings and serves until SIGTERM or Ctrl-C; requests in
/// flight finish first.
pub(crate) fn run(args: &ConfigArgs) -> Result<(), CliError> {
    let settings = Settings::load(args)?;
    crate::logs::init(settings.log_format);
    for warning in crate::config::unknown_env_warnings() {
        tracing::warn!("{warning}");
    }
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Usage(format!("cannot start the runtime: {e}")))?
        .block_on(serve(settings))
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let settings = Arc::new(settings);
    // Before anything runs that counts: tokengate registers its counters
    // at first use, and the trusted issuers' first JWKS fetches start here.
    let metrics = Metrics::install()
        .map_err(|e| CliError::Usage(format!("cannot install the metrics recorder: {e}")))?;
    metrics.spawn_upkeep();
    let parts = runtime::open(&settings).await?;
    runtime::spawn_upkeep(&parts, settings.clone());
    if parts.db.is_shared() && settings.issuer == format!("http://{}", settings.listen) {
        // Each instance would name itself: tokens of one refused by another.
        tracing::warn!(
            issuer = %settings.issuer,
            "issuer is derived from listen; set the same issuer on every instance of this database"
        );
    }
    let state = app_state(&parts, settings.clone(), metrics)?;
    let app = router(state.clone()).layer(LogRequests {
        settings: settings.clone(),
    });
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::Usage(format!("cannot listen on {addr} (metrics_listen): {e}"))
        })?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;
    tracing::info!(
        database = %settings.database_url.redacted(),
        issuer = %settings.issuer,
        "tokengate listening on http://{local}"
    );
    // Tests and scripts read the address from here (the port may be 0).
    println!("tokengate listening on http://{local}");
    let (stop, stopped) = tokio::sync::watch::channel(());
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|e| CliError::Usage(format!("metrics_listen: {e}")))?;
            tracing::info!("metrics on http://{addr}/metrics");
            println!("tokengate metrics on http://{addr}/metrics");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(crate::listener::serve(
                listener,
                metrics_router(state),
                settings.request_timeout,
                async move {
                    let _ = stopped.changed().await;
                },
            )))
        }
        None => None,
    };
    crate::listener::serve(listener, app, settings.request_timeout, shutdown_signal()).await;
    drop(stop);
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    tracing::info!("tokengate stopped");
    Ok(())
}

/// The service's router over opened parts: what the fuzz targets drive
/// in-process (`serve` adds its request log).
#[cfg(feature = "fuzzing")]
pub(crate) fn app(
    parts: &runtime::Runtime,
    settings: Arc<Settings>,
    metrics: Metrics,
) -> Result<axum::Router, CliError> {
    Ok(router(app_state(parts, settings, metrics)?))
}

/// The state every handler shares.
fn app_state(
    parts: &runtime::Runtime,
    settings: Arc<Settings>,
    metrics: Metrics,
) -> Result<AppState, CliError> {
    // One core is left to the requests: a login storm then slows logins,
    // not every other route (BENCHMARKS.md measures both).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let concurrency = cores.saturating_sub(1).max(1);
    let state = AppState::new(Shared {
        // Its extractors count their answers (tokengate's `metrics` feature).
        gate: parts.gate.clone(),
        db: parts.db.clone(),
        hasher: PasswordHasher::new(concurrency),
        limiter: Arc::new(limiter(parts, settings.login_failure_window)),
        registrations: Arc::new(limiter(parts, settings.registration_rate.per)),
        oidc: {
            let oidc = runtime::oidc_login(&settings, &parts.db)?;
            oidc.start();
            oidc
        },
        #[cfg(feature = "redis")]
        redis: parts.redis.clone(),
        links: crate::service::files::prepare(&settings).map_err(runtime::StartError::Files)?,
        settings,
        metrics,
    });
    Ok(state)
}

/// Attempts counted in memory over `window`, and in Redis when the
/// instances share one (failed logins, registrations).
fn limiter(parts: &runtime::Runtime, window: std::time::Duration) -> LoginLimiter {
    let limiter = LoginLimiter::new(window);
    #[cfg(feature = "redis")]
    if let Some(redis) = &parts.redis {
        return limiter.with_shared(crate::cluster::SharedCounters::new(redis.clone(), window));
    }
    let _ = parts;
    limiter
}

/// Gives each request an id, runs it in a span carrying the id (so every
/// log line of the request names it), echoes the id in `X-Request-Id`, and
/// logs one line per request unless `access_log = false`: method, path
/// (never the query, which may hold a token), status and time. Headers and
/// bodies are never logged. A tower layer rather than a
/// `middleware::from_fn`: no clone of the services below and no `Next` per
/// request.
#[derive(Debug, Clone)]
struct LogRequests {
    settings: Arc<Settings>,
}

impl<S> Layer<S> for LogRequests {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// A service behind [`LogRequests`].
#[derive(Debug, Clone)]
struct Logged<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> Service<Request> for Logged<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = crate::service::BoxedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request_id(&self.settings, &request);
        // The path is read after the request is handled, from a cheap clone
        // of its URI (no copy of the path when no line is written).
        let (method, uri) = (request.method().clone(), request.uri().clone());
        // Checked ASCII (a proxy's) or our own: always text.
        let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or_default());
        let started = Instant::now();
        let handled = self.inner.call(request).instrument(span);
        let access_log = self.settings.access_log;
        Box::pin(async move {
            let mut response = handled.await?;
            if access_log {
                // Outside the span, with the id as a field of its own:
                // formatting the span into the line made it cost twice what
                // the line does (BENCHMARKS.md, logging).
                tracing::info!(
                    request_id = id.to_str().unwrap_or_default(),
                    %method,
                    path = uri.path(),
                    status = response.status().as_u16(),
                    micros = started.elapsed().as_micros() as u64,
                    "request"
                );
            }
            response.headers_mut().insert(REQUEST_ID.clone(), id);
            Ok(response)
        })
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the `X-Request-Id` a trusted proxy sent (one header,
/// 1 to 128 characters of `A-Za-z0-9._:-`, so that it cannot forge a log
/// line), else a new one.
fn request_id(settings: &Settings, request: &Request) -> HeaderValue {
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            settings
                .trusted_proxies
                .iter()
                .any(|net| net.contains(peer.ip()))
        });
    let mut given = request.headers().get_all(&REQUEST_ID).iter();
    if from_proxy
        && let (Some(value), None) = (given.next(), given.next())
        && (1..=128).contains(&value.len())
        && value
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
    {
        return value.clone();
    }
    new_request_id()
}

/// A new request id: a random prefix drawn once per process, then a
/// counter. Unique across instances and restarts (48 random bits), and
/// cheaper than random bytes per request (measured: about 5% of a cached
/// `/api/private` request).
fn new_request_id() -> HeaderValue {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // A UUIDv4's first 12 hex digits: 48 random bits.
    let prefix = PREFIX.get_or_init(|| {
        let uuid = tokengate::token::random_id();
        format!("{}{}", &uuid[..8], &uuid[9..13])
    });
    let id = format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed));
    // The String's buffer becomes the header's: no copy.
    HeaderValue::from_maybe_shared(axum::body::Bytes::from(id))
        .expect("hex digits and a dash are a header value")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}
