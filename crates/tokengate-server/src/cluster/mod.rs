//! What instances behind one load balancer share through Redis: revocations
//! announced the moment they are written (pub/sub), and failed-login
//! counters. PostgreSQL stays the record; when Redis is away, revocations
//! still arrive by polling the database and the counters fall back to each
//! instance's memory.

mod counters;
mod replay;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokengate::revocation::BoxFuture;

use crate::config::ConnectionUrl;
use crate::storage::{Fanout, RevocationRow, SqlRevocations};

pub(crate) use counters::SharedCounters;
pub(crate) use replay::SharedProofReplay;

/// How long one Redis command may take before the instance carries on
/// without it: a login or logout must not wait on a Redis that went away.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);
/// How often a quiet subscription is checked, so that a Redis that stopped
/// answering without closing the connection is noticed.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(2);
/// The wait before subscribing again after a failure.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(250);

/// A Redis server shared by the instances, under one key prefix.
#[derive(Clone)]
pub(crate) struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    subscribed: Arc<AtomicBool>,
    /// How many times the subscription was (re)made: a quiet channel must
    /// not cost a resubscription.
    subscriptions: Arc<AtomicU64>,
}

impl std::fmt::Debug for Redis {
    // The client holds the URL, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A link to `url`, connected lazily: a Redis that is down at start is
    /// a degraded service, not a refusal to start. Needs a Tokio runtime.
    pub(crate) fn new(url: &ConnectionUrl, prefix: &str) -> Result<Redis, redis::RedisError> {
        let client = redis::Client::open(url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Redis {
            client,
            conn,
            prefix: prefix.to_owned(),
            subscribed: Arc::new(AtomicBool::new(false)),
            subscriptions: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The name of `what` under this deployment's prefix.
    fn key(&self, what: &str) -> String {
        format!("{}{what}", self.prefix)
    }

    fn channel(&self) -> String {
        self.key("revocations")
    }

    /// A connection for one command (cheap: the manager multiplexes).
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether revocations announced by other instances reach this one now.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    /// Whether Redis answers a command now.
    pub(crate) async fn ping(&self) -> bool {
        let mut conn = self.conn();
        let ping = async move { redis::cmd("PING").query_async::<String>(&mut conn).await };
        matches!(tokio::time::timeout(COMMAND_TIMEOUT, ping).await, Ok(Ok(_)))
    }

    /// Applies every revocation other instances announce to `revocations`,
    /// subscribing again whenever the subscription breaks, and catching up
    /// from the database after each (re)subscription: what was announced
    /// while this instance was not listening is read there.
    pub(crate) fn follow(&self, revocations: SqlRevocations) -> tokio::task::JoinHandle<()> {
        let redis = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = redis.listen(&revocations).await {
                    tracing::warn!(error = %e, "Redis subscription lost; polling the database meanwhile");
                }
                redis.subscribed.store(false, Ordering::Release);
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            }
        })
    }

    async fn listen(&self, revocations: &SqlRevocations) -> Result<(), redis::RedisError> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(timed_out)??;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(self.channel()))
            .await
            .map_err(timed_out)??;
        self.subscribed.store(true, Ordering::Release);
        self.subscriptions.fetch_add(1, Ordering::AcqRel);
        tracing::info!("following revocations through Redis");
        if let Err(e) = revocations.catch_up().await {
            tracing::warn!(error = %e, "cannot read revocations missed while unsubscribed");
        }
        loop {
            match tokio::time::timeout(SUBSCRIPTION_PING, stream.next()).await {
                Ok(Some(msg)) => {
                    match serde_json::from_slice::<RevocationRow>(msg.get_payload_bytes()) {
                        Ok(row) => revocations.apply(&row),
                        Err(e) => {
                            tracing::warn!(error = %e, "ignoring a malformed revocation message")
                        }
                    }
                }
                Ok(None) => return Err(closed()),
                Err(_quiet) => {
                    // A subscribed connection answers PING with ["pong", ""]:
                    // any answer will do.
                    tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>())
                        .await
                        .map_err(timed_out)??;
                }
            }
        }
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

fn closed() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "Redis closed the subscription",
    ))
}

impl Fanout for Redis {
    fn publish<'a>(&'a self, row: &'a RevocationRow) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(message) = serde_json::to_string(row) else {
                return;
            };
            let mut conn = self.conn();
            let sent = tokio::time::timeout(
                COMMAND_TIMEOUT,
                conn.publish::<_, _, i64>(self.channel(), message),
            )
            .await;
            if !matches!(sent, Ok(Ok(_))) {
                // Stored already: the others read it at their next poll.
                tracing::warn!("cannot announce a revocation through Redis");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokengate::claims::Claims;
    use tokengate::revocation::{Revocation, RevocationStore};

    use crate::service::limits::LimitKey;

    use super::*;

    /// The Redis of the test machine; a test fails, never skips, without it.
    fn redis(prefix: &str) -> Redis {
        let url = std::env::var("TOKENGATE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
        let prefix = format!("tg-unit-{}-{prefix}:", tokengate::token::random_id());
        Redis::new(&ConnectionUrl::new(url), &prefix).expect("a Redis client")
    }

    async fn require(redis: &Redis) {
        assert!(
            redis.ping().await,
            "Redis at 127.0.0.1:6379 is not answering: start it (scripts/test.sh does)"
        );
    }

    #[tokio::test]
    async fn counters_are_shared_between_instances() {
        let a = redis("counters");
        require(&a).await;
        // A second instance: its own client, the same prefix.
        let b = Redis {
            conn: ConnectionManager::new_lazy_with_config(
                a.client.clone(),
                ConnectionManagerConfig::new(),
            )
            .unwrap(),
            ..a.clone()
        };
        let window = Duration::from_secs(60);
        let (on_a, on_b) = (
            SharedCounters::new(a, window),
            SharedCounters::new(b, window),
        );
        let (x, y) = (LimitKey::login_of("x"), LimitKey::login_of("y"));
        for _ in 0..3 {
            assert_eq!(on_b.check(&[(&x, 3)]).await.unwrap(), None);
            on_a.record_failure(&[&x]).await.unwrap();
        }
        let wait = on_b.check(&[(&x, 3)]).await.unwrap().expect("blocked");
        assert!(wait > Duration::from_secs(50) && wait <= window, "{wait:?}");
        // A higher limit, or another key, is not reached.
        assert_eq!(on_b.check(&[(&x, 4), (&y, 1)]).await.unwrap(), None);
        on_b.clear(&x).await.unwrap();
        assert_eq!(on_a.check(&[(&x, 3)]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn failures_leave_the_shared_window() {
        let redis = redis("window");
        require(&redis).await;
        let counters = SharedCounters::new(redis, Duration::from_millis(200));
        let k = LimitKey::LoginFrom([127, 0, 0, 1].into());
        counters.record_failure(&[&k]).await.unwrap();
        assert!(counters.check(&[(&k, 1)]).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(counters.check(&[(&k, 1)]).await.unwrap(), None);
    }

    fn claims(jti: &str) -> Claims {
        crate::storage::test_claims(jti, "1", None)
    }

    #[tokio::test]
    async fn a_revocation_reaches_the_other_instance_through_redis() {
        let (db, _dir) = crate::storage::test_db().await;
        let lifetime = Duration::from_secs(3600);
        let redis = redis("fanout");
        require(&redis).await;
        let writer = SqlRevocations::load(db.clone(), lifetime)
            .await
            .unwrap()
            .with_fanout(Arc::new(redis.clone()));
        // The reader never polls the database here: only Redis can tell it.
        let reader = SqlRevocations::load(db, lifetime).await.unwrap();
        let follower = redis.follow(reader.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.is_subscribed() {
            assert!(Instant::now() < deadline, "never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        writer
            .revoke(Revocation::Token {
                jti: "j1".into(),
                expires_at: tokengate::clock::Timestamp::from_secs(i64::MAX),
            })
            .await
            .unwrap();
        while !reader.is_revoked(&claims("j1")) {
            assert!(Instant::now() < deadline, "the announcement never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!reader.is_revoked(&claims("j2")));
        follower.abort();
    }

    #[tokio::test]
    async fn a_quiet_subscription_stays_up() {
        let (db, _dir) = crate::storage::test_db().await;
        let reader = SqlRevocations::load(db, Duration::from_secs(3600))
            .await
            .unwrap();
        let redis = redis("quiet");
        require(&redis).await;
        let follower = redis.follow(reader);
        // Two pings' worth of silence: each ping must be answered in kind.
        tokio::time::sleep(SUBSCRIPTION_PING * 2 + Duration::from_millis(500)).await;
        assert!(redis.is_subscribed());
        assert_eq!(redis.subscriptions.load(Ordering::Acquire), 1);
        follower.abort();
    }
}
