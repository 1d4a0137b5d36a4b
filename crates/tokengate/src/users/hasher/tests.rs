use std::sync::OnceLock;

use super::*;

/// The real hasher is costly to build (one hash): the tests share one.
fn hasher() -> &'static PasswordHasher {
    static HASHER: OnceLock<PasswordHasher> = OnceLock::new();
    HASHER.get_or_init(|| PasswordHasher::new(2))
}

/// Cheap parameters, for tests about queueing rather than the hash.
fn cheap_params() -> Params {
    Params::new(64, 1, 1, Some(OUTPUT_LEN)).unwrap()
}

fn password(text: &str) -> Password {
    Password::for_login(text.to_owned()).unwrap()
}

#[tokio::test]
async fn hash_then_verify_round_trip() {
    let pw = password("correct horse battery staple");
    let hash = hasher().hash(&pw).await.unwrap();
    assert!(hasher().verify(&pw, Some(&hash)).await);
    assert!(!hasher().needs_rehash(&hash));
}

#[tokio::test]
async fn wrong_password_is_false() {
    let hash = hasher().hash(&password("correct horse")).await.unwrap();
    assert!(
        !hasher()
            .verify(&password("correct horsE"), Some(&hash))
            .await
    );
    assert!(!hasher().verify(&password(""), Some(&hash)).await);
}

#[tokio::test]
async fn unknown_user_is_false() {
    // Even the dummy's own password does not log an unknown user in.
    let dummy = password(std::str::from_utf8(DUMMY_PASSWORD).unwrap());
    assert!(!hasher().verify(&dummy, None).await);
    assert!(!hasher().verify(&password("anything"), None).await);
    assert!(!hasher().verify_blocking(&dummy, None));
}

#[test]
fn dummy_has_the_current_parameters() {
    let dummy = &hasher().inner.dummy;
    assert!(
        dummy
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert!(!hasher().needs_rehash(dummy));
}

#[tokio::test]
async fn phc_string_has_owasp_parameters_and_random_salt() {
    let pw = password("correct horse");
    let first = hasher().hash(&pw).await.unwrap();
    let second = hasher().hash(&pw).await.unwrap();
    for hash in [&first, &second] {
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        let parsed = hash.to_phc().unwrap();
        assert_eq!(parsed.salt.unwrap().len(), 16);
        assert_eq!(parsed.hash.unwrap().len(), 32);
    }
    assert_ne!(first, second);
}

#[test]
fn blocking_variants_agree_with_async_ones() {
    let pw = password("correct horse");
    let hash = hasher().hash_blocking(&pw).unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(hasher().verify_blocking(&pw, Some(&hash)));
    assert!(!hasher().verify_blocking(&password("wrong horse"), Some(&hash)));
}

#[test]
fn weaker_or_other_variant_hashes_still_verify_and_need_rehash() {
    let pw = password("correct horse");
    let secret = pw.to_zeroizing_bytes();
    let weak = Params::new(256, 1, 1, None).unwrap();
    for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
        let old: phc::PasswordHash = Argon2::new(algorithm, Version::V0x13, weak.clone())
            .hash_password(&secret)
            .unwrap();
        let old = PasswordHash::from_phc(&old);
        assert!(hasher().verify_blocking(&pw, Some(&old)), "{old:?}");
        assert!(!hasher().verify_blocking(&password("wrong"), Some(&old)));
        assert!(hasher().needs_rehash(&old), "{old:?}");
    }
}

#[test]
fn needs_rehash_compares_each_setting() {
    // A hasher of cheap settings, and hashes that differ from them in one
    // setting each.
    let cheap = PasswordHasher::with_params(1, cheap_params());
    let pw = password("correct horse").to_zeroizing_bytes();
    let hash_with_settings = |version, m, t, p, len| {
        let params = Params::new(m, t, p, Some(len)).unwrap();
        let hash: phc::PasswordHash = Argon2::new(Algorithm::Argon2id, version, params)
            .hash_password_with_salt(&pw, b"0123456789abcdef")
            .unwrap();
        PasswordHash::from_phc(&hash)
    };
    let v13 = Version::V0x13;
    assert!(!cheap.needs_rehash(&hash_with_settings(v13, 64, 1, 1, 32)));
    assert!(cheap.needs_rehash(&hash_with_settings(Version::V0x10, 64, 1, 1, 32)));
    assert!(cheap.needs_rehash(&hash_with_settings(v13, 72, 1, 1, 32)));
    assert!(cheap.needs_rehash(&hash_with_settings(v13, 64, 2, 1, 32)));
    assert!(cheap.needs_rehash(&hash_with_settings(v13, 64, 1, 2, 32)));
    assert!(cheap.needs_rehash(&hash_with_settings(v13, 64, 1, 1, 16)));
    // The real hasher wants its cheaper cousins rehashed.
    assert!(hasher().needs_rehash(&hash_with_settings(v13, 64, 1, 1, 32)));
}

#[test]
fn other_algorithms_never_verify() {
    let scrypt = PasswordHash::parse(
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    )
    .unwrap();
    assert!(!hasher().verify_blocking(&password("anything"), Some(&scrypt)));
    assert!(hasher().needs_rehash(&scrypt));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_permit_runs_one_hash_at_a_time() {
    // Real parameters: each hash lasts long enough that, unbounded, the four
    // would overlap on the blocking pool.
    let hasher = PasswordHasher::new(1);
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(&password(&format!("password {i}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(hasher.inner.in_flight.max(), 1);
    assert_eq!(hasher.inner.in_flight.now(), 0);
    assert_eq!(hasher.inner.permits.available_permits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifies_share_the_bound_with_hashes() {
    let hasher = PasswordHasher::with_params(2, cheap_params());
    let hash = hasher.hash(&password("correct horse")).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let hasher = hasher.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => hasher.hash(&password("x")).await.is_ok(),
                    1 => hasher.verify(&password("correct horse"), Some(&hash)).await,
                    _ => !hasher.verify(&password("correct horse"), None).await,
                }
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert!(hasher.inner.in_flight.max() <= 2);
    assert_eq!(hasher.inner.permits.available_permits(), 3);
}

/// Waits, without a deadline, until `done` holds (the test runner's
/// timeout catches a hang).
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_sees_work_that_overlaps() {
    // Two pieces of work that can only finish together: with two permits
    // both run at once, and the counter says so.
    let hasher = PasswordHasher::with_params(2, cheap_params());
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (hasher, barrier) = (hasher.clone(), Arc::clone(&barrier));
            tokio::spawn(async move { hasher.run(move |_, _| barrier.wait().is_leader()).await })
        })
        .collect();
    let mut leaders = 0;
    for task in tasks {
        leaders += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(leaders, 1);
    assert_eq!(hasher.inner.in_flight.max(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_keeps_its_permit_until_the_hash_ends() {
    let hasher = PasswordHasher::with_params(1, cheap_params());
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let request = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.run(move |_, _| wait.recv().is_ok()).await }
    });
    until(|| hasher.inner.in_flight.now() == 1).await;

    // The client goes away while its hash runs: the permit stays taken.
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    assert_eq!(hasher.inner.permits.available_permits(), 1);

    // The next request queues until the orphaned work ends.
    let next = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.hash(&password("next")).await }
    });
    release.send(()).unwrap();
    next.await.unwrap().unwrap();
    assert_eq!(hasher.inner.in_flight.max(), 1);
    until(|| hasher.inner.permits.available_permits() == 2).await;
}

#[tokio::test]
async fn zero_concurrency_means_one() {
    let hasher = PasswordHasher::with_params(0, cheap_params());
    assert_eq!(hasher.concurrency(), 1);
    assert!(hasher.hash(&password("x")).await.is_ok());
}

#[test]
fn debug_shows_settings_only() {
    let debug = format!("{:?}", hasher());
    assert!(debug.contains("m_cost_kib: 19456"), "{debug}");
    assert!(!debug.contains("dummy"), "{debug}");
}

#[tokio::test]
async fn one_worker_reusing_its_memory_agrees_with_argon2s_own_functions() {
    use argon2::password_hash::PasswordVerifier as _;

    // One worker: every hash below runs in the same memory, whose size
    // changes with each hash's cost (larger, smaller, larger again).
    let hasher = PasswordHasher::new(1);
    let pw = password("correct horse");
    let secret = pw.to_zeroizing_bytes();
    let theirs = |version, m| {
        let params = Params::new(m, 1, 1, None).unwrap();
        let hash: phc::PasswordHash = Argon2::new(Algorithm::Argon2id, version, params)
            .hash_password(&secret)
            .unwrap();
        PasswordHash::from_phc(&hash)
    };
    for (version, m) in [
        (Version::V0x13, 256),
        (Version::V0x13, 8),
        (Version::V0x10, 512),
        (Version::V0x13, 64),
    ] {
        let stored = theirs(version, m);
        assert!(hasher.verify(&pw, Some(&stored)).await, "{stored:?}");
        assert!(
            !hasher
                .verify(&password("correct horsf"), Some(&stored))
                .await
        );
        // Ours, made in memory the last hash used, verify with argon2's own.
        let ours = hasher.hash(&pw).await.unwrap();
        let parsed = ours.to_phc().unwrap();
        assert!(
            Argon2::default().verify_password(&secret, &parsed).is_ok(),
            "{ours:?}"
        );
        let wrong = password("correct horsf").to_zeroizing_bytes();
        assert!(Argon2::default().verify_password(&wrong, &parsed).is_err());
    }
}
