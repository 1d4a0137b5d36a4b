//! OIDC logins in progress in the database, so that a login begun on one
//! instance can finish on another: a callback takes its row with one
//! `DELETE ... RETURNING`, so a state is spent exactly once across every
//! instance.

use tokengate::clock::{self, Timestamp};
use tokengate::oidc::{PendingLogin, PendingLoginStore};
use tokengate::revocation::{BoxFuture, StoreError};

use super::{Database, with_pool};

/// At most this many logins wait at once; past it the ones expiring first
/// go (a flood of login starts cannot grow the table without bound).
const CAPACITY: i64 = 10_000;

/// The [`PendingLoginStore`] of the service (table `oidc_pending_logins`).
#[derive(Debug, Clone)]
pub(crate) struct SqlPendingLogins {
    db: Database,
    capacity: i64,
}

impl SqlPendingLogins {
    /// Pending logins in `db`.
    pub(crate) fn new(db: Database) -> Self {
        SqlPendingLogins {
            db,
            capacity: CAPACITY,
        }
    }
}

impl PendingLoginStore for SqlPendingLogins {
    fn put<'a>(
        &'a self,
        state: &'a str,
        login: &'a PendingLogin,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = clock::now().as_millis();
            // Expired rows, and the oldest past the capacity, go first.
            // (An OFFSET without a LIMIT: SQLite spells it LIMIT -1.)
            let purge = if self.db.is_shared() {
                "DELETE FROM oidc_pending_logins WHERE expires_at <= $1 OR state IN \
                 (SELECT state FROM oidc_pending_logins ORDER BY expires_at DESC OFFSET $2)"
            } else {
                "DELETE FROM oidc_pending_logins WHERE expires_at <= $1 OR state IN \
                 (SELECT state FROM oidc_pending_logins ORDER BY expires_at DESC LIMIT -1 OFFSET $2)"
            };
            with_pool!(self.db, pool => sqlx::query(purge)
            .bind(now)
            .bind(self.capacity - 1)
            .execute(pool)
            .await
            .map(|_| ()))
            .map_err(StoreError::new)?;
            with_pool!(self.db, pool => sqlx::query(
                "INSERT INTO oidc_pending_logins (state, data, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(state)
            .bind(login.to_stored().as_str())
            .bind(login.expires_at().as_millis())
            .execute(pool)
            .await
            .map(|_| ()))
            .map_err(StoreError::new)
        })
    }

    fn take<'a>(
        &'a self,
        state: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingLogin>, StoreError>> {
        Box::pin(async move {
            let row: Option<(String, i64)> = with_pool!(self.db, pool => sqlx::query_as(
                "DELETE FROM oidc_pending_logins WHERE state = $1 RETURNING data, expires_at",
            )
            .bind(state)
            .fetch_optional(pool)
            .await)
            .map_err(StoreError::new)?;
            Ok(row.and_then(|(data, expires_at)| {
                let data = zeroize::Zeroizing::new(data);
                (Timestamp::from_millis(expires_at) > clock::now())
                    .then(|| PendingLogin::from_stored(&data))
                    .flatten()
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::on_both_backends;

    on_both_backends!(taken_once_never_expired, the_oldest_go_past_the_capacity);

    /// A login expiring at `expires_at_ms`, as the library stores it.
    fn login(expires_at_ms: i64) -> PendingLogin {
        PendingLogin::from_stored(&format!(
            r#"{{"provider":"dev","nonce":"n","pkce_verifier":"v","next":"/memos","browser_binding":"b","expires_at_ms":{expires_at_ms}}}"#
        ))
        .expect("a stored login")
    }

    fn in_minutes(minutes: i64) -> i64 {
        clock::now().as_millis() + minutes * 60_000
    }

    async fn taken_once_never_expired(db: Database) {
        let store = SqlPendingLogins::new(db);
        let at = in_minutes(10);
        store.put("s1", &login(at)).await.unwrap();
        store.put("old", &login(in_minutes(-1))).await.unwrap();
        let taken = store.take("s1").await.unwrap().expect("the login");
        assert_eq!(taken.expires_at().as_millis(), at);
        assert!(store.take("s1").await.unwrap().is_none(), "taken twice");
        assert!(store.take("old").await.unwrap().is_none(), "expired");
        assert!(store.take("unknown").await.unwrap().is_none());
        // The same state twice is refused: a state is random and used once.
        store.put("s2", &login(in_minutes(10))).await.unwrap();
        assert!(store.put("s2", &login(in_minutes(10))).await.is_err());
    }

    async fn the_oldest_go_past_the_capacity(db: Database) {
        let store = SqlPendingLogins {
            capacity: 3,
            ..SqlPendingLogins::new(db)
        };
        for (i, state) in ["a", "b", "c", "d"].into_iter().enumerate() {
            store
                .put(state, &login(in_minutes(10 + i as i64)))
                .await
                .unwrap();
        }
        assert!(store.take("a").await.unwrap().is_none(), "the oldest went");
        for state in ["b", "c", "d"] {
            assert!(store.take(state).await.unwrap().is_some(), "{state}");
        }
    }
}
