//! The request counter and duration histogram, kept per thread.
//!
//! Every request adds one to `tokengate_http_requests_total` and one sample
//! to `tokengate_http_request_duration_seconds`. Kept by the `metrics`
//! recorder, both are memory that every core writes for every request (the
//! counter's atomic; the histogram's list of samples, which also grows with
//! each request until the upkeep folds it into buckets: megabytes after
//! five seconds under load). Here each thread counts into cells of its own,
//! which no other thread writes; a scrape adds every thread's cells up.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The histogram's buckets: each one's upper bound in nanoseconds and as
/// its `le` label. From 1 ms (a cached token check) to 10 s (a login
/// waiting for a hash under a storm); `request_timeout` bounds the rest.
const BUCKETS: [(u64, &str); 13] = [
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

const REQUESTS: &str = "tokengate_http_requests_total";
const DURATION: &str = "tokengate_http_request_duration_seconds";

/// A count that one thread writes and any thread reads: a plain load and
/// store (no locked instruction), exact because no one else adds to it.
#[derive(Default)]
struct Cell(AtomicU64);

impl Cell {
    fn add(&self, n: u64) {
        let value = self.0.load(Ordering::Relaxed);
        self.0.store(value.wrapping_add(n), Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One thread's counts of one (route, method, status): its requests, and
/// their durations by bucket (the last: above every bound) with their sum.
/// Aligned to 128 bytes (two cache lines, what the prefetcher pairs), so
/// that no other thread's cells share a line with them.
#[derive(Default)]
#[repr(align(128))]
struct Cells {
    by_bucket: [Cell; BUCKETS.len() + 1],
    nanos: Cell,
}

impl Cells {
    fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKETS
            .iter()
            .position(|(bound, _)| nanos <= *bound)
            .unwrap_or(BUCKETS.len());
        self.by_bucket[bucket].add(1);
        self.nanos.add(nanos);
    }

    fn requests(&self) -> u64 {
        self.by_bucket.iter().map(Cell::get).sum()
    }
}

/// What a series is counted under: a route pattern, a method label and a
/// status code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Series {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// Every thread's cells, for the scrape. Cells are added, never removed:
/// a thread that ends leaves its counts behind, as a counter must.
static EVERY_THREAD: Mutex<Vec<(Series, Arc<Cells>)>> = Mutex::new(Vec::new());

/// Counts a request and its time under `series`, in this thread's cells.
pub(super) fn record(route: &'static str, method: &'static str, status: u16, elapsed: Duration) {
    thread_local! {
        // Hashed by foldhash: SipHash costs a request more than the rest
        // of the counting. Keyed by the route's text: a scrape adds up by
        // text anyway.
        static MINE: RefCell<HashMap<Series, Arc<Cells>, foldhash::fast::RandomState>> =
            RefCell::new(HashMap::default());
    }
    let series = Series {
        route,
        method,
        status,
    };
    MINE.with(|mine| {
        let mut mine = mine.borrow_mut();
        let cells = mine.entry(series).or_insert_with(|| {
            let cells = Arc::new(Cells::default());
            EVERY_THREAD
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((series, cells.clone()));
            cells
        });
        cells.record(elapsed);
    });
}

/// The status class label of a status code (`2xx`, `4xx`, ...).
fn class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Both metrics in the Prometheus text format, as the recorder writes its
/// own (a family's help and type, its samples, a blank line); nothing for
/// a metric without samples yet.
pub(super) fn render(out: &mut String) {
    let mut requests: BTreeMap<Series, u64> = BTreeMap::new();
    let mut durations: Durations<'_> = BTreeMap::new();
    for (series, cells) in EVERY_THREAD
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        *requests.entry(*series).or_default() += cells.requests();
        let (by_bucket, nanos) = durations
            .entry((series.route, class(series.status)))
            .or_default();
        for (sum, cell) in by_bucket.iter_mut().zip(&cells.by_bucket) {
            *sum += cell.get();
        }
        *nanos = nanos.wrapping_add(cells.nanos.get());
    }
    // Writing into a `String` does not fail.
    let _ = write_families(out, &requests, &durations);
}

/// The histogram's series by (route, class): requests by bucket, their time.
type Durations<'a> = BTreeMap<(&'a str, &'a str), ([u64; BUCKETS.len() + 1], u64)>;

fn write_families(
    out: &mut String,
    requests: &BTreeMap<Series, u64>,
    durations: &Durations<'_>,
) -> fmt::Result {
    // Both come from the same series: no request yet, neither family.
    if requests.is_empty() {
        return Ok(());
    }
    write_head(
        out,
        REQUESTS,
        "counter",
        "HTTP requests by route pattern, method and status",
    )?;
    for (series, count) in requests {
        writeln!(
            out,
            "{REQUESTS}{{route=\"{}\",method=\"{}\",status=\"{}\"}} {count}",
            Escaped(series.route),
            series.method,
            series.status
        )?;
    }
    writeln!(out)?;
    write_head(
        out,
        DURATION,
        "histogram",
        "Time to answer an HTTP request, by route pattern and status class (2xx, 4xx, ...)",
    )?;
    for ((route, class), (by_bucket, nanos)) in durations {
        let labels = format!("route=\"{}\",status_class=\"{class}\"", Escaped(route));
        let mut below = 0;
        for ((_, le), count) in BUCKETS.iter().zip(by_bucket) {
            below += count;
            writeln!(out, "{DURATION}_bucket{{{labels},le=\"{le}\"}} {below}")?;
        }
        let total: u64 = by_bucket.iter().sum();
        writeln!(out, "{DURATION}_bucket{{{labels},le=\"+Inf\"}} {total}")?;
        writeln!(out, "{DURATION}_sum{{{labels}}} {}", *nanos as f64 / 1e9)?;
        writeln!(out, "{DURATION}_count{{{labels}}} {total}")?;
    }
    writeln!(out)
}

/// A family's help and type lines.
fn write_head(out: &mut String, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// A label value with `\`, `"` and line feeds escaped, as the format asks.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `text` that start with `prefix`.
    fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn threads_count_apart_and_a_scrape_adds_them_up() {
        // A route of this test's own: the cells are the process's.
        let route = "/test/threads";
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        record(route, "GET", 200, Duration::from_micros(300));
                    }
                    record(route, "POST", 401, Duration::from_millis(30));
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // The threads have ended: their counts stay.
        let mut text = String::new();
        render(&mut text);
        assert_eq!(
            lines(
                &text,
                "tokengate_http_requests_total{route=\"/test/threads\""
            ),
            [
                "tokengate_http_requests_total{route=\"/test/threads\",method=\"GET\",status=\"200\"} 4000",
                "tokengate_http_requests_total{route=\"/test/threads\",method=\"POST\",status=\"401\"} 4",
            ]
        );
        let ok = "tokengate_http_request_duration_seconds_bucket{route=\"/test/threads\",status_class=\"2xx\"";
        let ok = lines(&text, ok);
        assert_eq!(ok.len(), 14);
        assert!(ok.iter().all(|l| l.ends_with(" 4000")), "{ok:#?}");
        let refused = "tokengate_http_request_duration_seconds_bucket{route=\"/test/threads\",status_class=\"4xx\",le=";
        let refused = lines(&text, refused);
        // 30 ms: above 25 ms, at or below 50 ms.
        assert!(refused[4].ends_with("le=\"0.025\"} 0"), "{refused:#?}");
        assert!(refused[5].ends_with("le=\"0.05\"} 4"), "{refused:#?}");
        assert!(refused[13].ends_with("le=\"+Inf\"} 4"), "{refused:#?}");
        let sum = lines(
            &text,
            "tokengate_http_request_duration_seconds_sum{route=\"/test/threads\",status_class=\"4xx\"}",
        );
        assert_eq!(sum.len(), 1);
        let seconds: f64 = sum[0].rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!((seconds - 0.12).abs() < 1e-9, "{seconds}");
        assert_eq!(
            lines(
                &text,
                "tokengate_http_request_duration_seconds_count{route=\"/test/threads\",status_class=\"2xx\"}"
            ),
            [
                "tokengate_http_request_duration_seconds_count{route=\"/test/threads\",status_class=\"2xx\"} 4000"
            ]
        );
        // Each family once, with its help and type.
        assert_eq!(
            lines(&text, "# TYPE tokengate_http_requests_total counter").len(),
            1
        );
        assert_eq!(
            lines(
                &text,
                "# TYPE tokengate_http_request_duration_seconds histogram"
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_bucket_holds_its_bound_and_a_slower_request_goes_past_every_bound() {
        let cells = Cells::default();
        cells.record(Duration::from_millis(1));
        cells.record(Duration::from_nanos(1_000_001));
        cells.record(Duration::from_secs(11));
        assert_eq!(cells.by_bucket[0].get(), 1);
        assert_eq!(cells.by_bucket[1].get(), 1);
        assert_eq!(cells.by_bucket[BUCKETS.len()].get(), 1);
        assert_eq!(cells.requests(), 3);
        assert_eq!(cells.nanos.get(), 11_002_000_001);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(Escaped("/a\"b\\c\nd").to_string(), "/a\\\"b\\\\c\\nd");
    }
}
