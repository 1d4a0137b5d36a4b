//! The service's database: users, logins (refresh-token families) and
//! revocations, on SQLite or PostgreSQL through sqlx, with migrations
//! embedded in the binary.
//!
//! Both backends run the same SQL text (`$1` placeholders, `RETURNING`,
//! BIGINT columns): [`with_pool!`] hands each query the typed pool of the
//! backend in use, so there is one implementation of every query and sqlx
//! keeps each driver's own types and options.

mod revocations;
mod sessions;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub(crate) use revocations::SqlRevocations;
pub(crate) use sessions::SqlSessions;
pub(crate) use users::{NewUser, User, UserId};

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
            return Self::open_sqlite(url, pool_size).await;
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres(url, pool_size).await;
        }
        // Only the scheme: the rest may hold a password.
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StorageError::UnsupportedUrl(format!("{scheme}:")))
    }

    async fn open_sqlite(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
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
    tracing::error!(error = %e, "database error");
    tokengate::Error::StoreUnavailable(e.to_string())
}

#[cfg(test)]
pub(crate) async fn test_db() -> (Database, tempdir::TempDir) {
    let dir = tempdir::TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("tokengate.db").display());
    let db = Database::open(&url, 4).await.expect("test database");
    (db, dir)
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
