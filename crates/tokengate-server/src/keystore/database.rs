//! Keys as rows of PostgreSQL's `signing_keys`, shared by every instance on
//! the database; the private key of each row is sealed ([`super::sealed`]).

use sqlx::PgPool;
use tokengate::clock;
use tokengate::keys::{Algorithm, Kid, SigningKey};

use super::sealed::{Row, Sealer};
use super::{Entry, KeyStoreError};

/// The advisory lock writers of `signing_keys` take ("tgkeys" in ASCII; the
/// revocation writers take another).
const WRITE_LOCK: i64 = 0x7467_6b65_7973;

/// The `signing_keys` table and the sealing key.
#[derive(Debug, Clone)]
pub(super) struct DbKeys {
    pool: PgPool,
    sealer: Sealer,
}

impl DbKeys {
    pub(super) fn new(pool: PgPool, secret: &[u8]) -> Result<Self, KeyStoreError> {
        let sealer = Sealer::new(secret)
            .map_err(|_| KeyStoreError::Cipher("cannot derive the sealing key"))?;
        Ok(DbKeys { pool, sealer })
    }

    pub(super) async fn is_empty(&self) -> Result<bool, KeyStoreError> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM signing_keys)")
            .fetch_one(&self.pool)
            .await?;
        Ok(!any)
    }

    /// Stores `key` if the table is still empty: of several instances
    /// starting together, one key wins and the others read it.
    pub(super) async fn insert_first(
        &self,
        key: &SigningKey,
        pem: &str,
    ) -> Result<(), KeyStoreError> {
        self.insert(key, pem, true).await.map(drop)
    }

    /// Stores `key` as the newest; returns its creation time.
    pub(super) async fn add(&self, key: &SigningKey, pem: &str) -> Result<i64, KeyStoreError> {
        let created = self.insert(key, pem, false).await?;
        Ok(created.expect("inserted unconditionally"))
    }

    async fn insert(
        &self,
        key: &SigningKey,
        pem: &str,
        only_if_empty: bool,
    ) -> Result<Option<i64>, KeyStoreError> {
        let mut tx = self.pool.begin().await?;
        // Writers take turns, so the check below still holds at the insert:
        // one first key, and creation times that strictly increase.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        let (count, newest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MAX(created_at) FROM signing_keys")
                .fetch_one(&mut *tx)
                .await?;
        if only_if_empty && count > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        // A rotation in the same second as the previous key still sorts after it.
        let created = newest.map_or(clock::now().as_secs(), |previous| {
            clock::now().as_secs().max(previous + 1)
        });
        let row = Row {
            kid: key.kid().as_str(),
            alg: key.algorithm(),
            created,
        };
        let sealed = self
            .sealer
            .seal(&row, pem.as_bytes())
            .map_err(|_| KeyStoreError::Cipher("cannot seal a signing key"))?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, created_at, sealed) VALUES ($1, $2, $3, $4)",
        )
        .bind(row.kid)
        .bind(row.alg.as_str())
        .bind(created)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(created))
    }

    /// Every row, unsealed, in no particular order.
    pub(super) async fn entries(&self) -> Result<Vec<Entry>, KeyStoreError> {
        let rows: Vec<(String, String, i64, Vec<u8>)> =
            sqlx::query_as("SELECT kid, alg, created_at, sealed FROM signing_keys")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(kid, alg, created, sealed)| self.unseal(kid, &alg, created, &sealed))
            .collect()
    }

    fn unseal(
        &self,
        kid: String,
        alg: &str,
        created: i64,
        sealed: &[u8],
    ) -> Result<Entry, KeyStoreError> {
        let bad = |reason: String| KeyStoreError::BadRow {
            kid: kid.clone(),
            reason,
        };
        let alg: Algorithm = alg.parse().map_err(|e| bad(format!("{e}")))?;
        let row = Row {
            kid: &kid,
            alg,
            created,
        };
        let pem = self
            .sealer
            .open(&row, sealed)
            .map_err(|_| KeyStoreError::Unseal { kid: kid.clone() })?;
        let pem = std::str::from_utf8(&pem).map_err(|_| bad("not a PEM key".into()))?;
        let key = SigningKey::from_pem(pem, Some(alg)).map_err(|e| bad(e.to_string()))?;
        // The row's kid is authenticated with the key: keep it as written.
        let key = key.with_kid(Kid::new(kid.clone()));
        Ok(Entry {
            created,
            key,
            file: None,
        })
    }

    /// Deletes a retired key (several instances may do it at once).
    pub(super) async fn remove(&self, entry: &Entry) -> Result<(), KeyStoreError> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1 AND created_at = $2")
            .bind(entry.key.kid().as_str())
            .bind(entry.created)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `{created}-{kid}` of every row, sorted: no key is unsealed.
    pub(super) async fn fingerprint(&self) -> Result<Vec<String>, KeyStoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT kid, created_at FROM signing_keys ORDER BY created_at, kid")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(kid, created)| format!("{created:012}-{kid}"))
            .collect())
    }
}
