use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokengate::keys::Algorithm;
use tokengate::transport::{SameSite, TokenLocation};

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef-very-secret";

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn file(contents: &str) -> Option<ConfigFile> {
    Some(ConfigFile {
        path: "/etc/tokengate.toml".into(),
        contents: contents.to_owned(),
    })
}

fn load(vars: &[(&str, &str)], contents: &str) -> Result<Settings, ConfigError> {
    Settings::load_from(&ConfigArgs::default(), env(vars), file(contents))
}

fn error(vars: &[(&str, &str)], contents: &str) -> String {
    load(vars, contents).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let s = Settings::load_from(&ConfigArgs::default(), env(&[]), None).unwrap();
    assert_eq!(s.listen, "127.0.0.1:5000".parse().unwrap());
    assert_eq!(s.data_dir, PathBuf::from("./tokengate-data"));
    assert_eq!(
        s.database_url.as_str(),
        "sqlite://./tokengate-data/tokengate.db"
    );
    assert!(s.redis_url.is_none());
    assert_eq!(s.algorithm, None);
    assert!(s.secret_key.is_none());
    assert_eq!(s.private_key_file, None);
    assert_eq!(s.issuer, "http://127.0.0.1:5000");
    assert!(s.audience.is_empty());
    assert_eq!(s.access_token_ttl, Duration::from_secs(15 * 60));
    assert_eq!(s.refresh_token_ttl, Duration::from_secs(30 * 86400));
    assert_eq!(s.leeway, 0);
    assert_eq!(
        s.token_locations,
        [TokenLocation::Headers, TokenLocation::Cookies]
    );
    assert!(!s.cookie_secure);
    assert_eq!(s.cookie_samesite, SameSite::Lax);
    assert_eq!(s.cookie_domain, None);
    assert!(s.cors_origins.is_empty());
    assert_eq!(s.registration, Registration::Open);
    assert_eq!(s.password_min_length, 8);
    assert_eq!(s.login_max_failures, 10);
    assert_eq!(s.login_failure_window, Duration::from_secs(15 * 60));
    assert!(s.trusted_proxies.is_empty());
    assert_eq!(s.files_dir, PathBuf::from("./tokengate-data/files"));
    assert!(s.trusted_issuers.is_empty());
    assert!(s.oidc_providers.is_empty());
}

#[test]
fn derived_defaults_follow_listen_and_data_dir() {
    let s = load(&[], "listen = \"[::1]:8080\"\ndata_dir = \"/var/lib/tg\"").unwrap();
    assert_eq!(s.issuer, "http://[::1]:8080");
    assert_eq!(s.database_url.as_str(), "sqlite:///var/lib/tg/tokengate.db");
    assert_eq!(s.files_dir, PathBuf::from("/var/lib/tg/files"));
}

#[test]
fn file_then_env_then_flag() {
    let toml = "listen = \"127.0.0.1:1000\"\ndata_dir = \"from-file\"";
    let from_file = load(&[], toml).unwrap();
    assert_eq!(from_file.listen.port(), 1000);
    assert_eq!(from_file.data_dir, PathBuf::from("from-file"));

    let vars = [
        ("TOKENGATE_LISTEN", "127.0.0.1:2000"),
        ("TOKENGATE_DATA_DIR", "from-env"),
    ];
    let from_env = load(&vars, toml).unwrap();
    assert_eq!(from_env.listen.port(), 2000);
    assert_eq!(from_env.data_dir, PathBuf::from("from-env"));

    let args = ConfigArgs {
        listen: Some("127.0.0.1:3000".into()),
        data_dir: Some("from-flag".into()),
        ..ConfigArgs::default()
    };
    let from_flag = Settings::load_from(&args, env(&vars), file(toml)).unwrap();
    assert_eq!(from_flag.listen.port(), 3000);
    assert_eq!(from_flag.data_dir, PathBuf::from("from-flag"));
}

#[test]
fn empty_env_var_counts_as_unset() {
    let s = load(&[("TOKENGATE_LISTEN", "")], "listen = \"127.0.0.1:1000\"").unwrap();
    assert_eq!(s.listen.port(), 1000);
}

#[test]
fn durations_in_every_format() {
    for (text, seconds) in [
        ("900", 900),
        ("45s", 45),
        ("15m", 900),
        ("12h", 43_200),
        ("30d", 2_592_000),
    ] {
        let s = load(&[("TOKENGATE_ACCESS_TOKEN_TTL", text)], "").unwrap();
        assert_eq!(s.access_token_ttl, Duration::from_secs(seconds), "{text}");
    }
    let s = load(
        &[],
        "refresh_token_ttl = 3600\nlogin_failure_window = \"1h\"",
    )
    .unwrap();
    assert_eq!(s.refresh_token_ttl, Duration::from_secs(3600));
    assert_eq!(s.login_failure_window, Duration::from_secs(3600));
}

#[test]
fn the_refresh_reuse_interval_is_zero_to_a_minute() {
    assert_eq!(
        load(&[], "").unwrap().refresh_reuse_interval,
        Duration::ZERO
    );
    for (text, interval) in [("0s", 0), ("2500ms", 2_500), ("60s", 60_000)] {
        let s = load(&[("TOKENGATE_REFRESH_REUSE_INTERVAL", text)], "").unwrap();
        assert_eq!(
            s.refresh_reuse_interval,
            Duration::from_millis(interval),
            "{text}"
        );
    }
    assert_eq!(
        error(&[], "refresh_reuse_interval = \"61s\""),
        "invalid value for refresh_reuse_interval from /etc/tokengate.toml: \
         61s is more than 60s: a spent refresh token accepted that long is a thief's window"
    );
}

#[test]
fn bad_duration_names_the_setting_and_its_source() {
    assert_eq!(
        error(&[("TOKENGATE_ACCESS_TOKEN_TTL", "15 minutes")], ""),
        "invalid value for access_token_ttl from environment variable \
         TOKENGATE_ACCESS_TOKEN_TTL: \"15 minutes\" is not a duration (use seconds or 250ms, 15m, 12h, 30d)"
    );
    assert_eq!(
        error(&[], "refresh_token_ttl = \"1w\""),
        "invalid value for refresh_token_ttl from /etc/tokengate.toml: \
         \"1w\" is not a duration (use seconds or 250ms, 15m, 12h, 30d)"
    );
    for bad in ["", "m", "-5", "1.5h", "0", "99999999999999999999d"] {
        let contents = format!("access_token_ttl = {bad:?}");
        assert!(
            error(&[], &contents).starts_with("invalid value for access_token_ttl"),
            "{bad}"
        );
    }
    assert!(error(&[], "leeway = 301").contains("leeway"));
    assert_eq!(load(&[], "leeway = \"30s\"").unwrap().leeway, 30);
}

#[test]
fn bad_flag_names_the_flag() {
    let args = ConfigArgs {
        listen: Some("localhost:5000".into()),
        ..ConfigArgs::default()
    };
    let err = Settings::load_from(&args, env(&[]), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid value for listen from --listen: \"localhost:5000\""),
        "{err}"
    );
}

#[test]
fn wrong_toml_type_is_refused() {
    let err = error(&[], "listen = 5000");
    assert_eq!(
        err,
        "invalid value for listen from /etc/tokengate.toml: expected a string, found integer"
    );
    assert!(error(&[], "cookie_secure = \"yes\"").contains("\"yes\" is not true or false"));
    assert!(error(&[], "password_min_length = -1").contains("password_min_length"));
}

#[test]
fn unknown_key_in_the_file_is_refused() {
    assert_eq!(
        error(&[], "acces_token_ttl = \"5m\""),
        "unknown setting \"acces_token_ttl\" in /etc/tokengate.toml (did you mean access_token_ttl?)"
    );
    assert_eq!(
        error(&[], "[server]\nport = 1"),
        "unknown setting \"server\" in /etc/tokengate.toml"
    );
}

#[test]
fn syntax_error_gives_the_place_but_not_the_line() {
    let err = error(
        &[],
        "listen = \"127.0.0.1:1\"\nsecret_key = \"hunter2-and-more",
    );
    assert!(
        err.starts_with("/etc/tokengate.toml is not valid TOML: line 2"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn hs256_without_secret_is_refused() {
    assert_eq!(
        error(&[("TOKENGATE_ALGORITHM", "HS256")], ""),
        "algorithm HS256 (from environment variable TOKENGATE_ALGORITHM) needs secret_key, \
         which is not set: give at least 32 random bytes"
    );
}

#[test]
fn short_secret_is_refused_without_showing_it() {
    let err = error(
        &[("TOKENGATE_SECRET_KEY", "hunter2")],
        "algorithm = \"HS256\"",
    );
    assert_eq!(
        err,
        "invalid value for secret_key from environment variable TOKENGATE_SECRET_KEY: \
         7 bytes is too short: an HMAC secret needs at least 32 bytes"
    );
}

#[test]
fn secret_and_algorithm_must_agree() {
    let s = load(&[("TOKENGATE_SECRET_KEY", SECRET)], "algorithm = \"HS512\"").unwrap();
    assert_eq!(s.algorithm, Some(Algorithm::HS512));
    assert_eq!(s.secret_key.unwrap().expose(), SECRET);

    let err = error(&[("TOKENGATE_SECRET_KEY", SECRET)], "");
    assert!(
        err.contains(
            "secret_key (from environment variable TOKENGATE_SECRET_KEY) is only used with"
        ),
        "{err}"
    );
    let err = error(&[("TOKENGATE_SECRET_KEY", SECRET)], "algorithm = \"ES256\"");
    assert!(
        err.contains("algorithm is ES256 (from /etc/tokengate.toml)"),
        "{err}"
    );
    let err = error(
        &[
            ("TOKENGATE_SECRET_KEY", SECRET),
            ("TOKENGATE_PRIVATE_KEY_FILE", "key.pem"),
        ],
        "algorithm = \"HS256\"",
    );
    assert!(
        err.starts_with("private_key_file (from environment variable"),
        "{err}"
    );
    assert!(error(&[], "algorithm = \"hs256\"").contains("case-sensitive"));
}

#[test]
fn every_asymmetric_algorithm_is_a_setting() {
    for (name, alg) in [
        ("PS384", Algorithm::PS384),
        ("PS512", Algorithm::PS512),
        ("ES512", Algorithm::ES512),
    ] {
        let s = load(&[], &format!("algorithm = \"{name}\"")).unwrap();
        assert_eq!(s.algorithm, Some(alg));
        let s = load(&[("TOKENGATE_ALGORITHM", name)], "").unwrap();
        assert_eq!(s.algorithm, Some(alg));
        // Not an HMAC algorithm: a secret_key is refused with it.
        let err = error(
            &[("TOKENGATE_SECRET_KEY", SECRET)],
            &format!("algorithm = \"{name}\""),
        );
        assert!(err.contains(&format!("algorithm is {name}")), "{err}");
    }
    let err = error(&[], "algorithm = \"ES521\"");
    assert!(
        err.contains("PS384, PS512, ES256, ES384, ES512, EdDSA"),
        "{err}"
    );
    let s = load(
        &[],
        "[[trusted_issuers]]\nissuer = \"https://a/\"\naudience = \"x\"\nalgorithms = [\"PS384\", \"PS512\", \"ES512\"]",
    )
    .unwrap();
    assert_eq!(
        s.trusted_issuers[0].algorithms,
        Some(vec![Algorithm::PS384, Algorithm::PS512, Algorithm::ES512])
    );
}

#[test]
fn comma_separated_lists_from_env() {
    let vars = [
        ("TOKENGATE_TOKEN_LOCATIONS", "json, query_string,headers"),
        (
            "TOKENGATE_CORS_ORIGINS",
            "https://app.example.com, HTTP://LOCALHOST:3000,https://x.org:443",
        ),
        ("TOKENGATE_AUDIENCE", "api,admin"),
        ("TOKENGATE_TRUSTED_PROXIES", "10.0.0.0/8,::1"),
    ];
    let s = load(&vars, "").unwrap();
    assert_eq!(
        s.token_locations,
        [
            TokenLocation::Json,
            TokenLocation::QueryString,
            TokenLocation::Headers
        ]
    );
    assert_eq!(
        s.cors_origins,
        [
            "https://app.example.com",
            "http://localhost:3000",
            "https://x.org"
        ]
    );
    assert_eq!(s.audience, ["api", "admin"]);
    assert_eq!(s.trusted_proxies.len(), 2);
}

#[test]
fn lists_from_the_file_as_arrays_or_strings() {
    let s = load(
        &[],
        "token_locations = [\"cookies\"]\naudience = \"api\"\ncors_origins = [\"http://a.test:8080\"]",
    )
    .unwrap();
    assert_eq!(s.token_locations, [TokenLocation::Cookies]);
    assert_eq!(s.audience, ["api"]);
    assert_eq!(s.cors_origins, ["http://a.test:8080"]);
    let s = load(&[], "cors_origins = \"http://[::1]:3000\"").unwrap();
    assert_eq!(s.cors_origins, ["http://[::1]:3000"]);
}

#[test]
fn bad_list_items_are_refused() {
    let err = error(&[("TOKENGATE_TOKEN_LOCATIONS", "headers,body")], "");
    assert!(
        err.contains("TOKENGATE_TOKEN_LOCATIONS: unknown token location \"body\""),
        "{err}"
    );
    assert!(error(&[], "token_locations = []").contains("at least one"));
    for origin in [
        "https://app.example.com/",
        "https://a.com/path",
        "*",
        "app.example.com",
        "ftp://a.com",
    ] {
        let err = error(&[("TOKENGATE_CORS_ORIGINS", origin)], "");
        assert!(
            err.starts_with("invalid value for cors_origins from environment variable"),
            "{err}"
        );
    }
    assert!(error(&[], "trusted_proxies = [\"10.0.0.1/8\"]").contains("10.0.0.0/8"));
}

#[test]
fn cross_field_and_enum_checks() {
    let err = error(&[], "cookie_samesite = \"None\"");
    assert!(
        err.starts_with("cookie_samesite None (from /etc/tokengate.toml) needs cookie_secure"),
        "{err}"
    );
    let s = load(
        &[("TOKENGATE_COOKIE_SECURE", "true")],
        "cookie_samesite = \"None\"",
    )
    .unwrap();
    assert_eq!(s.cookie_samesite, SameSite::None);

    assert!(error(&[("TOKENGATE_REGISTRATION", "invite")], "").contains("neither open nor closed"));
    assert_eq!(
        load(&[], "registration = \"closed\"").unwrap().registration,
        Registration::Closed
    );

    let err = error(&[], "issuer = \"tokengate\"");
    assert!(
        err.starts_with("invalid value for issuer from /etc/tokengate.toml"),
        "{err}"
    );
    assert_eq!(
        load(&[], "issuer = \"https://auth.example.com/\"")
            .unwrap()
            .issuer,
        "https://auth.example.com/"
    );
    assert!(error(&[], "cookie_domain = \"https://example.com\"").contains("cookie_domain"));
}

#[test]
fn database_url_errors_do_not_show_the_url() {
    let err = error(
        &[("TOKENGATE_DATABASE_URL", "mysql://root:hunter2@db/tg")],
        "",
    );
    assert!(err.contains("found scheme \"mysql\""), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let args = ConfigArgs {
        database_url: Some("postgres://tg:hunter2@db/tg?sslmode=require".into()),
        redis_url: Some("redis://:hunter2@cache:6379/0".into()),
        ..ConfigArgs::default()
    };
    let s = Settings::load_from(&args, env(&[]), None).unwrap();
    assert!(s.database_url.as_str().starts_with("postgres:"));
    assert_eq!(
        s.database_url.redacted(),
        "postgres://tg:[redacted]@db/tg?[redacted]"
    );
    assert_eq!(
        s.redis_url.unwrap().redacted(),
        "redis://:[redacted]@cache:6379/0"
    );
}

const TABLES: &str = r#"
[[trusted_issuers]]
issuer = "https://tenant.eu.auth0.com/"
audience = "https://api.example.com"
algorithms = ["RS256"]
scopes_claim = "permissions"

[[trusted_issuers]]
issuer = "urn:internal"
audience = ["a", "b"]
jwks_uri = "http://keys.internal/jwks.json"
roles_claim = "realm_access.roles"
required_typ = "at+jwt"

[[oidc_providers]]
name = "keycloak"
issuer = "http://keycloak.example:8080/realms/dev"
client_id = "tokengate"
client_secret = "oidc-client-secret-value"
redirect_url = "http://127.0.0.1:5000/auth/oidc/keycloak/callback"
post_logout_redirect_url = "http://127.0.0.1:5000/"
"#;

#[test]
fn trusted_issuers_and_oidc_providers_are_parsed() {
    let s = load(&[], TABLES).unwrap();
    let [auth0, internal] = &s.trusted_issuers[..] else {
        panic!("{:?}", s.trusted_issuers)
    };
    assert_eq!(auth0.issuer, "https://tenant.eu.auth0.com/");
    assert_eq!(auth0.audience, ["https://api.example.com"]);
    assert_eq!(auth0.algorithms, Some(vec![Algorithm::RS256]));
    assert_eq!(auth0.scopes_claim.as_deref(), Some("permissions"));
    assert_eq!(auth0.jwks_uri, None);
    assert_eq!(internal.audience, ["a", "b"]);
    assert_eq!(
        internal.jwks_uri.as_deref(),
        Some("http://keys.internal/jwks.json")
    );
    assert_eq!(internal.roles_claim.as_deref(), Some("realm_access.roles"));
    assert_eq!(internal.required_typ.as_deref(), Some("at+jwt"));

    let [keycloak] = &s.oidc_providers[..] else {
        panic!("{:?}", s.oidc_providers)
    };
    assert_eq!(keycloak.name, "keycloak");
    assert_eq!(keycloak.scopes, ["openid", "profile", "email"]);
    assert_eq!(
        keycloak.client_secret.as_ref().unwrap().expose(),
        "oidc-client-secret-value"
    );
}

#[test]
fn bad_tables_are_refused_with_their_entry() {
    let err = error(
        &[],
        "[[trusted_issuers]]\nissuer = \"https://a/\"\naudience = \"x\"\njwks_url = \"https://a/k\"",
    );
    assert!(err.starts_with("invalid value for trusted_issuers entry 1 from /etc/tokengate.toml: unknown field `jwks_url`"), "{err}");
    let err = error(&[], "[[trusted_issuers]]\nissuer = \"https://a/\"");
    assert!(err.contains("missing field `audience`"), "{err}");
    let err = error(
        &[],
        "[[trusted_issuers]]\nissuer = \"https://a/\"\naudience = \"x\"\nalgorithms = [\"HS256\"]",
    );
    assert!(err.contains("HS*"), "{err}");
    let twice = "[[trusted_issuers]]\nissuer = \"https://a/\"\naudience = \"x\"\n".repeat(2);
    assert!(error(&[], &twice).contains("appears twice"));
    let err = error(
        &[],
        &TABLES.replace("name = \"keycloak\"", "name = \"key cloak\""),
    );
    assert!(
        err.starts_with("invalid value for oidc_providers entry 1"),
        "{err}"
    );
    let err = error(&[("TOKENGATE_TRUSTED_ISSUERS", "https://a/")], "");
    assert_eq!(
        err,
        "trusted_issuers can only be set in the config file, not by environment variable TOKENGATE_TRUSTED_ISSUERS"
    );
}

#[test]
fn debug_shows_no_secret() {
    let vars = [
        ("TOKENGATE_ALGORITHM", "HS256"),
        ("TOKENGATE_SECRET_KEY", SECRET),
        ("TOKENGATE_DATABASE_URL", "postgres://tg:db-password@db/tg"),
    ];
    let s = load(&vars, TABLES).unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("oidc-client-secret-value"), "{debug}");
    assert!(!debug.contains("db-password"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[test]
fn config_path_from_flag_then_env() {
    let vars = [("TOKENGATE_CONFIG", "/env.toml")];
    let (path, source) = config_path(&ConfigArgs::default(), env(&vars)).unwrap();
    assert_eq!(path, PathBuf::from("/env.toml"));
    assert_eq!(source.to_string(), "environment variable TOKENGATE_CONFIG");
    let args = ConfigArgs {
        config: Some("/flag.toml".into()),
        ..ConfigArgs::default()
    };
    let (path, source) = config_path(&args, env(&vars)).unwrap();
    assert_eq!(path, PathBuf::from("/flag.toml"));
    assert_eq!(source, Source::Flag("--config"));
    assert!(config_path(&ConfigArgs::default(), env(&[])).is_none());
}

#[test]
fn missing_config_file_names_who_asked_for_it() {
    let err = ConfigFile::read(
        "/nonexistent/tokengate.toml".into(),
        Source::Flag("--config"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("cannot read config file /nonexistent/tokengate.toml (from --config):"),
        "{err}"
    );
}

#[test]
fn ip_networks() {
    let net: IpNetwork = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains("10.200.3.4".parse().unwrap()));
    assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
    assert!(!net.contains("::1".parse().unwrap()));
    let host: IpNetwork = "192.168.1.7".parse().unwrap();
    assert!(host.contains("192.168.1.7".parse().unwrap()));
    assert!(!host.contains("192.168.1.8".parse().unwrap()));
    let v6: IpNetwork = "fd00::/8".parse().unwrap();
    assert!(v6.contains("fd12::1".parse().unwrap()));
    let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(IpAddr::from([8, 8, 8, 8])));
    for bad in [
        "10.0.0.0/33",
        "10.0.0.1/8",
        "example.com",
        "10.0.0.0/",
        "::/129",
    ] {
        assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
    }
}

#[test]
fn config_args_flatten_into_a_subcommand() {
    use clap::{CommandFactory, Parser};
    /// Serve it.
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        serve: ServeArgs,
    }
    /// Administer it.
    #[derive(Parser)]
    struct Admin {
        #[command(flatten)]
        config: ConfigArgs,
    }
    Serve::command().debug_assert();
    Admin::command().debug_assert();
    assert_eq!(
        Serve::command().get_about().unwrap().to_string(),
        "Serve it"
    );
    let args = [
        "x",
        "--listen",
        "[::]:80",
        "--data-dir",
        "d",
        "--config",
        "c.toml",
    ];
    let parsed = Serve::try_parse_from(args).unwrap().serve.config_args();
    assert_eq!(parsed.listen.as_deref(), Some("[::]:80"));
    assert_eq!(parsed.data_dir, Some(PathBuf::from("d")));
    assert_eq!(parsed.config, Some(PathBuf::from("c.toml")));
    // `--listen` is serve's only.
    assert!(Admin::try_parse_from(args).is_err());
    let admin = Admin::try_parse_from(["x", "--data-dir", "d"])
        .unwrap()
        .config;
    assert_eq!(admin.listen, None);
    assert_eq!(admin.data_dir, Some(PathBuf::from("d")));
}

#[test]
fn registration_rate_forms() {
    let rate = |text: &str| {
        let s = load(&[("TOKENGATE_REGISTRATION_RATE", text)], "").unwrap();
        (s.registration_rate.count, s.registration_rate.per)
    };
    assert_eq!(rate("10/min"), (10, Duration::from_secs(60)));
    assert_eq!(rate("3/s"), (3, Duration::from_secs(1)));
    assert_eq!(rate("100/hour"), (100, Duration::from_secs(3600)));
    assert_eq!(rate("5/30s"), (5, Duration::from_secs(30)));
    assert_eq!(rate(" 2 / d "), (2, Duration::from_secs(86_400)));
    let default = load(&[], "").unwrap().registration_rate;
    assert_eq!((default.count, default.per), (10, Duration::from_secs(60)));
    for bad in [
        "10",
        "0/min",
        "-1/min",
        "10/fortnight",
        "10/0s",
        "ten/min",
        "10/",
    ] {
        let message = error(&[("TOKENGATE_REGISTRATION_RATE", bad)], "");
        assert!(
            message.starts_with("invalid value for registration_rate"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn unknown_tokengate_variables_are_named_with_the_nearest_setting() {
    let names = [
        "TOKENGATE_ACESS_TOKEN_TTL",
        "TOKENGATE_ACCESS_TOKEN_TTL",
        "TOKENGATE_CONFIG",
        "TOKENGATE_WHATEVER_THIS_IS",
        "PATH",
    ]
    .map(String::from);
    let unknown = super::unknown_env_vars(names);
    assert_eq!(
        unknown,
        [
            (
                "TOKENGATE_ACESS_TOKEN_TTL".to_owned(),
                Some("TOKENGATE_ACCESS_TOKEN_TTL".to_owned())
            ),
            ("TOKENGATE_WHATEVER_THIS_IS".to_owned(), None),
        ]
    );
}

/// A file of the test, removed when dropped.
struct SecretFile(PathBuf);

impl SecretFile {
    fn new(name: &str, contents: &str) -> SecretFile {
        let path = std::env::temp_dir().join(format!("tg-secret-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        SecretFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn secrets_come_from_files_without_their_final_line_break() {
    let key = SecretFile::new("hmac", &format!("{SECRET}\n"));
    let sealing = SecretFile::new("sealing", &format!("{SECRET}-sealing\r\n"));
    let s = load(
        &[
            ("TOKENGATE_ALGORITHM", "HS256"),
            ("TOKENGATE_SECRET_KEY_FILE", key.path()),
        ],
        &format!("key_encryption_secret_file = {:?}", sealing.path()),
    )
    .unwrap();
    assert_eq!(s.secret_key.unwrap().expose(), SECRET);
    assert_eq!(
        s.key_encryption_secret.unwrap().expose(),
        format!("{SECRET}-sealing")
    );
}

#[test]
fn a_secret_file_is_checked_like_the_secret_and_never_both() {
    let short = SecretFile::new("short", "too short\n");
    let err = error(
        &[
            ("TOKENGATE_ALGORITHM", "HS256"),
            ("TOKENGATE_SECRET_KEY_FILE", short.path()),
        ],
        "",
    );
    assert!(err.contains("TOKENGATE_SECRET_KEY_FILE"), "{err}");
    assert!(err.contains("9 bytes is too short"), "{err}");
    assert!(!err.contains("too short\n"), "{err}");

    let err = error(
        &[
            ("TOKENGATE_ALGORITHM", "HS256"),
            ("TOKENGATE_SECRET_KEY", SECRET),
            ("TOKENGATE_SECRET_KEY_FILE", short.path()),
        ],
        "",
    );
    assert!(
        err.contains("secret_key") && err.contains("both set"),
        "{err}"
    );

    let err = error(
        &[
            ("TOKENGATE_ALGORITHM", "HS256"),
            ("TOKENGATE_SECRET_KEY_FILE", "/no/such/secret"),
        ],
        "",
    );
    assert!(err.contains("cannot read /no/such/secret"), "{err}");
}

#[test]
fn an_oidc_client_secret_can_come_from_a_file() {
    let secret = SecretFile::new("client", "s3cret-of-the-client\n");
    let provider = |extra: &str| {
        format!(
            "[[oidc_providers]]\nname = \"kc\"\nissuer = \"https://kc.example/realms/x\"\n\
             client_id = \"tokengate\"\nredirect_url = \"https://app.example/auth/oidc/kc/callback\"\n{extra}"
        )
    };
    let s = load(
        &[],
        &provider(&format!("client_secret_file = {:?}", secret.path())),
    )
    .unwrap();
    assert_eq!(
        s.oidc_providers[0].client_secret.as_ref().unwrap().expose(),
        "s3cret-of-the-client"
    );
    let err = error(
        &[],
        &provider(&format!(
            "client_secret = \"inline\"\nclient_secret_file = {:?}",
            secret.path()
        )),
    );
    assert!(err.contains("both set"), "{err}");
}

const CLIENTS: &str = r#"
[[clients]]
client_id = "resource-server"
client_secret = "a-long-random-client-secret"

[[clients]]
client_id = "spa"
public = true

[[clients]]
client_id = "revoker"
client_secret = "another-long-client-secret"
scopes = ["revoke"]
rate = "10/s"
"#;

#[test]
fn clients_are_parsed_with_their_defaults() {
    let s = load(&[], CLIENTS).unwrap();
    let [server, spa, revoker] = &s.clients[..] else {
        panic!("{:?}", s.clients)
    };
    assert_eq!(server.client_id, "resource-server");
    assert_eq!(
        server.client_secret.as_ref().unwrap().expose(),
        "a-long-random-client-secret"
    );
    assert!(!server.public);
    assert_eq!(
        server.allowed,
        [ClientScope::Introspect, ClientScope::Revoke]
    );
    assert_eq!(
        (server.request_rate.count, server.request_rate.per),
        (6000, Duration::from_secs(60))
    );
    assert!(spa.public && spa.client_secret.is_none());
    assert_eq!(spa.allowed, [ClientScope::Revoke]);
    assert_eq!(revoker.allowed, [ClientScope::Revoke]);
    assert_eq!(
        (revoker.request_rate.count, revoker.request_rate.per),
        (10, Duration::from_secs(1))
    );
    assert!(load(&[], "").unwrap().clients.is_empty());
    // Never printed.
    let debug = format!("{s:?}");
    assert!(!debug.contains("a-long-random-client-secret"), "{debug}");
    let report = s.report_text();
    assert!(
        report.contains("resource-server (client secret set; introspect revoke; 6000 per 60s)"),
        "{report}"
    );
    assert!(report.contains("spa (public; revoke;"), "{report}");
    assert!(!report.contains("a-long-random"), "{report}");
}

#[test]
fn bad_clients_are_refused_with_their_entry() {
    let client = |body: &str| format!("[[clients]]\n{body}\n");
    let cases = [
        (
            client("client_id = \"\"\nclient_secret = \"a-long-random-client-secret\""),
            "clients entry 1",
            "client_id is empty",
        ),
        (
            client("client_id = \"  \"\npublic = true"),
            "clients entry 1",
            "client_id is empty",
        ),
        (
            client("client_id = \"rs\""),
            "clients entry 1",
            "\"rs\" has no secret: give client_secret or client_secret_file, or set public = true",
        ),
        (
            client("client_id = \"rs\"\nclient_secret = \"short\""),
            "clients entry 1",
            "5 bytes: a client secret needs at least 16",
        ),
        (
            client(
                "client_id = \"rs\"\npublic = true\nclient_secret = \"a-long-random-client-secret\"",
            ),
            "clients entry 1",
            "is public and has a secret",
        ),
        (
            client("client_id = \"rs\"\npublic = true\nscopes = [\"introspect\", \"revoke\"]"),
            "clients entry 1",
            "public and cannot introspect",
        ),
        (
            client(
                "client_id = \"rs\"\nclient_secret = \"a-long-random-client-secret\"\nscopes = []",
            ),
            "clients entry 1",
            "scopes of \"rs\" is empty",
        ),
        (
            client(
                "client_id = \"rs\"\nclient_secret = \"a-long-random-client-secret\"\nscopes = [\"token\"]",
            ),
            "clients entry 1",
            "unknown variant `token`",
        ),
        (
            client(
                "client_id = \"rs\"\nclient_secret = \"a-long-random-client-secret\"\nrate = \"often\"",
            ),
            "clients entry 1",
            "rate: \"often\" is not a rate",
        ),
        (
            client(
                "client_id = \"rs\"\nclient_secret = \"a-long-random-client-secret\"\nrate = \"60000/min\"",
            ),
            "clients entry 1",
            "more than 10000",
        ),
        (
            client(
                "client_id = \"rs\"\nclient_secret = \"a-long-random-client-secret\"\nsecret = \"x\"",
            ),
            "clients entry 1",
            "unknown field `secret`",
        ),
        (
            client("client_secret = \"a-long-random-client-secret\""),
            "clients entry 1",
            "missing field `client_id`",
        ),
        (
            format!(
                "{}{}",
                client("client_id = \"ok\"\npublic = true"),
                client("client_id = \"ok2\"\nclient_secret = \"x\"")
            ),
            "clients entry 2",
            "needs at least 16",
        ),
        (
            "clients = \"rs\"".to_owned(),
            "clients from",
            "expected [[clients]] tables",
        ),
    ];
    for (toml, entry, message) in cases {
        let err = error(&[], &toml);
        assert!(
            err.starts_with(&format!("invalid value for {entry}")),
            "{toml}: {err}"
        );
        assert!(err.contains(message), "{toml}: {err}");
        assert!(!err.contains("a-long-random-client-secret"), "{err}");
    }
    let twice = client("client_id = \"rs\"\npublic = true").repeat(2);
    assert_eq!(
        error(&[], &twice),
        "invalid value for clients from /etc/tokengate.toml: client_id \"rs\" appears twice"
    );
    assert_eq!(
        error(&[("TOKENGATE_CLIENTS", "rs")], ""),
        "clients can only be set in the config file, not by environment variable TOKENGATE_CLIENTS"
    );
}

#[test]
fn a_client_secret_can_come_from_a_file_but_not_with_an_inline_one() {
    let secret = SecretFile::new("oauth-client", "s3cret-of-the-resource-server\n");
    let short = SecretFile::new("oauth-short", "short\n");
    let client = |extra: &str| format!("[[clients]]\nclient_id = \"rs\"\n{extra}");
    let s = load(
        &[],
        &client(&format!("client_secret_file = {:?}", secret.path())),
    )
    .unwrap();
    assert_eq!(
        s.clients[0].client_secret.as_ref().unwrap().expose(),
        "s3cret-of-the-resource-server"
    );
    let err = error(
        &[],
        &client(&format!(
            "client_secret = \"a-long-random-client-secret\"\nclient_secret_file = {:?}",
            secret.path()
        )),
    );
    assert!(
        err.starts_with("invalid value for clients entry 1"),
        "{err}"
    );
    assert!(
        err.contains("client_secret and client_secret_file are both set"),
        "{err}"
    );
    let err = error(
        &[],
        &client(&format!("client_secret_file = {:?}", short.path())),
    );
    assert!(err.contains("holds 5 bytes"), "{err}");
    assert!(!err.contains("short\n"), "{err}");
    let err = error(
        &[],
        &client("client_secret_file = \"/no/such/client-secret\""),
    );
    assert!(err.contains("cannot read /no/such/client-secret"), "{err}");
    let err = error(
        &[],
        &client(&format!(
            "public = true\nclient_secret_file = {:?}",
            secret.path()
        )),
    );
    assert!(err.contains("is public and has a secret"), "{err}");
}

#[test]
fn dpop_defaults_to_allowed_with_every_asymmetric_algorithm_a_minute_and_no_nonce() {
    let s = load(&[], "").unwrap();
    assert_eq!(s.dpop, tokengate::dpop::DpopMode::Allowed);
    assert_eq!(s.dpop_algorithms, tokengate::dpop::DEFAULT_ALGORITHMS);
    assert!(
        s.dpop_algorithms
            .iter()
            .all(|a| a.family() != tokengate::keys::KeyFamily::Hmac)
    );
    assert_eq!(s.dpop_proof_max_age, Duration::from_secs(60));
    assert!(!s.dpop_nonce);
    let report = s.report_text();
    for line in [
        "dpop ",
        "= allowed    (default)",
        "= ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256    (default)",
        "= false    (default)",
    ] {
        assert!(report.contains(line), "{line:?} in {report}");
    }
}

#[test]
fn dpop_settings_come_from_the_file_and_the_environment() {
    let s = load(
        &[],
        "dpop = \"required\"\n\
         dpop_algorithms = [\"EdDSA\", \"ES256\", \"EdDSA\"]\n\
         dpop_proof_max_age = \"30s\"\n\
         dpop_nonce = true",
    )
    .unwrap();
    assert_eq!(s.dpop, tokengate::dpop::DpopMode::Required);
    assert_eq!(s.dpop_algorithms, [Algorithm::EdDSA, Algorithm::ES256]);
    assert_eq!(s.dpop_proof_max_age, Duration::from_secs(30));
    assert!(s.dpop_nonce);

    let s = load(
        &[
            ("TOKENGATE_DPOP", "off"),
            ("TOKENGATE_DPOP_ALGORITHMS", "PS256, RS256"),
            ("TOKENGATE_DPOP_PROOF_MAX_AGE", "10m"),
            ("TOKENGATE_DPOP_NONCE", "true"),
        ],
        "dpop = \"required\"\ndpop_nonce = false",
    )
    .unwrap();
    assert_eq!(s.dpop, tokengate::dpop::DpopMode::Off);
    assert_eq!(s.dpop_algorithms, [Algorithm::PS256, Algorithm::RS256]);
    assert_eq!(s.dpop_proof_max_age, Duration::from_secs(600));
    assert!(s.dpop_nonce);
    let report = s.report_text();
    assert!(
        report.contains("= off    (environment variable TOKENGATE_DPOP)"),
        "{report}"
    );

    // The bounds of the proofs' age are accepted.
    for (text, secs) in [("1s", 1), ("1000ms", 1), ("600", 600), ("10m", 600)] {
        let s = load(&[("TOKENGATE_DPOP_PROOF_MAX_AGE", text)], "").unwrap();
        assert_eq!(s.dpop_proof_max_age, Duration::from_secs(secs), "{text}");
    }
}

#[test]
fn bad_dpop_settings_are_refused_naming_the_key() {
    assert_eq!(
        error(&[], "dpop = \"sometimes\""),
        "invalid value for dpop from /etc/tokengate.toml: \
         unknown dpop mode \"sometimes\" (expected off, allowed or required)"
    );
    assert_eq!(
        error(&[], "dpop_algorithms = [\"HS256\"]"),
        "invalid value for dpop_algorithms from /etc/tokengate.toml: \
         HS256 is symmetric: a DPoP proof must be signed by the client's own key"
    );
    assert_eq!(
        error(&[], "dpop_proof_max_age = \"0s\""),
        "invalid value for dpop_proof_max_age from /etc/tokengate.toml: \
         0ns is not between 1s and 10m"
    );
    assert_eq!(
        error(&[], "dpop_proof_max_age = \"1h\""),
        "invalid value for dpop_proof_max_age from /etc/tokengate.toml: \
         3600s is not between 1s and 10m"
    );
    let err = error(&[("TOKENGATE_DPOP", "Required")], "");
    assert!(
        err.starts_with("invalid value for dpop from environment variable TOKENGATE_DPOP"),
        "{err}"
    );

    for hmac in ["HS256", "HS384", "HS512"] {
        let err = error(&[], &format!("dpop_algorithms = [\"ES256\", \"{hmac}\"]"));
        assert!(
            err.starts_with("invalid value for dpop_algorithms from /etc/tokengate.toml"),
            "{err}"
        );
        assert!(err.contains(hmac) && err.contains("symmetric"), "{err}");
    }
    let err = error(&[("TOKENGATE_DPOP_ALGORITHMS", "HS256")], "");
    assert!(
        err.starts_with(
            "invalid value for dpop_algorithms from environment variable TOKENGATE_DPOP_ALGORITHMS"
        ),
        "{err}"
    );
    for bad in [
        "dpop_algorithms = []",
        "dpop_algorithms = [\"none\"]",
        "dpop_algorithms = [\"es256\"]",
        "dpop_algorithms = [256]",
    ] {
        let err = error(&[], bad);
        assert!(
            err.starts_with("invalid value for dpop_algorithms from /etc/tokengate.toml"),
            "{bad}: {err}"
        );
    }
    assert!(error(&[], "dpop_algorithms = []").contains("at least one"));

    for bad in ["0s", "0", "999ms", "601s", "11m", "1h", "1d"] {
        let err = error(&[], &format!("dpop_proof_max_age = \"{bad}\""));
        assert!(
            err.starts_with("invalid value for dpop_proof_max_age from /etc/tokengate.toml"),
            "{bad}: {err}"
        );
        assert!(err.contains("not between 1s and 10m"), "{bad}: {err}");
    }
    let err = error(&[("TOKENGATE_DPOP_PROOF_MAX_AGE", "a minute")], "");
    assert!(
        err.starts_with(
            "invalid value for dpop_proof_max_age from environment variable TOKENGATE_DPOP_PROOF_MAX_AGE"
        ),
        "{err}"
    );
    assert!(err.contains("is not a duration"), "{err}");

    let err = error(&[], "dpop_nonce = \"yes\"");
    assert!(
        err.starts_with("invalid value for dpop_nonce from /etc/tokengate.toml"),
        "{err}"
    );
    assert!(err.contains("\"yes\" is not true or false"), "{err}");
}

#[test]
fn webauthn_defaults_to_localhost_on_the_port_of_listen() {
    let s = Settings::load_from(&ConfigArgs::default(), env(&[]), None).unwrap();
    assert_eq!(
        (s.webauthn_rp_id.as_str(), s.webauthn_origin.as_str()),
        ("localhost", "http://localhost:5000")
    );
    let s = load(&[("TOKENGATE_LISTEN", "127.0.0.1:8443")], "").unwrap();
    assert_eq!(s.webauthn_origin, "http://localhost:8443");
    // A relying party id alone: its https origin.
    let s = load(&[], "webauthn_rp_id = \"Example.COM\"").unwrap();
    assert_eq!(
        (s.webauthn_rp_id.as_str(), s.webauthn_origin.as_str()),
        ("example.com", "https://example.com")
    );
    // A subdomain's origin, normalised as browsers send it.
    let s = load(
        &[("TOKENGATE_WEBAUTHN_ORIGIN", "https://Login.example.com:443")],
        "webauthn_rp_id = \"example.com\"",
    )
    .unwrap();
    assert_eq!(s.webauthn_origin, "https://login.example.com");
    let s = load(
        &[("TOKENGATE_WEBAUTHN_ORIGIN", "http://app.localhost:3000")],
        "",
    )
    .unwrap();
    assert_eq!(s.webauthn_origin, "http://app.localhost:3000");
}

#[test]
fn webauthn_settings_must_agree() {
    for (vars, file, expected) in [
        (
            vec![("TOKENGATE_WEBAUTHN_RP_ID", "192.0.2.7")],
            "",
            "is an IP address",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_RP_ID", "[::1]")],
            "",
            "is an IP address",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_RP_ID", "not a domain")],
            "",
            "not a domain name",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_ORIGIN", "https://example.org")],
            "webauthn_rp_id = \"example.com\"",
            "must be on the relying party's domain",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_ORIGIN", "https://evilexample.com")],
            "webauthn_rp_id = \"example.com\"",
            "must be on the relying party's domain",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_ORIGIN", "http://login.example.com")],
            "webauthn_rp_id = \"example.com\"",
            "must be https",
        ),
        (
            vec![("TOKENGATE_WEBAUTHN_ORIGIN", "https://example.com/login")],
            "webauthn_rp_id = \"example.com\"",
            "remove everything after the host",
        ),
        // The default rp id with another host's origin.
        (
            vec![("TOKENGATE_WEBAUTHN_ORIGIN", "https://example.com")],
            "",
            "webauthn_rp_id localhost (from the default)",
        ),
    ] {
        let message = error(&vars, file);
        assert!(message.contains(expected), "{vars:?} {file:?}: {message}");
        assert!(message.contains("webauthn_"), "{message}");
    }
}

#[test]
fn config_check_says_when_the_default_rp_id_cannot_serve_listen() {
    let line = |s: &Settings| {
        s.report()
            .into_iter()
            .find(|l| l.key == "webauthn_rp_id")
            .unwrap()
            .value
    };
    let local = Settings::load_from(&ConfigArgs::default(), env(&[]), None).unwrap();
    assert_eq!(line(&local), "localhost");
    let public = load(&[("TOKENGATE_LISTEN", "192.0.2.7:5000")], "").unwrap();
    let shown = line(&public);
    assert!(
        shown.starts_with("localhost (default; listen is 192.0.2.7"),
        "{shown}"
    );
    let named = load(
        &[("TOKENGATE_LISTEN", "192.0.2.7:5000")],
        "webauthn_rp_id = \"example.com\"",
    )
    .unwrap();
    assert_eq!(line(&named), "example.com");
    let report = named.report_text();
    assert!(report.contains("webauthn_origin"), "{report}");
    assert!(report.contains("https://example.com"), "{report}");
}
