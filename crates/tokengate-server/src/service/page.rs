//! The demo page at `/`: one HTML file, a script and a style
//! sheet, embedded in the binary (no Node build to run the service). The
//! page only talks to the service's own JSON routes.

use axum::response::IntoResponse;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderName, HeaderValue};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

/// No inline script or style, nothing from another origin, no framing.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(script))
        .routes(routes!(style))
}

/// The demo page
#[utoipa::path(
    get,
    path = "/",
    operation_id = "page",
    tag = "page",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The demo page's script
#[utoipa::path(
    get,
    path = "/assets/app.js",
    operation_id = "page_script",
    tag = "page",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String))
)]
async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The demo page's style sheet
#[utoipa::path(
    get,
    path = "/assets/app.css",
    operation_id = "page_style",
    tag = "page",
    responses((status = 200, description = "The style sheet", content_type = "text/css", body = String))
)]
async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// One embedded file with its type and the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body)
}
