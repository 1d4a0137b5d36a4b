//! The admin commands, run while the service runs on the same data directory.

use crate::common::{Server, TestDir, cli, eventually};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn user_add_list_and_grant() {
    let dir = TestDir::new("cli-user");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();

    let run = cli(
        &dir,
        &["user", "add", "victor", "--scope", "read:messages"],
        &format!("{PASSWORD}\n"),
    )
    .expect_success();
    assert!(run.stdout.contains("victor"), "{run:?}");
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));

    // The password came from standard input, without its newline.
    let login = api.login_ok("victor", PASSWORD).await;
    api.get_bearer("/api/private-scoped", &login.access)
        .await
        .expect(200);

    let list = cli(&dir, &["user", "list"], "").expect_success();
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains("victor"))
        .unwrap_or_else(|| panic!("victor not listed: {list:?}"));
    assert!(line.contains("read:messages"), "{line}");
    assert!(!list.stdout.contains("argon2"), "no hashes: {list:?}");

    cli(&dir, &["user", "grant", "victor", "write:messages"], "").expect_success();
    let list = cli(&dir, &["user", "list"], "").expect_success();
    assert!(list.stdout.contains("write:messages"), "{list:?}");
    let login = api.login_ok("victor", PASSWORD).await;
    let me = api
        .get_bearer("/auth/me", &login.access)
        .await
        .expect(200)
        .json();
    assert_eq!(
        me["scopes"],
        serde_json::json!(["read:messages", "write:messages"]),
        "{me}"
    );

    // A user added from the CLI is a user like any other.
    api.register("VICTOR", PASSWORD)
        .await
        .expect_error(409, "username_taken");

    let run = cli(&dir, &["user", "grant", "nobody", "read:messages"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("nobody"), "{run:?}");
}

/// Exit codes: 1 is "a token was refused"; anything else that fails is 2.
#[tokio::test]
async fn user_add_of_a_taken_name_exits_2_with_a_message() {
    let dir = TestDir::new("cli-user-taken");
    cli(&dir, &["user", "add", "wendy"], PASSWORD).expect_success();
    for name in ["wendy", "WENDY"] {
        let run = cli(&dir, &["user", "add", name], PASSWORD);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("taken") || run.stderr.contains("exists"),
            "{run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    // Invalid input is a usage error too.
    for (name, password) in [("wendy2", "short"), ("no spaces allowed", PASSWORD)] {
        let run = cli(&dir, &["user", "add", name], password);
        assert_eq!(run.code, 2, "{name}: {run:?}");
    }
    let list = cli(&dir, &["user", "list"], "").expect_success();
    assert_eq!(list.stdout.lines().count(), 1, "{list:?}");
}

#[tokio::test]
async fn revoke_user_reaches_the_running_service() {
    let dir = TestDir::new("cli-revoke");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    api.register_ok("xavier", PASSWORD).await;
    api.register_ok("yvonne", PASSWORD).await;
    let before = api.login_ok("xavier", PASSWORD).await;
    let bystander = api.login_ok("yvonne", PASSWORD).await;
    api.assert_valid(&before.access).await;

    let run = cli(&dir, &["revoke", "--user", "xavier"], "").expect_success();
    assert!(run.stdout.contains("xavier"), "{run:?}");

    let api_ref = &api;
    let token = &before.access;
    eventually(
        "the running service honours the CLI's revocation",
        || async move { api_ref.private(token).await.status == 401 },
    )
    .await;
    api.assert_refused(&before.access, "token_revoked").await;
    api.refresh(&before.refresh)
        .await
        .expect_token_error("token_revoked");
    // Only earlier tokens, only that user.
    let after = api.login_ok("xavier", PASSWORD).await;
    api.assert_valid(&after.access).await;
    api.assert_valid(&bystander.access).await;

    let run = cli(&dir, &["revoke", "--user", "nobody"], "");
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn keys_list_shows_the_signing_key() {
    let dir = TestDir::new("cli-keys");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    let jwks = api.get("/.well-known/jwks.json").await.expect(200).json();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let alg = jwks["keys"][0]["alg"].as_str().unwrap().to_owned();

    let run = cli(&dir, &["keys", "list"], "").expect_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(lines[0].contains(&kid), "{run:?}");
    assert!(lines[0].contains(&alg), "{run:?}");
    assert!(lines[0].contains("signing"), "{run:?}");
    assert!(!run.stdout.contains("PRIVATE"), "{run:?}");

    let rotate = cli(&dir, &["keys", "rotate"], "").expect_success();
    let run = cli(&dir, &["keys", "list"], "").expect_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].contains(&kid) && lines[0].contains("verifying"),
        "{run:?}"
    );
    assert!(lines[1].contains("signing"), "{run:?}");
    let new_kid = lines[1].split('\t').next().unwrap();
    assert!(rotate.stdout.contains(new_kid), "{rotate:?}");
}
