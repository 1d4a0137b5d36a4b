//! [`TestDir`]: a test's scratch directory, and the database its servers use.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tokengate::keys::{KeyRing, SigningKey};
use tokengate::token::{IssueSettings, TokenEngine};

use super::PgDatabase;

/// A scratch directory under the target directory, removed on drop:
/// `data/` is the service's data directory, server logs go beside it.
///
/// Its database is SQLite in `data/`, or, with `TOKENGATE_TEST_DATABASE=postgres`,
/// a fresh PostgreSQL database of its own: every server and admin command
/// started with it gets `TOKENGATE_DATABASE_URL` (unless the test sets one).
pub(crate) struct TestDir {
    /// The directory; the working directory of the processes started in it.
    pub(super) root: PathBuf,
    logs: AtomicU32,
    database_url: Option<String>,
    /// The database this directory owns (dropped with it).
    _database: Option<PgDatabase>,
    /// The `tokengate` its servers and commands run.
    pub(super) binary: PathBuf,
}

impl TestDir {
    /// A directory on the backend chosen by `TOKENGATE_TEST_DATABASE`.
    pub(crate) fn new(name: &str) -> TestDir {
        match test_backend() {
            Backend::Sqlite => TestDir::create(name, None, None),
            Backend::Postgres => TestDir::with_postgres(name),
        }
    }

    /// A directory on SQLite, whatever `TOKENGATE_TEST_DATABASE` says.
    pub(crate) fn sqlite(name: &str) -> TestDir {
        TestDir::create(name, None, None)
    }

    /// A directory with a fresh PostgreSQL database of its own, whatever
    /// `TOKENGATE_TEST_DATABASE` says.
    pub(crate) fn with_postgres(name: &str) -> TestDir {
        let db = PgDatabase::create(name);
        TestDir::create(name, Some(db.url()), Some(db))
    }

    /// A directory (a data directory of its own) whose servers and admin
    /// commands use `db`: several instances of one deployment. The test
    /// keeps `db` alive.
    pub(crate) fn sharing(name: &str, db: &PgDatabase) -> TestDir {
        TestDir::create(name, Some(db.url()), None)
    }

    fn create(name: &str, database_url: Option<String>, db: Option<PgDatabase>) -> TestDir {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("service-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the test directory");
        TestDir {
            root,
            logs: AtomicU32::new(0),
            database_url,
            _database: db,
            binary: PathBuf::from(super::binary::BIN),
        }
    }

    /// This directory, its servers and commands running `binary` instead
    /// of the one cargo built (the packaged one).
    pub(crate) fn with_binary(mut self, binary: PathBuf) -> TestDir {
        self.binary = binary;
        self
    }

    /// `env` plus this directory's `TOKENGATE_DATABASE_URL`, unless `env`
    /// names a database itself.
    pub(super) fn env<'a>(&'a self, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = env.to_vec();
        if let Some(url) = &self.database_url
            && !env.iter().any(|(key, _)| *key == "TOKENGATE_DATABASE_URL")
        {
            all.push(("TOKENGATE_DATABASE_URL", url));
        }
        all
    }

    /// The database its servers use: the PostgreSQL URL, or the SQLite
    /// file's in `data/`.
    pub(crate) fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data().join("tokengate.db").display()),
        }
    }

    /// A path in this directory (beside `data/`).
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The service's data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A new file for the next server's log.
    pub(super) fn next_log(&self) -> PathBuf {
        let n = self.logs.fetch_add(1, Ordering::Relaxed);
        self.root.join(format!("server-{n}.log"))
    }

    /// A signing engine holding the service's newest key (read from the
    /// data directory), issuing with `issuer`: to forge tokens that only
    /// differ from the service's own in one claim.
    pub(crate) fn service_engine(&self, issuer: &str) -> TokenEngine {
        let keys = self.data().join("keys");
        let mut pems: Vec<PathBuf> = std::fs::read_dir(&keys)
            .expect("the key directory")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("pem")))
            .collect();
        pems.sort();
        let newest = pems.last().expect("a key file");
        let pem = std::fs::read_to_string(newest).unwrap();
        // `{created}-{kid}.{alg}.pem`: the name says which algorithm an RSA key is for.
        let alg = newest
            .file_stem()
            .and_then(|stem| stem.to_str()?.rsplit_once('.'))
            .map(|(_, alg)| alg.parse().expect("an algorithm name"));
        let key = SigningKey::from_pem(&pem, alg).expect("the service's key");
        TokenEngine::new(KeyRing::new(key)).with_settings(IssueSettings::default().issuer(issuer))
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The database backend of [`TestDir::new`].
enum Backend {
    Sqlite,
    Postgres,
}

/// `TOKENGATE_TEST_DATABASE`: unset or `sqlite`, or `postgres`. Anything
/// else is a mistake that must not quietly run the SQLite suite again.
fn test_backend() -> Backend {
    match std::env::var("TOKENGATE_TEST_DATABASE").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        other => panic!("TOKENGATE_TEST_DATABASE={other:?}: expected sqlite or postgres"),
    }
}
