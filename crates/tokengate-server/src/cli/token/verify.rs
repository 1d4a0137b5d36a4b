//! `tokengate token verify`.

use std::path::PathBuf;
use tokengate::TokenRejection;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{ArgGroup, Args};
use serde_json::{Map, Value};
use tokengate::Error;
use tokengate::keys::{Algorithm, KeyRing, Kid, VerifyingKey};
use tokengate::token::{TokenEngine, Validation};

use super::{decode, warn_key};
use crate::cli::{CliError, parse_alg, stdio};
use crate::key_import;

/// Arguments of `token verify`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("keys").required(true).args(["key", "jwks"])))]
pub(crate) struct VerifyArgs {
    /// The key: a PEM public or private key, a JWK, or (with --alg HS*) a raw
    /// secret file. Tried whatever the token's `kid`.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// A JWK Set file: the token's `kid` picks the key (keys without a `kid`
    /// are named by their RFC 7638 thumbprint). Unusable keys are skipped
    /// with a warning.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Algorithm of the key (for --jwks, of keys without an `alg`); defaults
    /// to the key's own. The token's `alg` header must match it.
    #[arg(long, value_name = "ALG", value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Require this audience (`aud`); repeat to accept any of several.
    #[arg(long, value_name = "AUD")]
    aud: Vec<String>,
    /// Require this issuer (`iss`).
    #[arg(long, value_name = "ISS")]
    iss: Option<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (default 0).
    #[arg(long, value_name = "SECONDS")]
    leeway: Option<u64>,
    /// Check only the signature and print the payload (JSON if it parses,
    /// else base64url): for a JWS whose payload is not a claim set.
    #[arg(long, conflicts_with_all = ["aud", "iss", "leeway"])]
    signature_only: bool,
    /// The token, or `-` to read it from standard input (at most 8 KiB).
    #[arg(value_name = "TOKEN")]
    token: String,
}

/// Verifies the token and prints its payload; a refused token's code goes
/// to stdout with exit 1.
pub(super) fn run(args: VerifyArgs) -> Result<(), CliError> {
    // Key files first: a configuration error is exit 2 whatever the token.
    let keys = load_keys(&args)?;
    let token = stdio::read_token(&args.token)?;
    // Read without trust, only to bind a --key to the token's kid and to
    // explain an algorithm mismatch.
    let header = decode::decode(&token).ok().map(|d| d.header);
    let keys = keys.for_token(header.as_ref());
    let engine = TokenEngine::new(KeyRing::verify_only(keys)).with_validation(validation(&args));
    match check(&engine, &token, args.signature_only) {
        Ok(Payload::Claims(claims)) => stdio::print_json(&Value::Object(claims)),
        Ok(Payload::Bytes(bytes)) => print_payload(&bytes),
        Err(err) => {
            if let Error::Token(TokenRejection::Invalid(_)) = err {
                hint_algorithm(header.as_ref(), engine.keys().verifying_keys());
            }
            Err(err.into())
        }
    }
}

fn check(engine: &TokenEngine, token: &str, signature_only: bool) -> Result<Payload, Error> {
    if signature_only {
        engine
            .verify_signature(token)
            .map(|signed| Payload::Bytes(signed.payload))
    } else {
        engine
            .verify(token)
            .map(|verified| Payload::Claims(verified.payload()))
    }
}

/// What a successful verification prints.
enum Payload {
    /// A verified claim set.
    Claims(Map<String, Value>),
    /// A payload whose signature alone was checked.
    Bytes(Vec<u8>),
}

/// Any JWT: only `exp` is required, and `iss`/`aud` when given.
fn validation(args: &VerifyArgs) -> Validation {
    let validation = Validation::external()
        .audience(args.aud.iter().cloned())
        .leeway(args.leeway.unwrap_or(0));
    match &args.iss {
        Some(iss) => validation.issuer(iss.clone()),
        None => validation,
    }
}

/// The keys of `--key` or `--jwks`.
enum Keys {
    /// The one key of `--key`.
    Single(Box<VerifyingKey>),
    /// The usable keys of `--jwks`.
    Set(Vec<VerifyingKey>),
}

fn load_keys(args: &VerifyArgs) -> Result<Keys, CliError> {
    Ok(match (&args.key, &args.jwks) {
        (Some(path), _) => Keys::Single(Box::new(key_import::verifying_key(
            path,
            args.alg,
            &mut warn_key,
        )?)),
        (None, Some(path)) => Keys::Set(key_import::jwks(path, args.alg, &mut warn_key)?),
        (None, None) => unreachable!("clap requires --key or --jwks"),
    })
}

impl Keys {
    /// The keys to check `header`'s token with: one key given by hand is
    /// tried whatever `kid` the token names; in a set, the `kid` picks.
    fn for_token(self, header: Option<&Map<String, Value>>) -> Vec<VerifyingKey> {
        let kid = header.and_then(|h| h.get("kid")).and_then(Value::as_str);
        match (self, kid) {
            (Keys::Single(key), Some(kid)) => vec![key.with_kid(Kid::new(kid))],
            (Keys::Single(key), None) => vec![*key],
            (Keys::Set(keys), _) => keys,
        }
    }
}

/// The payload of a signature-only check: JSON if it parses, else base64url.
fn print_payload(payload: &[u8]) -> Result<(), CliError> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(value) => stdio::print_json(&value),
        Err(_) => {
            stdio::warn(format_args!(
                "note: the payload is not JSON; printed as base64url"
            ));
            stdio::print(&URL_SAFE_NO_PAD.encode(payload))
        }
    }
}

/// Explains a refusal caused by the token's `alg` naming no loaded key's algorithm.
fn hint_algorithm(header: Option<&Map<String, Value>>, keys: &[VerifyingKey]) {
    let Some(alg) = header
        .and_then(|h| h.get("alg"))
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<Algorithm>().ok())
    else {
        return;
    };
    if keys.iter().all(|k| k.algorithm() != alg) {
        let mut have: Vec<&str> = keys.iter().map(|k| k.algorithm().as_str()).collect();
        have.dedup();
        stdio::warn(format_args!(
            "hint: the token is signed with {alg} but the key is for {}; \
             pass --alg {alg} if the key is meant for {alg}",
            have.join(", ")
        ));
    }
}
