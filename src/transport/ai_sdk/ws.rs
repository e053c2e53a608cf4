//! `GET /v1/ai-sdk/ws`: the `WebSocketChatTransport` protocol. Client frames
//! `send` (a chat turn), `resume` (replay the chat's active stream, skipping
//! chunks up to `lastSequence`) and `abort`; server frames `start`, `chunk`
//! (with its `sequence`), `end`, `error` (`errorText`) and `no-active`, each
//! with the `requestId` it answers. Many chats share one socket.
//!
//! Like `/v1/ws`, each request is a cursor task writing through one bounded
//! outbound buffer, and the socket is recorded in the connection registry.
//! `abort` stops the upstream at once when no other reader is attached; a
//! socket that just goes away leaves its streams to the cancel grace, so a
//! reload can resume them.

use std::collections::HashMap;
use std::pin::pin;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, close_code};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::chunks::{UiChunk, chunk_stream};
use super::request::{ChatOptions, UiMessage, check_chat_id, to_stream_request};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::event::now_timestamp;
use crate::hub::Subscription;
use crate::hub::chats::ChatIndex;
use crate::registry::ConnectionRecord;
use crate::state::AppState;
use crate::transport::ops::Peer;
use crate::transport::ws::SUBPROTOCOL;
use crate::transport::ws::connections::Handle;
use crate::transport::ws::socket::{Deadlines, admit, close, expiry_instant, finish, write_loop};

/// `GET /v1/ai-sdk/ws`: authenticated at the upgrade (`bearer.<JWT>`
/// subprotocol beside `spillway.v1`, `?token=`, or a header).
pub async fn upgrade(
    State(state): State<AppState>,
    Extension(chats): Extension<ChatIndex>,
    principal: Principal,
    Peer(peer): Peer,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let conns = &state.connections;
    if let Err(refused) = admit(conns, &principal.sub).await {
        return refused;
    }
    let now = now_timestamp();
    let record = ConnectionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        user: principal.sub.clone(),
        node: conns.node().to_owned(),
        connected_at: now.clone(),
        last_active_at: now,
        source_ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    };
    // A `send` frame carries the whole conversation, like a POST body.
    let max_message = conns.limits().max_message_bytes.max(state.max_body_bytes);
    let tracker = conns.tracker().clone();
    // The upgrade task keeps its callback for the connection's whole life:
    // boxed, that is one pointer per socket (as on `/v1/ws`).
    let opening = Box::new(Opening {
        state,
        chats,
        principal,
        record,
        max_message,
    });
    ws.protocols([SUBPROTOCOL])
        .max_message_size(max_message.saturating_mul(2))
        .read_buffer_size(crate::transport::ws::socket::READ_BUFFER)
        .on_upgrade(move |socket| tracker.track_future(serve(socket, opening)))
}

/// A running `send` or `resume` on this socket.
struct Running {
    request_id: String,
    cancel: CancellationToken,
}

struct Conn {
    state: AppState,
    chats: ChatIndex,
    principal: Principal,
    out: mpsc::Sender<Message>,
    tasks: JoinSet<u64>,
    running: HashMap<u64, Running>,
    next_key: u64,
}

/// What the upgrade hands over.
struct Opening {
    state: AppState,
    chats: ChatIndex,
    principal: Principal,
    record: ConnectionRecord,
    max_message: usize,
}

/// An open, registered connection.
struct Live {
    conn: Conn,
    conns: crate::transport::ws::Connections,
    limits: crate::transport::ws::WsLimits,
    max_message: usize,
    id: String,
    handle: Handle,
    stream: SplitStream<WebSocket>,
    writer: tokio::task::JoinHandle<()>,
}

/// Serve one socket until it closes. Not an `async fn`, for the reason given
/// at `transport::ws::connection::serve`: an idle connection's future holds
/// only the loop's state, its arguments stay on the heap.
fn serve(socket: WebSocket, opening: Box<Opening>) -> impl Future<Output = ()> + Send + 'static {
    // The socket joins the rest on the heap: captured by the async block, it
    // would keep its ~300 bytes in the future after `open` took it.
    let opening = Box::new((socket, opening));
    async move {
        if let Some(live) = Box::pin(open(opening)).await {
            live.run().await;
        }
    }
}

/// Register the connection and start its writer; `None` (after a close
/// frame) when the registry refuses it.
async fn open(opening: Box<(WebSocket, Box<Opening>)>) -> Option<Box<Live>> {
    let (socket, opening) = *opening;
    let Opening {
        state,
        chats,
        principal,
        record,
        max_message,
    } = *opening;
    let conns = state.connections.clone();
    let limits = *conns.limits();
    let id = record.id.clone();
    let (tx, rx) = mpsc::channel::<Message>(limits.outbound_buffer.max(1));
    let handle = Handle::new(tx.clone());
    let (mut sink, stream) = socket.split();
    if let Err(e) = conns.open(record, handle.clone()).await {
        tracing::warn!(error = %e, "refusing WebSocket: registry unavailable");
        let _ = sink
            .send(close(close_code::ERROR, "registry unavailable"))
            .await;
        return None;
    }
    tracing::info!(connection = %id, user = %principal.sub, "ai-sdk WebSocket connected");
    let writer = tokio::spawn(write_loop(sink, rx));
    Some(Box::new(Live {
        conn: Conn {
            state,
            chats,
            principal,
            out: tx,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            next_key: 0,
        },
        conns,
        limits,
        max_message,
        id,
        handle,
        stream,
        writer,
    }))
}

impl Live {
    /// Read frames, run streams, ping, and close on the first deadline.
    /// Boxed `self`: an async fn's by-value argument would be stored twice.
    async fn run(mut self: Box<Self>) {
        let limits = &self.limits;
        let started = Instant::now();
        let mut last_seen = Instant::now();
        let mut last_action = Instant::now();
        let mut ping =
            tokio::time::interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
        let mut draining = false;
        let expires = expiry_instant(self.conn.principal.expires_at);

        let reason: Option<Message> = loop {
            let conn = &mut self.conn;
            let (deadline, why) = Deadlines {
                expires,
                lifetime_ends: started + limits.max_lifetime,
                idle_ends: conn
                    .running
                    .is_empty()
                    .then(|| last_action + limits.idle_timeout),
            }
            .nearest();
            tokio::select! {
                _ = self.handle.close.cancelled() => break Some(close(close_code::NORMAL, "closed by the server")),
                _ = self.conns.closing().cancelled(), if !draining => {
                    draining = true;
                    if conn.running.is_empty() { break Some(close(close_code::AWAY, "server shutting down")); }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > limits.ping_interval * 2 {
                        break None;
                    }
                    // A full buffer means a slow client, not a dead one: the next tick decides.
                    let _ = conn.out.try_send(Message::Ping(Default::default()));
                }
                _ = sleep_until(deadline) => break Some(why),
                Some(done) = conn.tasks.join_next() => {
                    if let Ok(key) = done { conn.running.remove(&key); }
                    if draining && conn.running.is_empty() { break Some(close(close_code::AWAY, "server shutting down")); }
                }
                msg = self.stream.next() => {
                    last_seen = Instant::now();
                    match msg {
                        None | Some(Ok(Message::Close(_)) | Err(_)) => break None,
                        Some(Ok(Message::Text(text))) => {
                            if text.len() > self.max_message {
                                break Some(close(close_code::SIZE, "message too big"));
                            }
                            last_action = Instant::now();
                            self.handle.mark_active();
                            Box::pin(conn.on_frame(text.as_str(), draining)).await;
                        }
                        Some(Ok(Message::Binary(_))) => {
                            Box::pin(conn.reply(error_frame("", "send frames as JSON text messages"))).await;
                        }
                        Some(Ok(_)) => {}
                    }
                }
            }
        };
        Box::pin(self.close(reason)).await;
    }

    /// Stop this socket's readers (they leave their streams to the cancel
    /// grace), send the close frame, leave the registry, let the writer finish.
    async fn close(self: Box<Self>, reason: Option<Message>) {
        let Live {
            mut conn,
            conns,
            id,
            handle,
            writer,
            ..
        } = *self;
        conn.tasks.abort_all();
        // Everything else the connection holds goes now; only the sender is left.
        let out = conn.out.clone();
        drop(conn);
        finish(out, handle, reason, &conns, &id, writer).await;
        tracing::info!(connection = %id, "ai-sdk WebSocket closed");
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendFrame {
    id: String,
    #[serde(default)]
    messages: Vec<UiMessage>,
    #[serde(default)]
    body: Option<ChatOptions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeFrame {
    id: String,
    #[serde(default)]
    last_sequence: Option<u64>,
}

impl Conn {
    async fn reply(&self, frame: String) {
        let _ = self.out.send(Message::Text(frame.into())).await;
    }

    async fn on_frame(&mut self, text: &str, draining: bool) {
        let frame: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return self
                    .reply(error_frame("", "a frame is a JSON object"))
                    .await;
            }
        };
        let Some(rid) = frame.get("requestId").and_then(Value::as_str) else {
            return self
                .reply(error_frame("", "a frame needs a string requestId"))
                .await;
        };
        let rid = rid.to_owned();
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "abort" {
            for r in self.running.values().filter(|r| r.request_id == rid) {
                r.cancel.cancel();
            }
            return;
        }
        if !matches!(kind, "send" | "resume") {
            let msg = format!("unknown frame type '{kind}' (send, resume, abort)");
            return self.reply(error_frame(&rid, &msg)).await;
        }
        let refusal = if draining {
            Some("the gateway is shutting down")
        } else if self.running.len() >= self.state.connections.limits().max_streams_per_connection {
            Some("this connection runs the most streams it may")
        } else if self.running.values().any(|r| r.request_id == rid) {
            Some("a request with this requestId is running")
        } else {
            None
        };
        if let Some(msg) = refusal {
            return self.reply(error_frame(&rid, msg)).await;
        }
        if kind == "send" {
            match serde_json::from_value::<SendFrame>(frame) {
                Ok(f) => self.send(rid, f),
                Err(e) => {
                    self.reply(error_frame(&rid, &format!("bad send frame: {e}")))
                        .await
                }
            }
        } else {
            match serde_json::from_value::<ResumeFrame>(frame) {
                Ok(f) => self.resume(rid, f).await,
                Err(e) => {
                    self.reply(error_frame(&rid, &format!("bad resume frame: {e}")))
                        .await
                }
            }
        }
    }

    fn spawn<Fut>(&mut self, request_id: String, f: impl FnOnce(CancellationToken) -> Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let key = self.next_key;
        self.next_key += 1;
        let cancel = CancellationToken::new();
        let fut = f(cancel.clone());
        self.tasks.spawn(async move {
            fut.await;
            key
        });
        self.running.insert(key, Running { request_id, cancel });
    }

    /// `send`: start the chat's next answer and stream its chunks.
    fn send(&mut self, rid: String, frame: SendFrame) {
        let state = self.state.clone();
        let chats = self.chats.clone();
        let owner = self.principal.sub.clone();
        let out = self.out.clone();
        self.spawn(rid.clone(), move |cancel| async move {
            let validated = check_chat_id(&frame.id)
                .and_then(|()| {
                    to_stream_request(frame.messages, frame.body.unwrap_or_default())
                })
                .and_then(|req| state.models.validate(req));
            let (inv, api) = match validated {
                Ok(v) => v,
                Err(e) => {
                    send_text(&out, error_frame(&rid, &e.to_string())).await;
                    return;
                }
            };
            let started = tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.hub.start_chat(&chats, &owner, &frame.id, inv, api) => r,
            };
            match started {
                Ok(sub) => {
                    tracing::info!(session = %sub.session().id(), user = %owner, chat = %frame.id, "ai-sdk chat started");
                    pump(sub, rid, 0, out, cancel).await;
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    send_text(&out, error_frame(&rid, &e.to_string())).await;
                }
            }
        });
    }

    /// `resume`: replay the chat's active stream after `lastSequence`, or `no-active`.
    async fn resume(&mut self, rid: String, frame: ResumeFrame) {
        match self
            .state
            .hub
            .resume_chat(&self.chats, &self.principal.sub, &frame.id)
            .await
        {
            Some(sub) => {
                let from = frame.last_sequence.map_or(0, |s| s.saturating_add(1));
                let out = self.out.clone();
                self.spawn(rid.clone(), move |cancel| pump(sub, rid, from, out, cancel));
            }
            None => {
                self.reply(json!({"type": "no-active", "requestId": rid}).to_string())
                    .await
            }
        }
    }
}

/// `start`, the chunks from sequence `from` on, then `end`; on `abort`, stop
/// the upstream unless someone else reads it.
async fn pump(
    sub: Subscription,
    rid: String,
    from: u64,
    out: mpsc::Sender<Message>,
    cancel: CancellationToken,
) {
    let session = sub.session().clone();
    if !send_text(&out, json!({"type": "start", "requestId": rid}).to_string()).await {
        return;
    }
    let mut chunks = pin!(chunk_stream(sub));
    let mut sequence: u64 = 0;
    loop {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                // Our own cursor is still attached, hence `<= 1`.
                if session.reader_count() <= 1 {
                    session.cancel();
                }
                return;
            }
            c = chunks.next() => c,
        };
        let Some(chunk) = chunk else { break };
        if sequence >= from && !send_text(&out, chunk_frame(&rid, sequence, &chunk)).await {
            return;
        }
        sequence += 1;
    }
    send_text(&out, json!({"type": "end", "requestId": rid}).to_string()).await;
}

async fn send_text(out: &mpsc::Sender<Message>, text: String) -> bool {
    out.send(Message::Text(text.into())).await.is_ok()
}

fn chunk_frame(rid: &str, sequence: u64, chunk: &UiChunk) -> String {
    json!({"type": "chunk", "requestId": rid, "sequence": sequence, "chunk": chunk}).to_string()
}

fn error_frame(rid: &str, text: &str) -> String {
    json!({"type": "error", "requestId": rid, "errorText": text}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, F, Fut>(_: F) -> usize
    where
        F: FnOnce(A, B) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every open socket holds this future (plus `Live` on the heap) for as
    /// long as it is open: 3,000 bytes when `serve` was an async fn of its
    /// arguments, 632 now.
    #[test]
    fn an_idle_connection_future_stays_small() {
        let size = future_size(serve);
        assert!(size <= 1024, "the connection future grew to {size} bytes");
        assert!(std::mem::size_of::<Live>() <= 1024);
    }
}
