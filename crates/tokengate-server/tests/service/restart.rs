//! A restart on the same data directory keeps users, keys, refresh-token
//! families and revocations; SIGTERM is a clean exit.

use crate::common::{Server, TestDir, cli, eventually, jwt_part};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_restart_keeps_users_keys_logins_and_revocations() {
    let dir = TestDir::new("restart");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();

    api.register_ok("uma", PASSWORD).await;
    let rotated = api.login_ok("uma", PASSWORD).await;
    let logged_out = api.login_ok("uma", PASSWORD).await;
    let kept = api.login_ok("uma", PASSWORD).await;
    // `rotated.refresh` is spent here.
    let after_rotation = api.refresh_ok(&rotated.refresh).await;
    api.post_bearer("/auth/logout", &logged_out.access, None)
        .await
        .expect(200);
    let old_kid = jwt_part(&rotated.access, 0)["kid"].clone();

    // Rotate the signing key with the CLI while the service runs.
    assert_eq!(api.jwks_len().await, 1);
    let run = cli(&dir, &["keys", "rotate"], "").expect_success();
    assert!(!run.stdout.is_empty(), "{run:?}");
    eventually("the running service serves both keys", || async {
        api.jwks_len().await == 2
    })
    .await;
    // New tokens are signed with the new key; old ones still verify.
    let new_key = api.login_ok("uma", PASSWORD).await;
    assert_ne!(jwt_part(&new_key.access, 0)["kid"], old_kid);
    api.assert_valid(&new_key.access).await;
    api.assert_valid(&rotated.access).await;

    let status = server.terminate();
    assert!(status.success(), "SIGTERM must be a clean exit: {status:?}");

    let server = Server::start(&dir, &[]);
    let api = server.api().clone();

    // Users.
    api.login_ok("uma", PASSWORD).await;
    api.login("uma", "wrong password")
        .await
        .expect_error(401, "invalid_credentials");
    api.register("uma", PASSWORD)
        .await
        .expect_error(409, "username_taken");
    // Keys: both served, tokens of either still valid.
    assert_eq!(api.jwks_len().await, 2);
    for access in [
        &rotated.access,
        &after_rotation.access,
        &kept.access,
        &new_key.access,
    ] {
        api.assert_valid(access).await;
    }
    let keys = cli(&dir, &["keys", "list"], "").expect_success();
    assert_eq!(keys.stdout.lines().count(), 2, "{keys:?}");
    // Revocations.
    api.assert_refused(&logged_out.access, "token_revoked")
        .await;
    api.refresh(&logged_out.refresh)
        .await
        .expect_token_error("token_revoked");
    // Refresh families: the current refresh token rotates...
    let kept_next = api.refresh_ok(&kept.refresh).await;
    api.assert_valid(&kept_next.access).await;
    let continued = api.refresh_ok(&after_rotation.refresh).await;
    // ...and the one spent before the restart is reuse: its login ends.
    api.refresh(&rotated.refresh)
        .await
        .expect_token_error("token_revoked");
    for access in [&rotated.access, &after_rotation.access, &continued.access] {
        api.assert_refused(access, "token_revoked").await;
    }
    api.refresh(&continued.refresh)
        .await
        .expect_token_error("token_revoked");
    // Other logins are untouched.
    api.assert_valid(&kept_next.access).await;

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

/// Revocations recorded in the database beside those of a real logout.
const MANY: u32 = 200_000;

/// A restart reads the revocations in the background: from its first
/// answer on, a revoked token is refused and a good one accepted (while
/// the set loads, each token is looked up in the database), and `/readyz`
/// says ready once every row is read.
#[tokio::test]
async fn a_restart_with_many_revocations_is_exact_while_it_reads_them() {
    let dir = TestDir::new("restart-many");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    api.register_ok("rita", PASSWORD).await;
    let out = api.login_ok("rita", PASSWORD).await;
    let kept = api.login_ok("rita", PASSWORD).await;
    api.post_bearer("/auth/logout", &out.access, None)
        .await
        .expect(200);
    assert!(server.terminate().success());
    insert_revocations(&dir.database_url(), MANY).await;

    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    api.assert_refused(&out.access, "token_revoked").await;
    api.refresh(&out.refresh)
        .await
        .expect_token_error("token_revoked");
    api.assert_valid(&kept.access).await;
    eventually("/readyz says the revocations are read", || async {
        api.is_ready().await
    })
    .await;
    let ready = api.get("/readyz").await.expect(200).json();
    assert_eq!(ready["revocations"], "ok", "{ready}");
    // Lines reach the log in batches: the line may follow the readiness.
    eventually("the 'revocations loaded' line is written", || async {
        server.log().contains("revocations loaded")
    })
    .await;
    let log = server.log();
    let read: u32 = log
        .lines()
        .find_map(|l| {
            l.split_once("revocations loaded revocations=")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no 'revocations loaded' line in:\n{log}"));
    assert!(read > MANY, "{read} revocations read");
    api.assert_refused(&out.access, "token_revoked").await;
    api.assert_valid(&kept.access).await;
    assert!(server.terminate().success());
}

/// Writes `n` revocations of random token ids, unexpired, straight into
/// the database at `url`.
async fn insert_revocations(url: &str, n: u32) {
    // 2100-01-01: outlives the test.
    const LATER: i64 = 4_102_444_800;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO revocations (kind, value, before_ms, expires_at) \
             SELECT 'token', gen_random_uuid()::text, 0, $2 FROM generate_series(1, $1)",
        )
        .bind(n as i32)
        .bind(LATER)
        .execute(&pool)
        .await
        .unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO revocations (kind, value, before_ms, expires_at) \
             SELECT 'token', lower(hex(randomblob(16))), 0, $2 FROM n",
        )
        .bind(n)
        .bind(LATER)
        .execute(&pool)
        .await
        .unwrap();
    }
}
