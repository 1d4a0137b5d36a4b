//! Behaviour of the axum extractors, through a Router called with `oneshot`.

mod common;

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use http::{Request, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokengate::axum::{
    AccessToken, CurrentUser, FreshAccessToken, RefreshToken, Scoped, TokenGate, UserLoader,
    json_tokens,
};
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::revocation::{InMemoryRevocations, Revocation, RevocationStore};
use tokengate::token::{NewToken, TokenEngine, VerifiedToken};
use tokengate::transport::{TokenLocation, Transport};
use tower::ServiceExt;

use common::app::AppState;

tokengate::required_scopes!(ReadMessages = ["read:messages"]);
tokengate::required_scopes!(AdminOrBoth = ["read:messages write:messages", "admin"]);

#[derive(Deserialize)]
struct RoleClaims {
    role: String,
}

struct User {
    name: String,
}

impl UserLoader for AppState {
    type User = User;
    async fn load_user(&self, token: &VerifiedToken) -> Result<Option<User>, tokengate::Error> {
        Ok((token.subject() != "ghost").then(|| User {
            name: token.subject().to_uppercase(),
        }))
    }
}

struct Fixture {
    app: Router,
    gate: TokenGate,
    revocations: Arc<InMemoryRevocations>,
}

fn fixture(transport: Transport) -> Fixture {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
    ));
    let revocations = Arc::new(InMemoryRevocations::new());
    let gate = TokenGate::new(engine)
        .with_transport(transport)
        .with_revocation(revocations.clone());
    let app = Router::new()
        .route(
            "/private",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .route(
            "/write",
            post(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .route(
            "/optional",
            get(|t: Option<AccessToken>| async move {
                t.map_or("anonymous".to_owned(), |t| t.subject().to_owned())
            }),
        )
        .route(
            "/fresh",
            post(|t: FreshAccessToken| async move { t.subject().to_owned() }),
        )
        .route(
            "/refresh",
            post(|t: RefreshToken| async move { t.subject().to_owned() }),
        )
        .route(
            "/scoped",
            get(|t: Scoped<ReadMessages>| async move { t.subject().to_owned() }),
        )
        .route(
            "/either",
            get(|t: Scoped<AdminOrBoth>| async move { t.subject().to_owned() }),
        )
        .route(
            "/role",
            get(|t: AccessToken<RoleClaims>| async move { t.custom.role.clone() }),
        )
        .route(
            "/me",
            get(|CurrentUser(u, _): CurrentUser<User>| async move { u.name }),
        )
        .route(
            "/echo",
            post(|t: RefreshToken, Json(body): Json<Value>| async move {
                Json(json!({"sub": t.subject(), "body": body}))
            }),
        )
        .layer(middleware::from_fn(json_tokens))
        .with_state(AppState { gate: gate.clone() });
    Fixture {
        app,
        gate,
        revocations,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn issue(gate: &TokenGate, new: NewToken) -> tokengate::token::IssuedToken {
    gate.engine().issue(new).unwrap()
}

#[tokio::test]
async fn access_token_routes() {
    let f = fixture(Transport::default());
    let token = issue(&f.gate, NewToken::access("alice")).token;

    let (status, _, body) = call(&f.app, bearer("/private", &token)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));

    let (status, headers, body) = call(
        &f.app,
        Request::get("/private").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "authorization_header_missing");
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="tokengate""#
    );

    let (status, headers, body) = call(&f.app, bearer("/private", "not.a.token")).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="tokengate", error="invalid_token""#
    );

    let refresh = issue(&f.gate, NewToken::refresh("alice")).token;
    let (status, _, body) = call(&f.app, bearer("/private", &refresh)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "wrong_token_type")
    );
}

/// A header's token is read as text only when it is new: a token verified
/// before passes again, and bytes that are not visible ASCII are refused as
/// a malformed header, before and after a good token is remembered.
#[tokio::test]
async fn a_header_token_is_checked_as_text_unless_verified_before() {
    let f = fixture(Transport::default());
    let token = issue(&f.gate, NewToken::access("alice")).token;
    let with_byte = |byte: u8, at: usize| {
        let mut value = format!("Bearer {token}").into_bytes();
        value[7 + at] = byte;
        Request::get("/private")
            .header(
                header::AUTHORIZATION,
                http::HeaderValue::from_bytes(&value).unwrap(),
            )
            .body(Body::empty())
            .unwrap()
    };
    for round in ["new", "remembered"] {
        for (byte, at) in [(0x80, 0), (0xff, token.len() - 1), (b'\t', 10)] {
            let (status, _, body) = call(&f.app, with_byte(byte, at)).await;
            let expected = if byte == b'\t' {
                "invalid_token"
            } else {
                "invalid_header"
            };
            assert_eq!(
                (status, code(&body).as_str()),
                (StatusCode::UNAUTHORIZED, expected),
                "{round}: {byte:#x} at {at}"
            );
        }
        let (status, _, body) = call(&f.app, bearer("/private", &token)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "alice"),
            "{round}"
        );
    }
    // The same bytes from a cookie are found by the same cache.
    let f = fixture(Transport::default().locations([TokenLocation::Cookies]));
    let cookie = |token: &str| {
        Request::get("/private")
            .header(header::COOKIE, format!("access_token_cookie={token}"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..2 {
        let (status, _, body) = call(&f.app, cookie(&token)).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "another gate's token"
        );
    }
    let token = issue(&f.gate, NewToken::access("bob")).token;
    for _ in 0..2 {
        let (status, _, body) = call(&f.app, cookie(&token)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "bob"));
    }
}

#[tokio::test]
async fn optional_token() {
    let f = fixture(Transport::default());
    let (status, _, body) = call(
        &f.app,
        Request::get("/optional").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "anonymous"));
    let token = issue(&f.gate, NewToken::access("bob")).token;
    let (_, _, body) = call(&f.app, bearer("/optional", &token)).await;
    assert_eq!(body, "bob");
    // Present but bad is still an error.
    let (status, _, body) = call(&f.app, bearer("/optional", "x.y.z")).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn fresh_refresh_and_scopes() {
    let f = fixture(Transport::default());
    let post_bearer = |path: &str, token: &str| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let stale = issue(&f.gate, NewToken::access("alice")).token;
    let fresh = issue(&f.gate, NewToken::access("alice").fresh()).token;
    let (status, _, body) = call(&f.app, post_bearer("/fresh", &stale)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "fresh_token_required")
    );
    let (status, _, _) = call(&f.app, post_bearer("/fresh", &fresh)).await;
    assert_eq!(status, StatusCode::OK);

    let refresh = issue(&f.gate, NewToken::refresh("alice")).token;
    let (status, _, _) = call(&f.app, post_bearer("/refresh", &refresh)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(&f.app, post_bearer("/refresh", &fresh)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "wrong_token_type")
    );

    let unscoped = issue(&f.gate, NewToken::access("alice").scope("write:messages")).token;
    let (status, headers, body) = call(&f.app, bearer("/scoped", &unscoped)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="tokengate", error="insufficient_scope", scope="read:messages""#
    );
    let scoped = issue(&f.gate, NewToken::access("alice").scope("read:messages")).token;
    assert_eq!(
        call(&f.app, bearer("/scoped", &scoped)).await.0,
        StatusCode::OK
    );

    // OR of ANDs: both scopes of the first alternative, or the second alone.
    let both = issue(
        &f.gate,
        NewToken::access("a").scope("write:messages read:messages"),
    )
    .token;
    let admin = issue(&f.gate, NewToken::access("a").scope("admin")).token;
    assert_eq!(
        call(&f.app, bearer("/either", &both)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f.app, bearer("/either", &admin)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f.app, bearer("/either", &scoped)).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn typed_claims_and_current_user() {
    let f = fixture(Transport::default());
    let token = issue(
        &f.gate,
        NewToken::access("carol").claim("role", json!("admin")),
    )
    .token;
    assert_eq!(call(&f.app, bearer("/role", &token)).await.2, "admin");
    // A token without the claim the handler needs is refused, not a 500.
    let plain = issue(&f.gate, NewToken::access("carol")).token;
    let (status, _, body) = call(&f.app, bearer("/role", &plain)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_claims")
    );

    assert_eq!(call(&f.app, bearer("/me", &token)).await.2, "CAROL");
    let ghost = issue(&f.gate, NewToken::access("ghost")).token;
    let (status, _, body) = call(&f.app, bearer("/me", &ghost)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let f = fixture(Transport::default());
    let one = issue(&f.gate, NewToken::access("dave"));
    let two = issue(&f.gate, NewToken::access("dave"));
    f.revocations.revoke(Revocation::token(&one)).await.unwrap();
    let (status, _, body) = call(&f.app, bearer("/private", &one.token)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    assert_eq!(
        call(&f.app, bearer("/private", &two.token)).await.0,
        StatusCode::OK
    );

    // Revoke-all: earlier tokens go, a token issued after the cut-off stays.
    let cut = tokengate::token::jti_millis(&two.jti).unwrap() as i64;
    f.revocations.apply(&Revocation::SubjectBefore {
        subject: "dave".into(),
        before: tokengate::clock::Timestamp::from_millis(cut),
    });
    assert_eq!(
        call(&f.app, bearer("/private", &two.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    std::thread::sleep(std::time::Duration::from_millis(2));
    let three = issue(&f.gate, NewToken::access("dave")).token;
    assert_eq!(
        call(&f.app, bearer("/private", &three)).await.0,
        StatusCode::OK
    );
}

/// A store still reading its set: memory knows nothing yet, the record
/// (here another in-memory set) knows every revocation; a failing record
/// is a 503, never an accepted token.
struct Loading {
    memory: InMemoryRevocations,
    record: InMemoryRevocations,
    record_down: std::sync::atomic::AtomicBool,
}

impl RevocationStore for Loading {
    fn is_revoked(&self, claims: &tokengate::claims::Claims) -> bool {
        self.memory.is_revoked(claims)
    }

    fn revoke(
        &self,
        r: Revocation,
    ) -> tokengate::revocation::BoxFuture<'_, Result<(), tokengate::revocation::StoreError>> {
        self.record.apply(&r);
        Box::pin(async { Ok(()) })
    }

    fn is_complete(&self) -> bool {
        false
    }

    fn lookup<'a>(
        &'a self,
        claims: &'a tokengate::claims::Claims,
    ) -> tokengate::revocation::BoxFuture<'a, Result<bool, tokengate::revocation::StoreError>> {
        let down = self.record_down.load(std::sync::atomic::Ordering::Relaxed);
        let revoked = self.record.is_revoked(claims);
        Box::pin(async move {
            if down {
                Err(tokengate::revocation::StoreError::new("down"))
            } else {
                Ok(revoked)
            }
        })
    }
}

#[tokio::test]
async fn a_store_still_loading_is_asked_about_each_token() {
    let store = Arc::new(Loading {
        memory: InMemoryRevocations::new(),
        record: InMemoryRevocations::new(),
        record_down: Default::default(),
    });
    let f = fixture(Transport::default());
    let gate = f.gate.clone().with_revocation(store.clone());
    let app = Router::new()
        .route(
            "/private",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .with_state(AppState { gate: gate.clone() });
    let revoked = issue(&gate, NewToken::access("erin"));
    let good = issue(&gate, NewToken::access("erin"));
    store.revoke(Revocation::token(&revoked)).await.unwrap();
    let (status, _, body) = call(&app, bearer("/private", &revoked.token)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    assert_eq!(
        call(&app, bearer("/private", &good.token)).await.0,
        StatusCode::OK
    );
    store
        .record_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, _, body) = call(&app, bearer("/private", &good.token)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
    );
}

#[tokio::test]
async fn cookies_with_csrf_double_submit() {
    let f = fixture(Transport::default());
    let issued = f.gate.access_token_for("erin").unwrap();
    let csrf = issued
        .csrf
        .clone()
        .expect("cookies are a location, so a csrf claim is added");
    let cookie = format!(
        "access_token_cookie={}; csrf_access_token={csrf}",
        issued.token
    );

    // GET needs no CSRF header.
    let req = Request::get("/private")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);

    // POST without the header, with a wrong one, with the right one.
    let post = |csrf_header: Option<&str>| {
        let mut b = Request::post("/write").header(header::COOKIE, &cookie);
        if let Some(h) = csrf_header {
            b = b.header("X-CSRF-TOKEN", h);
        }
        b.body(Body::empty()).unwrap()
    };
    let (status, _, body) = call(&f.app, post(None)).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "csrf_failed")
    );
    let (status, _, body) = call(&f.app, post(Some("wrong"))).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "csrf_failed")
    );
    assert_eq!(call(&f.app, post(Some(&csrf))).await.0, StatusCode::OK);

    // The same token in the Authorization header needs no CSRF header.
    let req = Request::post("/write")
        .header(header::AUTHORIZATION, format!("Bearer {}", issued.token))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn location_precedence() {
    let f = fixture(Transport::default());
    let good = issue(&f.gate, NewToken::access("frank")).token;
    // A bad header with a good cookie: the header's error, not the cookie's success.
    let req = Request::get("/private")
        .header(header::AUTHORIZATION, "Bearer bad.token.here")
        .header(header::COOKIE, format!("access_token_cookie={good}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(&f.app, req).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // The query string is off by default.
    let req = Request::get(format!("/private?jwt={good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        code(&call(&f.app, req).await.2),
        "authorization_header_missing"
    );
    let f = fixture(Transport::default().locations([TokenLocation::QueryString]));
    let good = issue(&f.gate, NewToken::access("frank")).token;
    let req = Request::get(format!("/private?jwt={good}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn json_body_tokens_leave_the_body_for_the_handler() {
    let f = fixture(Transport::default().locations([TokenLocation::Json]));
    let refresh = issue(&f.gate, NewToken::refresh("gina")).token;
    let req = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"refresh_token": refresh, "x": 1}).to_string(),
        ))
        .unwrap();
    let (status, _, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["sub"], "gina");
    assert_eq!(body["body"]["x"], 1);
}

#[tokio::test]
async fn custom_error_responses() {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::EdDSA).unwrap(),
    ));
    let gate = TokenGate::new(engine).on_error(|e| {
        (e.code() == "token_expired")
            .then(|| (StatusCode::IM_A_TEAPOT, "custom expired").into_response())
    });
    let app = Router::new()
        .route("/private", get(|_: AccessToken| async { "ok" }))
        .with_state(gate.clone());
    let old = gate
        .engine()
        .issue(NewToken {
            issued_at: Some(1_000),
            ..NewToken::access("h")
        })
        .unwrap()
        .token;
    let (status, _, body) = call(&app, bearer("/private", &old)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::IM_A_TEAPOT, "custom expired")
    );
    // Other errors keep tokengate's response.
    let (status, _, body) = call(&app, bearer("/private", "x")).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn key_rotation_reaches_running_routers() {
    let f = fixture(Transport::default());
    let before = issue(&f.gate, NewToken::access("ivan")).token;
    let mut ring = f.gate.engine().keys().clone();
    ring.rotate(SigningKey::generate(Algorithm::ES256).unwrap());
    f.gate.replace_engine(TokenEngine::new(ring));
    let after = issue(&f.gate, NewToken::access("ivan")).token;
    assert_eq!(
        call(&f.app, bearer("/private", &before)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f.app, bearer("/private", &after)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_refresh_reuse_and_logout() {
    let f = fixture(Transport::default());
    let login = f.gate.login("kim").await.unwrap();
    assert_eq!(
        call(&f.app, bearer("/private", &login.access.token))
            .await
            .0,
        StatusCode::OK
    );
    assert!(
        f.gate
            .engine()
            .verify(&login.access.token)
            .unwrap()
            .claims
            .fresh
            .is_fresh_at(0),
        "a password login is fresh"
    );

    // Refresh rotates: the next pair works, the access token is not fresh.
    let spent = f.gate.engine().verify(&login.refresh.token).unwrap();
    let next = f.gate.refresh("kim", &spent).await.unwrap();
    let next_access = f.gate.engine().verify(&next.access.token).unwrap();
    assert!(!next_access.claims.fresh.is_fresh_at(0));
    assert_eq!(
        call(&f.app, bearer("/private", &next.access.token)).await.0,
        StatusCode::OK
    );

    // Reuse of the spent refresh token revokes every token of the login.
    assert_eq!(
        f.gate.refresh("kim", &spent).await.unwrap_err().code(),
        "token_revoked"
    );
    for token in [&login.access.token, &next.access.token] {
        let (status, _, body) = call(&f.app, bearer("/private", token)).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "token_revoked")
        );
    }
    let next_refresh = f.gate.engine().verify(&next.refresh.token).unwrap();
    assert_eq!(
        f.gate
            .refresh("kim", &next_refresh)
            .await
            .unwrap_err()
            .code(),
        "token_revoked"
    );

    // Logout ends one login and leaves another alone.
    let one = f.gate.login("kim").await.unwrap();
    let two = f.gate.login("kim").await.unwrap();
    f.gate
        .logout(&f.gate.engine().verify(&one.access.token).unwrap())
        .await
        .unwrap();
    assert_eq!(
        call(&f.app, bearer("/private", &one.access.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let one_refresh = f.gate.engine().verify(&one.refresh.token).unwrap();
    assert!(f.gate.refresh("kim", &one_refresh).await.is_err());
    assert_eq!(
        call(&f.app, bearer("/private", &two.access.token)).await.0,
        StatusCode::OK
    );

    // Logout-all ends every login issued before it, and not a later one.
    f.gate.logout_all("kim").await.unwrap();
    let after = f.gate.login("kim").await.unwrap();
    assert_eq!(
        call(&f.app, bearer("/private", &two.access.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&f.app, bearer("/private", &after.access.token))
            .await
            .0,
        StatusCode::OK
    );
}
