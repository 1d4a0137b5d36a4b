//! `tokengate config check`: the effective settings, each with where it
//! came from, secrets redacted.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Registration, Settings, Source};

/// One line of the report: a key, its effective value as shown, and where
/// it came from (`None`: the default).
pub(crate) struct Line {
    pub(crate) key: &'static str,
    pub(crate) value: String,
    pub(crate) source: Option<Source>,
}

fn secs(d: Duration) -> String {
    format!("{d:?}")
}

fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "(none)".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn redacted(set: bool) -> String {
    if set { "[redacted]" } else { "(none)" }.to_owned()
}

/// The relying party id, with a word when the default `localhost` cannot
/// serve a `listen` address browsers reach by IP.
fn webauthn_rp_id(s: &Settings) -> String {
    let ip = s.listen.ip();
    if s.webauthn_rp_id_set || ip.is_loopback() {
        return s.webauthn_rp_id.clone();
    }
    format!(
        "{} (default; listen is {ip}, and browsers refuse an IP address as a relying party: \
         passkeys work only from http://localhost until webauthn_rp_id names the site's domain)",
        s.webauthn_rp_id
    )
}

impl Settings {
    /// Every setting with its effective value (secrets redacted: only
    /// whether they are set) and its source.
    pub(crate) fn report(&self) -> Vec<Line> {
        let s = self;
        let values: Vec<(&'static str, String)> = vec![
            ("listen", s.listen.to_string()),
            (
                "metrics_listen",
                s.metrics_listen
                    .map_or("(none: /metrics on listen)".into(), |a| a.to_string()),
            ),
            ("data_dir", s.data_dir.display().to_string()),
            ("database_url", s.database_url.redacted()),
            (
                "redis_url",
                s.redis_url
                    .as_ref()
                    .map_or("(none)".into(), |u| u.redacted()),
            ),
            ("database_pool_size", s.database_pool_size.to_string()),
            ("redis_prefix", s.redis_prefix.clone()),
            ("revocation_poll_interval", secs(s.revocation_poll_interval)),
            (
                "key_encryption_secret",
                redacted(s.key_encryption_secret.is_some()),
            ),
            (
                "algorithm",
                s.algorithm
                    .map_or("(the generated key's: ES256)".into(), |a| a.to_string()),
            ),
            ("secret_key", redacted(s.secret_key.is_some())),
            (
                "private_key_file",
                s.private_key_file
                    .as_ref()
                    .map_or("(none: generated in data_dir)".into(), |p| {
                        p.display().to_string()
                    }),
            ),
            ("issuer", s.issuer.clone()),
            ("audience", list(&s.audience)),
            ("access_token_ttl", secs(s.access_token_ttl)),
            ("refresh_token_ttl", secs(s.refresh_token_ttl)),
            ("leeway", format!("{}s", s.leeway)),
            (
                "token_locations",
                list(
                    &s.token_locations
                        .iter()
                        .map(|l| format!("{l:?}").to_lowercase())
                        .collect::<Vec<_>>(),
                ),
            ),
            ("cookie_secure", s.cookie_secure.to_string()),
            ("cookie_samesite", format!("{:?}", s.cookie_samesite)),
            (
                "cookie_domain",
                s.cookie_domain.clone().unwrap_or_else(|| "(none)".into()),
            ),
            ("cors_origins", list(&s.cors_origins)),
            (
                "registration",
                match s.registration {
                    Registration::Open => "open",
                    Registration::Closed => "closed",
                }
                .into(),
            ),
            ("password_min_length", s.password_min_length.to_string()),
            ("login_max_failures", s.login_max_failures.to_string()),
            ("login_failure_window", secs(s.login_failure_window)),
            ("refresh_reuse_interval", secs(s.refresh_reuse_interval)),
            ("dpop", s.dpop.as_str().into()),
            (
                "dpop_algorithms",
                s.dpop_algorithms
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("dpop_proof_max_age", secs(s.dpop_proof_max_age)),
            ("dpop_nonce", s.dpop_nonce.to_string()),
            (
                "registration_rate",
                format!(
                    "{} per {}",
                    s.registration_rate.count,
                    secs(s.registration_rate.per)
                ),
            ),
            ("trusted_proxies", list(&s.trusted_proxies)),
            ("files_dir", s.files_dir.display().to_string()),
            ("request_timeout", secs(s.request_timeout)),
            ("examples", s.examples.to_string()),
            ("log_format", format!("{:?}", s.log_format).to_lowercase()),
            ("access_log", s.access_log.to_string()),
            ("webauthn_rp_id", webauthn_rp_id(s)),
            ("webauthn_origin", s.webauthn_origin.clone()),
            (
                "trusted_issuers",
                list(
                    &s.trusted_issuers
                        .iter()
                        .map(|i| i.issuer.clone())
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "oidc_providers",
                list(
                    &s.oidc_providers
                        .iter()
                        .map(|p| {
                            let secret = if p.client_secret.is_some() {
                                "client secret set"
                            } else {
                                "public client"
                            };
                            format!("{} ({}, {secret})", p.name, p.issuer)
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "clients",
                list(
                    &s.clients
                        .iter()
                        .map(|c| {
                            let kind = if c.public {
                                "public"
                            } else {
                                "client secret set"
                            };
                            let scopes: Vec<&str> =
                                c.allowed.iter().map(|scope| scope.as_str()).collect();
                            format!(
                                "{} ({kind}; {}; {} per {})",
                                c.client_id,
                                scopes.join(" "),
                                c.request_rate.count,
                                secs(c.request_rate.per)
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
        ];
        values
            .into_iter()
            .map(|(key, value)| Line {
                key,
                value,
                source: s
                    .sources
                    .iter()
                    .find(|(k, _)| *k == key || k.strip_suffix("_file") == Some(key))
                    .map(|(_, source)| source.clone()),
            })
            .collect()
    }

    /// The report as text: `key = value  (source)` a line.
    pub(crate) fn report_text(&self) -> String {
        let lines = self.report();
        let width = lines.iter().map(|l| l.key.len()).max().unwrap_or(0);
        let mut text = String::new();
        for line in lines {
            let source = line
                .source
                .map_or_else(|| "default".to_owned(), |s| s.to_string());
            let _ = writeln!(text, "{:width$} = {}    ({source})", line.key, line.value);
        }
        text
    }
}
