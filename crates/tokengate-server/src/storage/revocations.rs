//! Revocations: written to the database before the 200, held in memory for
//! the per-request check, and followed by id so that revocations written by
//! another process (the admin CLI, another instance) reach this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokengate::claims::Claims;
use tokengate::revocation::{
    BoxFuture, InMemoryRevocations, Revocation, RevocationStore, StoreError,
};

use super::Database;

/// The service's [`RevocationStore`]: the database behind an in-memory set.
#[derive(Debug, Clone)]
pub(crate) struct SqlRevocations {
    db: Database,
    memory: Arc<InMemoryRevocations>,
    /// The highest revocation id applied to `memory`.
    seen: Arc<AtomicI64>,
    /// How long a subject cut-off is kept: the longest token lifetime.
    max_token_lifetime: i64,
}

type Row = (i64, String, String, i64, i64);

fn revocation((_, kind, value, before_ms, expires_at): &Row) -> Option<Revocation> {
    Some(match kind.as_str() {
        "token" => Revocation::Token {
            jti: value.clone(),
            expires_at: *expires_at,
        },
        "family" => Revocation::Family {
            family: value.clone(),
            expires_at: *expires_at,
        },
        "subject" => Revocation::SubjectBefore {
            sub: value.clone(),
            before_ms: *before_ms,
        },
        _ => return None,
    })
}

impl SqlRevocations {
    /// Loads every live revocation of `db` into memory.
    pub(crate) async fn load(
        db: Database,
        max_token_lifetime: Duration,
    ) -> Result<Self, sqlx::Error> {
        let store = SqlRevocations {
            db,
            memory: Arc::new(InMemoryRevocations::new()),
            seen: Arc::new(AtomicI64::new(0)),
            max_token_lifetime: max_token_lifetime.as_secs() as i64,
        };
        store.catch_up().await?;
        Ok(store)
    }

    /// Applies revocations written since the last call (by anyone).
    pub(crate) async fn catch_up(&self) -> Result<usize, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, value, before_ms, expires_at FROM revocations WHERE id > $1 ORDER BY id",
        )
        .bind(self.seen.load(Ordering::Acquire))
        .fetch_all(self.db.pool())
        .await?;
        for row in &rows {
            if let Some(r) = revocation(row) {
                self.memory.apply(&r);
            }
            self.seen.fetch_max(row.0, Ordering::AcqRel);
        }
        Ok(rows.len())
    }

    /// Deletes revocations of tokens that have expired anyway, here and in memory.
    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        self.memory.purge_expired(now);
        Ok(done.rows_affected())
    }

    /// Follows the database every `every` until the task is dropped.
    pub(crate) fn follow(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.catch_up().await {
                    tracing::warn!(error = %e, "cannot read new revocations");
                }
            }
        })
    }
}

impl RevocationStore for SqlRevocations {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.memory.is_revoked(claims)
    }

    fn revoke(&self, r: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let (kind, value, before_ms, expires_at) = match &r {
                Revocation::Token { jti, expires_at } => ("token", jti.as_str(), 0, *expires_at),
                Revocation::Family { family, expires_at } => {
                    ("family", family.as_str(), 0, *expires_at)
                }
                Revocation::SubjectBefore { sub, before_ms } => (
                    "subject",
                    sub.as_str(),
                    *before_ms,
                    (before_ms / 1000).saturating_add(self.max_token_lifetime),
                ),
            };
            sqlx::query("INSERT INTO revocations (kind, value, before_ms, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(kind)
                .bind(value)
                .bind(before_ms)
                .bind(expires_at)
                .execute(self.db.pool())
                .await
                .map_err(|e| StoreError(e.to_string()))?;
            // Durable first, then visible: the caller's 200 follows this.
            self.memory.apply(&r);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str, sub: &str, family: Option<&str>) -> Claims {
        Claims {
            sub: Some(sub.into()),
            iat: Some(1_000),
            nbf: None,
            exp: i64::MAX,
            jti: Some(jti.into()),
            token_type: None,
            fresh: Default::default(),
            csrf: None,
            iss: None,
            aud: vec![],
            scopes: vec![],
            family: family.map(Into::into),
        }
    }

    #[tokio::test]
    async fn revocations_survive_reload_and_reach_other_readers() {
        let (db, _dir) = crate::storage::test_db().await;
        let a = SqlRevocations::load(db.clone(), Duration::from_secs(3600))
            .await
            .unwrap();
        let b = SqlRevocations::load(db.clone(), Duration::from_secs(3600))
            .await
            .unwrap();
        a.revoke(Revocation::Token {
            jti: "j1".into(),
            expires_at: i64::MAX,
        })
        .await
        .unwrap();
        a.revoke(Revocation::Family {
            family: "f1".into(),
            expires_at: i64::MAX,
        })
        .await
        .unwrap();
        assert!(a.is_revoked(&claims("j1", "1", None)));
        assert!(a.is_revoked(&claims("other", "1", Some("f1"))));
        // b sees them once it catches up with the database.
        assert!(!b.is_revoked(&claims("j1", "1", None)));
        assert_eq!(b.catch_up().await.unwrap(), 2);
        assert!(b.is_revoked(&claims("j1", "1", None)));
        // A fresh load (a restart) has them too.
        let c = SqlRevocations::load(db, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(c.is_revoked(&claims("other", "1", Some("f1"))));
        assert!(!c.is_revoked(&claims("j2", "1", Some("f2"))));
    }

    #[tokio::test]
    async fn expired_entries_are_purged() {
        let (db, _dir) = crate::storage::test_db().await;
        let store = SqlRevocations::load(db, Duration::from_secs(60))
            .await
            .unwrap();
        store
            .revoke(Revocation::Token {
                jti: "old".into(),
                expires_at: 100,
            })
            .await
            .unwrap();
        store
            .revoke(Revocation::Token {
                jti: "live".into(),
                expires_at: 10_000,
            })
            .await
            .unwrap();
        assert_eq!(store.purge_expired(5_000).await.unwrap(), 1);
        assert!(!store.is_revoked(&claims("old", "1", None)));
        assert!(store.is_revoked(&claims("live", "1", None)));
    }
}
