//! The token policy of the OAuth endpoints a service may offer its clients:
//! is a presented token active (RFC 7662, token introspection), and revoke
//! a presented token (RFC 7009, token revocation). The HTTP side (client
//! authentication, form bodies, the JSON answers) is the application's;
//! what a token's answer is, is decided here, once.

use std::sync::Arc;

use super::TokenGate;
use crate::Error;
use crate::claims::TokenType;
use crate::revocation::Revocation;
use crate::token::VerifiedToken;

impl TokenGate {
    /// Whether `token` is active, as RFC 7662's introspection endpoint
    /// answers it: `Some` with the verified token when it is one of this
    /// gate's own tokens (its engine's keys signed it, access or refresh),
    /// within its validity (`exp`, `nbf`, the leeway) and not revoked
    /// (itself, its login, or its subject's revoke-all); `None` for
    /// anything else: malformed, over [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN),
    /// a bad signature, expired, revoked, or a token of a trusted external
    /// issuer (that issuer answers for its own tokens: an introspection
    /// endpoint speaks for the authorization server it belongs to). `Err`
    /// only when the revocation store cannot be asked (while it loads, a
    /// token memory does not refuse is looked up in it), so that an outage
    /// is never answered "inactive" nor "active".
    ///
    /// The verification is [`TokenGate::verify`]'s (its cache included),
    /// the revocation check the same as every extractor's. The login store
    /// is not asked: a refresh token spent by a rotation is active until
    /// its login ends or it expires (presenting it again is a reuse, which
    /// ends the login).
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    /// let active = gate.introspect(&login.access.token).await.unwrap().expect("active");
    /// assert_eq!(active.subject(), "alice");
    /// assert!(gate.introspect(&login.refresh.token).await.unwrap().is_some());
    /// assert!(gate.introspect("not.a.token").await.unwrap().is_none());
    ///
    /// gate.logout(&active).await.unwrap();
    /// assert!(gate.introspect(&login.access.token).await.unwrap().is_none());
    /// assert!(gate.introspect(&login.refresh.token).await.unwrap().is_none());
    /// # });
    /// ```
    pub async fn introspect(&self, token: &str) -> Result<Option<Arc<VerifiedToken>>, Error> {
        let Some(verified) = self.own_token(token).await else {
            return Ok(None);
        };
        let revocation = self.revocation_store();
        if revocation.is_revoked(&verified.claims)
            || (!revocation.is_complete() && revocation.lookup(&verified.claims).await?)
        {
            return Ok(None);
        }
        Ok(Some(verified))
    }

    /// Revokes a presented token, as RFC 7009's revocation endpoint does:
    /// a refresh token ends its whole login, exactly as
    /// [`TokenGate::logout`] does (every token of the login is refused from
    /// then on, and the login leaves [`TokenGate::sessions`]); an access
    /// token is revoked by its `jti` alone (its login, and the login's
    /// refresh token, stay valid). The token's own `type` claim decides
    /// which it is: `hint` (the request's `token_type_hint`) is only a hint,
    /// which a self-describing token does not need, and never changes the
    /// outcome.
    ///
    /// Anything that is not a valid token of this gate (malformed, expired,
    /// a bad signature, a trusted external issuer's token) is left alone:
    /// `Ok(None)`, since the endpoint answers 200 whatever the token.
    /// Otherwise what was revoked: `Some(TokenType::Access)` (the token) or
    /// `Some(TokenType::Refresh)` (its login). A token already revoked is
    /// revoked again (no harm). `Err` when the stores cannot be written.
    ///
    /// ```
    /// use tokengate::axum::TokenGate;
    /// use tokengate::claims::TokenType;
    /// use tokengate::keys::Algorithm;
    ///
    /// let gate = TokenGate::with_generated_key(Algorithm::EdDSA).unwrap();
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let login = gate.login("alice").await.unwrap();
    ///
    /// // An access token: that token only.
    /// assert_eq!(gate.revoke_token(&login.access.token, None).await.unwrap(), Some(TokenType::Access));
    /// assert!(gate.introspect(&login.access.token).await.unwrap().is_none());
    /// assert!(gate.introspect(&login.refresh.token).await.unwrap().is_some());
    ///
    /// // A refresh token (whatever the hint says): its whole login.
    /// let revoked = gate.revoke_token(&login.refresh.token, Some(TokenType::Access)).await.unwrap();
    /// assert_eq!(revoked, Some(TokenType::Refresh));
    /// assert!(gate.introspect(&login.refresh.token).await.unwrap().is_none());
    /// assert!(gate.sessions("alice").await.unwrap().is_empty());
    ///
    /// // Garbage: nothing to do, and no error.
    /// assert_eq!(gate.revoke_token("garbage", None).await.unwrap(), None);
    /// # });
    /// ```
    pub async fn revoke_token(
        &self,
        token: &str,
        hint: Option<TokenType>,
    ) -> Result<Option<TokenType>, Error> {
        // RFC 7009 2.1: a hint that does not fit is no reason to stop
        // looking; a tokengate token says what it is.
        let _ = hint;
        let Some(verified) = self.own_token(token).await else {
            return Ok(None);
        };
        let claims = &verified.claims;
        if claims.token_type == Some(TokenType::Refresh) {
            self.logout(&verified).await?;
            return Ok(Some(TokenType::Refresh));
        }
        // An access token without a `jti` (issued elsewhere with this
        // gate's key) cannot be named in a revocation: nothing to do.
        let Some(jti) = &claims.jti else {
            return Ok(None);
        };
        let revocation = Revocation::Token {
            jti: jti.clone(),
            expires_at: crate::clock::Timestamp::from_secs(claims.exp),
        };
        self.revocation_store()
            .revoke(revocation)
            .await
            .map_err(Error::from)?;
        Ok(Some(TokenType::Access))
    }

    /// Whether `token` names a trusted external issuer (not this gate's
    /// own): such a token is never this endpoint's to answer for, and is
    /// not verified (no key fetch for it).
    /// The token verified as one of this gate's own, or `None`: too long,
    /// another issuer's (whose keys are then never fetched), or invalid.
    /// This engine's verification has no backend, so any error is a token
    /// that is not valid.
    async fn own_token(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        if token.len() > crate::MAX_TOKEN_LEN || self.is_trusted_issuers(token) {
            return None;
        }
        let verified = self.verify(token).await.ok()?;
        verified.origin.is_first_party().then_some(verified)
    }

    fn is_trusted_issuers(&self, token: &str) -> bool {
        #[cfg(feature = "issuers")]
        if let Some(issuers) = self.trusted_issuers()
            && let Ok(Some(iss)) = crate::issuers::peek_issuer(token)
        {
            return self.engine().validation().issuer.as_deref() != Some(iss.as_str())
                && issuers.trusts(&iss);
        }
        let _ = token;
        false
    }
}
