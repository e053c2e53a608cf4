//! One WebSocket connection: reads actions, runs each stream or subscription
//! as its own cursor task, and writes through one bounded outbound buffer.
//! A slow client fills the buffer, which pauses its cursors: they fall
//! behind in the session log, never in an unbounded queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::connections::Handle;
use super::protocol::{self, Action, ClientMessage};
use super::socket::{Deadlines, close, expiry_instant, finish, write_loop};
use crate::auth::Principal;
use crate::event::now_timestamp;
use crate::hub::{Access, Subscription};
use crate::registry::ConnectionRecord;
use crate::request::StreamRequest;
use crate::state::AppState;

/// Write a registry `touch` at most this often per connection.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// What the upgrade learned about the client.
pub struct Peer {
    pub source_ip: String,
    pub user_agent: String,
}

/// A running stream or subscription on this connection.
struct Running {
    request_id: Option<Value>,
    session_id: Arc<std::sync::OnceLock<String>>,
    cancel: CancellationToken,
}

/// Serve one upgraded socket until it closes.
///
/// Not an `async fn` on purpose: an async fn keeps its arguments (and the
/// copies it makes of them, ~1.6 KiB here) in its future for as long as it
/// runs, i.e. for the whole life of the connection. Here they go to the heap
/// for the opening only; an idle connection's future holds [`Live`] and the
/// loop's state (see BENCHMARKS.md, scenario 4).
pub fn serve(
    socket: WebSocket,
    state: AppState,
    principal: Principal,
    peer: Peer,
) -> impl Future<Output = ()> + Send + 'static {
    let opening = Box::new(Opening {
        socket,
        state,
        principal,
        peer,
    });
    async move {
        if let Some(live) = Box::pin(open(opening)).await {
            live.run().await;
        }
    }
}

/// What the upgrade hands over.
struct Opening {
    socket: WebSocket,
    state: AppState,
    principal: Principal,
    peer: Peer,
}

/// An open, registered connection.
struct Live {
    conn: Conn,
    conns: super::Connections,
    limits: super::WsLimits,
    id: String,
    handle: Handle,
    stream: futures_util::stream::SplitStream<WebSocket>,
    writer: tokio::task::JoinHandle<()>,
    _connected: crate::metrics::ActiveGuard,
}

/// Register the connection, start its writer and greet the client; `None`
/// (after a close frame) when the registry refuses it.
async fn open(opening: Box<Opening>) -> Option<Box<Live>> {
    let Opening {
        socket,
        state,
        principal,
        peer,
    } = *opening;
    let conns = state.connections.clone();
    let limits = *conns.limits();
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::channel::<Message>(limits.outbound_buffer.max(1));
    let handle = Handle::new(tx.clone());
    let now = now_timestamp();
    let record = ConnectionRecord {
        id: id.clone(),
        user: principal.sub.clone(),
        node: conns.node().to_owned(),
        connected_at: now.clone(),
        last_active_at: now,
        source_ip: peer.source_ip,
        user_agent: peer.user_agent,
    };
    let (mut sink, stream) = socket.split();
    if let Err(e) = conns.open(record, handle.clone()).await {
        tracing::warn!(error = %e, "refusing WebSocket: registry unavailable");
        let _ = sink
            .send(close(close_code::ERROR, "registry unavailable"))
            .await;
        return None;
    }
    tracing::info!(connection = %id, user = %principal.sub, "WebSocket connected");
    let connected = state.metrics.connection_guard("ws");
    let writer = tokio::spawn(write_loop(sink, rx));
    let _ = tx
        .send(Message::Text(protocol::connected(&id).into()))
        .await;
    Some(Box::new(Live {
        conn: Conn {
            state,
            principal,
            out: tx,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            next_task: 0,
        },
        conns,
        limits,
        id,
        handle,
        stream,
        writer,
        _connected: connected,
    }))
}

impl Live {
    /// Read actions, run streams, ping, and close on the first deadline.
    /// Boxed `self`: an async fn's by-value argument would be stored twice.
    async fn run(mut self: Box<Self>) {
        let limits = &self.limits;
        let started = Instant::now();
        let mut last_seen = Instant::now();
        let mut last_action = Instant::now();
        let mut last_touch = Instant::now();
        let mut ping =
            tokio::time::interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
        let mut draining = false;

        let reason: Option<Message> = loop {
            let conn = &mut self.conn;
            let (deadline, why) = Deadlines {
                expires: expiry_instant(conn.principal.expires_at),
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
                        tracing::info!(connection = %self.id, "peer stopped answering pings");
                        break None;
                    }
                    if conn.out.try_send(Message::Ping(Default::default())).is_err() {
                        // The buffer is full: the client is slow, not dead; the next tick decides.
                    }
                }
                _ = sleep_until(deadline) => break Some(why),
                Some(done) = conn.tasks.join_next() => {
                    if let Ok(key) = done { conn.running.remove(&key); }
                    if draining && conn.running.is_empty() { break Some(close(close_code::AWAY, "server shutting down")); }
                }
                msg = self.stream.next() => {
                    last_seen = Instant::now();
                    let msg = match msg {
                        None | Some(Ok(Message::Close(_))) => break None,
                        Some(Err(e)) => break read_error(&e),
                        Some(Ok(m)) => m,
                    };
                    match msg {
                        Message::Text(text) => {
                            if text.len() > limits.max_message_bytes {
                                break Some(close(close_code::SIZE, "message too big"));
                            }
                            last_action = Instant::now();
                            self.handle.mark_active();
                            if last_touch.elapsed() >= TOUCH_EVERY {
                                last_touch = Instant::now();
                                let _ = Box::pin(self.conns.registry().touch(&self.id, &now_timestamp())).await;
                            }
                            Box::pin(conn.on_text(text.as_str(), draining)).await;
                        }
                        Message::Binary(_) => {
                            Box::pin(conn.reply(protocol::error(None, "binary_not_supported", "send actions as JSON text messages"))).await;
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
                    }
                }
            }
        };
        Box::pin(self.close(reason)).await;
    }

    /// Stop this connection's cursors (the hub cancels upstreams nobody else
    /// reads), send the close frame, leave the registry, let the writer finish.
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
        tracing::info!(connection = %id, "WebSocket closed");
    }
}

/// A read error: an oversized message gets 1009; anything else just ends the socket.
fn read_error(e: &axum::Error) -> Option<Message> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        if let Some(tungstenite::Error::Capacity(_)) = err.downcast_ref::<tungstenite::Error>() {
            return Some(close(close_code::SIZE, "message too big"));
        }
        src = err.source();
    }
    None
}

struct Conn {
    state: AppState,
    principal: Principal,
    out: mpsc::Sender<Message>,
    tasks: JoinSet<u64>,
    running: HashMap<u64, Running>,
    next_task: u64,
}

impl Conn {
    async fn reply(&self, text: String) {
        let _ = self.out.send(Message::Text(text.into())).await;
    }

    async fn on_text(&mut self, text: &str, draining: bool) {
        let ClientMessage { request_id, action } = match protocol::parse(text) {
            Ok(m) => m,
            Err((rid, e)) => {
                return self
                    .reply(protocol::error(rid.as_ref(), e.code, &e.message))
                    .await;
            }
        };
        let rid = request_id.as_ref();
        match action {
            Action::Ping => self.reply(protocol::pong(rid)).await,
            Action::Auth { token } => match self.state.verifier.verify(&token).await {
                Ok(p) if p.sub == self.principal.sub => {
                    self.principal = p;
                    self.reply(
                        serde_json::json!({"type": "authenticated", "requestId": request_id})
                            .to_string(),
                    )
                    .await;
                }
                Ok(_) => {
                    self.reply(protocol::error(
                        rid,
                        "forbidden",
                        "the new token is for another user",
                    ))
                    .await
                }
                Err(e) => {
                    self.reply(protocol::error(rid, e.code(), &e.to_string()))
                        .await
                }
            },
            Action::Cancel { session_id } => self.cancel(request_id, session_id).await,
            Action::Stream(_) | Action::Subscribe { .. } if draining => {
                self.reply(protocol::error(
                    rid,
                    "shutting_down",
                    "the gateway is shutting down",
                ))
                .await;
            }
            Action::Stream(_) | Action::Subscribe { .. }
                if self.running.len()
                    >= self.state.connections.limits().max_streams_per_connection =>
            {
                self.reply(protocol::error(
                    rid,
                    "too_many_streams",
                    "this connection runs the most streams it may",
                ))
                .await;
            }
            Action::Stream(req) => self.spawn_stream(request_id, *req),
            Action::Subscribe { session_id, after } => {
                let from = after.map_or(0, |a| a.saturating_add(1));
                match self
                    .state
                    .hub
                    .subscribe(&session_id, &Access::user(&self.principal), from)
                    .await
                {
                    Ok(sub) => {
                        let slot = Arc::new(std::sync::OnceLock::new());
                        let _ = slot.set(session_id);
                        self.spawn(request_id, slot, |rid, _slot, out, cancel| {
                            pump(sub, rid, out, cancel)
                        });
                    }
                    Err(e) => {
                        self.reply(protocol::error(rid, e.code(), &e.to_string()))
                            .await
                    }
                }
            }
        }
    }

    fn spawn<F, Fut>(
        &mut self,
        request_id: Option<Value>,
        slot: Arc<std::sync::OnceLock<String>>,
        f: F,
    ) where
        F: FnOnce(
            Option<Value>,
            Arc<std::sync::OnceLock<String>>,
            mpsc::Sender<Message>,
            CancellationToken,
        ) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let key = self.next_task;
        self.next_task += 1;
        let cancel = CancellationToken::new();
        let fut = f(
            request_id.clone(),
            slot.clone(),
            self.out.clone(),
            cancel.clone(),
        );
        let active = self.state.metrics.stream_guard("ws");
        self.tasks.spawn(async move {
            let _active = active;
            fut.await;
            key
        });
        self.running.insert(
            key,
            Running {
                request_id,
                session_id: slot,
                cancel,
            },
        );
    }

    fn spawn_stream(&mut self, request_id: Option<Value>, req: StreamRequest) {
        let state = self.state.clone();
        let owner = self.principal.sub.clone();
        self.spawn(request_id, Arc::new(std::sync::OnceLock::new()), move |rid, slot, out, cancel| async move {
            let send = |text: String| {
                let out = out.clone();
                async move { out.send(Message::Text(text.into())).await.is_ok() }
            };
            let (inv, api) = match state.models.validate(req) {
                Ok(v) => v,
                Err(e) => {
                    send(protocol::error(rid.as_ref(), e.code(), &e.to_string())).await;
                    return;
                }
            };
            let started = tokio::select! {
                _ = cancel.cancelled() => {
                    send(protocol::error(rid.as_ref(), "cancelled", "cancelled before the stream started")).await;
                    return;
                }
                r = state.hub.start(&owner, inv, api) => r,
            };
            let sub = match started {
                Ok(sub) => sub,
                Err(e) => {
                    let e = crate::error::ApiError::from(e);
                    send(protocol::error(rid.as_ref(), e.code(), &e.to_string())).await;
                    return;
                }
            };
            let session = sub.session().clone();
            let _ = slot.set(session.id().to_string());
            if !send(protocol::started(rid.as_ref(), session.id(), session.model())).await {
                return;
            }
            pump(sub, rid, out, cancel).await;
        });
    }

    /// Cancel by `requestId` (one of this connection's streams) or by `sessionId`.
    async fn cancel(&mut self, request_id: Option<Value>, session_id: Option<String>) {
        let targets: Vec<&Running> = self
            .running
            .values()
            .filter(|r| match &session_id {
                Some(sid) => r.session_id.get() == Some(sid),
                None => request_id.is_some() && r.request_id == request_id,
            })
            .collect();
        if !targets.is_empty() {
            for r in targets {
                r.cancel.cancel();
            }
            return;
        }
        // Not read on this connection: cancel the session itself if it is the caller's.
        let access = Access::user(&self.principal);
        let found = match session_id {
            Some(sid) => self.state.hub.find(&sid, &access).await.ok(),
            None => None,
        };
        match found {
            Some(s) if s.reader_count() == 0 => s.cancel(),
            Some(_) => {}
            None => {
                self.reply(protocol::error(
                    request_id.as_ref(),
                    "not_found",
                    "no such stream or session",
                ))
                .await;
            }
        }
    }
}

/// Forward a cursor's events to the socket until the final one, or a cancel.
async fn pump(
    mut sub: Subscription,
    rid: Option<Value>,
    out: mpsc::Sender<Message>,
    cancel: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            ev = sub.next() => ev,
        };
        let Some(ev) = ev else { return };
        if out
            .send(Message::Text(
                protocol::event_message(&ev, rid.as_ref()).into(),
            ))
            .await
            .is_err()
        {
            return;
        }
    }
    // Cancelled. If nobody else reads the session, stop its upstream and
    // deliver the final event; otherwise just detach this reader.
    let session = sub.session().clone();
    if session.reader_count() <= 1 {
        session.cancel();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            if out
                .send(Message::Text(
                    protocol::event_message(&ev, rid.as_ref()).into(),
                ))
                .await
                .is_err()
            {
                return;
            }
        }
    } else {
        let ev = crate::event::TokenEvent {
            session_id: session.id().clone(),
            seq: sub.position(),
            token: String::new(),
            is_complete: true,
            timestamp: now_timestamp(),
            stop_reason: Some("cancelled".into()),
            usage: None,
            error: None,
            wire: Default::default(),
        };
        let _ = out
            .send(Message::Text(
                protocol::event_message(&ev, rid.as_ref()).into(),
            ))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, D, F, Fut>(_: F) -> usize
    where
        F: FnOnce(A, B, C, D) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every open WebSocket holds this future (plus `Live` on the heap, its
    /// writer, buffers and registry entry) for as long as it is open: ~2.8 KiB
    /// before the opening moved to the heap and `run` took a boxed `self`.
    #[test]
    fn an_idle_connection_future_stays_small() {
        let size = future_size(serve);
        assert!(size <= 1024, "the connection future grew to {size} bytes");
        assert!(std::mem::size_of::<Live>() <= 1024);
    }
}
