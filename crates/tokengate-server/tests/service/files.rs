//! Protected files and signed links: `GET /api/files`,
//! `POST /api/files/{name}/link`, `GET /files/{name}`.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Api, Resp, Server, TestDir};

const PASSWORD: &str = "correct horse battery";
const SAMPLES: [&str; 2] = ["orange.png", "tokengate.png"];

/// Registers and logs in `name`: its id and access token.
async fn user(api: &Api, name: &str) -> (String, String) {
    let user = api.register_ok(name, PASSWORD).await;
    let login = api.login_ok(name, PASSWORD).await;
    (user["id"].to_string(), login.access)
}

/// A signed link to `name`: its URL (path and query).
async fn link(api: &Api, token: &str, name: &str) -> String {
    let body = api
        .post_bearer(&format!("/api/files/{name}/link"), token, None)
        .await
        .expect(200)
        .json();
    assert_eq!(body["expires_in"], 300, "{body}");
    body["url"].as_str().expect("url").to_owned()
}

/// `url` with its query parameter `key` replaced by `value`.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let (path, query) = url.split_once('?').expect("a query");
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == key => format!("{k}={value}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn param<'a>(url: &'a str, key: &str) -> &'a str {
    let (_, query) = url.split_once('?').expect("a query");
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {url}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A link signed by the test itself with the service's key, read from
/// `{data_dir}/link.key`: the one way to make a link that is valid yet
/// expired without waiting five minutes. Same canonical string as the
/// service: prefix, path, expiry and subject, NUL-separated.
fn forge(dir: &TestDir, path: &str, expires: u64, sub: &str) -> String {
    let bytes = std::fs::read(dir.data().join("link.key")).expect("the link key");
    assert_eq!(bytes.len(), 32);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
    let message = format!("tokengate signed link v1\0{path}\0{expires}\0{sub}");
    let sig = URL_SAFE_NO_PAD.encode(hmac::sign(&key, message.as_bytes()).as_ref());
    format!("{path}?expires={expires}&sub={sub}&sig={sig}")
}

/// A GET sent over a bare TCP connection, so that no client normalises the
/// path (`%2e%2e`, `..`) before the server sees it.
fn raw_get(api: &Api, target: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(api.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
        api.addr()
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {answer:?}"));
    (status, answer)
}

fn assert_image(resp: &Resp, expected: &[u8]) {
    assert_eq!(resp.body, expected, "{resp:?}");
    assert_eq!(resp.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(
        resp.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
}

#[tokio::test]
async fn gallery_lists_the_samples() {
    let dir = TestDir::new("files-list");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.get("/api/files").await.expect_missing();
    let (_, token) = user(api, "gina").await;

    // A dotfile and a subdirectory are not listed.
    let files = dir.data().join("files");
    std::fs::write(files.join(".hidden"), b"x").unwrap();
    std::fs::create_dir(files.join("sub")).unwrap();

    let list = api
        .get_bearer("/api/files", &token)
        .await
        .expect(200)
        .json();
    let expected: Vec<Value> = SAMPLES
        .iter()
        .map(|name| {
            let size = std::fs::metadata(files.join(name)).unwrap().len();
            assert!(size > 0);
            json!({"name": name, "size": size})
        })
        .collect();
    assert_eq!(list, Value::Array(expected));
}

#[tokio::test]
async fn a_link_opens_its_file_only_until_it_expires() {
    let dir = TestDir::new("files-links");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let (sub, token) = user(api, "hugo").await;
    let files = dir.data().join("files");
    let png = std::fs::read(files.join("tokengate.png")).unwrap();

    api.post_bearer("/api/files/missing.png/link", &token, None)
        .await
        .expect_error(404, "not_found");
    api.send(api.request(Method::POST, "/api/files/tokengate.png/link"))
        .await
        .expect_missing();

    let url = link(api, &token, "tokengate.png").await;
    assert!(url.starts_with("/files/tokengate.png?"), "{url}");
    assert_eq!(param(&url, "sub"), sub);
    let expires: u64 = param(&url, "expires").parse().unwrap();
    let now = unix_now();
    assert!(expires > now && expires <= now + 301, "{url}");

    // No token needed.
    let resp = api.get(&url).await.expect(200);
    assert_image(&resp, &png);
    let cache = resp.header("cache-control").expect("cache-control");
    let max_age: u64 = cache
        .strip_prefix("private, max-age=")
        .unwrap_or_else(|| panic!("{cache}"))
        .parse()
        .unwrap();
    assert!(max_age <= 300, "{cache}");

    // The link of tokengate.png does not open orange.png.
    let other = url.replacen("tokengate.png", "orange.png", 1);
    api.get(&other).await.expect_token_error("invalid_token");

    // Tampered with: signature, expiry, subject; or a part missing or repeated.
    let sig = param(&url, "sig");
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = [
        with_param(&url, "sig", &format!("{flipped}{}", &sig[1..])),
        with_param(&url, "sig", "not-base64!"),
        with_param(&url, "expires", &(expires + 3600).to_string()),
        with_param(&url, "expires", &format!("0{expires}")),
        with_param(&url, "sub", &format!("{sub}1")),
        url.replace(&format!("&sub={sub}"), ""),
        format!("{url}&sub=999"),
    ];
    for bad in &tampered {
        api.get(bad).await.expect_token_error("invalid_token");
    }

    // Valid MAC, past expiry: 401 token_expired. (The test signs with the
    // service's key file; the fresh link below shows it signs alike.)
    let fresh = forge(&dir, "/files/tokengate.png", unix_now() + 60, &sub);
    assert_image(&api.get(&fresh).await.expect(200), &png);
    let expired = forge(&dir, "/files/tokengate.png", unix_now() - 1, &sub);
    api.get(&expired).await.expect_token_error("token_expired");
    // Expired and tampered: the MAC is checked first.
    let expired_other = expired.replacen("tokengate.png", "orange.png", 1);
    api.get(&expired_other)
        .await
        .expect_token_error("invalid_token");

    // A link keeps opening its file after a restart (the key is on disk).
    drop(server);
    let server = Server::start(&dir, &[]);
    assert_image(&server.api().get(&url).await.expect(200), &png);
    let meta = std::fs::metadata(dir.data().join("link.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn names_are_confined_to_the_files_directory() {
    let dir = TestDir::new("files-confined");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let (_, token) = user(api, "ines").await;
    let files = dir.data().join("files");
    let secret = "TOP-SECRET-CONTENT";
    std::fs::write(dir.data().join("secret.txt"), secret).unwrap();
    std::fs::write(files.join(".hidden"), secret).unwrap();
    std::fs::create_dir(files.join("sub")).unwrap();
    std::fs::write(files.join("sub").join("inner.txt"), secret).unwrap();
    std::os::unix::fs::symlink("../secret.txt", files.join("escape.txt")).unwrap();

    let names = [
        "..%2Fsecret.txt",
        "%2e%2e%2Fsecret.txt",
        "%2e%2e",
        "..",
        "%2E",
        ".hidden",
        "%2ehidden",
        "a%00b",
        "a%0Ab",
        "..%5Csecret.txt",
        "sub",
        "sub%2Finner.txt",
        "escape.txt",
        "missing.png",
        "%FF",
    ];
    for name in names {
        let (status, answer) = raw_get(api, &format!("/files/{name}"), Some(&token));
        assert_eq!(status, 404, "{name}: {answer}");
        assert!(answer.contains(r#""code":"not_found""#), "{name}: {answer}");
        assert!(!answer.contains(secret), "{name}: {answer}");
        let resp = api
            .post_bearer(&format!("/api/files/{name}/link"), &token, None)
            .await;
        assert!(
            resp.status == 404 && !resp.text().contains(secret),
            "{name}: {resp:?}"
        );
    }
    // Never a path in the other direction either.
    let (status, answer) = raw_get(api, "/files/../secret.txt", Some(&token));
    assert!(!answer.contains(secret), "{status}: {answer}");

    let list = api
        .get_bearer("/api/files", &token)
        .await
        .expect(200)
        .json();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, SAMPLES, "{list}");
}

#[tokio::test]
async fn a_token_opens_files_and_the_query_only_when_configured() {
    let dir = TestDir::new("files-token");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    let (_, token) = user(api, "jana").await;
    let png = std::fs::read(dir.data().join("files").join("orange.png")).unwrap();

    api.get("/files/orange.png").await.expect_missing();
    let resp = api
        .get_bearer("/files/orange.png", &token)
        .await
        .expect(200);
    assert_image(&resp, &png);
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    api.get_bearer("/files/orange.png", "not.a.token")
        .await
        .expect(401);

    // ?jwt= is off by default.
    api.get(&format!("/files/orange.png?jwt={token}"))
        .await
        .expect_missing();
    drop(server);

    let server = Server::start(
        &dir,
        &[("TOKENGATE_TOKEN_LOCATIONS", "headers,cookies,query_string")],
    );
    let api = server.api();
    let token = api.login_ok("jana", PASSWORD).await.access;
    let resp = api
        .get(&format!("/files/orange.png?jwt={token}"))
        .await
        .expect(200);
    assert_image(&resp, &png);
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_header_for_a_link() {
    let dir = TestDir::new("files-csrf");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("kurt", PASSWORD).await;
    let resp = api
        .post_json(
            "/auth/session",
            &json!({"username": "kurt", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let access = resp.cookie("access_token_cookie");
    let csrf = resp.cookie("csrf_access_token");
    let cookie = format!("{}; {}", access.pair(), csrf.pair());
    let post = |csrf: Option<&str>| {
        let mut request = api
            .request(Method::POST, "/api/files/tokengate.png/link")
            .header("cookie", &cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        api.send(request)
    };
    post(None).await.expect_error(401, "csrf_failed");
    let body = post(Some(&csrf.value)).await.expect(200).json();
    assert!(body["url"].as_str().unwrap().starts_with("/files/"));
    // The gallery is a GET: the cookie alone is enough.
    api.send(
        api.request(Method::GET, "/api/files")
            .header("cookie", &cookie),
    )
    .await
    .expect(200);
}
