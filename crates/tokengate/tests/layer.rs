//! `TokenGate::require`: one layer for a group of routes (or any tower
//! service), its per-route options, the extractors behind it taking its
//! verdict instead of verifying again, and the optional and role
//! extractors.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokengate::axum::{
    AccessToken, CurrentUser, FreshAccessToken, HasRole, RefreshToken, Scoped, TokenGate,
    UserLoader, Verified,
};
use tokengate::claims::Claims;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::revocation::{
    BoxFuture, InMemoryRevocations, Revocation, RevocationStore, StoreError,
};
use tokengate::scope::ScopeRequirement;
use tokengate::token::{NewToken, TokenEngine, VerifiedToken};
use tokengate::transport::TokenLocation;
use tower::{Layer, ServiceExt};

tokengate::required_scopes!(ReadMessages = ["read:messages"]);
tokengate::required_roles!(Admin = ["admin"]);
tokengate::required_roles!(AdminAndOps = ["admin", "ops"]);

/// Revocations in memory that count the checks: one per verification.
#[derive(Default)]
struct Counting {
    memory: InMemoryRevocations,
    checks: AtomicUsize,
}

impl RevocationStore for Counting {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.checks.fetch_add(1, Ordering::SeqCst);
        self.memory.is_revoked(claims)
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        self.memory.revoke(revocation)
    }
}

struct Fixture {
    gate: TokenGate,
    revocations: Arc<Counting>,
}

fn fixture() -> Fixture {
    let engine = TokenEngine::new(KeyRing::new(
        SigningKey::generate(Algorithm::EdDSA).unwrap(),
    ));
    let revocations = Arc::new(Counting::default());
    let gate = TokenGate::new(engine).with_revocation(revocations.clone());
    Fixture { gate, revocations }
}

impl Fixture {
    fn token(&self, new: NewToken) -> String {
        self.gate.engine().issue(new).unwrap().token
    }

    fn checks(&self) -> usize {
        self.revocations.checks.load(Ordering::SeqCst)
    }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    (status, body, challenge)
}

fn get_with(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn anonymous(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn one_layer_protects_a_group_and_leaves_the_rest_alone() {
    let f = fixture();
    let group = Router::new()
        .route("/group/plain", get(|| async { "no extractor" }))
        .route(
            "/group/seen",
            get(|request: Request<Body>| async move {
                let verified = request.extensions().get::<Verified>().unwrap();
                format!("{} via {:?}", verified.token.subject(), verified.location)
            }),
        )
        .route_layer(f.gate.require());
    let app: Router = Router::new()
        .merge(group)
        .route("/public", get(|| async { "public" }))
        .with_state(f.gate.clone());

    let (status, body, challenge) = call(&app, anonymous("/group/plain")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "authorization_header_missing");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"tokengate\""));
    let (status, body, challenge) = call(&app, get_with("/group/plain", "a.b.c")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));

    let token = f.token(NewToken::access("alice"));
    let (status, body, _) = call(&app, get_with("/group/seen", &token)).await;
    assert_eq!((status, body), (StatusCode::OK, json!("alice via Headers")));
    let (status, _, _) = call(&app, anonymous("/public")).await;
    assert_eq!(status, StatusCode::OK);
    // An unknown path is the router's 404, not the layer's 401.
    let (status, _, _) = call(&app, anonymous("/group/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn extractors_behind_the_layer_take_its_verdict_without_verifying_again() {
    let f = fixture();
    let app: Router = Router::new()
        .route(
            "/access",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .route(
            "/scoped",
            get(|t: Scoped<ReadMessages>| async move { t.subject().to_owned() }),
        )
        .route_layer(f.gate.require())
        .route(
            "/alone",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .with_state(f.gate.clone());
    let token = f.token(NewToken::access("alice").scope("read:messages"));
    for path in ["/access", "/scoped", "/alone"] {
        let before = f.checks();
        let (status, body, _) = call(&app, get_with(path, &token)).await;
        assert_eq!((status, body), (StatusCode::OK, json!("alice")), "{path}");
        assert_eq!(
            f.checks() - before,
            1,
            "{path}: one revocation check per request"
        );
    }
    // The extractor's own requirement still holds behind the layer.
    let unscoped = f.token(NewToken::access("bob"));
    let (status, body, _) = call(&app, get_with("/scoped", &unscoped)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn scopes_and_roles_on_the_layer() {
    let f = fixture();
    let app: Router = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(
            f.gate
                .require()
                .scopes(ScopeRequirement::any_of(["read write", "admin"]))
                .role("ops")
                .role("audit"),
        )
        .with_state(f.gate.clone());
    let both = f.token(NewToken::access("a").scope("admin").roles(["ops", "audit"]));
    assert_eq!(
        call(&app, get_with("/admin", &both)).await.0,
        StatusCode::OK
    );
    let no_scope = f.token(NewToken::access("b").scope("read").roles(["ops", "audit"]));
    let (status, body, challenge) = call(&app, get_with("/admin", &no_scope)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    assert!(challenge.unwrap().contains("insufficient_scope"));
    let one_role = f.token(NewToken::access("c").scope("read write").roles(["ops"]));
    let (status, body, _) = call(&app, get_with("/admin", &one_role)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );
}

#[tokio::test]
async fn per_route_locations_freshness_token_type_and_revocation() {
    let f = fixture();
    let private = || get(|t: AccessToken| async move { t.subject().to_owned() });
    // route_layer wraps the routes added before it: one router per group.
    let headers_only = Router::new()
        .route("/headers-only", private())
        .route_layer(f.gate.require().locations([TokenLocation::Headers]));
    let fresh_only = Router::new()
        .route(
            "/fresh",
            post(|t: FreshAccessToken| async move { t.subject().to_owned() }),
        )
        .route_layer(f.gate.require().fresh());
    let app: Router = headers_only.merge(fresh_only).with_state(f.gate.clone());
    let unchecked: Router = Router::new()
        .route("/status", private())
        .route_layer(f.gate.require().skip_revocation_check())
        .route("/checked", private())
        .with_state(f.gate.clone());
    let refresh_routes: Router = Router::new()
        .route(
            "/refresh",
            post(|t: RefreshToken| async move { t.subject().to_owned() }),
        )
        .route_layer(f.gate.require().refresh())
        .with_state(f.gate.clone());

    // The gate looks in headers, then cookies; this route only in headers.
    let token = f.token(NewToken::access("alice"));
    let cookie = Request::get("/headers-only")
        .header(header::COOKIE, format!("access_token_cookie={token}"))
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = call(&app, cookie).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("authorization_header_missing")
        )
    );
    assert_eq!(
        call(&app, get_with("/headers-only", &token)).await.0,
        StatusCode::OK
    );

    let post_with = |path: &str, token: &str| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body, _) = call(&app, post_with("/fresh", &token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("fresh_token_required"))
    );
    let fresh = f.token(NewToken::access("alice").fresh());
    assert_eq!(
        call(&app, post_with("/fresh", &fresh)).await.0,
        StatusCode::OK
    );

    let login = f.gate.login("carol").await.unwrap();
    let (status, body, _) = call(&refresh_routes, post_with("/refresh", &login.access.token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("wrong_token_type"))
    );
    let (status, body, _) =
        call(&refresh_routes, post_with("/refresh", &login.refresh.token)).await;
    assert_eq!((status, body), (StatusCode::OK, json!("carol")));

    // A revoked token: refused where revocation is checked, accepted where
    // the route opted out (its extractor included).
    let verified = f.gate.verify(&login.access.token).await.unwrap();
    f.gate.logout(&verified).await.unwrap();
    let (status, body, _) = call(&unchecked, get_with("/checked", &login.access.token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
    let (status, body, _) = call(&unchecked, get_with("/status", &login.access.token)).await;
    assert_eq!((status, body), (StatusCode::OK, json!("carol")));
}

#[tokio::test]
async fn any_tower_service_and_the_gates_own_error_responses() {
    let f = fixture();
    let gate = f.gate.clone().on_error(|error| {
        (error.code() == "token_expired").then(|| {
            Response::builder()
                .status(StatusCode::IM_A_TEAPOT)
                .body(Body::from("custom expired"))
                .unwrap()
        })
    });
    let service = gate
        .require()
        .layer(tower::service_fn(|request: Request<Body>| async move {
            let subject = request
                .extensions()
                .get::<Verified>()
                .unwrap()
                .token
                .subject()
                .to_owned();
            Ok::<_, Infallible>(Response::new(format!("hello {subject}")))
        }));
    let token = f.token(NewToken::access("alice"));
    let response = service
        .clone()
        .oneshot(get_with("/", &token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"hello alice");

    let response = service.clone().oneshot(anonymous("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value =
        serde_json::from_slice(&to_bytes(response.into_body(), 1024).await.unwrap()).unwrap();
    assert_eq!(body["code"], "authorization_header_missing");

    let now = tokengate::clock::now().as_secs();
    let expired = f.token(NewToken {
        issued_at: Some(now - 3600),
        ttl: Some(std::time::Duration::from_secs(60)),
        ..NewToken::access("alice")
    });
    let response = service.oneshot(get_with("/", &expired)).await.unwrap();
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
}

#[derive(Clone)]
struct State {
    gate: TokenGate,
}

impl FromRef<State> for TokenGate {
    fn from_ref(state: &State) -> TokenGate {
        state.gate.clone()
    }
}

impl UserLoader for State {
    type User = String;
    async fn load_user(&self, token: &VerifiedToken) -> Result<Option<String>, tokengate::Error> {
        Ok((token.subject() != "ghost").then(|| token.subject().to_uppercase()))
    }
}

#[tokio::test]
async fn optional_extractors_are_none_without_a_token_and_errors_with_a_bad_one() {
    let f = fixture();
    let app: Router = Router::new()
        .route(
            "/scoped",
            get(|t: Option<Scoped<ReadMessages>>| async move {
                Json(t.map(|t| t.subject().to_owned()))
            }),
        )
        .route(
            "/admin",
            get(|t: Option<HasRole<Admin>>| async move { Json(t.map(|t| t.subject().to_owned())) }),
        )
        .route(
            "/both",
            get(|t: HasRole<AdminAndOps>| async move { t.subject().to_owned() }),
        )
        .route(
            "/user",
            get(|u: Option<CurrentUser<String>>| async move {
                Json(u.map(|CurrentUser(name, _)| name))
            }),
        )
        .with_state(State {
            gate: f.gate.clone(),
        });

    for path in ["/scoped", "/admin", "/user"] {
        assert_eq!(call(&app, anonymous(path)).await.1, Value::Null, "{path}");
        let (status, body, _) = call(&app, get_with(path, "a.b.c")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            "{path}"
        );
    }
    let reader = f.token(NewToken::access("alice").scope("read:messages"));
    assert_eq!(
        call(&app, get_with("/scoped", &reader)).await.1,
        json!("alice")
    );
    assert_eq!(
        call(&app, get_with("/user", &reader)).await.1,
        json!("ALICE")
    );
    // A token without the scope or the role is refused, not None.
    let (status, body, _) = call(&app, get_with("/admin", &reader)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );
    let ghost = f.token(NewToken::access("ghost"));
    let (status, body, _) = call(&app, get_with("/user", &ghost)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );

    let admin = f.token(NewToken::access("root").roles(["admin"]));
    assert_eq!(
        call(&app, get_with("/admin", &admin)).await.1,
        json!("root")
    );
    let (status, body, _) = call(&app, get_with("/both", &admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role"))
    );
    let both = f.token(NewToken::access("root").roles(["ops", "admin"]));
    assert_eq!(call(&app, get_with("/both", &both)).await.1, json!("root"));
}

/// A store still loading: each check waits for the record, which revokes
/// the subject `mallory`.
struct Loading;

impl RevocationStore for Loading {
    fn is_revoked(&self, _: &Claims) -> bool {
        false
    }

    fn revoke(&self, _: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn is_complete(&self) -> bool {
        false
    }

    fn lookup<'a>(&'a self, claims: &'a Claims) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(claims.sub.as_deref() == Some("mallory"))
        })
    }
}

#[tokio::test]
async fn a_check_that_waits_is_answered_all_the_same() {
    let gate = TokenGate::with_generated_key(Algorithm::EdDSA)
        .unwrap()
        .with_revocation(Arc::new(Loading));
    let app: Router = Router::new()
        .route(
            "/r",
            get(|t: AccessToken| async move { t.subject().to_owned() }),
        )
        .route_layer(gate.require())
        .with_state(gate.clone());
    let token = |sub: &str| gate.engine().issue(NewToken::access(sub)).unwrap().token;
    let (status, body, _) = call(&app, get_with("/r", &token("alice"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!("alice")));
    let (status, body, _) = call(&app, get_with("/r", &token("mallory"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_revoked"))
    );
}
