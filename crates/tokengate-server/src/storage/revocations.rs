//! Revocations: written to the database before the 200, held in memory for
//! the per-request check, announced to other instances at once when a
//! [`Fanout`] (Redis) is configured, and followed by id so that revocations
//! written by another process (the admin CLI, another instance) reach this
//! one within one poll interval whatever happens to the fan-out.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokengate::claims::Claims;
use tokengate::clock::Timestamp;
use tokengate::revocation::{
    BoxFuture, InMemoryRevocations, Revocation, RevocationStore, StoreError,
};

use super::{Database, Pool, with_pool};

/// Tells other instances about a revocation the moment it is written. The
/// database stays the record: a lost message only means the receiver
/// learns it at its next poll.
pub(crate) trait Fanout: Send + Sync + fmt::Debug {
    /// Announces `row` (best effort; failures are the fan-out's to log).
    fn publish<'a>(&'a self, row: &'a RevocationRow) -> BoxFuture<'a, ()>;
}

/// A revocation as stored and as announced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RevocationRow {
    /// `token`, `family` or `subject`.
    pub(crate) kind: String,
    /// The jti, family id or subject.
    pub(crate) value: String,
    /// For `subject`: tokens issued before this Unix millisecond.
    pub(crate) before_ms: i64,
    /// When the entry may be forgotten (Unix seconds).
    pub(crate) expires_at: i64,
}

impl RevocationRow {
    /// The revocation this row records; `None` for a kind this build does not know.
    pub(crate) fn revocation(&self) -> Option<Revocation> {
        Some(match self.kind.as_str() {
            "token" => Revocation::Token {
                jti: self.value.as_str().into(),
                expires_at: Timestamp::from_secs(self.expires_at),
            },
            // A login was called a family when the table was made.
            "family" => Revocation::Login {
                login: self.value.as_str().into(),
                expires_at: Timestamp::from_secs(self.expires_at),
            },
            "subject" => Revocation::SubjectBefore {
                subject: self.value.as_str().into(),
                before: Timestamp::from_millis(self.before_ms),
            },
            _ => return None,
        })
    }
}

/// The service's [`RevocationStore`]: the database behind an in-memory set.
#[derive(Debug, Clone)]
pub(crate) struct SqlRevocations {
    db: Database,
    memory: Arc<InMemoryRevocations>,
    /// The highest revocation id applied to `memory`.
    seen: Arc<AtomicI64>,
    /// How long a subject cut-off is kept: the longest token lifetime.
    max_token_lifetime: i64,
    fanout: Option<Arc<dyn Fanout>>,
}

/// The advisory lock PostgreSQL writers of `revocations` take (any fixed
/// number; "tg" in ASCII).
#[cfg(feature = "postgres")]
const WRITE_LOCK: i64 = 0x7467;

const INSERT: &str =
    "INSERT INTO revocations (kind, value, before_ms, expires_at) VALUES ($1, $2, $3, $4)";

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
            fanout: None,
        };
        store.catch_up().await?;
        Ok(store)
    }

    /// Announces every revocation written here through `fanout` too.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn with_fanout(mut self, fanout: Arc<dyn Fanout>) -> Self {
        self.fanout = Some(fanout);
        self
    }

    /// Applies a revocation another instance announced (or the database holds).
    pub(crate) fn apply(&self, row: &RevocationRow) {
        if let Some(r) = row.revocation() {
            self.memory.apply(&r);
        }
    }

    /// Applies revocations written since the last call (by anyone).
    pub(crate) async fn catch_up(&self) -> Result<usize, sqlx::Error> {
        type Row = (i64, String, String, i64, i64);
        let rows: Vec<Row> = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT id, kind, value, before_ms, expires_at FROM revocations WHERE id > $1 ORDER BY id",
        )
        .bind(self.seen.load(Ordering::Acquire))
        .fetch_all(pool)
        .await)?;
        for (id, kind, value, before_ms, expires_at) in &rows {
            self.apply(&RevocationRow {
                kind: kind.clone(),
                value: value.clone(),
                before_ms: *before_ms,
                expires_at: *expires_at,
            });
            self.seen.fetch_max(*id, Ordering::AcqRel);
        }
        Ok(rows.len())
    }

    /// Deletes revocations of tokens that have expired anyway, here and in memory.
    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = with_pool!(self.db, pool => sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        self.memory.purge_expired(Timestamp::from_secs(now));
        Ok(done)
    }

    /// Polls the database every `every` until the task is dropped. It runs
    /// even while a fan-out delivers: that a revocation older than one
    /// interval is honoured then holds whatever the fan-out does.
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

    fn row(&self, r: &Revocation) -> RevocationRow {
        let (kind, value, before_ms, expires_at) = match r {
            Revocation::Token { jti, expires_at } => {
                ("token", jti.as_str(), 0, expires_at.as_secs())
            }
            Revocation::Login { login, expires_at } => {
                ("family", login.as_str(), 0, expires_at.as_secs())
            }
            Revocation::SubjectBefore { subject, before } => (
                "subject",
                subject.as_str(),
                before.as_millis(),
                before.as_secs().saturating_add(self.max_token_lifetime),
            ),
        };
        RevocationRow {
            kind: kind.to_owned(),
            value: value.to_owned(),
            before_ms,
            expires_at,
        }
    }

    async fn insert(&self, row: &RevocationRow) -> Result<(), sqlx::Error> {
        match self.db.pool() {
            Pool::Sqlite(pool) => {
                bind(sqlx::query(INSERT), row).execute(pool).await?;
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                // Ids become visible in the order they are drawn only if
                // writers take turns; without that a reader that saw id 11
                // would skip an id 10 committed a moment later.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                bind(sqlx::query(INSERT), row).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

fn bind<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    row: &'q RevocationRow,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(row.kind.as_str())
        .bind(row.value.as_str())
        .bind(row.before_ms)
        .bind(row.expires_at)
}

impl RevocationStore for SqlRevocations {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.memory.is_revoked(claims)
    }

    fn revoke(&self, r: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let row = self.row(&r);
            self.insert(&row).await.map_err(StoreError::new)?;
            // Durable first, then visible: the caller's 200 follows this.
            self.memory.apply(&r);
            if let Some(fanout) = &self.fanout {
                fanout.publish(&row).await;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::on_both_backends;

    on_both_backends!(
        revocations_survive_reload_and_reach_other_readers,
        expired_entries_are_purged,
        a_reader_following_concurrent_writers_misses_none,
    );

    /// Ids drawn before commit could become visible out of order; a reader
    /// that moved past a late one would never see it (the advisory lock).
    async fn a_reader_following_concurrent_writers_misses_none(db: Database) {
        let lifetime = Duration::from_secs(3600);
        let reader = SqlRevocations::load(db.clone(), lifetime).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    let store = SqlRevocations::load(db, lifetime).await.unwrap();
                    for i in 0..25 {
                        store
                            .revoke(Revocation::Token {
                                jti: format!("w{w}-{i}").into(),
                                expires_at: Timestamp::from_secs(i64::MAX),
                            })
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let follow = {
            let reader = reader.clone();
            tokio::spawn(async move {
                loop {
                    reader.catch_up().await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        for w in writers {
            w.await.unwrap();
        }
        follow.abort();
        reader.catch_up().await.unwrap();
        for w in 0..8 {
            for i in 0..25 {
                let jti = format!("w{w}-{i}");
                assert!(reader.is_revoked(&claims(&jti, "1", None)), "{jti} missed");
            }
        }
    }

    use crate::storage::test_claims as claims;

    async fn revocations_survive_reload_and_reach_other_readers(db: Database) {
        let a = SqlRevocations::load(db.clone(), Duration::from_secs(3600))
            .await
            .unwrap();
        let b = SqlRevocations::load(db.clone(), Duration::from_secs(3600))
            .await
            .unwrap();
        a.revoke(Revocation::Token {
            jti: "j1".into(),
            expires_at: Timestamp::from_secs(i64::MAX),
        })
        .await
        .unwrap();
        a.revoke(Revocation::Login {
            login: "f1".into(),
            expires_at: Timestamp::from_secs(i64::MAX),
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

    async fn expired_entries_are_purged(db: Database) {
        let store = SqlRevocations::load(db, Duration::from_secs(60))
            .await
            .unwrap();
        store
            .revoke(Revocation::Token {
                jti: "old".into(),
                expires_at: Timestamp::from_secs(100),
            })
            .await
            .unwrap();
        store
            .revoke(Revocation::Token {
                jti: "live".into(),
                expires_at: Timestamp::from_secs(10_000),
            })
            .await
            .unwrap();
        assert_eq!(store.purge_expired(5_000).await.unwrap(), 1);
        assert!(!store.is_revoked(&claims("old", "1", None)));
        assert!(store.is_revoked(&claims("live", "1", None)));
    }
}
