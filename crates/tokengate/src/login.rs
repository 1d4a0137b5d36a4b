//! Logins: a *login* is one refresh-token family, rotated with reuse
//! detection; its owner sees it as a *session* and can end it.
//!
//! A password login starts a login; its access and refresh tokens carry its
//! [`LoginId`] in `fam`. Each refresh spends the presented refresh token and
//! issues the next one of the same login. Presenting a spent one again
//! means it was stolen (or replayed): the whole login is revoked, unless it
//! comes within the *reuse interval* after its first use (two browser tabs
//! refreshing at once), when it gets the login's current refresh token
//! again. (The service's *browser session* is a login whose tokens travel
//! in cookies.)
//!
//! ```
//! use std::time::Duration;
//! use tokengate::clock::Timestamp;
//! use tokengate::ids::{LoginId, Subject, TokenId};
//! use tokengate::login::{InMemoryLogins, LoginStore, NewLogin, RefreshUse, Rotation};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let logins = InMemoryLogins::default();
//! let (login, never, now) = (LoginId::from("login-1"), Timestamp::from_millis(i64::MAX), Timestamp::from_secs(1_000));
//! let [r1, r2, r3, r4] = ["refresh-1", "refresh-2", "refresh-3", "refresh-4"].map(TokenId::from);
//! logins.start(&NewLogin::new(login.clone(), Subject::from("alice"), r1.clone(), never, now)).await.unwrap();
//! let spend = |presented: &TokenId, next: &TokenId| RefreshUse::new(login.clone(), presented.clone(), next.clone(), never, now);
//! assert_eq!(logins.rotate(&spend(&r1, &r2)).await.unwrap(), Rotation::Rotated);
//! // Within the reuse interval, the spent refresh-1 gets the current refresh-2 again.
//! let again = spend(&r1, &r3).reuse_interval(Duration::from_secs(10));
//! assert_eq!(logins.rotate(&again).await.unwrap(), Rotation::Repeated { current: r2.clone() });
//! // Without it, a thief replaying refresh-1 ends the whole login.
//! assert_eq!(logins.rotate(&spend(&r1, &r3)).await.unwrap(), Rotation::Reused);
//! assert_eq!(logins.rotate(&spend(&r2, &r4)).await.unwrap(), Rotation::Ended);
//! # });
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject, TokenId};
use crate::revocation::{BoxFuture, Revocation, RevocationStore, StoreError};

/// The longest reuse interval: past a minute a spent refresh token is
/// more likely a thief's than a second tab's.
///
/// ```
/// assert_eq!(tokengate::login::MAX_REUSE_INTERVAL.as_secs(), 60);
/// ```
pub const MAX_REUSE_INTERVAL: Duration = Duration::from_secs(60);

/// How many characters of a `User-Agent` a login keeps: enough to tell
/// browsers apart, not a place to store a client's payload.
///
/// ```
/// use tokengate::login::{LoginDetails, USER_AGENT_MAX_CHARS};
///
/// let details = LoginDetails::default().user_agent(&"x".repeat(1000));
/// assert_eq!(details.user_agent.unwrap().chars().count(), USER_AGENT_MAX_CHARS);
/// ```
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// How a login was made.
///
/// ```
/// use tokengate::login::LoginMethod;
///
/// let method = LoginMethod::Oidc { provider: "keycloak".into() };
/// assert_eq!((method.as_str(), method.provider()), ("oidc", Some("keycloak")));
/// assert_eq!(LoginMethod::from_parts("oidc", Some("keycloak".into())), method);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginMethod {
    /// A username and a password.
    #[default]
    Password,
    /// An OpenID Connect provider, by its configured name.
    Oidc {
        /// The provider's name.
        provider: String,
    },
    /// A passkey (WebAuthn).
    Passkey,
    /// Anything else, by the application's name for it.
    Other(String),
}

impl LoginMethod {
    /// The method's name: `password`, `oidc`, `passkey`, or the other name.
    pub fn as_str(&self) -> &str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::Oidc { .. } => "oidc",
            LoginMethod::Passkey => "passkey",
            LoginMethod::Other(name) => name,
        }
    }

    /// The OIDC provider's name, for an OIDC login.
    pub fn provider(&self) -> Option<&str> {
        match self {
            LoginMethod::Oidc { provider } => Some(provider),
            _ => None,
        }
    }

    /// The method [`LoginMethod::as_str`] and [`LoginMethod::provider`]
    /// describe: how a store reads back what it wrote.
    pub fn from_parts(method: &str, provider: Option<String>) -> Self {
        match (method, provider) {
            ("password", _) => LoginMethod::Password,
            ("oidc", Some(provider)) => LoginMethod::Oidc { provider },
            ("passkey", _) => LoginMethod::Passkey,
            (other, _) => LoginMethod::Other(other.to_owned()),
        }
    }
}

/// What a login records about how and where it was made, for its owner's
/// list of sessions. Never a token or a secret.
///
/// ```
/// use tokengate::login::{LoginDetails, LoginMethod};
///
/// let details = LoginDetails::new(LoginMethod::Password)
///     .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
///     .ip("192.0.2.7".parse().unwrap());
/// assert_eq!(details.ip.unwrap().to_string(), "192.0.2.7");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginDetails {
    /// How the user logged in.
    pub method: LoginMethod,
    /// The client's `User-Agent`, at most [`USER_AGENT_MAX_CHARS`]
    /// characters, control characters removed.
    pub user_agent: Option<String>,
    /// The client's address (behind trusted proxies, the forwarded one).
    pub ip: Option<IpAddr>,
    /// The DPoP key the login's tokens are bound to (its proof at login),
    /// kept in the tokens (`cnf.jkt`), not in the store.
    pub confirmation: Option<crate::dpop::Jkt>,
}

impl LoginDetails {
    /// Details of a login made by `method`.
    pub fn new(method: LoginMethod) -> Self {
        LoginDetails {
            method,
            ..LoginDetails::default()
        }
    }

    /// Sets the `User-Agent`: cut to [`USER_AGENT_MAX_CHARS`] characters
    /// without control characters; an empty one is none.
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        let kept: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_MAX_CHARS)
            .collect();
        let kept = kept.trim();
        self.user_agent = (!kept.is_empty()).then(|| kept.to_owned());
        self
    }

    /// Sets the client's address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Binds the login's tokens to a DPoP key: its access and refresh
    /// tokens carry `cnf.jkt`, and so do those its refreshes issue.
    ///
    /// ```
    /// use tokengate::dpop::Jkt;
    /// use tokengate::login::{LoginDetails, LoginMethod};
    ///
    /// let details = LoginDetails::new(LoginMethod::Password).bound_to(Jkt::from("thumbprint"));
    /// assert_eq!(details.confirmation, Some(Jkt::from("thumbprint")));
    /// ```
    pub fn bound_to(mut self, jkt: crate::dpop::Jkt) -> Self {
        self.confirmation = Some(jkt);
        self
    }
}

/// A login to record: see [`LoginStore::start`].
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::login::{LoginDetails, LoginMethod, NewLogin};
///
/// let login = NewLogin::new(LoginId::from("l1"), Subject::from("alice"), TokenId::from("r1"),
///     Timestamp::from_secs(2_000), Timestamp::from_secs(1_000))
///     .details(LoginDetails::new(LoginMethod::Passkey));
/// assert_eq!(login.details.method.as_str(), "passkey");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewLogin {
    /// The login's id (the tokens' `fam`).
    pub id: LoginId,
    /// Whose login it is.
    pub subject: Subject,
    /// Its first refresh token's id.
    pub refresh: TokenId,
    /// When its refresh token expires: the login ends then unless refreshed.
    pub expires_at: Timestamp,
    /// When it starts.
    pub created_at: Timestamp,
    /// How and where it was made.
    pub details: LoginDetails,
}

impl NewLogin {
    /// A login of `subject` made at `now`, with default details.
    pub fn new(
        id: LoginId,
        subject: Subject,
        refresh: TokenId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Self {
        NewLogin {
            id,
            subject,
            refresh,
            expires_at,
            created_at: now,
            details: LoginDetails::default(),
        }
    }

    /// Sets how and where it was made.
    pub fn details(mut self, details: LoginDetails) -> Self {
        self.details = details;
        self
    }
}

/// A refresh token presented to a login: see [`LoginStore::rotate`].
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, TokenId};
/// use tokengate::login::RefreshUse;
///
/// let spend = RefreshUse::new(LoginId::from("l1"), TokenId::from("r1"), TokenId::from("r2"),
///     Timestamp::from_secs(2_000), Timestamp::from_secs(1_000))
///     .reuse_interval(Duration::from_secs(5));
/// assert_eq!(spend.reuse_interval.as_secs(), 5);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshUse {
    /// The login of the presented token (`fam`).
    pub login: LoginId,
    /// The presented refresh token's id.
    pub presented: TokenId,
    /// The id of the refresh token to issue if it is current.
    pub next: TokenId,
    /// When `next` expires.
    pub expires_at: Timestamp,
    /// Now.
    pub now: Timestamp,
    /// How long after its first use a spent refresh token still gets the
    /// current one (zero: never; at most [`MAX_REUSE_INTERVAL`]).
    pub reuse_interval: Duration,
}

impl RefreshUse {
    /// `presented` is spent at `now` for `next`, with no reuse interval.
    pub fn new(
        login: LoginId,
        presented: TokenId,
        next: TokenId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Self {
        RefreshUse {
            login,
            presented,
            next,
            expires_at,
            now,
            reuse_interval: Duration::ZERO,
        }
    }

    /// Sets the reuse interval (at most [`MAX_REUSE_INTERVAL`]).
    pub fn reuse_interval(mut self, interval: Duration) -> Self {
        self.reuse_interval = interval.min(MAX_REUSE_INTERVAL);
        self
    }

    /// Whether a token first spent at `rotated_at` is still within the
    /// reuse interval: strictly, so that a zero interval never is. A first
    /// use *after* `now` is within: a racing refresh read its clock before
    /// the one that won reached the store (or another instance's clock is
    /// ahead).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::clock::Timestamp;
    /// use tokengate::login::RefreshUse;
    ///
    /// let at = |ms| RefreshUse::new("l".into(), "r1".into(), "r2".into(), Timestamp::from_millis(i64::MAX), Timestamp::from_millis(ms));
    /// let first_use = Timestamp::from_millis(1_000);
    /// assert!(at(1_999).reuse_interval(Duration::from_secs(1)).within_reuse_interval(first_use));
    /// assert!(!at(2_000).reuse_interval(Duration::from_secs(1)).within_reuse_interval(first_use));
    /// assert!(at(999).reuse_interval(Duration::from_secs(1)).within_reuse_interval(first_use));
    /// assert!(!at(999).within_reuse_interval(first_use)); // no interval, no reuse
    /// ```
    pub fn within_reuse_interval(&self, rotated_at: Timestamp) -> bool {
        let interval = i64::try_from(self.reuse_interval.as_millis()).unwrap_or(i64::MAX);
        let elapsed = self.now.as_millis().saturating_sub(rotated_at.as_millis());
        interval > 0 && elapsed < interval
    }
}

/// What a rotation found: see [`LoginStore::rotate`].
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, TokenId};
/// use tokengate::login::{InMemoryLogins, LoginStore, RefreshUse, Rotation};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryLogins::default();
/// let spend = RefreshUse::new(LoginId::from("nope"), TokenId::from("r1"), TokenId::from("r2"),
///     Timestamp::from_millis(i64::MAX), Timestamp::from_secs(0));
/// assert_eq!(store.rotate(&spend).await.unwrap(), Rotation::Ended);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the login's current one; the next one is now current.
    Rotated,
    /// The presented token was the one spent last, within the reuse
    /// interval: the login goes on, and `current` (its current refresh
    /// token's id) is issued again.
    Repeated {
        /// The login's current refresh token id.
        current: TokenId,
    },
    /// The presented token was spent already: reuse. The store has ended the login.
    Reused,
    /// No such login, or it has ended.
    Ended,
}

/// A live login as its owner sees it: see [`LoginStore::sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The login's id.
    pub id: LoginId,
    /// When it started.
    pub created_at: Timestamp,
    /// Its last refresh (its start, if never refreshed). Access-token use
    /// is not counted: verification never writes to the store.
    pub last_used_at: Timestamp,
    /// When its refresh token expires.
    pub expires_at: Timestamp,
    /// How and where it was made.
    pub details: LoginDetails,
}

impl Session {
    /// A session: for stores that read one back.
    ///
    /// ```
    /// use tokengate::clock::Timestamp;
    /// use tokengate::ids::LoginId;
    /// use tokengate::login::{LoginDetails, Session};
    ///
    /// let t = Timestamp::from_secs(1_000);
    /// let session = Session::new(LoginId::from("l1"), t, t, t, LoginDetails::default());
    /// assert_eq!(session.id, "l1");
    /// ```
    pub fn new(
        id: LoginId,
        created_at: Timestamp,
        last_used_at: Timestamp,
        expires_at: Timestamp,
        details: LoginDetails,
    ) -> Self {
        Session {
            id,
            created_at,
            last_used_at,
            expires_at,
            details,
        }
    }
}

/// Where logins (refresh-token families) are kept.
///
/// [`LoginStore::rotate`] must be atomic: of two concurrent rotations of
/// the same token, at most one may see [`Rotation::Rotated`] (in SQL: an
/// `UPDATE ... WHERE login = ? AND current = ? AND NOT ended`, then look
/// at the rows changed). A *live* login has not ended and its refresh
/// token has not expired.
///
/// ```
/// use std::sync::Arc;
/// use tokengate::axum::TokenGate;
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, Subject};
/// use tokengate::keys::Algorithm;
/// use tokengate::login::{InMemoryLogins, LoginStore, NewLogin, RefreshUse, Rotation, Session};
/// use tokengate::revocation::{BoxFuture, StoreError};
///
/// /// Logins that a real store would keep in its database.
/// #[derive(Default)]
/// struct Logins { memory: InMemoryLogins }
/// impl LoginStore for Logins {
///     fn start<'a>(&'a self, login: &'a NewLogin) -> BoxFuture<'a, Result<(), StoreError>> { self.memory.start(login) }
///     fn rotate<'a>(&'a self, refresh: &'a RefreshUse) -> BoxFuture<'a, Result<Rotation, StoreError>> { self.memory.rotate(refresh) }
///     fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>> { self.memory.end(login) }
///     fn sessions<'a>(&'a self, subject: &'a Subject, now: Timestamp) -> BoxFuture<'a, Result<Vec<Session>, StoreError>> {
///         self.memory.sessions(subject, now)
///     }
///     fn end_session<'a>(&'a self, subject: &'a Subject, login: &'a LoginId, now: Timestamp) -> BoxFuture<'a, Result<bool, StoreError>> {
///         self.memory.end_session(subject, login, now)
///     }
///     fn end_sessions<'a>(&'a self, subject: &'a Subject, keep: Option<&'a LoginId>, now: Timestamp) -> BoxFuture<'a, Result<Vec<LoginId>, StoreError>> {
///         self.memory.end_sessions(subject, keep, now)
///     }
/// }
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap().with_logins(Arc::new(Logins::default()));
/// ```
pub trait LoginStore: Send + Sync + 'static {
    /// Records a new login; it is live until its `expires_at`.
    fn start<'a>(&'a self, login: &'a NewLogin) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Spends a refresh token of a live login:
    /// - `presented` is the login's current token: `next` becomes current
    ///   (kept until `expires_at`), `presented` is remembered as the one
    ///   spent last, with the time: [`Rotation::Rotated`];
    /// - `presented` is the one spent last and
    ///   [`RefreshUse::within_reuse_interval`] of its first use: the
    ///   current token is issued again (its expiry becomes the later of the
    ///   two), [`Rotation::Repeated`] with the current id;
    /// - otherwise the store ends the login: [`Rotation::Reused`].
    ///
    /// Every outcome but a reuse counts as a use of the login (its `last_used_at`).
    fn rotate<'a>(&'a self, refresh: &'a RefreshUse)
    -> BoxFuture<'a, Result<Rotation, StoreError>>;

    /// Ends a login (logout).
    fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The live logins of `subject` at `now`, newest first.
    fn sessions<'a>(
        &'a self,
        subject: &'a Subject,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>>;

    /// Ends `login` if it is a live login of `subject`; whether it did (an
    /// unknown login and another subject's are alike: `false`).
    fn end_session<'a>(
        &'a self,
        subject: &'a Subject,
        login: &'a LoginId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Ends every login of `subject` live at `now` and started at or
    /// before it, but `keep`; the logins it ended.
    fn end_sessions<'a>(
        &'a self,
        subject: &'a Subject,
        keep: Option<&'a LoginId>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LoginId>, StoreError>>;
}

/// Ends `login` and revokes every token of it until its last refresh token
/// would have expired (`refresh_ttl` from now): what a logout, a detected
/// reuse and ending a session do. For tools that end logins outside a
/// [`TokenGate`](crate::axum::TokenGate) (an admin command).
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::{Clock, Timestamp};
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::login::{end_login, InMemoryLogins, LoginStore, NewLogin};
/// use tokengate::revocation::InMemoryRevocations;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (logins, revocations) = (InMemoryLogins::default(), InMemoryRevocations::new());
/// let now = Timestamp::from_secs(1_000);
/// let login = NewLogin::new(LoginId::from("l1"), Subject::from("alice"), TokenId::from("r1"), Timestamp::from_secs(2_000), now);
/// logins.start(&login).await.unwrap();
/// end_login(&logins, &revocations, &login.id, Duration::from_secs(3600), &Clock::system()).await.unwrap();
/// assert!(revocations.is_login_revoked("l1"));
/// assert!(logins.sessions(&login.subject, now).await.unwrap().is_empty());
/// # });
/// ```
pub async fn end_login(
    logins: &dyn LoginStore,
    revocations: &dyn RevocationStore,
    login: &LoginId,
    refresh_ttl: Duration,
    clock: &crate::clock::Clock,
) -> Result<(), StoreError> {
    logins.end(login).await?;
    revoke_login(revocations, login, refresh_ttl, clock).await
}

/// Logs `subject` out everywhere: every token of it issued until now is
/// revoked ([`revoke_all`](crate::revocation::revoke_all)) and every live
/// login of it ended, so that none is listed as a session. What
/// [`TokenGate::logout_all`](crate::axum::TokenGate::logout_all), a
/// password change and the admin commands that revoke a user's tokens do.
///
/// ```
/// use std::time::Duration;
/// use tokengate::clock::{Clock, Timestamp};
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::login::{log_out_everywhere, InMemoryLogins, LoginStore, NewLogin};
/// use tokengate::revocation::InMemoryRevocations;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let (logins, revocations) = (InMemoryLogins::default(), InMemoryRevocations::new());
/// let (clock, never) = (Clock::system(), Timestamp::from_millis(i64::MAX));
/// let login = NewLogin::new(LoginId::from("l1"), Subject::from("alice"), TokenId::from("r1"), never, clock.now());
/// logins.start(&login).await.unwrap();
/// log_out_everywhere(&logins, &revocations, &login.subject, &clock).await.unwrap();
/// assert!(logins.sessions(&login.subject, clock.now()).await.unwrap().is_empty());
/// # });
/// ```
#[cfg(feature = "axum")]
pub async fn log_out_everywhere(
    logins: &dyn LoginStore,
    revocations: &dyn RevocationStore,
    subject: &Subject,
    clock: &crate::clock::Clock,
) -> Result<(), StoreError> {
    // revoke_all, with the logins started until the same cut-off ended:
    // a login started after it (its tokens valid) stays. The revocation
    // first: it is what refuses the tokens.
    let cut = clock.now();
    revocations
        .revoke(Revocation::SubjectBefore {
            subject: subject.clone(),
            before: cut,
        })
        .await?;
    logins.end_sessions(subject, None, cut).await?;
    clock.pass(cut).await;
    Ok(())
}

/// Revokes every token of a login that its store has ended already.
pub(crate) async fn revoke_login(
    revocations: &dyn RevocationStore,
    login: &LoginId,
    refresh_ttl: Duration,
    clock: &crate::clock::Clock,
) -> Result<(), StoreError> {
    revocations
        .revoke(Revocation::Login {
            login: login.clone(),
            expires_at: login_revoked_until(refresh_ttl, clock),
        })
        .await
}

/// Until when a login ended now stays revoked: its last refresh token's
/// lifetime from now.
pub(crate) fn login_revoked_until(refresh_ttl: Duration, clock: &crate::clock::Clock) -> Timestamp {
    clock.now().saturating_add(refresh_ttl)
}

#[derive(Debug)]
struct Family {
    subject: Subject,
    current: TokenId,
    /// The refresh token spent last, and when it was first spent.
    previous: Option<(TokenId, Timestamp)>,
    expires_at: Timestamp,
    created_at: Timestamp,
    last_used_at: Timestamp,
    details: LoginDetails,
    ended: bool,
}

impl Family {
    fn live(&self, now: Timestamp) -> bool {
        !self.ended && self.expires_at > now
    }
}

/// Logins in memory: for tests and single-process applications that
/// accept losing logins on restart. Ended and expired logins are dropped
/// when the next login starts, so the map holds live logins only (plus
/// those ended since).
///
/// ```
/// use tokengate::clock::Timestamp;
/// use tokengate::ids::{LoginId, Subject, TokenId};
/// use tokengate::login::{InMemoryLogins, LoginStore, NewLogin, RefreshUse, Rotation};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryLogins::default();
/// let (login, never, now) = (LoginId::from("l1"), Timestamp::from_millis(i64::MAX), Timestamp::from_secs(1));
/// let [r1, r2, r3] = ["r1", "r2", "r3"].map(TokenId::from);
/// store.start(&NewLogin::new(login.clone(), Subject::from("alice"), r1.clone(), never, now)).await.unwrap();
/// let spend = |p: &TokenId, n: &TokenId| RefreshUse::new(login.clone(), p.clone(), n.clone(), never, now);
/// assert_eq!(store.rotate(&spend(&r1, &r2)).await.unwrap(), Rotation::Rotated);
/// assert_eq!(store.rotate(&spend(&r1, &r3)).await.unwrap(), Rotation::Reused);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryLogins {
    logins: Mutex<HashMap<LoginId, Family>>,
}

impl InMemoryLogins {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<LoginId, Family>) -> T) -> T {
        f(&mut self.logins.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl LoginStore for InMemoryLogins {
    fn start<'a>(&'a self, login: &'a NewLogin) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            m.retain(|_, f| f.live(login.created_at));
            m.insert(
                login.id.clone(),
                Family {
                    subject: login.subject.clone(),
                    current: login.refresh.clone(),
                    previous: None,
                    expires_at: login.expires_at,
                    created_at: login.created_at,
                    last_used_at: login.created_at,
                    details: login.details.clone(),
                    ended: false,
                },
            )
        });
        ready(())
    }

    fn rotate<'a>(
        &'a self,
        refresh: &'a RefreshUse,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        let outcome = self.with(|m| match m.get_mut(&refresh.login) {
            Some(f) if f.live(refresh.now) => {
                if f.current == refresh.presented {
                    let spent = std::mem::replace(&mut f.current, refresh.next.clone());
                    f.previous = Some((spent, refresh.now));
                    f.expires_at = refresh.expires_at;
                    f.last_used_at = refresh.now;
                    return Rotation::Rotated;
                }
                match &f.previous {
                    Some((spent, at))
                        if *spent == refresh.presented && refresh.within_reuse_interval(*at) =>
                    {
                        f.last_used_at = refresh.now;
                        // The current token is issued again, expiring later.
                        f.expires_at = f.expires_at.max(refresh.expires_at);
                        Rotation::Repeated {
                            current: f.current.clone(),
                        }
                    }
                    _ => {
                        f.ended = true;
                        Rotation::Reused
                    }
                }
            }
            _ => Rotation::Ended,
        });
        ready(outcome)
    }

    fn end<'a>(&'a self, login: &'a LoginId) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|m| {
            if let Some(f) = m.get_mut(login) {
                f.ended = true;
            }
        });
        ready(())
    }

    fn sessions<'a>(
        &'a self,
        subject: &'a Subject,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>> {
        let mut sessions: Vec<Session> = self.with(|m| {
            m.iter()
                .filter(|(_, f)| f.subject == *subject && f.live(now))
                .map(|(id, f)| {
                    Session::new(
                        id.clone(),
                        f.created_at,
                        f.last_used_at,
                        f.expires_at,
                        f.details.clone(),
                    )
                })
                .collect()
        });
        sessions.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        ready(sessions)
    }

    fn end_session<'a>(
        &'a self,
        subject: &'a Subject,
        login: &'a LoginId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let ended = self.with(|m| match m.get_mut(login) {
            Some(f) if f.subject == *subject && f.live(now) => {
                f.ended = true;
                true
            }
            _ => false,
        });
        ready(ended)
    }

    fn end_sessions<'a>(
        &'a self,
        subject: &'a Subject,
        keep: Option<&'a LoginId>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LoginId>, StoreError>> {
        let ended = self.with(|m| {
            m.iter_mut()
                .filter(|(id, f)| {
                    f.subject == *subject && f.live(now) && f.created_at <= now && Some(*id) != keep
                })
                .map(|(id, f)| {
                    f.ended = true;
                    id.clone()
                })
                .collect()
        });
        ready(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEVER: Timestamp = Timestamp::from_millis(i64::MAX);

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    async fn started(store: &InMemoryLogins, id: &str, sub: &str, now: i64) -> LoginId {
        let login = NewLogin::new(
            id.into(),
            sub.into(),
            format!("{id}-r1").into(),
            NEVER,
            at(now),
        );
        store.start(&login).await.unwrap();
        login.id
    }

    #[tokio::test]
    async fn reuse_within_the_interval_repeats_the_current_token_and_after_it_ends_the_login() {
        let store = InMemoryLogins::default();
        let login = started(&store, "l", "alice", 0).await;
        let spend = |p: &str, n: &str, now: i64| {
            RefreshUse::new(login.clone(), p.into(), n.into(), NEVER, at(now))
                .reuse_interval(Duration::from_secs(2))
        };
        assert_eq!(
            store.rotate(&spend("l-r1", "r2", 1_000)).await.unwrap(),
            Rotation::Rotated
        );
        let repeated = Rotation::Repeated {
            current: "r2".into(),
        };
        // A racer that read its clock before the winner did.
        assert_eq!(
            store.rotate(&spend("l-r1", "x", 999)).await.unwrap(),
            repeated
        );
        assert_eq!(
            store.rotate(&spend("l-r1", "x", 2_999)).await.unwrap(),
            repeated
        );
        // The current token still rotates, and the last one spent is then r2.
        assert_eq!(
            store.rotate(&spend("r2", "r3", 3_000)).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate(&spend("l-r1", "x", 3_001)).await.unwrap(),
            Rotation::Reused
        );
        assert_eq!(
            store.rotate(&spend("r3", "r4", 3_002)).await.unwrap(),
            Rotation::Ended
        );

        let login = started(&store, "m", "alice", 0).await;
        let spend = |p: &str, n: &str, now: i64| {
            RefreshUse::new(login.clone(), p.into(), n.into(), NEVER, at(now))
                .reuse_interval(Duration::from_secs(2))
        };
        assert_eq!(
            store.rotate(&spend("m-r1", "r2", 1_000)).await.unwrap(),
            Rotation::Rotated
        );
        // Exactly the interval after the first use: too late.
        assert_eq!(
            store.rotate(&spend("m-r1", "x", 3_000)).await.unwrap(),
            Rotation::Reused
        );
    }

    #[tokio::test]
    async fn a_zero_interval_ends_the_login_on_any_reuse() {
        let store = InMemoryLogins::default();
        let login = started(&store, "l", "alice", 0).await;
        let spend =
            |p: &str, n: &str| RefreshUse::new(login.clone(), p.into(), n.into(), NEVER, at(5));
        assert_eq!(
            store.rotate(&spend("l-r1", "r2")).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate(&spend("l-r1", "r3")).await.unwrap(),
            Rotation::Reused
        );
    }

    #[tokio::test]
    async fn sessions_are_the_subjects_live_logins_newest_first() {
        let store = InMemoryLogins::default();
        let old = started(&store, "old", "alice", 1).await;
        let new = started(&store, "new", "alice", 2).await;
        let ended = started(&store, "ended", "alice", 3).await;
        started(&store, "bob's", "bob", 4).await;
        store.end(&ended).await.unwrap();
        let expiring = NewLogin::new("expired".into(), "alice".into(), "r".into(), at(10), at(5));
        store.start(&expiring).await.unwrap();
        let ids = |sessions: Vec<Session>| sessions.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let alice = Subject::from("alice");
        assert_eq!(
            ids(store.sessions(&alice, at(9)).await.unwrap()),
            ["expired", "new", "old"]
        );
        assert_eq!(
            ids(store.sessions(&alice, at(10)).await.unwrap()),
            [new.clone(), old.clone()]
        );

        // Another subject's login is not alice's to end.
        assert!(
            !store
                .end_session(&alice, &"bob's".into(), at(10))
                .await
                .unwrap()
        );
        assert!(
            !store
                .end_session(&alice, &"unknown".into(), at(10))
                .await
                .unwrap()
        );
        assert!(store.end_session(&alice, &old, at(10)).await.unwrap());
        assert!(!store.end_session(&alice, &old, at(10)).await.unwrap());
        let third = started(&store, "third", "alice", 11).await;
        assert_eq!(
            store
                .end_sessions(&alice, Some(&third), at(12))
                .await
                .unwrap(),
            [new]
        );
        assert_eq!(ids(store.sessions(&alice, at(12)).await.unwrap()), [third]);
        assert_eq!(
            ids(store.sessions(&"bob".into(), at(12)).await.unwrap()),
            ["bob's"]
        );
    }
}
