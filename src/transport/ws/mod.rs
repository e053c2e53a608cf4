//! WebSocket transport: `GET /v1/ws` (the JSON action protocol) and the
//! API Gateway-compatible management API `/@connections/{id}`.
//!
//! - `protocol`: client actions and server messages.
//! - `connection`: one socket's loop, its cursors and its outbound buffer.
//! - `connections`: this node's sockets beside the shared registry.
//! - `manage`: `POST`/`GET`/`DELETE /@connections/{id}`.

pub mod connection;
pub mod connections;
pub mod manage;
pub mod protocol;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use connections::{Connections, WsLimits};

use crate::auth::Principal;
use crate::error::error_body;
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
    if conns.closing().is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("shutting_down", "the gateway is shutting down"),
        )
            .into_response();
    }
    match conns.registry().count_for_user(&principal.sub).await {
        Ok(n) if n >= limits.max_connections_per_user => {
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                error_body(
                    "too_many_connections",
                    "this user holds the most connections allowed",
                ),
            )
                .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return res;
        }
        Ok(_) => {}
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                error_body("registry_unavailable", &e.to_string()),
            )
                .into_response();
        }
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
    // Leave tungstenite room above our own limit so we can answer 1009 ourselves.
    ws.protocols([SUBPROTOCOL])
        .max_message_size(limits.max_message_bytes.saturating_mul(2).max(1024))
        .on_upgrade(move |socket| {
            tracker.track_future(connection::serve(socket, state, principal, peer))
        })
}
