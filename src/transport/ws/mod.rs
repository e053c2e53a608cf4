//! WebSocket transport: `GET /v1/ws` (the JSON action protocol) and the
//! API Gateway-compatible management API `/@connections/{id}`.
//!
//! - `protocol`: client actions and server messages.
//! - `connection`: the action protocol under the socket driver (`crate::socket`).
//! - `manage`: `POST`/`GET`/`DELETE /@connections/{id}`.

pub mod connection;
pub mod manage;
pub mod protocol;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::Principal;
use crate::edge::client_ip::Peer;
use crate::socket::{self, Client, Opening, SUBPROTOCOL};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ws", get(upgrade))
        .merge(manage::router())
}

/// `GET /v1/ws`: authenticated at the upgrade (header, `bearer.<JWT>` subprotocol or `?token=`).
async fn upgrade(
    State(state): State<AppState>,
    principal: Principal,
    Peer(peer): Peer,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = state.connections.admit(&principal.sub).await {
        return refused.into_response();
    }
    let limits = *state.connections.limits();
    let opening = Opening {
        protocol: connection::Actions,
        client: Client::new(peer, &headers),
        principal: Some(principal),
        max_message: limits.max_message_bytes,
        ping_every: limits.ping_interval,
        state,
    };
    socket::upgrade(ws.protocols([SUBPROTOCOL]), opening)
}
