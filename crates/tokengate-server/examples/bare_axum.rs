//! A bare axum 0.8 route answering what the service's `/api/public`
//! answers: the anchor that `scripts/bench-service.sh` measures beside the
//! service's `/api/public` and `/api/private`, in the same run. No state,
//! no middleware, no log: what the service's plumbing is compared with.
//!
//! ```text
//! cargo run --release -p tokengate-server --example bare_axum
//! ```
//!
//! It listens on 127.0.0.1:0 with tokio's default multi-threaded runtime
//! (one worker per core, like the service) and prints
//! `tokengate listening on http://ADDR`, the service's own start line, so
//! that the benchmark scripts start it the same way.

use axum::Router;
use axum::response::Json;
use axum::routing::get;
use serde::Serialize;

#[derive(Serialize)]
struct Greeting {
    message: &'static str,
}

async fn public() -> Json<Greeting> {
    Json(Greeting {
        message: "Hello from a public endpoint! You don't need to be authenticated to see this.",
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new().route("/api/public", get(public));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("tokengate listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
