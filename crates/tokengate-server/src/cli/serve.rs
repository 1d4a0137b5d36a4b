//! `tokengate serve`: the HTTP service.

use std::sync::Arc;

use tokengate::users::PasswordHasher;

use super::CliError;
use crate::config::{ConfigArgs, Settings};
use crate::runtime;
use crate::service::limits::LoginLimiter;
use crate::service::metrics::Metrics;
use crate::service::standards::Clients;
use crate::service::{AppState, Shared, metrics_router, router};

/// Loads the settings and serves until SIGTERM or Ctrl-C; requests in
/// flight finish first.
pub(crate) fn run(args: &ConfigArgs) -> Result<(), CliError> {
    let settings = Settings::load(args)?;
    crate::logs::init(settings.log_format);
    for warning in crate::config::unknown_env_warnings() {
        tracing::warn!("{warning}");
    }
    let served = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Usage(format!("cannot start the runtime: {e}")))
        .and_then(|runtime| runtime.block_on(serve(settings)));
    // The lines still waiting to be written (crate::logs, batched).
    crate::logs::flush();
    served
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
    let state = app_state(&parts, settings.clone(), metrics)?;
    let app = router(state.clone());
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
    // The start's lines at once, not with the first requests'.
    crate::logs::flush();
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
/// in-process.
#[cfg(feature = "fuzzing")]
pub(crate) fn app(
    parts: &runtime::Runtime,
    settings: Arc<Settings>,
    metrics: Metrics,
) -> Result<crate::service::App, CliError> {
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
        clients: Clients::new(&settings.clients, |window| limiter(parts, window)),
        passkeys: runtime::relying_party(&settings)?,
        settings,
        metrics,
    });
    Ok(state)
}

/// Attempts counted in memory over `window`, and in Redis when the
/// instances share one (failed logins, registrations, OAuth clients'
/// requests).
fn limiter(parts: &runtime::Runtime, window: std::time::Duration) -> LoginLimiter {
    let limiter = LoginLimiter::new(window);
    #[cfg(feature = "redis")]
    if let Some(redis) = &parts.redis {
        return limiter.with_shared(crate::cluster::SharedCounters::new(redis.clone(), window));
    }
    let _ = parts;
    limiter
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
