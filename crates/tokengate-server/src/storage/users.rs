//! Users: registration (unique case-insensitively, by the database), lookup, scopes.

use std::fmt;
use tokengate::AccountRejection;

use tokengate::Error;
use tokengate::users::{PasswordHash, Username};

use super::{Database, unavailable, with_pool};

/// A user's id: the `sub` of their tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// Id.
    pub id: UserId,
    /// The name as registered.
    pub username: String,
    /// The argon2id hash; `None` if the stored text is not a hash (no password then matches).
    pub password_hash: Option<PasswordHash>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Disabled by an admin: no login, no refresh, no loading as a user.
    pub disabled: bool,
}

impl tokengate::axum::Identity for User {
    fn identity(&self) -> String {
        self.id.to_string()
    }

    fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }

    fn roles(&self) -> Vec<String> {
        self.roles.clone()
    }
}

/// A user to create.
#[derive(Debug)]
pub(crate) struct NewUser<'a> {
    /// The name.
    pub username: &'a Username,
    /// Its hash.
    pub password_hash: &'a PasswordHash,
    /// Initial scopes.
    pub scopes: &'a [String],
}

/// A `users` row: id, username, password_hash, scopes, roles, disabled.
pub(super) type Row = (i64, String, String, String, String, i64);

/// The columns of a [`Row`], in its order (a macro, for `concat!`).
macro_rules! user_columns {
    () => {
        "id, username, password_hash, scopes, roles, disabled"
    };
}

pub(super) fn user((id, username, hash, scopes, roles, disabled): Row) -> User {
    let words = |text: &str| text.split_whitespace().map(str::to_owned).collect();
    User {
        id: UserId(id),
        username,
        password_hash: PasswordHash::parse(&hash).ok(),
        scopes: words(&scopes),
        roles: words(&roles),
        disabled: disabled != 0,
    }
}

/// What an admin grants a user: a list column of `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// A scope: the `scope` claim.
    Scope,
    /// A role: the `roles` claim.
    Role,
}

impl Database {
    /// Creates a user; `username_taken` when the name exists in any case.
    pub(crate) async fn create_user(&self, new: NewUser<'_>) -> Result<User, Error> {
        let scopes = new.scopes.join(" ");
        let result = with_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, username_key, password_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(new.username.as_str())
        .bind(new.username.key())
        .bind(new.password_hash.as_str())
        .bind(&scopes)
        .bind(tokengate::clock::now().as_secs())
        .fetch_one(pool)
        .await);
        match result {
            Ok(id) => Ok(User {
                id: UserId(id),
                username: new.username.as_str().to_owned(),
                password_hash: Some(new.password_hash.clone()),
                scopes: new.scopes.to_vec(),
                roles: Vec::new(),
                disabled: false,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(AccountRejection::UsernameTaken.into())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The user of this name, in any case.
    pub(crate) async fn user_by_name(&self, username: &Username) -> Result<Option<User>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            concat!("SELECT ", user_columns!(), " FROM users WHERE username_key = $1"),
        )
        .bind(username.key())
        .fetch_optional(pool)
        .await)
        .map(|row| row.map(user))
        .map_err(unavailable)
    }

    /// The user of this id (a token's `sub`).
    pub(crate) async fn user_by_id(&self, id: UserId) -> Result<Option<User>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
        )
        .bind(id.0)
        .fetch_optional(pool)
        .await)
        .map(|row| row.map(user))
        .map_err(unavailable)
    }

    /// Every user, by id.
    pub(crate) async fn users(&self) -> Result<Vec<User>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            concat!("SELECT ", user_columns!(), " FROM users ORDER BY id"),
        )
        .fetch_all(pool)
        .await)
        .map(|rows| rows.into_iter().map(user).collect())
        .map_err(unavailable)
    }

    /// Adds a scope or a role to a user (no-op if held); `false` if no such user.
    pub(crate) async fn grant(
        &self,
        username: &Username,
        grant: Grant,
        value: &str,
    ) -> Result<bool, Error> {
        self.update_grants(username, grant, |held| {
            if !held.iter().any(|s| s == value) {
                held.push(value.to_owned());
            }
        })
        .await
    }

    /// Removes a scope or a role from a user (no-op if not held); `false`
    /// if no such user.
    pub(crate) async fn revoke_grant(
        &self,
        username: &Username,
        grant: Grant,
        value: &str,
    ) -> Result<bool, Error> {
        self.update_grants(username, grant, |held| held.retain(|s| s != value))
            .await
    }

    /// Rewrites one list column of a user with `change`; `false` if no such user.
    async fn update_grants(
        &self,
        username: &Username,
        grant: Grant,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<bool, Error> {
        let Some(found) = self.user_by_name(username).await? else {
            return Ok(false);
        };
        let (mut held, update) = match grant {
            Grant::Scope => (found.scopes, "UPDATE users SET scopes = $1 WHERE id = $2"),
            Grant::Role => (found.roles, "UPDATE users SET roles = $1 WHERE id = $2"),
        };
        let before = held.clone();
        change(&mut held);
        if held != before {
            with_pool!(self, pool => sqlx::query(update)
                .bind(held.join(" "))
                .bind(found.id.0)
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(unavailable)?;
        }
        Ok(true)
    }

    /// Disables or enables a user.
    pub(crate) async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), Error> {
        with_pool!(self, pool => sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id.0)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(unavailable)
    }

    /// Deletes a user with its memos, its linked provider accounts and its
    /// passkeys.
    pub(crate) async fn remove_user(&self, id: UserId) -> Result<(), Error> {
        for statement in [
            "DELETE FROM memos WHERE user_id = $1",
            "DELETE FROM oidc_identities WHERE user_id = $1",
            "DELETE FROM passkeys WHERE user_id = $1",
            "DELETE FROM passkey_ceremonies WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            with_pool!(self, pool => sqlx::query(statement)
                .bind(id.0)
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Replaces a user's password hash.
    pub(crate) async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<(), Error> {
        with_pool!(self, pool => sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.as_str())
            .bind(id.0)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokengate::users::{Password, PasswordHasher};

    use super::*;
    use crate::storage::on_both_backends;

    on_both_backends!(
        names_are_unique_in_any_case,
        one_of_many_concurrent_registrations_wins
    );

    fn hash() -> PasswordHash {
        // Any well-formed hash: these tests never verify a password.
        let password = Password::for_login("a long password".into()).unwrap();
        PasswordHasher::new(1).hash_blocking(&password).unwrap()
    }

    async fn names_are_unique_in_any_case(db: Database) {
        let hash = hash();
        let alice = Username::parse("Alice").unwrap();
        let created = db
            .create_user(NewUser {
                username: &alice,
                password_hash: &hash,
                scopes: &["read:messages".into()],
            })
            .await
            .unwrap();
        let shouting = Username::parse("ALICE").unwrap();
        let again = db
            .create_user(NewUser {
                username: &shouting,
                password_hash: &hash,
                scopes: &[],
            })
            .await;
        assert!(
            matches!(again, Err(Error::Account(AccountRejection::UsernameTaken))),
            "{again:?}"
        );
        let found = db.user_by_name(&shouting).await.unwrap().unwrap();
        assert_eq!((found.id, found.username.as_str()), (created.id, "Alice"));
        assert_eq!(found.scopes, ["read:messages"]);
        assert!(
            db.grant(&alice, Grant::Scope, "write:messages")
                .await
                .unwrap()
        );
        let by_id = db.user_by_id(created.id).await.unwrap().unwrap();
        assert_eq!(by_id.scopes, ["read:messages", "write:messages"]);
        assert!(by_id.roles.is_empty());
        // Roles are granted alike, once each.
        assert!(db.grant(&alice, Grant::Role, "admin").await.unwrap());
        assert!(db.grant(&alice, Grant::Role, "admin").await.unwrap());
        assert!(db.grant(&alice, Grant::Role, "ops").await.unwrap());
        let found = db.user_by_name(&alice).await.unwrap().unwrap();
        assert_eq!(found.roles, ["admin", "ops"]);
        assert_eq!(found.scopes, ["read:messages", "write:messages"]);
        let nobody = Username::parse("nobody").unwrap();
        assert!(!db.grant(&nobody, Grant::Role, "admin").await.unwrap());
        assert_eq!(db.users().await.unwrap().len(), 1);
    }

    async fn one_of_many_concurrent_registrations_wins(db: Database) {
        let hash = Arc::new(hash());
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (db, hash) = (db.clone(), hash.clone());
                tokio::spawn(async move {
                    // Different cases of one name: the database decides.
                    let name = if i % 2 == 0 { "bob" } else { "BOB" };
                    let username = Username::parse(name).unwrap();
                    db.create_user(NewUser {
                        username: &username,
                        password_hash: &hash,
                        scopes: &[],
                    })
                    .await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::Account(AccountRejection::UsernameTaken)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}
