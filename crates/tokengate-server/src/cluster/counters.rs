//! Failed-login counters in Redis, so that an attacker cannot multiply the
//! limit by the number of instances. Each key is a sorted set of failure
//! times (milliseconds), trimmed to the window: the same sliding window as
//! the in-memory limiter.

use crate::service::limits::LimitKey;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{COMMAND_TIMEOUT, Redis, timed_out};

/// Never more entries per key than any limit needs.
const MAX_ENTRIES: isize = 10_000;

/// Failure counters shared by every instance on one Redis.
#[derive(Debug, Clone)]
pub(crate) struct SharedCounters {
    redis: Redis,
    window: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SharedCounters {
    /// Counters over `window`.
    pub(crate) fn new(redis: Redis, window: Duration) -> Self {
        SharedCounters { redis, window }
    }

    fn key(&self, key: &LimitKey) -> String {
        self.redis.key(&format!("login-failures:{key}"))
    }

    /// The longest wait among the `(key, limit)` pairs over their limit, or
    /// `None` when every key is under it.
    pub(crate) async fn check(
        &self,
        keys: &[(&LimitKey, u32)],
    ) -> Result<Option<Duration>, redis::RedisError> {
        let now = now_ms();
        let window = self.window.as_millis() as i64;
        let mut pipe = redis::pipe();
        for (key, limit) in keys {
            // The limit-th newest failure: while it is inside the window,
            // the key is blocked until it leaves.
            let nth = -(i64::from(*limit).max(1)) as isize;
            pipe.cmd("ZRANGE")
                .arg(self.key(key))
                .arg(nth)
                .arg(nth)
                .arg("WITHSCORES");
        }
        let mut conn = self.redis.conn();
        let replies: Vec<Vec<(String, i64)>> =
            tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async(&mut conn))
                .await
                .map_err(timed_out)??;
        Ok(replies
            .iter()
            .filter_map(|reply| reply.first())
            .map(|(_, at)| window - (now - at))
            .filter(|left| *left > 0)
            .max()
            .map(|left| Duration::from_millis(left as u64)))
    }

    /// Records a failure under each key.
    pub(crate) async fn record_failure(&self, keys: &[&LimitKey]) -> Result<(), redis::RedisError> {
        let now = now_ms();
        let window = self.window.as_millis() as i64;
        let member = format!("{now}-{}", tokengate::token::random_id());
        let mut pipe = redis::pipe();
        for key in keys {
            let key = self.key(key);
            pipe.zadd(&key, &member, now)
                .ignore()
                .zrembyscore(&key, "-inf", format!("({}", now - window))
                .ignore()
                .zremrangebyrank(&key, 0, -(MAX_ENTRIES + 1))
                .ignore()
                .pexpire(&key, window)
                .ignore();
        }
        let mut conn = self.redis.conn();
        tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(&mut conn))
            .await
            .map_err(timed_out)?
    }

    /// Forgets the failures of `key` (after a successful login).
    pub(crate) async fn clear(&self, key: &LimitKey) -> Result<(), redis::RedisError> {
        let mut conn = self.redis.conn();
        tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("DEL")
                .arg(self.key(key))
                .query_async::<()>(&mut conn),
        )
        .await
        .map_err(timed_out)?
    }
}
