//! Revocations: written to the database before the 200, held in memory for
//! the per-request check, announced to other instances at once when a
//! [`Fanout`] (Redis) is configured, and followed by id so that revocations
//! written by another process (the admin CLI, another instance) reach this
//! one within one poll interval whatever happens to the fan-out.
//!
//! At start the set is read in pages of [`PAGE`] rows while the service
//! already serves: until the last page is in, the store says it is not
//! complete and the gate looks each token it does not refuse from memory up
//! in the table (by the `value` index), so nothing revoked is accepted and
//! nothing good refused; `/readyz` answers 503 until then.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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
        revocation(
            &self.kind,
            self.value.clone(),
            self.before_ms,
            self.expires_at,
        )
    }
}

/// The revocation a row's columns record; `None` for a kind this build does
/// not know.
fn revocation(kind: &str, value: String, before_ms: i64, expires_at: i64) -> Option<Revocation> {
    Some(match kind {
        "token" => Revocation::Token {
            jti: value.into(),
            expires_at: Timestamp::from_secs(expires_at),
        },
        // A login was called a family when the table was made.
        "family" => Revocation::Login {
            login: value.into(),
            expires_at: Timestamp::from_secs(expires_at),
        },
        "subject" => Revocation::SubjectBefore {
            subject: value.into(),
            before: Timestamp::from_millis(before_ms),
        },
        _ => return None,
    })
}

/// A page of the table (ids above $1, at most $2 rows) as one row: how
/// many, the last id, and the rows as one text of records
/// `kind,before_ms,expires_at,N:value` (N: the value's length in
/// characters), read by [`Records`]. One row, not one per revocation:
/// sqlx hands SQLite's rows over from its worker thread one by one, which
/// made reading a million take 7 s of allocation and thread wake-ups.
/// (`string_agg` needs SQLite 3.44; sqlx bundles a later one.)
/// Expired rows come too (skipped by the reader): filtered here, SQLite
/// would walk the `expires_at` index and sort each page.
const PAGE_QUERY: &str = "SELECT COUNT(*), MAX(id), string_agg(\
     kind || ',' || before_ms || ',' || expires_at || ',' || length(value) || ':' || value, '') \
     FROM (SELECT id, kind, value, before_ms, expires_at FROM revocations \
     WHERE id > $1 ORDER BY id LIMIT $2) AS page";

/// The records of a [`PAGE_QUERY`] text: `(kind, value, before_ms, expires_at)`.
struct Records<'a>(&'a str);

impl<'a> Iterator for Records<'a> {
    type Item = Result<(&'a str, &'a str, i64, i64), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let record = (|| {
            let mut field = |end: char| {
                let (head, rest) = self.0.split_once(end)?;
                self.0 = rest;
                Some(head)
            };
            let kind = field(',')?;
            let before_ms = field(',')?.parse().ok()?;
            let expires_at = field(',')?.parse().ok()?;
            let chars: usize = field(':')?.parse().ok()?;
            let len = match self.0.char_indices().nth(chars) {
                Some((at, _)) => at,
                None if self.0.chars().count() == chars => self.0.len(),
                None => return None,
            };
            let (value, rest) = self.0.split_at(len);
            self.0 = rest;
            Some((kind, value, before_ms, expires_at))
        })();
        Some(record.ok_or_else(|| {
            let err = format!(
                "a malformed page of revocations near {:?}",
                self.0.get(..40)
            );
            self.0 = "";
            err
        }))
    }
}

/// Rows read per query when catching up: five hundred queries for a
/// million, each page's text about 120 KB. Measured with
/// scripts/bench-revocations.sh: pages of 10 000 read a million 0.2 s
/// sooner but left 3.5 MB more in the allocator after the load.
pub(crate) const PAGE: i64 = 2_000;

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
    /// Whether `memory` has every revocation the database had when it was
    /// first read to the end.
    complete: Arc<AtomicBool>,
    /// Rows per query when catching up: [`PAGE`] (fewer in tests).
    page: i64,
}

/// The advisory lock PostgreSQL writers of `revocations` take (any fixed
/// number; "tg" in ASCII).
#[cfg(feature = "postgres")]
const WRITE_LOCK: i64 = 0x7467;

const INSERT: &str =
    "INSERT INTO revocations (kind, value, before_ms, expires_at) VALUES ($1, $2, $3, $4)";

/// [`INSERT`] after taking the write lock ($5) in the same statement.
#[cfg(feature = "postgres")]
const INSERT_LOCKED: &str = "INSERT INTO revocations (kind, value, before_ms, expires_at) \
     SELECT $1, $2, $3, $4 FROM (SELECT pg_advisory_xact_lock($5)) AS locked";

impl SqlRevocations {
    /// The store of `db` with nothing read yet: it records revocations at
    /// once, and answers checks from the table until [`Self::load`] or
    /// [`Self::follow`] has read it.
    pub(crate) fn open(db: Database, max_token_lifetime: Duration) -> Self {
        SqlRevocations {
            db,
            memory: Arc::new(InMemoryRevocations::new()),
            seen: Arc::new(AtomicI64::new(0)),
            max_token_lifetime: max_token_lifetime.as_secs() as i64,
            fanout: None,
            complete: Arc::new(AtomicBool::new(false)),
            page: PAGE,
        }
    }

    /// Opens the store of `db` and reads every live revocation into memory.
    #[cfg(test)]
    pub(crate) async fn load(
        db: Database,
        max_token_lifetime: Duration,
    ) -> Result<Self, sqlx::Error> {
        let store = Self::open(db, max_token_lifetime);
        store.read_to_end().await?;
        Ok(store)
    }

    /// Reads the table to its end and marks the set complete; how many
    /// revocations were read.
    pub(crate) async fn read_to_end(&self) -> Result<usize, sqlx::Error> {
        // Counted first so that the sets are sized once (see reserve).
        // One scan, no sort (a GROUP BY sorts a million rows).
        let (tokens, logins): (i64, i64) = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT COUNT(CASE WHEN kind = 'token' THEN 1 END), \
             COUNT(CASE WHEN kind = 'family' THEN 1 END) FROM revocations WHERE id > $1",
        )
        .bind(self.seen.load(Ordering::Acquire))
        .fetch_one(pool)
        .await)?;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        self.memory.reserve(count(tokens), count(logins));
        let read = self.catch_up().await?;
        self.complete.store(true, Ordering::Release);
        Ok(read)
    }

    /// How many revocations are held in memory (expired ones until the
    /// next purge included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.memory.len()
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

    /// Applies revocations written since the last call (by anyone), a page
    /// at a time; those that have expired are skipped. How many were applied.
    pub(crate) async fn catch_up(&self) -> Result<usize, sqlx::Error> {
        let mut read = 0;
        loop {
            let (rows, last_id, text): (i64, Option<i64>, Option<String>) = with_pool!(self.db, pool => sqlx::query_as(PAGE_QUERY)
                    .bind(self.seen.load(Ordering::Acquire))
                    .bind(self.page)
                    .fetch_one(pool)
                    .await)?;
            let now = tokengate::clock::now().as_secs();
            for record in Records(text.as_deref().unwrap_or_default()) {
                let (kind, value, before_ms, expires_at) =
                    record.map_err(|e| sqlx::Error::Decode(e.into()))?;
                if expires_at >= now
                    && let Some(r) = revocation(kind, value.to_owned(), before_ms, expires_at)
                {
                    self.memory.apply(&r);
                    read += 1;
                }
            }
            if let Some(id) = last_id {
                self.seen.fetch_max(id, Ordering::AcqRel);
            }
            if rows < self.page {
                return Ok(read);
            }
        }
    }

    /// Whether the table records a revocation of `claims`: the check while
    /// the set is incomplete. The rows of its ids go through an
    /// [`InMemoryRevocations`] of their own, so the answer is the same
    /// policy's as the one from memory.
    async fn look_up(&self, claims: &Claims) -> Result<bool, sqlx::Error> {
        type Row = (String, String, i64, i64);
        // A missing id is bound as "": a row with that value may come back,
        // but the check below only matches ids the token has.
        let id = |id: Option<&str>| id.unwrap_or_default().to_owned();
        let rows: Vec<Row> = with_pool!(self.db, pool => sqlx::query_as(
            "SELECT kind, value, before_ms, expires_at FROM revocations \
             WHERE value IN ($1, $2, $3) AND expires_at >= $4",
        )
        .bind(id(claims.jti.as_deref()))
        .bind(id(claims.family.as_deref()))
        .bind(id(claims.sub.as_deref()))
        .bind(tokengate::clock::now().as_secs())
        .fetch_all(pool)
        .await)?;
        let found = InMemoryRevocations::new();
        for (kind, value, before_ms, expires_at) in rows {
            if let Some(r) = revocation(&kind, value, before_ms, expires_at) {
                found.apply(&r);
            }
        }
        Ok(found.is_revoked(claims))
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

    /// Reads the table to its end (if not done yet), then polls it every
    /// `every` until the task is dropped. It runs even while a fan-out
    /// delivers: that a revocation older than one interval is honoured then
    /// holds whatever the fan-out does.
    pub(crate) fn follow(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if self.complete.load(Ordering::Acquire) {
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "cannot read new revocations");
                    }
                    continue;
                }
                let started = std::time::Instant::now();
                match self.read_to_end().await {
                    Ok(read) => tracing::info!(
                        revocations = read,
                        ms = started.elapsed().as_millis() as u64,
                        "revocations loaded"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot load the revocations; trying again")
                    }
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
                // would skip an id 10 committed a moment later. The lock is
                // taken inside the statement (its own transaction), before
                // the row and its id: held for one statement and its commit,
                // not across round trips (twice the writes per second).
                bind(sqlx::query(INSERT_LOCKED), row)
                    .bind(WRITE_LOCK)
                    .execute(pool)
                    .await?;
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

    fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    fn lookup<'a>(&'a self, claims: &'a Claims) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.look_up(claims).await.map_err(StoreError::new) })
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
        an_unread_store_answers_from_the_table,
        the_set_is_read_in_pages_to_the_end,
    );

    const NEVER: Timestamp = Timestamp::from_secs(i64::MAX / 1000);

    #[test]
    fn records_split_on_lengths_not_on_separators() {
        let text = "token,0,99,3:a,:family,0,98,0:subject,1500,97,5:é:,\n\u{1F600}";
        let records: Vec<_> = Records(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            records,
            [
                ("token", "a,:", 0, 99),
                ("family", "", 0, 98),
                ("subject", "é:,\n\u{1F600}", 1500, 97),
            ]
        );
        for bad in [
            "token,0,99,4:abc",
            "token,x,99,1:a",
            "token,0,99",
            "token,0,99,1",
        ] {
            let all: Vec<_> = Records(bad).collect();
            assert_eq!(all.len(), 1, "{bad}");
            assert!(all[0].is_err(), "{bad}");
        }
    }

    /// A restart serves before it has read the set: what memory does not
    /// refuse, the table does, with the same policy.
    async fn an_unread_store_answers_from_the_table(db: Database) {
        let lifetime = Duration::from_secs(3600);
        let writer = SqlRevocations::open(db.clone(), lifetime);
        let now = tokengate::clock::now();
        let revoke = |r| writer.revoke(r);
        revoke(Revocation::Token {
            jti: "j1".into(),
            expires_at: NEVER,
        })
        .await
        .unwrap();
        revoke(Revocation::Login {
            login: "f1".into(),
            expires_at: NEVER,
        })
        .await
        .unwrap();
        revoke(Revocation::SubjectBefore {
            subject: "carol".into(),
            before: now,
        })
        .await
        .unwrap();
        let expired = Timestamp::from_secs(now.as_secs() - 10);
        revoke(Revocation::Token {
            jti: "gone".into(),
            expires_at: expired,
        })
        .await
        .unwrap();

        let reader = SqlRevocations::open(db, lifetime);
        assert!(!reader.is_complete());
        let at = |jti: &str, sub: &str, family: Option<&str>, iat: Timestamp| Claims {
            iat: Some(iat.as_secs()),
            ..claims(jti, sub, family)
        };
        let earlier = Timestamp::from_secs(now.as_secs() - 5);
        let later = Timestamp::from_secs(now.as_secs() + 5);
        let revoked = [
            at("j1", "1", None, later),
            at("j2", "1", Some("f1"), later),
            at("j3", "carol", None, earlier),
        ];
        let good = [
            at("j4", "1", Some("f2"), later),
            at("j5", "carol", None, later),
            // Another id's value in another field is no match.
            at("f1", "j1", Some("carol"), later),
            // Expired revocations are not kept.
            at("gone", "1", None, later),
        ];
        for c in &revoked {
            assert!(!reader.is_revoked(c), "nothing is in memory yet");
            assert!(
                reader.lookup(c).await.unwrap(),
                "{c:?} is revoked in the table"
            );
        }
        for c in &good {
            assert!(!reader.lookup(c).await.unwrap(), "{c:?} is not revoked");
        }
        assert_eq!(reader.read_to_end().await.unwrap(), 3);
        assert!(reader.is_complete());
        for c in &revoked {
            assert!(reader.is_revoked(c));
        }
        for c in &good {
            assert!(!reader.is_revoked(c));
        }
    }

    async fn the_set_is_read_in_pages_to_the_end(db: Database) {
        let lifetime = Duration::from_secs(3600);
        let writer = SqlRevocations::open(db.clone(), lifetime);
        for i in 0..10 {
            let jti = format!("p{i}").into();
            writer
                .revoke(Revocation::Token {
                    jti,
                    expires_at: NEVER,
                })
                .await
                .unwrap();
        }
        for page in [1, 3, 5, 10, 11] {
            let reader = SqlRevocations {
                page,
                ..SqlRevocations::open(db.clone(), lifetime)
            };
            assert_eq!(reader.read_to_end().await.unwrap(), 10, "pages of {page}");
            assert_eq!(reader.len(), 10);
            assert!((0..10).all(|i| reader.is_revoked(&claims(&format!("p{i}"), "1", None))));
        }
    }

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
