//! The service's database: users, logins (refresh-token families) and
//! revocations, on SQLite or PostgreSQL through sqlx, with migrations
//! embedded in the binary.
//!
//! Both backends run the same SQL text (`$1` placeholders, `RETURNING`,
//! BIGINT columns): [`with_pool!`] hands each query the typed pool of the
//! backend in use, so there is one implementation of every query and sqlx
//! keeps each driver's own types and options.

mod logins;
mod memos;
mod oidc;
mod passkeys;
mod pending;
mod revocations;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub(crate) use logins::SqlLogins;
pub(crate) use memos::{Memo, MemoId, MemoUpdate};
pub(crate) use passkeys::{Ceremony, CeremonyKind, StoredPasskey};
pub(crate) use pending::SqlPendingLogins;
pub(crate) use revocations::SqlRevocations;
#[cfg(feature = "redis")]
pub(crate) use revocations::{Fanout, RevocationRow};
pub(crate) use users::{Grant, NewUser, User, UserId};

/// How long a request waits for a connection before it answers
/// `store_unavailable`: long enough for a busy pool, short enough that a
/// database that went away does not hold requests for long.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A database that cannot be opened or migrated: a start-up error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StorageError {
    /// The URL names a database this build cannot open.
    #[error("unsupported database URL scheme in {0:?} (expected {SUPPORTED})")]
    UnsupportedUrl(String),
    /// sqlx failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An admin command found no SQLite database where the settings point.
    #[error(
        "no database at {0}: run the command with the service's settings (--config or \
         TOKENGATE_CONFIG, --data-dir or TOKENGATE_DATA_DIR, --database-url or \
         TOKENGATE_DATABASE_URL), or start `tokengate serve` once to create it"
    )]
    Missing(String),
}

#[cfg(feature = "postgres")]
const SUPPORTED: &str = "sqlite://... or postgres://...";
#[cfg(not(feature = "postgres"))]
const SUPPORTED: &str = "sqlite://...; this build has no PostgreSQL";

/// The pool of the backend in use.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// SQLite: one file, one process or several on one machine.
    Sqlite(SqlitePool),
    /// PostgreSQL: shared by every instance.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the typed pool of `$db`'s backend:
/// one query text for both.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::storage::Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            $crate::storage::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The connection pool and the queries of the service.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pool: Pool,
}

impl Database {
    /// Opens (creating a SQLite file if needed) and migrates the database at
    /// `url`, with at most `pool_size` connections (SQLite: at most 4).
    pub(crate) async fn open(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        if url.starts_with("sqlite:") {
            return Self::open_sqlite(url, pool_size, true).await;
        }
        Self::open_server(url, pool_size).await
    }

    /// Opens the database at `url` only if it exists: the admin commands,
    /// which must not make an empty database beside the service's.
    pub(crate) async fn open_existing(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        if url.starts_with("sqlite:") {
            return Self::open_sqlite(url, pool_size, false).await;
        }
        Self::open_server(url, pool_size).await
    }

    // Without PostgreSQL there is no server database to size a pool for.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    async fn open_server(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres(url, pool_size).await;
        }
        // Only the scheme: the rest may hold a password.
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StorageError::UnsupportedUrl(format!("{scheme}:")))
    }

    async fn open_sqlite(
        url: &str,
        pool_size: u32,
        create: bool,
    ) -> Result<Database, StorageError> {
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        // `:memory:` and friends have no file to find.
        if !create && file != std::path::Path::new(":memory:") && !file.exists() {
            return Err(StorageError::Missing(file.display().to_string()));
        }
        let options = options
            .create_if_missing(create)
            // WAL lets readers run beside the one writer; NORMAL is durable
            // across process crashes, which is what a 200 promises here.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One writer at a time: more connections than cores only queue.
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size.clamp(1, 4))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Database {
            pool: Pool::Sqlite(pool),
        })
    }

    #[cfg(feature = "postgres")]
    async fn open_postgres(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection that died with the server is found before use,
            // so a recovered database serves the next request.
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        // Concurrent starts of several instances: sqlx takes an advisory
        // lock around the migrations, so one applies them.
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Database {
            pool: Pool::Postgres(pool),
        })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the backend is PostgreSQL (shared by instances).
    pub(crate) fn is_shared(&self) -> bool {
        !matches!(self.pool, Pool::Sqlite(_))
    }

    /// Whether the database answers now.
    pub(crate) async fn ping(&self) -> bool {
        let ping =
            async { with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok()) };
        tokio::time::timeout(ACQUIRE_TIMEOUT, ping)
            .await
            .unwrap_or(false)
    }
}

/// The error a request sees when the database fails.
pub(crate) fn unavailable(e: sqlx::Error) -> tokengate::Error {
    tokengate::Unavailable::new(tokengate::Backend::Store, e).into()
}

/// Runs the storage test `$body` (an `async fn(Database)`) on SQLite and on
/// PostgreSQL: one suite for both backends.
#[cfg(test)]
macro_rules! on_both_backends {
    ($($body:ident),+ $(,)?) => {
        $(
            mod $body {
                #[tokio::test]
                async fn sqlite() {
                    let (db, _dir) = crate::storage::test_db().await;
                    super::$body(db).await
                }

                #[cfg(feature = "postgres")]
                #[tokio::test]
                async fn postgres() {
                    let (db, _guard) = crate::storage::test_pg_db().await;
                    super::$body(db).await
                }
            }
        )+
    };
}
#[cfg(test)]
pub(crate) use on_both_backends;

/// Claims of a token for the revocation tests.
#[cfg(test)]
pub(crate) fn test_claims(jti: &str, sub: &str, family: Option<&str>) -> tokengate::claims::Claims {
    tokengate::claims::Claims {
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
        roles: vec![],
        confirmation: None,
    }
}

#[cfg(test)]
pub(crate) async fn test_db() -> (Database, tempdir::TempDir) {
    let dir = tempdir::TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("tokengate.db").display());
    let db = Database::open(&url, 4).await.expect("test database");
    (db, dir)
}

/// A fresh, migrated PostgreSQL database for one test, dropped with the
/// [`PgGuard`]. Panics if PostgreSQL is not reachable: tests that need it
/// fail, never skip.
#[cfg(all(test, feature = "postgres"))]
pub(crate) async fn test_pg_db() -> (Database, PgGuard) {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU64, Ordering};

    static N: AtomicU64 = AtomicU64::new(0);
    // Unique across concurrent test processes, and across runs that died
    // before dropping theirs.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "tg_unit_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(&format!("{TEST_POSTGRES}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {TEST_POSTGRES} (user postgres, trust): {e}")
        });
    // The name is ours: digits and `_` only.
    sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = admin.close().await;
    let guard = PgGuard { name };
    let db = Database::open(&guard.url(), 4)
        .await
        .expect("test PostgreSQL database");
    (db, guard)
}

/// The PostgreSQL server of the unit tests: trust authentication, user `postgres`.
#[cfg(all(test, feature = "postgres"))]
const TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// Drops the database of [`test_pg_db`] on drop.
#[cfg(all(test, feature = "postgres"))]
pub(crate) struct PgGuard {
    name: String,
}

#[cfg(all(test, feature = "postgres"))]
impl PgGuard {
    /// `postgres://postgres@127.0.0.1:5432/NAME`, e.g. to open a second pool
    /// as another instance would.
    pub(crate) fn url(&self) -> String {
        format!("{TEST_POSTGRES}/{}", self.name)
    }
}

#[cfg(all(test, feature = "postgres"))]
impl Drop for PgGuard {
    fn drop(&mut self) {
        use sqlx::Connection;
        // Drop runs inside the test's runtime, which cannot block on a
        // future: a thread with a runtime of its own does it.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&format!("{TEST_POSTGRES}/postgres"))
                    .await
                    .map_err(|e| e.to_string())?;
                // FORCE: the test's pools may still hold connections.
                let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
pub(crate) mod tempdir {
    //! A directory removed on drop, for unit tests.
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "tokengate-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
