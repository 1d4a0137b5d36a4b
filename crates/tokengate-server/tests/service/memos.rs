//! Memos: CRUD over a bearer token and over cookies with CSRF,
//! one user never reaching another's memo, validation, authentication.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Api, Resp, Server, TestDir};

const PASSWORD: &str = "correct horse battery";

/// How a request authenticates.
enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// A `Cookie` header and the `X-CSRF-TOKEN` value, if any.
    Cookies(&'a str, Option<&'a str>),
}

async fn call(
    api: &Api,
    auth: &Auth<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let mut request = api.request(method, path);
    match auth {
        Auth::None => {}
        Auth::Bearer(token) => request = request.bearer_auth(token),
        Auth::Cookies(cookie, csrf) => {
            request = request.header("cookie", *cookie);
            if let Some(csrf) = csrf {
                request = request.header("x-csrf-token", *csrf);
            }
        }
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    api.send(request).await
}

async fn list(api: &Api, auth: &Auth<'_>) -> Vec<Value> {
    let body = call(api, auth, Method::GET, "/api/memos", None)
        .await
        .expect(200)
        .json();
    body.as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
        .clone()
}

/// A memo answer: exactly `id`, `title`, `body`, `archived`.
#[track_caller]
fn memo(resp: Resp) -> Value {
    let memo = resp.json();
    let object = memo.as_object().unwrap_or_else(|| panic!("{memo}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["archived", "body", "id", "title"], "{memo}");
    assert!(memo["id"].is_i64(), "{memo}");
    memo
}

async fn create(api: &Api, auth: &Auth<'_>, title: &str, body: &str) -> Value {
    let resp = call(
        api,
        auth,
        Method::POST,
        "/api/memos",
        Some(&json!({"title": title, "body": body})),
    )
    .await
    .expect(201);
    memo(resp)
}

fn path(memo: &Value) -> String {
    format!("/api/memos/{}", memo["id"])
}

#[tokio::test]
async fn crud_with_a_bearer_token() {
    let dir = TestDir::new("memos-bearer");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("alice", PASSWORD).await;
    let tokens = api.login_ok("alice", PASSWORD).await;
    let alice = Auth::Bearer(&tokens.access);

    assert!(list(api, &alice).await.is_empty());
    let first = create(api, &alice, "groceries", "milk").await;
    assert_eq!(
        (&first["title"], &first["body"], &first["archived"]),
        (&json!("groceries"), &json!("milk"), &json!(false))
    );
    let second = create(api, &alice, "todo", "").await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(list(api, &alice).await, [second.clone(), first.clone()]);

    // PUT changes the fields it names.
    let archived = memo(
        call(
            api,
            &alice,
            Method::PUT,
            &path(&first),
            Some(&json!({"archived": true})),
        )
        .await
        .expect(200),
    );
    assert_eq!(
        archived,
        json!({"id": first["id"], "title": "groceries", "body": "milk", "archived": true})
    );
    let edited = memo(
        call(
            api,
            &alice,
            Method::PUT,
            &path(&first),
            Some(&json!({"title": "shopping", "body": "milk, eggs"})),
        )
        .await
        .expect(200),
    );
    assert_eq!(
        edited,
        json!({"id": first["id"], "title": "shopping", "body": "milk, eggs", "archived": true})
    );
    assert_eq!(list(api, &alice).await, [second.clone(), edited.clone()]);

    // DELETE: 204, then gone.
    let resp = call(api, &alice, Method::DELETE, &path(&first), None)
        .await
        .expect(204);
    assert!(resp.body.is_empty(), "{resp:?}");
    assert_eq!(list(api, &alice).await, std::slice::from_ref(&second));
    call(api, &alice, Method::DELETE, &path(&first), None)
        .await
        .expect_error(404, "not_found");
    call(
        api,
        &alice,
        Method::PUT,
        &path(&first),
        Some(&json!({"title": "back"})),
    )
    .await
    .expect_error(404, "not_found");

    // Ids that are not memos.
    for id in ["999999", "abc", "1.5", "-1", "99999999999999999999999"] {
        let unknown = format!("/api/memos/{id}");
        call(api, &alice, Method::DELETE, &unknown, None)
            .await
            .expect_error(404, "not_found");
        call(
            api,
            &alice,
            Method::PUT,
            &unknown,
            Some(&json!({"title": "x"})),
        )
        .await
        .expect_error(404, "not_found");
    }
    assert_eq!(list(api, &alice).await, [second]);

    // A refresh token is not an access token.
    call(
        api,
        &Auth::Bearer(&tokens.refresh),
        Method::GET,
        "/api/memos",
        None,
    )
    .await
    .expect_token_error("wrong_token_type");
}

#[tokio::test]
async fn crud_with_cookies_needs_the_csrf_header() {
    let dir = TestDir::new("memos-cookies");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("carol", PASSWORD).await;
    let resp = api
        .post_json(
            "/auth/session",
            &json!({"username": "carol", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let cookie = [
        "access_token_cookie",
        "refresh_token_cookie",
        "csrf_access_token",
        "csrf_refresh_token",
    ]
    .map(|name| resp.cookie(name).pair())
    .join("; ");
    let csrf_access = resp.cookie("csrf_access_token").value;
    let csrf_refresh = resp.cookie("csrf_refresh_token").value;
    let without = Auth::Cookies(&cookie, None);
    let wrong = Auth::Cookies(&cookie, Some(&csrf_refresh));
    let forged = Auth::Cookies(&cookie, Some("forged"));
    let with = Auth::Cookies(&cookie, Some(&csrf_access));

    // GET is safe: no CSRF header needed.
    assert!(list(api, &without).await.is_empty());

    let new = json!({"title": "from the browser", "body": "hi"});
    for refused in [&without, &wrong, &forged] {
        call(api, refused, Method::POST, "/api/memos", Some(&new))
            .await
            .expect_token_error("csrf_failed");
    }
    assert!(list(api, &without).await.is_empty(), "nothing was created");
    let created = memo(
        call(api, &with, Method::POST, "/api/memos", Some(&new))
            .await
            .expect(201),
    );
    assert_eq!(created["title"], "from the browser");

    let change = json!({"archived": true});
    for refused in [&without, &wrong] {
        call(api, refused, Method::PUT, &path(&created), Some(&change))
            .await
            .expect_token_error("csrf_failed");
        call(api, refused, Method::DELETE, &path(&created), None)
            .await
            .expect_token_error("csrf_failed");
    }
    assert_eq!(
        list(api, &without).await,
        std::slice::from_ref(&created),
        "untouched"
    );

    let updated = memo(
        call(api, &with, Method::PUT, &path(&created), Some(&change))
            .await
            .expect(200),
    );
    assert_eq!(updated["archived"], true);
    call(api, &with, Method::DELETE, &path(&created), None)
        .await
        .expect(204);
    assert!(list(api, &without).await.is_empty());
}

#[tokio::test]
async fn a_user_never_reaches_another_users_memo() {
    let dir = TestDir::new("memos-owners");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("alice", PASSWORD).await;
    api.register_ok("bob", PASSWORD).await;
    let alice_tokens = api.login_ok("alice", PASSWORD).await;
    let bob_tokens = api.login_ok("bob", PASSWORD).await;
    let alice = Auth::Bearer(&alice_tokens.access);
    let bob = Auth::Bearer(&bob_tokens.access);

    let secret = create(api, &alice, "secret", "alice's only").await;
    let own = create(api, &bob, "mine", "bob's").await;

    assert_eq!(list(api, &bob).await, std::slice::from_ref(&own));
    for change in [
        json!({"title": "stolen"}),
        json!({"body": "overwritten"}),
        json!({"archived": true}),
        json!({}),
    ] {
        call(api, &bob, Method::PUT, &path(&secret), Some(&change))
            .await
            .expect_error(404, "not_found");
    }
    call(api, &bob, Method::DELETE, &path(&secret), None)
        .await
        .expect_error(404, "not_found");

    // Alice's memo is unchanged, and she cannot reach Bob's either.
    assert_eq!(list(api, &alice).await, [secret]);
    call(api, &alice, Method::DELETE, &path(&own), None)
        .await
        .expect_error(404, "not_found");
    call(
        api,
        &alice,
        Method::PUT,
        &path(&own),
        Some(&json!({"title": "mine now"})),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(list(api, &bob).await, [own]);
}

#[tokio::test]
async fn invalid_memos_and_missing_tokens_are_refused() {
    let dir = TestDir::new("memos-validation");
    let server = Server::start(&dir, &[]);
    let api = server.api();
    api.register_ok("dave", PASSWORD).await;
    let tokens = api.login_ok("dave", PASSWORD).await;
    let dave = Auth::Bearer(&tokens.access);

    let long_title = "t".repeat(201);
    let long_body = "b".repeat(10_001);
    for body in [
        json!({"title": "", "body": "x"}),
        json!({"title": " \t\n ", "body": "x"}),
        json!({"title": long_title, "body": "x"}),
        json!({"title": "ok", "body": long_body}),
        json!({"body": "no title"}),
        json!({"title": 5, "body": "x"}),
        json!({"title": "ok", "body": null}),
        json!("not an object"),
    ] {
        call(api, &dave, Method::POST, "/api/memos", Some(&body))
            .await
            .expect_error(400, "invalid_request");
    }
    let not_json = api
        .request(Method::POST, "/api/memos")
        .bearer_auth(&tokens.access)
        .header("content-type", "application/json")
        .body("{not json");
    api.send(not_json)
        .await
        .expect_error(400, "invalid_request");
    assert!(list(api, &dave).await.is_empty(), "nothing was created");

    // The limits are in characters, not bytes; the title is trimmed.
    let widest = create(api, &dave, &"é".repeat(200), &"ü".repeat(10_000)).await;
    assert_eq!(widest["title"].as_str().unwrap().chars().count(), 200);
    assert_eq!(widest["body"].as_str().unwrap().chars().count(), 10_000);
    let trimmed = create(api, &dave, "  padded  ", "  kept  ").await;
    assert_eq!(
        (&trimmed["title"], &trimmed["body"]),
        (&json!("padded"), &json!("  kept  "))
    );

    // PUT validates the same way and changes nothing when it refuses.
    for change in [
        json!({"title": ""}),
        json!({"title": long_title}),
        json!({"body": long_body}),
        json!({"archived": "yes"}),
    ] {
        call(api, &dave, Method::PUT, &path(&trimmed), Some(&change))
            .await
            .expect_error(400, "invalid_request");
    }
    assert_eq!(list(api, &dave).await, [trimmed.clone(), widest]);

    // No token, or a bad one: 401 on every route, nothing changes.
    let memo_path = path(&trimmed);
    for (method, route) in [
        (Method::GET, "/api/memos"),
        (Method::POST, "/api/memos"),
        (Method::PUT, memo_path.as_str()),
        (Method::DELETE, memo_path.as_str()),
    ] {
        let body = json!({"title": "anonymous", "body": ""});
        call(api, &Auth::None, method.clone(), route, Some(&body))
            .await
            .expect_missing();
        call(api, &Auth::Bearer("not.a.jwt"), method, route, Some(&body))
            .await
            .expect_token_error("invalid_token");
    }
    assert_eq!(list(api, &dave).await.len(), 2);
}
