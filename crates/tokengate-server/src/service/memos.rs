//! Memos of the browser demo: `GET`/`POST /api/memos`,
//! `PUT`/`DELETE /api/memos/{id}`, for the user of this service's access
//! token (Authorization header, or cookies with the CSRF header on unsafe
//! methods: the gate checks it). Another user's memo, an unknown id and an
//! id that is not a number are all 404 `not_found`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokengate::Error;
use tokengate::RequestRejection;
use tokengate::axum::{AccessToken, FirstParty, IssuedBy};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::subject;
use super::body::JsonBody;
use super::openapi::{InvalidRequest, NotFound, Unauthorized, Unavailable};
use crate::storage::{Memo, MemoId, MemoUpdate, UserId};

/// The longest title, in characters (after trimming).
const MAX_TITLE: usize = 200;
/// The longest body, in characters.
const MAX_BODY: usize = 10_000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

/// A new memo.
#[derive(Deserialize, ToSchema)]
struct NewMemo {
    /// 1–200 characters once trimmed.
    title: String,
    /// At most 10 000 characters.
    #[serde(default)]
    body: String,
}

/// The fields to change; those left out keep their value.
#[derive(Deserialize, ToSchema)]
struct Changes {
    /// 1–200 characters once trimmed.
    title: Option<String>,
    /// At most 10 000 characters.
    body: Option<String>,
    archived: Option<bool>,
}

/// A memo, as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Memo)]
struct MemoBody {
    id: i64,
    title: String,
    body: String,
    archived: bool,
}

impl From<Memo> for MemoBody {
    fn from(memo: Memo) -> MemoBody {
        MemoBody {
            id: memo.id.0,
            title: memo.title,
            body: memo.body,
            archived: memo.archived,
        }
    }
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
        return Err(RequestRejection::Invalid(format!(
            "title must be 1-{MAX_TITLE} characters (not only spaces)"
        ))
        .into());
    }
    Ok(trimmed.to_owned())
}

/// A body of at most 10 000 characters, kept as given.
fn body(body: String) -> Result<String, Error> {
    if body.chars().count() > MAX_BODY {
        return Err(RequestRejection::Invalid(format!(
            "body must be at most {MAX_BODY} characters"
        ))
        .into());
    }
    Ok(body)
}

/// The memo id of the path: anything that is not one is a memo that does
/// not exist.
fn memo_id(path: Result<Path<String>, PathRejection>) -> Result<MemoId, Error> {
    let Ok(Path(id)) = path else {
        return Err(RequestRejection::NotFound.into());
    };
    id.parse()
        .map(MemoId)
        .map_err(|_| Error::Request(RequestRejection::NotFound))
}

/// List memos
///
/// The caller's memos.
#[utoipa::path(
    get,
    path = "/api/memos",
    operation_id = "list_memos",
    tag = "memos",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The caller's memos", body = Vec<MemoBody>),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn list(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
) -> Result<Json<Vec<MemoBody>>, Error> {
    let user = owner(&state, &token).await?;
    let memos = state.db.memos(user).await?;
    Ok(Json(memos.into_iter().map(MemoBody::from).collect()))
}

/// Create a memo
#[utoipa::path(
    post,
    path = "/api/memos",
    operation_id = "create_memo",
    tag = "memos",
    request_body = NewMemo,
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The new memo", body = MemoBody),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn create(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    JsonBody(new): JsonBody<NewMemo>,
) -> Result<(StatusCode, Json<MemoBody>), Error> {
    let title = title(&new.title)?;
    let body = body(new.body)?;
    let user = owner(&state, &token).await?;
    let memo = state.db.create_memo(user, &title, &body).await?;
    Ok((StatusCode::CREATED, Json(memo.into())))
}

/// Change a memo
#[utoipa::path(
    put,
    path = "/api/memos/{id}",
    operation_id = "update_memo",
    tag = "memos",
    params(("id" = i64, Path, description = "The memo's id")),
    request_body = Changes,
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The changed memo", body = MemoBody),
        (status = 400, response = InvalidRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn update(
    State(state): State<AppState>,
    token: IssuedBy<FirstParty, AccessToken>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(changes): JsonBody<Changes>,
) -> Result<Json<MemoBody>, Error> {
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
        .map(|memo| Json(memo.into()))
        .ok_or(Error::Request(RequestRejection::NotFound))
}

/// Delete a memo
#[utoipa::path(
    delete,
    path = "/api/memos/{id}",
    operation_id = "delete_memo",
    tag = "memos",
    params(("id" = i64, Path, description = "The memo's id")),
    security(("bearer" = []), ("access_cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
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
        Err(RequestRejection::NotFound.into())
    }
}
