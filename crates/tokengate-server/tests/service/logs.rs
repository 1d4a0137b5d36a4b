//! The log: JSON lines, request ids on every line of their request, and
//! the access log switch. (What must never be logged: secrets.rs.)

use reqwest::Method;
use serde_json::Value;

use crate::common::{Api, Server, TestDir};

/// Every line of a JSON log, parsed: a line that is not JSON fails.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The access-log lines (`fields.message == "request"`) of request `id`:
/// the id is a field of the line itself.
fn access_lines<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request" && l["fields"]["request_id"] == id)
        .collect()
}

async fn get_with_id(api: &Api, path: &str, id: Option<&str>) -> String {
    let mut request = api.request(Method::GET, path);
    if let Some(id) = id {
        request = request.header("X-Request-Id", id);
    }
    let resp = api.send(request).await;
    resp.header("x-request-id").expect("an X-Request-Id")
}

#[tokio::test]
async fn json_logs_name_each_request_by_an_id_a_trusted_proxy_may_give() {
    let dir = TestDir::new("logs-json");
    let server = Server::start(
        &dir,
        &[
            ("TOKENGATE_LOG_FORMAT", "json"),
            // The test client is the proxy.
            ("TOKENGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let api = server.api();
    assert_eq!(
        get_with_id(api, "/api/public?token=hidden", Some("edge-42.a:b_c")).await,
        "edge-42.a:b_c"
    );
    // An id that could forge a log line, or two ids, are replaced.
    let replaced = get_with_id(api, "/api/public", Some("a b\"}")).await;
    assert_ne!(replaced, "a b\"}");
    let generated = get_with_id(api, "/healthz", None).await;
    let other = get_with_id(api, "/healthz", None).await;
    assert!(
        !generated.is_empty() && generated != other,
        "{generated} {other}"
    );
    api.get("/no/such/route").await.expect(404);

    let log = server.stop();
    let lines = json_lines(&log);
    let given = access_lines(&lines, "edge-42.a:b_c");
    assert_eq!(given.len(), 1, "{lines:#?}");
    let fields = &given[0]["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["path"], "/api/public", "no query string: {fields}");
    assert_eq!(fields["status"], 200);
    assert_eq!(access_lines(&lines, &replaced).len(), 1, "{lines:#?}");
    assert_eq!(access_lines(&lines, &generated).len(), 1);
    assert!(!log.contains("hidden"), "a query string was logged");
    assert!(lines.iter().any(|l| l["level"] == "INFO"), "{lines:#?}");
}

#[tokio::test]
async fn a_line_logged_while_handling_a_request_names_its_id() {
    let dir = TestDir::new("logs-in-request");
    let server = Server::start(&dir, &[("TOKENGATE_LOG_FORMAT", "json")]);
    let api = server.api();
    api.register_ok("alice", "a long password").await;
    let pair = api.login_ok("alice", "a long password").await;
    api.refresh_ok(&pair.refresh).await;
    // A spent refresh token again: a warning, logged by the library while
    // the request is handled.
    let reuse = api.refresh(&pair.refresh).await;
    let id = reuse.header("x-request-id").expect("an X-Request-Id");
    reuse.expect_error(401, "token_revoked");

    let lines = json_lines(&server.stop());
    let warning = lines
        .iter()
        .find(|l| {
            l["level"] == "WARN"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("refresh token reuse"))
        })
        .unwrap_or_else(|| panic!("no reuse warning: {lines:#?}"));
    assert_eq!(warning["span"]["request_id"], id.as_str(), "{warning}");
    assert_eq!(access_lines(&lines, &id).len(), 1, "{lines:#?}");
}

#[tokio::test]
async fn an_untrusted_client_cannot_choose_its_request_id_and_the_access_log_can_be_off() {
    let dir = TestDir::new("logs-untrusted");
    let server = Server::start(&dir, &[("TOKENGATE_ACCESS_LOG", "false")]);
    let api = server.api();
    let id = get_with_id(api, "/api/public", Some("chosen-by-the-client")).await;
    assert_ne!(id, "chosen-by-the-client");
    api.get("/healthz").await.expect(200);
    let log = server.stop();
    assert!(!log.contains("chosen-by-the-client"), "{log}");
    assert!(log.contains("tokengate listening"), "{log}");
    assert!(
        !log.lines().any(|l| l.contains("/api/public")),
        "access_log = false still logged a request:\n{log}"
    );
}

/// Lines are written in batches, each thread's own: a service that stops
/// writes every line it logged, the last requests' too, each once, in the
/// text format, whichever worker thread logged it (eight clients at once,
/// each on connections of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_service_writes_every_line_it_logged() {
    let dir = TestDir::new("logs-batched");
    let server = Server::start(&dir, &[]);
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let api = server.api().clone();
        clients.spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..40 {
                ids.push(get_with_id(&api, "/api/public", None).await);
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(some) = clients.join_next().await {
        ids.extend(some.expect("a client's requests"));
    }
    assert_eq!(ids.len(), 320);
    let log = server.stop();
    for id in &ids {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("request_id=\"{id}\" ")))
            .collect();
        assert_eq!(lines.len(), 1, "{id}: {lines:#?}");
        assert!(
            lines[0].contains(" INFO ")
                && lines[0].contains(" method=\"GET\" path=\"/api/public\" status=200 micros="),
            "{}",
            lines[0]
        );
    }
    let stopped = log.lines().last().unwrap_or_default();
    assert!(stopped.ends_with("tokengate stopped"), "{stopped}");
}
