//! `tokengate token issue`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::Value;
use tokengate::keys::{Algorithm, KeyRing};
use tokengate::token::{IssueSettings, NewToken, TokenEngine};

use super::warn_key;
use crate::cli::{CliError, parse_alg, stdio};
use crate::key_import;

/// Arguments of `token issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// Signing key: a PEM private key, a private JWK, or (with --alg HS*) a raw secret file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Algorithm; defaults to the key's own. Required for a raw HMAC secret.
    #[arg(long, value_name = "ALG", value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Subject (`sub`): whom the token identifies.
    #[arg(long, value_name = "SUB")]
    sub: String,
    /// Token type (`type` claim).
    #[arg(long = "type", value_enum, default_value_t = Kind::Access)]
    kind: Kind,
    /// Mark the access token fresh (`fresh: true`), as after a password login.
    #[arg(long)]
    fresh: bool,
    /// Scope (`scope`, space-separated); repeat to add more.
    #[arg(long, value_name = "SCOPE")]
    scope: Vec<String>,
    /// Lifetime: seconds, or a number with s, m, h or d (15m, 12h, 30d).
    /// Defaults to 15m for access tokens, 30d for refresh tokens. 0 issues an
    /// already-expired token.
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    ttl: Option<Duration>,
    /// An extra claim whose value is JSON, e.g. `role='"admin"'` or `level=3`;
    /// repeatable. Claims tokengate sets itself (sub, exp, ...) are refused.
    #[arg(long = "claim", value_name = "NAME=JSON", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
    /// Issuer (`iss`).
    #[arg(long, value_name = "ISS")]
    iss: Option<String>,
    /// Audience (`aud`); repeat for several.
    #[arg(long, value_name = "AUD")]
    aud: Vec<String>,
}

/// The `--type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Access,
    Refresh,
}

/// Signs the token and prints it.
pub(super) fn run(args: IssueArgs) -> Result<(), CliError> {
    let key = key_import::signing_key(&args.key, args.alg, &mut warn_key)?;
    let mut settings = IssueSettings::default().audience(args.aud.iter().cloned());
    if let Some(iss) = &args.iss {
        settings = settings.issuer(iss.clone());
    }
    let engine = TokenEngine::new(KeyRing::new(key)).with_settings(settings);
    let issued = engine
        .issue(new_token(args)?)
        .map_err(|e| CliError::Usage(format!("cannot sign the token: {e}")))?;
    stdio::print(&issued.token)
}

fn new_token(args: IssueArgs) -> Result<NewToken, CliError> {
    let mut token = match args.kind {
        Kind::Access => NewToken::access(args.sub),
        Kind::Refresh if args.fresh => {
            return Err(CliError::Usage(
                "--fresh applies to access tokens only".into(),
            ));
        }
        Kind::Refresh => NewToken::refresh(args.sub),
    };
    if args.fresh {
        token = token.fresh();
    }
    if !args.scope.is_empty() {
        token = token.scope(args.scope.join(" "));
    }
    token.ttl = args.ttl;
    let mut seen = HashSet::new();
    for (name, value) in args.claims {
        if !seen.insert(name.clone()) {
            return Err(CliError::Usage(format!("--claim {name} is given twice")));
        }
        token = token.claim(name, value);
    }
    Ok(token)
}

/// Parses `--ttl`: `N`, `Ns`, `Nm`, `Nh` or `Nd`.
fn parse_ttl(value: &str) -> Result<Duration, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let multiplier = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("expected seconds, or a number with s, m, h or d (e.g. 15m)".into()),
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| "expected a whole number, optionally followed by s, m, h or d")?;
    count
        .checked_mul(multiplier)
        .map(Duration::from_secs)
        .ok_or_else(|| "too long".into())
}

/// Parses `--claim NAME=JSON`.
fn parse_claim(value: &str) -> Result<(String, Value), String> {
    let (name, json) = value
        .split_once('=')
        .ok_or("expected NAME=JSON, e.g. role='\"admin\"'")?;
    if name.is_empty() {
        return Err("the claim name is empty".into());
    }
    if let Some(hint) = reserved_claim(name) {
        return Err(format!("{name} is set by tokengate{hint}"));
    }
    let value = serde_json::from_str(json).map_err(|e| {
        format!("the value of {name} is not JSON ({e}); quote strings: {name}='\"text\"'")
    })?;
    Ok((name.to_owned(), value))
}

/// For a claim tokengate sets itself, the option to use instead (or "").
fn reserved_claim(name: &str) -> Option<&'static str> {
    Some(match name {
        "sub" => "; use --sub",
        "exp" => "; use --ttl",
        "iss" => "; use --iss",
        "aud" => "; use --aud",
        "scope" => "; use --scope",
        "type" => "; use --type",
        "fresh" => "; use --fresh",
        "iat" | "nbf" | "jti" | "csrf" => "",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_ttl("30d"), Ok(Duration::from_secs(2_592_000)));
        for bad in ["", "m", "-5", "1.5h", "5w", "5 m", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_are_json_and_not_reserved() {
        assert_eq!(
            parse_claim("role=\"admin\""),
            Ok(("role".into(), Value::from("admin")))
        );
        assert_eq!(parse_claim("n=3"), Ok(("n".into(), Value::from(3))));
        assert!(parse_claim("role=admin").is_err());
        assert!(parse_claim("=1").is_err());
        assert!(parse_claim("role").is_err());
        assert!(parse_claim("exp=1").unwrap_err().contains("--ttl"));
        assert!(parse_claim("jti=\"x\"").is_err());
    }
}
