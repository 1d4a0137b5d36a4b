//! `tokengate serve`: the HTTP service.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokengate::users::PasswordHasher;

use super::CliError;
use crate::config::{ConfigArgs, Settings};
use crate::runtime;
use crate::service::limits::LoginLimiter;
use crate::service::metrics::Metrics;
use crate::service::{AppState, router};

/// Loads the settings and serves until SIGTERM or Ctrl-C; requests in
/// flight finish first.
pub(crate) fn run(args: &ConfigArgs) -> Result<(), CliError> {
    let settings = Settings::load(args)?;
    init_logs();
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Usage(format!("cannot start the runtime: {e}")))?
        .block_on(serve(settings))
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let settings = Arc::new(settings);
    // Before anything runs that counts: tokengate registers its counters
    // at first use, and the trusted issuers' first JWKS fetches start here.
    let metrics = Metrics::install()
        .map_err(|e| CliError::Usage(format!("cannot install the metrics recorder: {e}")))?;
    let parts = runtime::open(&settings).await?;
    runtime::spawn_upkeep(&parts, settings.clone());
    if parts.db.is_shared() && settings.issuer == format!("http://{}", settings.listen) {
        // Each instance would name itself: tokens of one refused by another.
        tracing::warn!(
            issuer = %settings.issuer,
            "issuer is derived from listen; set the same issuer on every instance of this database"
        );
    }
    let app = app(&parts, settings.clone(), metrics)?.layer(middleware::from_fn(log_request));
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
    crate::listener::serve(listener, app, settings.request_timeout, shutdown_signal()).await;
    tracing::info!("tokengate stopped");
    Ok(())
}

/// The service's router over opened parts: what `serve` listens with, and
/// what the fuzz targets drive in-process.
pub(crate) fn app(
    parts: &runtime::Runtime,
    settings: Arc<Settings>,
    metrics: Metrics,
) -> Result<axum::Router, CliError> {
    // One core is left to the requests: a login storm then slows logins,
    // not every other route (BENCHMARKS.md measures both).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let concurrency = cores.saturating_sub(1).max(1);
    let state = AppState {
        // Its extractors count their answers (tokengate's `metrics` feature).
        gate: parts.gate.clone(),
        db: parts.db.clone(),
        hasher: PasswordHasher::new(concurrency),
        limiter: Arc::new(limiter(parts, settings.login_failure_window)),
        registrations: Arc::new(limiter(parts, settings.registration_rate.per)),
        oidc: {
            let oidc = runtime::oidc_login(&settings)?;
            oidc.start();
            oidc
        },
        #[cfg(feature = "redis")]
        redis: parts.redis.clone(),
        links: crate::service::files::prepare(&settings).map_err(runtime::StartError::Files)?,
        settings,
        metrics,
    };
    Ok(router(state))
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

/// One line per request: method, path (never the query, which may hold a
/// token), status and time. Headers and bodies are never logged.
async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
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
