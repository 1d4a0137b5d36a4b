//! Revocation propagation delay between two instances of the service that
//! share a database (and maybe Redis): how long after instance A answers a
//! logout does instance B refuse the logged-out access token.
//! `scripts/bench-cluster.sh` runs it.
//!
//! ```text
//! cargo run --release -p tokengate-server --example propagation -- \
//!     http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B [SAMPLES] \
//!     [--pause-ms MS] [--jitter-ms MS] [--warmup K] [--timeout-ms MS]
//! ```
//!
//! Registers one user on A, then per sample (SAMPLES, default 200, after K
//! unrecorded warm-up samples, default 3):
//!
//! 1. logs in on A (an argon2 hash: ~25 ms);
//! 2. checks that B accepts the access token (`GET /api/private`: 200);
//! 3. waits `--pause-ms` plus a random 0..`--jitter-ms` ms (both default
//!    0): with polling, without the jitter every logout would fall at the
//!    same phase of B's poll interval, since each sample ends right after
//!    one of B's polls; a pause leaves the instances quiet between logouts
//!    (nothing published on Redis meanwhile), as most of the time in use;
//! 4. notes t0, `POST /auth/logout` on A, notes when its 200 arrives
//!    (response headers), then sends `GET /api/private` to B in a tight loop
//!    (no sleep, one keep-alive connection) until the first 401, whose body
//!    must say `token_revoked`; gives up on the sample after `--timeout-ms`
//!    (default 5000).
//!
//! The delay is the arrival of B's first 401 minus the arrival of A's
//! logout 200 (`after_logout`); `from_t0` counts from before the logout was
//! sent. Its resolution is one poll round trip (`poll_rtt`, which counts
//! the 401 too): a delay of one round trip means that B knew of the
//! revocation before A answered. Prints a few
//! lines for people, then one line of JSON (the last line):
//! `{"samples":200,"timeouts":0,"unexpected":0,"after_logout_ms":{"p50":..,"p90":..,"p99":..,"max":..},...}`.
//! A sample whose poll got neither 200 nor 401 counts as `unexpected` and
//! is left out; the exit status is 1 if any sample failed.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "propagation-password-123";

struct Args {
    a: String,
    b: String,
    samples: usize,
    warmup: usize,
    pause_ms: u64,
    jitter_ms: u64,
    timeout: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: propagation URL_A URL_B [SAMPLES] [--pause-ms MS] [--jitter-ms MS] [--warmup K] [--timeout-ms MS]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let mut warmup = 3;
    let mut pause_ms = 0;
    let mut jitter_ms = 0;
    let mut timeout_ms = 5000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("{name} needs a number");
                usage()
            })
        };
        match arg.as_str() {
            "--warmup" => warmup = number("--warmup") as usize,
            "--pause-ms" => pause_ms = number("--pause-ms"),
            "--jitter-ms" => jitter_ms = number("--jitter-ms"),
            "--timeout-ms" => timeout_ms = number("--timeout-ms"),
            "-h" | "--help" => usage(),
            _ if arg.starts_with("--") => usage(),
            _ => positional.push(arg),
        }
    }
    if !(2..=3).contains(&positional.len()) {
        usage();
    }
    let samples = match positional.get(2) {
        Some(n) => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
        None => 200,
    };
    Args {
        a: positional[0].trim_end_matches('/').to_owned(),
        b: positional[1].trim_end_matches('/').to_owned(),
        samples,
        warmup,
        pause_ms,
        jitter_ms,
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// One client per instance: requests go one at a time, so each keeps one
/// keep-alive connection.
fn client() -> Client {
    Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// xorshift64*, seeded from the clock: the jitter needs no better.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Jitter(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// What one sample measured.
struct Sample {
    /// B's first 401 after A's logout 200, in ms.
    after_logout: f64,
    /// B's first 401 after the logout was sent, in ms.
    from_t0: f64,
    /// The logout's own round trip, in ms.
    logout: f64,
    /// Requests B answered 200 between the logout's 200 and the first 401.
    polls: u64,
    /// Median round trip of the polls, the 401 included, in ms.
    poll_rtt: f64,
}

enum Failure {
    /// B still accepted the token after the timeout.
    Timeout,
    /// Something answered what it should not have.
    Unexpected(String),
}

async fn register(a: &Client, base: &str, username: &str) -> Result<(), String> {
    let res = a
        .post(format!("{base}/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("register: {e}"))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if status == StatusCode::CREATED {
        Ok(())
    } else {
        Err(format!("register on A: HTTP {status} {body}"))
    }
}

async fn login(a: &Client, base: &str, username: &str) -> Result<String, String> {
    let res = a
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("login: HTTP {status}, body: {e}"))?;
    match body["access_token"].as_str() {
        Some(token) if status == StatusCode::OK => Ok(token.to_owned()),
        _ => Err(format!("login on A: HTTP {status} {body}")),
    }
}

/// `GET /api/private` on B: the status and the body's `code`, if any.
async fn private(
    b: &Client,
    base: &str,
    token: &str,
) -> Result<(StatusCode, Instant, String), String> {
    let res = b
        .get(format!("{base}/api/private"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET /api/private on B: {e}"))?;
    let at = Instant::now();
    let status = res.status();
    // Read to the end, so that the connection is reused.
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("GET /api/private on B: {e}"))?;
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((status, at, code))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn sample(
    args: &Args,
    a: &Client,
    b: &Client,
    username: &str,
    jitter: &mut Jitter,
) -> Result<Sample, Failure> {
    let unexpected = Failure::Unexpected;
    let token = login(a, &args.a, username).await.map_err(unexpected)?;
    let (status, _, code) = private(b, &args.b, &token).await.map_err(unexpected)?;
    if status != StatusCode::OK {
        return Err(Failure::Unexpected(format!(
            "B refused a fresh token from A: HTTP {status} {code} (do A and B share their signing key and issuer?)"
        )));
    }
    let wait = args.pause_ms * 1000 + jitter.below(args.jitter_ms * 1000);
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait)).await;
    }

    let t0 = Instant::now();
    let logout = a
        .post(format!("{}/auth/logout", args.a))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| Failure::Unexpected(format!("logout on A: {e}")))?;
    let logged_out = Instant::now();
    if logout.status() != StatusCode::OK {
        let status = logout.status();
        let body = logout.text().await.unwrap_or_default();
        return Err(Failure::Unexpected(format!(
            "logout on A: HTTP {status} {body}"
        )));
    }

    let mut polls = 0;
    let mut rtts = Vec::new();
    let first_401 = loop {
        let sent = Instant::now();
        let (status, at, code) = private(b, &args.b, &token).await.map_err(unexpected)?;
        rtts.push(ms(at - sent));
        match status {
            StatusCode::UNAUTHORIZED if code == "token_revoked" => break at,
            StatusCode::OK => {
                polls += 1;
                if at - logged_out > args.timeout {
                    return Err(Failure::Timeout);
                }
            }
            _ => {
                return Err(Failure::Unexpected(format!(
                    "B answered HTTP {status} {code:?} while the token was being revoked"
                )));
            }
        }
    };
    // A's answer is read only now, so as not to delay the first poll.
    let _ = logout.bytes().await;

    rtts.sort_by(f64::total_cmp);
    Ok(Sample {
        after_logout: ms(first_401 - logged_out),
        from_t0: ms(first_401 - t0),
        logout: ms(logged_out - t0),
        polls,
        poll_rtt: rtts.get(rtts.len() / 2).copied().unwrap_or(0.0),
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    json!({
        "min": round(values.first().copied().unwrap_or(f64::NAN)),
        "p50": round(percentile(&values, 50.0)),
        "p90": round(percentile(&values, 90.0)),
        "p99": round(percentile(&values, 99.0)),
        "max": round(values.last().copied().unwrap_or(f64::NAN)),
        "mean": round(mean),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = parse_args();
    let (a, b) = (client(), client());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let username = format!(
        "propagation-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000
    );
    if let Err(e) = register(&a, &args.a, &username).await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }

    let mut jitter = Jitter::new();
    let mut samples = Vec::with_capacity(args.samples);
    let (mut timeouts, mut unexpected) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..args.warmup + args.samples {
        let warm = i < args.warmup;
        match sample(&args, &a, &b, &username, &mut jitter).await {
            Ok(s) if !warm => samples.push(s),
            Ok(_) => {}
            Err(Failure::Timeout) => {
                eprintln!(
                    "sample {i}: B still accepted the token {:?} after the logout",
                    args.timeout
                );
                timeouts += u64::from(!warm);
            }
            Err(Failure::Unexpected(e)) => {
                eprintln!("sample {i}: {e}");
                unexpected += u64::from(!warm);
                if samples.is_empty() && i + 1 >= args.warmup {
                    // Nothing works: no point in going on.
                    eprintln!("giving up");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let elapsed = started.elapsed();

    let after_logout = summary(samples.iter().map(|s| s.after_logout).collect());
    let from_t0 = summary(samples.iter().map(|s| s.from_t0).collect());
    let logout = summary(samples.iter().map(|s| s.logout).collect());
    let polls = summary(samples.iter().map(|s| s.polls as f64).collect());
    let poll_rtt = summary(samples.iter().map(|s| s.poll_rtt).collect());
    let line = |name: &str, v: &Value| {
        println!(
            "{name:<40} p50 {:>9.3}  p90 {:>9.3}  p99 {:>9.3}  max {:>9.3}  (min {:.3}, mean {:.3})",
            v["p50"].as_f64().unwrap_or(f64::NAN),
            v["p90"].as_f64().unwrap_or(f64::NAN),
            v["p99"].as_f64().unwrap_or(f64::NAN),
            v["max"].as_f64().unwrap_or(f64::NAN),
            v["min"].as_f64().unwrap_or(f64::NAN),
            v["mean"].as_f64().unwrap_or(f64::NAN),
        );
    };
    println!(
        "{} samples ({} warm-up left out), {timeouts} timeouts, {unexpected} unexpected, {:.1} s; A {} -> B {}",
        samples.len(),
        args.warmup,
        elapsed.as_secs_f64(),
        args.a,
        args.b
    );
    line("delay after A's logout 200, ms", &after_logout);
    line("delay from sending the logout, ms", &from_t0);
    line("logout round trip on A, ms", &logout);
    line("B's 200s before the 401 (polls)", &polls);
    line("poll round trip on B (median/sample), ms", &poll_rtt);
    println!(
        "{}",
        json!({
            "a": args.a,
            "b": args.b,
            "samples": samples.len(),
            "warmup": args.warmup,
            "pause_ms": args.pause_ms,
            "jitter_ms": args.jitter_ms,
            "timeouts": timeouts,
            "unexpected": unexpected,
            "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "after_logout_ms": after_logout,
            "from_t0_ms": from_t0,
            "logout_ms": logout,
            "polls": polls,
            "poll_rtt_ms": poll_rtt,
        })
    );
    if timeouts + unexpected > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
