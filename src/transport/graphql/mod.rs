//! GraphQL: `POST /graphql` (queries and mutations) and `GET /graphql?query=`
//! (queries), bearer token required; GraphiQL on a `GET` without a request;
//! and subscriptions over WebSocket on `/graphql` with the
//! `graphql-transport-ws` and legacy `graphql-ws` subprotocols (the upgrade
//! is open; its token comes in `connection_init`).
//!
//! - `http`: GraphQL over HTTP: reading `POST` bodies and `GET` query
//!   strings, what a `GET` may run, persisted queries, the answer's type.
//! - `schema`: the types and resolvers (`schema/schema.graphql` is its SDL).
//! - `limits`: rules checked before execution (document size, one root field per
//!   subscription, one upstream call per operation).
//! - `ws`: the two WebSocket protocols, to the letter of their PROTOCOL.md.
//!
//! async-graphql parses, validates and executes; the protocol layer is ours.

mod guardrail;
mod http;
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

use crate::auth::extract::bearer_token;
use crate::auth::gate;
use crate::auth::{AuthError, Principal};
use crate::edge::client_ip::Peer;
use crate::error::ErrorCode;
use crate::socket::Client;
use crate::state::AppState;
use http::Via;
pub use schema::{GqlSchema, build as build_schema};
pub use shared::RequestKey;

/// Deepest selection accepted. The standard introspection query is about 12 deep;
/// the deepest query of our own types is 3.
pub const MAX_DEPTH: usize = 20;
/// Most fields in one operation (the standard introspection query has ~90).
pub const MAX_COMPLEXITY: usize = 500;
/// What one `session(sessionId:)` lookup costs of [`MAX_COMPLEXITY`]: an
/// operation makes at most 4 (each may read the fleet's registry).
pub const SESSION_LOOKUP_COMPLEXITY: usize = 100;
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
/// - A body that is not a GraphQL request (see [`http::read_body`]) is
///   refused as on every other route, before anything GraphQL happens: a
///   real status and `{"error":{"code","message"}}`. The GraphQL-over-HTTP
///   spec asks for a 4xx here and tells clients not to expect a GraphQL
///   response in a non-2xx body (a proxy may have written it), so its
///   `errors` shape would buy nothing, and the contract's one error shape holds.
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
    match http::read_body(&headers, body) {
        Ok(req) => http::run(state, &schema, principal, &headers, req, Via::Post).await,
        Err(refused) => refused.into_response(),
    }
}

/// `GET /graphql`, one of three things:
///
/// - a WebSocket upgrade: subscriptions (and any operation) over
///   `graphql-transport-ws` or `graphql-ws`;
/// - a GraphQL request in the query string (`?query=`, or an APQ hash in
///   `?extensions=`; [`gate::is_graphql_get_request`]): a query, run as
///   over `POST` (the gate asked for its token);
/// - anything else, a browser: GraphiQL.
async fn get_graphql(
    State(state): State<AppState>,
    Extension(schema): Extension<GqlSchema>,
    auth: UpgradeAuth,
    Peer(peer): Peer,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    parts: Parts,
) -> Response {
    match ws {
        Ok(ws) => {
            let client = Client::new(peer, &parts.headers);
            return ws::upgrade(ws, state, schema, auth.0, client);
        }
        Err(rejection) if parts.headers.contains_key(header::UPGRADE) => {
            return rejection.into_response();
        }
        Err(_) => {}
    }
    if !gate::is_graphql_get_request(&parts.uri) {
        if !state.graphiql {
            return ErrorCode::NotFound.response(
                "GraphiQL is served only in local mode (--auth dev) or with SPILLWAY_GRAPHIQL=true; \
                 send a query by POST, or by GET with ?query=",
            );
        }
        return Html(
            GraphiQLSource::build()
                .endpoint(PATH)
                .subscription_endpoint(PATH)
                .title("Spillway GraphQL")
                .finish(),
        )
        .into_response();
    }
    // The gate verified the token of every GraphQL GET; without one, refuse
    // rather than run anything.
    let Some(principal) = parts.extensions.get::<Principal>().cloned() else {
        return AuthError::Missing.into_response();
    };
    match http::read_query(&parts.uri) {
        Ok(req) => http::run(state, &schema, principal, &parts.headers, req, Via::Get).await,
        Err(refused) => refused.into_response(),
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
