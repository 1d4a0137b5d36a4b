//! The service's JSON request bodies, through the real router in-process
//! (SQLite, every token location on, so the JSON-body token middleware too):
//! the first byte picks the route and the content type, the rest is the
//! body. Every answer is below 500, and every error is the JSON
//! `{"code","msg"}`.
#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use tokengate_server::fuzzing::Service;

static SERVICE: LazyLock<Service> = LazyLock::new(Service::start);

const ROUTES: [(&str, &str); 8] = [
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/password"),
    ("POST", "/auth/session"),
    ("POST", "/api/memos"),
    ("PUT", "/api/memos/1"),
];

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ROUTES[usize::from(selector) % ROUTES.len()];
    let content_type = CONTENT_TYPES[usize::from(selector >> 5) % CONTENT_TYPES.len()];
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
        .unwrap();
    let answer = SERVICE.call(request);
    assert!(
        !answer.status.is_server_error(),
        "{method} {path}: {}",
        answer.status
    );
    if answer.status.is_client_error() {
        let error: serde_json::Value =
            serde_json::from_slice(&answer.body).expect("an error body is JSON");
        assert!(
            error["code"].is_string() && error["msg"].is_string(),
            "{error}"
        );
    }
});
