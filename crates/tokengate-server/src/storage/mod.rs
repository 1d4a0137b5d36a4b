//! The service's database: users, logins (refresh-token families) and
//! revocations, on SQLite through sqlx, with migrations embedded in the binary.

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

/// A database that cannot be opened or migrated: a start-up error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StorageError {
    /// The URL names a database this build cannot open.
    #[error("unsupported database URL {0:?} (expected sqlite://...)")]
    UnsupportedUrl(String),
    /// sqlx failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The connection pool and the queries of the service.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pool: SqlitePool,
}

impl Database {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub(crate) async fn open(url: &str) -> Result<Database, StorageError> {
        if !url.starts_with("sqlite:") {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers run beside the one writer; NORMAL is durable
            // across process crashes, which is what a 200 promises here.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Bounded: one connection per core is what SQLite can use anyway.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Database { pool })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The error a request sees when the database fails.
pub(crate) fn unavailable(e: sqlx::Error) -> tokengate::Error {
    tracing::error!(error = %e, "database error");
    tokengate::Error::Unavailable(e.to_string())
}

#[cfg(test)]
pub(crate) async fn test_db() -> (Database, tempdir::TempDir) {
    let dir = tempdir::TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("tokengate.db").display());
    let db = Database::open(&url).await.expect("test database");
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
