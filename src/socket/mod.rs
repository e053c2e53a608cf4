//! Sockets: one WebSocket driver for every socket endpoint (`/v1/ws`,
//! `/v1/ai-sdk/ws`, `/graphql`), below the transports.
//!
//! A transport describes its wire protocol with [`Protocol`] (what a client
//! message does, what a greeting or keep-alive looks like); the driver owns
//! everything a socket must do whatever it speaks, so each policy holds on
//! every endpoint at once:
//!
//! - admission: the per-user connection cap and shutdown refusal ([`Connections::admit`]);
//!   HTTP readers count in the same cap ([`Connections::admit_reader`]);
//! - the registry record, `@connections` handle and `spillway_connections_active`;
//! - the size limit: frame limit = message limit, `1009` past it;
//! - the message rate (`SPILLWAY_WS_RATE_LIMIT_PER_SEC`), `1008` past it;
//! - deadlines: token expiry (`4401`, or the protocol's own code: GraphQL's
//!   `4403`, which its clients retry), idle (no message, nothing running),
//!   lifetime, the protocol's own (GraphQL's `connection_init`) — one timer;
//! - pings, and dropping a peer that leaves two pings in a row unanswered
//!   (counted in ticks, so a stalled server never blames the peer);
//! - one bounded outbound buffer per socket, written by one writer task;
//! - operations (streams, subscriptions) as tasks, capped per socket
//!   (`SPILLWAY_WS_MAX_STREAMS_PER_CONNECTION`), counted in `spillway_streams_active`;
//! - drain: no new operations, running ones finish, then close `1001`.
//!
//! - `driver`: the loop, generic over any `Sink` + `Stream` of messages.
//! - `ops`: the operations running on one socket.
//! - `connections`: this node's sockets beside the shared registry.
//! - `readers`: HTTP readers per user, counted in the same per-user budget.
//! - `deadlines`: close frames and the nearest deadline.
//! - `writer`: the outbound buffer's writer task.
//! - `upgrade`: what the HTTP upgrade hands the driver.

pub mod connections;
mod deadlines;
mod driver;
mod ops;
mod readers;
mod upgrade;
mod writer;

pub use connections::{Admission, Connections, Handle, WsLimits};
pub use deadlines::{CLOSE_TOKEN_EXPIRED, close, expiry_instant};
pub use driver::{Ctx, Flow, Opening, Protocol, serve};
pub use ops::{OpRefusal, Operations, Running};
pub use readers::ReaderSlot;
pub use upgrade::{Client, READ_BUFFER, SUBPROTOCOL, upgrade};

/// A pushed body (`@connections`) as one message: text when it is UTF-8, binary otherwise.
pub fn push_message(body: &[u8]) -> axum::extract::ws::Message {
    use axum::extract::ws::Message;
    match std::str::from_utf8(body) {
        Ok(text) => Message::Text(text.into()),
        Err(_) => Message::Binary(body.to_vec().into()),
    }
}

#[cfg(test)]
mod tests;
