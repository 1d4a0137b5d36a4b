//! Protected files: `GET /api/files`, `POST /api/files/{name}/link`
//! and `GET /files/{name}`, with a token or a signed link.
//!
//! A signed link is `/files/{name}?expires=E&sub=S&sig=M`, where `M` is the
//! base64url HMAC-SHA256, under the [`LinkKey`], of
//! `"tokengate signed link v1\0" path "\0" E "\0" S`, `path` being
//! `/files/{name}` with the name percent-encoded as in the URL. The MAC is
//! checked (in constant time) before the expiry and before any file is
//! looked at: a forged link learns nothing, not even whether a file exists.
//!
//! A name is a single path segment ([`valid_name`]); the file must be a
//! regular file directly in `files_dir` once symlinks are resolved, and at
//! most [`MAX_FILE`] bytes. Anything else is 404 `not_found`, never a path.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokengate::TokenRejection;

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path as UrlPath, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use tokengate::Error;
use tokengate::axum::{AccessToken, FirstParty, IssuedBy};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::openapi::{NotFound, Unauthorized};
use super::{AppState, error_body};
use crate::config::Settings;

/// How long a signed link works.
pub(crate) const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Files larger than this are neither listed nor served (404).
pub(crate) const MAX_FILE: u64 = 20 * 1024 * 1024;
/// Longest file name accepted, in bytes.
const MAX_NAME: usize = 255;
/// Domain separation of the MAC'd string.
const MAC_PREFIX: &str = "tokengate signed link v1";
/// HKDF salt when the key is derived from `key_encryption_secret`.
const HKDF_SALT: &[u8] = b"tokengate signed links v1";
/// HKDF info: what the derived key is for.
const HKDF_INFO: &[u8] = b"HMAC-SHA256 link key";
/// The generated key's file in the data directory.
const KEY_FILE: &str = "link.key";
/// Written into a new files directory for the demo page.
const SAMPLES: [(&str, &[u8]); 2] = [
    (
        "tokengate.png",
        include_bytes!("../../assets/samples/tokengate.png"),
    ),
    (
        "orange.png",
        include_bytes!("../../assets/samples/orange.png"),
    ),
];

/// The HMAC key of signed links. `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct LinkKey(Arc<hmac::Key>);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey([redacted])")
    }
}

impl LinkKey {
    /// Derived from `key_encryption_secret` when it is set (every instance
    /// then signs alike), else the 32 random bytes of `{data_dir}/link.key`,
    /// generated on first use.
    pub(crate) fn from_settings(settings: &Settings) -> io::Result<LinkKey> {
        if let Some(secret) = &settings.key_encryption_secret {
            return LinkKey::derive(secret.expose().as_bytes());
        }
        let path = settings.data_dir.join(KEY_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => generate_key_file(&path)?,
            Err(e) => return Err(e),
        };
        if bytes.len() != 32 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold 32 bytes", path.display()),
            ));
        }
        Ok(LinkKey(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &bytes))))
    }

    fn derive(secret: &[u8]) -> io::Result<LinkKey> {
        let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(secret);
        let okm = prk
            .expand(&[HKDF_INFO], hmac::HMAC_SHA256)
            .map_err(|_| io::Error::other("cannot derive the link key"))?;
        Ok(LinkKey(Arc::new(hmac::Key::from(okm))))
    }

    /// The base64url MAC of a link.
    fn sign(&self, path: &str, expires: u64, sub: &str) -> String {
        let tag = hmac::sign(&self.0, &mac_input(path, expires, sub));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `sig` (base64url) is the MAC of the link; constant time.
    fn verify(&self, path: &str, expires: u64, sub: &str, sig: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        hmac::verify(&self.0, &mac_input(path, expires, sub), &tag).is_ok()
    }
}

/// Unambiguous: the path is percent-encoded (no NUL), the expiry is digits,
/// and the subject comes last.
fn mac_input(path: &str, expires: u64, sub: &str) -> Vec<u8> {
    format!("{MAC_PREFIX}\0{path}\0{expires}\0{sub}").into_bytes()
}

/// 32 random bytes written to `path` (mode 0600): whole or not at all, and
/// never over a key another process wrote first (whose key is then used).
fn generate_key_file(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut key = Zeroizing::new(vec![0u8; 32]);
    aws_lc_rs::rand::fill(&mut key[..]).map_err(|_| io::Error::other("no randomness"))?;
    let tmp = path.with_file_name(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()))
        // A hard link, unlike a rename, never replaces an existing key.
        .and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Zeroizing::new(fs::read(path)?)),
        Err(e) => Err(e),
    }
}

/// At start: the link key, and, when `files_dir` does not exist yet, the
/// directory with the demo's sample images.
pub(crate) fn prepare(settings: &Settings) -> io::Result<LinkKey> {
    let dir = &settings.files_dir;
    if fs::symlink_metadata(dir).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
        fs::create_dir_all(dir)?;
        for (name, bytes) in SAMPLES {
            fs::write(dir.join(name), bytes)?;
        }
    }
    LinkKey::from_settings(settings)
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(link))
        .routes(routes!(file))
}

/// One entry of `GET /api/files`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FileEntry)]
struct Entry {
    name: String,
    /// In bytes.
    size: u64,
}

/// A signed link to a file.
#[derive(Debug, Serialize, ToSchema)]
struct SignedLink {
    /// `/files/{name}?expires=E&sub=S&sig=M`, relative to the service.
    url: String,
    /// Seconds the link works.
    #[schema(example = 300)]
    expires_in: u64,
}

/// List files
///
/// `GET /api/files`: the regular files directly in `files_dir` (no
/// dotfiles, symlinks or subdirectories), by name.
#[utoipa::path(
    get,
    path = "/api/files",
    operation_id = "list_files",
    tag = "files",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The files, by name", body = Vec<Entry>),
        (status = 401, response = Unauthorized),
        (status = 503, description = "`unavailable`: the files cannot be listed", body = super::openapi::ErrorBody),
    )
)]
async fn list(
    _: IssuedBy<FirstParty, AccessToken>,
    State(state): State<AppState>,
) -> Result<Json<Vec<Entry>>, Response> {
    let mut entries = Vec::new();
    let mut read = match tokio::fs::read_dir(&state.settings.files_dir).await {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Json(entries)),
        Err(e) => return Err(unavailable(e)),
    };
    loop {
        let item = match read.next_entry().await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => return Err(unavailable(e)),
        };
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !valid_name(&name) || !item.file_type().await.is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Ok(meta) = item.metadata().await
            && meta.len() <= MAX_FILE
        {
            entries.push(Entry {
                name,
                size: meta.len(),
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(entries))
}

fn unavailable(error: io::Error) -> Response {
    tracing::warn!(%error, "cannot list the files directory");
    error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the files cannot be listed",
    )
}

/// Sign a link to a file
///
/// `POST /api/files/{name}/link`: a link to the file that works without a
/// token for five minutes (`LINK_LIFETIME`), for this file only.
#[utoipa::path(
    post,
    path = "/api/files/{name}/link",
    operation_id = "link_file",
    tag = "files",
    params(("name" = String, Path, description = "The file's name")),
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "A signed link", body = SignedLink),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
async fn link(
    token: IssuedBy<FirstParty, AccessToken>,
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let Ok(UrlPath(name)) = name else {
        return not_found();
    };
    if locate(&state.settings.files_dir, &name).await.is_none() {
        return not_found();
    }
    let path = file_path(&name);
    let expires = unix_now() + LINK_LIFETIME.as_secs();
    let sub = token.subject();
    let sig = state.links.sign(&path, expires, sub);
    let url = format!(
        "{path}?expires={expires}&sub={}&sig={sig}",
        percent_encode(sub)
    );
    let body = SignedLink {
        url,
        expires_in: LINK_LIFETIME.as_secs(),
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// How long a served file may be cached.
enum Caching {
    /// Until the link expires (Unix seconds).
    Until(u64),
    /// Not at all (token-authenticated).
    NoStore,
}

/// Download a file
///
/// `GET /files/{name}`: with `sig`, a signed link; else an access token
/// wherever the gate looks for one.
#[utoipa::path(
    get,
    path = "/files/{name}",
    operation_id = "get_file",
    tag = "files",
    params(
        ("name" = String, Path, description = "The file's name"),
        ("expires" = Option<u64>, Query, description = "A signed link's expiry (Unix seconds)"),
        ("sub" = Option<String>, Query, description = "A signed link's user"),
        ("sig" = Option<String>, Query, description = "A signed link's MAC (base64url)"),
    ),
    security((), ("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The file; its type by extension", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Cache-Control" = String, description = "`no-store` with a token; `private, max-age=…` until a link expires"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
async fn file(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
    request: Request,
) -> Response {
    let query = parse_query(request.uri().query().unwrap_or(""));
    let caching = if query.iter().any(|(key, _)| key == "sig") {
        let name = name.as_ref().map(|p| p.0.as_str()).unwrap_or("");
        match check_link(&state.links, name, &query) {
            Ok(expires) => Caching::Until(expires),
            Err(error) => return state.gate.error_response(error),
        }
    } else {
        let (mut parts, _) = request.into_parts();
        if let Err(rejection) =
            IssuedBy::<FirstParty, AccessToken>::from_request_parts(&mut parts, &state).await
        {
            return rejection.into_response();
        }
        Caching::NoStore
    };
    let Ok(UrlPath(name)) = name else {
        return not_found();
    };
    let Some(path) = locate(&state.settings.files_dir, &name).await else {
        return not_found();
    };
    let Some((file, length)) = open(&path).await else {
        return not_found();
    };
    let cache = match caching {
        Caching::Until(expires) => {
            let left = expires.saturating_sub(unix_now());
            format!("private, max-age={left}")
        }
        Caching::NoStore => "no-store".to_owned(),
    };
    // Streamed from disk: a 20 MiB file never sits in memory whole. Read
    // at most the length checked, so a file growing meanwhile is cut there.
    let body = Body::from_stream(ReaderStream::new(file.take(length)));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&name)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Harmless for images, and an SVG (or anything else) opened directly
    // runs no script and reaches no cookie.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// The expiry of a good link to `name`; `invalid_token` for a link that is
/// malformed, tampered with or for another file, then `token_expired`.
fn check_link(key: &LinkKey, name: &str, query: &[(String, String)]) -> Result<u64, Error> {
    const INVALID: Error = Error::Token(TokenRejection::Invalid("invalid signed link"));
    let single = |want: &str| {
        let mut values = query.iter().filter(|(key, _)| key == want);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Ok(value.as_str()),
            _ => Err(INVALID),
        }
    };
    let (expires, sub, sig) = (single("expires")?, single("sub")?, single("sig")?);
    let canonical_expiry = !expires.is_empty()
        && expires.len() <= 20
        && expires.bytes().all(|b| b.is_ascii_digit())
        && !expires.starts_with('0');
    let expires: u64 = match expires.parse() {
        Ok(expires) if canonical_expiry => expires,
        _ => return Err(INVALID),
    };
    if sub.is_empty() || sub.contains('\0') {
        return Err(INVALID);
    }
    if !key.verify(&file_path(name), expires, sub, sig) {
        return Err(INVALID);
    }
    if unix_now() >= expires {
        return Err(TokenRejection::Expired.into());
    }
    Ok(expires)
}

/// Whether `name` is one plain path segment: not empty, at most 255 bytes,
/// no `/`, `\`, NUL or control character, not starting with `.` (which
/// also refuses `.` and `..`).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The file `name` names: a regular file of at most [`MAX_FILE`] bytes
/// whose resolved path is directly in the resolved `dir`.
async fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    if !valid_name(name) {
        return None;
    }
    let dir = tokio::fs::canonicalize(dir).await.ok()?;
    let path = tokio::fs::canonicalize(dir.join(name)).await.ok()?;
    if path.parent() != Some(dir.as_path()) {
        return None;
    }
    // A symlink in the directory may only lead to a file it could list.
    if !path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(valid_name)
    {
        return None;
    }
    // Checked before opening: opening a FIFO would wait for a writer.
    let meta = tokio::fs::metadata(&path).await.ok()?;
    (meta.is_file() && meta.len() <= MAX_FILE).then_some(path)
}

/// The file [`locate`] found, open, and its length: checked again on the
/// open file (it may have been replaced since).
async fn open(path: &Path) -> Option<(tokio::fs::File, u64)> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    (meta.is_file() && meta.len() <= MAX_FILE).then_some((file, meta.len()))
}

/// The Content-Type of a file, by its extension.
fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `/files/{name}`, the name percent-encoded as in a link's URL.
fn file_path(name: &str) -> String {
    format!("/files/{}", percent_encode(name))
}

/// Every byte but RFC 3986's unreserved ones is encoded.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// The `key=value` pairs of a query, percent-decoded (`+` stays `+`: no
/// value of a link holds one). Undecodable pairs are kept raw.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// `%XX` decoded; text that does not decode to UTF-8 is kept raw.
fn percent_decode(text: &str) -> String {
    percent_decode_str(text)
        .decode_utf8()
        .map_or_else(|_| text.to_owned(), |decoded| decoded.into_owned())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn not_found() -> Response {
    error_body(StatusCode::NOT_FOUND, "not_found", "no such file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_plain_segments() {
        for good in ["a.png", "orange.png", "with space.txt", "é.png", "a..b"] {
            assert!(valid_name(good), "{good}");
        }
        let long = "a".repeat(256);
        for bad in [
            "", ".", "..", ".hidden", "../x", "a/b", "a\\b", "a\0b", "a\nb", &long,
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn links_bind_path_expiry_and_subject() {
        let key = LinkKey::derive(&[7u8; 32]).unwrap();
        let sig = key.sign("/files/a.png", 100, "1");
        assert!(key.verify("/files/a.png", 100, "1", &sig));
        assert!(!key.verify("/files/b.png", 100, "1", &sig));
        assert!(!key.verify("/files/a.png", 101, "1", &sig));
        assert!(!key.verify("/files/a.png", 100, "2", &sig));
        assert!(!key.verify("/files/a.png", 100, "1", "not base64!"));
        let other = LinkKey::derive(&[8u8; 32]).unwrap();
        assert!(!other.verify("/files/a.png", 100, "1", &sig));
        assert_eq!(format!("{key:?}"), "LinkKey([redacted])");
    }

    #[test]
    fn paths_and_queries_round_trip() {
        assert_eq!(file_path("a b/..png"), "/files/a%20b%2F..png");
        assert_eq!(
            parse_query("expires=5&sub=1%32&sig=x&&flag"),
            vec![
                ("expires".into(), "5".into()),
                ("sub".into(), "12".into()),
                ("sig".into(), "x".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(content_type("x.SVG"), "image/svg+xml");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
