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
//!   `start`/`stop`/`data`/`complete`, `connection_terminate`, and `ka`
//!   right after the ack and every heartbeat. The same close codes apply
//!   (a refused init first gets a `connection_error` message). An operation
//!   that fails before producing data gets what the reference
//!   `SubscriptionServer` sends for GraphQL errors: `data` with
//!   `{"data": null, "errors": […]}`, then `complete` (its `error` message
//!   carries one error object, and Apollo's `WebSocketLink` reports an
//!   array there as an "unconventional" error, losing `extensions.code`).
//!
//! async-graphql only parses, validates and executes (`execute_stream`);
//! its own protocol handler is not used because it closes `1002` on a refused
//! init, has no init timeout, replaces duplicate ids and never sends `error`.
//!
//! The socket itself (limits, deadlines, pings, registry, drain) is the
//! socket driver's (`crate::socket`); this file is the protocol. Each
//! operation is a driver operation: a task turning its response stream into
//! messages. A slow client slows only its own socket; the operations behind
//! it are cursors into session logs, so nothing queues up. The socket is
//! admitted (per-user cap) and registered at `connection_init`, when its
//! user is known; a token that expires closes it with `4403` (not the
//! other sockets' `4401`, on which graphql-ws gives up: on `4403` it
//! reconnects, asking `connectionParams()` for a token again).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::{Request, Response, Variables};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response as HttpResponse;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::limits;
use super::schema::GqlSchema;
use super::shared::RequestKey;
use crate::auth::{AuthError, Principal};
use crate::error::ErrorCode;
use crate::socket::{self, Admission, Client, Ctx, Flow, OpRefusal, Opening, Protocol, close};
use crate::state::AppState;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// Close codes of graphql-ws PROTOCOL.md.
mod code {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    pub const NORMAL: u16 = 1000;
    /// RFC 6455's "try again later": the user holds the most sockets allowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const GOING_AWAY: u16 = 1001;
    pub const INTERNAL_ERROR: u16 = 1011;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `graphql-transport-ws`.
    TransportWs,
    /// Legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

/// Answer the upgrade with one of our subprotocols and run the socket under
/// the driver; the socket is admitted and registered at `connection_init`.
pub(super) fn upgrade(
    ws: WebSocketUpgrade,
    state: AppState,
    schema: GqlSchema,
    upgrade_auth: Option<Result<Principal, AuthError>>,
    client: Client,
) -> HttpResponse {
    let ws = ws.protocols([TRANSPORT_WS, LEGACY_WS]);
    let dialect = match ws.selected_protocol().map(|p| p.as_bytes()) {
        Some(p) if p == TRANSPORT_WS.as_bytes() => Dialect::TransportWs,
        Some(p) if p == LEGACY_WS.as_bytes() => Dialect::Legacy,
        _ => return ws.on_upgrade(refuse_subprotocol),
    };
    let limits = *state.connections.limits();
    let opening = Opening {
        protocol: GraphqlWs {
            dialect,
            schema,
            upgrade_auth,
            init_received: false,
            acked: false,
            init_deadline: Instant::now() + state.graphql_init_timeout,
        },
        client,
        principal: None,
        // A subscribe message carries one operation: the POST body limit.
        max_message: state.max_body_bytes,
        // Our keep-alive message goes with each ping.
        ping_every: limits.ping_interval.min(state.heartbeat),
        state,
    };
    socket::upgrade(ws, opening)
}

async fn refuse_subprotocol(mut socket: WebSocket) {
    let frame = close(
        code::SUBPROTOCOL_NOT_ACCEPTABLE,
        "Subprotocol not acceptable",
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), socket.send(frame)).await;
}

/// One GraphQL socket's protocol state; operations are the driver's.
struct GraphqlWs {
    dialect: Dialect,
    schema: GqlSchema,
    /// The token of the upgrade request, if it had one.
    upgrade_auth: Option<Result<Principal, AuthError>>,
    init_received: bool,
    /// Set once `connection_init` has been acknowledged.
    acked: bool,
    init_deadline: Instant,
}

/// What a GraphQL operation is known by: its id, and whether it has sent
/// its last message (its id is free again from then on).
struct OpTag {
    id: String,
    done: Arc<AtomicBool>,
}

type Cx<'a> = Ctx<'a, OpTag>;

impl Protocol for GraphqlWs {
    type Tag = OpTag;
    const NAME: &'static str = "graphql";

    async fn on_text(&mut self, text: &str, cx: &mut Cx<'_>) -> Flow {
        self.on_message(text, cx).await
    }

    async fn on_binary(&mut self, data: &[u8], cx: &mut Cx<'_>) -> Flow {
        match std::str::from_utf8(data) {
            Ok(text) => self.on_message(text, cx).await,
            Err(_) => Flow::Close(close(code::BAD_REQUEST, "Invalid message received")),
        }
    }

    fn keepalive(&self) -> Option<String> {
        // PROTOCOL.md: a pong may be sent unsolicited as a unidirectional heartbeat.
        self.acked.then(|| match self.dialect {
            Dialect::TransportWs => Encoder(self.dialect).text("pong", None, None::<()>),
            Dialect::Legacy => Encoder(self.dialect).text("ka", None, None::<()>),
        })
    }

    /// graphql-ws gives up on `4401` (fatal: no retry, no second
    /// `connectionParams()`) and retries `4403` ("might grant access after
    /// retry"), calling `connectionParams()` again: a client that returns
    /// a fresh token there reconnects by itself. Neither dialect can renew
    /// a token in-band (a second `connection_init` is `4429`).
    const TOKEN_EXPIRED: (u16, &'static str) = (code::FORBIDDEN, "Forbidden: token expired");

    fn deadline(&self) -> Option<(Instant, Message)> {
        (!self.init_received).then(|| {
            (
                self.init_deadline,
                close(code::INIT_TIMEOUT, "Connection initialisation timeout"),
            )
        })
    }
}

impl GraphqlWs {
    async fn on_message(&mut self, text: &str, cx: &mut Cx<'_>) -> Flow {
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return Flow::Close(close(
                    code::BAD_REQUEST,
                    format!("Invalid message received: {e}"),
                ));
            }
        };
        if !msg.belongs_to(self.dialect) {
            return Flow::Close(close(
                code::BAD_REQUEST,
                format!(
                    "Invalid message received: unknown type for {}",
                    self.dialect_name()
                ),
            ));
        }
        let enc = Encoder(self.dialect);
        match msg {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload, cx).await,
            ClientMessage::Ping { .. } => {
                cx.reply(enc.text("pong", None, None::<()>)).await;
                Flow::Continue
            }
            ClientMessage::Pong { .. } => Flow::Continue,
            ClientMessage::Subscribe { id, payload } | ClientMessage::Start { id, payload } => {
                self.on_subscribe(id, payload, cx).await
            }
            ClientMessage::Complete { id } | ClientMessage::Stop { id } => {
                for op in cx.ops.iter().filter(|op| op.tag.id == id) {
                    op.tag.done.store(true, Ordering::Release);
                    op.cancel.cancel();
                }
                Flow::Continue
            }
            ClientMessage::ConnectionTerminate { .. } => {
                Flow::Close(close(code::NORMAL, "Normal Closure"))
            }
        }
    }

    async fn on_init(&mut self, payload: Option<Map<String, Value>>, cx: &mut Cx<'_>) -> Flow {
        if self.init_received {
            return Flow::Close(close(
                code::TOO_MANY_INITS,
                "Too many initialisation requests",
            ));
        }
        self.init_received = true;
        let enc = Encoder(self.dialect);
        let verified = match payload.as_ref().and_then(init_token) {
            Some(token) => Some(cx.state().verifier.verify(&token).await),
            None => self.upgrade_auth.take(),
        };
        let why = match verified {
            Some(Ok(principal)) => match cx.authenticate(principal).await {
                Ok(()) => {
                    self.acked = true;
                    cx.reply(enc.text("connection_ack", None, None::<()>)).await;
                    if self.dialect == Dialect::Legacy {
                        cx.reply(enc.text("ka", None, None::<()>)).await;
                    }
                    return Flow::Continue;
                }
                Err(refused) => return Flow::Close(admission_close(&refused)),
            },
            Some(Err(e)) => e.to_string(),
            None => AuthError::Missing.to_string(),
        };
        if self.dialect == Dialect::Legacy {
            let payload = serde_json::json!({"message": format!("Forbidden: {why}")});
            cx.reply(enc.text("connection_error", None, Some(payload)))
                .await;
        }
        Flow::Close(close(code::FORBIDDEN, format!("Forbidden: {why}")))
    }

    async fn on_subscribe(
        &mut self,
        id: String,
        payload: OperationPayload,
        cx: &mut Cx<'_>,
    ) -> Flow {
        // A malformed message is refused before the ack is looked at.
        if id.is_empty() {
            return Flow::Close(close(
                code::BAD_REQUEST,
                "Invalid message received: empty id",
            ));
        }
        let Some(principal) = cx.principal().filter(|_| self.acked).cloned() else {
            return Flow::Close(close(code::UNAUTHORIZED, "Unauthorized"));
        };
        if cx
            .ops
            .live()
            .any(|op| op.tag.id == id && !op.tag.done.load(Ordering::Acquire))
        {
            return Flow::Close(close(
                code::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            ));
        }
        let enc = Encoder(self.dialect);
        if let Err(refused) = cx.ops.admit() {
            let errors = match refused {
                OpRefusal::ShuttingDown => shutting_down(),
                OpRefusal::TooMany => errors(
                    ErrorCode::TooManyOperations,
                    &format!(
                        "too many operations on this connection (at most {})",
                        cx.ops.limit()
                    ),
                ),
            };
            for msg in enc.failure(&id, errors) {
                cx.reply(msg).await;
            }
            return Flow::Continue;
        }
        // Refused before parsing: the document's size; then, parsed once
        // (the parse stays in the request), a subscription's root fields.
        if let Err(e) =
            limits::check_document(&payload.query, cx.state().graphql_max_document_bytes)
        {
            for msg in enc.failure(&id, [e]) {
                cx.reply(msg).await;
            }
            return Flow::Continue;
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
        if let Err(e) = limits::check_subscription(&mut req) {
            for msg in enc.failure(&id, [e]) {
                cx.reply(msg).await;
            }
            return Flow::Continue;
        }
        let req = req.data(cx.state().clone()).data(principal).data(key);
        let responses = self.schema.execute_stream(req).boxed();
        let done = Arc::new(AtomicBool::new(false));
        let tag = OpTag {
            id: id.clone(),
            done: done.clone(),
        };
        let op = Operation {
            id,
            enc,
            out: cx.out(),
            done,
            closing: cx.closing().clone(),
        };
        cx.ops.spawn(tag, move |cancel| op.run(responses, cancel));
        Flow::Continue
    }

    fn dialect_name(&self) -> &'static str {
        match self.dialect {
            Dialect::TransportWs => TRANSPORT_WS,
            Dialect::Legacy => LEGACY_WS,
        }
    }
}

/// The close frame for a socket refused at `connection_init`.
fn admission_close(refused: &Admission) -> Message {
    let code = match refused {
        Admission::TooMany => code::TRY_AGAIN_LATER,
        Admission::ShuttingDown => code::GOING_AWAY,
        Admission::Registry(_) => code::INTERNAL_ERROR,
    };
    close(code, refused.to_string())
}

/// One running operation: its responses become `next`/`data` messages, then
/// `complete`; one that fails before producing data gets the dialect's
/// failure ([`Encoder::failure`]). While it has produced nothing (waiting
/// for a session), a shutdown ends it the same way.
struct Operation {
    id: String,
    enc: Encoder,
    out: mpsc::Sender<Message>,
    done: Arc<AtomicBool>,
    closing: CancellationToken,
}

impl Operation {
    async fn run(self, mut responses: BoxStream<'static, Response>, cancel: CancellationToken) {
        let id = Some(self.id.as_str());
        let mut first = true;
        loop {
            let item = tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = self.closing.cancelled(), if first => {
                    self.fail(shutting_down()).await;
                    return;
                }
                item = responses.next() => item,
            };
            let msg = match item {
                Some(resp) if first && resp.data == async_graphql::Value::Null && resp.is_err() => {
                    self.fail(&resp.errors).await;
                    return;
                }
                Some(resp) => {
                    first = false;
                    let ty = match self.enc.0 {
                        Dialect::TransportWs => "next",
                        Dialect::Legacy => "data",
                    };
                    self.enc.text(ty, id, Some(&resp))
                }
                None => {
                    self.last(self.enc.text("complete", id, None::<()>)).await;
                    return;
                }
            };
            if self.out.send(Message::Text(msg.into())).await.is_err() {
                return;
            }
        }
    }

    /// The operation's last message: its id is free again once the client sees it.
    async fn last(&self, text: String) {
        self.done.store(true, Ordering::Release);
        let _ = self.out.send(Message::Text(text.into())).await;
    }

    /// End the operation with `errors`, before any data.
    async fn fail<E: Serialize>(&self, errors: E) {
        let mut msgs = self.enc.failure(&self.id, errors);
        let Some(last) = msgs.pop() else { return };
        for msg in msgs {
            if self.out.send(Message::Text(msg.into())).await.is_err() {
                return;
            }
        }
        self.last(last).await;
    }
}

/// Server messages of one dialect.
#[derive(Clone, Copy)]
struct Encoder(Dialect);

impl Encoder {
    fn text<P: Serialize>(&self, ty: &str, id: Option<&str>, payload: Option<P>) -> String {
        #[derive(Serialize)]
        struct ServerMessage<'a, P> {
            #[serde(rename = "type")]
            ty: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<P>,
        }
        serde_json::to_string(&ServerMessage { ty, id, payload }).unwrap_or_else(|e| {
            // Our own types always serialise; say so if one ever does not.
            tracing::warn!(error = %e, "cannot encode a graphql websocket message");
            format!(r#"{{"type":"error","id":{}}}"#, serde_json::json!(id))
        })
    }
}

impl Encoder {
    /// The messages that end operation `id` with `errors` before any data:
    /// graphql-transport-ws's one `error` (no `complete`); on the legacy
    /// dialect, what the reference `SubscriptionServer` sends, `data` with
    /// `{"data": null, "errors"}` and then `complete`.
    fn failure<E: Serialize>(&self, id: &str, errors: E) -> Vec<String> {
        match self.0 {
            Dialect::TransportWs => vec![self.text("error", Some(id), Some(errors))],
            Dialect::Legacy => {
                #[derive(Serialize)]
                struct Failed<E> {
                    /// `null`.
                    data: (),
                    errors: E,
                }
                vec![
                    self.text("data", Some(id), Some(Failed { data: (), errors })),
                    self.text("complete", Some(id), None::<()>),
                ]
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
    fn belongs_to(&self, dialect: Dialect) -> bool {
        use ClientMessage::*;
        match dialect {
            Dialect::TransportWs => matches!(
                self,
                ConnectionInit { .. }
                    | Ping { .. }
                    | Pong { .. }
                    | Subscribe { .. }
                    | Complete { .. }
            ),
            Dialect::Legacy => matches!(
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

/// The `errors` of an `error` message: one error with `extensions.code`
/// and `retryable`, as the schema's resolvers render an `ErrorCode`.
fn errors(code: ErrorCode, message: &str) -> Value {
    serde_json::json!([{
        "message": message,
        "extensions": {"code": code.as_str(), "retryable": code.retryable()},
    }])
}

fn shutting_down() -> Value {
    errors(ErrorCode::ShuttingDown, "the gateway is shutting down")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_failure_before_data_is_each_dialects_own() {
        let errors = errors(ErrorCode::NotFound, "no such session");
        let msgs = |d| {
            Encoder(d)
                .failure("7", &errors)
                .iter()
                .map(|m| serde_json::from_str::<Value>(m).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            msgs(Dialect::TransportWs),
            vec![serde_json::json!({"type": "error", "id": "7", "payload": errors})]
        );
        assert_eq!(
            msgs(Dialect::Legacy),
            vec![
                serde_json::json!({"type": "data", "id": "7", "payload": {"data": null, "errors": errors}}),
                serde_json::json!({"type": "complete", "id": "7"}),
            ]
        );
    }

    #[test]
    fn messages_are_checked_per_protocol() {
        let sub =
            parse(r#"{"type":"subscribe","id":"1","payload":{"query":"{ models }"}}"#).unwrap();
        assert!(sub.belongs_to(Dialect::TransportWs));
        assert!(!sub.belongs_to(Dialect::Legacy));
        let start = parse(r#"{"type":"start","id":"1","payload":{"query":"{ models }"}}"#).unwrap();
        assert!(start.belongs_to(Dialect::Legacy));
        assert!(!start.belongs_to(Dialect::TransportWs));
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
