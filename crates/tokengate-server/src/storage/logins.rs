//! Logins (refresh-token families) in the database: rotation is one atomic
//! UPDATE, and the sessions list reads the same rows.

use std::net::IpAddr;

use tokengate::clock::Timestamp;
use tokengate::ids::{LoginId, Subject};
use tokengate::login::{
    LoginDetails, LoginMethod, LoginStore, NewLogin, RefreshUse, Rotation, Session,
};
use tokengate::revocation::{BoxFuture, StoreError};

use super::{Database, with_pool};

/// The [`LoginStore`] of the service (table `refresh_families`; `expires_at`
/// in seconds, the other times in milliseconds).
#[derive(Debug, Clone)]
pub(crate) struct SqlLogins {
    db: Database,
}

/// A row of `refresh_families` as the sessions list reads it.
type SessionRow = (
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The columns of a [`SessionRow`], for `concat!` (sqlx takes only literal SQL).
macro_rules! session_columns {
    () => {
        "id, created_at, last_used_at, expires_at, method, provider, user_agent, ip"
    };
}

fn session((id, created, used, expires, method, provider, user_agent, ip): SessionRow) -> Session {
    let mut details = LoginDetails::new(LoginMethod::from_parts(&method, provider));
    details.user_agent = user_agent;
    // Written from an IpAddr: a row that does not parse has no address.
    details.ip = ip.and_then(|ip| ip.parse::<IpAddr>().ok());
    Session::new(
        LoginId::from(id),
        Timestamp::from_millis(created),
        Timestamp::from_millis(used),
        Timestamp::from_secs(expires),
        details,
    )
}

impl SqlLogins {
    /// Logins in `db`.
    pub(crate) fn new(db: Database) -> Self {
        SqlLogins { db }
    }

    /// Deletes logins whose last refresh token expired before `now` (seconds).
    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = with_pool!(self.db, pool => sqlx::query("DELETE FROM refresh_families WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?.rows_affected());
        Ok(done)
    }

    /// A live login by id and whose it is: for the admin command that ends
    /// one without knowing its user.
    pub(crate) async fn live_session(
        &self,
        login: &LoginId,
        now: Timestamp,
    ) -> Result<Option<(Subject, Session)>, sqlx::Error> {
        let sql = concat!(
            "SELECT sub, ",
            session_columns!(),
            " FROM refresh_families WHERE id = $1 AND ended = 0 AND expires_at > $2"
        );
        let row = with_pool!(self.db, pool => sqlx::query_as::<_, (String, String, i64, i64, i64, String, Option<String>, Option<String>, Option<String>)>(sql)
            .bind(login.as_str())
            .bind(now.as_secs())
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(sub, id, c, u, e, m, p, a, i)| {
            (Subject::from(sub), session((id, c, u, e, m, p, a, i)))
        }))
    }
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError::new(e)
}

impl LoginStore for SqlLogins {
    fn start<'a>(&'a self, login: &'a NewLogin) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let details = &login.details;
            let created = login.created_at.as_millis();
            with_pool!(self.db, pool => sqlx::query(
                "INSERT INTO refresh_families \
                 (id, sub, current_jti, expires_at, created_at, last_used_at, method, provider, user_agent, ip) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
            )
                .bind(login.id.as_str())
                .bind(login.subject.as_str())
                .bind(login.refresh.as_str())
                .bind(login.expires_at.as_secs())
                .bind(created)
                .bind(details.method.as_str())
                .bind(details.method.provider())
                .bind(details.user_agent.as_deref())
                .bind(details.ip.map(|ip| ip.to_string()))
                .execute(pool)
                .await
                .map(|_| ()))
                .map_err(store_error)
        })
    }

    fn rotate<'a>(
        &'a self,
        refresh: &'a RefreshUse,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(async move {
            let (now_ms, now_secs) = (refresh.now.as_millis(), refresh.now.as_secs());
            let expires_at = refresh.expires_at.as_secs();
            // Compare-and-swap: of two concurrent rotations of one token, one matches.
            let rotated = with_pool!(self.db, pool => sqlx::query(
                "UPDATE refresh_families SET previous_jti = current_jti, current_jti = $1, \
                 expires_at = $2, rotated_at = $3, last_used_at = $3 \
                 WHERE id = $4 AND current_jti = $5 AND ended = 0 AND expires_at > $6",
            )
            .bind(refresh.next.as_str())
            .bind(expires_at)
            .bind(now_ms)
            .bind(refresh.login.as_str())
            .bind(refresh.presented.as_str())
            .bind(now_secs)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .map_err(store_error)?;
            if rotated == 1 {
                return Ok(Rotation::Rotated);
            }
            let interval = i64::try_from(refresh.reuse_interval.as_millis()).unwrap_or(i64::MAX);
            if interval > 0 {
                // The token spent last, within the interval of its first
                // use (as RefreshUse::within_reuse_interval; a first use
                // later than `now` is a racer that read its clock first):
                // the current one is issued again. One statement, so a concurrent
                // rotation either came before (the presented token is no
                // longer the last spent: reuse) or after.
                let current = with_pool!(self.db, pool => sqlx::query_as::<_, (String,)>(
                    "UPDATE refresh_families SET last_used_at = $1, \
                     expires_at = CASE WHEN expires_at < $2 THEN $2 ELSE expires_at END \
                     WHERE id = $3 AND previous_jti = $4 AND ended = 0 AND expires_at > $5 \
                     AND rotated_at > $1 - $6 \
                     RETURNING current_jti",
                )
                .bind(now_ms)
                .bind(expires_at)
                .bind(refresh.login.as_str())
                .bind(refresh.presented.as_str())
                .bind(now_secs)
                .bind(interval)
                .fetch_optional(pool)
                .await)
                .map_err(store_error)?;
                if let Some((current,)) = current {
                    return Ok(Rotation::Repeated {
                        current: current.into(),
                    });
                }
            }
            let ended = with_pool!(self.db, pool => sqlx::query(
                "UPDATE refresh_families SET ended = 1 WHERE id = $1 AND ended = 0 AND expires_at > $2",
            )
                    .bind(refresh.login.as_str())
                    .bind(now_secs)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected()))
                    .map_err(store_error)?;
            Ok(if ended == 1 {
                Rotation::Reused
            } else {
                Rotation::Ended
            })
        })
    }

    fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            with_pool!(self.db, pool => sqlx::query("UPDATE refresh_families SET ended = 1 WHERE id = $1")
                .bind(login.as_str())
                .execute(pool)
                .await
                .map(|_| ()))
                .map_err(store_error)
        })
    }

    fn sessions<'a>(
        &'a self,
        subject: &'a Subject,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>> {
        Box::pin(async move {
            let sql = concat!(
                "SELECT ",
                session_columns!(),
                " FROM refresh_families WHERE sub = $1 AND ended = 0 AND expires_at > $2 \
                 ORDER BY created_at DESC, id DESC"
            );
            let rows = with_pool!(self.db, pool => sqlx::query_as::<_, SessionRow>(sql)
                .bind(subject.as_str())
                .bind(now.as_secs())
                .fetch_all(pool)
                .await)
            .map_err(store_error)?;
            Ok(rows.into_iter().map(session).collect())
        })
    }

    fn end_session<'a>(
        &'a self,
        subject: &'a Subject,
        login: &'a LoginId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let ended = with_pool!(self.db, pool => sqlx::query(
                "UPDATE refresh_families SET ended = 1 \
                 WHERE id = $1 AND sub = $2 AND ended = 0 AND expires_at > $3",
            )
            .bind(login.as_str())
            .bind(subject.as_str())
            .bind(now.as_secs())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .map_err(store_error)?;
            Ok(ended == 1)
        })
    }

    fn end_sessions<'a>(
        &'a self,
        subject: &'a Subject,
        keep: Option<&'a LoginId>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LoginId>, StoreError>> {
        Box::pin(async move {
            let ended = with_pool!(self.db, pool => sqlx::query_as::<_, (String,)>(
                "UPDATE refresh_families SET ended = 1 \
                 WHERE sub = $1 AND ended = 0 AND expires_at > $2 AND created_at <= $3 \
                 AND id <> $4 RETURNING id",
            )
            .bind(subject.as_str())
            .bind(now.as_secs())
            .bind(now.as_millis())
            // No login has an empty id.
            .bind(keep.map_or("", |login| login.as_str()))
            .fetch_all(pool)
            .await)
            .map_err(store_error)?;
            Ok(ended.into_iter().map(|(id,)| LoginId::from(id)).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::storage::on_both_backends;

    on_both_backends!(
        rotation_and_reuse,
        concurrent_rotations_of_one_token_at_most_one_wins,
        within_the_reuse_interval_every_concurrent_reuse_gets_the_current_token,
        after_the_reuse_interval_reuse_ends_the_login,
        sessions_list_and_end
    );

    const NEVER: Timestamp = Timestamp::from_secs(i64::MAX / 1000);

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    async fn start(store: &SqlLogins, id: &str, sub: &str, now: i64, details: LoginDetails) {
        let login = NewLogin::new(id.into(), sub.into(), "r1".into(), NEVER, at(now));
        store.start(&login.details(details)).await.unwrap();
    }

    fn spend(login: &str, presented: &str, next: &str, now: i64) -> RefreshUse {
        RefreshUse::new(login.into(), presented.into(), next.into(), NEVER, at(now))
    }

    async fn rotation_and_reuse(db: Database) {
        let store = SqlLogins::new(db);
        start(&store, "f", "1", 0, LoginDetails::default()).await;
        let rotate = |p, n| store.rotate_owned(spend("f", p, n, 1_000));
        assert_eq!(rotate("r1", "r2").await, Rotation::Rotated);
        assert_eq!(rotate("r1", "r3").await, Rotation::Reused);
        assert_eq!(rotate("r2", "r4").await, Rotation::Ended);
        assert_eq!(
            store.rotate_owned(spend("nope", "r", "s", 0)).await,
            Rotation::Ended
        );
    }

    async fn concurrent_rotations_of_one_token_at_most_one_wins(db: Database) {
        let store = Arc::new(SqlLogins::new(db));
        start(&store, "f", "1", 0, LoginDetails::default()).await;
        let outcomes = race(&store, Duration::ZERO).await;
        assert_eq!(
            outcomes.iter().filter(|o| **o == Rotation::Rotated).count(),
            1
        );
        // With no reuse interval the losers are reuse: the login ends.
        assert!(outcomes.contains(&Rotation::Reused));
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Rotation::Rotated | Rotation::Reused | Rotation::Ended))
        );
        assert!(
            store
                .sessions(&"1".into(), at(2_000))
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn within_the_reuse_interval_every_concurrent_reuse_gets_the_current_token(db: Database) {
        let store = Arc::new(SqlLogins::new(db));
        start(&store, "f", "1", 0, LoginDetails::default()).await;
        let outcomes = race(&store, Duration::from_secs(30)).await;
        let rotated = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
        assert_eq!(rotated, 1, "{outcomes:?}");
        let winner = match store.live_session(&"f".into(), at(2_000)).await.unwrap() {
            Some(_) => current_jti(&store, "f").await,
            None => panic!("the login ended: {outcomes:?}"),
        };
        for outcome in outcomes.iter().filter(|o| **o != Rotation::Rotated) {
            assert_eq!(
                *outcome,
                Rotation::Repeated {
                    current: winner.clone().into()
                }
            );
        }
    }

    async fn after_the_reuse_interval_reuse_ends_the_login(db: Database) {
        let store = SqlLogins::new(db);
        start(&store, "f", "1", 0, LoginDetails::default()).await;
        let rotate = |p, n, now| {
            store.rotate_owned(spend("f", p, n, now).reuse_interval(Duration::from_secs(2)))
        };
        assert_eq!(rotate("r1", "r2", 1_000).await, Rotation::Rotated);
        let repeated = Rotation::Repeated {
            current: "r2".into(),
        };
        // A racer that read its clock before the winner did.
        assert_eq!(rotate("r1", "x", 999).await, repeated);
        assert_eq!(rotate("r1", "x", 2_999).await, repeated);
        assert_eq!(rotate("r2", "r3", 3_000).await, Rotation::Rotated);
        // r1 is two tokens back now: reuse, whatever the interval.
        assert_eq!(rotate("r1", "x", 3_001).await, Rotation::Reused);

        start(&store, "g", "1", 0, LoginDetails::default()).await;
        let rotate = |p, n, now| {
            store.rotate_owned(spend("g", p, n, now).reuse_interval(Duration::from_secs(2)))
        };
        assert_eq!(rotate("r1", "r2", 1_000).await, Rotation::Rotated);
        assert_eq!(rotate("r1", "x", 3_000).await, Rotation::Reused);
        assert_eq!(rotate("r2", "r3", 3_001).await, Rotation::Ended);
    }

    async fn sessions_list_and_end(db: Database) {
        let store = SqlLogins::new(db);
        let browser = LoginDetails::new(LoginMethod::Password)
            .user_agent("Mozilla/5.0")
            .ip("2001:db8::7".parse().unwrap());
        let keycloak = LoginDetails::new(LoginMethod::Oidc {
            provider: "keycloak".into(),
        });
        start(&store, "old", "1", 1_000, browser.clone()).await;
        start(&store, "new", "1", 2_000, keycloak.clone()).await;
        start(&store, "bob's", "2", 3_000, LoginDetails::default()).await;
        store.rotate_owned(spend("old", "r1", "r2", 5_000)).await;
        let sessions = store.sessions(&"1".into(), at(6_000)).await.unwrap();
        assert_eq!(sessions.len(), 2);
        let (new, old) = (&sessions[0], &sessions[1]);
        assert_eq!((new.id.as_str(), old.id.as_str()), ("new", "old"));
        assert_eq!((&new.details, &old.details), (&keycloak, &browser));
        assert_eq!((old.created_at, old.last_used_at), (at(1_000), at(5_000)));
        assert_eq!((new.created_at, new.last_used_at), (at(2_000), at(2_000)));
        assert_eq!(new.expires_at, NEVER);

        let alice = Subject::from("1");
        assert!(
            !store
                .end_session(&alice, &"bob's".into(), at(6_000))
                .await
                .unwrap()
        );
        assert!(
            !store
                .end_session(&alice, &"unknown".into(), at(6_000))
                .await
                .unwrap()
        );
        let (owner, session) = store
            .live_session(&"old".into(), at(6_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((owner.as_str(), session.id.as_str()), ("1", "old"));
        assert!(
            store
                .end_session(&alice, &"old".into(), at(6_000))
                .await
                .unwrap()
        );
        assert!(
            !store
                .end_session(&alice, &"old".into(), at(6_000))
                .await
                .unwrap()
        );
        assert!(
            store
                .live_session(&"old".into(), at(6_000))
                .await
                .unwrap()
                .is_none()
        );
        // An ended login's refresh token is refused.
        assert_eq!(
            store.rotate_owned(spend("old", "r2", "r3", 6_000)).await,
            Rotation::Ended
        );

        start(&store, "third", "1", 7_000, LoginDetails::default()).await;
        // Started after the cut-off (another instance, a clock ahead): kept.
        start(&store, "later", "1", 9_000, LoginDetails::default()).await;
        let keep = LoginId::from("third");
        let ended = store
            .end_sessions(&alice, Some(&keep), at(8_000))
            .await
            .unwrap();
        assert_eq!(ended, [LoginId::from("new")]);
        let left = store.sessions(&alice, at(8_000)).await.unwrap();
        assert_eq!(
            left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["later", "third"]
        );
        assert_eq!(
            store.sessions(&"2".into(), at(8_000)).await.unwrap().len(),
            1
        );
        // Expired logins are not sessions.
        assert!(store.sessions(&alice, NEVER).await.unwrap().is_empty());
    }

    /// Twenty concurrent refreshes with the login's first token.
    async fn race(store: &Arc<SqlLogins>, interval: Duration) -> Vec<Rotation> {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let next = format!("n{i}");
                    store
                        .rotate_owned(spend("f", "r1", &next, 1_000).reuse_interval(interval))
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    async fn current_jti(store: &SqlLogins, login: &str) -> String {
        with_pool!(store.db, pool => sqlx::query_as::<_, (String,)>("SELECT current_jti FROM refresh_families WHERE id = $1")
            .bind(login)
            .fetch_one(pool)
            .await)
        .unwrap()
        .0
    }

    impl SqlLogins {
        async fn rotate_owned(&self, refresh: RefreshUse) -> Rotation {
            self.rotate(&refresh).await.unwrap()
        }
    }
}
