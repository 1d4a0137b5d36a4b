//! A JSON body extractor whose every rejection is 400
//! `invalid_request` with a message naming what is wrong.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use tokengate::Error;
use tokengate::RequestRejection;

/// `Json<T>`, answering malformed JSON, a wrong content type, a missing or
/// mistyped field, or an oversized body with 400 `invalid_request`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(RequestRejection::Invalid(message(&rejection)).into()),
        }
    }
}

fn message(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body (Content-Type: application/json)".into()
        }
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
        // serde's text names the field: "missing field `password`".
        JsonRejection::JsonDataError(e) => format!(
            "invalid body: {}",
            e.body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
        ),
        JsonRejection::BytesRejection(_) => "the body is too large or could not be read".into(),
        _ => "invalid body".into(),
    }
}
