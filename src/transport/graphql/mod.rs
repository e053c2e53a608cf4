//! GraphQL: `POST /graphql` (queries and mutations, bearer token required),
//! GraphiQL on `GET /graphql`, and subscriptions over WebSocket on
//! `/graphql` with the `graphql-transport-ws` and legacy `graphql-ws`
//! subprotocols (the upgrade is open; its token comes in `connection_init`).
//!
//! - `schema`: the types and resolvers (`schema/schema.graphql` is its SDL).
//! - `limits`: rules checked before execution (document size, one root field per subscription).
//! - `ws`: the two WebSocket protocols, to the letter of their PROTOCOL.md.
//!
//! async-graphql parses, validates and executes; the protocol layer is ours.

mod guardrail;
pub mod limits;
mod parts;
pub mod schema;
mod shared;
mod ws;

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Extension, FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{RequestExt, Router};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};

use crate::auth::extract::bearer_token;
use crate::auth::{AuthError, Principal};
use crate::edge::client_ip::Peer;
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
/// A document over the limit is answered like a parse error: `200` with an
/// `errors` array (`extensions.code = "payload_too_large"`), not `413`. This
/// route answers every other refused document (syntax, validation, depth)
/// that way, as async-graphql does, so a client has one path for them all;
/// and clients such as Apollo Client's `HttpLink` turn a non-2xx answer into
/// a network error instead of surfacing its GraphQL `errors`.
async fn post_graphql(
    State(state): State<AppState>,
    Extension(schema): Extension<GqlSchema>,
    principal: Principal,
    req: Request,
) -> Response {
    let gql = match GraphQLRequest::<GraphQLRejection>::from_request(req.with_limited_body(), &())
        .await
    {
        Ok(r) => r.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    if let Err(e) = limits::check_document(&gql.query, state.graphql_max_document_bytes) {
        return GraphQLResponse::from(async_graphql::Response::from_errors(vec![e]))
            .into_response();
    }
    let gql = gql.data(state).data(principal);
    GraphQLResponse::from(schema.execute(gql).await).into_response()
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), or GraphiQL.
async fn get_graphql(
    State(state): State<AppState>,
    Extension(schema): Extension<GqlSchema>,
    auth: UpgradeAuth,
    Peer(peer): Peer,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
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
