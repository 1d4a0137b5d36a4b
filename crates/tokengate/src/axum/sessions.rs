//! Login, refresh with rotation and reuse detection, logout and logout-all,
//! as [`TokenGate`] methods: the token lifecycle of Flask-JWT-Extended's
//! examples, with the safe parts built in.

use super::{Identity, TokenGate};
use crate::Error;
use crate::revocation::Revocation;
use crate::session::Rotation;
use crate::token::{IssuedToken, NewToken, VerifiedToken, random_id};

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
        let family = random_id();
        let refresh = self.issue_in_family(user, NewToken::refresh(user.identity()), &family)?;
        self.sessions()
            .start(&family, &user.identity(), &refresh.jti, refresh.expires_at)
            .await?;
        let access = NewToken::access(user.identity());
        let access =
            self.issue_in_family(user, if fresh { access.fresh() } else { access }, &family)?;
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
        let presented_jti = claims.jti.as_deref().unwrap_or_default();
        let Some(family) = claims.family.clone() else {
            self.revoke(Revocation::Token {
                jti: presented_jti.to_owned(),
                expires_at: claims.exp,
            })
            .await?;
            // Only a password login makes a fresh token.
            return self.start_login(user, false).await;
        };
        let refresh = self.issue_in_family(user, NewToken::refresh(user.identity()), &family)?;
        match self
            .sessions()
            .rotate(&family, presented_jti, &refresh.jti, refresh.expires_at)
            .await?
        {
            Rotation::Rotated => {
                let access =
                    self.issue_in_family(user, NewToken::access(user.identity()), &family)?;
                Ok(TokenPair { access, refresh })
            }
            Rotation::Reused => {
                // Reuse means the token leaked: worth a line for operators.
                tracing::warn!(family = %family, "refresh token reuse detected; login revoked");
                #[cfg(feature = "metrics")]
                crate::metrics::refresh_reuse_detected();
                self.revoke_family(&family).await?;
                Err(Error::TokenRevoked)
            }
            Rotation::Ended => Err(Error::TokenRevoked),
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
        if let Some(jti) = &claims.jti {
            self.revoke(Revocation::Token {
                jti: jti.clone(),
                expires_at: claims.exp,
            })
            .await?;
        }
        if let Some(family) = &claims.family {
            self.revoke_family(family).await?;
        }
        Ok(())
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
        crate::revocation::revoke_all(self.revocation_store().as_ref(), sub)
            .await
            .map_err(Error::from)
    }

    async fn revoke_family(&self, family: &str) -> Result<(), Error> {
        self.sessions().end(family).await?;
        let refresh_ttl = self.engine().settings().refresh_ttl.as_secs() as i64;
        self.revoke(Revocation::Family {
            family: family.to_owned(),
            expires_at: crate::token::now().saturating_add(refresh_ttl),
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
