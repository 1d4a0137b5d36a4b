//! Passkeys (WebAuthn): log in without a password.
//!
//! A thin layer over [webauthn-rs](https://docs.rs/webauthn-rs) 0.6, which
//! does every check of the protocol (challenge, origin, relying party id
//! hash, flags, attestation `none`, the signature with the credential's
//! public key, the signature counter). Nothing here parses a signature or an
//! attestation by hand: this module only gives the ceremonies small types of
//! their own and keeps the policy in one place:
//!
//! - [`RelyingParty`] is the site: its id (a domain, e.g. `example.com`),
//!   the origin browsers call it from (`https://login.example.com`) and a
//!   name they may show.
//! - A ceremony has two halves. `start_*` returns the options for the
//!   browser ([`CreationOptions`], [`RequestOptions`]: WebAuthn Level 3 JSON,
//!   `{"publicKey": {...}}`, binary fields in base64url) and the state the
//!   application keeps *on the server* until the answer comes
//!   ([`RegistrationState`], [`AuthenticationState`]: opaque, stored as
//!   text, spent once). `finish_*` checks the browser's answer
//!   ([`RegistrationResponse`], [`AuthenticationResponse`]: the JSON of
//!   `PublicKeyCredential.toJSON()`) against that state.
//! - A registered passkey is a [`PasskeyCredential`] (opaque, stored as
//!   text) with a [`PasskeyId`] (the credential id in base64url). A user
//!   has a [`UserHandle`] the authenticator keeps with its passkeys, which
//!   names the user in a login without a username (a discoverable
//!   credential).
//! - The policy: user verification is required (a passkey is a whole
//!   login, not a second factor); a signature counter that does not go
//!   forward (a cloned authenticator) refuses the login, logged with
//!   `tracing::warn!`; the counter and backup flags are updated as
//!   webauthn-rs advises (`AuthenticationResult::needs_update`,
//!   `Passkey::update_credential`), and [`Authentication::updated`] tells
//!   the application to store the credential again.
//!
//! Keeping a state anywhere but on the server (a cookie holding the state
//! itself) would let a client replay an old challenge: store it in a
//! database or memory, keyed by something the client sends back (the
//! challenge, see [`AuthenticationResponse::challenge`]), and delete it when
//! it is used. [`CEREMONY_TTL`] is how long one may wait.
//!
//! ```
//! use tokengate::passkeys::{RelyingParty, UserHandle};
//!
//! let rp = RelyingParty::new("example.com", "https://login.example.com")?.name("Example");
//! let alice = UserHandle::random();
//! let (options, state) = rp.start_registration(&alice, "alice", &[])?;
//! // The options go to the browser (navigator.credentials.create)...
//! let json = serde_json::to_value(&options).unwrap();
//! assert_eq!(json["publicKey"]["rp"]["id"], "example.com");
//! assert_eq!(json["publicKey"]["challenge"], options.challenge());
//! // ...the state waits on the server for the browser's answer.
//! let stored = state.to_stored();
//! assert!(tokengate::passkeys::RegistrationState::from_stored(&stored).is_some());
//! # Ok::<_, tokengate::passkeys::PasskeyError>(())
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude as wa;
use zeroize::Zeroizing;

/// How long a ceremony may take, start to finish: five minutes, the
/// timeout the options ask the browser for (WebAuthn's recommended one).
///
/// ```
/// assert_eq!(tokengate::passkeys::CEREMONY_TTL.as_secs(), 300);
/// ```
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// Why a ceremony (or building the relying party) failed.
///
/// The messages name the reason, never a key, a challenge or a signature.
///
/// ```
/// use tokengate::passkeys::{PasskeyError, RelyingParty};
///
/// // The origin's host must be the relying party id or a subdomain of it.
/// let err = RelyingParty::new("example.com", "https://example.org").unwrap_err();
/// assert!(matches!(err, PasskeyError::Configuration(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The relying party id or origin cannot be used together.
    #[error("passkeys: {0}")]
    Configuration(String),
    /// An authentication was started for no credential at all (use
    /// [`RelyingParty::start_decoy_authentication`] for a user without
    /// passkeys).
    #[error("no passkey to authenticate with")]
    NoCredentials,
    /// webauthn-rs refused the answer: another challenge, origin or relying
    /// party, a tampered `clientDataJSON`, a bad signature or attestation,
    /// no user verification, malformed data, ...
    #[error("the passkey was refused: {0}")]
    Refused(String),
    /// The answer is signed by another credential than the one given, or
    /// one the ceremony did not allow.
    #[error("the passkey is not one this login allows")]
    WrongCredential,
    /// The answer names another user than the credential's owner.
    #[error("the passkey belongs to another user")]
    WrongUser,
    /// The signature counter did not go forward: the authenticator may have
    /// been cloned. The login is refused.
    #[error("the passkey's signature counter went backwards (a cloned authenticator?)")]
    CounterRegressed,
}

impl PasskeyError {
    fn refused(e: wa::WebauthnError) -> PasskeyError {
        PasskeyError::Refused(e.to_string())
    }
}

/// A passkey's id: its WebAuthn credential id in base64url without padding
/// (as browsers show it in `PublicKeyCredential.id`).
///
/// ```
/// use tokengate::passkeys::PasskeyId;
///
/// let id = PasskeyId::from_bytes(&[0xfb, 0xff, 0x01]);
/// assert_eq!(id.as_str(), "-_8B");
/// assert_eq!(id.to_bytes().unwrap(), [0xfb, 0xff, 0x01]);
/// assert_eq!(serde_json::to_string(&id).unwrap(), r#""-_8B""#);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasskeyId(String);

impl PasskeyId {
    /// The id of the credential id `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> PasskeyId {
        PasskeyId(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The id as text.
    ///
    /// ```
    /// assert_eq!(tokengate::passkeys::PasskeyId::from("AQID").as_str(), "AQID");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned `String`.
    ///
    /// ```
    /// assert_eq!(tokengate::passkeys::PasskeyId::from("AQID").into_string(), "AQID");
    /// ```
    pub fn into_string(self) -> String {
        self.0
    }

    /// The credential id's bytes; `None` if the text is not base64url.
    ///
    /// ```
    /// use tokengate::passkeys::PasskeyId;
    ///
    /// assert_eq!(PasskeyId::from("AQID").to_bytes(), Some(vec![1, 2, 3]));
    /// assert_eq!(PasskeyId::from("not base64!").to_bytes(), None);
    /// ```
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(&self.0).ok()
    }
}

impl From<String> for PasskeyId {
    fn from(id: String) -> Self {
        PasskeyId(id)
    }
}

impl From<&str> for PasskeyId {
    fn from(id: &str) -> Self {
        PasskeyId(id.to_owned())
    }
}

impl fmt::Display for PasskeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PasskeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The WebAuthn user handle of a user: a random UUID the authenticator
/// keeps with the user's passkeys (never a name or an email: the handle
/// may be read by anyone holding the authenticator). It names the user in
/// a login without a username.
///
/// ```
/// use tokengate::passkeys::UserHandle;
///
/// let handle = UserHandle::random();
/// assert_ne!(handle, UserHandle::random());
/// assert_eq!(UserHandle::parse(&handle.to_string()), Some(handle));
/// assert_eq!(UserHandle::parse("alice"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserHandle(wa::Uuid);

impl UserHandle {
    /// A new random handle (a version 4 UUID), for a user's first passkey.
    pub fn random() -> UserHandle {
        UserHandle(wa::Uuid::new_v4())
    }

    /// The handle [`Display`](fmt::Display) wrote (a UUID in its hyphenated form).
    pub fn parse(text: &str) -> Option<UserHandle> {
        wa::Uuid::parse_str(text).ok().map(UserHandle)
    }

    fn from_bytes(bytes: &[u8]) -> Option<UserHandle> {
        wa::Uuid::from_slice(bytes).ok().map(UserHandle)
    }
}

impl fmt::Display for UserHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for UserHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserHandle({self})")
    }
}

/// The site passkeys are registered with: a relying party id (a domain,
/// which a passkey is bound to for ever), the one origin browsers may call
/// from, and a name they may show. Cheap to clone.
///
/// ```
/// use tokengate::passkeys::RelyingParty;
///
/// // The quick start: a browser on this machine.
/// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
/// assert_eq!(rp.id(), "localhost");
/// // A subdomain's origin is fine, another domain's and an IP address's are not.
/// assert!(RelyingParty::new("example.com", "https://login.example.com").is_ok());
/// assert!(RelyingParty::new("example.com", "https://evilexample.com").is_err());
/// assert!(RelyingParty::new("127.0.0.1", "http://127.0.0.1:5000").is_err());
/// # Ok::<_, tokengate::passkeys::PasskeyError>(())
/// ```
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: wa::Webauthn,
    rp_id: String,
    origin: wa::Url,
    decoys: std::sync::Arc<Decoys>,
}

/// Credential ids that look like a user's, for users that have none.
struct Decoys(
    webauthn_rs::fake::WebauthnFakeCredentialGenerator<webauthn_rs::fake::FakePasskeyDistribution>,
);

impl RelyingParty {
    /// The relying party `rp_id` (its name too, until [`name`](Self::name)),
    /// called from `origin` (`https://login.example.com`: scheme, host and
    /// port if not the default; the host must be `rp_id` or a subdomain of
    /// it).
    pub fn new(rp_id: &str, origin: &str) -> Result<RelyingParty, PasskeyError> {
        let url = wa::Url::parse(origin)
            .map_err(|e| PasskeyError::Configuration(format!("origin {origin:?}: {e}")))?;
        let webauthn = Self::build(rp_id, &url, rp_id)?;
        let key = webauthn_rs::fake::WebauthnFakeCredentialGenerator::<
            webauthn_rs::fake::FakePasskeyDistribution,
        >::new_hmac_key()
        .map_err(|e| PasskeyError::Configuration(e.to_string()))?;
        let decoys = Self::decoy_generator(key.as_ref())?;
        Ok(RelyingParty {
            webauthn,
            rp_id: rp_id.to_owned(),
            origin: url,
            decoys,
        })
    }

    fn build(rp_id: &str, origin: &wa::Url, name: &str) -> Result<wa::Webauthn, PasskeyError> {
        wa::WebauthnBuilder::new(rp_id, origin)
            .and_then(|builder| builder.rp_name(name).timeout(CEREMONY_TTL).build())
            .map_err(|_| {
                PasskeyError::Configuration(format!(
                    "origin {origin} is not on {rp_id:?} or a subdomain of it (an IP address \
                     cannot be a relying party)"
                ))
            })
    }

    fn decoy_generator(key: &[u8]) -> Result<std::sync::Arc<Decoys>, PasskeyError> {
        webauthn_rs::fake::WebauthnFakeCredentialGenerator::new(key)
            .map(|generator| std::sync::Arc::new(Decoys(generator)))
            .map_err(|e| PasskeyError::Configuration(e.to_string()))
    }

    /// The name browsers may show (default: the relying party id).
    ///
    /// ```
    /// use tokengate::passkeys::{RelyingParty, UserHandle};
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?.name("tokengate");
    /// let (options, _) = rp.start_registration(&UserHandle::random(), "ada", &[])?;
    /// assert_eq!(serde_json::to_value(&options).unwrap()["publicKey"]["rp"]["name"], "tokengate");
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn name(mut self, name: &str) -> RelyingParty {
        // The same id and origin were accepted already.
        if let Ok(webauthn) = Self::build(&self.rp_id, &self.origin, name) {
            self.webauthn = webauthn;
        }
        self
    }

    /// The key the decoy credential ids of
    /// [`start_decoy_authentication`](Self::start_decoy_authentication)
    /// derive from (default: random for this value). The same key on every
    /// instance, and across restarts, gives an unknown username the same
    /// decoys each time.
    ///
    /// ```
    /// use tokengate::passkeys::RelyingParty;
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost")?.decoy_key(b"a shared secret of 32 bytes or so")?;
    /// let again = RelyingParty::new("localhost", "http://localhost")?.decoy_key(b"a shared secret of 32 bytes or so")?;
    /// let ids = |rp: &RelyingParty| {
    ///     let (options, _) = rp.start_decoy_authentication("nobody").unwrap();
    ///     serde_json::to_value(&options).unwrap()["publicKey"]["allowCredentials"].clone()
    /// };
    /// assert_eq!(ids(&rp), ids(&again));
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn decoy_key(mut self, key: &[u8]) -> Result<RelyingParty, PasskeyError> {
        self.decoys = Self::decoy_generator(key)?;
        Ok(self)
    }

    /// The relying party id.
    pub fn id(&self) -> &str {
        &self.rp_id
    }

    /// The origin browsers call from.
    ///
    /// ```
    /// let rp = tokengate::passkeys::RelyingParty::new("localhost", "http://localhost:5000")?;
    /// assert_eq!(rp.origin(), "http://localhost:5000");
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn origin(&self) -> String {
        self.origin.origin().ascii_serialization()
    }

    /// Starts registering a passkey for the user `handle`, called `name`
    /// on the authenticator; `exclude`: the user's passkeys already
    /// registered (an authenticator holding one of them declines).
    /// User verification is required, and a discoverable credential
    /// preferred (`residentKey: "preferred"`), so that a login without a
    /// username can find it.
    ///
    /// ```
    /// use tokengate::passkeys::{PasskeyId, RelyingParty, UserHandle};
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
    /// let held = PasskeyId::from_bytes(&[7; 16]);
    /// let (options, _state) = rp.start_registration(&UserHandle::random(), "ada", &[held.clone()])?;
    /// let json = serde_json::to_value(&options).unwrap();
    /// assert_eq!(json["publicKey"]["user"]["name"], "ada");
    /// assert_eq!(json["publicKey"]["excludeCredentials"][0]["id"], held.as_str());
    /// assert_eq!(json["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    /// assert_eq!(json["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn start_registration(
        &self,
        handle: &UserHandle,
        name: &str,
        exclude: &[PasskeyId],
    ) -> Result<(CreationOptions, RegistrationState), PasskeyError> {
        let exclude: Vec<wa::CredentialID> =
            exclude.iter().filter_map(PasskeyId::to_bytes).collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(handle.0, name, name, exclude)
            .map_err(PasskeyError::refused)?;
        // webauthn-rs discourages a discoverable credential; a login
        // without a username needs one. "preferred": an authenticator
        // with room makes one, another still registers (the state does
        // not check, and requires nothing of it).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = serde_json::from_value(serde_json::json!("preferred")).ok();
        }
        Ok((CreationOptions(options), RegistrationState(state)))
    }

    /// Checks the browser's answer to a registration (its `clientDataJSON`,
    /// attestation, flags and algorithm, through webauthn-rs) against the
    /// state of its start: the new passkey.
    ///
    /// ```no_run
    /// # // A browser (an authenticator) must answer between the halves.
    /// use tokengate::passkeys::{RegistrationResponse, RelyingParty, UserHandle};
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
    /// let (options, state) = rp.start_registration(&UserHandle::random(), "ada", &[])?;
    /// # let answer_from_the_browser = String::new();
    /// let response: RegistrationResponse = serde_json::from_str(&answer_from_the_browser).unwrap();
    /// let passkey = rp.finish_registration(&response, &state)?;
    /// println!("registered {}", passkey.id());
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn finish_registration(
        &self,
        response: &RegistrationResponse,
        state: &RegistrationState,
    ) -> Result<PasskeyCredential, PasskeyError> {
        self.webauthn
            .finish_passkey_registration(&response.0, &state.0)
            .map(PasskeyCredential)
            .map_err(PasskeyError::refused)
    }

    /// Starts a login with one of `credentials` (a user's passkeys, known
    /// by the username given).
    ///
    /// ```
    /// use tokengate::passkeys::{PasskeyError, RelyingParty};
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
    /// assert_eq!(rp.start_authentication(&[]).unwrap_err(), PasskeyError::NoCredentials);
    /// # Ok::<_, PasskeyError>(())
    /// ```
    pub fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
    ) -> Result<(RequestOptions, AuthenticationState), PasskeyError> {
        if credentials.is_empty() {
            return Err(PasskeyError::NoCredentials);
        }
        let passkeys: Vec<wa::Passkey> = credentials.iter().map(|c| c.0.clone()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(PasskeyError::refused)?;
        Ok((
            RequestOptions(options),
            AuthenticationState(AuthState::Known(state)),
        ))
    }

    /// Starts a login without a username: the browser offers the passkeys
    /// it holds for this relying party (discoverable credentials), and the
    /// answer's user handle names the user. The options ask for
    /// conditional mediation (`"mediation": "conditional"`), which a page
    /// may drop to show the browser's dialog at once.
    ///
    /// ```
    /// use tokengate::passkeys::RelyingParty;
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
    /// let (options, _state) = rp.start_discoverable_authentication()?;
    /// let json = serde_json::to_value(&options).unwrap();
    /// assert_eq!(json["publicKey"]["allowCredentials"], serde_json::json!([]));
    /// assert_eq!(json["publicKey"]["userVerification"], "required");
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn start_discoverable_authentication(
        &self,
    ) -> Result<(RequestOptions, AuthenticationState), PasskeyError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(PasskeyError::refused)?;
        Ok((
            RequestOptions(options),
            AuthenticationState(AuthState::Discoverable(state)),
        ))
    }

    /// Starts a login that cannot succeed, for a username that does not
    /// exist or has no passkey: its options list credential ids derived
    /// from the username (the same ones every time, see
    /// [`decoy_key`](Self::decoy_key)), so that the answer does not tell
    /// who has an account.
    ///
    /// ```
    /// use tokengate::passkeys::RelyingParty;
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?.decoy_key(&[7; 32])?;
    /// let (first, _) = rp.start_decoy_authentication("nobody")?;
    /// let (again, _) = rp.start_decoy_authentication("nobody")?;
    /// use tokengate::passkeys::RequestOptions;
    /// fn ids(o: &RequestOptions) -> serde_json::Value {
    ///     serde_json::to_value(o).unwrap()["publicKey"]["allowCredentials"].clone()
    /// }
    /// assert_eq!(ids(&first), ids(&again));
    /// // As with real accounts, most names get one or more ids, some none
    /// // (webauthn-rs's distribution of passkeys per account).
    /// let with_ids = (0..20)
    ///     .map(|i| rp.start_decoy_authentication(&format!("user{i}")).unwrap().0)
    ///     .filter(|o| !ids(o).as_array().unwrap().is_empty())
    ///     .count();
    /// assert!(with_ids >= 10, "{with_ids}");
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn start_decoy_authentication(
        &self,
        username: &str,
    ) -> Result<(RequestOptions, AuthenticationState), PasskeyError> {
        let ids = self
            .decoys
            .0
            .generate(username.as_bytes())
            .map_err(PasskeyError::refused)?;
        // The options of a discoverable start, with the decoys allowed: the
        // shape of a known user's.
        let (mut options, _) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(PasskeyError::refused)?;
        // What a start with a user's passkeys asks: no mediation, no
        // extensions, no hints.
        options.mediation = None;
        options.public_key.extensions = None;
        options.public_key.hints = None;
        let allowed: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| serde_json::json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(id)}))
            .collect();
        options.public_key.allow_credentials = serde_json::from_value(allowed.into())
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        Ok((
            RequestOptions(options),
            AuthenticationState(AuthState::Decoy),
        ))
    }

    /// Checks the browser's answer to a login against the state of its
    /// start and the `credential` it is signed with (the application finds
    /// it by [`AuthenticationResponse::passkey_id`]), owned by the user
    /// `owner`. On success the credential's counter and backup flags are
    /// updated in place when they changed ([`Authentication::updated`]:
    /// store it again).
    ///
    /// Refused: another challenge, origin or relying party, a tampered
    /// `clientDataJSON`, a bad signature, no user verification
    /// ([`PasskeyError::Refused`]); a credential the start did not allow or
    /// not `credential` ([`PasskeyError::WrongCredential`]); a user handle
    /// that is not `owner`'s ([`PasskeyError::WrongUser`]); a signature
    /// counter that did not go forward ([`PasskeyError::CounterRegressed`],
    /// logged); a decoy start, always.
    ///
    /// ```no_run
    /// # // A browser (an authenticator) must answer between the halves.
    /// use tokengate::passkeys::{AuthenticationResponse, PasskeyCredential, RelyingParty, UserHandle};
    ///
    /// # fn load(_: &tokengate::passkeys::PasskeyId) -> (PasskeyCredential, UserHandle) { unimplemented!() }
    /// let rp = RelyingParty::new("localhost", "http://localhost:5000")?;
    /// let (options, state) = rp.start_discoverable_authentication()?;
    /// # let answer_from_the_browser = String::new();
    /// let response: AuthenticationResponse = serde_json::from_str(&answer_from_the_browser).unwrap();
    /// let (mut credential, owner) = load(&response.passkey_id());
    /// let done = rp.finish_authentication(&response, &state, &mut credential, &owner)?;
    /// if done.updated {
    ///     // store `credential` again
    /// }
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn finish_authentication(
        &self,
        response: &AuthenticationResponse,
        state: &AuthenticationState,
        credential: &mut PasskeyCredential,
        owner: &UserHandle,
    ) -> Result<Authentication, PasskeyError> {
        let raw_id = response.0.get_credential_id();
        if raw_id != credential.0.cred_id().as_slice() {
            return Err(PasskeyError::WrongCredential);
        }
        // A user handle, when the authenticator gives one, must be the
        // owner's (WebAuthn §7.2 step 6); a discoverable login needs one.
        match response.user_handle() {
            Some(handle) if handle != *owner => return Err(PasskeyError::WrongUser),
            None if matches!(state.0, AuthState::Discoverable(_)) => {
                return Err(PasskeyError::WrongUser);
            }
            _ => {}
        }
        let result = match &state.0 {
            AuthState::Known(state) => self
                .webauthn
                .finish_passkey_authentication(&response.0, state),
            AuthState::Discoverable(state) => self.webauthn.finish_discoverable_authentication_v2(
                &response.0,
                state.clone(),
                &credential.0,
            ),
            AuthState::Decoy => return Err(PasskeyError::WrongCredential),
        };
        let result = match result {
            Ok(result) => result,
            Err(wa::WebauthnError::CredentialPossibleCompromise) => {
                tracing::warn!(
                    passkey = %credential.id(),
                    "passkey refused: its signature counter did not go forward (a cloned \
                     authenticator?)"
                );
                return Err(PasskeyError::CounterRegressed);
            }
            Err(wa::WebauthnError::CredentialNotFound) => {
                return Err(PasskeyError::WrongCredential);
            }
            Err(e) => return Err(PasskeyError::refused(e)),
        };
        let updated =
            result.needs_update() && credential.0.update_credential(&result) == Some(true);
        Ok(Authentication {
            updated,
            counter: result.counter(),
            backed_up: result.backup_state(),
        })
    }
}

impl fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelyingParty")
            .field("id", &self.rp_id)
            .field("origin", &self.origin())
            .finish_non_exhaustive()
    }
}

/// What a successful login did to its credential.
///
/// ```
/// # fn show(done: tokengate::passkeys::Authentication) {
/// if done.updated {
///     println!("counter now {}", done.counter);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authentication {
    /// The credential's counter or backup flags changed: store it again.
    pub updated: bool,
    /// The signature counter the authenticator reported (0: it keeps none,
    /// as synced passkeys do).
    pub counter: u32,
    /// Whether the authenticator says the passkey is backed up (synced).
    pub backed_up: bool,
}

/// base64url of `bytes`, and the challenge in a `clientDataJSON`.
fn challenge_of(client_data_json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let data: ClientData = serde_json::from_slice(client_data_json).ok()?;
    // Normalised: browsers write base64url without padding, as the options do.
    let bytes = URL_SAFE_NO_PAD
        .decode(data.challenge.trim_end_matches('='))
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// The options of `navigator.credentials.create()`: serializes as
/// `{"publicKey": {...}}` (binary fields in base64url, as
/// `PublicKeyCredential.parseCreationOptionsFromJSON` reads them).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct CreationOptions(wa::CreationChallengeResponse);

impl CreationOptions {
    /// The challenge, in base64url: what the browser's answer carries back
    /// in its `clientDataJSON` ([`RegistrationResponse::challenge`]).
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0.public_key.challenge)
    }
}

impl fmt::Debug for CreationOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreationOptions").finish_non_exhaustive()
    }
}

/// The options of `navigator.credentials.get()`: serializes as
/// `{"publicKey": {...}}` (and `"mediation": "conditional"` for a login
/// without a username).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct RequestOptions(wa::RequestChallengeResponse);

impl RequestOptions {
    /// The challenge, in base64url: what the browser's answer carries back
    /// in its `clientDataJSON` ([`AuthenticationResponse::challenge`]).
    ///
    /// ```
    /// let rp = tokengate::passkeys::RelyingParty::new("localhost", "http://localhost")?;
    /// let (options, _) = rp.start_discoverable_authentication()?;
    /// assert_eq!(options.challenge().len(), 43); // 32 random bytes
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0.public_key.challenge)
    }
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions").finish_non_exhaustive()
    }
}

/// A registration waiting for the browser's answer. Keep it on the server
/// (never in a client's cookie), for at most [`CEREMONY_TTL`], and use it
/// once.
#[derive(Clone)]
pub struct RegistrationState(wa::PasskeyRegistration);

impl RegistrationState {
    /// The state as text, to store.
    pub fn to_stored(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string(&self.0).expect("a registration state serializes"))
    }

    /// The state [`to_stored`](Self::to_stored) wrote; `None` for anything else.
    ///
    /// ```
    /// assert!(tokengate::passkeys::RegistrationState::from_stored("{}").is_none());
    /// ```
    pub fn from_stored(stored: &str) -> Option<RegistrationState> {
        serde_json::from_str(stored).ok().map(RegistrationState)
    }
}

impl fmt::Debug for RegistrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationState").finish_non_exhaustive()
    }
}

/// A login waiting for the browser's answer. Keep it on the server, for at
/// most [`CEREMONY_TTL`], and use it once.
#[derive(Clone)]
pub struct AuthenticationState(AuthState);

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AuthState {
    /// A user's passkeys, listed in the options.
    Known(wa::PasskeyAuthentication),
    /// Any passkey of the relying party; the user handle names the user.
    Discoverable(wa::DiscoverableAuthentication),
    /// An unknown user's: never succeeds.
    Decoy,
}

impl AuthenticationState {
    /// The state as text, to store.
    pub fn to_stored(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string(&self.0).expect("an authentication state serializes"))
    }

    /// The state [`to_stored`](Self::to_stored) wrote; `None` for anything else.
    ///
    /// ```
    /// use tokengate::passkeys::{AuthenticationState, RelyingParty};
    ///
    /// let rp = RelyingParty::new("localhost", "http://localhost")?;
    /// let (_, state) = rp.start_discoverable_authentication()?;
    /// assert!(AuthenticationState::from_stored(&state.to_stored()).is_some_and(|s| s.is_discoverable()));
    /// assert!(AuthenticationState::from_stored("[]").is_none());
    /// # Ok::<_, tokengate::passkeys::PasskeyError>(())
    /// ```
    pub fn from_stored(stored: &str) -> Option<AuthenticationState> {
        serde_json::from_str(stored).ok().map(AuthenticationState)
    }

    /// Whether the login was started without a username.
    pub fn is_discoverable(&self) -> bool {
        matches!(self.0, AuthState::Discoverable(_))
    }
}

impl fmt::Debug for AuthenticationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationState")
            .finish_non_exhaustive()
    }
}

/// The browser's answer to a registration: the JSON of
/// `PublicKeyCredential.toJSON()` after `navigator.credentials.create()`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RegistrationResponse(wa::RegisterPublicKeyCredential);

impl RegistrationResponse {
    /// The challenge its `clientDataJSON` answers (base64url), to find the
    /// state of its start; `None` if it names none. Not verified: the
    /// finish checks it against the state.
    ///
    /// ```
    /// use tokengate::passkeys::RegistrationResponse;
    ///
    /// let response: RegistrationResponse = serde_json::from_value(serde_json::json!({
    ///     "id": "AQID", "rawId": "AQID", "type": "public-key",
    ///     "response": {
    ///         // {"type":"webauthn.create","challenge":"Y2hhbGxlbmdl","origin":"http://localhost"}
    ///         "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiWTJoaGJHeGxibWRsIiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdCJ9",
    ///         "attestationObject": "oA"
    ///     }
    /// })).unwrap();
    /// assert_eq!(response.challenge().as_deref(), Some("Y2hhbGxlbmdl"));
    /// ```
    pub fn challenge(&self) -> Option<String> {
        challenge_of(&self.0.response.client_data_json)
    }
}

impl fmt::Debug for RegistrationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationResponse")
            .field("id", &PasskeyId::from_bytes(&self.0.raw_id))
            .finish_non_exhaustive()
    }
}

/// The browser's answer to a login: the JSON of
/// `PublicKeyCredential.toJSON()` after `navigator.credentials.get()`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct AuthenticationResponse(wa::PublicKeyCredential);

impl AuthenticationResponse {
    /// The passkey it is signed with (its `rawId`).
    ///
    /// ```
    /// use tokengate::passkeys::AuthenticationResponse;
    ///
    /// let response: AuthenticationResponse = serde_json::from_value(serde_json::json!({
    ///     "id": "AQID", "rawId": "AQID", "type": "public-key",
    ///     "response": {"clientDataJSON": "e30", "authenticatorData": "", "signature": "", "userHandle": null}
    /// })).unwrap();
    /// assert_eq!(response.passkey_id().as_str(), "AQID");
    /// assert_eq!(response.user_handle(), None);
    /// assert_eq!(response.challenge(), None);
    /// ```
    pub fn passkey_id(&self) -> PasskeyId {
        PasskeyId::from_bytes(self.0.get_credential_id())
    }

    /// The user handle the authenticator gave, if any (and if it is one
    /// this module makes: a UUID).
    pub fn user_handle(&self) -> Option<UserHandle> {
        self.0.get_user_unique_id().and_then(UserHandle::from_bytes)
    }

    /// The challenge its `clientDataJSON` answers (base64url), to find the
    /// state of its start; `None` if it names none. Not verified: the
    /// finish checks it against the state.
    pub fn challenge(&self) -> Option<String> {
        challenge_of(&self.0.response.client_data_json)
    }
}

impl fmt::Debug for AuthenticationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationResponse")
            .field("id", &self.passkey_id())
            .finish_non_exhaustive()
    }
}

/// A registered passkey: its id, public key, signature counter and flags.
/// No secret (the private key never leaves the authenticator), yet stored
/// whole: [`to_stored`](Self::to_stored) and
/// [`from_stored`](Self::from_stored).
#[derive(Clone)]
pub struct PasskeyCredential(wa::Passkey);

impl PasskeyCredential {
    /// Its id.
    pub fn id(&self) -> PasskeyId {
        PasskeyId::from_bytes(self.0.cred_id())
    }

    /// The credential as text, to store.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).expect("a passkey serializes")
    }

    /// The credential [`to_stored`](Self::to_stored) wrote; `None` for anything else.
    ///
    /// ```
    /// assert!(tokengate::passkeys::PasskeyCredential::from_stored("{\"cred\":1}").is_none());
    /// ```
    pub fn from_stored(stored: &str) -> Option<PasskeyCredential> {
        serde_json::from_str(stored).ok().map(PasskeyCredential)
    }
}

impl fmt::Debug for PasskeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyCredential")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}
