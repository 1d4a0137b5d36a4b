//! Two instances of one deployment: one PostgreSQL database, one Redis
//! (under a prefix of the test's own), one issuer and one key-encryption
//! secret, each instance with its own data directory. What one instance
//! does, the other honours: revocations (within 1 s with Redis, within a
//! poll interval without), sessions ended by their owner, the uniqueness of
//! names, the rotation of refresh tokens (and its reuse interval), the key
//! ring; and an instance whose database goes away answers 503 for what
//! needs it, keeps verifying tokens, and recovers by itself.
//!
//! The only timings asserted are the issue's bounds (1 s with Redis, 2 s
//! with a 1 s poll interval); everything else is a bounded retry.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::common::{
    Api, Pair, PgDatabase, RedisPrefix, Resp, Server, TestDir, cli_with_env, jwt_part, pair,
};
use crate::proxy::FaultProxy;

const PASSWORD: &str = "correct horse battery";

/// Every instance of a deployment signs as, and accepts, this issuer.
const ISSUER: &str = "http://tokengate.test";

/// Encrypts the private keys kept in the database (at least 32 bytes).
const KEY_ENCRYPTION_SECRET: &str = "the cluster tests' key-encryption secret";

/// The issue's bound for a revocation to reach another instance with Redis.
const WITH_REDIS: Duration = Duration::from_secs(1);

/// How often the tests look at the other instance while they wait.
const POLL: Duration = Duration::from_millis(20);

/// One deployment: the database and Redis prefix its instances share.
struct Deployment {
    name: String,
    db: PgDatabase,
    redis: RedisPrefix,
}

impl Deployment {
    fn new(name: &str) -> Deployment {
        Deployment {
            name: name.to_owned(),
            db: PgDatabase::create(name),
            redis: RedisPrefix::new(name),
        }
    }

    /// The data directory of instance `instance`, on the shared database.
    fn dir(&self, instance: &str) -> TestDir {
        TestDir::sharing(&format!("{}-{instance}", self.name), &self.db)
    }

    /// The settings every instance shares (the database comes with the
    /// directory); [`Env::set`] adds or replaces one.
    ///
    /// The database is polled for revocations only once a minute: a 1 s
    /// bound met then is Redis's doing. Tests of polling set their own.
    fn env(&self) -> Env {
        Env(vec![
            ("TOKENGATE_ISSUER", ISSUER.to_owned()),
            (
                "TOKENGATE_KEY_ENCRYPTION_SECRET",
                KEY_ENCRYPTION_SECRET.to_owned(),
            ),
            ("TOKENGATE_REDIS_URL", RedisPrefix::url()),
            ("TOKENGATE_REDIS_PREFIX", self.redis.as_str().to_owned()),
            ("TOKENGATE_REVOCATION_POLL_INTERVAL", "60s".to_owned()),
        ])
    }
}

/// `TOKENGATE_*` settings of one instance.
#[derive(Clone)]
struct Env(Vec<(&'static str, String)>);

impl Env {
    fn set(mut self, key: &'static str, value: impl Into<String>) -> Env {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, value.into()));
        self
    }

    /// Redis through `proxy` instead of directly.
    fn redis_via(self, proxy: &FaultProxy) -> Env {
        self.set(
            "TOKENGATE_REDIS_URL",
            format!("redis://127.0.0.1:{}/", proxy.port()),
        )
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

fn start(dir: &TestDir, env: &Env) -> Server {
    Server::start(dir, &env.pairs())
}

/// Starts both instances at once, as a deployment does: two processes
/// meeting a fresh database (migrations, the first signing key) together.
/// Returns once both serve the same keys.
async fn start_both(a: (&TestDir, &Env), b: (&TestDir, &Env)) -> (Server, Server) {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| start(a.0, a.1));
        let b = scope.spawn(|| start(b.0, b.1));
        (a.join(), b.join())
    });
    let (a, b) = (
        a.expect("instance a started"),
        b.expect("instance b started"),
    );
    let (api_a, api_b) = (a.api(), b.api());
    wait_until(
        "instances on one database serve one key ring",
        Duration::from_secs(10),
        || async move { kids(api_a).await == kids(api_b).await },
    )
    .await;
    (a, b)
}

/// The `kid`s of the instance's JWKS.
async fn kids(api: &Api) -> BTreeSet<String> {
    let jwks = api.get("/.well-known/jwks.json").await.expect(200).json();
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {jwks}"))
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

/// Polls `check` until it holds; panics after `limit`. A bounded retry for
/// what has no bound of its own in the issue (recovery after an outage).
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Looks at `token` on `api` every 20 ms until it is refused as revoked;
/// panics if it is still accepted `bound` after the call (the issue's
/// propagation bound, counted from the revoking instance's 200).
async fn refused_within(api: &Api, token: &str, bound: Duration) {
    let start = Instant::now();
    loop {
        let resp = api.private(token).await;
        if resp.status != 200 {
            resp.expect_token_error("token_revoked");
            return;
        }
        let waited = start.elapsed();
        assert!(
            waited < bound,
            "{}: a revoked token still accepted {waited:?} later",
            api.addr()
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn logout(api: &Api, access: &str) {
    api.post_bearer("/auth/logout", access, None)
        .await
        .expect(200);
}

/// The instance's `/healthz` has `field` = `value`.
async fn health_is(api: &Api, field: &str, value: &str) -> bool {
    api.health().await[field] == value
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_a_second() {
    let deployment = Deployment::new("cluster-logout");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    for api in [&a, &b] {
        let health = api.health().await;
        assert_eq!(
            (&health["status"], &health["database"], &health["redis"]),
            (&json!("ok"), &json!("ok"), &json!("ok")),
            "{health}"
        );
    }
    a.register_ok("ada", PASSWORD).await;

    // A few times each way: the fan-out keeps working, not just once.
    for (from, to) in [(&a, &b), (&b, &a), (&a, &b), (&b, &a)] {
        let login = from.login_ok("ada", PASSWORD).await;
        to.assert_valid(&login.access).await;
        logout(from, &login.access).await;
        refused_within(to, &login.access, WITH_REDIS).await;
        from.assert_refused(&login.access, "token_revoked").await;
        // Its refresh token went with it, on either instance.
        to.refresh(&login.refresh)
            .await
            .expect_token_error("token_revoked");
    }
}

/// A token revoked at `POST /auth/revoke` of one instance (RFC 7009) is
/// refused by the other within the bound of a logout: an access token
/// alone (its login's refresh token still works on both), a refresh token
/// with its whole login.
#[tokio::test]
async fn a_token_revoked_at_the_revocation_endpoint_is_refused_on_the_other_instance() {
    use base64::Engine;
    let deployment = Deployment::new("cluster-revocation-endpoint");
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    let (client, secret) = ("resource-server", "rs-secret-0123456789abcdef");
    let config = dir_a.join("clients.toml");
    std::fs::write(
        &config,
        format!("[[clients]]\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n"),
    )
    .expect("write the config");
    let env = deployment
        .env()
        .set("TOKENGATE_CONFIG", config.to_str().expect("a UTF-8 path"));
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client}:{secret}"))
    );
    let revoke = |api: &Api, token: &str| {
        api.request(Method::POST, "/auth/revoke")
            .header("authorization", basic.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    };
    a.register_ok("ivy", PASSWORD).await;

    for (from, to) in [(&a, &b), (&b, &a)] {
        let login = from.login_ok("ivy", PASSWORD).await;
        to.assert_valid(&login.access).await;
        from.send(revoke(from, &login.access)).await.expect(200);
        refused_within(to, &login.access, WITH_REDIS).await;
        // The access token alone: its login refreshes on the other instance.
        let next = to.refresh_ok(&login.refresh).await;
        from.assert_valid(&next.access).await;
        // A refresh token: its whole login, everywhere.
        from.send(revoke(from, &next.refresh)).await.expect(200);
        refused_within(to, &next.access, WITH_REDIS).await;
        to.refresh(&next.refresh)
            .await
            .expect_token_error("token_revoked");
    }
}

#[tokio::test]
async fn without_redis_revocations_arrive_by_polling_and_fan_out_resumes_after() {
    let deployment = Deployment::new("cluster-redis-cut");
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    // Each instance reaches Redis through its own proxy; the tests beside
    // this one keep the real Redis.
    let (redis_a, redis_b) = (
        FaultProxy::start(RedisPrefix::server_addr()),
        FaultProxy::start(RedisPrefix::server_addr()),
    );
    let env = deployment
        .env()
        .set("TOKENGATE_REVOCATION_POLL_INTERVAL", "1s");
    let (env_a, env_b) = (env.clone().redis_via(&redis_a), env.redis_via(&redis_b));
    let (a, b) = start_both((&dir_a, &env_a), (&dir_b, &env_b)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("bea", PASSWORD).await;
    let first = a.login_ok("bea", PASSWORD).await;
    let second = a.login_ok("bea", PASSWORD).await;
    b.assert_valid(&first.access).await;
    let redis = &deployment.redis;
    wait_until(
        "both instances subscribe",
        Duration::from_secs(10),
        || async move { redis.subscriptions() >= 2 },
    )
    .await;
    let subscribed = redis.subscriptions();

    redis_a.cut();
    redis_b.cut();
    wait_until(
        "Redis sees the subscribers gone",
        Duration::from_secs(10),
        || async move { redis.subscriptions() == 0 },
    )
    .await;
    for api in [&a, &b] {
        wait_until(
            "healthz reports Redis unavailable",
            Duration::from_secs(15),
            || health_is(api, "redis", "unavailable"),
        )
        .await;
        let health = api.health().await;
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["database"], "ok", "{health}");
    }
    // Redis is optional: its absence does not fail the logout...
    logout(&a, &first.access).await;
    // ...and B learns of it by polling the database: one interval, plus
    // one for slack.
    refused_within(&b, &first.access, Duration::from_secs(2)).await;

    redis_a.restore();
    redis_b.restore();
    for api in [&a, &b] {
        wait_until(
            "healthz reports Redis ok again",
            Duration::from_secs(30),
            || health_is(api, "redis", "ok"),
        )
        .await;
    }
    // With a 1 s poll, the bound below would hold without Redis too: that
    // the fan-out resumed shows in its subscriptions.
    wait_until(
        "both instances subscribe again",
        Duration::from_secs(30),
        || async move { redis.subscriptions() == subscribed },
    )
    .await;
    logout(&a, &second.access).await;
    refused_within(&b, &second.access, WITH_REDIS).await;
}

/// Redis is down for the revoking instance only: its publish is lost while
/// the other instance still hears Redis fine. The revocation is in the
/// database, so it must still arrive by polling: Redis only makes it faster.
#[tokio::test]
async fn a_revocation_whose_publish_is_lost_still_arrives_by_polling() {
    let deployment = Deployment::new("cluster-publish-lost");
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    let redis_a = FaultProxy::start(RedisPrefix::server_addr());
    let env = deployment
        .env()
        .set("TOKENGATE_REVOCATION_POLL_INTERVAL", "1s");
    let env_a = env.clone().redis_via(&redis_a);
    let (a, b) = start_both((&dir_a, &env_a), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("bob", PASSWORD).await;
    let login = a.login_ok("bob", PASSWORD).await;
    b.assert_valid(&login.access).await;

    redis_a.cut();
    logout(&a, &login.access).await;
    assert_eq!(b.health().await["redis"], "ok");
    refused_within(&b, &login.access, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn one_name_registered_on_both_instances_at_once_creates_one_user() {
    let deployment = Deployment::new("cluster-register");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());

    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let api = [&a, &b][i % 2].clone();
        // Unique case-insensitively, across instances too.
        let name = ["Racer", "racer", "RACER"][i % 3];
        tasks.spawn(async move { api.register(name, &format!("{PASSWORD} {i}")).await });
    }
    let (mut created, mut taken) = (Vec::new(), 0);
    while let Some(resp) = tasks.join_next().await {
        let resp = resp.unwrap();
        if resp.status == 201 {
            created.push(resp.json());
        } else {
            resp.expect_error(409, "username_taken");
            taken += 1;
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(taken, 9);

    let list = cli_with_env(&dir_b, &["user", "list"], "", &env.pairs()).expect_success();
    let lines = list
        .stdout
        .lines()
        .filter(|l| l.to_lowercase().contains("racer"))
        .count();
    assert_eq!(lines, 1, "{list:?}");
    for api in [&a, &b] {
        api.register("rAcEr", PASSWORD)
            .await
            .expect_error(409, "username_taken");
    }
}

/// Mirrors `concurrency::twenty_concurrent_refreshes_of_one_token_one_wins`
/// across two instances.
#[tokio::test]
async fn one_refresh_token_presented_to_both_instances_at_once_wins_once() {
    let deployment = Deployment::new("cluster-refresh");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("cid", PASSWORD).await;
    let login = a.login_ok("cid", PASSWORD).await;
    let bystander = b.login_ok("cid", PASSWORD).await;

    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let (api, refresh) = ([&a, &b][i % 2].clone(), login.refresh.clone());
        tasks.spawn(async move { api.refresh(&refresh).await });
    }
    let mut winners = Vec::new();
    while let Some(resp) = tasks.join_next().await {
        let resp = resp.unwrap();
        if resp.status == 200 {
            winners.push(pair(&resp.json()));
        } else {
            resp.expect_token_error("token_revoked");
        }
    }
    // The first compare-and-swap always succeeds: a reuse (which
    // revokes the login) can only follow it.
    assert_eq!(winners.len(), 1, "{} refreshes succeeded", winners.len());

    // The others were reuse: the whole login is revoked, the winner's new
    // tokens included, on both instances (whichever saw the reuse).
    for api in [&a, &b] {
        refused_within(api, &login.access, WITH_REDIS).await;
        for winner in &winners {
            refused_within(api, &winner.access, WITH_REDIS).await;
            api.refresh(&winner.refresh)
                .await
                .expect_token_error("token_revoked");
        }
        // Another login is untouched.
        api.assert_valid(&bystander.access).await;
    }
}

/// The login (`fam` claim) of a token: the id `/auth/sessions` shows.
fn login_of(token: &str) -> String {
    let claims = jwt_part(token, 1);
    claims["fam"]
        .as_str()
        .unwrap_or_else(|| panic!("no fam: {claims}"))
        .to_owned()
}

/// The ids `GET /auth/sessions` lists for `access` on `api`.
async fn session_ids(api: &Api, access: &str) -> Vec<String> {
    let body = api
        .get_bearer("/auth/sessions", access)
        .await
        .expect(200)
        .json();
    body["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions: {body}"))
        .iter()
        .map(|s| s["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn ended_sessions_are_refused_on_the_other_instance_within_a_second() {
    let deployment = Deployment::new("cluster-sessions");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("hal", PASSWORD).await;
    let keeper = a.login_ok("hal", PASSWORD).await;

    // One session ended, each way: the login of the other instance.
    for (from, to) in [(&a, &b), (&b, &a)] {
        let victim = to.login_ok("hal", PASSWORD).await;
        to.assert_valid(&victim.access).await;
        let path = format!("/auth/sessions/{}", login_of(&victim.access));
        from.send(
            from.request(Method::DELETE, &path)
                .bearer_auth(&keeper.access),
        )
        .await
        .expect(204);
        refused_within(to, &victim.access, WITH_REDIS).await;
        from.assert_refused(&victim.access, "token_revoked").await;
        for api in [&a, &b] {
            api.refresh(&victim.refresh)
                .await
                .expect_token_error("token_revoked");
        }
    }

    // The others, ended on A, logged in on B.
    let others = [
        b.login_ok("hal", PASSWORD).await,
        b.login_ok("hal", PASSWORD).await,
    ];
    a.send(
        a.request(Method::DELETE, "/auth/sessions")
            .bearer_auth(&keeper.access),
    )
    .await
    .expect(204);
    for other in &others {
        refused_within(&b, &other.access, WITH_REDIS).await;
        b.refresh(&other.refresh)
            .await
            .expect_token_error("token_revoked");
    }
    for api in [&a, &b] {
        api.assert_valid(&keeper.access).await;
        assert_eq!(
            session_ids(api, &keeper.access).await,
            [login_of(&keeper.access)]
        );
    }
}

/// With `refresh_reuse_interval = 30s`, one refresh token presented to both
/// instances at once gets a pair from each, in one login that goes on; with
/// `0s`, exactly one of them, and the login ends.
#[tokio::test]
async fn sessions_reuse_interval_decides_a_refresh_race_between_instances() {
    // 30s: both instances answer, in one login that goes on.
    {
        let deployment = Deployment::new("cluster-reuse-30s");
        let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
        let env = deployment
            .env()
            .set("TOKENGATE_REFRESH_REUSE_INTERVAL", "30s");
        let (server_a, server_b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
        let (a, b) = (server_a.api(), server_b.api());
        a.register_ok("ivy", PASSWORD).await;
        let login = a.login_ok("ivy", PASSWORD).await;
        let (on_a, on_b) = tokio::join!(a.refresh(&login.refresh), b.refresh(&login.refresh));
        let (on_a, on_b) = (
            pair(&on_a.expect(200).json()),
            pair(&on_b.expect(200).json()),
        );
        let jti = |token: &str| jwt_part(token, 1)["jti"].clone();
        assert_eq!(
            jti(&on_a.refresh),
            jti(&on_b.refresh),
            "the login's current refresh token, from both"
        );
        for api in [a, b] {
            api.assert_valid(&on_a.access).await;
            api.assert_valid(&on_b.access).await;
            assert_eq!(
                session_ids(api, &on_a.access).await,
                [login_of(&login.access)]
            );
        }
        // The login goes on from either pair.
        let next = b.refresh_ok(&on_a.refresh).await;
        a.assert_valid(&next.access).await;
    }

    // 0s: exactly one instance answers 200; the other saw reuse and ended
    // the login, the winner's tokens with it.
    let deployment = Deployment::new("cluster-reuse-0s");
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    let env = deployment
        .env()
        .set("TOKENGATE_REFRESH_REUSE_INTERVAL", "0s");
    let (server_a, server_b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (server_a.api(), server_b.api());
    a.register_ok("ivy", PASSWORD).await;
    let witness = a.login_ok("ivy", PASSWORD).await;
    let login = a.login_ok("ivy", PASSWORD).await;
    let (on_a, on_b) = tokio::join!(a.refresh(&login.refresh), b.refresh(&login.refresh));
    let mut winners = Vec::new();
    for resp in [on_a, on_b] {
        if resp.status == 200 {
            winners.push(pair(&resp.json()));
        } else {
            resp.expect_token_error("token_revoked");
        }
    }
    assert_eq!(winners.len(), 1, "{} refreshes succeeded", winners.len());
    for api in [a, b] {
        refused_within(api, &winners[0].access, WITH_REDIS).await;
        api.refresh(&winners[0].refresh)
            .await
            .expect_token_error("token_revoked");
        assert_eq!(
            session_ids(api, &witness.access).await,
            [login_of(&witness.access)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logouts_answered_before_an_instance_is_killed_hold_everywhere() {
    let deployment = Deployment::new("cluster-kill");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (server_a, server_b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (server_a.api().clone(), server_b.api().clone());
    a.register_ok("dee", PASSWORD).await;
    let bystander = a.login_ok("dee", PASSWORD).await;

    const SESSIONS: usize = 200;
    let mut tasks = JoinSet::new();
    for i in 0..SESSIONS {
        let api = [&a, &b][i % 2].clone();
        tasks.spawn(async move { (i, api.login_ok("dee", PASSWORD).await) });
    }
    let mut sessions: Vec<Option<Pair>> = vec![None; SESSIONS];
    while let Some(done) = tasks.join_next().await {
        let (i, login) = done.unwrap();
        sessions[i] = Some(login);
    }
    let sessions: Vec<Pair> = sessions.into_iter().map(Option::unwrap).collect();

    // Every logout at once, half to each instance; B is killed once some
    // of its logouts are answered, so that others are still in flight.
    let b_answered = Arc::new(AtomicUsize::new(0));
    let some_answered = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    for (i, login) in sessions.iter().enumerate() {
        let on_b = i % 2 == 1;
        let api = if on_b { b.clone() } else { a.clone() };
        let request = api
            .request(Method::POST, "/auth/logout")
            .bearer_auth(&login.access);
        let (b_answered, some_answered) = (b_answered.clone(), some_answered.clone());
        tasks.spawn(async move {
            let result = api.try_send(request).await;
            if on_b && result.is_ok() && b_answered.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
                some_answered.notify_one();
            }
            (i, on_b, result)
        });
    }
    tokio::time::timeout(Duration::from_secs(120), some_answered.notified())
        .await
        .expect("B answers some logouts");
    server_b.kill();

    let (mut logged_out, mut b_lost) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (i, on_b, result) = done.unwrap();
        match result {
            Ok(resp) => {
                resp.expect(200);
                logged_out.push(i);
            }
            // Killed before it answered: the logout may or may not have
            // happened, and either is fine.
            Err(_) if on_b => b_lost += 1,
            Err(e) => panic!("A failed while B died: {e}"),
        }
    }
    eprintln!(
        "{} logouts answered 200; {b_lost} sent to B got no answer",
        logged_out.len()
    );

    let server_b = start(&dir_b, &env);
    let b = server_b.api().clone();
    // Each 200 was a promise: the token is refused by both instances.
    for &i in &logged_out {
        refused_within(&a, &sessions[i].access, WITH_REDIS).await;
        refused_within(&b, &sessions[i].access, WITH_REDIS).await;
    }
    a.assert_valid(&bystander.access).await;
    b.assert_valid(&bystander.access).await;
}

/// Sends `request` (with a 15 s limit) and expects 503 `store_unavailable`:
/// a database that went away is an answer, not a hang.
async fn expect_unavailable(api: &Api, request: reqwest::RequestBuilder) {
    let resp: Resp = api
        .try_send(request.timeout(Duration::from_secs(15)))
        .await
        .unwrap_or_else(|e| panic!("no answer without the database: {e}"));
    resp.expect_error(503, "store_unavailable");
}

#[tokio::test]
async fn an_instance_without_its_database_answers_503_keeps_verifying_and_recovers() {
    let deployment = Deployment::new("cluster-db-cut");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    // Only A reaches PostgreSQL through the proxy.
    let postgres_a = FaultProxy::start(PgDatabase::server_addr());
    let env_a = env.clone().set(
        "TOKENGATE_DATABASE_URL",
        deployment.db.url_via_port(postgres_a.port()),
    );
    let (a, b) = start_both((&dir_a, &env_a), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("eve", PASSWORD).await;
    let earlier = a.login_ok("eve", PASSWORD).await;
    let to_log_out = a.login_ok("eve", PASSWORD).await;
    let logged_out_on_b = a.login_ok("eve", PASSWORD).await;

    postgres_a.cut();
    let credentials = &json!({"username": "eve", "password": PASSWORD});
    expect_unavailable(&a, a.request(Method::POST, "/auth/login").json(credentials)).await;
    expect_unavailable(
        &a,
        a.request(Method::POST, "/auth/register")
            .json(&json!({"username": "newcomer", "password": PASSWORD})),
    )
    .await;
    expect_unavailable(
        &a,
        a.request(Method::POST, "/auth/refresh")
            .bearer_auth(&earlier.refresh),
    )
    .await;
    expect_unavailable(
        &a,
        a.request(Method::POST, "/auth/logout")
            .bearer_auth(&to_log_out.access),
    )
    .await;
    // Verifying needs no database: keys and revocations are in memory.
    a.assert_valid(&earlier.access).await;
    a.assert_valid(&to_log_out.access).await;
    wait_until(
        "healthz reports the database unavailable",
        Duration::from_secs(15),
        || health_is(&a, "database", "unavailable"),
    )
    .await;
    let health: Value = a.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["redis"], "ok", "{health}");
    // Alive (it still verifies), but not ready: a balancer sends B the logins.
    let ready = a
        .try_send(a.request(Method::GET, "/readyz"))
        .await
        .unwrap()
        .expect(503)
        .json();
    assert_eq!(
        ready,
        serde_json::json!({"code": "unavailable", "msg": "not ready: the database is unavailable"})
    );
    b.get("/readyz").await.expect(200);
    // Only A lost the database.
    b.login_ok("eve", PASSWORD).await;
    // A logout elsewhere still reaches A: Redis brings it, and A cannot
    // read it from the database now. Accepting the token for as long as
    // the outage lasts would undo the logout.
    logout(&b, &logged_out_on_b.access).await;
    refused_within(&a, &logged_out_on_b.access, WITH_REDIS).await;

    postgres_a.restore();
    let api_a = &a;
    wait_until(
        "login on A works again",
        Duration::from_secs(10),
        || async move {
            let resp = api_a
                .try_send(
                    api_a
                        .request(Method::POST, "/auth/login")
                        .json(credentials)
                        .timeout(Duration::from_secs(15)),
                )
                .await;
            matches!(resp, Ok(resp) if resp.status == 200)
        },
    )
    .await;
    wait_until(
        "healthz reports the database ok",
        Duration::from_secs(10),
        || health_is(&a, "database", "ok"),
    )
    .await;
    a.get("/readyz").await.expect(200);
    // What failed during the outage had no effect: the refresh token is
    // unspent, the logged-out-to-be login still valid; both work now.
    let next = a.refresh_ok(&earlier.refresh).await;
    a.assert_valid(&next.access).await;
    logout(&a, &to_log_out.access).await;
    refused_within(&b, &to_log_out.access, WITH_REDIS).await;
    a.register_ok("newcomer", PASSWORD).await;
}

#[tokio::test]
async fn a_key_rotation_from_the_cli_reaches_every_instance() {
    let deployment = Deployment::new("cluster-keys");
    let (dir_a, dir_b, env) = (deployment.dir("a"), deployment.dir("b"), deployment.env());
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    let before = kids(&a).await;
    assert_eq!(before.len(), 1, "{before:?}");
    a.register_ok("fox", PASSWORD).await;
    let old = a.login_ok("fox", PASSWORD).await;

    let rotate = cli_with_env(&dir_a, &["keys", "rotate"], "", &env.pairs()).expect_success();
    // The key ring is the database's: listed alike from either directory.
    let list_a = cli_with_env(&dir_a, &["keys", "list"], "", &env.pairs()).expect_success();
    let list_b = cli_with_env(&dir_b, &["keys", "list"], "", &env.pairs()).expect_success();
    assert_eq!(list_a.stdout, list_b.stdout);
    let new_kid = list_b
        .stdout
        .lines()
        .find(|l| l.contains("signing"))
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("no signing key: {list_b:?}"))
        .to_owned();
    assert!(!before.contains(&new_kid), "{new_kid} was there before");
    assert!(rotate.stdout.contains(&new_kid), "{rotate:?}");

    let expected: &BTreeSet<String> = &before.iter().cloned().chain([new_kid.clone()]).collect();
    for api in [&a, &b] {
        wait_until(
            "the instance serves the old and the new key",
            Duration::from_secs(5),
            || async move { kids(api).await == *expected },
        )
        .await;
    }
    let new = a.login_ok("fox", PASSWORD).await;
    assert_eq!(jwt_part(&new.access, 0)["kid"], new_kid.as_str());
    for api in [&a, &b] {
        api.assert_valid(&new.access).await;
        // Overlap: tokens of the previous key stay valid.
        api.assert_valid(&old.access).await;
    }
}

#[tokio::test]
async fn failed_logins_count_across_instances() {
    let deployment = Deployment::new("cluster-rate");
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    let env = deployment.env().set("TOKENGATE_LOGIN_MAX_FAILURES", "3");
    let (a, b) = start_both((&dir_a, &env), (&dir_b, &env)).await;
    let (a, b) = (a.api().clone(), b.api().clone());
    a.register_ok("gus", PASSWORD).await;

    // Three failures, spread: neither instance alone saw three.
    for api in [&a, &b, &a] {
        api.login("gus", "wrong password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    for api in [&b, &a] {
        api.login("gus", PASSWORD)
            .await
            .expect_error(429, "rate_limited");
    }
}

/// Logins on any instance: an OIDC login begun on A (its state, nonce and
/// PKCE verifier kept in the shared database) finishes on B, against the
/// real OpenID provider; the callback replayed on either instance is
/// refused (the state is spent once across both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_login_begun_on_one_instance_finishes_on_the_other() {
    use crate::oidc_login::{DEV, sign_in_at_provider};
    use crate::oidc_provider::OidcProvider;
    use crate::rp::{
        Browser, ProviderEntry, Session, callback, callback_url, expect_refused, get_with_cookie,
        home_url, local_target, start_login, start_rp_instance,
    };

    let deployment = Deployment::new("cluster-oidc");
    let (port_a, port_b) = (crate::common::free_port(), crate::common::free_port());
    // The provider knows one callback URL: the deployment's (here A's port).
    let provider = OidcProvider::start_for_web(&callback_url(port_a, DEV), &home_url(port_a));
    let entries = [ProviderEntry {
        name: DEV,
        issuer: provider.issuer(),
    }];
    let env = deployment.env();
    let (dir_a, dir_b) = (deployment.dir("a"), deployment.dir("b"));
    let a = start_rp_instance(&dir_a, port_a, port_a, &entries, &env.pairs());
    let b = start_rp_instance(&dir_b, port_b, port_a, &entries, &env.pairs());

    let start = start_login(
        a.api(),
        DEV,
        Some("next=%2Fapi%2Fprivate"),
        &format!("{}/auth", provider.issuer()),
    )
    .await;
    let mut browser = Browser::new();
    let back = sign_in_at_provider(
        &mut browser,
        &start.url,
        "alice",
        &callback_url(port_a, DEV),
    )
    .await;
    let query = back.query().expect("a query").to_owned();

    // The load balancer sends the callback to B.
    let resp = callback(b.api(), DEV, &query, Some(&start.cookie_header()), None).await;
    assert_eq!(local_target(b.api(), &resp), "/api/private");
    let session = Session::from(&resp);
    for server in [&a, &b] {
        get_with_cookie(server.api(), "/api/private", &session.access.pair())
            .await
            .expect(200);
    }
    for (name, server) in [("A", &a), ("B", &b)] {
        let replay = callback(
            server.api(),
            DEV,
            &query,
            Some(&start.cookie_header()),
            None,
        )
        .await;
        expect_refused(
            replay,
            "invalid_request",
            &format!("the callback replayed on {name}"),
        );
    }
}
