//! GraphQL: `POST /graphql` (queries and mutations, bearer token required),
//! GraphiQL on `GET /graphql`, and subscriptions over WebSocket on
//! `/graphql` with the `graphql-transport-ws` and legacy `graphql-ws`
//! subprotocols (the upgrade is open; its token comes in `connection_init`).
//!
//! - `schema`: the types and resolvers (`schema/schema.graphql` is its SDL).
//! - `limits`: rules checked before execution (document size, one root field per
//!   subscription, one upstream call per operation).
//! - `ws`: the two WebSocket protocols, to the letter of their PROTOCOL.md.
//!
//! async-graphql parses, validates and executes; the protocol layer is ours.

mod guardrail;
pub mod limits;
mod parts;
pub mod schema;
mod shared;
mod ws;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLResponse;

use crate::auth::extract::bearer_token;
use crate::auth::{AuthError, Principal};
use crate::edge::client_ip::Peer;
use crate::error::ApiError;
use crate::socket::Client;
use crate::state::AppState;
pub use schema::{GqlSchema, build as build_schema};
pub use shared::RequestKey;

/// Deepest selection accepted. The standard introspection query is about 12 deep;
/// the deepest query of our own types is 3.
pub const MAX_DEPTH: usize = 20;
/// Most fields in one operation (the standard introspection query has ~90).
pub const MAX_COMPLEXITY: usize = 500;
/// Nesting limit of the parser (fragments, lists, objects).
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 8;

/// The path of every GraphQL route.
pub const PATH: &str = "/graphql";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(get_graphql).post(post_graphql))
        .layer(Extension(build_schema()))
}

/// The served schema in SDL; `schema/schema.graphql` must equal it.
pub fn sdl() -> String {
    build_schema().sdl()
}

/// `POST /graphql`: one query or mutation, as the bearer token's principal.
/// The body is held to the app's body limit, and the document to
/// `SPILLWAY_GRAPHQL_MAX_DOCUMENT_BYTES` before it is parsed.
///
/// Two kinds of refusal, in two shapes:
///
/// - A body that is not a GraphQL request (see [`read_request`]) is refused
///   as on every other route, before anything GraphQL happens: a real status
///   and `{"error":{"code","message"}}`. The GraphQL-over-HTTP spec asks for
///   a 4xx here and tells clients not to expect a GraphQL response in a
///   non-2xx body (a proxy may have written it), so its `errors` shape would
///   buy nothing, and the contract's one error shape holds.
/// - A request whose document is refused — over the document limit
///   (`extensions.code = "payload_too_large"`), syntax, validation, depth —
///   gets `200` with an `errors` array, as async-graphql answers, so a
///   client has one path for them all; and clients such as Apollo Client's
///   `HttpLink` turn a non-2xx answer into a network error instead of
///   surfacing its GraphQL `errors`.
async fn post_graphql(
    State(state): State<AppState>,
    Extension(schema): Extension<GqlSchema>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let gql = match read_request(&headers, body) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    if let Err(e) = limits::check_document(&gql.query, state.graphql_max_document_bytes) {
        return GraphQLResponse::from(async_graphql::Response::from_errors(vec![e]))
            .into_response();
    }
    let gql = gql.data(state).data(principal);
    GraphQLResponse::from(schema.execute(gql).await).into_response()
}

/// The GraphQL request in a `POST` body: one JSON object
/// (`{"query","operationName"?,"variables"?,"extensions"?}`), whatever the
/// content type says (as on every route: `curl -d` says form data), except
/// the two that say the body is something else: `application/graphql` (a
/// bare document, which the GraphQL-over-HTTP spec dropped) and
/// `multipart/*` (file uploads; the schema takes none) are `415`. Past the
/// body limit is `413`; a body that is not JSON, not a request object, or a
/// batch (an array) is `400`.
fn read_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<async_graphql::Request, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if let Some(t) =
        media_type.filter(|t| t == "application/graphql" || t.starts_with("multipart/"))
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "{t} is not taken here: send application/json, {{\"query\": \"…\", \"variables\": {{…}}}}"
        )));
    }
    let bytes = crate::http::body_bytes(body)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(ApiError::BadRequest(
            "batched requests are not supported: send one operation per request".into(),
        ));
    }
    crate::http::parse_json(Ok(bytes))
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), or GraphiQL.
async fn get_graphql(
    State(state): State<AppState>,
    Extension(schema): Extension<GqlSchema>,
    auth: UpgradeAuth,
    Peer(peer): Peer,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
) -> Response {
    match ws {
        Ok(ws) => {
            let client = Client::new(peer, &headers);
            ws::upgrade(ws, state, schema, auth.0, client)
        }
        Err(rejection) if headers.contains_key(header::UPGRADE) => rejection.into_response(),
        Err(_) => Html(
            GraphiQLSource::build()
                .endpoint(PATH)
                .subscription_endpoint(PATH)
                .title("Spillway GraphQL")
                .finish(),
        )
        .into_response(),
    }
}

/// The token of a WebSocket upgrade, if it carries one (`Authorization`,
/// `bearer.<JWT>` subprotocol or `?token=`), verified. The upgrade itself is
/// open: `connection_init` may bring the token instead.
struct UpgradeAuth(Option<Result<Principal, AuthError>>);

impl FromRequestParts<AppState> for UpgradeAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::UPGRADE) {
            return Ok(Self(None));
        }
        Ok(Self(match bearer_token(parts) {
            Ok(token) => Some(state.verifier.verify(&token).await),
            Err(_) => None,
        }))
    }
}
