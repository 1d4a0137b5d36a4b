//! Revocation propagation delay between two instances of the service that
//! share a database (and maybe Redis): how long after instance A answers a
//! logout does instance B refuse the logged-out access token.
//! `scripts/bench-cluster.sh` runs it.
//!
//! ```text
//! cargo run --release -p tokengate-server --example propagation -- \
//!     http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B [SAMPLES] \
//!     [--pause-ms MS] [--jitter-ms MS] [--warmup K] [--timeout-ms MS] \
//!     [--storm-rate N --key-file PEM [--storm-seconds S] [--database-url URL] \
//!      [--storm-check K] [--storm-settle-ms MS] [--storm-max-inflight N] \
//!      [--cpu-pid PID]... [--clk-tck HZ]]
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
//!
//! # Under a storm of logouts (`--storm-rate N`)
//!
//! The same samples, taken while A serves a background load of N logouts
//! per second for `--storm-seconds` (default 20), each of a distinct login:
//!
//! - **Tokens.** `POST /auth/logout` ends the presented token's login
//!   (`fam`): an `UPDATE refresh_families SET ended = 1` (no error if the
//!   row is missing) and one revocation row for the login (which refuses
//!   its access tokens too), inserted under PostgreSQL's advisory lock
//!   taken in the same statement, then published on Redis. A password login per token would cost
//!   an argon2 hash (~20 ms of CPU), so the tokens are minted here instead,
//!   with the `tokengate` library and the instances' own signing key
//!   (`--key-file`: the PEM file both instances load as `private_key_file`):
//!   one real login on A gives an access and a refresh token as templates
//!   (verified with that key, so a key that is not the instances' stops the
//!   run); each minted pair copies its template's claims (`sub`, `iss`,
//!   `aud`, `scope`, `roles`, `fresh`, lifetimes) with a new login id and
//!   new `jti`s, as `TokenGate::login` issues them. With `--database-url`,
//!   the login rows a real login writes (`refresh_families`: id, sub, the
//!   refresh token's jti, its expiry) are inserted in one statement before
//!   the load, so that each logout ends an existing login, as in use.
//! - **Pacing.** Open loop at a fixed rate: logout i is due at
//!   start + i/N, sent then (or at once if the sender is late) whatever the
//!   answers of the earlier ones, on a pool of keep-alive connections, from
//!   a thread and runtime of its own. Its latency counts from when it was
//!   due. At most `--storm-max-inflight` (default 1000) are in flight; a
//!   logout due while that many wait is not sent and counted as such. The
//!   report gives the rate of those sent over the load's window, of those
//!   answered 200 over the window or until the last answer if later,
//!   the answers that were not 200 by status, the transport errors and the
//!   sender's worst lateness.
//! - **Samples.** Taken as above, back to back, from `--storm-settle-ms`
//!   (default 1000) after the load starts until it ends (SAMPLES, if given,
//!   caps them); the warm-up samples run before the load.
//! - **Nothing lost.** `--storm-check K` (default 500; 0: all) tokens drawn
//!   at random are checked on B before the load (200) and, after it, those
//!   whose logout got a 200 must be refused by B (401 `token_revoked`):
//!   `accepted` counts those B still took; any are checked again 3 s later
//!   (`accepted_after_recheck`: after the database poll, whatever Redis did).
//! - **CPU.** Over the load's window: the machine's busy CPU, each
//!   `--cpu-pid`'s (the script passes A's and B's) and this process's, in
//!   cores (`/proc`, `--clk-tck` ticks per second, default 100).
//!
//! The JSON line gets a `storm` object; the exit status is 1 too if a
//! background logout failed or a logged-out token was accepted.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Client, StatusCode};
use serde_json::{Map, Value, json};
use tokengate::ids::LoginId;
use tokengate::keys::{KeyRing, SigningKey};
use tokengate::token::{IssueSettings, NewToken, TokenEngine, VerifiedToken};

const PASSWORD: &str = "propagation-password-123";

struct Args {
    a: String,
    b: String,
    samples: usize,
    /// Whether SAMPLES was given (under a storm it only caps the samples).
    samples_given: bool,
    warmup: usize,
    pause_ms: u64,
    jitter_ms: u64,
    timeout: Duration,
    storm: Option<Storm>,
}

/// The background load of `--storm-rate`.
struct Storm {
    rate: u64,
    seconds: u64,
    key_file: String,
    database_url: Option<String>,
    check: usize,
    settle: Duration,
    max_inflight: usize,
    cpu_pids: Vec<u32>,
    clk_tck: f64,
}

fn usage() -> ! {
    eprintln!(
        "usage: propagation URL_A URL_B [SAMPLES] [--pause-ms MS] [--jitter-ms MS] [--warmup K] [--timeout-ms MS]\n\
         \x20      [--storm-rate N --key-file PEM [--storm-seconds S] [--database-url URL] [--storm-check K]\n\
         \x20       [--storm-settle-ms MS] [--storm-max-inflight N] [--cpu-pid PID]... [--clk-tck HZ]]"
    );
    std::process::exit(2)
}

fn value(args: &mut impl Iterator<Item = String>, name: &str) -> String {
    args.next().unwrap_or_else(|| {
        eprintln!("{name} needs a value");
        usage()
    })
}

fn number(args: &mut impl Iterator<Item = String>, name: &str) -> u64 {
    value(args, name).parse().unwrap_or_else(|_| {
        eprintln!("{name} needs a number");
        usage()
    })
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let mut warmup = 3;
    let mut pause_ms = 0;
    let mut jitter_ms = 0;
    let mut timeout_ms = 5000;
    let (mut storm_rate, mut storm_seconds, mut key_file, mut database_url) =
        (None, 20, None, None);
    let (mut check, mut settle_ms, mut max_inflight, mut cpu_pids, mut clk_tck) =
        (500, 1000, 1000, Vec::new(), 100);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let args = &mut args;
        match arg.as_str() {
            "--warmup" => warmup = number(args, &arg) as usize,
            "--pause-ms" => pause_ms = number(args, &arg),
            "--jitter-ms" => jitter_ms = number(args, &arg),
            "--timeout-ms" => timeout_ms = number(args, &arg),
            "--storm-rate" => storm_rate = Some(number(args, &arg)),
            "--storm-seconds" => storm_seconds = number(args, &arg),
            "--key-file" => key_file = Some(value(args, &arg)),
            "--database-url" => database_url = Some(value(args, &arg)),
            "--storm-check" => check = number(args, &arg) as usize,
            "--storm-settle-ms" => settle_ms = number(args, &arg),
            "--storm-max-inflight" => max_inflight = number(args, &arg) as usize,
            "--cpu-pid" => cpu_pids.push(number(args, &arg) as u32),
            "--clk-tck" => clk_tck = number(args, &arg),
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
    let storm = match storm_rate {
        None => None,
        Some(rate) => {
            let Some(key_file) = key_file else {
                eprintln!("--storm-rate needs --key-file (the instances' private_key_file)");
                usage()
            };
            if rate == 0 || storm_seconds == 0 || max_inflight == 0 || clk_tck == 0 {
                eprintln!(
                    "--storm-rate, --storm-seconds, --storm-max-inflight and --clk-tck must be positive"
                );
                usage()
            }
            Some(Storm {
                rate,
                seconds: storm_seconds,
                key_file,
                database_url,
                check,
                settle: Duration::from_millis(settle_ms),
                max_inflight,
                cpu_pids,
                clk_tck: clk_tck as f64,
            })
        }
    };
    Args {
        a: positional[0].trim_end_matches('/').to_owned(),
        b: positional[1].trim_end_matches('/').to_owned(),
        samples,
        samples_given: positional.len() == 3,
        warmup,
        pause_ms,
        jitter_ms,
        timeout: Duration::from_millis(timeout_ms),
        storm,
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

/// A password login on A: its access and refresh tokens.
async fn login_pair(a: &Client, base: &str, username: &str) -> Result<(String, String), String> {
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
    match (
        body["access_token"].as_str(),
        body["refresh_token"].as_str(),
    ) {
        (Some(access), Some(refresh)) if status == StatusCode::OK => {
            Ok((access.to_owned(), refresh.to_owned()))
        }
        _ => Err(format!("login on A: HTTP {status} {body}")),
    }
}

async fn login(a: &Client, base: &str, username: &str) -> Result<String, String> {
    login_pair(a, base, username)
        .await
        .map(|(access, _)| access)
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

/// Samples and their failures.
#[derive(Default)]
struct Taken {
    samples: Vec<Sample>,
    timeouts: u64,
    unexpected: u64,
}

impl Taken {
    /// Runs one sample (`warm`: not recorded); `Err` when nothing works.
    async fn take(
        &mut self,
        i: usize,
        warm: bool,
        args: &Args,
        (a, b): (&Client, &Client),
        username: &str,
        jitter: &mut Jitter,
    ) -> Result<(), ()> {
        match sample(args, a, b, username, jitter).await {
            Ok(s) if !warm => self.samples.push(s),
            Ok(_) => {}
            Err(Failure::Timeout) => {
                eprintln!(
                    "sample {i}: B still accepted the token {:?} after the logout",
                    args.timeout
                );
                self.timeouts += u64::from(!warm);
            }
            Err(Failure::Unexpected(e)) => {
                eprintln!("sample {i}: {e}");
                self.unexpected += u64::from(!warm);
                if self.samples.is_empty() && i + 1 >= args.warmup {
                    // Nothing works: no point in going on.
                    eprintln!("giving up");
                    return Err(());
                }
            }
        }
        Ok(())
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    json!({
        "min": round3(values.first().copied().unwrap_or(f64::NAN)),
        "p50": round3(percentile(&values, 50.0)),
        "p90": round3(percentile(&values, 90.0)),
        "p99": round3(percentile(&values, 99.0)),
        "max": round3(values.last().copied().unwrap_or(f64::NAN)),
        "mean": round3(mean),
    })
}

fn line(name: &str, v: &Value) {
    println!(
        "{name:<40} p50 {:>9.3}  p90 {:>9.3}  p99 {:>9.3}  max {:>9.3}  (min {:.3}, mean {:.3})",
        v["p50"].as_f64().unwrap_or(f64::NAN),
        v["p90"].as_f64().unwrap_or(f64::NAN),
        v["p99"].as_f64().unwrap_or(f64::NAN),
        v["max"].as_f64().unwrap_or(f64::NAN),
        v["min"].as_f64().unwrap_or(f64::NAN),
        v["mean"].as_f64().unwrap_or(f64::NAN),
    );
}

// --- the storm -----------------------------------------------------------------

/// Minted logins: per login, its access token and its row in `refresh_families`.
struct Minted {
    sub: String,
    access: Vec<String>,
    logins: Vec<String>,
    refresh_jtis: Vec<String>,
    refresh_exps: Vec<i64>,
}

fn sorted_keys(map: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    keys
}

/// The claims a template's copies keep: all but those the engine sets per
/// token (it overwrites sub, iat, nbf, exp, jti, type, fresh, fam).
fn template(token: &VerifiedToken, new: NewToken) -> NewToken {
    let mut new = new;
    new.claims = token.payload();
    let lifetime = token.claims.exp - token.claims.iat.unwrap_or(token.claims.exp);
    new.ttl = Some(Duration::from_secs(lifetime.max(0) as u64));
    new
}

/// `n` logins made as `TokenGate::login` makes them, copying the claims of
/// a real login's tokens, signed with the instances' key.
fn mint(pem: &str, access: &str, refresh: &str, n: usize) -> Result<Minted, String> {
    let key = SigningKey::from_pem(pem, None).map_err(|e| format!("--key-file: {e}"))?;
    let plain = TokenEngine::new(KeyRing::new(key));
    let verify = |token: &str, what: &str| {
        plain.verify(token).map_err(|e| {
            format!("A's {what} token does not verify with --key-file ({e}): is it the instances' private_key_file?")
        })
    };
    let (access, refresh) = (verify(access, "access")?, verify(refresh, "refresh")?);
    let claims = &access.claims;
    let mut settings = IssueSettings::default().audience(claims.aud.iter().cloned());
    if let Some(iss) = &claims.iss {
        settings = settings.issuer(iss.clone());
    }
    let engine = TokenEngine::new(plain.keys().clone()).with_settings(settings);
    let sub = access.subject().to_owned();
    let access_new = {
        let mut new = template(&access, NewToken::access(sub.clone()));
        new.fresh = access.claims.fresh;
        new
    };
    let refresh_new = template(&refresh, NewToken::refresh(sub.clone()));

    let mut minted = Minted {
        sub: sub.clone(),
        access: Vec::with_capacity(n),
        logins: Vec::with_capacity(n),
        refresh_jtis: Vec::with_capacity(n),
        refresh_exps: Vec::with_capacity(n),
    };
    let sign = |new: &NewToken, login: &LoginId| {
        let mut new = new.clone();
        new.family = Some(login.clone());
        engine.issue(new).map_err(|e| format!("cannot sign: {e}"))
    };
    for _ in 0..n {
        // As TokenGate::login: the refresh token first (its jti goes into
        // the login's row), then the access token, one login id for both.
        let login = LoginId::random();
        let r = sign(&refresh_new, &login)?;
        let a = sign(&access_new, &login)?;
        minted.logins.push(login.to_string());
        minted.refresh_jtis.push(r.jti.as_str().to_owned());
        minted.refresh_exps.push(r.expires_at);
        minted.access.push(a.token);
    }
    // The copies carry exactly the template's claims.
    let copy = engine
        .verify(&minted.access[0])
        .map_err(|e| format!("a minted token: {e}"))?;
    if sorted_keys(&copy.payload()) != sorted_keys(&access.payload())
        || copy.claims.scopes != access.claims.scopes
        || copy.claims.roles != access.claims.roles
        || copy.claims.fresh != access.claims.fresh
        || copy.claims.exp - copy.claims.iat.unwrap_or(0)
            != access.claims.exp - access.claims.iat.unwrap_or(0)
    {
        return Err(format!(
            "a minted token differs from A's: {:?} vs {:?}",
            copy.payload(),
            access.payload()
        ));
    }
    Ok(minted)
}

/// The rows `SqlLogins::start` writes for each login, in one statement.
async fn insert_logins(url: &str, minted: &Minted) -> Result<u64, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("--database-url: {e}"))?;
    let subs = vec![minted.sub.clone(); minted.logins.len()];
    let done = sqlx::query(
        "INSERT INTO refresh_families (id, sub, current_jti, expires_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])",
    )
    .bind(minted.logins.clone())
    .bind(subs)
    .bind(minted.refresh_jtis.clone())
    .bind(minted.refresh_exps.clone())
    .execute(&mut conn)
    .await
    .map_err(|e| format!("inserting the logins: {e}"))?;
    let _ = conn.close().await;
    Ok(done.rows_affected())
}

/// What the background load did.
struct Load {
    due: u64,
    sent: u64,
    ok: u64,
    /// Answers other than 200, by status.
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_errors: Vec<String>,
    /// Due while `max_inflight` logouts were waiting.
    not_sent: u64,
    /// Of each logout (by index): whether it got a 200.
    ok_index: Vec<bool>,
    /// From when each was due to its answer, ms.
    latency: Vec<f64>,
    max_lag_ms: f64,
    /// Sent per whole second of the window.
    sent_per_second: Vec<u64>,
    /// Answers (200) per whole second of the window, by arrival.
    ok_per_second: Vec<u64>,
    /// The last answer after the start, s.
    drained_s: f64,
    max_inflight_seen: usize,
}

type Outcome = (usize, Result<u16, String>, f64, Instant);

/// Sends `POST /auth/logout` with `tokens[i]` at `start + i / rate`, on a
/// runtime of its own (this thread's), and waits for every answer.
fn run_load(
    url: String,
    tokens: Arc<Vec<String>>,
    rate: u64,
    start: Instant,
    max_inflight: usize,
) -> Load {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let client = Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("HTTP client");
        let url = format!("{url}/auth/logout");
        let n = tokens.len();
        let seconds = (n as u64).div_ceil(rate) as usize;
        let mut load = Load {
            due: n as u64,
            sent: 0,
            ok: 0,
            statuses: BTreeMap::new(),
            errors: 0,
            first_errors: Vec::new(),
            not_sent: 0,
            ok_index: vec![false; n],
            latency: Vec::with_capacity(n),
            max_lag_ms: 0.0,
            sent_per_second: vec![0; seconds + 1],
            ok_per_second: vec![0; seconds + 1],
            drained_s: 0.0,
            max_inflight_seen: 0,
        };
        let record = |load: &mut Load, (i, outcome, latency, at): Outcome| {
            load.latency.push(latency);
            let since = at.saturating_duration_since(start);
            load.drained_s = load.drained_s.max(since.as_secs_f64());
            match outcome {
                Ok(200) => {
                    load.ok += 1;
                    load.ok_index[i] = true;
                    if let Some(c) = load.ok_per_second.get_mut(since.as_secs() as usize) {
                        *c += 1;
                    }
                }
                Ok(status) => *load.statuses.entry(status).or_default() += 1,
                Err(e) => {
                    load.errors += 1;
                    if load.first_errors.len() < 5 {
                        load.first_errors.push(e);
                    }
                }
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        let start_tokio = tokio::time::Instant::from_std(start);
        for i in 0..n {
            while let Some(done) = tasks.try_join_next() {
                record(&mut load, done.expect("a logout task"));
            }
            let offset = Duration::from_nanos((i as u128 * 1_000_000_000 / rate as u128) as u64);
            let due = start + offset;
            tokio::time::sleep_until(start_tokio + offset).await;
            let now = Instant::now();
            load.max_lag_ms = load.max_lag_ms.max(ms(now.saturating_duration_since(due)));
            if tasks.len() >= max_inflight {
                load.not_sent += 1;
                continue;
            }
            load.sent += 1;
            if let Some(c) = load.sent_per_second.get_mut(offset.as_secs() as usize) {
                *c += 1;
            }
            let request = client.post(&url).bearer_auth(&tokens[i]);
            tasks.spawn(async move {
                let outcome = match request.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        Ok(status)
                    }
                    Err(e) => Err(e.to_string()),
                };
                let at = Instant::now();
                (i, outcome, ms(at.saturating_duration_since(due)), at)
            });
            load.max_inflight_seen = load.max_inflight_seen.max(tasks.len());
        }
        while let Some(done) = tasks.join_next().await {
            record(&mut load, done.expect("a logout task"));
        }
        load
    })
}

/// CPU ticks so far: the machine's busy ones, each pid's and this process's.
struct Cpu {
    at: Instant,
    machine: u64,
    pids: Vec<Option<u64>>,
    own: Option<u64>,
}

fn proc_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces), from the 3rd.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system irq softirq steal (as scripts/bench-common.sh).
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| cpu.get(i)).sum()
}

impl Cpu {
    fn now(pids: &[u32]) -> Cpu {
        Cpu {
            at: Instant::now(),
            machine: machine_ticks(),
            pids: pids.iter().map(|p| proc_ticks(&p.to_string())).collect(),
            own: proc_ticks("self"),
        }
    }

    /// Cores used between `self` and `later`.
    fn cores(&self, later: &Cpu, pids: &[u32], hz: f64) -> Value {
        let secs = (later.at - self.at).as_secs_f64().max(1e-9);
        let cores = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => json!(round3(b.saturating_sub(a) as f64 / hz / secs)),
            _ => Value::Null,
        };
        let per_pid: Vec<Value> = pids
            .iter()
            .zip(self.pids.iter().zip(&later.pids))
            .map(|(pid, (a, b))| json!({"pid": pid, "cores": cores(*a, *b)}))
            .collect();
        json!({
            "window_s": round3(secs),
            "machine_busy_cores": cores(Some(self.machine), Some(later.machine)),
            "pids": per_pid,
            "self_cores": cores(self.own, later.own),
        })
    }
}

/// Draws `k` distinct indices below `n` (all of them if `k` is 0 or ≥ `n`).
fn subset(n: usize, k: usize, rng: &mut Jitter) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if k == 0 || k >= n {
        return all;
    }
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

/// Of `indices`, those whose token B does not answer `want` (and the
/// first few answers that were not), with one keep-alive connection.
async fn check_on_b(
    b: &Client,
    base: &str,
    tokens: &[String],
    indices: &[usize],
    want: (StatusCode, &str),
) -> Result<(Vec<usize>, Vec<String>), String> {
    let (mut wrong, mut notes) = (Vec::new(), Vec::new());
    for &i in indices {
        let (status, _, code) = private(b, base, &tokens[i]).await?;
        let ok = status == want.0 && (want.1.is_empty() || code == want.1);
        if !ok {
            if notes.len() < 5 {
                notes.push(format!("token {i}: HTTP {status} {code:?}"));
            }
            wrong.push(i);
        }
    }
    Ok((wrong, notes))
}

/// The samples under a storm, its report, and whether every background
/// logout got a 200 and every checked one was refused by B.
async fn storm(
    args: &Args,
    storm: &Storm,
    (a, b): (&Client, &Client),
    username: &str,
    jitter: &mut Jitter,
) -> Result<(Taken, Value, bool), String> {
    let n = usize::try_from(storm.rate * storm.seconds).map_err(|_| "too many logouts")?;
    let pem = std::fs::read_to_string(&storm.key_file)
        .map_err(|e| format!("--key-file {}: {e}", storm.key_file))?;
    let (access, refresh) = login_pair(a, &args.a, username).await?;
    let t = Instant::now();
    let minted = mint(&pem, &access, &refresh, n)?;
    let mint_s = t.elapsed().as_secs_f64();
    eprintln!(
        "storm: {n} logins minted in {mint_s:.1} s (sub {})",
        minted.sub
    );
    let rows = match &storm.database_url {
        Some(url) => {
            let rows = insert_logins(url, &minted).await?;
            eprintln!("storm: {rows} login rows inserted into refresh_families");
            Some(rows)
        }
        None => None,
    };
    let tokens = Arc::new(minted.access);

    // B must accept the tokens to be checked before the load.
    let checked = subset(n, storm.check, jitter);
    let (refused, notes) = check_on_b(b, &args.b, &tokens, &checked, (StatusCode::OK, "")).await?;
    if !refused.is_empty() {
        return Err(format!(
            "B refused {} of {} minted tokens before the load: {notes:?}",
            refused.len(),
            checked.len()
        ));
    }
    eprintln!(
        "storm: B accepts the {} tokens to be checked",
        checked.len()
    );

    let mut taken = Taken::default();
    for i in 0..args.warmup {
        taken
            .take(i, true, args, (a, b), username, jitter)
            .await
            .map_err(|()| "warm-up samples failed")?;
    }

    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(storm.seconds);
    let load = {
        let (url, tokens, rate, max) = (
            args.a.clone(),
            tokens.clone(),
            storm.rate,
            storm.max_inflight,
        );
        std::thread::spawn(move || run_load(url, tokens, rate, start, max))
    };
    eprintln!(
        "storm: {} logouts/s on A for {} s; samples from {} ms after the start",
        storm.rate,
        storm.seconds,
        storm.settle.as_millis()
    );
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let cpu_start = Cpu::now(&storm.cpu_pids);
    // The CPU at the end of the window, whatever sample runs then.
    let cpu_end = {
        let pids = storm.cpu_pids.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
            Cpu::now(&pids)
        })
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(start + storm.settle)).await;
    let sampling = Instant::now();
    let cap = if args.samples_given {
        args.samples
    } else {
        usize::MAX
    };
    let mut i = args.warmup;
    while Instant::now() < end && taken.samples.len() < cap {
        if taken
            .take(i, false, args, (a, b), username, jitter)
            .await
            .is_err()
        {
            break;
        }
        i += 1;
    }
    let sampling_s = sampling.elapsed().as_secs_f64();
    let cpu_end = cpu_end.await.map_err(|e| e.to_string())?;
    let load = tokio::task::spawn_blocking(move || load.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the load's thread panicked")?;
    let after_load = Instant::now();

    // Nothing lost: B must refuse every checked token logged out with a 200.
    let logged_out: Vec<usize> = checked
        .iter()
        .copied()
        .filter(|&i| load.ok_index[i])
        .collect();
    let (accepted, notes) = check_on_b(
        b,
        &args.b,
        &tokens,
        &logged_out,
        (StatusCode::UNAUTHORIZED, "token_revoked"),
    )
    .await?;
    let check_s = after_load.elapsed().as_secs_f64();
    let accepted_200 = accepted.len();
    let mut recheck = Value::Null;
    if !accepted.is_empty() {
        eprintln!(
            "storm: B did not refuse {} logged-out tokens: {notes:?}; again in 3 s",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (still, notes) = check_on_b(
            b,
            &args.b,
            &tokens,
            &accepted,
            (StatusCode::UNAUTHORIZED, "token_revoked"),
        )
        .await?;
        if !still.is_empty() {
            eprintln!("storm: still not refused: {notes:?}");
        }
        recheck = json!(still.len());
    }

    let window = storm.seconds as f64;
    let failed = load.statuses.values().sum::<u64>() + load.errors + load.not_sent;
    let (min_sent, max_sent) = full_seconds(&load.sent_per_second, storm.seconds);
    let (min_ok, max_ok) = full_seconds(&load.ok_per_second, storm.seconds);
    let report = json!({
        "target_rate": storm.rate,
        "seconds": storm.seconds,
        "logins_minted": n,
        "mint_s": round3(mint_s),
        "login_rows_inserted": rows,
        "due": load.due,
        "sent": load.sent,
        "ok": load.ok,
        "not_200": load.statuses.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<Map<_, _>>(),
        "errors": load.errors,
        "first_errors": load.first_errors,
        "not_sent": load.not_sent,
        "failed": failed,
        "sent_rate": round3(load.sent as f64 / window),
        // Over the window, or until the last answer if that came later.
        "ok_rate": round3(load.ok as f64 / window.max(load.drained_s)),
        "sent_per_second_min_max": [min_sent, max_sent],
        "ok_per_second_min_max": [min_ok, max_ok],
        "max_lag_ms": round3(load.max_lag_ms),
        "max_inflight": load.max_inflight_seen,
        "drained_s": round3(load.drained_s),
        "latency_ms": summary(load.latency),
        "sampling_s": round3(sampling_s),
        "checked": logged_out.len(),
        "check_drawn": checked.len(),
        "check_s": round3(check_s),
        "accepted": accepted_200,
        "accepted_after_recheck": recheck,
        "cpu": cpu_start.cores(&cpu_end, &storm.cpu_pids, storm.clk_tck),
    });
    let ok = failed == 0 && accepted_200 == 0;
    Ok((taken, report, ok))
}

/// The least and most of the whole seconds of the window.
fn full_seconds(per_second: &[u64], seconds: u64) -> (u64, u64) {
    let full = &per_second[..(seconds as usize).min(per_second.len())];
    (
        full.iter().copied().min().unwrap_or(0),
        full.iter().copied().max().unwrap_or(0),
    )
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
    let started = Instant::now();
    let (taken, storm_report, storm_ok) = match &args.storm {
        Some(s) => match storm(&args, s, (&a, &b), &username, &mut jitter).await {
            Ok((taken, report, ok)) => (taken, Some(report), ok),
            Err(e) => {
                eprintln!("storm: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => {
            let mut taken = Taken::default();
            for i in 0..args.warmup + args.samples {
                let warm = i < args.warmup;
                if taken
                    .take(i, warm, &args, (&a, &b), &username, &mut jitter)
                    .await
                    .is_err()
                {
                    return ExitCode::FAILURE;
                }
            }
            (taken, None, true)
        }
    };
    let elapsed = started.elapsed();
    let Taken {
        samples,
        timeouts,
        unexpected,
    } = taken;

    let after_logout = summary(samples.iter().map(|s| s.after_logout).collect());
    let from_t0 = summary(samples.iter().map(|s| s.from_t0).collect());
    let logout = summary(samples.iter().map(|s| s.logout).collect());
    let polls = summary(samples.iter().map(|s| s.polls as f64).collect());
    let poll_rtt = summary(samples.iter().map(|s| s.poll_rtt).collect());
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
    if let Some(s) = &storm_report {
        println!(
            "storm: {} logouts due at {}/s for {} s: {} sent ({:.1}/s), {} answered 200 ({:.1}/s), not 200 {}, errors {}, not sent {}; sender late by {:.1} ms at most",
            s["due"],
            s["target_rate"],
            s["seconds"],
            s["sent"],
            s["sent_rate"].as_f64().unwrap_or(f64::NAN),
            s["ok"],
            s["ok_rate"].as_f64().unwrap_or(f64::NAN),
            s["not_200"],
            s["errors"],
            s["not_sent"],
            s["max_lag_ms"].as_f64().unwrap_or(f64::NAN)
        );
        line("storm: logout latency from due, ms", &s["latency_ms"]);
        println!(
            "storm: logged-out tokens checked on B: {}, accepted {} (after a recheck 3 s later: {}); CPU {}",
            s["checked"], s["accepted"], s["accepted_after_recheck"], s["cpu"]
        );
    }
    let mut out = json!({
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
    });
    if let Some(s) = storm_report {
        out["storm"] = s;
    }
    println!("{out}");
    if timeouts + unexpected > 0 || !storm_ok {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
