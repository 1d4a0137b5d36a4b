//! The service in-process, for the fuzz targets under `fuzz/` (feature
//! `fuzzing`; not an API). A [`Service`] is the router `tokengate serve`
//! listens with, on SQLite in a scratch directory with generated keys and
//! every token location on (header, cookies, query string, JSON body), so
//! that one fuzz input reaches what a request over the network reaches,
//! without the socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use tower::ServiceExt;

use crate::cli::serve;
use crate::config::{ConfigArgs, Settings};
use crate::runtime;
use crate::service::metrics::Metrics;

/// The service, ready to answer requests (see the module's documentation).
pub struct Service {
    runtime: tokio::runtime::Runtime,
    router: crate::service::App,
    dir: PathBuf,
}

/// What the service answered: the status and the body (at most 1 MiB).
#[derive(Debug)]
pub struct Answer {
    /// The response's status.
    pub status: StatusCode,
    /// The response's body.
    pub body: Vec<u8>,
}

impl Service {
    /// Starts the service in a fresh scratch directory under the system's
    /// temporary directory (removed on drop). Panics if it cannot start: a
    /// fuzz run without its target is no run.
    pub fn start() -> Service {
        let dir = std::env::temp_dir().join(format!("tokengate-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data_dir = dir.to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "TOKENGATE_DATA_DIR" => Some(data_dir.clone()),
            "TOKENGATE_TOKEN_LOCATIONS" => Some("headers,cookies,query_string,json".into()),
            "TOKENGATE_ISSUER" => Some("http://127.0.0.1:5000".into()),
            _ => None,
        };
        let settings = Settings::load_from(&ConfigArgs::default(), env, None)
            .expect("the fuzzing settings are valid");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let router = runtime.block_on(async {
            let settings = Arc::new(settings);
            let parts = runtime::open(&settings).await.expect("the service opens");
            let metrics = Metrics::install().expect("the metrics recorder installs once");
            serve::app(&parts, settings, metrics).expect("the router builds")
        });
        Service {
            runtime,
            router,
            dir,
        }
    }

    /// Sends one request through the service's router, as from 127.0.0.1.
    pub fn call(&self, mut request: Request<Body>) -> Answer {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router's error type is Infallible");
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Answer { status, body }
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
