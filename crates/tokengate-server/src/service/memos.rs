//! Memos of the browser demo (issue 7): `GET`/`POST /api/memos`,
//! `PUT`/`DELETE /api/memos/{id}`, for the user of this service's access
//! token (Authorization header, or cookies with the CSRF header on unsafe
//! methods: the gate checks it). Another user's memo, an unknown id and an
//! id that is not a number are all 404 `not_found`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use tokengate::Error;
use tokengate::axum::{AccessToken, FirstParty, IssuedBy};

use super::AppState;
use super::auth::subject;
use super::body::JsonBody;
use crate::storage::{Memo, MemoId, MemoUpdate, UserId};

/// The longest title, in characters (after trimming).
const MAX_TITLE: usize = 200;
/// The longest body, in characters.
const MAX_BODY: usize = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/memos", get(list).post(create))
        .route("/api/memos/{id}", put(update).delete(delete))
}

#[derive(Deserialize)]
struct NewMemo {
    title: String,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
struct Changes {
    title: Option<String>,
    body: Option<String>,
    archived: Option<bool>,
}

/// The local user of a first-party access token; a deleted user's tokens
/// are refused (401 `invalid_token`).
async fn owner(
    state: &AppState,
    token: &IssuedBy<FirstParty, AccessToken>,
) -> Result<UserId, Error> {
    Ok(subject(state, token.subject()).await?.id)
}

/// A title of 1..=200 characters once trimmed; the trimmed text is kept.
fn title(title: &str) -> Result<String, Error> {
    let trimmed = title.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > MAX_TITLE {
        return Err(Error::InvalidRequest(format!(
            "title must be 1-{MAX_TITLE} characters (not only spaces)"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A body of at most 10 000 characters, kept as given.
fn body(body: String) -> Result<String, Error> {
    if body.chars().count() > MAX_BODY {
        return Err(Error::InvalidRequest(format!(
            "body must be at most {MAX_BODY} characters"
        )));
    }
    Ok(body)
}

/// The memo id of the path: anything that is not one is a memo that does
/// not exist.
fn memo_id(path: Result<Path<String>, PathRejection>) -> Result<MemoId, Error> {
    let Ok(Path(id)) = path else {
        return Err(Error::NotFound);
    };
    id.parse().map(MemoId).map_err(|_| Error::NotFound)
}

async fn list(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Vec<Memo>>, Error> {
    let user = owner(&state, &token).await?;
    Ok(Json(state.db.memos(user).await?))
}

async fn create(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    JsonBody(new): JsonBody<NewMemo>,
) -> Result<(StatusCode, Json<Memo>), Error> {
    let title = title(&new.title)?;
    let body = body(new.body)?;
    let user = owner(&state, &token).await?;
    let memo = state.db.create_memo(user, &title, &body).await?;
    Ok((StatusCode::CREATED, Json(memo)))
}

async fn update(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(changes): JsonBody<Changes>,
) -> Result<Json<Memo>, Error> {
    let id = memo_id(path)?;
    let update = MemoUpdate {
        title: changes.title.as_deref().map(title).transpose()?,
        body: changes.body.map(body).transpose()?,
        archived: changes.archived,
    };
    let user = owner(&state, &token).await?;
    state
        .db
        .update_memo(user, id, update)
        .await?
        .map(Json)
        .ok_or(Error::NotFound)
}

async fn delete(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Error> {
    let id = memo_id(path)?;
    let user = owner(&state, &token).await?;
    if state.db.delete_memo(user, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound)
    }
}
