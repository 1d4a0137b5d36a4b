//! Waiting for what happens "within a few seconds": bounded polling.

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it holds: up to 50 tries, 200 ms apart (about 10 s
/// when each check is quick). A bounded retry, not a timing assertion.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never happened: {what}");
}
