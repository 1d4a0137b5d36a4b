//! Middleware that finds tokens in JSON bodies without consuming them.

use crate::RequestRejection;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::Error;
use crate::transport::JsonTokens;

/// JSON bodies larger than this are refused by [`json_tokens`] (400
/// `invalid_request`).
///
/// ```
/// use axum::{Router, body::Body, middleware, routing::post};
/// use tokengate::axum::{JSON_BODY_LIMIT, json_tokens};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let app: Router = Router::new().route("/", post(|| async { "ok" })).layer(middleware::from_fn(json_tokens));
/// let body = format!(r#"{{"pad": "{}"}}"#, "x".repeat(JSON_BODY_LIMIT));
/// let request = http::Request::post("/").header("Content-Type", "application/json").body(Body::from(body)).unwrap();
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 400);
/// # });
/// ```
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Reads `access_token` / `refresh_token` from a JSON body into the
/// request's [`JsonTokens`], then passes the body on unchanged, so a handler
/// can still take `Json<T>`. Needed only when the `json` location is enabled.
///
/// ```
/// use axum::{Router, middleware, routing::post};
/// let app: Router = Router::new()
///     .route("/auth/refresh", post(|| async { "ok" }))
///     .layer(middleware::from_fn(tokengate::axum::json_tokens));
/// ```
pub async fn json_tokens(request: Request, next: Next) -> Response {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, JSON_BODY_LIMIT).await else {
        return Error::Request(RequestRejection::Invalid(
            "request body is too large or unreadable".into(),
        ))
        .into_response();
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) {
        let member = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        parts.extensions.insert(JsonTokens {
            access: member("access_token"),
            refresh: member("refresh_token"),
        });
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
