//! The socket driver: one loop for every socket endpoint. It reads client
//! messages and hands them to the endpoint's [`Protocol`], runs operations
//! as tasks writing through one bounded outbound buffer, pings, and closes
//! on the first deadline. A slow client fills its buffer, which pauses its
//! operations: they fall behind in session logs, never in an unbounded queue.
//!
//! Generic over any `Sink` + `Stream` of messages, so it is tested without a
//! server (see the tests below) and served over axum's `WebSocket`.

use std::time::Duration;

use axum::extract::ws::{Message, close_code};
use futures_util::stream::SplitStream;
use futures_util::{Sink, Stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::connections::{Admission, Handle, WsLimits};
use super::deadlines::{CLOSE_TOKEN_EXPIRED, Deadlines, close, expiry_instant};
use super::ops::Operations;
use super::upgrade::Client;
use super::writer::write_loop;
use crate::auth::Principal;
use crate::event::now_timestamp;
use crate::metrics::ActiveGuard;
use crate::registry::ConnectionRecord;
use crate::state::AppState;

/// Write a registry `touch` at most this often per connection.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// What one socket endpoint speaks. The driver does everything else.
pub trait Protocol: Send + 'static {
    /// What an operation is known by (a request or operation id).
    type Tag: Send + Sync + 'static;
    /// The endpoint's label in metrics and logs.
    const NAME: &'static str;

    /// The first message, once the socket is registered.
    fn greeting(&self, _connection_id: &str) -> Option<String> {
        None
    }

    /// A text message from the client.
    fn on_text(
        &mut self,
        text: &str,
        cx: &mut Ctx<'_, Self::Tag>,
    ) -> impl Future<Output = Flow> + Send;

    /// A binary message from the client.
    fn on_binary(
        &mut self,
        data: &[u8],
        cx: &mut Ctx<'_, Self::Tag>,
    ) -> impl Future<Output = Flow> + Send;

    /// Sent beside each WebSocket ping (GraphQL's keep-alive message).
    fn keepalive(&self) -> Option<String> {
        None
    }

    /// A deadline of the protocol's own, and its close frame.
    fn deadline(&self) -> Option<(Instant, Message)> {
        None
    }

    /// The close code and reason when the socket's token expires:
    /// [`CLOSE_TOKEN_EXPIRED`] unless the protocol's clients need another
    /// to come back with a fresh token by themselves.
    const TOKEN_EXPIRED: (u16, &'static str) = (CLOSE_TOKEN_EXPIRED, "token expired");
}

/// What the socket does after a client message.
pub enum Flow {
    Continue,
    /// Send this close frame and end the socket.
    Close(Message),
}

/// What the upgrade hands the driver.
pub struct Opening<P> {
    pub protocol: P,
    pub state: AppState,
    /// Known at the upgrade (`/v1/ws`, `/v1/ai-sdk/ws`), or later in-band
    /// ([`Ctx::authenticate`], GraphQL's `connection_init`).
    pub principal: Option<Principal>,
    pub client: Client,
    /// Frame and message limit.
    pub max_message: usize,
    /// Ping (and keep-alive) interval.
    pub ping_every: Duration,
}

/// The socket as a protocol sees it while it handles a message.
pub struct Ctx<'a, T> {
    link: &'a mut Link,
    pub ops: &'a mut Operations<T>,
}

impl<T> Ctx<'_, T> {
    pub fn state(&self) -> &AppState {
        &self.link.state
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.link.principal.as_ref()
    }

    /// A fresh token for the same user: moves the expiry deadline.
    pub fn refresh(&mut self, principal: Principal) {
        self.link.principal = Some(principal);
    }

    /// Authenticate a socket whose upgrade carried no token: admission
    /// (shutdown, per-user cap) and the registry record, as at an upgrade.
    pub async fn authenticate(&mut self, principal: Principal) -> Result<(), Admission> {
        if self.link.registered.is_none() {
            self.link.state.connections.admit(&principal.sub).await?;
            self.link.register(&principal).await?;
        }
        self.link.principal = Some(principal);
        Ok(())
    }

    /// A sender into the outbound buffer, for an operation's task.
    pub fn out(&self) -> mpsc::Sender<Message> {
        self.link.out.clone()
    }

    /// Queue a text message (waits while the buffer is full).
    pub async fn reply(&self, text: String) {
        let _ = self.link.out.send(Message::Text(text.into())).await;
    }

    /// Fires when the gateway starts shutting down.
    pub fn closing(&self) -> &CancellationToken {
        self.link.state.connections.closing()
    }
}

/// The socket's identity and way out; what [`Ctx`] lends a protocol.
struct Link {
    state: AppState,
    transport: &'static str,
    principal: Option<Principal>,
    client: Client,
    id: String,
    out: mpsc::Sender<Message>,
    /// Fired by `DELETE /@connections/{id}`.
    close: CancellationToken,
    /// Present once recorded in the registry.
    registered: Option<Registered>,
}

struct Registered {
    handle: Handle,
    _connected: ActiveGuard,
}

impl Link {
    async fn register(&mut self, principal: &Principal) -> Result<(), Admission> {
        let conns = &self.state.connections;
        let now = now_timestamp();
        let record = ConnectionRecord {
            id: self.id.clone(),
            user: principal.sub.clone(),
            node: conns.node().to_owned(),
            connected_at: now.clone(),
            last_active_at: now,
            source_ip: std::mem::take(&mut self.client.source_ip),
            user_agent: std::mem::take(&mut self.client.user_agent),
        };
        let handle = Handle::new(self.out.clone(), self.close.clone());
        conns.open(record, handle.clone()).await?;
        tracing::info!(connection = %self.id, user = %principal.sub, transport = self.transport, "socket connected");
        self.registered = Some(Registered {
            handle,
            _connected: self.state.metrics.connection_guard(self.transport),
        });
        Ok(())
    }
}

/// Serve one upgraded socket until it closes.
///
/// Not an `async fn` on purpose: an async fn keeps its arguments (and the
/// copies it makes of them) in its future for as long as it runs, i.e. for
/// the whole life of the connection. Here they go to the heap for the
/// opening only; an idle connection's future holds the loop's state and a
/// pointer (see BENCHMARKS.md, scenario 4).
pub fn serve<P, S>(socket: S, opening: Box<Opening<P>>) -> impl Future<Output = ()> + Send + 'static
where
    P: Protocol,
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Send + Unpin + 'static,
{
    let opening = Box::new((socket, opening));
    async move {
        if let Some(live) = Box::pin(open(opening)).await {
            live.run().await;
        }
    }
}

/// An open socket.
struct Socket<P: Protocol, S> {
    protocol: P,
    link: Link,
    ops: Operations<P::Tag>,
    stream: SplitStream<S>,
    writer: tokio::task::JoinHandle<()>,
    max_message: usize,
    /// Messages per second the client may send (`SPILLWAY_WS_RATE_LIMIT_PER_SEC`).
    rate: Option<DefaultDirectRateLimiter>,
    ping_every: Duration,
}

/// Start the writer, register the socket when its user is known, greet the
/// client; `None` (after a close frame) when the registry refuses it.
async fn open<P, S>(opening: Box<(S, Box<Opening<P>>)>) -> Option<Box<Socket<P, S>>>
where
    P: Protocol,
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Send + Unpin + 'static,
{
    let (socket, opening) = *opening;
    let Opening {
        protocol,
        state,
        principal,
        client,
        max_message,
        ping_every,
    } = *opening;
    let limits = *state.connections.limits();
    let (tx, rx) = mpsc::channel::<Message>(limits.outbound_buffer.max(1));
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, rx));
    let ops = Operations::new(
        limits.max_streams_per_connection,
        state.metrics.clone(),
        P::NAME,
    );
    let mut link = Link {
        state,
        transport: P::NAME,
        principal: None,
        client,
        id: uuid::Uuid::new_v4().to_string(),
        out: tx,
        close: CancellationToken::new(),
        registered: None,
    };
    if let Some(principal) = principal {
        if let Err(e) = link.register(&principal).await {
            tracing::warn!(error = %e, "refusing a socket: registry unavailable");
            let _ = link
                .out
                .send(close(close_code::ERROR, "registry unavailable"))
                .await;
            drop(link);
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
            return None;
        }
        link.principal = Some(principal);
        if let Some(hello) = protocol.greeting(&link.id) {
            let _ = link.out.send(Message::Text(hello.into())).await;
        }
    }
    Some(Box::new(Socket {
        protocol,
        link,
        ops,
        stream,
        writer,
        max_message,
        rate: limits
            .max_messages_per_sec
            .map(|n| RateLimiter::direct(Quota::per_second(n))),
        ping_every,
    }))
}

impl<P, S> Socket<P, S>
where
    P: Protocol,
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Send + Unpin + 'static,
{
    /// Read messages, run operations, ping, and close on the first deadline.
    /// Boxed `self`: an async fn's by-value argument would be stored twice.
    async fn run(mut self: Box<Self>) {
        let limits = *self.link.state.connections.limits();
        let closing = self.link.state.connections.closing().clone();
        let started = Instant::now();
        // Pings sent since the peer last sent anything. Counted in ticks, not
        // read off the clock: a server that runs late (a loaded machine) can
        // find a tick and the peer's answer ready at once, and must not judge
        // the peer by its own delay.
        let mut unanswered = 0u32;
        let mut last_action = Instant::now();
        let mut last_touch = Instant::now();
        let mut ping = tokio::time::interval_at(Instant::now() + self.ping_every, self.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let reason: Option<Message> = loop {
            let (deadline, why) = Deadlines {
                // With the leeway HTTP allows: a token a request may still
                // use keeps its socket open as long.
                expires: self.link.principal.as_ref().map(|p| {
                    let until = self.link.state.verifier.accepted_until(p);
                    (expiry_instant(until), P::TOKEN_EXPIRED)
                }),
                lifetime_ends: started + limits.max_lifetime,
                idle_ends: self
                    .ops
                    .is_empty()
                    .then(|| last_action + limits.idle_timeout),
                protocol: self.protocol.deadline(),
            }
            .nearest();
            tokio::select! {
                _ = self.link.close.cancelled() => break Some(close(close_code::NORMAL, "closed by the server")),
                _ = closing.cancelled(), if !self.ops.draining() => {
                    self.ops.start_draining();
                    if self.ops.is_empty() { break Some(close(close_code::AWAY, "server shutting down")); }
                }
                _ = ping.tick() => {
                    if unanswered >= 2 {
                        tracing::info!(connection = %self.link.id, "peer stopped answering pings");
                        break None;
                    }
                    // A full buffer means a slow client, not a dead one: the next tick decides.
                    let _ = self.link.out.try_send(Message::Ping(Default::default()));
                    unanswered += 1;
                    if let Some(keepalive) = self.protocol.keepalive() {
                        let _ = self.link.out.try_send(Message::Text(keepalive.into()));
                    }
                }
                _ = sleep_until(deadline) => break Some(why),
                () = self.ops.ended() => {
                    if self.ops.draining() && self.ops.is_empty() {
                        break Some(close(close_code::AWAY, "server shutting down"));
                    }
                }
                msg = self.stream.next() => {
                    unanswered = 0;
                    let msg = match msg {
                        None | Some(Ok(Message::Close(_))) => break None,
                        Some(Err(e)) => break read_error(&e),
                        Some(Ok(m)) => m,
                    };
                    let len = match &msg {
                        Message::Text(t) => t.len(),
                        Message::Binary(b) => b.len(),
                        // WebSocket-level pings are answered by the WebSocket layer.
                        _ => continue,
                    };
                    if len > self.max_message {
                        break Some(close(close_code::SIZE, "message too big"));
                    }
                    // Every message may cost a lookup (in a fleet, a registry
                    // read), and the per-address HTTP rate limit never sees it.
                    if let Some(rate) = &self.rate && rate.check().is_err() {
                        break Some(close(close_code::POLICY, too_many_messages(limits)));
                    }
                    last_action = Instant::now();
                    if let Some(registered) = &self.link.registered {
                        registered.handle.mark_active();
                        if last_touch.elapsed() >= TOUCH_EVERY {
                            last_touch = Instant::now();
                            let conns = self.link.state.connections.clone();
                            let _ = Box::pin(conns.registry().touch(&self.link.id, &now_timestamp())).await;
                        }
                    }
                    let mut cx = Ctx { link: &mut self.link, ops: &mut self.ops };
                    let flow = match &msg {
                        Message::Text(t) => Box::pin(self.protocol.on_text(t.as_str(), &mut cx)).await,
                        Message::Binary(b) => Box::pin(self.protocol.on_binary(b, &mut cx)).await,
                        _ => Flow::Continue,
                    };
                    if let Flow::Close(frame) = flow {
                        break Some(frame);
                    }
                }
            }
        };
        Box::pin(self.close(reason)).await;
    }

    /// Stop the operations (the hub cancels upstreams nobody else reads,
    /// after its grace), send the close frame, leave the registry, let the
    /// writer finish.
    async fn close(self: Box<Self>, reason: Option<Message>) {
        let Socket {
            protocol,
            link,
            mut ops,
            writer,
            ..
        } = *self;
        ops.abort_all();
        drop(protocol);
        let Link {
            state,
            id,
            out,
            registered,
            transport,
            ..
        } = link;
        if let Some(msg) = reason {
            let _ = tokio::time::timeout(Duration::from_secs(1), out.send(msg)).await;
        }
        drop(out);
        if let Some(registered) = registered {
            drop(registered);
            // Drops the registry's handle, the last sender besides aborted operations.
            state.connections.close(&id).await;
            tracing::info!(connection = %id, transport, "socket closed");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    }
}

/// The close reason past the message rate (at most 123 bytes, as close reasons are).
fn too_many_messages(limits: WsLimits) -> String {
    let n = limits.max_messages_per_sec.map_or(0, |n| n.get());
    format!("too many messages: more than {n} a second (SPILLWAY_WS_RATE_LIMIT_PER_SEC)")
}

/// A read error's close frame: an oversized frame or message gets 1009, a
/// frame that breaks the protocol 1002, text that is not UTF-8 1007;
/// anything else (the connection itself failed) just ends the socket.
fn read_error(e: &axum::Error) -> Option<Message> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = src {
        match err.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => {
                return Some(close(close_code::SIZE, "message too big"));
            }
            Some(tungstenite::Error::Protocol(p)) => {
                return Some(close(close_code::PROTOCOL, p.to_string()));
            }
            Some(tungstenite::Error::Utf8(_)) => {
                return Some(close(close_code::INVALID, "text is not valid UTF-8"));
            }
            _ => {}
        }
        src = err.source();
    }
    None
}
