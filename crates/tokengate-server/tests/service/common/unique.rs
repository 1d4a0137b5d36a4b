//! Names of a test's own on the PostgreSQL and Redis servers that all tests
//! share.

use std::sync::atomic::{AtomicU32, Ordering};

/// Tells apart the databases and prefixes of one test process.
static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// `tgtest{sep}{pid}{sep}{n}{sep}`: a name no other test (of this process
/// or another) uses.
pub(super) fn prefix(sep: char) -> String {
    format!(
        "tgtest{sep}{}{sep}{}{sep}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// `name` reduced to lower-case letters, digits and `_`, at most `max`
/// characters: usable unquoted in SQL and in a Redis key pattern.
pub(super) fn slug(name: &str, max: usize) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}
