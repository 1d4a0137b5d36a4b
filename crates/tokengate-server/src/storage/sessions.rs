//! Logins (refresh-token families) in the database; rotation is one atomic UPDATE.

use tokengate::revocation::{BoxFuture, StoreError};
use tokengate::session::{Rotation, SessionStore};

use super::{Database, with_pool};

/// The [`SessionStore`] of the service.
#[derive(Debug, Clone)]
pub(crate) struct SqlSessions {
    db: Database,
}

impl SqlSessions {
    /// Families in `db`.
    pub(crate) fn new(db: Database) -> Self {
        SqlSessions { db }
    }

    /// Deletes families whose last refresh token expired before `now`.
    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = with_pool!(self.db, pool => sqlx::query("DELETE FROM refresh_families WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?.rows_affected());
        Ok(done)
    }
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

impl SessionStore for SqlSessions {
    fn start<'a>(
        &'a self,
        family: &'a str,
        sub: &'a str,
        jti: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            with_pool!(self.db, pool => sqlx::query("INSERT INTO refresh_families (id, sub, current_jti, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(family)
                .bind(sub)
                .bind(jti)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|_| ()))
                .map_err(store_error)
        })
    }

    fn rotate<'a>(
        &'a self,
        family: &'a str,
        presented: &'a str,
        next: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(async move {
            // Compare-and-swap: of two concurrent rotations of one token, one matches.
            let rotated = with_pool!(self.db, pool => sqlx::query(
                "UPDATE refresh_families SET current_jti = $1, expires_at = $2 \
                 WHERE id = $3 AND current_jti = $4 AND ended = 0",
            )
            .bind(next)
            .bind(expires_at)
            .bind(family)
            .bind(presented)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .map_err(store_error)?;
            if rotated == 1 {
                return Ok(Rotation::Rotated);
            }
            let ended = with_pool!(self.db, pool => sqlx::query("UPDATE refresh_families SET ended = 1 WHERE id = $1 AND ended = 0")
                    .bind(family)
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

    fn end<'a>(&'a self, family: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            with_pool!(self.db, pool => sqlx::query("UPDATE refresh_families SET ended = 1 WHERE id = $1")
                .bind(family)
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

    async fn rotation_and_reuse(db: Database) {
        let store = SqlSessions::new(db);
        store.start("f", "1", "r1", i64::MAX).await.unwrap();
        assert_eq!(
            store.rotate("f", "r1", "r2", i64::MAX).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate("f", "r1", "r3", i64::MAX).await.unwrap(),
            Rotation::Reused
        );
        assert_eq!(
            store.rotate("f", "r2", "r4", i64::MAX).await.unwrap(),
            Rotation::Ended
        );
        assert_eq!(
            store.rotate("nope", "r", "s", 0).await.unwrap(),
            Rotation::Ended
        );
    }

    async fn concurrent_rotations_of_one_token_at_most_one_wins(db: Database) {
        let store = std::sync::Arc::new(SqlSessions::new(db));
        store.start("f", "1", "r1", i64::MAX).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .rotate("f", "r1", &format!("n{i}"), i64::MAX)
                        .await
                        .unwrap()
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
