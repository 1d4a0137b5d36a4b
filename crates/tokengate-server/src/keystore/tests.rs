//! The same rules on both backends: each test body runs on files and, with
//! PostgreSQL, on a fresh database of its own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokengate::keys::Algorithm;

use super::*;
use crate::storage::tempdir::TempDir;

const HOUR: Duration = Duration::from_secs(3600);

async fn generates_once(store: &KeyStore) {
    let first = store.load_or_generate(Algorithm::ES256).await.unwrap();
    let again = store.load_or_generate(Algorithm::ES256).await.unwrap();
    assert_eq!(
        first.signing_key().unwrap().kid(),
        again.signing_key().unwrap().kid()
    );
    assert_eq!(store.list().await.unwrap().len(), 1);
}

async fn rotation_keeps_the_old_key_verifying(store: &KeyStore) {
    let ring = store.load_or_generate(Algorithm::ES256).await.unwrap();
    let old = ring.signing_key().unwrap().kid().clone();
    let new = store.rotate(Algorithm::ES256).await.unwrap();
    let ring = store.ring().await.unwrap();
    assert_eq!(ring.signing_key().unwrap().kid().as_str(), new.kid);
    assert_eq!(ring.jwks().keys.len(), 2);
    let list = store.list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].kid, old.as_str());
    assert!(!list[0].signing && list[1].signing);
    assert!(list[0].retires.is_some());
    // Same second as the previous key: still sorts after it.
    assert!(list[1].created > list[0].created);
    assert_eq!(list[1].alg, Algorithm::ES256);
}

/// `store` has no overlap: the old key retires as soon as the new one exists.
async fn retired_keys_are_deleted(store: &KeyStore) {
    store.load_or_generate(Algorithm::EdDSA).await.unwrap();
    let before = store.fingerprint().await.unwrap();
    store.rotate(Algorithm::EdDSA).await.unwrap();
    assert_ne!(store.fingerprint().await.unwrap(), before);
    // The successor was created this second or the next; with no overlap
    // the old key is retired strictly after that.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert_eq!(store.ring().await.unwrap().jwks().keys.len(), 1);
    assert_eq!(store.fingerprint().await.unwrap().len(), 1);
}

#[tokio::test]
async fn files_generate_once_and_keep_them_private() {
    let dir = TempDir::new();
    let store = KeyStore::in_directory(dir.path(), Duration::from_secs(60));
    generates_once(&store).await;
    let file = fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let keys_dir = fs::metadata(dir.path().join("keys")).unwrap();
    assert_eq!(keys_dir.permissions().mode() & 0o777, 0o700);
}

#[tokio::test]
async fn files_rotation_keeps_the_old_key_verifying() {
    let dir = TempDir::new();
    rotation_keeps_the_old_key_verifying(&KeyStore::in_directory(dir.path(), HOUR)).await;
}

#[tokio::test]
async fn files_retired_keys_are_deleted() {
    let dir = TempDir::new();
    retired_keys_are_deleted(&KeyStore::in_directory(dir.path(), Duration::ZERO)).await;
}

/// An RSA key serves several algorithms and an EC key one; each stored key
/// keeps the algorithm it was made for, through a restart and a rotation
/// to another algorithm.
async fn keys_keep_their_algorithm(store: &KeyStore) {
    let ring = store.load_or_generate(Algorithm::PS384).await.unwrap();
    assert_eq!(ring.signing_key().unwrap().algorithm(), Algorithm::PS384);
    store.rotate(Algorithm::PS512).await.unwrap();
    store.rotate(Algorithm::ES512).await.unwrap();
    store.rotate(Algorithm::RS384).await.unwrap();
    let algs: Vec<Algorithm> = store.list().await.unwrap().iter().map(|k| k.alg).collect();
    assert_eq!(
        algs,
        [
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES512,
            Algorithm::RS384
        ]
    );
    let ring = store.ring().await.unwrap();
    assert_eq!(ring.signing_key().unwrap().algorithm(), Algorithm::RS384);
    let mut published: Vec<String> = ring
        .jwks()
        .keys
        .iter()
        .map(|k| k.alg.clone().unwrap())
        .collect();
    published.sort();
    assert_eq!(published, ["ES512", "PS384", "PS512", "RS384"]);
}

#[tokio::test]
async fn files_keys_keep_their_algorithm() {
    let dir = TempDir::new();
    let store = KeyStore::in_directory(dir.path(), HOUR);
    keys_keep_their_algorithm(&store).await;
    // Files written before the algorithm was part of the name hold keys of
    // their natural algorithm (RS256 for RSA).
    let keys = dir.path().join("keys");
    let ps512 = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(".PS512.pem"))
        .unwrap();
    let old_name = ps512.to_str().unwrap().replace(".PS512.pem", ".pem");
    fs::rename(&ps512, &old_name).unwrap();
    let algs: Vec<Algorithm> = store.list().await.unwrap().iter().map(|k| k.alg).collect();
    assert_eq!(algs[1], Algorithm::RS256);
}

#[cfg(feature = "postgres")]
mod database {
    use super::*;
    use crate::config::Secret;
    use crate::storage::{Database, Pool, test_pg_db};

    const SECRET: &str = "unit-test key encryption secret, 32+ bytes";

    fn pool(db: &Database) -> sqlx::PgPool {
        match db.pool() {
            Pool::Postgres(pool) => pool.clone(),
            Pool::Sqlite(_) => panic!("test_pg_db gives PostgreSQL"),
        }
    }

    fn store(db: &Database, secret: &str, overlap: Duration) -> KeyStore {
        KeyStore::database(pool(db), &Secret::new(secret.into()), overlap).unwrap()
    }

    async fn rows(db: &Database) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(&pool(db))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn database_generates_once_and_keeps_it_sealed() {
        let (db, _pg) = test_pg_db().await;
        let store = store(&db, SECRET, Duration::from_secs(60));
        assert!(store.is_shared());
        generates_once(&store).await;
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM signing_keys")
            .fetch_one(&pool(&db))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("PRIVATE KEY"), "stored in the clear");
    }

    #[tokio::test]
    async fn database_rotation_keeps_the_old_key_verifying() {
        let (db, _pg) = test_pg_db().await;
        rotation_keeps_the_old_key_verifying(&store(&db, SECRET, HOUR)).await;
        // Another instance with the same secret sees the same keys.
        let other = store(&db, SECRET, HOUR).ring().await.unwrap();
        assert_eq!(other.jwks().keys.len(), 2);
    }

    #[tokio::test]
    async fn database_retired_keys_are_deleted() {
        let (db, _pg) = test_pg_db().await;
        retired_keys_are_deleted(&store(&db, SECRET, Duration::ZERO)).await;
        assert_eq!(rows(&db).await, 1);
    }

    #[tokio::test]
    async fn database_keys_keep_their_algorithm() {
        // PS256 and RS256 keys are alike: the row's alg decides.
        let (db, _pg) = test_pg_db().await;
        let store = store(&db, SECRET, HOUR);
        store.load_or_generate(Algorithm::PS256).await.unwrap();
        let ring = store.ring().await.unwrap();
        assert_eq!(ring.signing_key().unwrap().algorithm(), Algorithm::PS256);
    }

    #[tokio::test]
    async fn database_keys_of_every_asymmetric_family_keep_their_algorithm() {
        let (db, _pg) = test_pg_db().await;
        keys_keep_their_algorithm(&store(&db, SECRET, HOUR)).await;
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused() {
        let (db, _pg) = test_pg_db().await;
        store(&db, SECRET, HOUR)
            .load_or_generate(Algorithm::ES256)
            .await
            .unwrap();
        let wrong = store(&db, "another secret of at least 32 bytes!!", HOUR);
        let e = wrong.load_or_generate(Algorithm::ES256).await.unwrap_err();
        assert!(matches!(e, KeyStoreError::Unseal { .. }), "{e:?}");
        assert!(e.to_string().contains("key_encryption_secret"), "{e}");
        // Nor does it add a key the others could not open.
        assert!(wrong.rotate(Algorithm::ES256).await.is_err());
        assert!(wrong.list().await.is_err());
        assert_eq!(rows(&db).await, 1);
    }

    #[tokio::test]
    async fn a_tampered_row_is_refused() {
        let (db, _pg) = test_pg_db().await;
        let store = store(&db, SECRET, HOUR);
        let old = store.load_or_generate(Algorithm::ES256).await.unwrap();
        let old = old.signing_key().unwrap().kid().to_string();
        let new = store.rotate(Algorithm::ES256).await.unwrap().kid;
        let (pool, swap) = (
            pool(&db),
            "UPDATE signing_keys SET sealed = (SELECT sealed FROM signing_keys WHERE kid = $2) \
             WHERE kid = $1",
        );

        // The old key's sealed bytes under the new key's kid: the new,
        // signing key would become the old one.
        let new_sealed: Vec<u8> =
            sqlx::query_scalar("SELECT sealed FROM signing_keys WHERE kid = $1")
                .bind(&new)
                .fetch_one(&pool)
                .await
                .unwrap();
        sqlx::query(swap)
            .bind(&new)
            .bind(&old)
            .execute(&pool)
            .await
            .unwrap();
        let e = store.ring().await.unwrap_err();
        assert!(
            matches!(&e, KeyStoreError::Unseal { kid } if *kid == new),
            "{e:?}"
        );

        // Restored, then the old key made newer than the new one.
        sqlx::query("UPDATE signing_keys SET sealed = $2 WHERE kid = $1")
            .bind(&new)
            .bind(&new_sealed)
            .execute(&pool)
            .await
            .unwrap();
        store.ring().await.unwrap();
        sqlx::query("UPDATE signing_keys SET created_at = created_at + 10 WHERE kid = $1")
            .bind(&old)
            .execute(&pool)
            .await
            .unwrap();
        let e = store.ring().await.unwrap_err();
        assert!(
            matches!(&e, KeyStoreError::Unseal { kid } if *kid == old),
            "{e:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn instances_starting_together_make_one_key() {
        let (db, pg) = test_pg_db().await;
        // Separate pools, as separate instances have, released together.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let mut starts = Vec::new();
        for _ in 0..4 {
            let instance = Database::open(&pg.url(), 2).await.unwrap();
            let barrier = barrier.clone();
            starts.push(tokio::spawn(async move {
                let store = store(&instance, SECRET, HOUR);
                barrier.wait().await;
                store.load_or_generate(Algorithm::ES256).await.unwrap()
            }));
        }
        let mut kids = Vec::new();
        for start in starts {
            let ring = start.await.unwrap();
            kids.push(ring.signing_key().unwrap().kid().clone());
        }
        kids.dedup();
        assert_eq!(kids.len(), 1, "{kids:?}");
        assert_eq!(rows(&db).await, 1);
    }
}
