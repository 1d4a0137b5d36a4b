//! Login, refresh with rotation and reuse detection, logout and logout-all,
//! as [`TokenGate`] methods: the token lifecycle of Flask-JWT-Extended's
//! examples, with the safe parts built in.

use super::{Identity, TokenGate};
use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject};
use crate::login::{LoginDetails, NewLogin, RefreshUse, Rotation, Session};
use crate::revocation::Revocation;
use crate::token::{IssuedToken, NewToken, VerifiedToken};
use crate::{Error, RequestRejection, TokenRejection};

/// The tokens of a login or a refresh, of one refresh-token family.
///
/// ```
/// use tokengate::axum::TokenGate;
/// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
/// use tokengate::token::TokenEngine;
///
/// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let pair = gate.login("alice").await.unwrap();
/// assert_eq!(pair.access.family, pair.refresh.family);
/// assert!(pair.refresh.expires_in() > pair.access.expires_in());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: IssuedToken,
    /// The refresh token.
    pub refresh: IssuedToken,
}

impl TokenPair {
    /// The `token_type` to answer with: `DPoP` for tokens bound to a key,
    /// else `Bearer`.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// assert_eq!(gate.login("alice").await.unwrap().token_type(), "Bearer");
    /// # });
    /// ```
    pub fn token_type(&self) -> &'static str {
        if self.access.confirmation.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

impl TokenGate {
    /// Starts a login for `user`: a fresh access token and a refresh token,
    /// both in a new refresh-token family.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let login = gate.login("alice").await.unwrap();
    /// let refresh = gate.engine().verify(&login.refresh.token).unwrap();
    /// let next = gate.refresh("alice", &refresh).await.unwrap();
    /// // The spent refresh token is refused, and its reuse ends the whole login.
    /// assert!(gate.refresh("alice", &refresh).await.is_err());
    /// let next_refresh = gate.engine().verify(&next.refresh.token).unwrap();
    /// assert!(gate.refresh("alice", &next_refresh).await.is_err());
    /// # });
    /// ```
    pub async fn login(&self, user: &(impl Identity + ?Sized)) -> Result<TokenPair, Error> {
        self.start_login(user, true, LoginDetails::default()).await
    }

    /// [`TokenGate::login`], recording how and where the user logged in:
    /// what the user sees of the login in [`TokenGate::sessions`].
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    /// use tokengate::login::{LoginDetails, LoginMethod};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let details = LoginDetails::new(LoginMethod::Oidc { provider: "keycloak".into() })
    ///     .user_agent("curl/8.5.0")
    ///     .ip("192.0.2.7".parse().unwrap());
    /// gate.login_with("alice", details).await.unwrap();
    /// let sessions = gate.sessions("alice").await.unwrap();
    /// assert_eq!(sessions[0].details.method.provider(), Some("keycloak"));
    /// assert_eq!(sessions[0].details.user_agent.as_deref(), Some("curl/8.5.0"));
    /// # });
    /// ```
    pub async fn login_with(
        &self,
        user: &(impl Identity + ?Sized),
        details: LoginDetails,
    ) -> Result<TokenPair, Error> {
        self.start_login(user, true, details).await
    }

    async fn start_login(
        &self,
        user: &(impl Identity + ?Sized),
        fresh: bool,
        details: LoginDetails,
    ) -> Result<TokenPair, Error> {
        let login = LoginId::random();
        let subject = Subject::from(user.identity());
        let confirmation = details.confirmation.clone();
        let bind = |new: NewToken| bind_to(new, confirmation.as_ref());
        let refresh =
            self.issue_in_login(user, bind(NewToken::refresh(subject.as_str())), &login)?;
        let expires_at = Timestamp::from_secs(refresh.expires_at);
        let now = self.engine().clock().now();
        let new = NewLogin::new(login, subject, refresh.jti.clone(), expires_at, now);
        let new = new.details(details);
        self.logins().start(&new).await?;
        let access = bind(NewToken::access(new.subject.into_string()));
        let access =
            self.issue_in_login(user, if fresh { access.fresh() } else { access }, &new.id)?;
        Ok(TokenPair { access, refresh })
    }

    /// Spends a verified refresh token and issues the next pair of the same
    /// login (the access token is not fresh). A refresh token presented a
    /// second time revokes every token of its login: `token_revoked`.
    ///
    /// `user` is the token's subject as loaded now, so that its scopes and
    /// claims are current. A refresh token without a family (issued before
    /// tokengate, e.g. by Flask-JWT-Extended) starts one and is revoked.
    ///
    /// ```
    /// # use tokengate::axum::TokenGate;
    /// # use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// # use tokengate::token::TokenEngine;
    /// # let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let presented = gate.engine().verify(&login.refresh.token).unwrap();
    /// let next = gate.refresh("alice", &presented).await.unwrap();
    /// assert_eq!(next.access.family, login.access.family); // the same login
    /// assert!(!gate.engine().verify(&next.access.token).unwrap().claims.fresh.is_fresh_at(0));
    /// // The spent refresh token again: reuse, the login is revoked.
    /// assert_eq!(gate.refresh("alice", &presented).await.unwrap_err().code(), "token_revoked");
    /// # });
    /// ```
    pub async fn refresh(
        &self,
        user: &(impl Identity + ?Sized),
        presented: &VerifiedToken,
    ) -> Result<TokenPair, Error> {
        let claims = &presented.claims;
        let presented_jti = claims.jti.clone().unwrap_or_else(|| "".into());
        let Some(login) = claims.family.clone() else {
            self.revoke(Revocation::Token {
                jti: presented_jti,
                expires_at: Timestamp::from_secs(claims.exp),
            })
            .await?;
            // Only a password login makes a fresh token.
            let details = LoginDetails {
                confirmation: claims.confirmation.clone(),
                ..LoginDetails::default()
            };
            return self.start_login(user, false, details).await;
        };
        // A bound login stays bound to its key (the presented token's proof
        // was checked with it by the extractor).
        let bind = |new: NewToken| bind_to(new, claims.confirmation.as_ref());
        let refresh =
            self.issue_in_login(user, bind(NewToken::refresh(user.identity())), &login)?;
        let expires_at = Timestamp::from_secs(refresh.expires_at);
        let now = self.engine().clock().now();
        let spend = RefreshUse::new(login, presented_jti, refresh.jti.clone(), expires_at, now)
            .reuse_interval(self.inner.refresh_reuse_interval);
        let refresh = match self.logins().rotate(&spend).await? {
            Rotation::Rotated => refresh,
            // A second tab with the same token: it gets the login's current
            // refresh token (the same id), so both tabs stay in the login.
            Rotation::Repeated { current } => {
                tracing::debug!(login = %spend.login, "refresh token reused within the reuse interval");
                let again = NewToken {
                    id: Some(current),
                    ..NewToken::refresh(user.identity())
                };
                self.issue_in_login(user, bind(again), &spend.login)?
            }
            Rotation::Reused => {
                // Reuse means the token leaked: worth a line for operators.
                tracing::warn!(login = %spend.login, "refresh token reuse detected; login revoked");
                #[cfg(feature = "metrics")]
                crate::metrics::refresh_reuse_detected();
                self.revoke_ended_login(&spend.login).await?;
                return Err(TokenRejection::Revoked.into());
            }
            Rotation::Ended => return Err(TokenRejection::Revoked.into()),
        };
        let access =
            self.issue_in_login(user, bind(NewToken::access(user.identity())), &spend.login)?;
        Ok(TokenPair { access, refresh })
    }

    /// Sets how long after its first use a spent refresh token is still
    /// accepted (two tabs refreshing at once; Auth0's *reuse interval*):
    /// within it, presenting it again answers a new pair in the same login
    /// whose refresh token is the login's current one; after it, reuse
    /// revokes the login. Zero (the default) tolerates no reuse; at most
    /// [`MAX_REUSE_INTERVAL`](crate::login::MAX_REUSE_INTERVAL) (longer is
    /// cut to it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap()
    ///     .with_refresh_reuse_interval(Duration::from_secs(10));
    /// let login = gate.login("alice").await.unwrap();
    /// let presented = gate.verify(&login.refresh.token).await.unwrap();
    /// let (tab1, tab2) = (gate.refresh("alice", &presented).await.unwrap(), gate.refresh("alice", &presented).await.unwrap());
    /// assert_eq!(tab1.refresh.jti, tab2.refresh.jti); // the login's current refresh token, twice
    /// assert_eq!(gate.refresh_reuse_interval(), Duration::from_secs(10));
    /// # });
    /// ```
    pub fn with_refresh_reuse_interval(mut self, interval: std::time::Duration) -> Self {
        std::sync::Arc::make_mut(&mut self.inner).refresh_reuse_interval =
            interval.min(crate::login::MAX_REUSE_INTERVAL);
        self
    }

    /// The reuse interval: see [`TokenGate::with_refresh_reuse_interval`].
    pub fn refresh_reuse_interval(&self) -> std::time::Duration {
        self.inner.refresh_reuse_interval
    }

    /// The live logins of `subject` (refresh-token families neither ended
    /// nor expired), newest first: "where you're logged in". A token's
    /// login is its `fam` claim ([`Claims::family`](crate::claims::Claims::family)).
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let (phone, laptop) = (gate.login("alice").await.unwrap(), gate.login("alice").await.unwrap());
    /// let sessions = gate.sessions("alice").await.unwrap();
    /// assert_eq!(sessions.len(), 2);
    /// assert!(sessions.iter().any(|s| Some(&s.id) == phone.access.family.as_ref()));
    /// # });
    /// ```
    pub async fn sessions(&self, subject: &str) -> Result<Vec<Session>, Error> {
        let now = self.engine().clock().now();
        Ok(self.logins().sessions(&subject.into(), now).await?)
    }

    /// Ends one login of `subject`: every token of it is refused from then
    /// on (the refresh token too). Another subject's login and an unknown
    /// one are alike: `not_found`, so that ids cannot be probed.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let phone = gate.login("alice").await.unwrap();
    /// let login = phone.access.family.clone().unwrap();
    /// assert_eq!(gate.end_session("mallory", &login).await.unwrap_err().code(), "not_found");
    /// gate.end_session("alice", &login).await.unwrap();
    /// let refresh = gate.verify(&phone.refresh.token).await.unwrap();
    /// assert!(gate.revocation_store().is_revoked(&refresh.claims));
    /// assert!(gate.sessions("alice").await.unwrap().is_empty());
    /// # });
    /// ```
    pub async fn end_session(&self, subject: &str, login: &LoginId) -> Result<(), Error> {
        let now = self.engine().clock().now();
        if !self
            .logins()
            .end_session(&subject.into(), login, now)
            .await?
        {
            return Err(RequestRejection::NotFound.into());
        }
        self.revoke_ended_login(login).await
    }

    /// Ends every login of the token's subject but the token's own ("log
    /// out the other devices"); how many it ended.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// let phone = gate.login("alice").await.unwrap();
    /// let laptop = gate.login("alice").await.unwrap();
    /// let current = gate.verify(&laptop.access.token).await.unwrap();
    /// assert_eq!(gate.end_other_sessions(&current).await.unwrap(), 1);
    /// let revoked = |token: &str| gate.revocation_store().is_revoked(&gate.engine().verify(token).unwrap().claims);
    /// assert!(revoked(&phone.access.token) && revoked(&phone.refresh.token));
    /// assert!(!revoked(&laptop.access.token));
    /// # });
    /// ```
    pub async fn end_other_sessions(&self, current: &VerifiedToken) -> Result<usize, Error> {
        let now = self.engine().clock().now();
        let claims = &current.claims;
        let Some(subject) = &claims.sub else {
            return Ok(0);
        };
        let ended = self
            .logins()
            .end_sessions(subject, claims.family.as_ref(), now)
            .await?;
        for login in &ended {
            self.revoke_ended_login(login).await?;
        }
        Ok(ended.len())
    }

    /// Revokes the presented token and every token of its login.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let access = gate.verify(&login.access.token).await.unwrap();
    /// gate.logout(&access).await.unwrap();
    /// let refresh = gate.verify(&login.refresh.token).await.unwrap();
    /// assert!(gate.revocation_store().is_revoked(&refresh.claims));
    /// # });
    /// ```
    pub async fn logout(&self, token: &VerifiedToken) -> Result<(), Error> {
        let claims = &token.claims;
        let expires_at = Timestamp::from_secs(claims.exp);
        // The login's revocation refuses every token of the login while it
        // lasts: the token's own id is written too only if it would outlive
        // that (one write per logout instead of two).
        let login_ends = claims
            .family
            .as_ref()
            .map(|_| self.login_revocation_expiry());
        if let Some(jti) = &claims.jti
            && login_ends.is_none_or(|ends| ends < expires_at)
        {
            self.revoke(Revocation::Token {
                jti: jti.clone(),
                expires_at,
            })
            .await?;
        }
        if let Some(login) = &claims.family {
            self.end_login(login).await?;
        }
        Ok(())
    }

    /// Until when a login ended now is kept revoked: its last refresh
    /// token's lifetime.
    fn login_revocation_expiry(&self) -> Timestamp {
        let engine = self.engine();
        crate::login::login_revoked_until(engine.settings().refresh_ttl, engine.clock())
    }

    /// Revokes every token of `sub` issued before this call. Tokens issued
    /// after it returns stay valid, even within the same second.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::{Algorithm, KeyRing, SigningKey};
    /// use tokengate::token::TokenEngine;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let phone = gate.login("alice").await.unwrap();
    /// gate.logout_all("alice").await.unwrap();
    /// let laptop = gate.login("alice").await.unwrap();
    /// let revoked = |token: &str| gate.revocation_store().is_revoked(&gate.engine().verify(token).unwrap().claims);
    /// assert!(revoked(&phone.access.token) && revoked(&phone.refresh.token));
    /// assert!(!revoked(&laptop.access.token));
    /// # });
    /// ```
    pub async fn logout_all(&self, sub: &str) -> Result<(), Error> {
        let engine = self.engine();
        crate::login::log_out_everywhere(
            self.logins().as_ref(),
            self.revocation_store().as_ref(),
            &sub.into(),
            engine.clock(),
        )
        .await
        .map_err(Error::from)
    }

    /// Ends a login and revokes its tokens until its last refresh token
    /// would have expired.
    async fn end_login(&self, login: &LoginId) -> Result<(), Error> {
        self.logins().end(login).await?;
        self.revoke_ended_login(login).await
    }

    /// Revokes the tokens of a login its store has ended.
    async fn revoke_ended_login(&self, login: &LoginId) -> Result<(), Error> {
        let engine = self.engine();
        crate::login::revoke_login(
            self.revocation_store().as_ref(),
            login,
            engine.settings().refresh_ttl,
            engine.clock(),
        )
        .await
        .map_err(Error::from)
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), Error> {
        self.revocation_store()
            .revoke(revocation)
            .await
            .map_err(Error::from)
    }
}

fn bind_to(new: NewToken, confirmation: Option<&crate::dpop::Jkt>) -> NewToken {
    match confirmation {
        Some(jkt) => new.bound_to(jkt.clone()),
        None => new,
    }
}
