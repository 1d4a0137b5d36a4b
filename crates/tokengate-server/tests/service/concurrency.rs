//! Races the database must decide: one registration of a name, one
//! rotation of a refresh token.

use tokio::task::JoinSet;

use crate::common::{Server, TestDir};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_name_create_one_user() {
    let dir = TestDir::new("race-register");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();

    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let api = api.clone();
        // The same name, in three spellings: unique case-insensitively.
        let name = ["racer", "Racer", "RACER"][i % 3];
        tasks.spawn(async move { api.register(name, &format!("{PASSWORD} {i}")).await });
    }
    let (mut created, mut taken) = (Vec::new(), 0);
    while let Some(resp) = tasks.join_next().await {
        let resp = resp.unwrap();
        match resp.status {
            201 => created.push(resp.json()),
            _ => {
                resp.expect_error(409, "username_taken");
                taken += 1;
            }
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(taken, 49);

    let run = crate::common::cli(&dir, &["user", "list"], "").expect_success();
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.to_lowercase().contains("racer"))
        .collect();
    assert_eq!(lines.len(), 1, "{run:?}");
}

#[tokio::test]
async fn twenty_concurrent_refreshes_of_one_token_one_wins() {
    let dir = TestDir::new("race-refresh");
    let server = Server::start(&dir, &[]);
    let api = server.api().clone();
    api.register_ok("tess", PASSWORD).await;
    let login = api.login_ok("tess", PASSWORD).await;
    let bystander = api.login_ok("tess", PASSWORD).await;

    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (api, refresh) = (api.clone(), login.refresh.clone());
        tasks.spawn(async move { api.refresh(&refresh).await });
    }
    let mut winners = Vec::new();
    while let Some(resp) = tasks.join_next().await {
        let resp = resp.unwrap();
        if resp.status == 200 {
            winners.push(crate::common::pair(&resp.json()));
        } else {
            resp.expect_token_error("token_revoked");
        }
    }
    // The first compare-and-swap always succeeds: a reuse (which
    // revokes the login) can only follow it.
    assert_eq!(winners.len(), 1, "{} refreshes succeeded", winners.len());

    // The others were reuse: the whole login is revoked, the winner's new
    // tokens included.
    api.assert_refused(&login.access, "token_revoked").await;
    for winner in &winners {
        api.assert_refused(&winner.access, "token_revoked").await;
        api.refresh(&winner.refresh)
            .await
            .expect_token_error("token_revoked");
    }
    // Another login is untouched.
    api.assert_valid(&bystander.access).await;
}
