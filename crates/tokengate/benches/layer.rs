//! What `TokenGate::require` costs next to the `AccessToken` extractor it
//! can replace, and next to the bare route both protect: one request
//! through an axum `Router` with `oneshot`, the token verified before (as
//! every request after a client's first finds it in the cache).
//!
//! - `bare`: a route without authentication (the anchor);
//! - `extractor`: the route takes `AccessToken`;
//! - `layer`: the route takes nothing, `route_layer(gate.require())`;
//! - `layer_and_extractor`: both; the extractor takes the layer's verdict;
//! - `extractor_and_noop_layer`: the extractor, and a `route_layer` that
//!   does nothing (what axum charges for any route layer: the route's
//!   service boxed once more and cloned per request);
//! - `layer_around_router`: the route takes nothing, the layer wraps the
//!   whole `Router` as a tower service (`gate.require().layer(router)`),
//!   which is how an application protects everything it serves without
//!   axum's per-route price;
//! - `layer_vs_extractor_ratio_x1000`: `layer` / `extractor`,
//!   `layer_vs_noop_layer_ratio_x1000`: `layer` / `extractor_and_noop_layer`,
//!   and `around_router_vs_extractor_ratio_x1000`: `layer_around_router` /
//!   `extractor`, each pair timed in alternating chunks so that it holds up
//!   on a noisy machine (criterion shows the ratio times 1000 as
//!   nanoseconds).
//!
//! Run with `cargo bench -p tokengate --bench layer`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use tokengate::axum::{AccessToken, RequireTokenService, TokenGate};
use tokengate::keys::Algorithm;
use tokengate::token::NewToken;
use tower::{Layer, ServiceExt};

fn request(token: &str) -> Request<Body> {
    Request::get("/r")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

fn bench_layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let gate = TokenGate::with_generated_key(Algorithm::ES256).expect("key");
    let token = gate
        .engine()
        .issue(NewToken::access("alice").scope("read:messages"))
        .expect("token")
        .token;
    let extractor =
        || get(|t: AccessToken| async move { black_box(t.subject().len()).to_string() });
    let plain = || get(|| async { "5" });
    let apps = [
        ("bare", Router::new().route("/r", plain())),
        ("extractor", Router::new().route("/r", extractor())),
        (
            "layer",
            Router::new()
                .route("/r", plain())
                .route_layer(gate.require()),
        ),
        (
            "layer_and_extractor",
            Router::new()
                .route("/r", extractor())
                .route_layer(gate.require()),
        ),
        (
            "extractor_and_noop_layer",
            Router::new()
                .route("/r", extractor())
                .route_layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r)),
        ),
    ]
    .map(|(name, app)| (name, app.with_state(gate.clone())));

    // The same layer around the whole router, outside axum's routing.
    let around = gate
        .require()
        .layer(Router::new().route("/r", plain()).with_state(gate.clone()));
    let mut apps: Vec<(&str, App)> = apps
        .into_iter()
        .map(|(name, app)| (name, App::Router(app)))
        .collect();
    apps.push(("layer_around_router", App::Around(around)));

    let mut group = c.benchmark_group("route");
    let one = |app: &App| rt.block_on(app.call(request(black_box(&token))));
    let ratio = |b: &mut criterion::Bencher<'_>, layer_app: &App, other_app: &App| {
        b.iter_custom(|iters| {
            let (mut layer, mut other) = (Duration::ZERO, Duration::ZERO);
            let (mut left, mut layer_first) = (iters, true);
            while left > 0 {
                let n = left.min(200);
                for first in [layer_first, !layer_first] {
                    let (app, total) = if first {
                        (layer_app, &mut layer)
                    } else {
                        (other_app, &mut other)
                    };
                    let start = Instant::now();
                    for _ in 0..n {
                        drop(black_box(one(app)));
                    }
                    *total += start.elapsed();
                }
                left -= n;
                layer_first = !layer_first;
            }
            let ratio = layer.as_secs_f64() / other.as_secs_f64().max(1e-12);
            Duration::from_secs_f64(ratio * 1e-6 * iters as f64)
        })
    };
    let app = |name: &str| &apps.iter().find(|(n, _)| *n == name).expect(name).1;
    group.bench_function("layer_vs_extractor_ratio_x1000", |b| {
        ratio(b, app("layer"), app("extractor"))
    });
    group.bench_function("layer_vs_noop_layer_ratio_x1000", |b| {
        ratio(b, app("layer"), app("extractor_and_noop_layer"))
    });
    group.bench_function("around_router_vs_extractor_ratio_x1000", |b| {
        ratio(b, app("layer_around_router"), app("extractor"))
    });
    for (name, app) in &apps {
        // Every variant answers 200 to the same request (the token cached).
        assert_eq!(one(app).status(), 200, "{name}");
        group.bench_function(*name, |b| b.iter(|| one(app)));
    }
    group.finish();
}

/// A router, or the layer around one: each request goes through `oneshot`
/// on a clone, as a server does.
enum App {
    Router(Router),
    Around(RequireTokenService<Router>),
}

impl App {
    async fn call(&self, request: Request<Body>) -> Response<Body> {
        match self {
            Self::Router(app) => app.clone().oneshot(request).await,
            Self::Around(app) => app.clone().oneshot(request).await,
        }
        .unwrap_or_else(|never| match never {})
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench_layer
}
criterion_main!(benches);
