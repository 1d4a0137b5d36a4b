//! Keys as files: one PKCS#8 PEM file per key, named
//! `{created}-{kid}.{alg}.pem`, in a directory only its owner can read. The
//! name carries the algorithm because a PEM file does not: an RSA key serves
//! RS256/384/512 and PS256/384/512. A file named `{created}-{kid}.pem` (as
//! written before) holds a key of its natural algorithm: RS256 for RSA, the
//! curve's for EC, EdDSA. Plain blocking file calls: the key store runs them
//! on tokio's blocking pool (`KeyStore::on_disk`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokengate::clock;
use tokengate::keys::{Algorithm, SigningKey};

use super::{Entry, KeyStoreError};

/// The key directory, `{data_dir}/keys`.
#[derive(Debug, Clone)]
pub(super) struct Directory {
    dir: PathBuf,
}

impl Directory {
    pub(super) fn new(data_dir: &Path) -> Self {
        Directory {
            dir: data_dir.join("keys"),
        }
    }

    /// The directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
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

    /// Writes `pem`, the key `kid` for `alg`, as the newest key; returns its
    /// creation time.
    pub(super) fn add(&self, kid: &str, alg: Algorithm, pem: &str) -> Result<i64, KeyStoreError> {
        self.ensure_dir()?;
        let created = match self.entries()?.iter().map(|e| e.created).max() {
            Some(previous) => clock::now().as_secs().max(previous + 1),
            None => clock::now().as_secs(),
        };
        let path = self.dir.join(format!("{created:012}-{kid}.{alg}.pem"));
        let tmp = self.dir.join(format!(".{created}-{kid}.tmp"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(self.io(&tmp))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(self.io(&tmp))?;
        // Readers see the whole file or none of it.
        fs::rename(&tmp, &path).map_err(self.io(&path))?;
        Ok(created)
    }

    /// Every key file, in no particular order.
    pub(super) fn entries(&self) -> Result<Vec<Entry>, KeyStoreError> {
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
            let Some((created, rest)) = name.strip_suffix(".pem").and_then(|n| n.split_once('-'))
            else {
                continue;
            };
            let bad = |reason: String| KeyStoreError::BadKey {
                path: path.clone(),
                reason,
            };
            let created = created
                .parse()
                .map_err(|_| bad("name must be {created}-{kid}.{alg}.pem".into()))?;
            // The algorithm is the last dot-separated part; a generated kid
            // (an RFC 7638 thumbprint, base64url) has no dot.
            let alg = match rest.rsplit_once('.') {
                Some((_, alg)) => Some(alg.parse::<Algorithm>().map_err(|e| bad(e.to_string()))?),
                None => None,
            };
            let pem = fs::read_to_string(&path).map_err(self.io(&path))?;
            let key = SigningKey::from_pem(&pem, alg).map_err(|e| bad(e.to_string()))?;
            entries.push(Entry {
                created,
                key,
                file: Some(path),
            });
        }
        Ok(entries)
    }

    /// Deletes a key file.
    pub(super) fn remove(&self, file: &Path) -> Result<(), KeyStoreError> {
        match fs::remove_file(file) {
            // Another process (the service, an admin command) was first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|source| KeyStoreError::Io {
                path: file.to_owned(),
                source,
            }),
        }
    }

    /// The names of the key files, sorted.
    pub(super) fn fingerprint(&self) -> Vec<String> {
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
