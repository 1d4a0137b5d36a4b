//! [`PgDatabase`]: a PostgreSQL database of a test's own, through `sqlx`.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::unique;

/// The PostgreSQL server of the tests: trust authentication, user `postgres`.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// How long connecting to PostgreSQL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database of its own for one test, created empty (the
/// service migrates it) and dropped, connections and all, on drop.
pub(crate) struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// Creates `tgtest_{pid}_{n}_{name}`. Panics if PostgreSQL is not
    /// reachable: a suite that needs it must fail, never skip.
    pub(crate) fn create(name: &str) -> PgDatabase {
        let prefix = unique::prefix('_');
        // PostgreSQL truncates identifiers to 63 bytes; stay below.
        let name = format!("{prefix}{}", unique::slug(name, 63 - prefix.len()));
        execute(format!(r#"CREATE DATABASE "{name}""#)).unwrap_or_else(|e| {
            panic!(
                "cannot create a PostgreSQL database at {POSTGRES} ({e}); \
                 these tests need PostgreSQL there (scripts/test.sh starts it)"
            )
        });
        PgDatabase { name }
    }

    /// `postgres://postgres@127.0.0.1:5432/NAME`.
    pub(crate) fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }

    /// The URL of this database through another port of 127.0.0.1 (a
    /// [`FaultProxy`](crate::proxy::FaultProxy) in front of PostgreSQL).
    pub(crate) fn url_via_port(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    /// Where PostgreSQL listens, for a proxy in front of it.
    pub(crate) fn server_addr() -> std::net::SocketAddr {
        "127.0.0.1:5432".parse().unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: a server killed or still running must not keep it alive.
        if let Err(e) = execute(format!(
            r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
            self.name
        )) {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs one SQL statement as `postgres` on the `postgres` database.
///
/// On a runtime of its own in a thread of its own: it is called from sync
/// code running inside a test's runtime (and from `Drop`), where blocking
/// on that runtime would panic and blocking its only thread on a future
/// could stall it.
fn execute(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        runtime.block_on(async {
            let url = format!("{POSTGRES}/postgres");
            let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url))
                .await
                .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
                .map_err(|e| e.to_string())?;
            // The name in it is a slug (see `create`): nothing to escape.
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the PostgreSQL thread panicked".to_owned()))
}
