//! The admin commands, run while the service runs on the same data directory.

use crate::common::{Api, Server, TestDir, cli, cli_with_env, eventually};

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

/// An admin command pointed at the wrong place (another working directory,
/// a mistyped --data-dir) must say so, not answer from a new empty database.
#[tokio::test]
async fn admin_commands_refuse_a_missing_database_and_create_nothing() {
    let dir = TestDir::sqlite("cli-missing");
    for args in [
        &["user", "list"][..],
        &["user", "add", "victor"],
        &["user", "grant", "victor", "read:messages"],
        &["revoke", "--user", "victor"],
        &["keys", "list"],
    ] {
        let run = cli(&dir, args, &format!("{PASSWORD}\n"));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let expected = dir.data().join("tokengate.db");
        assert!(
            run.stderr
                .contains(&format!("no database at {}", expected.display())),
            "{args:?}: {run:?}"
        );
        assert!(run.stderr.contains("TOKENGATE_DATA_DIR"), "{run:?}");
        assert!(!dir.data().exists(), "{args:?} created {:?}", dir.data());
    }

    // Once the service has run there, the same commands work.
    let server = Server::start(&dir, &[]);
    cli(&dir, &["user", "add", "victor"], &format!("{PASSWORD}\n")).expect_success();
    server.api().login_ok("victor", PASSWORD).await;
}

/// A misspelt variable sets nothing, and says so: at start and in admin commands.
#[tokio::test]
async fn a_misspelt_variable_is_named_with_the_setting_it_resembles() {
    let dir = TestDir::new("cli-typo");
    let typo = [("TOKENGATE_ACESS_TOKEN_TTL", "1m")];
    let server = Server::start(&dir, &typo);
    let expected = "TOKENGATE_ACESS_TOKEN_TTL is not a setting and is ignored; \
                    did you mean TOKENGATE_ACCESS_TOKEN_TTL?";
    assert!(server.log().contains(expected), "{}", server.log());
    // Ignored indeed: tokens keep the default lifetime.
    let api = server.api().clone();
    api.register("tess", PASSWORD).await.expect(201);
    let login = api.login("tess", PASSWORD).await.expect(200).json();
    assert_eq!(login["expires_in"], 900, "{login}");

    let run = cli_with_env(&dir, &["user", "list"], "", &typo).expect_success();
    assert!(run.stderr.contains(expected), "{run:?}");
    assert!(run.stdout.contains("tess"), "{run:?}");
    let run = cli(&dir, &["user", "list"], "").expect_success();
    assert!(!run.stderr.contains("not a setting"), "{run:?}");
}

/// `config check`: each effective setting and where it came from, never a
/// secret; a bad setting exits 2 naming it. It creates nothing.
#[tokio::test]
async fn config_check_shows_each_setting_with_its_source_and_no_secret() {
    const SECRET: &str = "config-check-secret-never-shown-0123456789";
    let dir = TestDir::sqlite("cli-config-check");
    let root = dir.data().parent().unwrap().to_owned();
    let file = root.join("tokengate.toml");
    std::fs::write(&file, "access_token_ttl = \"5m\"\nexamples = false\n").unwrap();
    let file = file.to_str().unwrap();
    let env = [
        ("TOKENGATE_CONFIG", file),
        ("TOKENGATE_ALGORITHM", "HS256"),
        ("TOKENGATE_SECRET_KEY", SECRET),
    ];
    let run = cli_with_env(&dir, &["config", "check"], "", &env).expect_success();
    let line = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key}: {run:?}"))
            .to_owned()
    };
    assert!(line("access_token_ttl").contains("= 300s"), "{run:?}");
    assert!(
        line("access_token_ttl").ends_with(&format!("({file})")),
        "{run:?}"
    );
    assert!(line("examples").contains("= false"), "{run:?}");
    assert!(
        line("algorithm").ends_with("(environment variable TOKENGATE_ALGORITHM)"),
        "{run:?}"
    );
    assert!(line("secret_key").contains("[redacted]"), "{run:?}");
    assert!(line("refresh_token_ttl").ends_with("(default)"), "{run:?}");
    assert!(line("data_dir").ends_with("(--data-dir)"), "{run:?}");
    assert!(run.stdout.contains("the settings are valid"), "{run:?}");
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    assert!(
        !dir.data().exists(),
        "config check created the data directory"
    );

    let run = cli_with_env(
        &dir,
        &["config", "check"],
        "",
        &[("TOKENGATE_LEEWAY", "1h")],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("leeway"), "{run:?}");
}

/// Waits until the running service refuses `token` (the admin command's
/// revocation reaches it at its next poll).
async fn refused_soon(api: &Api, token: &str, what: &str) {
    eventually(what, || {
        let (api, token) = (api.clone(), token.to_owned());
        async move { api.get_bearer("/auth/me", &token).await.status == 401 }
    })
    .await;
}

/// Disable, enable, set-password, revoke-scope and remove: each takes
/// effect on the running service at once (the user's tokens are revoked).
#[tokio::test]
async fn disable_enable_set_password_revoke_scope_and_remove() {
    let dir = TestDir::new("cli-user-lifecycle");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    cli(
        &dir,
        &["user", "add", "wanda", "--scope", "read:messages"],
        &format!("{PASSWORD}\n"),
    )
    .expect_success();
    let login = api.login_ok("wanda", PASSWORD).await;

    // Disabled: the tokens go, and neither a login nor a refresh works.
    let run = cli(&dir, &["user", "disable", "wanda"], "").expect_success();
    assert!(run.stdout.contains("disabled wanda"), "{run:?}");
    refused_soon(&api, &login.access, "the disabled user's token is refused").await;
    api.login("wanda", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    api.refresh(&login.refresh).await.expect(401);
    let list = cli(&dir, &["user", "list"], "").expect_success();
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("wanda") && l.ends_with("\tdisabled")),
        "{list:?}"
    );

    cli(&dir, &["user", "enable", "wanda"], "").expect_success();
    let login = api.login_ok("wanda", PASSWORD).await;
    api.get_bearer("/api/private-scoped", &login.access)
        .await
        .expect(200);

    // A scope taken away: the tokens that carry it go at once.
    cli(
        &dir,
        &["user", "revoke-scope", "wanda", "read:messages"],
        "",
    )
    .expect_success();
    refused_soon(
        &api,
        &login.access,
        "the token with the taken scope is refused",
    )
    .await;
    let login = api.login_ok("wanda", PASSWORD).await;
    api.get_bearer("/api/private-scoped", &login.access)
        .await
        .expect_error(403, "insufficient_scope");

    // A new password from stdin: the old one and the old tokens stop working.
    const NEW: &str = "another long password";
    cli(
        &dir,
        &["user", "set-password", "wanda"],
        &format!("{NEW}\n"),
    )
    .expect_success();
    api.login("wanda", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    refused_soon(
        &api,
        &login.access,
        "the token from before the new password is refused",
    )
    .await;
    let login = api.login_ok("wanda", NEW).await;

    let run = cli(&dir, &["user", "remove", "wanda"], "").expect_success();
    assert!(run.stdout.contains("removed wanda"), "{run:?}");
    api.login("wanda", NEW)
        .await
        .expect_error(401, "invalid_credentials");
    refused_soon(&api, &login.access, "the removed user's token is refused").await;
    let list = cli(&dir, &["user", "list"], "").expect_success();
    assert!(!list.stdout.contains("wanda"), "{list:?}");
    // The name is free again.
    api.register("wanda", PASSWORD).await.expect(201);

    for args in [
        &["user", "disable", "nobody"][..],
        &["user", "remove", "nobody"],
        &["user", "revoke-scope", "nobody", "x"],
    ] {
        let run = cli(&dir, args, "");
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("no user named nobody"), "{run:?}");
    }
}

/// Shell completions and the man page come from the command's own
/// definition; `--listen` belongs to `serve` only.
#[tokio::test]
async fn completions_man_page_and_flags_where_they_act() {
    // These two take no settings: run without the harness's --data-dir.
    let bare = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(args)
            .output()
            .expect("run tokengate");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    for (shell, marker) in [
        ("bash", "_tokengate()"),
        ("zsh", "#compdef tokengate"),
        ("fish", "complete -c tokengate"),
    ] {
        let script = bare(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        // Every subcommand is completed.
        for sub in ["serve", "user", "revoke", "keys", "config", "token"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let man = bare(&["man"]);
    assert!(man.contains(".TH tokengate 1"), "{man}");
    assert!(man.contains("Exit codes"), "{man}");

    let dir = TestDir::sqlite("cli-completions");
    let run = cli(&dir, &["user", "list", "--listen", "127.0.0.1:1"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("unexpected argument '--listen'"),
        "{run:?}"
    );
    let help = cli(&dir, &["serve", "--help"], "").expect_success();
    assert!(help.stdout.contains("--listen"), "{help:?}");
}

/// Exit codes: 1 is "a token was refused"; anything else that fails is 2.
#[tokio::test]
async fn user_add_of_a_taken_name_exits_2_with_a_message() {
    let dir = TestDir::new("cli-user-taken");
    // The admin commands work on the service's database: it exists once
    // the service has run.
    let _server = Server::start(&dir, &[]);
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

#[tokio::test]
async fn keys_retire_stops_an_old_key_verifying_but_never_the_signing_key() {
    let dir = TestDir::new("cli-keys-retire");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    api.register_ok("alice", "a long password").await;
    let old = api.login_ok("alice", "a long password").await;
    let first = cli(&dir, &["keys", "list"], "").expect_success();
    let first_kid = first.stdout.split('\t').next().unwrap().to_owned();

    // The signing key, and a key that does not exist: exit 2, nothing changes.
    let refused = cli(&dir, &["keys", "retire", &first_kid], "");
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("signing key") && refused.stderr.contains("keys rotate"),
        "{refused:?}"
    );
    let unknown = cli(&dir, &["keys", "retire", "no-such-kid"], "");
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("no-such-kid"), "{unknown:?}");
    api.assert_valid(&old.access).await;

    cli(&dir, &["keys", "rotate"], "").expect_success();
    eventually("the service signs with the new key", || async {
        let pair = api.login_ok("alice", "a long password").await;
        crate::common::jwt_part(&pair.access, 0)["kid"] != first_kid.as_str()
    })
    .await;
    let new = api.login_ok("alice", "a long password").await;
    // Rotated: the old key still verifies its tokens.
    api.assert_valid(&old.access).await;

    let retired = cli(&dir, &["keys", "retire", &first_kid], "").expect_success();
    assert!(
        retired.stdout.contains(&first_kid) && retired.stdout.contains("refused"),
        "{retired:?}"
    );
    eventually("the old key's tokens are refused", || async {
        api.private(&old.access).await.status == 401
    })
    .await;
    api.assert_refused(&old.access, "invalid_token").await;
    api.assert_valid(&new.access).await;
    assert_eq!(api.jwks_len().await, 1);
    let after = cli(&dir, &["keys", "list"], "").expect_success();
    assert_eq!(after.stdout.lines().count(), 1, "{after:?}");
    assert!(!after.stdout.contains(&first_kid), "{after:?}");
}
