//! Memory and lookup time of N revoked token ids held in memory, side by
//! side with the bare primitive: each set is built in a process of its own
//! (this example runs itself once per set) and reports the growth of its
//! RSS and the time of N lookups (half present, half absent).
//!
//! ```text
//! cargo run --release -p tokengate --example revocation_memory -- [N]
//! ```
//!
//! The sets, each of N random UUIDv4 `jti`s (what tokengate issues):
//! - `bare`: `HashMap<[u8; 16], i64>`, the smallest exact set (the anchor);
//! - `strings`: `HashMap<String, i64>`, ids kept as text (what
//!   `InMemoryRevocations` held before it packed UUIDs);
//! - `store`: `InMemoryRevocations` with N `Revocation::Token`s.
//!
//! Prints a markdown table: set, entries, RSS growth (MB), bytes per
//! entry, ns per lookup.

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use tokengate::clock::Timestamp;
use tokengate::revocation::{InMemoryRevocations, Revocation};
use tokengate::token::random_id;

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Builds the set `mode` of `n` ids and prints `rss_kb ns_per_lookup`.
fn measure(mode: &str, n: usize) {
    // The ids exist before the baseline: only the set's own memory counts.
    let ids: Vec<String> = (0..n).map(|_| random_id()).collect();
    let absent: Vec<String> = (0..n / 2).map(|_| random_id()).collect();
    let probes: Vec<&str> = ids
        .iter()
        .take(n / 2)
        .chain(absent.iter())
        .map(String::as_str)
        .collect();
    let never = Timestamp::from_secs(i64::MAX / 1000);
    let before = rss_kb();
    let (grown, ns) = match mode {
        "bare" => {
            let set: HashMap<[u8; 16], i64> = ids
                .iter()
                .map(|id| (*uuid::Uuid::parse_str(id).unwrap().as_bytes(), 0))
                .collect();
            let grown = rss_kb() - before;
            let started = Instant::now();
            let found = probes
                .iter()
                .filter(|id| set.contains_key(uuid::Uuid::parse_str(id).unwrap().as_bytes()))
                .count();
            (grown, per_lookup(started, black_box(found), &probes))
        }
        "strings" => {
            let set: HashMap<String, i64> = ids.iter().map(|id| (id.clone(), 0)).collect();
            let grown = rss_kb() - before;
            let started = Instant::now();
            let found = probes.iter().filter(|id| set.contains_key(**id)).count();
            (grown, per_lookup(started, black_box(found), &probes))
        }
        "store" => {
            let store = InMemoryRevocations::new();
            for id in &ids {
                store.apply(&Revocation::Token {
                    jti: id.as_str().into(),
                    expires_at: never,
                });
            }
            let grown = rss_kb() - before;
            let started = Instant::now();
            let found = probes.iter().filter(|id| store.is_jti_revoked(id)).count();
            (grown, per_lookup(started, black_box(found), &probes))
        }
        other => panic!("unknown set {other}"),
    };
    println!("{grown} {ns:.1}");
}

/// ns per lookup since `started`; `found` must be the present half.
fn per_lookup(started: Instant, found: usize, probes: &[&str]) -> f64 {
    let ns = started.elapsed().as_nanos() as f64 / probes.len() as f64;
    assert_eq!(found, probes.len() / 2, "the present half, found");
    ns
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, mode, n] = args.as_slice()
        && flag == "--one"
    {
        measure(mode, n.parse().expect("N"));
        return;
    }
    let n: usize = args
        .get(1)
        .map_or(1_000_000, |n| n.parse().expect("N: a number"));
    let me = std::env::current_exe().expect("this example's path");
    println!("| set | entries | RSS growth | bytes per entry | ns per lookup |");
    println!("|---|---:|---:|---:|---:|");
    for mode in ["bare", "strings", "store"] {
        let out = Command::new(&me)
            .args(["--one", mode, &n.to_string()])
            .output()
            .expect("run a measurement");
        assert!(out.status.success(), "{mode}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let mut fields = text.split_whitespace();
        let kb: f64 = fields.next().and_then(|v| v.parse().ok()).expect("kB");
        let ns: f64 = fields.next().and_then(|v| v.parse().ok()).expect("ns");
        println!(
            "| {mode} | {n} | {:.1} MB | {:.0} | {ns:.1} |",
            kb / 1024.0,
            kb * 1024.0 / n as f64
        );
    }
}
