//! `tokengate::passkeys` against a software authenticator: whole
//! ceremonies through webauthn-rs, and the answers it must refuse.

#[path = "support/soft_authenticator.rs"]
mod soft_authenticator;

use serde_json::Value;
use soft_authenticator::{SoftAuthenticator, tamper_client_data};
use tokengate::passkeys::{
    AuthenticationResponse, AuthenticationState, PasskeyCredential, PasskeyError,
    RegistrationResponse, RegistrationState, RelyingParty, UserHandle,
};

const ORIGIN: &str = "https://login.example.com";

fn rp() -> RelyingParty {
    RelyingParty::new("example.com", ORIGIN)
        .expect("a relying party")
        .name("Example")
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("JSON")
}

fn registration(value: Value) -> RegistrationResponse {
    serde_json::from_value(value).expect("a registration response")
}

fn assertion(value: Value) -> AuthenticationResponse {
    serde_json::from_value(value).expect("an authentication response")
}

/// Registers a new passkey of `authenticator` for `user` (through stored
/// state, as an application keeps it).
fn register(
    rp: &RelyingParty,
    authenticator: &mut SoftAuthenticator,
    user: &UserHandle,
) -> PasskeyCredential {
    let (options, state) = rp.start_registration(user, "ada", &[]).unwrap();
    let state = RegistrationState::from_stored(&state.to_stored()).expect("stored state");
    let answer = registration(authenticator.register(&json(&options)));
    assert_eq!(answer.challenge(), Some(options.challenge()));
    let credential = rp.finish_registration(&answer, &state).expect("registered");
    assert_eq!(credential.id().as_str(), authenticator.id());
    PasskeyCredential::from_stored(&credential.to_stored()).expect("stored credential")
}

/// One login with `credential`'s passkeys listed.
fn login(
    rp: &RelyingParty,
    authenticator: &mut SoftAuthenticator,
    credential: &mut PasskeyCredential,
    owner: &UserHandle,
) -> Result<tokengate::passkeys::Authentication, PasskeyError> {
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(credential))
        .unwrap();
    let answer = assertion(authenticator.assert(&json(&options)));
    rp.finish_authentication(&answer, &state, credential, owner)
}

#[test]
fn register_then_log_in_and_the_counter_is_kept() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mut credential = register(&rp, &mut authenticator, &user);
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let options = json(&options);
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        authenticator.id()
    );
    assert_eq!(options["publicKey"]["rpId"], "example.com");
    let state = AuthenticationState::from_stored(&state.to_stored()).unwrap();
    let answer = assertion(authenticator.assert(&options));
    assert_eq!(answer.passkey_id().as_str(), authenticator.id());
    assert_eq!(answer.user_handle(), Some(user));
    let done = rp
        .finish_authentication(&answer, &state, &mut credential, &user)
        .expect("logged in");
    assert!(done.updated, "the counter went from 0 to 1");
    assert_eq!(done.counter, 1);
    let done = login(&rp, &mut authenticator, &mut credential, &user).unwrap();
    assert_eq!((done.updated, done.counter), (true, 2));
}

#[test]
fn a_counter_going_backwards_is_refused() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mut credential = register(&rp, &mut authenticator, &user);
    for _ in 0..3 {
        login(&rp, &mut authenticator, &mut credential, &user).unwrap();
    }
    // A clone of the authenticator, made after its first login.
    authenticator.counter = 1;
    assert_eq!(
        login(&rp, &mut authenticator, &mut credential, &user),
        Err(PasskeyError::CounterRegressed)
    );
    // The same counter twice is no better.
    authenticator.counter = 2;
    assert_eq!(
        login(&rp, &mut authenticator, &mut credential, &user),
        Err(PasskeyError::CounterRegressed)
    );
    // The real one carries on.
    authenticator.counter = 3;
    assert!(login(&rp, &mut authenticator, &mut credential, &user).is_ok());
}

#[test]
fn a_passkey_without_a_counter_logs_in_again_and_again() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counting = false;
    let mut credential = register(&rp, &mut authenticator, &user);
    for _ in 0..3 {
        let done = login(&rp, &mut authenticator, &mut credential, &user).unwrap();
        assert_eq!((done.updated, done.counter), (false, 0));
    }
}

#[test]
fn a_discoverable_login_is_named_by_its_user_handle() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mut credential = register(&rp, &mut authenticator, &user);
    let (options, state) = rp.start_discoverable_authentication().unwrap();
    let state = AuthenticationState::from_stored(&state.to_stored()).unwrap();
    assert!(state.is_discoverable());
    let answer = assertion(authenticator.assert(&json(&options)));
    assert_eq!(answer.challenge(), Some(options.challenge()));
    // Someone else's handle: refused before any signature check.
    assert_eq!(
        rp.finish_authentication(&answer, &state, &mut credential, &UserHandle::random()),
        Err(PasskeyError::WrongUser)
    );
    assert!(
        rp.finish_authentication(&answer, &state, &mut credential, &user)
            .is_ok()
    );
    // An authenticator that gives no handle cannot log in without a username.
    authenticator.user_handle = None;
    let (options, state) = rp.start_discoverable_authentication().unwrap();
    let answer = assertion(authenticator.assert(&json(&options)));
    assert_eq!(
        rp.finish_authentication(&answer, &state, &mut credential, &user),
        Err(PasskeyError::WrongUser)
    );
}

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, PasskeyError>) {
    assert!(
        matches!(result, Err(PasskeyError::Refused(_))),
        "{result:?}"
    );
}

#[test]
fn another_origin_relying_party_or_challenge_is_refused() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mut credential = register(&rp, &mut authenticator, &user);

    // Registration: a phishing origin, another relying party, no user
    // verification, the state of another start.
    for misbehave in [
        |a: &mut SoftAuthenticator| a.origin = "https://login.example.org".into(),
        |a: &mut SoftAuthenticator| a.rp_id_override = Some("example.org".into()),
        |a: &mut SoftAuthenticator| a.verifies_user = false,
    ] {
        let mut other = SoftAuthenticator::new(ORIGIN);
        misbehave(&mut other);
        let (options, state) = rp.start_registration(&user, "ada", &[]).unwrap();
        refused(rp.finish_registration(&registration(other.register(&json(&options))), &state));
    }
    let (options, _) = rp.start_registration(&user, "ada", &[]).unwrap();
    let (_, other_state) = rp.start_registration(&user, "ada", &[]).unwrap();
    let answer = SoftAuthenticator::new(ORIGIN).register(&json(&options));
    refused(rp.finish_registration(&registration(answer), &other_state));

    // Authentication: the same, and a tampered clientDataJSON.
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let options = json(&options);
    authenticator.origin = "https://login.example.org".into();
    refused(rp.finish_authentication(
        &assertion(authenticator.assert(&options)),
        &state,
        &mut credential,
        &user,
    ));
    authenticator.origin = ORIGIN.into();
    authenticator.rp_id_override = Some("example.org".into());
    refused(rp.finish_authentication(
        &assertion(authenticator.assert(&options)),
        &state,
        &mut credential,
        &user,
    ));
    authenticator.rp_id_override = None;
    let good = authenticator.assert(&options);
    // A field no check reads: only the signature over the hash notices.
    let tampered = tamper_client_data(&good, |data| data["tampered"] = Value::Bool(true));
    refused(rp.finish_authentication(&assertion(tampered), &state, &mut credential, &user));
    let (_, other_state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    refused(rp.finish_authentication(
        &assertion(good.clone()),
        &other_state,
        &mut credential,
        &user,
    ));
    // The untouched answer, with its own state, passes.
    assert!(
        rp.finish_authentication(&assertion(good), &state, &mut credential, &user)
            .is_ok()
    );
}

#[test]
fn another_credential_is_refused() {
    let rp = rp();
    let (alice, bob) = (UserHandle::random(), UserHandle::random());
    let mut alices = SoftAuthenticator::new(ORIGIN);
    let mut bobs = SoftAuthenticator::new(ORIGIN);
    let mut alice_key = register(&rp, &mut alices, &alice);
    let mut bob_key = register(&rp, &mut bobs, &bob);
    // Bob answers a login that lists Alice's passkey only.
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&alice_key))
        .unwrap();
    let answer = assertion(bobs.assert(&json(&options)));
    assert_eq!(
        rp.finish_authentication(&answer, &state, &mut bob_key, &bob),
        Err(PasskeyError::WrongCredential)
    );
    // Bob's answer checked against Alice's credential.
    assert_eq!(
        rp.finish_authentication(&answer, &state, &mut alice_key, &alice),
        Err(PasskeyError::WrongCredential)
    );
}

#[test]
fn a_decoy_login_never_succeeds() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mut credential = register(&rp, &mut authenticator, &user);
    let (options, state) = rp.start_decoy_authentication("nobody").unwrap();
    let state = AuthenticationState::from_stored(&state.to_stored()).unwrap();
    let options = json(&options);
    assert!(options.get("mediation").is_none());
    let answer = assertion(authenticator.assert(&options));
    assert_eq!(
        rp.finish_authentication(&answer, &state, &mut credential, &user),
        Err(PasskeyError::WrongCredential)
    );
}

#[test]
fn debug_shows_no_key_material() {
    let rp = rp();
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let credential = register(&rp, &mut authenticator, &user);
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let shown = format!("{credential:?} {options:?} {state:?} {rp:?}");
    assert!(shown.contains(&authenticator.id()), "{shown}");
    assert!(!shown.contains(&options.challenge()), "{shown}");
    assert!(!shown.contains("EC_EC2"), "{shown}");
}
