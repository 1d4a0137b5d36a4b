//! Logins with an OIDC provider: the link of a provider's account
//! (`provider`, `sub`) to a local user, created on the first login, and the
//! id_token of each login, kept for the provider's logout (`id_token_hint`).
//!
//! A local user is linked by (provider, sub) only, never by email: an email
//! can change hands, and a provider need not verify it.

use tokengate::AccountRejection;
use tokengate::Error;
use tokengate::users::Username;

use super::users::{Row, user};
use super::{Database, User, UserId, unavailable, with_pool};

/// The stored password hash of an account made by an OIDC login: not a PHC
/// string, so `PasswordHash::parse` refuses it and no password logs in.
const NO_PASSWORD: &str = "!oidc";

/// Suffixes `-2` ..= `-NUMBERED` are tried on a taken username before
/// random ones.
const NUMBERED: u32 = 20;

/// Random suffixes tried after the numbered ones.
const RANDOM: u32 = 4;

/// Rounds of (read the link, create the user and the link) before giving up:
/// a round ends early only when a concurrent login of the same account made
/// the link first, and the next round reads it.
const ROUNDS: u32 = 3;

const MAX_USERNAME: usize = 64;

/// What one attempt to create the user and its link did.
enum Created {
    /// The user and the link, committed.
    User(User),
    /// Someone linked this (provider, subject) first; nothing was kept.
    AlreadyLinked,
    /// Every candidate username was taken; nothing was kept.
    NoFreeName,
}

impl Database {
    /// The user linked to `subject` at `provider`; on the first login, a
    /// new user (no password, no scopes) and the link, in one transaction.
    ///
    /// The new username comes from `display_name` (a `preferred_username`,
    /// `name` or email; only the characters a username allows are kept, an
    /// email loses its domain), else `{provider}-user`; if taken (in any
    /// case) `-2`, `-3`, ... then a random suffix is appended. The name of
    /// a linked user never changes with the provider's.
    ///
    /// Concurrent first logins of one account end with one user and one
    /// link: the link's primary key decides, the losers roll back their
    /// user and read the winner's link.
    pub(crate) async fn user_for_oidc(
        &self,
        provider: &str,
        subject: &str,
        display_name: Option<&str>,
    ) -> Result<User, Error> {
        let base = base_username(display_name, provider);
        for _ in 0..ROUNDS {
            if let Some(found) = self.oidc_user(provider, subject).await? {
                return Ok(found);
            }
            match self
                .create_linked(provider, subject, &base)
                .await
                .map_err(unavailable)?
            {
                Created::User(created) => return Ok(created),
                Created::AlreadyLinked => continue,
                Created::NoFreeName => return Err(AccountRejection::UsernameTaken.into()),
            }
        }
        // Linked by another login every round, yet never readable: only a
        // link deleted as fast as it is made would do that.
        Err(unavailable(sqlx::Error::Protocol(format!(
            "the OIDC link of {provider:?} {subject:?} vanished {ROUNDS} times"
        ))))
    }

    /// The user linked to (`provider`, `subject`), if any.
    async fn oidc_user(&self, provider: &str, subject: &str) -> Result<Option<User>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            "SELECT u.id, u.username, u.password_hash, u.scopes, u.roles, u.disabled \
             FROM oidc_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.provider = $1 AND i.subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(pool)
        .await)
        .map(|row| row.map(user))
        .map_err(unavailable)
    }

    /// One transaction: the user under the first free candidate name, then
    /// the link. Its first statement writes, so on SQLite it waits for the
    /// write lock (busy timeout) instead of failing to upgrade a read.
    async fn create_linked(
        &self,
        provider: &str,
        subject: &str,
        base: &Username,
    ) -> Result<Created, sqlx::Error> {
        let now = tokengate::clock::now().as_secs();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut created = None;
            for attempt in 0..NUMBERED + RANDOM {
                let name = candidate(base, attempt);
                // DO NOTHING rather than an error: the transaction goes on
                // (PostgreSQL aborts one after an error), and a name being
                // inserted by another transaction is waited for.
                let id = sqlx::query_scalar::<_, i64>(
                    "INSERT INTO users (username, username_key, password_hash, scopes, created_at) \
                     VALUES ($1, $2, $3, '', $4) \
                     ON CONFLICT (username_key) DO NOTHING RETURNING id",
                )
                .bind(name.as_str())
                .bind(name.key())
                .bind(NO_PASSWORD)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = id {
                    created = Some((id, name));
                    break;
                }
            }
            let Some((id, name)) = created else {
                tx.rollback().await?;
                return Ok(Created::NoFreeName);
            };
            let linked = sqlx::query(
                "INSERT INTO oidc_identities (provider, subject, user_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subject) DO NOTHING",
            )
            .bind(provider)
            .bind(subject)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if linked == 0 {
                // A concurrent first login linked this account: drop our user.
                tx.rollback().await?;
                return Ok(Created::AlreadyLinked);
            }
            tx.commit().await?;
            Ok(Created::User(User {
                id: UserId(id),
                username: name.into_string(),
                password_hash: None,
                scopes: Vec::new(),
                roles: Vec::new(),
                disabled: false,
            }))
        })
    }

    /// Keeps the id_token of the login `family` at `provider` until
    /// `expires_at` (replacing one saved for that family).
    pub(crate) async fn save_oidc_login(
        &self,
        family: &str,
        provider: &str,
        id_token: &str,
        expires_at: i64,
    ) -> Result<(), Error> {
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO oidc_logins (family, provider, id_token, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (family) DO UPDATE SET provider = excluded.provider, \
             id_token = excluded.id_token, expires_at = excluded.expires_at",
        )
        .bind(family)
        .bind(provider)
        .bind(id_token)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(unavailable)
    }

    /// The provider and id_token of the login `family`, if it was an OIDC
    /// login and has not been deleted or purged (an expired row not yet
    /// purged is returned: providers accept an expired `id_token_hint`).
    pub(crate) async fn oidc_login(&self, family: &str) -> Result<Option<(String, String)>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, (String, String)>(
            "SELECT provider, id_token FROM oidc_logins WHERE family = $1",
        )
        .bind(family)
        .fetch_optional(pool)
        .await)
        .map_err(unavailable)
    }

    /// The provider accounts linked to `user`: `(provider, subject)`, oldest first.
    pub(crate) async fn oidc_identities(
        &self,
        user: UserId,
    ) -> Result<Vec<(String, String)>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, (String, String)>(
            "SELECT provider, subject FROM oidc_identities WHERE user_id = $1 ORDER BY created_at, provider",
        )
        .bind(user.0)
        .fetch_all(pool)
        .await)
        .map_err(unavailable)
    }

    /// Forgets the id_token of the login `family` (no-op if none).
    pub(crate) async fn delete_oidc_login(&self, family: &str) -> Result<(), Error> {
        with_pool!(self, pool => sqlx::query("DELETE FROM oidc_logins WHERE family = $1")
            .bind(family)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(unavailable)
    }

    /// Deletes the id_tokens of logins that expired before `now`; how many.
    pub(crate) async fn purge_expired_oidc_logins(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = with_pool!(self, pool => sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done)
    }
}

/// Keeps the characters a username allows; whitespace becomes `.`; runs of
/// `.`, `_`, `-` become their first, and none starts or ends the result.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_USERNAME));
    for c in text.chars() {
        let c = if c.is_whitespace() { '.' } else { c };
        let separator = matches!(c, '.' | '_' | '-');
        let keep = if separator {
            !out.is_empty() && !out.ends_with(['.', '_', '-'])
        } else {
            c.is_ascii_alphanumeric()
        };
        if keep {
            out.push(c);
        }
        if out.len() == MAX_USERNAME {
            break;
        }
    }
    out.trim_end_matches(['.', '_', '-']).to_owned()
}

/// The username an OIDC account asks for: from `display_name` (an email
/// without its domain), else `{provider}-user`, else `oidc-user`.
fn base_username(display_name: Option<&str>, provider: &str) -> Username {
    let from_display = display_name.map(|name| {
        let name = name.trim();
        // An email: the local part (the last `@` starts the domain).
        sanitize(name.rsplit_once('@').map_or(name, |(local, _)| local))
    });
    from_display
        .and_then(|name| Username::parse(&name).ok())
        .or_else(|| {
            let provider = sanitize(provider);
            let provider = &provider[..provider.len().min(MAX_USERNAME - "-user".len())];
            // Not `-user`: a provider with no usable character is `oidc`.
            (!provider.is_empty())
                .then(|| Username::parse(&format!("{provider}-user")).ok())
                .flatten()
        })
        .unwrap_or_else(|| Username::parse("oidc-user").expect("a valid username"))
}

/// The name of attempt `n`: `base`, then `base-2` ..= `base-NUMBERED`, then
/// `base-` and 8 random hex digits; `base` is shortened to keep within 64.
fn candidate(base: &Username, n: u32) -> Username {
    let suffix = match n {
        0 => return base.clone(),
        n if n < NUMBERED => format!("-{}", n + 1),
        _ => format!("-{}", &tokengate::token::random_id()[..8]),
    };
    // ASCII only: any byte index is a character boundary.
    let kept = base.as_str().len().min(MAX_USERNAME - suffix.len());
    Username::parse(&format!("{}{suffix}", &base.as_str()[..kept]))
        .expect("a valid username and a suffix of valid characters")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tokengate::users::{Password, PasswordHash, PasswordHasher};

    use super::*;
    use crate::storage::{NewUser, on_both_backends};

    on_both_backends!(
        a_linked_account_logs_in_as_the_same_user,
        one_subject_at_two_providers_is_two_users,
        a_taken_name_gets_a_suffix_and_the_owner_is_untouched,
        concurrent_first_logins_make_one_user_and_one_link,
        concurrent_first_logins_of_different_accounts_with_one_name,
        an_oidc_user_has_no_password,
        login_id_tokens_are_saved_read_deleted_and_purged,
    );

    async fn count(db: &Database, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await)
        .unwrap()
    }

    async fn a_linked_account_logs_in_as_the_same_user(db: Database) {
        let first = db
            .user_for_oidc("google", "1234", Some("Alice Smith"))
            .await
            .unwrap();
        assert_eq!(first.username, "Alice.Smith");
        assert!(first.scopes.is_empty());
        // The provider's name changed: the local one does not.
        let again = db
            .user_for_oidc("google", "1234", Some("Alice Jones"))
            .await
            .unwrap();
        assert_eq!(
            (again.id, again.username.as_str()),
            (first.id, "Alice.Smith")
        );
        let none = db.user_for_oidc("google", "1234", None).await.unwrap();
        assert_eq!(none.id, first.id);
        assert_eq!(
            (
                count(&db, "users").await,
                count(&db, "oidc_identities").await
            ),
            (1, 1)
        );
    }

    async fn one_subject_at_two_providers_is_two_users(db: Database) {
        let google = db
            .user_for_oidc("google", "42", Some("dave"))
            .await
            .unwrap();
        let github = db
            .user_for_oidc("github", "42", Some("dave"))
            .await
            .unwrap();
        assert_ne!(google.id, github.id);
        assert_eq!(
            (google.username.as_str(), github.username.as_str()),
            ("dave", "dave-2")
        );
        assert_eq!(
            db.user_for_oidc("github", "42", None).await.unwrap().id,
            github.id
        );
        // No display name: named after the provider.
        let anonymous = db.user_for_oidc("github", "43", None).await.unwrap();
        assert_eq!(anonymous.username, "github-user");
        assert_eq!(
            (
                count(&db, "users").await,
                count(&db, "oidc_identities").await
            ),
            (3, 3)
        );
    }

    async fn a_taken_name_gets_a_suffix_and_the_owner_is_untouched(db: Database) {
        let password = Password::for_login("a long password".into()).unwrap();
        let hash = PasswordHasher::new(1).hash_blocking(&password).unwrap();
        let alice = Username::parse("alice").unwrap();
        let local = db
            .create_user(NewUser {
                username: &alice,
                password_hash: &hash,
                scopes: &["read:messages".into()],
            })
            .await
            .unwrap();
        let linked = db
            .user_for_oidc("google", "g-1", Some("ALICE@example.com"))
            .await
            .unwrap();
        assert_ne!(linked.id, local.id);
        assert_eq!(linked.username, "ALICE-2");
        let next = db
            .user_for_oidc("google", "g-2", Some("Alice"))
            .await
            .unwrap();
        assert_eq!(next.username, "Alice-3");

        let owner = db.user_by_name(&alice).await.unwrap().unwrap();
        assert_eq!((owner.id, owner.username.as_str()), (local.id, "alice"));
        assert_eq!(owner.password_hash.as_ref(), Some(&hash));
        assert_eq!(owner.scopes, ["read:messages"]);
        // The local account stays unlinked: logging in as g-1 is ALICE-2.
        assert_eq!(
            db.user_for_oidc("google", "g-1", Some("alice"))
                .await
                .unwrap()
                .id,
            linked.id
        );
    }

    async fn concurrent_first_logins_make_one_user_and_one_link(db: Database) {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { db.user_for_oidc("google", "tabs", Some("carol")).await })
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            let user = task.await.unwrap().unwrap();
            assert_eq!(user.username, "carol");
            ids.insert(user.id);
        }
        assert_eq!(ids.len(), 1);
        assert_eq!(
            (
                count(&db, "users").await,
                count(&db, "oidc_identities").await
            ),
            (1, 1)
        );
    }

    async fn concurrent_first_logins_of_different_accounts_with_one_name(db: Database) {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.user_for_oidc("google", &format!("erin-{i}"), Some("erin"))
                        .await
                })
            })
            .collect();
        let mut names = HashSet::new();
        for task in tasks {
            names.insert(task.await.unwrap().unwrap().username);
        }
        let expected: HashSet<String> = std::iter::once("erin".to_owned())
            .chain((2..=8).map(|n| format!("erin-{n}")))
            .collect();
        assert_eq!(names, expected);
        assert_eq!(
            (
                count(&db, "users").await,
                count(&db, "oidc_identities").await
            ),
            (8, 8)
        );
    }

    async fn an_oidc_user_has_no_password(db: Database) {
        assert!(PasswordHash::parse(NO_PASSWORD).is_err());
        let created = db
            .user_for_oidc("google", "p", Some("frank"))
            .await
            .unwrap();
        assert!(created.password_hash.is_none());
        let stored = db.user_by_id(created.id).await.unwrap().unwrap();
        assert!(stored.password_hash.is_none());
        let column = with_pool!(db, pool => sqlx::query_scalar::<_, String>(
            "SELECT password_hash FROM users WHERE id = $1",
        )
        .bind(created.id.0)
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(column, NO_PASSWORD);
        assert!(PasswordHash::parse(&column).is_err());
    }

    async fn login_id_tokens_are_saved_read_deleted_and_purged(db: Database) {
        assert_eq!(db.oidc_login("f1").await.unwrap(), None);
        db.save_oidc_login("f1", "google", "id.token.one", 100)
            .await
            .unwrap();
        db.save_oidc_login("f2", "github", "id.token.two", 200)
            .await
            .unwrap();
        db.save_oidc_login("f3", "google", "id.token.three", 300)
            .await
            .unwrap();
        assert_eq!(
            db.oidc_login("f1").await.unwrap(),
            Some(("google".into(), "id.token.one".into()))
        );
        // Saved again: replaced.
        db.save_oidc_login("f2", "github", "id.token.two.b", 250)
            .await
            .unwrap();
        assert_eq!(
            db.oidc_login("f2").await.unwrap(),
            Some(("github".into(), "id.token.two.b".into()))
        );

        db.delete_oidc_login("f3").await.unwrap();
        db.delete_oidc_login("f3").await.unwrap();
        assert_eq!(db.oidc_login("f3").await.unwrap(), None);

        assert_eq!(db.purge_expired_oidc_logins(100).await.unwrap(), 0);
        assert_eq!(db.purge_expired_oidc_logins(200).await.unwrap(), 1);
        assert_eq!(db.oidc_login("f1").await.unwrap(), None);
        assert!(db.oidc_login("f2").await.unwrap().is_some());
        assert_eq!(db.purge_expired_oidc_logins(i64::MAX).await.unwrap(), 1);
        assert_eq!(count(&db, "oidc_logins").await, 0);
    }

    #[test]
    fn usernames_from_display_names() {
        let name =
            |display: Option<&str>, provider: &str| base_username(display, provider).into_string();
        assert_eq!(name(Some("alice"), "p"), "alice");
        assert_eq!(name(Some("  Alice   Smith "), "p"), "Alice.Smith");
        assert_eq!(name(Some("alice.smith@example.com"), "p"), "alice.smith");
        assert_eq!(name(Some("\"a@bc\"@example.com"), "p"), "abc");
        assert_eq!(name(Some("O'Brien, Seán"), "p"), "OBrien.Sen");
        assert_eq!(name(Some("--jo__"), "p"), "p-user");
        assert_eq!(name(Some("__joe--"), "p"), "joe");
        assert_eq!(name(Some("a - b"), "p"), "a.b");
        assert_eq!(name(Some("名前です"), "google"), "google-user");
        assert_eq!(name(Some("ab"), "google"), "google-user");
        assert_eq!(name(Some(""), "google"), "google-user");
        assert_eq!(name(None, "my provider!"), "my.provider-user");
        assert_eq!(name(None, "名"), "oidc-user");
        let long = "x".repeat(100);
        assert_eq!(name(Some(&long), "p"), "x".repeat(64));
        assert_eq!(name(None, &long), format!("{}-user", "x".repeat(59)));
    }

    #[test]
    fn candidates_fit_the_username_rule() {
        let base = Username::parse("bob").unwrap();
        assert_eq!(candidate(&base, 0).as_str(), "bob");
        assert_eq!(candidate(&base, 1).as_str(), "bob-2");
        assert_eq!(
            candidate(&base, NUMBERED - 1).as_str(),
            format!("bob-{NUMBERED}")
        );
        let random = candidate(&base, NUMBERED);
        assert_eq!(random.as_str().len(), "bob-".len() + 8);
        assert_ne!(random.as_str(), candidate(&base, NUMBERED).as_str());

        let long = Username::parse(&"y".repeat(64)).unwrap();
        assert_eq!(
            candidate(&long, 1).as_str(),
            format!("{}-2", "y".repeat(62))
        );
        assert_eq!(candidate(&long, NUMBERED).as_str().len(), 64);
    }
}
