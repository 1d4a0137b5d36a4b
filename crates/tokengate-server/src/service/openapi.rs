//! The service's OpenAPI 3.1 document at `GET /openapi.json`,
//! generated from the code: each handler carries a `#[utoipa::path]`
//! attribute, and every module registers its routes through
//! `utoipa_axum`'s [`OpenApiRouter`] and `routes!`, which adds a route to the
//! axum router and its operation to the document in one step. The document
//! is serialized once, when the router is built.
//!
//! The security schemes name where a token travels: `bearer` (the
//! `Authorization` header), `access_cookie` / `refresh_cookie` (the
//! HttpOnly cookies), and `csrf` (the `X-CSRF-TOKEN` header, required with
//! a cookie on POST, PUT, PATCH and DELETE). Which locations a deployment
//! reads is configured (`token_locations`; the query string and JSON
//! bodies are off by default and not described here). `client_basic` is
//! the OAuth endpoints' client authentication.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use http::{HeaderValue, header};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// The document's root: what the handlers' attributes do not say.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokengate",
        description = "JWT authentication service: accounts, token pairs, browser sessions \
            with CSRF double submit, revocation, key discovery, OpenID Connect login, token \
            introspection and revocation for OAuth clients, and example resource routes. \
            Every failure answers `{\"code\",\"msg\"}` (schema `ErrorBody`); the OAuth \
            endpoints add RFC 6749's `error` (schema `OAuthErrorBody`).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(ErrorBody, JwkSet),
        responses(InvalidRequest, Unauthorized, Forbidden, NotFound, RateLimited, Unavailable)
    ),
    tags(
        (name = "auth", description = "Bearer clients: accounts and token pairs"),
        (name = "session", description = "Browser sessions: tokens in HttpOnly cookies, CSRF double submit"),
        (name = "sessions", description = "The caller's logins: list them, end one, end the others"),
        (name = "passkeys", description = "Passkeys (WebAuthn): register, list and remove them, log in with one, \
            make an account with one instead of a password"),
        (name = "oidc", description = "Log in with an OpenID provider"),
        (name = "resources", description = "Example resource routes, forward-auth"),
        (name = "memos", description = "The demo page's memos"),
        (name = "files", description = "Protected files and signed links"),
        (name = "oauth", description = "For the clients of `[[clients]]`: token introspection (RFC 7662) \
            and revocation (RFC 7009). Bodies are forms; failures answer \
            `{\"error\",\"code\",\"msg\"}` (schema `OAuthErrorBody`)"),
        (name = "discovery", description = "Public keys and discovery"),
        (name = "page", description = "The demo page"),
        (name = "operations", description = "Health, metrics, and this document")
    )
)]
struct ApiDoc;

/// Adds `/openapi.json` to `routes` and returns the axum router and the
/// path pattern of each of its routes: the document describes every route
/// of `routes` and itself (tests/service/openapi.rs checks that it
/// describes exactly the routes served), so its paths are the router's.
pub(super) fn with_document(routes: OpenApiRouter<AppState>) -> (Router<AppState>, Vec<String>) {
    let (routes, own_route, api) = split(routes);
    let paths = api.paths.paths.keys().cloned().collect();
    let router = routes.merge(own_route.layer(Extension(Document::new(&api))));
    (router, paths)
}

/// The axum routes of `routes`, the route of `/openapi.json` (which needs
/// the [`Document`] as an extension), and the document of both.
fn split(
    routes: OpenApiRouter<AppState>,
) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (own_route, own_api) = OpenApiRouter::new()
        .routes(routes!(document))
        .split_for_parts();
    let (routes, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes)
        .split_for_parts();
    api.merge(own_api);
    (routes, own_route, api)
}

/// The serialized document, shared by every request.
#[derive(Clone)]
struct Document(Bytes);

impl Document {
    fn new(api: &utoipa::openapi::OpenApi) -> Document {
        // Maps with string keys and plain values: serializing cannot fail.
        let json = serde_json::to_vec(api).expect("the OpenAPI document serializes");
        Document(Bytes::from(json))
    }
}

/// This document
///
/// The service's routes, their request and response bodies and their
/// security, as OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)
    )
)]
async fn document(Extension(Document(json)): Extension<Document>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// The security schemes the handlers' `security(...)` name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <token>`: this service's access or refresh \
                         token (as the route requires) or, on resource routes, an access token \
                         of a configured trusted issuer",
                    ))
                    .build(),
            ),
        );
        let cookie = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                name,
                format!("{what}, set by `POST /auth/session` (HttpOnly)").as_str(),
            )))
        };
        components.add_security_scheme(
            "access_cookie",
            cookie("access_token_cookie", "The access token in a cookie"),
        );
        components.add_security_scheme(
            "refresh_cookie",
            cookie("refresh_token_cookie", "The refresh token in a cookie"),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A `[[clients]]` client (`client_secret_basic`): \
                         `Basic base64(urlencode(client_id):urlencode(client_secret))`; \
                         or no header and `client_id`, `client_secret` in the form \
                         (`client_secret_post`), or `client_id` alone for a public client \
                         at the revocation endpoint",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-TOKEN",
                "CSRF double submit: the value of the `csrf_access_token` (or, to refresh, \
                 `csrf_refresh_token`) cookie; required with a cookie-borne token on POST, \
                 PUT, PATCH and DELETE",
            ))),
        );
    }
}

/// `{"code","msg"}`: the body of every failure. The shape of
/// [`tokengate::ErrorBody`], described here so that the library does not
/// depend on utoipa (a unit test keeps the two alike).
pub(super) struct ErrorBody;

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some("Every failure's body"))
            .property(
                "code",
                text("The machine-readable code, e.g. `token_expired`"),
            )
            .property("msg", text("A human-readable explanation"))
            .required("code")
            .required("msg")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for ErrorBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorBody")
    }
}

/// A JWK Set (RFC 7517): the shape of [`tokengate::keys::JwkSet`],
/// described here like [`ErrorBody`].
pub(super) struct JwkSet;

impl PartialSchema for JwkSet {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let key = ObjectBuilder::new()
            .description(Some(
                "A public key; the other members depend on `kty` (`n`, `e` for RSA; `crv`, \
                 `x`, `y` for EC and OKP)",
            ))
            .property("kty", text("`RSA`, `EC`, `OKP` or `oct`"))
            .property("kid", text("The key id, as in the tokens' header"))
            .property("alg", text("The one algorithm the key verifies"))
            .property("use", text("`sig`"))
            .required("kty")
            .required("kid")
            .required("alg")
            .required("use");
        ObjectBuilder::new()
            .property(
                "keys",
                utoipa::openapi::schema::ArrayBuilder::new().items(key),
            )
            .required("keys")
            .into()
    }
}

impl ToSchema for JwkSet {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JwkSet")
    }
}

/// An error response with the `ErrorBody` schema, and `headers` (name,
/// description) besides.
fn error_response(description: &str, headers: &[(&str, &str)]) -> RefOr<utoipa::openapi::Response> {
    let content = Content::new(Some(Ref::from_schema_name(ErrorBody::name())));
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    for (name, description) in headers {
        let header = HeaderBuilder::new()
            .schema(String::schema())
            .description(Some(*description))
            .build();
        response = response.header(*name, header);
    }
    response.build().into()
}

/// The `WWW-Authenticate` challenge of token errors (RFC 6750).
const CHALLENGE: (&str, &str) = (
    "WWW-Authenticate",
    "`Bearer realm=\"tokengate\"`, with `error=\"invalid_token\"` when a token was presented \
     (`error=\"insufficient_scope\"` and `scope` on a 403)",
);

/// Declares error response components: `Name => "description", [headers]`.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $description:literal $(, $header:expr)*;)*) => {
        $(
            $(#[$doc])*
            pub(super) struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                    (stringify!($name), error_response($description, &[$($header),*]))
                }
            }
        )*
    };
}

error_responses! {
    /// 400.
    InvalidRequest => "`invalid_request`: a malformed body, a missing or invalid field (the msg names it)";
    /// 401.
    Unauthorized => "No usable token: `authorization_header_missing`, `invalid_header`, `invalid_token`, \
        `token_expired`, `token_revoked`, `wrong_token_type`, `fresh_token_required`, `csrf_failed`, …",
        CHALLENGE;
    /// 403.
    Forbidden => "`insufficient_scope` (or `insufficient_role` on `/auth/verify`): the token is valid \
        but lacks a required scope (or role)", CHALLENGE;
    /// 404.
    NotFound => "`not_found`: no such item (or one of another user)";
    /// 429.
    RateLimited => "`rate_limited`: too many failed logins (or registrations from one address)",
        ("Retry-After", "Seconds to wait before the next attempt");
    /// 503.
    Unavailable => "`unavailable`: a store the request needs cannot be reached; retry later";
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The document of the service's routes, as JSON.
    fn document() -> Value {
        let (_, _, api) = split(super::super::routes(true, true));
        serde_json::to_value(&api).unwrap()
    }

    #[test]
    fn the_error_schema_is_the_library_body() {
        let body =
            serde_json::to_value(tokengate::Error::from(tokengate::TokenRejection::Expired).body())
                .unwrap();
        let mut served: Vec<&str> = body.as_object().unwrap().keys().map(|k| &**k).collect();
        served.sort();
        let schema = serde_json::to_value(ErrorBody::schema()).unwrap();
        let mut described: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| &**k)
            .collect();
        described.sort();
        assert_eq!(served, described);
    }

    /// Every `$ref` names a component of the document.
    #[test]
    fn references_resolve() {
        fn walk(value: &Value, root: &Value, refs: &mut usize) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').expect("a local reference");
                        assert!(root.pointer(pointer).is_some(), "dangling {target}");
                        *refs += 1;
                    }
                    map.values().for_each(|v| walk(v, root, refs));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, root, refs)),
                _ => {}
            }
        }
        let doc = document();
        let mut refs = 0;
        walk(&doc, &doc, &mut refs);
        assert!(refs > 10, "{refs} references");
    }

    /// Operation ids are unique, and every security requirement names a scheme.
    #[test]
    fn operations_are_well_formed() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
                for requirement in op["security"].as_array().into_iter().flatten() {
                    for name in requirement.as_object().unwrap().keys() {
                        assert!(schemes.contains_key(name), "{method} {path}: {name}");
                    }
                }
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
    }
}
