//! `GET /metrics`: Prometheus text whose counters move with the
//! traffic: requests by route pattern and status, token verifications by
//! result (accepted or the code), logins, refreshes and revocations by
//! outcome, refresh-token reuse, and the password hashing pool's gauges.
//! JWKS fetches (`tokengate_jwks_fetches_total`) are tested in the
//! library's `tests/metrics.rs`, against a fake issuer.

use std::collections::BTreeMap;

use reqwest::Method;

use crate::common::{Api, Server, TestDir, eventually, free_port};

const PASSWORD: &str = "correct horse battery";

/// One sample: the metric's name, its labels, its value.
pub(crate) type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a scrape (comment lines left out), checking the type.
pub(crate) async fn scrape(api: &Api) -> Vec<Sample> {
    let resp = api.get("/metrics").await.expect(200);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    resp.text()
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(parse_sample)
        .collect()
}

/// `name{a="x",b="y"} value` (label values here hold no `"`, `,` or `\`).
fn parse_sample(line: &str) -> Sample {
    let (series, value) = line
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value: {line}"));
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix('}')
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            let labels = inner
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label: {line}"));
                    (key.to_owned(), value.to_owned())
                })
                .collect();
            (name, labels)
        }
        None => (series, BTreeMap::new()),
    };
    (name.to_owned(), labels, value)
}

/// The value of the series with exactly these labels, 0 if absent.
#[track_caller]
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| n == name && *l == wanted)
        .map(|(_, _, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} twice");
    found.first().copied().unwrap_or(0.0)
}

/// The series of `name`, for the messages of failed assertions.
fn series(samples: &[Sample], name: &str) -> Vec<String> {
    samples
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, l, v)| format!("{l:?} {v}"))
        .collect()
}

#[track_caller]
fn assert_counter(samples: &[Sample], name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(
        value(samples, name, labels),
        expected,
        "{name} {labels:?}; the series: {:#?}",
        series(samples, name)
    );
}

#[tokio::test]
async fn metrics_count_requests_tokens_logins_refreshes_and_revocations() {
    let dir = TestDir::new("metrics");
    let server = Server::start(&dir, &[("TOKENGATE_LOGIN_MAX_FAILURES", "3")]);
    let api = server.api();

    api.register_ok("alice", PASSWORD).await;
    api.register_ok("mallory", PASSWORD).await;
    let first = api.login_ok("alice", PASSWORD).await;
    api.login("alice", "wrong password")
        .await
        .expect_error(401, "invalid_credentials");
    for _ in 0..3 {
        api.login("mallory", "wrong password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    api.login("mallory", PASSWORD)
        .await
        .expect_error(429, "rate_limited");

    api.assert_valid(&first.access).await;
    api.send(api.request(Method::GET, "/api/private"))
        .await
        .expect_missing();
    // A good token without the scope: refused once, not also accepted.
    api.get_bearer("/api/private-scoped", &first.access)
        .await
        .expect_error(403, "insufficient_scope");
    let garbage = api
        .private("not-a-token")
        .await
        .expect(401)
        .json()
        .get("code")
        .and_then(|c| c.as_str())
        .expect("a code")
        .to_owned();

    let second = api.refresh_ok(&first.refresh).await;
    // The spent refresh token again: reuse, the whole login revoked.
    api.refresh(&first.refresh)
        .await
        .expect_token_error("token_revoked");
    // Refused by the extractor now: counted as a token refusal.
    api.assert_refused(&second.access, "token_revoked").await;

    let to_logout = api.login_ok("alice", PASSWORD).await;
    api.post_bearer("/auth/logout", &to_logout.access, None)
        .await
        .expect(200);
    let everywhere = api.login_ok("alice", PASSWORD).await;
    api.post_bearer("/auth/logout-all", &everywhere.access, None)
        .await
        .expect(200);
    api.get("/no/such/route/42").await.expect(404);

    let samples = scrape(api).await;
    let http = "tokengate_http_requests_total";
    for (route, method, status, count) in [
        ("/auth/register", "POST", "201", 2.0),
        ("/auth/login", "POST", "200", 3.0),
        ("/auth/login", "POST", "401", 4.0),
        ("/auth/login", "POST", "429", 1.0),
        ("/api/private", "GET", "200", 1.0),
        ("/api/private", "GET", "401", 3.0),
        ("/api/private-scoped", "GET", "403", 1.0),
        ("/auth/refresh", "POST", "200", 1.0),
        ("/auth/refresh", "POST", "401", 1.0),
        ("/auth/logout", "POST", "200", 1.0),
        ("/auth/logout-all", "POST", "200", 1.0),
        // Never the raw path: an unmatched one is one series.
        ("unmatched", "GET", "404", 1.0),
    ] {
        assert_counter(
            &samples,
            http,
            &[("route", route), ("method", method), ("status", status)],
            count,
        );
    }
    assert!(
        samples
            .iter()
            .all(|(n, l, _)| n != http || !l["route"].contains("42")),
        "{:#?}",
        series(&samples, http)
    );

    // One namespace for every series.
    let foreign: Vec<&String> = samples
        .iter()
        .map(|(n, _, _)| n)
        .filter(|n| !n.starts_with("tokengate_"))
        .collect();
    assert!(foreign.is_empty(), "not prefixed tokengate_: {foreign:?}");
    assert_counter(
        &samples,
        "tokengate_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    // Request durations by route pattern and status class: every request
    // above in one bucket or another, and in the +Inf bucket.
    let duration = "tokengate_http_request_duration_seconds";
    let login_ok = [("route", "/auth/login"), ("status_class", "2xx")];
    assert_counter(&samples, &format!("{duration}_count"), &login_ok, 3.0);
    let mut inf = login_ok.to_vec();
    inf.push(("le", "+Inf"));
    assert_counter(&samples, &format!("{duration}_bucket"), &inf, 3.0);
    assert_counter(
        &samples,
        &format!("{duration}_count"),
        &[("route", "/auth/login"), ("status_class", "4xx")],
        5.0,
    );
    let sum = value(&samples, &format!("{duration}_sum"), &login_ok);
    assert!(sum > 0.0, "{sum}");

    // Counted by tokengate's extractors (the library's `metrics` feature),
    // once per extractor's answer.
    let verifications = "tokengate_token_verifications_total";
    // /api/private, both refreshes (the reused token still verifies: its
    // reuse is found by the rotation), logout, logout-all.
    assert_counter(&samples, verifications, &[("result", "accepted")], 5.0);
    assert_counter(
        &samples,
        verifications,
        &[("result", "authorization_header_missing")],
        1.0,
    );
    assert_counter(&samples, verifications, &[("result", "token_revoked")], 1.0);
    assert_counter(
        &samples,
        verifications,
        &[("result", "insufficient_scope")],
        1.0,
    );
    assert!(
        ![
            "token_revoked",
            "authorization_header_missing",
            "insufficient_scope"
        ]
        .contains(&garbage.as_str()),
        "a garbage token refused as {garbage}"
    );
    assert_counter(
        &samples,
        verifications,
        &[("result", garbage.as_str())],
        1.0,
    );
    // The service's own refusal counter is gone: the library's replaces it.
    assert!(
        series(&samples, "token_verifications_total").is_empty(),
        "{:#?}",
        series(&samples, "token_verifications_total")
    );

    let logins = "tokengate_logins_total";
    let password = ("method", "password");
    assert_counter(&samples, logins, &[password, ("outcome", "success")], 3.0);
    assert_counter(
        &samples,
        logins,
        &[password, ("outcome", "invalid_credentials")],
        4.0,
    );
    assert_counter(
        &samples,
        logins,
        &[password, ("outcome", "rate_limited")],
        1.0,
    );

    assert_counter(
        &samples,
        "tokengate_refreshes_total",
        &[("outcome", "success")],
        1.0,
    );
    assert_counter(
        &samples,
        "tokengate_refreshes_total",
        &[("outcome", "token_revoked")],
        1.0,
    );
    assert_counter(&samples, "tokengate_refresh_reuse_detected_total", &[], 1.0);

    assert_counter(
        &samples,
        "tokengate_revocations_total",
        &[("kind", "logout")],
        1.0,
    );
    assert_counter(
        &samples,
        "tokengate_revocations_total",
        &[("kind", "logout_all")],
        1.0,
    );

    // Every hash (2 registrations, 8 logins) has gone through the pool and
    // finished: the library's gauges are there, and back to 0.
    for gauge in [
        "tokengate_password_hashing_queue",
        "tokengate_password_hashing_running",
    ] {
        assert!(samples.iter().any(|(n, _, _)| n == gauge), "no {gauge}");
        assert_counter(&samples, gauge, &[], 0.0);
    }
    assert!(series(&samples, "password_hashing_in_flight").is_empty());
    // No trusted issuer: no JWKS fetch.
    assert!(series(&samples, "tokengate_jwks_fetches_total").is_empty());

    // The scrape itself is counted, by the next one.
    let again = scrape(api).await;
    assert!(
        value(
            &again,
            http,
            &[("route", "/metrics"), ("method", "GET"), ("status", "200")]
        ) >= 1.0
    );
    assert_counter(&again, logins, &[password, ("outcome", "success")], 3.0);
}

/// `metrics_listen`: `/metrics` on its own address, and only there.
#[tokio::test]
async fn metrics_listen_serves_the_metrics_alone_off_the_public_port() {
    let dir = TestDir::new("metrics-listen");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&dir, &[("TOKENGATE_METRICS_LISTEN", &metrics_addr)]);
    let api = server.api();
    api.get("/api/public").await.expect(200);
    api.get("/metrics").await.expect_error(404, "not_found");
    let document = api.get("/openapi.json").await.expect(200).json();
    assert!(
        document["paths"]["/metrics"].is_null(),
        "{}",
        document["paths"]
    );

    let client = reqwest::Client::new();
    let metrics = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("the metrics address answers");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"tokengate_http_requests_total{route="/api/public",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    let elsewhere = client
        .get(format!("http://{metrics_addr}/api/public"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn readyz_says_ready_with_a_database_and_a_key() {
    let dir = TestDir::new("readyz");
    let server = Server::start(&dir, &[]);
    // Ready once the revocations are read, in the background at start.
    eventually("/readyz says ready", || async {
        server.api().is_ready().await
    })
    .await;
    let ready = server.api().get("/readyz").await.expect(200).json();
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": "ok", "keys": "ok", "revocations": "ok"})
    );
}
