//! Signing keys generated on first start and rotated by `tokengate keys
//! rotate`, kept in one of two places with the same rules:
//!
//! - directory: PKCS#8 PEM files in `{data_dir}/keys`, readable only by their
//!   owner (one machine), each named with its key's algorithm;
//! - the database: rows of PostgreSQL's `signing_keys`, the private key
//!   sealed with a key derived from `key_encryption_secret`, shared by every
//!   instance on that database.
//!
//! The newest key signs; an older key keeps verifying until every token it
//! could have signed has expired (the next key's creation plus the longest
//! token lifetime), and is then deleted.

#[cfg(feature = "postgres")]
mod database;
mod directory;
#[cfg(feature = "postgres")]
mod sealed;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokengate::clock;
use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use zeroize::Zeroizing;

/// A key store that cannot be used: a start-up or CLI error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyStoreError {
    /// A file operation failed.
    #[error("key directory {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A key file does not hold a usable key.
    #[error("key file {}: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `keys retire`: no stored key has this id.
    #[error("no signing key {0} (tokengate keys list shows them)")]
    NoSuchKey(String),
    /// `keys retire`: the key signs new tokens.
    #[error("{0} is the signing key; rotate first (tokengate keys rotate), then retire it")]
    RetireSigning(String),
    /// No key of this algorithm can be generated and kept here.
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
    /// The database failed.
    #[cfg(feature = "postgres")]
    #[error("signing keys in the database: {0}")]
    Database(#[from] sqlx::Error),
    /// A sealed key does not open: the secret differs, or the row was altered.
    #[cfg(feature = "postgres")]
    #[error(
        "signing key {kid} in the database cannot be unsealed: key_encryption_secret is not \
         the secret it was sealed with, or the row was altered"
    )]
    Unseal {
        /// The row's key id.
        kid: String,
    },
    /// The cipher failed (it does not for a valid secret).
    #[cfg(feature = "postgres")]
    #[error("key_encryption_secret: {0}")]
    Cipher(&'static str),
    /// A row that opens but does not hold a usable key.
    #[cfg(feature = "postgres")]
    #[error("signing key {kid} in the database: {reason}")]
    BadRow {
        /// The row's key id.
        kid: String,
        /// Why.
        reason: String,
    },
}

/// One key of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyInfo {
    /// Its id.
    pub kid: String,
    /// Its algorithm.
    pub alg: Algorithm,
    /// When it was made (seconds since the epoch).
    pub created: i64,
    /// Whether it signs new tokens.
    pub signing: bool,
    /// When it stops verifying, if a newer key replaced it.
    pub retires: Option<i64>,
}

/// The signing keys of the service, in files or in the database.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    backend: Backend,
    /// Seconds an old key keeps verifying after its successor was made.
    overlap: i64,
}

#[derive(Debug, Clone)]
enum Backend {
    Directory(directory::Directory),
    #[cfg(feature = "postgres")]
    Database(database::DbKeys),
}

/// A stored key, as read.
struct Entry {
    created: i64,
    key: SigningKey,
    /// Its file (directory backend); rows are found by kid.
    file: Option<PathBuf>,
}

impl KeyStore {
    /// The store in `{data_dir}/keys`, keeping old keys for `overlap` (the
    /// longest token lifetime) after a rotation.
    pub(crate) fn in_directory(data_dir: &Path, overlap: Duration) -> Self {
        KeyStore {
            backend: Backend::Directory(directory::Directory::new(data_dir)),
            overlap: overlap.as_secs() as i64,
        }
    }

    /// The store in the `signing_keys` table of PostgreSQL, its private keys
    /// sealed with a key derived from `secret`.
    #[cfg(feature = "postgres")]
    pub(crate) fn database(
        pool: sqlx::PgPool,
        secret: &crate::config::Secret,
        overlap: Duration,
    ) -> Result<Self, KeyStoreError> {
        Ok(KeyStore {
            backend: Backend::Database(database::DbKeys::new(pool, secret.expose().as_bytes())?),
            overlap: overlap.as_secs() as i64,
        })
    }

    /// Whether every instance on the database sees these keys.
    pub(crate) fn is_shared(&self) -> bool {
        !matches!(self.backend, Backend::Directory(_))
    }

    /// The key ring, generating a first key of `alg` if the store is empty.
    /// Instances starting together on an empty database make one key.
    pub(crate) async fn load_or_generate(&self, alg: Algorithm) -> Result<KeyRing, KeyStoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                if on_disk(dir, |f| f.entries()).await?.is_empty() {
                    self.rotate(alg).await?;
                }
            }
            #[cfg(feature = "postgres")]
            Backend::Database(db) => {
                if db.is_empty().await? {
                    let (key, pem) = generate(alg)?;
                    db.insert_first(&key, &pem).await?;
                }
            }
        }
        self.ring().await
    }

    /// Adds a new signing key; the previous ones keep verifying.
    pub(crate) async fn rotate(&self, alg: Algorithm) -> Result<KeyInfo, KeyStoreError> {
        // The keys held must be readable first: with the wrong
        // key_encryption_secret a new row would stop every instance.
        self.entries().await?;
        let (key, pem) = generate(alg)?;
        // A rotation in the same second as the previous key still sorts after it.
        let created = match &self.backend {
            Backend::Directory(dir) => {
                let kid = key.kid().to_string();
                on_disk(dir, move |f| f.add(&kid, alg, &pem)).await?
            }
            #[cfg(feature = "postgres")]
            Backend::Database(db) => db.add(&key, &pem).await?,
        };
        Ok(KeyInfo {
            kid: key.kid().to_string(),
            alg,
            created,
            signing: true,
            retires: None,
        })
    }

    /// Every stored key, oldest first.
    async fn entries(&self) -> Result<Vec<Entry>, KeyStoreError> {
        let mut entries = match &self.backend {
            Backend::Directory(dir) => on_disk(dir, |f| f.entries()).await?,
            #[cfg(feature = "postgres")]
            Backend::Database(db) => db.entries().await?,
        };
        entries.sort_by(|a, b| {
            (a.created, a.key.kid().as_str()).cmp(&(b.created, b.key.kid().as_str()))
        });
        Ok(entries)
    }

    /// Deletes a key's file or row.
    async fn remove(&self, entry: &Entry) -> Result<(), KeyStoreError> {
        match &self.backend {
            Backend::Directory(dir) => match entry.file.clone() {
                Some(file) => on_disk(dir, move |f| f.remove(&file)).await,
                None => Ok(()),
            },
            #[cfg(feature = "postgres")]
            Backend::Database(db) => db.remove(entry).await,
        }
    }

    /// Stops verifying with the key `kid` now, before its tokens have
    /// expired (a key that leaked, or a token lifetime shortened since):
    /// it is deleted, and every instance drops it at its next key check,
    /// refusing the tokens it signed. The signing key is refused: rotate
    /// first.
    pub(crate) async fn retire(&self, kid: &str) -> Result<KeyInfo, KeyStoreError> {
        let entries = self.entries().await?;
        let at = entries
            .iter()
            .position(|e| e.key.kid().as_str() == kid)
            .ok_or_else(|| KeyStoreError::NoSuchKey(kid.to_owned()))?;
        let Some(successor) = entries.get(at + 1) else {
            return Err(KeyStoreError::RetireSigning(kid.to_owned()));
        };
        let entry = &entries[at];
        self.remove(entry).await?;
        Ok(KeyInfo {
            kid: kid.to_owned(),
            alg: entry.key.algorithm(),
            created: entry.created,
            signing: false,
            retires: Some(successor.created.saturating_add(self.overlap)),
        })
    }

    /// The keys, oldest first, with their roles; retired keys are deleted.
    pub(crate) async fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        Ok(self
            .live()
            .await?
            .into_iter()
            .map(|(info, _)| info)
            .collect())
    }

    async fn live(&self) -> Result<Vec<(KeyInfo, SigningKey)>, KeyStoreError> {
        let entries = self.entries().await?;
        let newest = entries.len().saturating_sub(1);
        let successors: Vec<Option<i64>> = (0..entries.len())
            .map(|i| entries.get(i + 1).map(|n| n.created))
            .collect();
        let mut live = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let retires = successors[i].map(|next| next.saturating_add(self.overlap));
            if retires.is_some_and(|t| t < clock::now().as_secs()) {
                // Every token this key signed has expired. A failure only
                // delays the removal to the next read.
                if let Err(e) = self.remove(&entry).await {
                    tracing::warn!(error = %e, kid = %entry.key.kid(), "cannot delete a retired signing key");
                }
                continue;
            }
            let info = KeyInfo {
                kid: entry.key.kid().to_string(),
                alg: entry.key.algorithm(),
                created: entry.created,
                signing: i == newest,
                retires,
            };
            live.push((info, entry.key));
        }
        Ok(live)
    }

    /// The ring: the newest key signs, the others verify.
    pub(crate) async fn ring(&self) -> Result<KeyRing, KeyStoreError> {
        let mut ring = KeyRing::default();
        for (_, key) in self.live().await? {
            ring.rotate(key);
        }
        Ok(ring)
    }

    /// A cheap fingerprint of the stored keys (no key is read or unsealed),
    /// to notice a rotation by another process.
    pub(crate) async fn fingerprint(&self) -> Result<Vec<String>, KeyStoreError> {
        match &self.backend {
            Backend::Directory(dir) => on_disk(dir, |f| Ok(f.fingerprint())).await,
            #[cfg(feature = "postgres")]
            Backend::Database(db) => db.fingerprint().await,
        }
    }
}

/// Runs a step on the key directory on tokio's blocking pool: the key poll
/// and the admin commands must not hold an async worker on file I/O.
async fn on_disk<T, F>(dir: &directory::Directory, step: F) -> Result<T, KeyStoreError>
where
    T: Send + 'static,
    F: FnOnce(&directory::Directory) -> Result<T, KeyStoreError> + Send + 'static,
{
    let owned = dir.clone();
    match tokio::task::spawn_blocking(move || step(&owned)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: only while the runtime shuts down.
        Err(e) => Err(KeyStoreError::Io {
            path: dir.dir().to_owned(),
            source: std::io::Error::other(e),
        }),
    }
}

/// A new key of `alg` and its private half as PKCS#8 PEM.
fn generate(alg: Algorithm) -> Result<(SigningKey, Zeroizing<String>), KeyStoreError> {
    let key = SigningKey::generate(alg).map_err(|e| KeyStoreError::Generate(e.to_string()))?;
    let pem = key.to_pkcs8_pem().ok_or_else(|| {
        KeyStoreError::Generate(format!(
            "{alg} keys are shared secrets: configure secret_key instead"
        ))
    })?;
    Ok((key, pem))
}
