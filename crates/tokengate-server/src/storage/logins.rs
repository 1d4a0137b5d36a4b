//! Logins (refresh-token families) in the database; rotation is one atomic UPDATE.

use tokengate::clock::Timestamp;
use tokengate::ids::{LoginId, Subject, TokenId};
use tokengate::login::{LoginStore, Rotation};
use tokengate::revocation::{BoxFuture, StoreError};

use super::{Database, with_pool};

/// The [`LoginStore`] of the service (table `refresh_families`; expiry in seconds).
#[derive(Debug, Clone)]
pub(crate) struct SqlLogins {
    db: Database,
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
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError::new(e)
}

impl LoginStore for SqlLogins {
    fn start<'a>(
        &'a self,
        login: &'a LoginId,
        subject: &'a Subject,
        refresh: &'a TokenId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            with_pool!(self.db, pool => sqlx::query("INSERT INTO refresh_families (id, sub, current_jti, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(login.as_str())
                .bind(subject.as_str())
                .bind(refresh.as_str())
                .bind(expires_at.as_secs())
                .execute(pool)
                .await
                .map(|_| ()))
                .map_err(store_error)
        })
    }

    fn rotate<'a>(
        &'a self,
        login: &'a LoginId,
        presented: &'a TokenId,
        next: &'a TokenId,
        expires_at: Timestamp,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(async move {
            // Compare-and-swap: of two concurrent rotations of one token, one matches.
            let rotated = with_pool!(self.db, pool => sqlx::query(
                "UPDATE refresh_families SET current_jti = $1, expires_at = $2 \
                 WHERE id = $3 AND current_jti = $4 AND ended = 0",
            )
            .bind(next.as_str())
            .bind(expires_at.as_secs())
            .bind(login.as_str())
            .bind(presented.as_str())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .map_err(store_error)?;
            if rotated == 1 {
                return Ok(Rotation::Rotated);
            }
            let ended = with_pool!(self.db, pool => sqlx::query("UPDATE refresh_families SET ended = 1 WHERE id = $1 AND ended = 0")
                    .bind(login.as_str())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::on_both_backends;

    on_both_backends!(
        rotation_and_reuse,
        concurrent_rotations_of_one_token_at_most_one_wins
    );

    const NEVER: Timestamp = Timestamp::from_secs(i64::MAX / 1000);

    async fn rotation_and_reuse(db: Database) {
        let store = SqlLogins::new(db);
        let login = LoginId::from("f");
        let [r1, r2, r3, r4] = ["r1", "r2", "r3", "r4"].map(TokenId::from);
        store
            .start(&login, &Subject::from("1"), &r1, NEVER)
            .await
            .unwrap();
        assert_eq!(
            store.rotate(&login, &r1, &r2, NEVER).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate(&login, &r1, &r3, NEVER).await.unwrap(),
            Rotation::Reused
        );
        assert_eq!(
            store.rotate(&login, &r2, &r4, NEVER).await.unwrap(),
            Rotation::Ended
        );
        let epoch = Timestamp::from_secs(0);
        let (nope, r, s) = (
            LoginId::from("nope"),
            TokenId::from("r"),
            TokenId::from("s"),
        );
        assert_eq!(
            store.rotate(&nope, &r, &s, epoch).await.unwrap(),
            Rotation::Ended
        );
    }

    async fn concurrent_rotations_of_one_token_at_most_one_wins(db: Database) {
        let store = std::sync::Arc::new(SqlLogins::new(db));
        let (login, r1) = (LoginId::from("f"), TokenId::from("r1"));
        store
            .start(&login, &Subject::from("1"), &r1, NEVER)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (store, login, r1) = (store.clone(), login.clone(), r1.clone());
                tokio::spawn(async move {
                    let next = TokenId::from(format!("n{i}"));
                    store.rotate(&login, &r1, &next, NEVER).await.unwrap()
                })
            })
            .collect();
        let mut rotated = 0;
        for t in tasks {
            if t.await.unwrap() == Rotation::Rotated {
                rotated += 1;
            }
        }
        assert_eq!(rotated, 1);
    }
}
