//! What a passkey login costs the server next to a password login, in one
//! run on one machine.
//!
//! Group `login`:
//!
//! - `passkey_finish`: `RelyingParty::finish_authentication` on a
//!   software authenticator's ES256 assertion (webauthn-rs: parse and
//!   check `clientDataJSON` and `authenticatorData`, then the signature
//!   through RustCrypto's p256), the state read back from its stored text
//!   first, as the service does. The authenticator keeps no counter (as
//!   synced passkeys), so one answer can be checked again and again.
//! - `passkey_start`: `RelyingParty::start_authentication` for one
//!   passkey and its state written as text: the other half of the server's
//!   work for a login.
//! - `password_verify`: `PasswordHasher::verify_blocking` of a right
//!   password against the service's argon2id hash (m = 19 MiB, t = 2,
//!   p = 1), the work of a password login.
//!
//! Run with `cargo bench -p tokengate --features passkeys --bench passkeys`
//! (about half a minute). Neither side includes the database or HTTP.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "../tests/support/soft_authenticator.rs"]
mod soft_authenticator;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use soft_authenticator::SoftAuthenticator;
use tokengate::passkeys::{
    AuthenticationResponse, AuthenticationState, PasskeyCredential, RelyingParty, UserHandle,
};
use tokengate::users::{Password, PasswordHasher};

const ORIGIN: &str = "https://login.example.com";

fn login(c: &mut Criterion) {
    let rp = RelyingParty::new("example.com", ORIGIN).expect("a relying party");
    let user = UserHandle::random();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counting = false;
    let (options, state) = rp.start_registration(&user, "ada", &[]).unwrap();
    let answer = authenticator.register(&serde_json::to_value(&options).unwrap());
    let credential = rp
        .finish_registration(&serde_json::from_value(answer).unwrap(), &state)
        .expect("registered");
    let (options, state) = rp
        .start_authentication(std::slice::from_ref(&credential))
        .unwrap();
    let stored_state = state.to_stored();
    let response: AuthenticationResponse =
        serde_json::from_value(authenticator.assert(&serde_json::to_value(&options).unwrap()))
            .unwrap();
    let stored_credential = credential.to_stored();

    let hasher = PasswordHasher::new(1);
    let password = Password::for_login("correct horse battery staple".into()).unwrap();
    let hash = hasher.hash_blocking(&password).unwrap();

    let mut group = c.benchmark_group("login");
    group.bench_function("passkey_finish", |b| {
        b.iter(|| {
            let state = AuthenticationState::from_stored(&stored_state).unwrap();
            let mut credential = PasskeyCredential::from_stored(&stored_credential).unwrap();
            let done = rp
                .finish_authentication(black_box(&response), &state, &mut credential, &user)
                .expect("a good assertion");
            black_box(done)
        })
    });
    group.bench_function("passkey_start", |b| {
        b.iter(|| {
            let credential = PasskeyCredential::from_stored(&stored_credential).unwrap();
            let (options, state) = rp.start_authentication(&[credential]).unwrap();
            black_box((options.challenge(), state.to_stored()))
        })
    });
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("password_verify", |b| {
        b.iter(|| assert!(hasher.verify_blocking(black_box(&password), Some(&hash))))
    });
    group.finish();
}

criterion_group!(benches, login);
criterion_main!(benches);
