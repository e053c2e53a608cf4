//! What the HTTP upgrade hands the driver, and the limits it sets on the
//! WebSocket layer.

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::connections::Admission;
use super::driver::{Opening, Protocol, serve};

/// The subprotocol `/v1/ws` and `/v1/ai-sdk/ws` answer when the client offers it
/// (browsers send the token beside it, as `bearer.<JWT>`).
pub const SUBPROTOCOL: &str = "spillway.v1";

/// Initial read buffer of a socket, allocated up front for every connection.
/// tungstenite's default (128 KiB) made an idle connection cost ~140 KiB;
/// client messages are small, and larger ones still arrive (the buffer grows
/// for them). See BENCHMARKS.md, scenario 4.
pub const READ_BUFFER: usize = 512;

/// What the upgrade learned about the client, for the registry record.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub source_ip: String,
    pub user_agent: String,
}

impl Client {
    pub fn new(peer: Option<std::net::SocketAddr>, headers: &HeaderMap) -> Self {
        Self {
            source_ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        }
    }
}

/// Answer the upgrade and run the socket under the driver. The frame limit
/// equals the message limit: a larger frame is refused from its header, before
/// its bytes are buffered, and the socket closes with `1009`.
pub fn upgrade<P: Protocol>(ws: WebSocketUpgrade, opening: Opening<P>) -> Response {
    let max = opening.max_message;
    let tracker = opening.state.connections.tracker().clone();
    // The upgrade task keeps its callback for the connection's whole life:
    // boxed, that is one pointer per socket.
    let opening = Box::new(opening);
    // The upgrade request's `traceparent`: the socket's sessions are its children.
    let parent = crate::telemetry::trace_context::current();
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            tracker.track_future(crate::telemetry::trace_context::scope(
                parent,
                serve(socket, opening),
            ))
        })
}

impl IntoResponse for Admission {
    fn into_response(self) -> Response {
        if let Admission::Registry(e) = &self {
            tracing::warn!(error = %e, "refusing a socket: registry unavailable");
        }
        self.code().response(&self.to_string())
    }
}
