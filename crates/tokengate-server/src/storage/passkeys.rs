//! Passkeys: users' registered WebAuthn credentials, the user handle their
//! authenticators keep, and ceremonies between their start and their
//! finish.
//!
//! A ceremony is kept by its challenge and taken with one
//! `DELETE ... RETURNING`, so that it is spent exactly once across every
//! instance sharing the database (as OIDC's pending logins are); one past
//! its expiry is taken and refused.

use tokengate::clock::Timestamp;
use tokengate::passkeys::{
    AuthenticationState, PasskeyCredential, PasskeyId, RegistrationState, UserHandle,
};
use tokengate::users::Username;
use tokengate::{AccountRejection, Error, RequestRejection};

use super::{Database, User, UserId, unavailable, with_pool};

/// The stored password hash of an account made with a passkey: not a PHC
/// string, so `PasswordHash::parse` refuses it and no password logs in
/// (after the same work as a wrong one) until one is set.
const NO_PASSWORD: &str = "!passkey";

/// At most this many ceremonies of one kind wait at once; past it the ones
/// expiring first go (a flood of anonymous login starts cannot grow the
/// table without bound, nor push out the signed-in users' registrations).
const CAPACITY: i64 = 10_000;

/// A registered passkey.
#[derive(Debug, Clone)]
pub(crate) struct StoredPasskey {
    pub(crate) id: PasskeyId,
    pub(crate) user_id: UserId,
    pub(crate) name: String,
    pub(crate) credential: PasskeyCredential,
    pub(crate) created_at: Timestamp,
    pub(crate) last_used_at: Option<Timestamp>,
}

/// A `passkeys` row: id, user_id, name, credential, created_at, last_used_at.
type Row = (String, i64, String, String, i64, Option<i64>);

macro_rules! passkey_columns {
    () => {
        "p.id, p.user_id, p.name, p.credential, p.created_at, p.last_used_at"
    };
}

fn passkey(
    (id, user_id, name, credential, created_at, last_used_at): Row,
) -> Option<StoredPasskey> {
    Some(StoredPasskey {
        id: PasskeyId::from(id),
        user_id: UserId(user_id),
        name,
        credential: PasskeyCredential::from_stored(&credential)?,
        created_at: Timestamp::from_millis(created_at),
        last_used_at: last_used_at.map(Timestamp::from_millis),
    })
}

/// A ceremony between its start and its finish.
#[derive(Debug)]
pub(crate) enum Ceremony {
    /// A signed-in user adds a passkey.
    Register {
        user: UserId,
        state: RegistrationState,
    },
    /// A new account without a password, under `username`.
    Signup {
        username: Username,
        handle: UserHandle,
        state: RegistrationState,
    },
    /// A login; `user`: the one named at the start (none: without a
    /// username, or an unknown one).
    Login {
        user: Option<UserId>,
        state: AuthenticationState,
    },
}

impl Ceremony {
    fn kind(&self) -> &'static str {
        match self {
            Ceremony::Register { .. } => "register",
            Ceremony::Signup { .. } => "signup",
            Ceremony::Login { .. } => "login",
        }
    }
}

/// What a finish asks for: the kind of ceremony, and for a registration the
/// user it must be bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CeremonyKind {
    Register(UserId),
    Signup,
    Login,
}

/// The error of a credential registered already (by anyone).
fn passkey_exists() -> Error {
    RequestRejection::Invalid("this passkey is registered already".into()).into()
}

impl Database {
    /// The user's WebAuthn handle, made (random) at the first call. Of two
    /// concurrent first calls, one handle is kept and both get it.
    pub(crate) async fn webauthn_handle(&self, user: UserId) -> Result<UserHandle, Error> {
        let fresh = UserHandle::random().to_string();
        with_pool!(self, pool => sqlx::query(
            "UPDATE users SET webauthn_handle = $1 WHERE id = $2 AND webauthn_handle IS NULL",
        )
        .bind(&fresh)
        .bind(user.0)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(unavailable)?;
        let stored: Option<Option<String>> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT webauthn_handle FROM users WHERE id = $1",
        )
        .bind(user.0)
        .fetch_optional(pool)
        .await)
        .map_err(unavailable)?;
        stored
            .flatten()
            .as_deref()
            .and_then(UserHandle::parse)
            .ok_or(Error::Request(RequestRejection::NotFound))
    }

    /// The user's passkeys, newest first.
    pub(crate) async fn passkeys_of(&self, user: UserId) -> Result<Vec<StoredPasskey>, Error> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, Row>(concat!(
            "SELECT ",
            passkey_columns!(),
            " FROM passkeys p WHERE p.user_id = $1 ORDER BY p.created_at DESC, p.id DESC"
        ))
        .bind(user.0)
        .fetch_all(pool)
        .await)
        .map_err(unavailable)?;
        Ok(rows.into_iter().filter_map(passkey).collect())
    }

    /// The passkey `id` and its owner's handle.
    pub(crate) async fn passkey(
        &self,
        id: &PasskeyId,
    ) -> Result<Option<(StoredPasskey, Option<UserHandle>)>, Error> {
        type Joined = (
            String,
            i64,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, Joined>(concat!(
            "SELECT ",
            passkey_columns!(),
            ", u.webauthn_handle FROM passkeys p JOIN users u ON u.id = p.user_id WHERE p.id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(unavailable)?;
        Ok(
            row.and_then(|(id, user, name, credential, created, used, handle)| {
                let stored = passkey((id, user, name, credential, created, used))?;
                Some((stored, handle.as_deref().and_then(UserHandle::parse)))
            }),
        )
    }

    /// Adds a passkey to `user`; refused (400) if this credential is
    /// registered already, to anyone.
    pub(crate) async fn add_passkey(
        &self,
        user: UserId,
        name: &str,
        credential: &PasskeyCredential,
        now: Timestamp,
    ) -> Result<StoredPasskey, Error> {
        let id = credential.id();
        let added = with_pool!(self, pool => sqlx::query(
            "INSERT INTO passkeys (id, user_id, name, credential, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(user.0)
        .bind(name)
        .bind(credential.to_stored())
        .bind(now.as_millis())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(unavailable)?;
        if added == 0 {
            return Err(passkey_exists());
        }
        Ok(StoredPasskey {
            id,
            user_id: user,
            name: name.to_owned(),
            credential: credential.clone(),
            created_at: now,
            last_used_at: None,
        })
    }

    /// Creates a user without a password and its first passkey, in one
    /// transaction: `username_taken` (409) when the name exists in any
    /// case, 400 when the credential is registered already; then nothing
    /// is kept.
    pub(crate) async fn create_passkey_user(
        &self,
        username: &Username,
        handle: &UserHandle,
        name: &str,
        credential: &PasskeyCredential,
        now: Timestamp,
    ) -> Result<(User, StoredPasskey), Error> {
        let id = credential.id();
        let created: Result<Option<i64>, Error> = with_pool!(self, pool => async {
            let mut tx = pool.begin().await.map_err(unavailable)?;
            // DO NOTHING rather than an error: PostgreSQL aborts a
            // transaction after one.
            let user = sqlx::query_scalar::<_, i64>(
                "INSERT INTO users (username, username_key, password_hash, scopes, created_at, \
                 webauthn_handle) VALUES ($1, $2, $3, '', $4, $5) \
                 ON CONFLICT (username_key) DO NOTHING RETURNING id",
            )
            .bind(username.as_str())
            .bind(username.key())
            .bind(NO_PASSWORD)
            .bind(now.as_secs())
            .bind(handle.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
            let Some(user) = user else {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(None);
            };
            let added = sqlx::query(
                "INSERT INTO passkeys (id, user_id, name, credential, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(user)
            .bind(name)
            .bind(credential.to_stored())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
            if added == 0 {
                tx.rollback().await.map_err(unavailable)?;
                return Err(passkey_exists());
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(Some(user))
        }
        .await);
        let Some(user) = created? else {
            return Err(AccountRejection::UsernameTaken.into());
        };
        let user_id = UserId(user);
        Ok((
            User {
                id: user_id,
                username: username.as_str().to_owned(),
                password_hash: None,
                scopes: Vec::new(),
                roles: Vec::new(),
                disabled: false,
            },
            StoredPasskey {
                id,
                user_id,
                name: name.to_owned(),
                credential: credential.clone(),
                created_at: now,
                last_used_at: None,
            },
        ))
    }

    /// Records a login with the passkey `id`: its last use, and, when the
    /// login changed it, the credential (counter, backup flags). A write
    /// that comes after a later login's never lowers the counter.
    pub(crate) async fn passkey_used(
        &self,
        id: &PasskeyId,
        updated: Option<(&PasskeyCredential, u32)>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let done = match updated {
            Some((credential, counter)) => with_pool!(self, pool => sqlx::query(
                "UPDATE passkeys SET last_used_at = $1, credential = $2, sign_count = $3 \
                 WHERE id = $4 AND sign_count <= $3",
            )
            .bind(now.as_millis())
            .bind(credential.to_stored())
            .bind(i64::from(counter))
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|_| ())),
            None => with_pool!(self, pool => sqlx::query(
                "UPDATE passkeys SET last_used_at = $1 WHERE id = $2",
            )
            .bind(now.as_millis())
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|_| ())),
        };
        done.map_err(unavailable)
    }

    /// Removes `user`'s passkey `id`; `false` if `user` has none of that id.
    pub(crate) async fn remove_passkey(&self, user: UserId, id: &PasskeyId) -> Result<bool, Error> {
        let removed = with_pool!(self, pool => sqlx::query(
            "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
        )
        .bind(id.as_str())
        .bind(user.0)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(unavailable)?;
        Ok(removed == 1)
    }

    /// Keeps `ceremony` under `challenge` until `expires_at`. Expired
    /// ceremonies, and the oldest of its kind past the capacity, go first.
    pub(crate) async fn put_ceremony(
        &self,
        challenge: &str,
        ceremony: &Ceremony,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.put_ceremony_within(challenge, ceremony, expires_at, now, CAPACITY)
            .await
    }

    async fn put_ceremony_within(
        &self,
        challenge: &str,
        ceremony: &Ceremony,
        expires_at: Timestamp,
        now: Timestamp,
        capacity: i64,
    ) -> Result<(), Error> {
        let kind = ceremony.kind();
        // An OFFSET without a LIMIT: SQLite spells it LIMIT -1.
        let purge = if self.is_shared() {
            "DELETE FROM passkey_ceremonies WHERE expires_at <= $1 OR challenge IN \
             (SELECT challenge FROM passkey_ceremonies WHERE kind = $2 \
             ORDER BY expires_at DESC OFFSET $3)"
        } else {
            "DELETE FROM passkey_ceremonies WHERE expires_at <= $1 OR challenge IN \
             (SELECT challenge FROM passkey_ceremonies WHERE kind = $2 \
             ORDER BY expires_at DESC LIMIT -1 OFFSET $3)"
        };
        with_pool!(self, pool => sqlx::query(sqlx::AssertSqlSafe(purge))
            .bind(now.as_millis())
            .bind(kind)
            .bind(capacity - 1)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(unavailable)?;
        let (user, username, handle, data) = match ceremony {
            Ceremony::Register { user, state } => (Some(user.0), None, None, state.to_stored()),
            Ceremony::Signup {
                username,
                handle,
                state,
            } => (
                None,
                Some(username.as_str().to_owned()),
                Some(handle.to_string()),
                state.to_stored(),
            ),
            Ceremony::Login { user, state } => (user.map(|u| u.0), None, None, state.to_stored()),
        };
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO passkey_ceremonies (challenge, kind, user_id, username, handle, data, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(challenge)
        .bind(kind)
        .bind(user)
        .bind(username)
        .bind(handle)
        .bind(data.as_str())
        .bind(expires_at.as_millis())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(unavailable)
    }

    /// Takes (deletes and returns) the ceremony of `kind` kept under
    /// `challenge`, once; `None` if there is none, it is another kind or
    /// bound to another user (then it stays), or it expired by `now`.
    pub(crate) async fn take_ceremony(
        &self,
        challenge: &str,
        kind: CeremonyKind,
        now: Timestamp,
    ) -> Result<Option<Ceremony>, Error> {
        type Taken = (Option<i64>, Option<String>, Option<String>, String, i64);
        const RETURNING: &str = " RETURNING user_id, username, handle, data, expires_at";
        let row: Option<Taken> = match kind {
            CeremonyKind::Register(user) => {
                let sql = format!(
                    "DELETE FROM passkey_ceremonies WHERE challenge = $1 AND kind = 'register' \
                     AND user_id = $2{RETURNING}"
                );
                with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(challenge)
                    .bind(user.0)
                    .fetch_optional(pool)
                    .await)
            }
            CeremonyKind::Signup | CeremonyKind::Login => {
                let kind = if matches!(kind, CeremonyKind::Signup) {
                    "signup"
                } else {
                    "login"
                };
                let sql = format!(
                    "DELETE FROM passkey_ceremonies WHERE challenge = $1 AND kind = $2{RETURNING}"
                );
                with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(challenge)
                    .bind(kind)
                    .fetch_optional(pool)
                    .await)
            }
        }
        .map_err(unavailable)?;
        let Some((user, username, handle, data, expires_at)) = row else {
            return Ok(None);
        };
        let data = zeroize::Zeroizing::new(data);
        if Timestamp::from_millis(expires_at) <= now {
            return Ok(None);
        }
        Ok(match kind {
            CeremonyKind::Register(user) => RegistrationState::from_stored(&data)
                .map(|state| Ceremony::Register { user, state }),
            CeremonyKind::Signup => (|| {
                Some(Ceremony::Signup {
                    username: Username::parse(&username?).ok()?,
                    handle: UserHandle::parse(&handle?)?,
                    state: RegistrationState::from_stored(&data)?,
                })
            })(),
            CeremonyKind::Login => {
                AuthenticationState::from_stored(&data).map(|state| Ceremony::Login {
                    user: user.map(UserId),
                    state,
                })
            }
        })
    }

    /// Deletes the ceremonies that expired before `now`; how many.
    pub(crate) async fn purge_expired_ceremonies(
        &self,
        now: Timestamp,
    ) -> Result<u64, sqlx::Error> {
        let done = with_pool!(self, pool => sqlx::query(
            "DELETE FROM passkey_ceremonies WHERE expires_at <= $1",
        )
        .bind(now.as_millis())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use tokengate::passkeys::RelyingParty;

    use super::*;
    use crate::storage::{NewUser, on_both_backends};

    on_both_backends!(
        a_ceremony_is_taken_once_by_its_kind_and_user_and_never_expired,
        the_oldest_of_a_kind_go_past_the_capacity,
        a_handle_is_made_once,
    );

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn rp() -> RelyingParty {
        RelyingParty::new("localhost", "http://localhost:5000").unwrap()
    }

    fn login() -> Ceremony {
        let (_, state) = rp().start_discoverable_authentication().unwrap();
        Ceremony::Login { user: None, state }
    }

    fn register(user: UserId) -> Ceremony {
        let (_, state) = rp()
            .start_registration(&UserHandle::random(), "ada", &[])
            .unwrap();
        Ceremony::Register { user, state }
    }

    async fn user(db: &Database, name: &str) -> UserId {
        let password = tokengate::users::Password::for_login("a long password".into()).unwrap();
        let hash = tokengate::users::PasswordHasher::new(1)
            .hash_blocking(&password)
            .unwrap();
        db.create_user(NewUser {
            username: &Username::parse(name).unwrap(),
            password_hash: &hash,
            scopes: &[],
        })
        .await
        .unwrap()
        .id
    }

    async fn a_ceremony_is_taken_once_by_its_kind_and_user_and_never_expired(db: Database) {
        let (alice, bob) = (user(&db, "alice").await, user(&db, "bob").await);
        let now = at(1_000_000);
        db.put_ceremony("c1", &login(), at(1_300_000), now)
            .await
            .unwrap();
        // Another kind does not take it, nor spend it.
        let alices = CeremonyKind::Register(alice);
        assert!(db.take_ceremony("c1", alices, now).await.unwrap().is_none());
        assert!(
            db.take_ceremony("c1", CeremonyKind::Signup, now)
                .await
                .unwrap()
                .is_none()
        );
        let taken = db
            .take_ceremony("c1", CeremonyKind::Login, now)
            .await
            .unwrap();
        assert!(
            matches!(taken, Some(Ceremony::Login { user: None, .. })),
            "{taken:?}"
        );
        assert!(
            db.take_ceremony("c1", CeremonyKind::Login, now)
                .await
                .unwrap()
                .is_none()
        );

        db.put_ceremony("c2", &register(alice), at(1_300_000), now)
            .await
            .unwrap();
        // Bob cannot finish (or spend) Alice's registration.
        let bobs = CeremonyKind::Register(bob);
        assert!(db.take_ceremony("c2", bobs, now).await.unwrap().is_none());
        let taken = db.take_ceremony("c2", alices, now).await.unwrap();
        assert!(matches!(taken, Some(Ceremony::Register { user, .. }) if user == alice));

        // Expired: taken (spent) and refused, exactly at its expiry too.
        db.put_ceremony("c3", &login(), at(1_300_000), now)
            .await
            .unwrap();
        assert!(
            db.take_ceremony("c3", CeremonyKind::Login, at(1_300_000))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.take_ceremony("c3", CeremonyKind::Login, now)
                .await
                .unwrap()
                .is_none()
        );
        // The same challenge twice is refused: a challenge is random and used once.
        db.put_ceremony("c4", &login(), at(1_300_000), now)
            .await
            .unwrap();
        assert!(
            db.put_ceremony("c4", &login(), at(1_300_000), now)
                .await
                .is_err()
        );
        // A later put purges what has expired.
        db.put_ceremony("c5", &login(), at(2_000_000), at(1_300_000))
            .await
            .unwrap();
        assert!(
            db.take_ceremony("c4", CeremonyKind::Login, now)
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn the_oldest_of_a_kind_go_past_the_capacity(db: Database) {
        let alice = user(&db, "alice").await;
        let now = at(0);
        db.put_ceremony_within("r", &register(alice), at(500), now, 3)
            .await
            .unwrap();
        for (i, challenge) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let expires = at(1_000 + i as i64);
            db.put_ceremony_within(challenge, &login(), expires, now, 3)
                .await
                .unwrap();
        }
        assert!(
            db.take_ceremony("a", CeremonyKind::Login, now)
                .await
                .unwrap()
                .is_none()
        );
        for challenge in ["b", "c", "d"] {
            assert!(
                db.take_ceremony(challenge, CeremonyKind::Login, now)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        // Another kind's flood does not push a registration out.
        let taken = db
            .take_ceremony("r", CeremonyKind::Register(alice), now)
            .await
            .unwrap();
        assert!(taken.is_some());
    }

    async fn a_handle_is_made_once(db: Database) {
        let alice = user(&db, "alice").await;
        let first = db.webauthn_handle(alice).await.unwrap();
        assert_eq!(db.webauthn_handle(alice).await.unwrap(), first);
        let bob = user(&db, "bob").await;
        assert_ne!(db.webauthn_handle(bob).await.unwrap(), first);
        assert!(db.webauthn_handle(UserId(9_999)).await.is_err());
    }
}
