//! Key files as the command line (and later the service) reads them: PEM
//! keys, JWKs, JWK Sets, and raw HMAC secrets.
//!
//! A file is read as PEM when it contains `-----BEGIN`, as a JWK when it
//! is a JSON object, and otherwise, only when the algorithm is HS256, HS384
//! or HS512, as a raw secret: its bytes exactly, a trailing newline
//! included. A PEM key is therefore never used as an HMAC secret.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokengate::keys::{Algorithm, Jwk, KeyFamily, SigningKey, VerifyingKey};

/// Key files larger than this are refused unread: no key is this large.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// A key file that cannot be read or used, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("key file {}: {reason}", path.display())]
pub(crate) struct KeyFileError {
    /// The file.
    pub(crate) path: PathBuf,
    /// What is wrong with it.
    pub(crate) reason: String,
}

impl KeyFileError {
    fn new(path: &Path, reason: impl ToString) -> Self {
        KeyFileError {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// What a key file holds.
enum Material {
    Pem(String),
    Jwk(Box<Jwk>),
    Secret(Vec<u8>),
}

/// A signing key from a PEM private key, a private JWK, or (HS* only) a raw
/// secret. `warn` receives notes that do not stop the load.
pub(crate) fn signing_key(
    path: &Path,
    alg: Option<Algorithm>,
    warn: &mut dyn FnMut(String),
) -> Result<SigningKey, KeyFileError> {
    let fail = |reason| KeyFileError::new(path, reason);
    let key = match load(path, alg, warn)? {
        Material::Pem(text) if text.contains("PUBLIC KEY-----") => {
            return Err(fail(
                "holds a public key; signing needs a private key".into(),
            ));
        }
        Material::Pem(text) => SigningKey::from_pem(&text, alg),
        Material::Jwk(jwk) if jwk.d.is_none() && jwk.k.is_none() => {
            return Err(fail(
                "holds a public JWK; signing needs a private one".into(),
            ));
        }
        Material::Jwk(jwk) => SigningKey::from_jwk(&jwk, alg),
        Material::Secret(secret) => SigningKey::from_secret(secret_alg(alg), &secret),
    };
    key.map_err(|e| fail(e.to_string()))
}

/// A verifying key from a PEM public or private key, a JWK, or (HS* only) a
/// raw secret. `warn` receives notes that do not stop the load.
pub(crate) fn verifying_key(
    path: &Path,
    alg: Option<Algorithm>,
    warn: &mut dyn FnMut(String),
) -> Result<VerifyingKey, KeyFileError> {
    let key = match load(path, alg, warn)? {
        Material::Pem(text) => VerifyingKey::from_pem(&text, alg),
        Material::Jwk(jwk) => VerifyingKey::from_jwk(&jwk, alg),
        Material::Secret(secret) => VerifyingKey::from_secret(secret_alg(alg), &secret),
    };
    key.map_err(|e| KeyFileError::new(path, e))
}

/// The usable keys of a JWK Set. `alg` applies to keys without an `alg` of
/// their own. Keys that cannot be used are passed to `warn` and skipped; a
/// set with no usable key is an error.
pub(crate) fn jwks(
    path: &Path,
    alg: Option<Algorithm>,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<VerifyingKey>, KeyFileError> {
    let bytes = read(path)?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| KeyFileError::new(path, format!("not valid JSON: {e}")))?;
    let Some(entries) = value.get("keys").and_then(Value::as_array) else {
        return Err(KeyFileError::new(
            path,
            "not a JWK Set: it has no \"keys\" array",
        ));
    };
    let mut keys = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match jwks_entry(entry, alg) {
            Ok(key) => keys.push(key),
            Err(reason) => warn(format!(
                "key file {}: skipping key {index}{}: {reason}",
                path.display(),
                entry
                    .get("kid")
                    .and_then(Value::as_str)
                    .map(|kid| format!(" (kid {kid:?})"))
                    .unwrap_or_default()
            )),
        }
    }
    if keys.is_empty() {
        return Err(KeyFileError::new(path, "the JWK Set has no usable key"));
    }
    Ok(keys)
}

fn jwks_entry(entry: &Value, alg: Option<Algorithm>) -> Result<VerifyingKey, String> {
    let jwk = parse_jwk(entry)?;
    if let Some(use_) = jwk.use_.as_deref().filter(|u| *u != "sig") {
        return Err(format!("its use is {use_:?}, not \"sig\""));
    }
    let alg = if jwk.alg.is_some() { None } else { alg };
    VerifyingKey::from_jwk(&jwk, alg).map_err(|e| e.to_string())
}

/// A JWK from a JSON value, with a message fit for a user.
fn parse_jwk(value: &Value) -> Result<Jwk, String> {
    if value.get("keys").is_some() {
        return Err("this is a JWK Set, not a single JWK".into());
    }
    serde_json::from_value(value.clone()).map_err(|e| format!("not a JWK: {e}"))
}

/// The algorithm of a raw secret: [`load`] only returns secrets for HS*.
fn secret_alg(alg: Option<Algorithm>) -> Algorithm {
    alg.unwrap_or(Algorithm::HS256)
}

fn load(
    path: &Path,
    alg: Option<Algorithm>,
    warn: &mut dyn FnMut(String),
) -> Result<Material, KeyFileError> {
    let bytes = read(path)?;
    let material = classify(bytes, alg).map_err(|reason| KeyFileError::new(path, reason))?;
    if let (Material::Pem(_), Some(alg)) = (&material, alg)
        && alg.family() == KeyFamily::Hmac
    {
        return Err(KeyFileError::new(
            path,
            format!("holds a PEM key, which is never used as an {alg} secret"),
        ));
    }
    if let Material::Secret(secret) = &material
        && secret.ends_with(b"\n")
    {
        warn(format!(
            "key file {}: the secret ends with a newline, which is part of the secret",
            path.display()
        ));
    }
    Ok(material)
}

fn classify(bytes: Vec<u8>, alg: Option<Algorithm>) -> Result<Material, String> {
    let hmac = alg.is_some_and(|a| a.family() == KeyFamily::Hmac);
    if let Ok(text) = std::str::from_utf8(&bytes) {
        // Anywhere in the file, so that no PEM key (even after a preamble,
        // as `openssl` may write) is ever taken for an HMAC secret.
        if text.contains("-----BEGIN") {
            return Ok(Material::Pem(text.to_owned()));
        }
        if text.trim_start().starts_with('{') {
            match serde_json::from_str::<Value>(text) {
                Ok(value) => return parse_jwk(&value).map(|j| Material::Jwk(j.into())),
                Err(e) if !hmac => return Err(format!("not valid JSON: {e}")),
                Err(_) => {}
            }
        }
    }
    if hmac {
        Ok(Material::Secret(bytes))
    } else {
        Err("not a PEM key or a JWK (a raw HMAC secret needs --alg HS256, HS384 or HS512)".into())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let fail = |e: std::io::Error| KeyFileError::new(path, format!("cannot read: {e}"));
    let file = File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(KeyFileError::new(path, "larger than 1 MiB; not a key file"));
    }
    Ok(bytes)
}
