//! The driver without a server: a socket made of two channels, a small echo
//! protocol, and paused time, so each policy is checked exactly.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{Message, close_code};
use futures_util::{Sink, Stream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::*;
use crate::auth::Principal;
use crate::config::Config;
use crate::state::AppState;

/// The server's end of an in-memory socket.
struct FakeSocket {
    incoming: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Stream for FakeSocket {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx)
    }
}

impl Sink<Message> for FakeSocket {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outgoing.send(item).map_err(axum::Error::new)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's end.
struct Peer {
    to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    from_server: mpsc::UnboundedReceiver<Message>,
}

impl Peer {
    fn send(&self, text: &str) {
        let _ = self.to_server.send(Ok(Message::Text(text.into())));
    }

    /// The next message that is not a ping; `None` once the server hung up.
    async fn next(&mut self) -> Option<Message> {
        loop {
            match self.from_server.recv().await? {
                Message::Ping(_) => continue,
                m => return Some(m),
            }
        }
    }

    async fn text(&mut self) -> String {
        match self.next().await {
            Some(Message::Text(t)) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    async fn close(&mut self) -> (u16, String) {
        match self.next().await {
            Some(Message::Close(Some(f))) => (f.code, f.reason.to_string()),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Echoes text; `op` starts an operation that runs until `stop`; `auth`
/// authenticates; `bye` closes with 4000.
struct Echo;

impl Protocol for Echo {
    type Tag = ();
    const NAME: &'static str = "test";

    fn greeting(&self, _: &str) -> Option<String> {
        Some("hello".into())
    }

    async fn on_text(&mut self, text: &str, cx: &mut Ctx<'_, ()>) -> Flow {
        match text {
            "op" => match cx.ops.admit() {
                Ok(()) => {
                    let out = cx.out();
                    cx.ops.spawn((), move |cancel| async move {
                        cancel.cancelled().await;
                        let _ = out.send(Message::Text("op ended".into())).await;
                    });
                }
                Err(refused) => cx.reply(refused.code().as_str().to_owned()).await,
            },
            "stop" => cx.ops.iter().for_each(|op| op.cancel.cancel()),
            "auth" => {
                let ok = cx.authenticate(principal(3600)).await.is_ok();
                cx.reply(format!("authenticated {ok}")).await;
            }
            "bye" => return Flow::Close(close(4000, "bye")),
            other => cx.reply(other.to_owned()).await,
        }
        Flow::Continue
    }

    async fn on_binary(&mut self, _: &[u8], _: &mut Ctx<'_, ()>) -> Flow {
        Flow::Continue
    }
}

fn principal(valid_for_secs: u64) -> Principal {
    Principal {
        sub: "alice".into(),
        username: "alice".into(),
        groups: Vec::new(),
        expires_at: jsonwebtoken::get_current_timestamp() + valid_for_secs,
    }
}

/// An `AppState` with the local defaults, nothing listening: an in-memory
/// registry, and an upstream that these tests never call (`hub::testing`).
fn state(tweak: impl FnOnce(&mut Config)) -> AppState {
    let mut config = Config::local_defaults();
    tweak(&mut config);
    let registry = crate::registry::Registry::memory();
    let hub = crate::hub::testing::hub(crate::hub::testing::config());
    let keys =
        crate::auth::jwks::KeySet::from_jwks(&jsonwebtoken::jwk::JwkSet { keys: Vec::new() });
    AppState::new(crate::state::Shared {
        hub,
        connections: Connections::new(
            registry.connections.clone(),
            "n1".into(),
            config.ws_limits(),
        ),
        cluster: crate::cluster::Cluster::new(
            "n1".into(),
            "http://127.0.0.1:9".into(),
            None,
            registry,
            reqwest::Client::new(),
            Duration::from_secs(5),
        ),
        metrics: crate::metrics::Metrics::new(),
        edge: crate::edge::EdgeConfig::new(Vec::new(), 0, 0, Duration::from_secs(60)),
        verifier: crate::auth::Verifier::new(
            Arc::new(keys),
            crate::auth::VerifierConfig {
                issuer: "test".into(),
                client_ids: vec!["test".into()],
                token_use: crate::auth::TokenUse::Any,
                leeway_secs: config.jwt_leeway_secs,
            },
        ),
        models: Arc::new(crate::request::ModelPolicy {
            default_model: config.default_model.clone(),
            allowed: Vec::new(),
            default_api: config.api,
            max_prompt_bytes: config.max_prompt_bytes,
            default_guardrail: None,
            profiles: Default::default(),
        }),
        model_aliases: Arc::new(config.model_aliases.clone()),
        dev: None,
        heartbeat: config.heartbeat(),
        graphql_init_timeout: config.graphql_init_timeout(),
        graphql_max_document_bytes: config.graphql_max_document_bytes,
        graphiql: config.serves_graphiql(),
        admin_group: Arc::from("admin"),
        max_body_bytes: config.max_body_bytes,
        web: Arc::new(crate::transport::web::WebConfig::from_config(&config)),
    })
}

/// Serve an `Echo` socket on `state`; the client's end.
fn connect(state: &AppState, principal: Option<Principal>, ping_every: Duration) -> Peer {
    let (to_server, incoming) = mpsc::unbounded_channel();
    let (outgoing, from_server) = mpsc::unbounded_channel();
    let opening = Box::new(Opening {
        protocol: Echo,
        state: state.clone(),
        principal,
        client: Client::default(),
        max_message: 1024,
        ping_every,
    });
    tokio::spawn(serve(FakeSocket { incoming, outgoing }, opening));
    Peer {
        to_server,
        from_server,
    }
}

const NO_PINGS: Duration = Duration::from_secs(1_000_000);

#[tokio::test(start_paused = true)]
async fn greets_echoes_and_closes_1009_past_the_message_limit() {
    let state = state(|_| {});
    let mut peer = connect(&state, Some(principal(3600)), NO_PINGS);
    assert_eq!(peer.text().await, "hello");
    assert_eq!(state.connections.local_count(), 1);
    peer.send("abc");
    assert_eq!(peer.text().await, "abc");
    peer.send(&"x".repeat(1025));
    assert_eq!(peer.close().await.0, close_code::SIZE);
    assert!(peer.next().await.is_none());
    assert_eq!(state.connections.local_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_protocol_may_close_the_socket() {
    let state = state(|_| {});
    let mut peer = connect(&state, Some(principal(3600)), NO_PINGS);
    assert_eq!(peer.text().await, "hello");
    peer.send("bye");
    assert_eq!(peer.close().await, (4000, "bye".into()));
}

#[tokio::test(start_paused = true)]
async fn idles_only_while_nothing_runs_and_never_past_its_lifetime() {
    let state = state(|c| {
        c.ws_idle_timeout_secs = 10.0;
        c.ws_max_lifetime_secs = 100.0;
    });
    let mut peer = connect(&state, Some(principal(3600)), NO_PINGS);
    let start = Instant::now();
    assert_eq!(peer.text().await, "hello");
    assert_eq!(peer.close().await, (1000, "idle timeout".into()));
    assert_eq!(start.elapsed().as_secs(), 10);

    let mut peer = connect(&state, Some(principal(3600)), NO_PINGS);
    let start = Instant::now();
    assert_eq!(peer.text().await, "hello");
    peer.send("op");
    assert_eq!(
        peer.close().await,
        (1000, "maximum connection lifetime reached".into())
    );
    assert_eq!(start.elapsed().as_secs(), 100);
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_closes_4401() {
    let state = state(|c| c.jwt_leeway_secs = 0);
    let mut peer = connect(&state, Some(principal(5)), NO_PINGS);
    assert_eq!(peer.text().await, "hello");
    assert_eq!(
        peer.close().await,
        (CLOSE_TOKEN_EXPIRED, "token expired".into())
    );
}

/// A socket's token expires when HTTP stops taking it: `exp` plus
/// `--jwt-leeway-secs`, so a token within the leeway opens a socket that
/// stays open until the leeway is spent too.
#[tokio::test(start_paused = true)]
async fn the_token_deadline_allows_the_jwt_leeway() {
    let state = state(|c| c.jwt_leeway_secs = 30);
    let mut peer = connect(&state, Some(principal(5)), NO_PINGS);
    let start = Instant::now();
    assert_eq!(peer.text().await, "hello");
    assert_eq!(
        peer.close().await,
        (CLOSE_TOKEN_EXPIRED, "token expired".into())
    );
    // 5 s to `exp` (4 when the wall clock's second turned meanwhile), then 30.
    assert!(
        (34..=35).contains(&start.elapsed().as_secs()),
        "{:?}",
        start.elapsed()
    );

    // Already past `exp`, within the leeway: open until the leeway ends.
    let mut past = principal(0);
    past.expires_at -= 10;
    let mut peer = connect(&state, Some(past), NO_PINGS);
    let start = Instant::now();
    assert_eq!(peer.text().await, "hello");
    assert_eq!(
        peer.close().await,
        (CLOSE_TOKEN_EXPIRED, "token expired".into())
    );
    assert!(
        (19..=20).contains(&start.elapsed().as_secs()),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn pings_and_drops_a_peer_silent_for_two_intervals() {
    let state = state(|_| {});
    let (to_server, incoming) = mpsc::unbounded_channel();
    let (outgoing, mut from_server) = mpsc::unbounded_channel();
    let opening = Box::new(Opening {
        protocol: Echo,
        state: state.clone(),
        principal: Some(principal(3600)),
        client: Client::default(),
        max_message: 1024,
        ping_every: Duration::from_secs(1),
    });
    tokio::spawn(serve(FakeSocket { incoming, outgoing }, opening));
    let start = Instant::now();
    let mut pings = 0;
    while let Some(m) = from_server.recv().await {
        if matches!(m, Message::Ping(_)) {
            pings += 1;
        }
    }
    // Pinged at 1 s and 2 s; silent past 2 s at the 3 s tick: dropped, no close frame.
    assert_eq!(pings, 2);
    assert_eq!(start.elapsed().as_secs(), 3);
    assert_eq!(state.connections.local_count(), 0);
    drop(to_server);
}

/// A stalled process (a loaded machine) runs neither side for a while: when
/// it runs again, the server's next ping tick is due and the peer has not yet
/// answered the last ping. One late tick is not two unanswered pings: the
/// peer answers, and stays. Many sockets, since which side runs first after
/// the stall is up to the scheduler.
#[tokio::test(start_paused = true)]
async fn a_stall_of_the_whole_process_does_not_drop_a_live_peer() {
    let state = state(|_| {});
    for _ in 0..16 {
        let Peer {
            to_server,
            mut from_server,
        } = connect(&state, Some(principal(3600)), Duration::from_secs(1));
        let mut next_ping = async || loop {
            match from_server.recv().await {
                Some(Message::Ping(_)) => return true,
                Some(_) => continue,
                None => return false,
            }
        };
        let pong = || {
            let _ = to_server.send(Ok(Message::Pong(Default::default())));
        };
        // The ping at 1 s is answered at once; the one at 2 s only after a
        // 1.5 s stall, past the server's 3 s tick.
        assert!(next_ping().await);
        pong();
        assert!(next_ping().await);
        tokio::time::advance(Duration::from_millis(1500)).await;
        pong();
        assert!(next_ping().await, "a live peer was dropped after a stall");
        pong();
        assert!(next_ping().await, "a live peer was dropped after a stall");
    }
}

#[tokio::test(start_paused = true)]
async fn operations_are_capped_and_drain_ends_with_1001_after_the_last() {
    let state = state(|c| c.ws_max_streams_per_connection = 1);
    let mut peer = connect(&state, Some(principal(3600)), NO_PINGS);
    assert_eq!(peer.text().await, "hello");
    peer.send("op");
    peer.send("op");
    assert_eq!(peer.text().await, "too_many_streams");
    state.connections.closing().cancel();
    // Still open while the operation runs; no new ones.
    peer.send("ping");
    assert_eq!(peer.text().await, "ping");
    peer.send("stop");
    assert_eq!(peer.text().await, "op ended");
    assert_eq!(peer.close().await.0, close_code::AWAY);
}

#[tokio::test(start_paused = true)]
async fn a_socket_authenticated_in_band_is_admitted_and_registered_then() {
    let state = state(|c| c.max_connections_per_user = 1);
    let mut first = connect(&state, None, NO_PINGS);
    first.send("echo");
    assert_eq!(first.text().await, "echo");
    assert_eq!(state.connections.local_count(), 0);
    first.send("auth");
    assert_eq!(first.text().await, "authenticated true");
    assert_eq!(state.connections.local_count(), 1);
    // The user's cap holds for in-band authentication too.
    let mut second = connect(&state, None, NO_PINGS);
    second.send("auth");
    assert_eq!(second.text().await, "authenticated false");
}

/// Every open socket holds this future for as long as it is open (plus its
/// state on the heap): it must stay small (BENCHMARKS.md, scenario 4).
#[test]
fn an_idle_connection_future_stays_small() {
    fn size_of_future<F: Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let state = state(|_| {});
    let (_tx, incoming) = mpsc::unbounded_channel();
    let (outgoing, _rx) = mpsc::unbounded_channel();
    let opening = Box::new(Opening {
        protocol: Echo,
        state,
        principal: None,
        client: Client::default(),
        max_message: 1024,
        ping_every: NO_PINGS,
    });
    let fut = serve(FakeSocket { incoming, outgoing }, opening);
    let size = size_of_future(&fut);
    assert!(size <= 1024, "the connection future grew to {size} bytes");
}
