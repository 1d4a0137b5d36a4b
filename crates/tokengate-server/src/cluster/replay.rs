//! DPoP proofs already used, in Redis, so that a proof accepted by one
//! instance is a replay on every other one (RFC 9449 §11.1).

use std::sync::Arc;

use tokengate::clock::Timestamp;
use tokengate::dpop::{InMemoryProofReplay, ProofId, ProofReplay};
use tokengate::revocation::{BoxFuture, StoreError};

use super::{COMMAND_TIMEOUT, Redis, timed_out};

/// `SET key 1 NX PXAT expiry` per proof: set means first use, not set means
/// a replay. When Redis does not answer, this instance's memory decides
/// (like the login counters): a replay on the same instance is still
/// refused, and Redis being away never refuses every DPoP request.
#[derive(Debug, Clone)]
pub(crate) struct SharedProofReplay {
    redis: Redis,
    fallback: Arc<InMemoryProofReplay>,
}

impl SharedProofReplay {
    pub(crate) fn new(redis: Redis) -> Self {
        SharedProofReplay {
            redis,
            fallback: Arc::new(InMemoryProofReplay::default()),
        }
    }

    async fn set_once(
        &self,
        id: &ProofId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, redis::RedisError> {
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis.key(&format!("dpop:{}", id.to_hex())))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg((expires_at.as_millis() - now.as_millis()).max(1));
        let set = cmd.query_async::<Option<String>>(&mut conn);
        let reply = tokio::time::timeout(COMMAND_TIMEOUT, set)
            .await
            .map_err(timed_out)??;
        Ok(reply.is_some())
    }
}

impl ProofReplay for SharedProofReplay {
    fn first_use(
        &self,
        id: ProofId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            match self.set_once(&id, now, expires_at).await {
                Ok(first) => {
                    // Also remembered here, for when Redis goes away within the window.
                    if first {
                        self.fallback.first_use(id, now, expires_at).await?;
                    }
                    Ok(first)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Redis unavailable for the DPoP replay check; this instance's memory decides");
                    self.fallback.first_use(id, now, expires_at).await
                }
            }
        })
    }
}
