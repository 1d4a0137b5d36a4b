//! Memos of the browser demo: short notes, each owned by one user.
//!
//! Every query is filtered by `user_id`: another user's memo is not found,
//! exactly as a memo that does not exist, so no route can tell them apart.

use tokengate::Error;

use super::{Database, UserId, unavailable, with_pool};

/// A memo's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct MemoId(pub i64);

/// A stored memo, as the API shows it: `{"id","title","body","archived"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Memo {
    pub id: MemoId,
    pub title: String,
    pub body: String,
    pub archived: bool,
}

/// The fields to change; `None` keeps the stored value.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoUpdate {
    pub title: Option<String>,
    pub body: Option<String>,
    pub archived: Option<bool>,
}

/// A `memos` row: id, title, body, archived (0/1 on both backends).
type Row = (i64, String, String, i64);

fn memo((id, title, body, archived): Row) -> Memo {
    Memo {
        id: MemoId(id),
        title,
        body,
        archived: archived != 0,
    }
}

impl Database {
    /// The memos of `user`, newest first.
    pub(crate) async fn memos(&self, user: UserId) -> Result<Vec<Memo>, Error> {
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            "SELECT id, title, body, archived FROM memos WHERE user_id = $1 ORDER BY id DESC",
        )
            .bind(user.0)
            .fetch_all(pool)
            .await)
        .map(|rows| rows.into_iter().map(memo).collect())
        .map_err(unavailable)
    }

    /// Creates a memo of `user` (not archived).
    pub(crate) async fn create_memo(
        &self,
        user: UserId,
        title: &str,
        body: &str,
    ) -> Result<Memo, Error> {
        let now = tokengate::clock::now().as_secs();
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            "INSERT INTO memos (user_id, title, body, archived, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) RETURNING id, title, body, archived",
        )
            .bind(user.0)
            .bind(title)
            .bind(body)
            .bind(now)
            .fetch_one(pool)
            .await)
        .map(memo)
        .map_err(unavailable)
    }

    /// Changes the fields `update` names of the memo `id` of `user`, in one
    /// statement; `None` if `user` has no such memo.
    pub(crate) async fn update_memo(
        &self,
        user: UserId,
        id: MemoId,
        update: MemoUpdate,
    ) -> Result<Option<Memo>, Error> {
        let now = tokengate::clock::now().as_secs();
        with_pool!(self, pool => sqlx::query_as::<_, Row>(
            "UPDATE memos SET title = COALESCE($3, title), body = COALESCE($4, body), \
             archived = COALESCE($5, archived), updated_at = $6 \
             WHERE id = $1 AND user_id = $2 RETURNING id, title, body, archived",
        )
            .bind(id.0)
            .bind(user.0)
            .bind(update.title)
            .bind(update.body)
            .bind(update.archived.map(i64::from))
            .bind(now)
            .fetch_optional(pool)
            .await)
        .map(|row| row.map(memo))
        .map_err(unavailable)
    }

    /// Deletes the memo `id` of `user`; whether there was one.
    pub(crate) async fn delete_memo(&self, user: UserId, id: MemoId) -> Result<bool, Error> {
        with_pool!(self, pool => sqlx::query("DELETE FROM memos WHERE id = $1 AND user_id = $2")
            .bind(id.0)
            .bind(user.0)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use tokengate::users::{Password, PasswordHasher, Username};

    use super::*;
    use crate::storage::{NewUser, on_both_backends};

    on_both_backends!(
        memos_are_created_listed_newest_first_updated_and_deleted,
        another_users_memo_is_not_found,
        text_is_stored_as_given,
    );

    async fn user(db: &Database, name: &str) -> UserId {
        let password = Password::for_login("a long password".into()).unwrap();
        let hash = PasswordHasher::new(1).hash_blocking(&password).unwrap();
        db.create_user(NewUser {
            username: &Username::parse(name).unwrap(),
            password_hash: &hash,
            scopes: &[],
        })
        .await
        .unwrap()
        .id
    }

    async fn memos_are_created_listed_newest_first_updated_and_deleted(db: Database) {
        let alice = user(&db, "alice").await;
        assert!(db.memos(alice).await.unwrap().is_empty());
        let first = db.create_memo(alice, "groceries", "milk").await.unwrap();
        assert_eq!(
            (first.title.as_str(), first.body.as_str(), first.archived),
            ("groceries", "milk", false)
        );
        let second = db.create_memo(alice, "todo", "").await.unwrap();
        assert_ne!(first.id, second.id);
        assert_eq!(
            db.memos(alice).await.unwrap(),
            [second.clone(), first.clone()]
        );

        // Only the named fields change.
        let archived = db
            .update_memo(
                alice,
                first.id,
                MemoUpdate {
                    archived: Some(true),
                    ..MemoUpdate::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            archived,
            Memo {
                archived: true,
                ..first.clone()
            }
        );
        let renamed = db
            .update_memo(
                alice,
                first.id,
                MemoUpdate {
                    title: Some("shopping".into()),
                    body: Some("milk, eggs".into()),
                    archived: Some(false),
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                renamed.title.as_str(),
                renamed.body.as_str(),
                renamed.archived
            ),
            ("shopping", "milk, eggs", false)
        );
        let unchanged = db
            .update_memo(alice, first.id, MemoUpdate::default())
            .await
            .unwrap();
        assert_eq!(unchanged.as_ref(), Some(&renamed));
        assert_eq!(db.memos(alice).await.unwrap(), [second.clone(), renamed]);

        assert!(db.delete_memo(alice, first.id).await.unwrap());
        assert!(!db.delete_memo(alice, first.id).await.unwrap());
        assert_eq!(
            db.update_memo(alice, first.id, MemoUpdate::default())
                .await
                .unwrap(),
            None
        );
        assert_eq!(db.memos(alice).await.unwrap(), [second]);
        assert_eq!(
            db.update_memo(alice, MemoId(i64::MAX), MemoUpdate::default())
                .await
                .unwrap(),
            None
        );
    }

    async fn another_users_memo_is_not_found(db: Database) {
        let alice = user(&db, "alice").await;
        let bob = user(&db, "bob").await;
        let memo = db.create_memo(alice, "secret", "alice's").await.unwrap();
        let own = db.create_memo(bob, "mine", "bob's").await.unwrap();

        assert_eq!(db.memos(bob).await.unwrap(), std::slice::from_ref(&own));
        assert_eq!(
            db.update_memo(
                bob,
                memo.id,
                MemoUpdate {
                    title: Some("stolen".into()),
                    body: Some("".into()),
                    archived: Some(true),
                },
            )
            .await
            .unwrap(),
            None
        );
        assert!(!db.delete_memo(bob, memo.id).await.unwrap());
        // Alice's memo is untouched; and she cannot reach Bob's either.
        assert_eq!(db.memos(alice).await.unwrap(), std::slice::from_ref(&memo));
        assert!(!db.delete_memo(alice, own.id).await.unwrap());
        assert_eq!(db.memos(bob).await.unwrap(), [own]);
    }

    async fn text_is_stored_as_given(db: Database) {
        let alice = user(&db, "alice").await;
        let body = "line 1\nline 2 — ünïcødé 🎉 'quotes' \"double\" $1 %";
        let memo = db.create_memo(alice, "Ünïcødé ✓", body).await.unwrap();
        assert_eq!(db.memos(alice).await.unwrap(), std::slice::from_ref(&memo));
        assert_eq!(memo.body, body);
        assert_eq!(memo.title, "Ünïcødé ✓");
    }
}
