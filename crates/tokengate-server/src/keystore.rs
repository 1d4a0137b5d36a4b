//! Signing keys kept in the data directory: generated on first start,
//! rotated by `tokengate keys rotate`, readable only by their owner.
//!
//! Each key is one PKCS#8 PEM file named `{created}-{kid}.pem`. The newest
//! signs; an older key keeps verifying until every token it could have
//! signed has expired (the next key's creation plus the longest token
//! lifetime), and is then deleted.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokengate::keys::{Algorithm, KeyRing, SigningKey};
use tokengate::token::now;

/// A key directory that cannot be used: a start-up or CLI error.
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

/// The key directory.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    dir: PathBuf,
    overlap: i64,
}

struct Entry {
    path: PathBuf,
    created: i64,
    key: SigningKey,
}

impl KeyStore {
    /// The store in `{data_dir}/keys`, keeping old keys for `overlap` (the
    /// longest token lifetime) after a rotation.
    pub(crate) fn new(data_dir: &Path, overlap: Duration) -> Self {
        KeyStore {
            dir: data_dir.join("keys"),
            overlap: overlap.as_secs() as i64,
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError {
        let path = path.to_owned();
        move |source| KeyStoreError::Io { path, source }
    }

    fn ensure_dir(&self) -> Result<(), KeyStoreError> {
        fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(self.io(&self.dir))
    }

    /// The key ring, generating a first key of `alg` if the store is empty.
    pub(crate) fn load_or_generate(&self, alg: Algorithm) -> Result<KeyRing, KeyStoreError> {
        if self.entries()?.is_empty() {
            self.rotate(alg)?;
        }
        self.ring()
    }

    /// Adds a new signing key; the previous ones keep verifying.
    pub(crate) fn rotate(&self, alg: Algorithm) -> Result<KeyInfo, KeyStoreError> {
        self.ensure_dir()?;
        let key = SigningKey::generate(alg).map_err(|e| KeyStoreError::BadKey {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let pem = key.to_pkcs8_pem().ok_or_else(|| KeyStoreError::BadKey {
            path: self.dir.clone(),
            reason: format!("{alg} keys are shared secrets: configure secret_key instead"),
        })?;
        // A rotation in the same second as the previous key still sorts after it.
        let created = match self.entries()?.last() {
            Some(previous) => now().max(previous.created + 1),
            None => now(),
        };
        let path = self.dir.join(format!("{created:012}-{}.pem", key.kid()));
        let tmp = self.dir.join(format!(".{created}-{}.tmp", key.kid()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(self.io(&tmp))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(self.io(&tmp))?;
        fs::rename(&tmp, &path).map_err(self.io(&path))?;
        Ok(KeyInfo {
            kid: key.kid().to_string(),
            alg,
            created,
            signing: true,
            retires: None,
        })
    }

    fn entries(&self) -> Result<Vec<Entry>, KeyStoreError> {
        let read = match fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut entries = Vec::new();
        for item in read {
            let path = item.map_err(self.io(&self.dir))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let Some((created, _)) = name.strip_suffix(".pem").and_then(|n| n.split_once('-'))
            else {
                continue;
            };
            let bad = |reason: String| KeyStoreError::BadKey {
                path: path.clone(),
                reason,
            };
            let created = created
                .parse()
                .map_err(|_| bad("name must be {created}-{kid}.pem".into()))?;
            let pem = fs::read_to_string(&path).map_err(self.io(&path))?;
            let key = SigningKey::from_pem(&pem, None).map_err(|e| bad(e.to_string()))?;
            entries.push(Entry { path, created, key });
        }
        entries.sort_by_key(|e| e.created);
        Ok(entries)
    }

    /// The keys, oldest first, with their roles; retired keys are deleted.
    pub(crate) fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        Ok(self.live()?.into_iter().map(|(info, _)| info).collect())
    }

    fn live(&self) -> Result<Vec<(KeyInfo, SigningKey)>, KeyStoreError> {
        let entries = self.entries()?;
        let newest = entries.len().saturating_sub(1);
        let successors: Vec<Option<i64>> = (0..entries.len())
            .map(|i| entries.get(i + 1).map(|n| n.created))
            .collect();
        let mut live = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let retires = successors[i].map(|next| next.saturating_add(self.overlap));
            if retires.is_some_and(|t| t < now()) {
                // Every token this key signed has expired.
                let _ = fs::remove_file(&entry.path);
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
    pub(crate) fn ring(&self) -> Result<KeyRing, KeyStoreError> {
        let mut ring = KeyRing::default();
        for (_, key) in self.live()? {
            ring.rotate(key);
        }
        Ok(ring)
    }

    /// A cheap fingerprint of the directory, to notice a rotation by another process.
    pub(crate) fn fingerprint(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".pem"))
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tempdir::TempDir;

    #[test]
    fn generates_once_and_keeps_it_private() {
        let dir = TempDir::new();
        let store = KeyStore::new(dir.path(), Duration::from_secs(60));
        let first = store.load_or_generate(Algorithm::ES256).unwrap();
        let again = store.load_or_generate(Algorithm::ES256).unwrap();
        assert_eq!(
            first.signing_key().unwrap().kid(),
            again.signing_key().unwrap().kid()
        );
        let file = fs::read_dir(dir.path().join("keys"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let keys_dir = fs::metadata(dir.path().join("keys")).unwrap();
        assert_eq!(keys_dir.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn rotation_keeps_the_old_key_verifying() {
        let dir = TempDir::new();
        let store = KeyStore::new(dir.path(), Duration::from_secs(3600));
        let ring = store.load_or_generate(Algorithm::ES256).unwrap();
        let old = ring.signing_key().unwrap().kid().clone();
        let new = store.rotate(Algorithm::ES256).unwrap();
        let ring = store.ring().unwrap();
        assert_eq!(ring.signing_key().unwrap().kid().as_str(), new.kid);
        assert_eq!(ring.jwks().keys.len(), 2);
        let list = store.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].kid, old.as_str());
        assert!(!list[0].signing && list[1].signing);
        assert!(list[0].retires.is_some());
    }

    #[test]
    fn retired_keys_are_deleted() {
        let dir = TempDir::new();
        // No overlap: the old key retires as soon as the new one exists.
        let store = KeyStore::new(dir.path(), Duration::ZERO);
        store.load_or_generate(Algorithm::EdDSA).unwrap();
        store.rotate(Algorithm::EdDSA).unwrap();
        // The successor was created this second or the next; with no overlap
        // the old key is retired strictly after that.
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.ring().unwrap().jwks().keys.len(), 1);
    }
}
