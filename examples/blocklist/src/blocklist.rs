//! The blocklist of the article's database, as a JSON-lines file: one
//! revocation per line, appended and synced before a logout answers, read
//! back at start-up. Checks never touch the file: tokengate asks on every
//! request, so the entries are also kept in memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokengate::claims::Claims;
use tokengate::clock::Timestamp;
use tokengate::revocation::{
    BoxFuture, InMemoryRevocations, Revocation, RevocationStore, StoreError,
};

/// A line of the file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    Token { jti: String, expires_at: i64 },
    Family { family: String, expires_at: i64 },
    Subject { sub: String, before_ms: i64 },
}

// The file keeps seconds for expiry and milliseconds for a cut-off, as the
// article's table does.
impl From<&Revocation> for Entry {
    fn from(r: &Revocation) -> Self {
        match r.clone() {
            Revocation::Token { jti, expires_at } => Entry::Token {
                jti: jti.into(),
                expires_at: expires_at.as_secs(),
            },
            Revocation::Login { login, expires_at } => Entry::Family {
                family: login.into(),
                expires_at: expires_at.as_secs(),
            },
            Revocation::SubjectBefore { subject, before } => Entry::Subject {
                sub: subject.into(),
                before_ms: before.as_millis(),
            },
        }
    }
}

impl From<Entry> for Revocation {
    fn from(e: Entry) -> Self {
        match e {
            Entry::Token { jti, expires_at } => Revocation::Token {
                jti: jti.into(),
                expires_at: Timestamp::from_secs(expires_at),
            },
            Entry::Family { family, expires_at } => Revocation::Login {
                login: family.into(),
                expires_at: Timestamp::from_secs(expires_at),
            },
            Entry::Subject { sub, before_ms } => Revocation::SubjectBefore {
                subject: sub.into(),
                before: Timestamp::from_millis(before_ms),
            },
        }
    }
}

/// Revocations kept in a file, so that a restart forgets none.
#[derive(Debug)]
pub struct FileBlocklist {
    memory: InMemoryRevocations,
    file: Mutex<File>,
}

impl FileBlocklist {
    /// Loads the revocations of `path` (created if missing) and appends to it.
    pub fn open(path: &Path) -> io::Result<FileBlocklist> {
        let memory = InMemoryRevocations::new();
        let text = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            other => other?,
        };
        // A line torn by a crash never got its `Ok`: that logout failed, skip it.
        for entry in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        {
            memory.apply(&entry.into());
        }
        // Entries of tokens that have expired since protect nothing.
        memory.purge_expired(tokengate::clock::now());
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileBlocklist {
            memory,
            file: Mutex::new(file),
        })
    }
}

impl RevocationStore for FileBlocklist {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.memory.is_revoked(claims)
    }

    fn revoke(&self, revocation: Revocation) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut line =
                serde_json::to_string(&Entry::from(&revocation)).map_err(StoreError::new)?;
            line.push('\n');
            {
                // `Ok` must mean durable, hence the sync. Logouts are rare and
                // the write is one line: done inline, not on a blocking thread.
                let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
                file.write_all(line.as_bytes())
                    .and_then(|()| file.sync_data())
                    .map_err(StoreError::new)?;
            }
            self.memory.apply(&revocation);
            Ok(())
        })
    }
}
