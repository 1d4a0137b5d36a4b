//! Admin commands: `user add|grant|grant-role|revoke-scope|revoke-role|
//! disable|enable|set-password|remove|list|passkeys`, `revoke --user`, `sessions
//! list|end`, `keys rotate|list|retire`, `config check`.
//! They act on the service's database and keys, and work while it runs: it
//! follows revocations and key rotations.

use std::io::Read;

use clap::Subcommand;
use tokengate::Error;
use tokengate::ids::{LoginId, Subject};
use tokengate::keys::Algorithm;
use tokengate::login::{LoginStore, end_login, log_out_everywhere};
use tokengate::users::{Password, PasswordHash, PasswordHasher, PasswordPolicy, Username};

use super::{CliError, parse_alg};
use crate::config::{ConfigArgs, Settings};
use crate::runtime::{self, KeySource};
use crate::service::sessions::rfc3339;
use crate::storage::{Database, Grant, NewUser, SqlLogins, SqlRevocations, User};

/// `tokengate user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        /// The username.
        name: String,
        /// A scope to grant (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Grant a scope to a user.
    Grant {
        /// The username.
        name: String,
        /// The scope.
        scope: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Grant a role to a user (the `roles` claim; forward auth's `?role=`).
    GrantRole {
        /// The username.
        name: String,
        /// The role.
        role: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Take a scope from a user; the user's tokens are revoked, so that
    /// the next login carries what is left.
    RevokeScope {
        /// The username.
        name: String,
        /// The scope.
        scope: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Take a role from a user; the user's tokens are revoked.
    RevokeRole {
        /// The username.
        name: String,
        /// The role.
        role: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Disable a user: no login, no refresh; the user's tokens are revoked.
    Disable {
        /// The username.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Enable a disabled user again.
    Enable {
        /// The username.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Set a user's password (read from standard input); the user's tokens
    /// are revoked.
    SetPassword {
        /// The username.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Delete a user, its memos and its linked provider accounts; its
    /// tokens are revoked.
    Remove {
        /// The username.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List users: id, name, scopes, roles, and `disabled` for a disabled one.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List a user's passkeys, newest first: id, name, registered, last
    /// used (`-`: never). With --remove ID, remove that one instead (the
    /// logins made with it go on: `tokengate sessions end` ends them).
    Passkeys {
        /// The username.
        name: String,
        /// Remove this passkey (its id, as listed).
        // A base64url id may begin with `-`: still the id, not a flag.
        #[arg(long, value_name = "ID", allow_hyphen_values = true)]
        remove: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// `tokengate keys ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Add a new signing key; the old one keeps verifying until its tokens expire.
    Rotate {
        /// Algorithm of the new key [default: the configured one, or ES256].
        #[arg(long, value_parser = parse_alg)]
        alg: Option<Algorithm>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the signing keys.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Stop verifying with an old key now, before its tokens expire (a
    /// leaked key): the tokens it signed are refused from then on. Not the
    /// signing key: rotate first.
    Retire {
        /// The key's id (`tokengate keys list`).
        // A thumbprint may begin with `-`: still the id, not a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// `tokengate revoke --user NAME`
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// Revoke every token of this user issued until now.
    #[arg(long, value_name = "NAME")]
    user: String,
    #[command(flatten)]
    config: ConfigArgs,
}

/// `tokengate sessions ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// List a user's live sessions (logins), newest first: id, started,
    /// last used, method, address, user agent.
    List {
        /// The username.
        #[arg(long, value_name = "NAME")]
        user: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// End a session: every token of that login is refused, on every
    /// instance (at once through Redis, else at their next poll).
    End {
        /// The session's id (`tokengate sessions list`).
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// A refused admin action (a taken name, a short password) is a usage
/// error (exit 2), not a refused token (exit 1).
fn refused(e: Error) -> CliError {
    CliError::Usage(e.to_string())
}

fn block_on<T>(f: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the runtime: {e}")))?
        .block_on(f)
}

fn read_password() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| {
            CliError::Usage(format!("cannot read the password from standard input: {e}"))
        })?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// A password read from standard input, checked against the service's
/// policy, and hashed.
fn new_password_hash(settings: &Settings) -> Result<PasswordHash, CliError> {
    let policy = PasswordPolicy {
        min_length: settings.password_min_length,
    };
    let password = Password::new(read_password()?, &policy).map_err(refused)?;
    PasswordHasher::new(1)
        .hash_blocking(&password)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The service's settings, found the way `serve` finds them; variables
/// that set nothing are named on stderr.
fn load_settings(config: &ConfigArgs) -> Result<Settings, CliError> {
    let settings = Settings::load(config)?;
    for warning in crate::config::unknown_env_warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(settings)
}

/// Runs a `user` subcommand.
pub(crate) fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            name,
            scopes,
            config,
        } => {
            let settings = load_settings(&config)?;
            let username = Username::parse(&name).map_err(refused)?;
            let hash = new_password_hash(&settings)?;
            block_on(async {
                let db = runtime::existing_database(&settings).await?;
                let user = db
                    .create_user(NewUser {
                        username: &username,
                        password_hash: &hash,
                        scopes: &scopes,
                    })
                    .await
                    .map_err(refused)?;
                println!("created user {} (id {})", user.username, user.id);
                Ok(())
            })
        }
        UserCommand::Grant {
            name,
            scope,
            config,
        } => grant(&name, Grant::Scope, &scope, &config),
        UserCommand::GrantRole { name, role, config } => grant(&name, Grant::Role, &role, &config),
        UserCommand::RevokeScope {
            name,
            scope,
            config,
        } => take(&name, Grant::Scope, &scope, &config),
        UserCommand::RevokeRole { name, role, config } => take(&name, Grant::Role, &role, &config),
        UserCommand::Disable { name, config } => with_user(&name, &config, async |ctx, user| {
            ctx.db.set_disabled(user.id, true).await?;
            ctx.revoke_tokens(&user).await?;
            println!("disabled {}; its tokens are revoked", user.username);
            Ok(())
        }),
        UserCommand::Enable { name, config } => with_user(&name, &config, async |ctx, user| {
            ctx.db.set_disabled(user.id, false).await?;
            println!("enabled {}", user.username);
            Ok(())
        }),
        UserCommand::SetPassword { name, config } => {
            let hash = new_password_hash(&load_settings(&config)?)?;
            with_user(&name, &config, async |ctx, user| {
                ctx.db.set_password(user.id, &hash).await?;
                ctx.revoke_tokens(&user).await?;
                println!(
                    "set the password of {}; its tokens are revoked",
                    user.username
                );
                Ok(())
            })
        }
        UserCommand::Remove { name, config } => with_user(&name, &config, async |ctx, user| {
            ctx.revoke_tokens(&user).await?;
            ctx.db.remove_user(user.id).await?;
            println!("removed {} (id {})", user.username, user.id);
            Ok(())
        }),
        UserCommand::Passkeys {
            name,
            remove,
            config,
        } => with_user(&name, &config, async |ctx, user| {
            if let Some(id) = remove {
                let id = tokengate::passkeys::PasskeyId::from(id);
                if !ctx.db.remove_passkey(user.id, &id).await? {
                    return Err(CliError::Usage(format!(
                        "{} has no passkey {id}",
                        user.username
                    )));
                }
                println!("removed passkey {id} of {}", user.username);
                return Ok(());
            }
            for passkey in ctx.db.passkeys_of(user.id).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    passkey.id,
                    passkey.name,
                    rfc3339(passkey.created_at),
                    passkey.last_used_at.map_or("-".to_owned(), rfc3339),
                );
            }
            Ok(())
        }),
        UserCommand::List { config } => {
            let settings = load_settings(&config)?;
            block_on(async {
                let db = runtime::existing_database(&settings).await?;
                for user in db.users().await? {
                    println!(
                        "{}\t{}\t{}\t{}{}",
                        user.id,
                        user.username,
                        user.scopes.join(" "),
                        user.roles.join(" "),
                        if user.disabled { "\tdisabled" } else { "" }
                    );
                }
                Ok(())
            })
        }
    }
}

/// What an admin command on one user works with.
struct Admin {
    settings: Settings,
    db: Database,
}

impl Admin {
    /// Revokes every token of `user` issued until now and ends its logins:
    /// the same as the logout-all route; running instances hear of it at
    /// once through Redis, else at their next poll.
    async fn revoke_tokens(&self, user: &User) -> Result<(), CliError> {
        let clock = tokengate::clock::Clock::system();
        let logins = SqlLogins::new(self.db.clone());
        let subject = Subject::from(user.id.to_string());
        log_out_everywhere(&logins, &self.revocations()?, &subject, &clock)
            .await
            .map_err(|e| refused(Error::from(e)))
    }

    /// The revocation store, to write one: running instances hear of it
    /// at once through Redis, else at their next poll.
    fn revocations(&self) -> Result<SqlRevocations, CliError> {
        let settings = &self.settings;
        let lifetime = settings.access_token_ttl.max(settings.refresh_token_ttl);
        // Only to write one: nothing needs reading.
        let store = SqlRevocations::open(self.db.clone(), lifetime);
        #[cfg(feature = "redis")]
        let store = match &settings.redis_url {
            Some(url) => store.with_fanout(std::sync::Arc::new(
                crate::cluster::Redis::new(url, &settings.redis_prefix)
                    .map_err(runtime::StartError::from)?,
            )),
            None => store,
        };
        Ok(store)
    }
}

/// Runs a `sessions` subcommand.
pub(crate) fn sessions(command: SessionsCommand) -> Result<(), CliError> {
    match command {
        SessionsCommand::List { user, config } => with_user(&user, &config, async |ctx, user| {
            let logins = SqlLogins::new(ctx.db.clone());
            let sub = Subject::from(user.id.to_string());
            let now = tokengate::clock::now();
            for session in logins.sessions(&sub, now).await.map_err(Error::from)? {
                let details = &session.details;
                let method = match details.method.provider() {
                    Some(provider) => format!("oidc:{provider}"),
                    None => details.method.as_str().to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    session.id,
                    rfc3339(session.created_at),
                    rfc3339(session.last_used_at),
                    method,
                    details.ip.map_or("-".to_owned(), |ip| ip.to_string()),
                    details.user_agent.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }),
        SessionsCommand::End { id, config } => {
            let settings = load_settings(&config)?;
            block_on(async {
                let db = runtime::existing_database(&settings).await?;
                let admin = Admin { settings, db };
                let logins = SqlLogins::new(admin.db.clone());
                let login = LoginId::from(id);
                let now = tokengate::clock::now();
                let Some((owner, _)) = logins
                    .live_session(&login, now)
                    .await
                    .map_err(crate::storage::unavailable)?
                else {
                    return Err(CliError::Usage(format!("no live session {login}")));
                };
                let ttl = admin.settings.refresh_token_ttl;
                let clock = tokengate::clock::Clock::system();
                end_login(&logins, &admin.revocations()?, &login, ttl, &clock)
                    .await
                    .map_err(|e| refused(Error::from(e)))?;
                println!("ended session {login} of user id {owner}; its tokens are revoked");
                Ok(())
            })
        }
    }
}

/// Runs `action` on the user named `name` in the service's database.
fn with_user(
    name: &str,
    config: &ConfigArgs,
    action: impl AsyncFnOnce(&Admin, User) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let settings = load_settings(config)?;
    let username = Username::parse(name).map_err(refused)?;
    block_on(async {
        let db = runtime::existing_database(&settings).await?;
        let user = db
            .user_by_name(&username)
            .await?
            .ok_or_else(|| CliError::Usage(format!("no user named {name}")))?;
        action(&Admin { settings, db }, user).await
    })
}

/// `user revoke-scope` and `user revoke-role`: the user's tokens carry the
/// old list until they expire, so they are revoked.
fn take(name: &str, grant: Grant, value: &str, config: &ConfigArgs) -> Result<(), CliError> {
    with_user(name, config, async |ctx, user| {
        let username = Username::parse(name).map_err(refused)?;
        ctx.db.revoke_grant(&username, grant, value).await?;
        ctx.revoke_tokens(&user).await?;
        println!(
            "took {value} from {}; its tokens are revoked, the next login carries the rest",
            user.username
        );
        Ok(())
    })
}

/// `user grant` and `user grant-role`.
fn grant(name: &str, grant: Grant, value: &str, config: &ConfigArgs) -> Result<(), CliError> {
    let settings = load_settings(config)?;
    let username = Username::parse(name).map_err(refused)?;
    // One word: scopes and roles travel space-separated.
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::Usage(format!(
            "{value:?} is not one word: scopes and roles have no spaces"
        )));
    }
    block_on(async {
        let db = runtime::existing_database(&settings).await?;
        if !db.grant(&username, grant, value).await? {
            return Err(CliError::Usage(format!("no user named {name}")));
        }
        println!("granted {value} to {name}; tokens issued from now on carry it");
        Ok(())
    })
}

/// Runs `revoke --user NAME`.
pub(crate) fn revoke(args: RevokeArgs) -> Result<(), CliError> {
    with_user(&args.user, &args.config, async |ctx, user| {
        ctx.revoke_tokens(&user).await?;
        println!("revoked every token of {} issued until now", user.username);
        Ok(())
    })
}

/// Runs a `keys` subcommand on the store the service uses: the database
/// (PostgreSQL with key_encryption_secret), where every instance sees the
/// change, or the data directory.
pub(crate) fn keys(command: KeysCommand) -> Result<(), CliError> {
    let (config, alg) = match &command {
        KeysCommand::Rotate { config, alg } => (config, *alg),
        KeysCommand::List { config } | KeysCommand::Retire { config, .. } => (config, None),
    };
    let settings = load_settings(config)?;
    block_on(async {
        let db = runtime::existing_database(&settings).await?;
        let KeySource::Store(store, default_alg) = KeySource::from_settings(&settings, &db)? else {
            return Err(CliError::Usage(
                "keys are configured (private_key_file or secret_key); rotate them there".into(),
            ));
        };
        if db.is_shared() && !store.is_shared() {
            eprintln!(
                "note: without key_encryption_secret the keys are those of {} only; \
                 other instances do not see them",
                settings.data_dir.join("keys").display()
            );
        }
        match command {
            KeysCommand::Rotate { .. } => {
                let info = store.rotate(alg.unwrap_or(default_alg)).await?;
                println!(
                    "new signing key {} ({}); the previous keys keep verifying until their tokens expire",
                    info.kid, info.alg
                );
            }
            KeysCommand::List { .. } => {
                for key in store.list().await? {
                    let role = if key.signing {
                        "signing".to_owned()
                    } else {
                        format!("verifying until {}", key.retires.unwrap_or_default())
                    };
                    println!("{}\t{}\tcreated {}\t{role}", key.kid, key.alg, key.created);
                }
            }
            KeysCommand::Retire { kid, .. } => {
                let info = store.retire(&kid).await?;
                let now = tokengate::clock::now().as_secs();
                match info.retires {
                    Some(until) if until > now => println!(
                        "retired {kid}; the tokens it signed (some valid until {until}) are \
                         refused from now on"
                    ),
                    _ => println!("retired {kid}"),
                }
            }
        }
        Ok(())
    })
}

/// `tokengate config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Load the settings as `serve` would, and print each effective value
    /// with where it came from (secrets redacted); exit 2 on a bad setting.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Runs a `config` subcommand.
pub(crate) fn config(command: ConfigCommand) -> Result<(), CliError> {
    match command {
        ConfigCommand::Check { config } => {
            let settings = load_settings(&config)?;
            print!("{}", settings.report_text());
            println!("the settings are valid");
            Ok(())
        }
    }
}
