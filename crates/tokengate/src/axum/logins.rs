//! Login, refresh with rotation and reuse detection, logout and logout-all,
//! as [`TokenGate`] methods: the token lifecycle of Flask-JWT-Extended's
//! examples, with the safe parts built in.

use super::{Identity, TokenGate};
use crate::clock::Timestamp;
use crate::ids::{LoginId, Subject};
use crate::login::Rotation;
use crate::revocation::Revocation;
use crate::token::{IssuedToken, NewToken, VerifiedToken};
use crate::{Error, TokenRejection};

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
        self.start_login(user, true).await
    }

    async fn start_login(
        &self,
        user: &(impl Identity + ?Sized),
        fresh: bool,
    ) -> Result<TokenPair, Error> {
        let login = LoginId::random();
        let subject = Subject::from(user.identity());
        let refresh = self.issue_in_login(user, NewToken::refresh(subject.as_str()), &login)?;
        let expires_at = Timestamp::from_secs(refresh.expires_at);
        self.logins()
            .start(&login, &subject, &refresh.jti, expires_at)
            .await?;
        let access = NewToken::access(subject.into_string());
        let access =
            self.issue_in_login(user, if fresh { access.fresh() } else { access }, &login)?;
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
            return self.start_login(user, false).await;
        };
        let refresh = self.issue_in_login(user, NewToken::refresh(user.identity()), &login)?;
        let expires_at = Timestamp::from_secs(refresh.expires_at);
        match self
            .logins()
            .rotate(&login, &presented_jti, &refresh.jti, expires_at)
            .await?
        {
            Rotation::Rotated => {
                let access =
                    self.issue_in_login(user, NewToken::access(user.identity()), &login)?;
                Ok(TokenPair { access, refresh })
            }
            Rotation::Reused => {
                // Reuse means the token leaked: worth a line for operators.
                tracing::warn!(login = %login, "refresh token reuse detected; login revoked");
                #[cfg(feature = "metrics")]
                crate::metrics::refresh_reuse_detected();
                self.end_login(&login).await?;
                Err(TokenRejection::Revoked.into())
            }
            Rotation::Ended => Err(TokenRejection::Revoked.into()),
        }
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
        let refresh_ttl = self.engine().settings().refresh_ttl;
        self.engine().clock().now().saturating_add(refresh_ttl)
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
        crate::revocation::revoke_all(
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
        self.revoke(Revocation::Login {
            login: login.clone(),
            expires_at: self.login_revocation_expiry(),
        })
        .await
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), Error> {
        self.revocation_store()
            .revoke(revocation)
            .await
            .map_err(Error::from)
    }
}
