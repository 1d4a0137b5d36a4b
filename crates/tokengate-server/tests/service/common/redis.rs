//! [`RedisPrefix`]: a Redis key prefix of a test's own, through the `redis`
//! crate's blocking client.

use std::time::Duration;

use redis::{Connection, RedisResult};

use super::unique;

/// The Redis server of the tests.
const REDIS: &str = "127.0.0.1:6379";

/// A Redis key prefix of its own for one test (`TOKENGATE_REDIS_PREFIX`):
/// tests share one Redis server. Its keys are deleted on drop.
pub(crate) struct RedisPrefix {
    prefix: String,
}

impl RedisPrefix {
    /// `tgtest:{pid}:{n}:{name}:`. Panics if Redis does not answer.
    pub(crate) fn new(name: &str) -> RedisPrefix {
        if let Err(e) = connect().and_then(|mut con| redis::cmd("PING").query::<String>(&mut con)) {
            panic!(
                "Redis at {REDIS} does not answer ({e}); these tests need it (scripts/test.sh starts it)"
            );
        }
        RedisPrefix {
            prefix: format!("{}{}:", unique::prefix(':'), unique::slug(name, 40)),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.prefix
    }

    /// How many subscriptions Redis holds on channels under this prefix:
    /// the instances listening for revocations.
    pub(crate) fn subscriptions(&self) -> i64 {
        let mut con = connect().unwrap_or_else(|e| panic!("Redis at {REDIS}: {e}"));
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .arg(format!("{}*", self.prefix))
            .query(&mut con)
            .unwrap_or_else(|e| panic!("PUBSUB CHANNELS: {e}"));
        // Channel names and counts, alternating.
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channels)
            .query(&mut con)
            .unwrap_or_else(|e| panic!("PUBSUB NUMSUB: {e}"));
        counts.iter().map(|(_, n)| n).sum()
    }

    /// `redis://127.0.0.1:6379/`.
    pub(crate) fn url() -> String {
        format!("redis://{REDIS}/")
    }

    /// Where Redis listens, for a proxy in front of it.
    pub(crate) fn server_addr() -> std::net::SocketAddr {
        REDIS.parse().unwrap()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // KEYS is fine on a test server; the prefix has no glob characters.
        let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end";
        let pattern = format!("{}*", self.prefix);
        let deleted = connect().and_then(|mut con| {
            redis::cmd("EVAL")
                .arg(script)
                .arg(0)
                .arg(&pattern)
                .query::<()>(&mut con)
        });
        if let Err(e) = deleted {
            eprintln!("cannot delete the Redis keys {pattern}: {e}");
        }
    }
}

/// A new connection to the tests' Redis server: 5 s to connect, 10 s for
/// each answer.
fn connect() -> RedisResult<Connection> {
    let con = redis::Client::open(RedisPrefix::url())?
        .get_connection_with_timeout(Duration::from_secs(5))?;
    con.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(con)
}
