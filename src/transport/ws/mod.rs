//! WebSocket transport: `GET /v1/ws` (the JSON action protocol) and the
//! API Gateway-compatible management API `/@connections/{id}`.
//!
//! - `protocol`: client actions and server messages.
//! - `connection`: one socket's loop, its cursors and its outbound buffer.
//! - `connections`: this node's sockets beside the shared registry.
//! - `socket`: plumbing all WebSocket transports share.
//! - `manage`: `POST`/`GET`/`DELETE /@connections/{id}`.

pub mod connection;
pub mod connections;
pub mod manage;
pub mod protocol;
pub mod socket;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;

pub use connections::{Connections, WsLimits};

use crate::auth::Principal;
use crate::state::AppState;
use crate::transport::ops::Peer;

/// The subprotocol the server answers when the client offers it.
pub const SUBPROTOCOL: &str = "spillway.v1";

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
    let conns = &state.connections;
    let limits = *conns.limits();
    if let Err(refused) = socket::admit(conns, &principal.sub).await {
        return refused;
    }
    let peer = connection::Peer {
        source_ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    };
    let tracker = conns.tracker().clone();
    // The upgrade task keeps its callback for the connection's whole life:
    // boxed, that is one pointer instead of ~450 bytes per socket.
    let admitted = Box::new((state, principal, peer));
    // Leave tungstenite room above our own limit so we can answer 1009 ourselves.
    ws.protocols([SUBPROTOCOL])
        .max_message_size(limits.max_message_bytes.saturating_mul(2).max(1024))
        .read_buffer_size(socket::READ_BUFFER)
        .on_upgrade(move |socket| {
            let (state, principal, peer) = *admitted;
            tracker.track_future(connection::serve(socket, state, principal, peer))
        })
}
