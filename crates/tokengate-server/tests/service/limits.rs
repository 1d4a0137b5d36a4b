//! What an attacker sees: no user enumeration, failed-login limits, and
//! limits on what a request may carry. Nothing here may answer 5xx.

use reqwest::Method;
use serde_json::json;
use tokio::task::JoinSet;

use crate::common::{Server, TestDir};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_identically() {
    let dir = TestDir::new("enumeration");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("peggy", PASSWORD).await;

    let too_long = "x".repeat(1025);
    let attempts = [
        ("peggy", "wrong password"),
        ("nobody", "wrong password"),
        ("PEGGY", "wrong password"),
        ("no body", "wrong password"),
        ("peggy", too_long.as_str()),
    ];
    let mut answers = Vec::new();
    for (username, password) in attempts {
        let resp = api.login(username, password).await;
        answers.push((
            username,
            resp.status,
            resp.body.clone(),
            resp.header("www-authenticate"),
        ));
    }
    let (_, status, body, challenge) = &answers[0];
    assert_eq!(*status, 401);
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(parsed["code"], "invalid_credentials");
    for (username, other_status, other_body, other_challenge) in &answers[1..] {
        assert_eq!(other_status, status, "{username}");
        assert_eq!(
            String::from_utf8_lossy(other_body),
            String::from_utf8_lossy(body),
            "{username}"
        );
        assert_eq!(other_challenge, challenge, "{username}");
    }

    // The browser login says the same.
    for username in ["peggy", "nobody"] {
        let resp = api
            .post_json(
                "/auth/session",
                &json!({"username": username, "password": "wrong password"}),
            )
            .await;
        assert_eq!(resp.status, *status);
        assert_eq!(resp.body, *body, "{username}");
    }
}

/// A 401 carries `WWW-Authenticate: Bearer realm="tokengate"`.
/// RFC 7235 §3.1 makes the challenge mandatory on every 401, including a
/// failed login.
#[tokio::test]
async fn a_failed_login_401_carries_a_challenge() {
    let dir = TestDir::new("login-challenge");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let resp = api.login("nobody", "wrong password").await;
    let challenge = resp.header("www-authenticate");
    resp.expect_error(401, "invalid_credentials");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with(r#"Bearer realm="tokengate""#)),
        "a 401 without a Bearer challenge: WWW-Authenticate = {challenge:?}"
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_username() {
    let dir = TestDir::new("rate-user");
    let server = Server::start(&dir, &[("TOKENGATE_LOGIN_MAX_FAILURES", "3")]);
    let api = server.api();
    api.register_ok("quinn", PASSWORD).await;
    api.register_ok("rupert", PASSWORD).await;

    for _ in 0..3 {
        api.login("quinn", "wrong password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    for (username, password) in [
        ("quinn", "wrong password"),
        ("quinn", PASSWORD),
        ("QUINN", PASSWORD),
    ] {
        let resp = api.login(username, password).await;
        let retry_after = resp.header("retry-after");
        resp.expect_error(429, "rate_limited");
        let seconds: u64 = retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in seconds: {retry_after:?}"));
        assert!((1..=15 * 60).contains(&seconds), "{seconds}");
    }
    // The browser login counts against the same limit.
    api.post_json(
        "/auth/session",
        &json!({"username": "quinn", "password": PASSWORD}),
    )
    .await
    .expect_error(429, "rate_limited");

    // Other usernames from the same address are not blocked yet.
    api.login("someone-else", "wrong password")
        .await
        .expect_error(401, "invalid_credentials");
    api.login_ok("rupert", PASSWORD).await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_ip_whatever_x_forwarded_for_says() {
    let dir = TestDir::new("rate-ip");
    // 3 per username, so 30 per address; no trusted proxy.
    let server = Server::start(&dir, &[("TOKENGATE_LOGIN_MAX_FAILURES", "3")]);
    let api = server.api().clone();
    api.register_ok("sybil", PASSWORD).await;

    // 30 failures, each for another username and claiming another client
    // address. Sent together: each is checked before any is counted, so all
    // of them are judged under the limit.
    let mut tasks = JoinSet::new();
    for i in 0..30 {
        let api = api.clone();
        tasks.spawn(async move {
            let request = api
                .request(Method::POST, "/auth/login")
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&json!({"username": format!("user{i}"), "password": "wrong password"}));
            api.send(request).await
        });
    }
    while let Some(resp) = tasks.join_next().await {
        resp.unwrap().expect_error(401, "invalid_credentials");
    }

    // The 31st failure from this peer: the address limit, whatever the header says.
    let resp = api
        .send(
            api.request(Method::POST, "/auth/login")
                .header("x-forwarded-for", "198.51.100.77")
                .json(&json!({"username": "user-new", "password": "wrong password"})),
        )
        .await;
    let retry_after = resp.header("retry-after");
    resp.expect_error(429, "rate_limited");
    assert!(retry_after.is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)));
    // Good credentials from the same address are blocked too.
    api.login("sybil", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
}

#[tokio::test]
async fn oversized_and_odd_requests_get_a_4xx_not_a_5xx() {
    let dir = TestDir::new("robustness");
    let server = Server::start(&dir, &[]);
    let api = server.api();

    // 100 KB bodies, to every route that reads a JSON body. (Sent where the
    // body is read: a route that refuses before reading, e.g. for a missing
    // token, may close the connection while the client still uploads.)
    api.register_ok("trudy", PASSWORD).await;
    let fresh = api.login_ok("trudy", PASSWORD).await;
    let big_json = json!({"username": "x".repeat(100_000), "password": "y"}).to_string();
    let big_garbage = "z".repeat(100 * 1024);
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/session",
        "/auth/password",
    ] {
        for body in [&big_json, &big_garbage] {
            let resp = api
                .send(
                    api.request(Method::POST, path)
                        .bearer_auth(&fresh.access)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                )
                .await;
            assert!((400..500).contains(&resp.status), "{resp:?}");
            let parsed = resp.json();
            assert!(
                parsed["code"].is_string() && parsed["msg"].is_string(),
                "{resp:?}"
            );
        }
    }
    // Nothing changed.
    api.assert_valid(&fresh.access).await;

    // 20 KB of headers.
    let resp = api
        .send(
            api.request(Method::GET, "/api/public")
                .header("x-padding", "p".repeat(20 * 1024)),
        )
        .await;
    assert_eq!(resp.status, 431, "{resp:?}");
    let resp = api
        .send((0..40).fold(api.request(Method::GET, "/healthz"), |r, i| {
            r.header(format!("x-pad-{i}"), "p".repeat(512))
        }))
        .await;
    assert_eq!(resp.status, 431, "{resp:?}");

    // A JSON body where none is read, odd methods, odd paths.
    api.send(
        api.request(Method::GET, "/api/public")
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await
    .expect(200);
    api.send(api.request(Method::OPTIONS, "/api/private")).await;
    api.get("/auth/login").await;
    api.get("/%ff%fe/..%2f..%2fetc/passwd").await;
    api.get("/api/private?jwt=a.b.c").await.expect_missing();
    api.send(
        api.request(Method::POST, "/auth/register")
            .header("content-type", "application/json")
            .body(r#"{"username":"nul\u0000byte","password":"long enough"}"#),
    )
    .await
    .expect_error(400, "invalid_request");
    // Deeply nested JSON.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let resp = api
        .send(
            api.request(Method::POST, "/auth/login")
                .header("content-type", "application/json")
                .body(deep),
        )
        .await;
    assert!((400..500).contains(&resp.status), "{resp:?}");
    api.get("/healthz").await.expect(200);
}

/// A body sent chunked (no `Content-Length` to refuse it by) is held to
/// the same 64 KiB: a login under it is read and answered, one over it
/// (and far under axum's own 2 MB default) is refused as the JSON extractor
/// refuses an oversized body, and the service stays up.
#[tokio::test]
async fn a_chunked_body_is_cut_at_the_body_limit() {
    use std::io::{Read, Write};

    let dir = TestDir::new("chunked-body");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("carol", PASSWORD).await;
    let addr = api.addr().to_owned();
    // The status line and the body of a login whose JSON carries `pad`
    // bytes of padding, sent in 8 KiB chunks.
    let login_chunked = move |pad: usize| {
        let body =
            json!({"username": "carol", "password": PASSWORD, "pad": "x".repeat(pad)}).to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut request = b"POST /auth/login HTTP/1.1\r\nHost: test\r\n\
            Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
            Connection: close\r\n\r\n"
            .to_vec();
        for chunk in body.as_bytes().chunks(8 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The service may answer before it has read everything: what it
        // does not read it drains, so the write completes either way.
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.lines().next().unwrap_or_default().to_owned();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body = serde_json::from_str::<serde_json::Value>(body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"));
        (status, body)
    };
    let small = login_chunked.clone();
    let (status, body) = tokio::task::spawn_blocking(move || small(1_000))
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    assert!(body["access_token"].is_string(), "{body}");
    let (status, body) = tokio::task::spawn_blocking(move || login_chunked(100_000))
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 400"), "{status} {body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    assert!(
        body["msg"]
            .as_str()
            .is_some_and(|m| m.contains("too large")),
        "{body}"
    );
    api.get("/healthz").await.expect(200);
}

/// Every failure answers JSON `{"code": "...", "msg": "..."}`.
#[tokio::test]
async fn a_wrong_method_answers_json() {
    let dir = TestDir::new("method-not-allowed");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    for (method, path) in [
        (Method::POST, "/api/public"),
        (Method::GET, "/auth/login"),
        (Method::PUT, "/auth/logout"),
    ] {
        let resp = api.send(api.request(method, path)).await;
        assert_eq!(resp.status, 405, "{resp:?}");
        let body = resp.json();
        assert!(
            body["code"].is_string() && body["msg"].is_string(),
            "{resp:?}"
        );
    }
}

/// A client that stops sending its body is answered by the request timeout
/// (`request_timeout`, 2 s here), and that answer is `{"code","msg"}` JSON like every
/// other failure.
#[tokio::test]
async fn a_stalled_request_times_out_with_a_json_error() {
    use std::io::{Read, Write};

    let dir = TestDir::new("timeout");
    let server = Server::start(&dir, &[("TOKENGATE_REQUEST_TIMEOUT", "2s")]);
    let addr = server.api().addr().to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(120)))
            .unwrap();
        // Ten bytes promised, two sent.
        stream
            .write_all(
                b"POST /auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                  Content-Length: 10\r\nConnection: close\r\n\r\n{\"",
            )
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 408"), "{answer:?}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("408 body is not JSON ({e}): {answer:?}"));
    assert!(
        parsed["code"].is_string() && parsed["msg"].is_string(),
        "{answer:?}"
    );
    // The service is still there.
    server.api().get("/healthz").await.expect(200);
}

/// Slowloris: a client sending its request head one byte at a time never
/// completes it, and holds no connection past `request_timeout` (2 s here):
/// the connection is closed long before the 40 bytes (20 s) it tries.
#[tokio::test]
async fn a_head_sent_one_byte_at_a_time_is_dropped_after_the_request_timeout() {
    use std::io::{Read, Write};

    let dir = TestDir::new("slowloris");
    let server = Server::start(&dir, &[("TOKENGATE_REQUEST_TIMEOUT", "2s")]);
    let addr = server.api().addr().to_owned();
    let sent = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ";
        for (sent, byte) in head
            .iter()
            .chain(std::iter::repeat(&b'a'))
            .take(40)
            .enumerate()
        {
            if stream.write_all(&[*byte]).is_err() {
                return Some(sent);
            }
            // Waits up to 500 ms for the server: data (a 408) or a close.
            let mut buf = [0u8; 512];
            match stream.read(&mut buf) {
                Ok(0) => return Some(sent),
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return Some(sent),
            }
        }
        None
    })
    .await
    .unwrap();
    assert!(
        sent.is_some(),
        "a dribbled head held its connection for 20 s"
    );
    // Other clients were served all along.
    server.api().get("/healthz").await.expect(200);
}
