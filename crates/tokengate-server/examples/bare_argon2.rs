//! The bare argon2id rate at the service's parameters (m = 19456 KiB, t = 2,
//! p = 1, 32-byte output), with the same `argon2` crate, on a fixed number of
//! threads: the ceiling that `scripts/bench-service.sh` compares logins/s with.
//!
//! ```text
//! cargo run --release -p tokengate-server --example bare_argon2 -- [THREADS] [SECONDS] [MODE]
//! ```
//!
//! THREADS (a number, or `auto`: the default) is how many hashes run at
//! once; `auto` is `available_parallelism`, what the service's hasher allows.
//! SECONDS defaults to 10. MODE is `hash` (the default: `hash_password_into`,
//! a fresh salt and a fresh 19 MiB allocation each time, as the service
//! does), `verify` (`verify_password` of a PHC string, what a login runs) or
//! `reuse` (`hash_password_into_with_memory`: each thread allocates its 19 MiB
//! once and hashes into it again and again).
//! Prints one line:
//! `mode=hash threads=2 seconds=10.02 hashes=123 hashes_per_sec=12.27 ms_per_hash=162.9`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Block, Params, Version};

const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;
const PASSWORD: &[u8] = b"bench-password-123";

fn argon2id() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).expect("valid params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = match args.next().as_deref() {
        None | Some("auto") => thread::available_parallelism().map_or(1, |n| n.get()),
        Some(a) => a.parse().expect("THREADS is a number or auto"),
    };
    let seconds: f64 = args
        .next()
        .map(|a| a.parse().expect("SECONDS is a number"))
        .unwrap_or(10.0);
    let mode = args.next().unwrap_or_else(|| "hash".to_owned());
    assert!(
        matches!(mode.as_str(), "hash" | "verify" | "reuse"),
        "MODE is hash, verify or reuse, not {mode}"
    );

    let stored = argon2id()
        .hash_password_with_salt(PASSWORD, b"bench-salt-0123456789")
        .expect("hash");
    let stored = Arc::new(stored);

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let stop = Arc::clone(&stop);
            let stored = Arc::clone(&stored);
            let mode = mode.clone();
            thread::spawn(move || {
                let a2 = argon2id();
                let mut n: u64 = 0;
                let mut out = [0u8; OUTPUT_LEN];
                let mut memory = match mode.as_str() {
                    "reuse" => vec![Block::default(); a2.params().block_count()],
                    _ => Vec::new(),
                };
                while !stop.load(Ordering::Relaxed) {
                    let mut salt = [0u8; 16];
                    salt[..8].copy_from_slice(&(t as u64).to_le_bytes());
                    salt[8..].copy_from_slice(&n.to_le_bytes());
                    match mode.as_str() {
                        "verify" => {
                            let ok = a2.verify_password(PASSWORD, &*stored).is_ok();
                            assert!(std::hint::black_box(ok));
                        }
                        "reuse" => {
                            a2.hash_password_into_with_memory(
                                PASSWORD,
                                &salt,
                                &mut out,
                                &mut memory,
                            )
                            .expect("hash");
                        }
                        _ => {
                            a2.hash_password_into(PASSWORD, &salt, &mut out)
                                .expect("hash");
                        }
                    }
                    std::hint::black_box(&out);
                    n += 1;
                }
                (n, started.elapsed())
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut elapsed = Duration::ZERO;
    for w in workers {
        let (n, e) = w.join().expect("worker");
        total += n;
        elapsed = elapsed.max(e);
    }
    let secs = elapsed.as_secs_f64();
    let rate = total as f64 / secs;
    println!(
        "mode={mode} threads={threads} seconds={secs:.2} hashes={total} hashes_per_sec={rate:.2} ms_per_hash={:.1}",
        1000.0 * secs * threads as f64 / total.max(1) as f64
    );
}
