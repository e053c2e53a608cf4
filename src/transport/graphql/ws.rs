//! GraphQL over WebSocket, both subprotocols, to the letter of their specs:
//!
//! - `graphql-transport-ws` (github.com/enisdenjo/graphql-ws, PROTOCOL.md):
//!   `connection_init` → `connection_ack` or close `4403`; nothing within the
//!   init timeout → `4408`; a second `connection_init` → `4429`; `subscribe`
//!   before the ack → `4401`; an id already running → `4409`; anything that
//!   is not a message of the protocol → `4400`; an operation that fails
//!   before producing data → one `error` message (and no `complete`);
//!   `ping` → `pong`; an unsolicited `pong` every heartbeat as keep-alive.
//! - legacy `graphql-ws` (subscriptions-transport-ws, PROTOCOL.md):
//!   `start`/`stop`/`data`/`error`/`complete`, `connection_terminate`, and
//!   `ka` right after the ack and every heartbeat. The same close codes apply
//!   (a refused init first gets a `connection_error` message).
//!
//! async-graphql only parses, validates and executes (`execute_stream`);
//! its own protocol handler is not used because it closes `1002` on a refused
//! init, has no init timeout, replaces duplicate ids and never sends `error`.
//!
//! One task per socket: it reads client messages, polls every running
//! operation's response stream (a `StreamMap` keyed by operation id) and
//! writes in order. A slow client slows only its own socket; the operations
//! behind it are cursors into session logs, so nothing queues up.

use std::collections::HashSet;
use std::time::Duration;

use async_graphql::{Request, Response, Variables};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response as HttpResponse;
use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tokio_stream::StreamMap;

use super::MAX_OPERATIONS_PER_CONNECTION;
use super::schema::GqlSchema;
use super::shared::RequestKey;
use crate::auth::{AuthError, Principal};
use crate::state::AppState;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
/// A client that takes no message for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
pub const LEGACY_WS: &str = "graphql-ws";

/// Close codes of graphql-ws PROTOCOL.md.
mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    pub const INTERNAL: u16 = 4500;
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

/// Answer the upgrade with one of our subprotocols and run the connection.
pub(super) fn upgrade(
    ws: WebSocketUpgrade,
    state: AppState,
    schema: GqlSchema,
    upgrade_auth: Option<Result<Principal, AuthError>>,
) -> HttpResponse {
    // Messages over the operation size limit get 1009 from us; the WebSocket
    // layer's own limit sits above it (past it the connection just drops).
    let ws = ws
        .protocols([TRANSPORT_WS, LEGACY_WS])
        .max_message_size(state.max_body_bytes.saturating_add(64 * 1024))
        .read_buffer_size(crate::transport::ws::socket::READ_BUFFER);
    let protocol = match ws.selected_protocol().map(|p| p.as_bytes()) {
        Some(p) if p == TRANSPORT_WS.as_bytes() => Some(Protocol::TransportWs),
        Some(p) if p == LEGACY_WS.as_bytes() => Some(Protocol::Legacy),
        _ => None,
    };
    // Tracked with the other WebSockets: shutdown waits for this one to drain.
    let tracker = state.connections.tracker().clone();
    // The upgrade task keeps its callback (and the connection future) for the
    // connection's whole life: what they carry is boxed, so an idle
    // subscription socket holds pointers, not copies (BENCHMARKS.md, scenario 4).
    let parts = Box::new((state, schema, upgrade_auth));
    ws.on_upgrade(move |socket| {
        let (state, schema, upgrade_auth) = *parts;
        let run = match protocol {
            Some(protocol) => Either::Left(
                Box::new(Connection {
                    protocol,
                    state,
                    schema,
                    socket,
                    upgrade_auth,
                    principal: None,
                    init_received: false,
                    ops: StreamMap::new(),
                    not_started: HashSet::new(),
                })
                .run(),
            ),
            None => Either::Right(Box::pin(refuse_subprotocol(socket))),
        };
        tracker.track_future(run)
    })
}

async fn refuse_subprotocol(mut socket: WebSocket) {
    let _ = send_close(
        &mut socket,
        close::SUBPROTOCOL_NOT_ACCEPTABLE,
        "Subprotocol not acceptable",
    )
    .await;
}

/// What the connection does next.
enum Out {
    Text(String),
    Close(u16, String),
}

/// An operation's responses, then `None` once it has ended.
type Operation = BoxStream<'static, Option<Response>>;

struct Connection {
    protocol: Protocol,
    state: AppState,
    schema: GqlSchema,
    socket: WebSocket,
    /// The token of the upgrade request, if it had one.
    upgrade_auth: Option<Result<Principal, AuthError>>,
    /// Set once `connection_init` has been acknowledged.
    principal: Option<Principal>,
    init_received: bool,
    ops: StreamMap<String, Operation>,
    /// Operations that have not produced a response yet (a failure there is an `error` message).
    not_started: HashSet<String>,
}

impl Connection {
    /// Boxed `self`: an async fn's by-value arguments stay in its future
    /// twice for as long as it runs.
    async fn run(mut self: Box<Self>) {
        let closing = self.state.connections.closing().clone();
        let mut draining = false;
        let init_deadline = Instant::now() + self.state.graphql_init_timeout;
        let every = self.state.heartbeat;
        let mut keepalive = tokio::time::interval_at(Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let expiry = self
                .principal
                .as_ref()
                .map(|p| crate::transport::ws::socket::expiry_instant(p.expires_at));
            let mut out: Vec<Out> = tokio::select! {
                msg = self.socket.recv() => match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(m)) if payload_len(&m) > self.state.max_body_bytes => {
                        vec![Out::Close(close::TOO_BIG, "Message too big".into())]
                    }
                    Some(Ok(Message::Text(t))) => Box::pin(self.on_message(t.as_str())).await,
                    Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                        Ok(t) => Box::pin(self.on_message(t)).await,
                        Err(_) => vec![Out::Close(close::BAD_REQUEST, "Invalid message received".into())],
                    },
                    // WebSocket-level pings are answered by the WebSocket layer.
                    Some(Ok(_)) => Vec::new(),
                },
                _ = sleep_until(init_deadline), if !self.init_received => {
                    vec![Out::Close(close::INIT_TIMEOUT, "Connection initialisation timeout".into())]
                }
                Some((id, item)) = self.ops.next(), if !self.ops.is_empty() => self.on_result(id, item),
                _ = keepalive.tick(), if self.principal.is_some() => vec![self.keepalive()],
                _ = sleep_until(expiry.unwrap_or_else(Instant::now)), if expiry.is_some() => {
                    vec![Out::Close(close::FORBIDDEN, "Forbidden: token expired".into())]
                }
                _ = closing.cancelled(), if !draining => {
                    draining = true;
                    self.start_draining()
                }
            };
            if draining && self.ops.is_empty() && !out.iter().any(|o| matches!(o, Out::Close(..))) {
                out.push(Out::Close(close::GOING_AWAY, "Going away".into()));
            }
            for o in out {
                match o {
                    Out::Text(t) => {
                        let sent = Box::pin(tokio::time::timeout(
                            SEND_TIMEOUT,
                            self.socket.send(Message::Text(t.into())),
                        ))
                        .await;
                        if !matches!(sent, Ok(Ok(()))) {
                            // Gone, or not reading at all: drop it rather than wait forever.
                            return;
                        }
                    }
                    Out::Close(code, reason) => {
                        tracing::debug!(code, %reason, "graphql websocket closed by the server");
                        let _ = Box::pin(send_close(&mut self.socket, code, &reason)).await;
                        return;
                    }
                }
            }
        }
    }

    async fn on_message(&mut self, text: &str) -> Vec<Out> {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return vec![Out::Close(
                    close::BAD_REQUEST,
                    format!("Invalid message received: {e}"),
                )];
            }
        };
        if !msg.belongs_to(self.protocol) {
            return vec![Out::Close(
                close::BAD_REQUEST,
                format!(
                    "Invalid message received: unknown type for {}",
                    self.protocol_name()
                ),
            )];
        }
        match msg {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload).await,
            ClientMessage::Ping { .. } => vec![self.encode("pong", None, None::<()>)],
            ClientMessage::Pong { .. } => Vec::new(),
            ClientMessage::Subscribe { id, payload } | ClientMessage::Start { id, payload } => {
                self.on_subscribe(id, payload)
            }
            ClientMessage::Complete { id } | ClientMessage::Stop { id } => {
                self.ops.remove(&id);
                self.not_started.remove(&id);
                Vec::new()
            }
            ClientMessage::ConnectionTerminate { .. } => {
                vec![Out::Close(close::NORMAL, "Normal Closure".into())]
            }
        }
    }

    async fn on_init(&mut self, payload: Option<Map<String, Value>>) -> Vec<Out> {
        if self.init_received {
            return vec![Out::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            )];
        }
        self.init_received = true;
        let verified = match payload.as_ref().and_then(init_token) {
            Some(token) => Some(self.state.verifier.verify(&token).await),
            None => self.upgrade_auth.take(),
        };
        match verified {
            Some(Ok(principal)) => {
                self.principal = Some(principal);
                let mut out = vec![self.encode("connection_ack", None, None::<()>)];
                if self.protocol == Protocol::Legacy {
                    out.push(self.keepalive());
                }
                out
            }
            refused => {
                let why = match refused {
                    Some(Err(e)) => e.to_string(),
                    _ => AuthError::Missing.to_string(),
                };
                let mut out = Vec::new();
                if self.protocol == Protocol::Legacy {
                    out.push(self.encode(
                        "connection_error",
                        None,
                        Some(serde_json::json!({"message": format!("Forbidden: {why}")})),
                    ));
                }
                out.push(Out::Close(close::FORBIDDEN, format!("Forbidden: {why}")));
                out
            }
        }
    }

    fn on_subscribe(&mut self, id: String, payload: OperationPayload) -> Vec<Out> {
        // A malformed message is refused before the ack is looked at.
        if id.is_empty() {
            return vec![Out::Close(
                close::BAD_REQUEST,
                "Invalid message received: empty id".into(),
            )];
        }
        let Some(principal) = self.principal.clone() else {
            return vec![Out::Close(close::UNAUTHORIZED, "Unauthorized".into())];
        };
        if self.ops.contains_key(&id) {
            return vec![Out::Close(
                close::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            )];
        }
        if self.state.connections.closing().is_cancelled() {
            return vec![self.encode("error", Some(&id), Some(shutting_down()))];
        }
        if self.ops.len() >= MAX_OPERATIONS_PER_CONNECTION {
            let errors = serde_json::json!([{
                "message": format!("too many operations on this connection (at most {MAX_OPERATIONS_PER_CONNECTION})"),
                "extensions": {"code": "too_many_operations"},
            }]);
            return vec![self.encode("error", Some(&id), Some(errors))];
        }
        let key = RequestKey::new(
            &payload.query,
            payload.operation_name.as_deref(),
            payload.variables.as_ref(),
        );
        let mut req = Request::new(payload.query);
        if let Some(name) = payload.operation_name {
            req = req.operation_name(name);
        }
        if let Some(vars) = payload.variables {
            req = req.variables(Variables::from_json(Value::Object(vars)));
        }
        let req = req.data(self.state.clone()).data(principal).data(key);
        let stream = self
            .schema
            .execute_stream(req)
            .map(Some)
            .chain(futures_util::stream::once(async { None }))
            .boxed();
        self.not_started.insert(id.clone());
        self.ops.insert(id, stream);
        Vec::new()
    }

    fn on_result(&mut self, id: String, item: Option<Response>) -> Vec<Out> {
        let first = self.not_started.remove(&id);
        match item {
            Some(resp) if first && resp.data == async_graphql::Value::Null && resp.is_err() => {
                // Failed before producing data: `error`, and the operation is over.
                self.ops.remove(&id);
                vec![self.encode("error", Some(&id), Some(&resp.errors))]
            }
            Some(resp) => {
                let ty = match self.protocol {
                    Protocol::TransportWs => "next",
                    Protocol::Legacy => "data",
                };
                vec![self.encode(ty, Some(&id), Some(&resp))]
            }
            None => {
                // Remove it now, so that the client may reuse the id once it sees `complete`.
                self.ops.remove(&id);
                vec![self.encode("complete", Some(&id), None::<()>)]
            }
        }
    }

    /// The server is shutting down: operations that have not produced
    /// anything yet (waiting for a session) end with an `error`; running
    /// ones go on until their sessions end (the hub's drain deadline), then
    /// the socket closes with 1001.
    fn start_draining(&mut self) -> Vec<Out> {
        let waiting: Vec<String> = self.not_started.drain().collect();
        waiting
            .into_iter()
            .map(|id| {
                self.ops.remove(&id);
                self.encode("error", Some(&id), Some(shutting_down()))
            })
            .collect()
    }

    fn keepalive(&self) -> Out {
        match self.protocol {
            // PROTOCOL.md: a pong may be sent unsolicited as a unidirectional heartbeat.
            Protocol::TransportWs => self.encode("pong", None, None::<()>),
            Protocol::Legacy => self.encode("ka", None, None::<()>),
        }
    }

    fn protocol_name(&self) -> &'static str {
        match self.protocol {
            Protocol::TransportWs => TRANSPORT_WS,
            Protocol::Legacy => LEGACY_WS,
        }
    }

    fn encode<P: Serialize>(&self, ty: &str, id: Option<&str>, payload: Option<P>) -> Out {
        #[derive(Serialize)]
        struct ServerMessage<'a, P> {
            #[serde(rename = "type")]
            ty: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<P>,
        }
        match serde_json::to_string(&ServerMessage { ty, id, payload }) {
            Ok(s) => Out::Text(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode a graphql websocket message");
                Out::Close(close::INTERNAL, "Internal server error".into())
            }
        }
    }
}

/// Messages of either protocol; `belongs_to` keeps each to its own.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Map<String, Value>>,
    },
    Ping {
        #[serde(default, rename = "payload")]
        _payload: Option<Map<String, Value>>,
    },
    Pong {
        #[serde(default, rename = "payload")]
        _payload: Option<Map<String, Value>>,
    },
    Subscribe {
        id: String,
        payload: OperationPayload,
    },
    Complete {
        id: String,
    },
    Start {
        id: String,
        payload: OperationPayload,
    },
    Stop {
        id: String,
    },
    ConnectionTerminate {
        #[serde(default, rename = "payload")]
        _payload: Option<Value>,
    },
}

impl ClientMessage {
    fn belongs_to(&self, protocol: Protocol) -> bool {
        use ClientMessage::*;
        match protocol {
            Protocol::TransportWs => matches!(
                self,
                ConnectionInit { .. }
                    | Ping { .. }
                    | Pong { .. }
                    | Subscribe { .. }
                    | Complete { .. }
            ),
            Protocol::Legacy => matches!(
                self,
                ConnectionInit { .. } | Start { .. } | Stop { .. } | ConnectionTerminate { .. }
            ),
        }
    }
}

/// The GraphQL request of `subscribe` / `start`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationPayload {
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    /// No extension is supported; validated only.
    #[serde(default, rename = "extensions")]
    _extensions: Option<Map<String, Value>>,
}

/// The JWT of a `connection_init` payload: `Authorization` (any case) at the
/// top level or under `headers`, as `Bearer <JWT>` or the bare JWT (AppSync's
/// Cognito header form).
fn init_token(payload: &Map<String, Value>) -> Option<String> {
    let find = |m: &Map<String, Value>| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let raw = find(payload).or_else(|| {
        payload
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("headers"))
            .and_then(|(_, v)| v.as_object())
            .and_then(find)
    })?;
    let raw = raw.trim();
    let token = match (raw.get(..6), raw.get(6..)) {
        (Some(scheme), Some(rest))
            if scheme.eq_ignore_ascii_case("bearer")
                && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
        {
            rest.trim()
        }
        _ => raw,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

fn shutting_down() -> Value {
    serde_json::json!([{
        "message": "the gateway is shutting down",
        "extensions": {"code": "shutting_down", "retryable": true},
    }])
}

fn payload_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.as_str().len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// Send a close frame; reasons are cut to the 123 bytes a frame allows.
async fn send_close(socket: &mut WebSocket, code: u16, reason: &str) -> Result<(), axum::Error> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }));
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await {
        Ok(sent) => sent,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, F, Fut>(_: F) -> usize
    where
        F: FnOnce(A) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every open subscription socket holds this future for its whole life
    /// (3.5 KiB before `run` took a boxed `self` with the socket in it; 880 B after).
    #[test]
    fn an_idle_connection_future_stays_small() {
        let size = future_size(Connection::run);
        assert!(size <= 1024, "the connection future grew to {size} bytes");
    }

    fn parse(s: &str) -> Option<ClientMessage> {
        serde_json::from_str(s).ok()
    }

    #[test]
    fn init_token_forms() {
        use serde_json::json as j;
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            init_token(&m(j!({"Authorization": "Bearer abc"}))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            init_token(&m(j!({"authorization": "abc"}))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            init_token(&m(j!({"headers": {"Authorization": "bearer  abc "}}))).as_deref(),
            Some("abc")
        );
        assert_eq!(init_token(&m(j!({"Authorization": "Bearer "}))), None);
        assert_eq!(init_token(&m(j!({"Authorization": "bearer"}))), None);
        assert_eq!(
            init_token(&m(j!({"Authorization": "Bearerabc"}))).as_deref(),
            Some("Bearerabc")
        );
        assert_eq!(
            init_token(&m(j!({"Authorization": "Bé"}))).as_deref(),
            Some("Bé")
        );
        assert_eq!(init_token(&m(j!({"token": "abc"}))), None);
    }

    #[test]
    fn messages_are_checked_per_protocol() {
        let sub =
            parse(r#"{"type":"subscribe","id":"1","payload":{"query":"{ models }"}}"#).unwrap();
        assert!(sub.belongs_to(Protocol::TransportWs));
        assert!(!sub.belongs_to(Protocol::Legacy));
        let start = parse(r#"{"type":"start","id":"1","payload":{"query":"{ models }"}}"#).unwrap();
        assert!(start.belongs_to(Protocol::Legacy));
        assert!(!start.belongs_to(Protocol::TransportWs));
        for bad in [
            r#"{"type":"nope"}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":1,"payload":{"query":"{ models }"}}"#,
            r#"{"type":"connection_init","payload":"x"}"#,
            r#"{"type":"ping","payload":[1]}"#,
            r#"{"id":"1"}"#,
            "[]",
        ] {
            assert!(parse(bad).is_none(), "{bad} must be refused");
        }
        assert!(parse(r#"{"type":"connection_init","payload":null}"#).is_some());
        assert!(parse(r#"{"type":"connection_init"}"#).is_some());
        assert!(parse(r#"{"type":"connection_terminate"}"#).is_some());
    }
}
