//! One provider: its discovered metadata, the authorization request, the
//! code exchange, and the checks of the ID token.

use crate::{RequestRejection, TokenRejection};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl,
    LogoutProviderMetadata, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, RequestTokenError,
    Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::OidcProvider;
use crate::issuers::{IssuerError, TrustedIssuer, TrustedIssuers};
use crate::keys::Algorithm;
use crate::{Backend, Error, Unavailable};

/// Discovery, token and key requests must finish within this.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A token response is a few KiB.
const MAX_RESPONSE: usize = 256 * 1024;

/// RFC 9207: whether the provider sends `iss` with every authorization response.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct Rfc9207 {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for Rfc9207 {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<Rfc9207>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A failed HTTP exchange with the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct HttpError(String);

/// The secrets of one authorization request.
pub(super) struct RequestSecrets {
    pub(super) state: String,
    pub(super) nonce: Zeroizing<String>,
    pub(super) pkce_verifier: Zeroizing<String>,
}

/// What a checked ID token says.
pub(super) struct Checked {
    pub(super) subject: String,
    pub(super) display_name: Option<String>,
    pub(super) email: Option<String>,
    pub(super) id_token: String,
}

pub(super) struct ProviderClient {
    config: super::OidcProvider,
    http: reqwest::Client,
    metadata: tokio::sync::RwLock<Option<Arc<Metadata>>>,
    /// The provider's signing keys, as for a trusted issuer whose audience
    /// is this client.
    id_tokens: TrustedIssuers,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ProviderClient {
    pub(super) fn new(config: OidcProvider) -> Result<Self, IssuerError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // The token endpoint answers directly; a redirect is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokengate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IssuerError::Config(format!("HTTP client: {e}")))?;
        let id_tokens = TrustedIssuers::new(vec![TrustedIssuer::new(
            config.issuer.clone(),
            [config.client_id.clone()],
        )])?;
        Ok(ProviderClient {
            config,
            http,
            metadata: tokio::sync::RwLock::new(None),
            id_tokens,
        })
    }

    pub(super) fn config(&self) -> &OidcProvider {
        &self.config
    }

    /// Fetches the keys in the background (discovery happens at the first login).
    pub(super) fn start(&self) {
        self.id_tokens.start();
    }

    /// The provider's metadata, discovered at first need (and again after a failure).
    async fn metadata(&self) -> Result<Arc<Metadata>, Error> {
        if let Some(md) = self.metadata.read().await.as_ref() {
            return Ok(md.clone());
        }
        let mut slot = self.metadata.write().await;
        if let Some(md) = slot.as_ref() {
            return Ok(md.clone());
        }
        let issuer =
            IssuerUrl::new(self.config.issuer.clone()).map_err(|e| unavailable("issuer URL", e))?;
        let http = Http(self.http.clone());
        // openidconnect checks that the document's issuer is this one exactly.
        let md = Metadata::discover_async(issuer, &http).await.map_err(|e| {
            tracing::warn!(provider = %self.config.name, error = %e, "OIDC discovery failed");
            unavailable(format!("discovery of {}", self.config.name), e)
        })?;
        let md = Arc::new(md);
        *slot = Some(md.clone());
        Ok(md)
    }

    fn client(&self, md: &Metadata) -> Result<Client, Error> {
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| unavailable("redirect_url", e))?;
        Ok(CoreClient::from_provider_metadata(
            md.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.to_string())),
        )
        .set_redirect_uri(redirect))
    }

    /// The authorization URL (code flow, PKCE S256, fresh state and nonce).
    pub(super) async fn authorization_request(&self) -> Result<(String, RequestSecrets), Error> {
        let md = self.metadata().await?;
        let client = self.client(&md)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self
            .config
            .scopes
            .iter()
            .filter(|s| *s != "openid")
            .map(|s| Scope::new(s.clone()));
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            RequestSecrets {
                state: state.secret().clone(),
                nonce: Zeroizing::new(nonce.secret().clone()),
                pkce_verifier: Zeroizing::new(verifier.secret().clone()),
            },
        ))
    }

    /// RFC 9207: a response `iss` must be this provider's; a provider that
    /// promises one must send it (a mix-up attack answers from another).
    pub(super) async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), Error> {
        match iss {
            Some(iss) if iss == self.config.issuer => Ok(()),
            Some(_) => Err(RequestRejection::Invalid(
                "the response comes from another issuer".into(),
            )
            .into()),
            None => {
                let md = self.metadata().await?;
                if md
                    .additional_metadata()
                    .additional_metadata
                    .authorization_response_iss_parameter_supported
                {
                    Err(RequestRejection::Invalid("the response has no iss".into()).into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Exchanges `code` and checks the ID token it brings.
    pub(super) async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Checked, Error> {
        let md = self.metadata().await?;
        let client = self.client(&md)?;
        let http = Http(self.http.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable("no token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => Error::Request(RequestRejection::Invalid(
                    format!("the token endpoint refused the code: {}", r.error()),
                )),
                other => Error::Token(TokenRejection::Invalid(token_endpoint_failure(&other))),
            })?;
        let id_token = response
            .id_token()
            .ok_or(Error::Token(TokenRejection::Invalid(
                "the token response has no id_token",
            )))?
            .to_string();
        self.check_id_token(&id_token, response.access_token().secret(), nonce)
            .await
    }

    async fn check_id_token(
        &self,
        id_token: &str,
        access_token: &str,
        nonce: &str,
    ) -> Result<Checked, Error> {
        // Signature (the provider's keys), iss, aud, exp, nbf, iat.
        let verified = self.id_tokens.verify(id_token).await?;
        let claims = &verified.claims;
        let subject = claims.sub.clone().map(String::from).ok_or_else(|| {
            Error::Token(TokenRejection::InvalidClaims("missing claim: sub".into()))
        })?;
        claims.iat.ok_or_else(|| {
            Error::Token(TokenRejection::InvalidClaims("missing claim: iat".into()))
        })?;
        let payload = verified.payload();
        let text = |name: &str| payload.get(name).and_then(Value::as_str);
        let nonce_ok = text("nonce")
            .is_some_and(|n| subtle::ConstantTimeEq::ct_eq(n.as_bytes(), nonce.as_bytes()).into());
        if !nonce_ok {
            return Err(TokenRejection::InvalidClaims("nonce does not match".into()).into());
        }
        // OIDC Core 3.1.3.7: with several audiences azp must name us; if present it must.
        match text("azp") {
            Some(azp) if azp != self.config.client_id => {
                return Err(TokenRejection::InvalidClaims("azp is another client".into()).into());
            }
            None if claims.aud.len() > 1 => {
                return Err(TokenRejection::InvalidClaims("azp is missing".into()).into());
            }
            _ => {}
        }
        if let Some(at_hash) = text("at_hash")
            && !at_hash_matches(at_hash, access_token, verified.header.alg)
        {
            return Err(TokenRejection::InvalidClaims("at_hash does not match".into()).into());
        }
        let display_name = match &self.config.display_name_claim {
            Some(claim) => text(claim).map(str::to_owned),
            None => ["preferred_username", "name", "email"]
                .iter()
                .find_map(|c| text(c))
                .map(str::to_owned),
        };
        Ok(Checked {
            subject,
            display_name,
            email: text("email").map(str::to_owned),
            id_token: id_token.to_owned(),
        })
    }

    /// The provider's end-session URL for this login, if it has one.
    pub(super) async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let md = self.metadata().await?;
        let Some(endpoint) = md.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.config.client_id.clone()));
        if let Some(url) = &self.config.post_logout_redirect_url {
            let url = PostLogoutRedirectUrl::new(url.clone())
                .map_err(|e| unavailable("post_logout_redirect_url", e))?;
            request = request.set_post_logout_redirect_uri(url);
        }
        let hint = id_token_hint.and_then(|t| CoreIdToken::from_str(t).ok());
        if let Some(hint) = &hint {
            request = request.set_id_token_hint(hint);
        }
        Ok(Some(request.http_get_url().to_string()))
    }
}

/// OIDC Core 3.1.3.6: the left half of the hash of the access token, with
/// the hash of the ID token's algorithm (SHA-512 for Ed25519).
/// What went wrong with a provider, and why: the source of a 503.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct ProviderError {
    context: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// A provider that cannot be used now: 503 `unavailable`, keeping the cause.
fn unavailable(
    context: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    let source = ProviderError {
        context: context.into(),
        source: Box::new(source),
    };
    Unavailable::new(Backend::Service, source).into()
}

fn at_hash_matches(at_hash: &str, access_token: &str, alg: Algorithm) -> bool {
    use aws_lc_rs::digest;
    let hash = match alg.as_str() {
        a if a.ends_with("384") => &digest::SHA384,
        a if a.ends_with("512") || a == "EdDSA" => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let full = digest::digest(hash, access_token.as_bytes());
    let half = &full.as_ref()[..full.as_ref().len() / 2];
    let expected = URL_SAFE_NO_PAD.encode(half);
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), at_hash.as_bytes()).into()
}

fn token_endpoint_failure<E: std::error::Error>(
    e: &RequestTokenError<E, impl openidconnect::ErrorResponse>,
) -> &'static str {
    match e {
        RequestTokenError::Parse(..) => "the token response is malformed",
        RequestTokenError::Request(_) => "the token endpoint cannot be reached",
        _ => "the token endpoint failed",
    }
}

/// openidconnect's HTTP through this crate's reqwest, with a size limit.
/// A type rather than a closure: its futures own what they use, so the
/// handlers that await them stay `Send`.
struct Http(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(self.0.clone(), request))
    }
}

async fn send(client: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    {
        let (parts, body) = request.into_parts();
        let mut response = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpError(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(HttpError(format!(
                    "response larger than {MAX_RESPONSE} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_of_the_oidc_core_example() {
        // OpenID Connect Core, Appendix A.3: access token and at_hash (RS256).
        assert!(at_hash_matches(
            "77QmUPtjPfzWtF2AnpK9RQ",
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
            Algorithm::RS256
        ));
        assert!(!at_hash_matches(
            "77QmUPtjPfzWtF2AnpK9RQ",
            "another token",
            Algorithm::RS256
        ));
    }
}
