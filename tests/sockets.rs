//! Socket policies, each run against every socket endpoint: `/v1/ws`,
//! `/v1/ai-sdk/ws` and `/graphql` (graphql-transport-ws). One driver
//! (`src/socket`) serves all three, so a policy that holds on one holds on
//! all; these tests keep it that way.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Actions,
    AiSdk,
    Graphql,
}

const ALL: [Endpoint; 3] = [Endpoint::Actions, Endpoint::AiSdk, Endpoint::Graphql];

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Actions => "/v1/ws",
            Endpoint::AiSdk => "/v1/ai-sdk/ws",
            Endpoint::Graphql => "/graphql",
        }
    }

    /// The `transport` label of its metrics.
    fn label(self) -> &'static str {
        match self {
            Endpoint::Actions => "ws",
            Endpoint::AiSdk => "ai_sdk",
            Endpoint::Graphql => "graphql",
        }
    }

    fn request(self, gw: &Gateway, token: &str) -> http::Request<()> {
        let url = format!("{}{}", gw.base.replace("http", "ws"), self.path());
        let mut req = url.into_client_request().unwrap();
        let h = req.headers_mut();
        match self {
            Endpoint::Graphql => {
                h.insert(
                    "sec-websocket-protocol",
                    "graphql-transport-ws".parse().unwrap(),
                );
            }
            _ => {
                h.insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
        }
        req
    }

    /// An open, authenticated socket: `/v1/ws` after its greeting, GraphQL
    /// after `connection_ack`.
    async fn open(self, gw: &Gateway, token: &str) -> Ws {
        let (mut ws, _) = tokio_tungstenite::connect_async(self.request(gw, token))
            .await
            .unwrap_or_else(|e| panic!("{self:?}: upgrade failed: {e}"));
        match self {
            Endpoint::Actions => assert_eq!(next_json(&mut ws).await["type"], "connected"),
            Endpoint::AiSdk => {}
            Endpoint::Graphql => {
                send_json(
                    &mut ws,
                    json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
                )
                .await;
                assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
            }
        }
        ws
    }

    /// A message that starts a long operation on this socket.
    fn long_operation(self) -> Value {
        let prompt = "[[sim tokens=1000 rate=20]] keep going";
        match self {
            Endpoint::Actions => json!({"action": "stream", "requestId": "long", "prompt": prompt}),
            Endpoint::AiSdk => json!({
                "type": "send", "requestId": "long", "id": "chat-long",
                "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": prompt}]}],
            }),
            Endpoint::Graphql => json!({
                "type": "subscribe", "id": "long",
                "payload": {"query": format!(
                    "subscription {{ onTokenReceived(sessionId: \"never-{}\") {{ token }} }}",
                    uuid::Uuid::new_v4()
                )},
            }),
        }
    }
}

async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text message as JSON (pings are answered as we read).
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match within(WAIT, ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Read until the server's close frame; its code and reason.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        match within(WAIT, ws.next()).await {
            Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a close frame"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before the close frame: {e}"),
        }
    }
}

/// `spillway_<name>{transport="<label>"}` from `/metrics`.
async fn gauge(gw: &Gateway, name: &str, label: &str) -> u64 {
    let text = gw.metrics().await;
    let prefix = format!("spillway_{name}{{transport=\"{label}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_frame_over_the_message_limit_closes_1009_on_every_socket() {
    let gw = Gateway::with(|c| {
        c.ws_max_message_bytes = 4 * 1024;
        c.max_body_bytes = 4 * 1024;
    })
    .await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        // 1 MiB in one frame: refused from its header, before its bytes are read.
        let _ = ws.send(Message::Text("x".repeat(1024 * 1024).into())).await;
        assert_eq!(close_frame(&mut ws).await.0, 1009, "{ep:?}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn an_idle_socket_is_closed_on_every_endpoint() {
    let gw = Gateway::with(|c| c.ws_idle_timeout_secs = 0.3).await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (1000, "idle timeout".to_owned()),
            "{ep:?}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_running_operation_keeps_a_socket_from_idling_but_not_past_its_lifetime() {
    let gw = Gateway::with(|c| {
        c.ws_idle_timeout_secs = 0.2;
        c.ws_max_lifetime_secs = 1.5;
    })
    .await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        send_json(&mut ws, ep.long_operation()).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (1000, "maximum connection lifetime reached".to_owned()),
            "{ep:?}"
        );
    }
    gw.shutdown().await;
}

/// A token that expires closes every socket, each with its protocol's code:
/// `4401` where the client can renew in-band first (`/v1/ws`'s `auth`),
/// `4403` on GraphQL, whose graphql-ws client retries it (and gives up on
/// `4401`), asking its `connectionParams()` for a fresh token. It expires
/// when HTTP stops taking it: `exp` plus `--jwt-leeway-secs`.
#[tokio::test]
async fn a_token_that_expires_closes_every_socket_with_its_protocols_code() {
    let gw = Gateway::with(|c| c.jwt_leeway_secs = 1).await;
    for ep in ALL {
        let short = spillway::auth::dev::DevIssuer::load_or_create(gw.data_dir())
            .unwrap()
            .mint("alice", &[], 1)
            .unwrap();
        let mut ws = ep.open(&gw, &short).await;
        let expected = match ep {
            Endpoint::Graphql => (4403, "Forbidden: token expired"),
            Endpoint::Actions | Endpoint::AiSdk => (4401, "token expired"),
        };
        assert_eq!(
            close_frame(&mut ws).await,
            (expected.0, expected.1.to_owned()),
            "{ep:?}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now > exp(&short), "{ep:?}: closed before exp + leeway");
    }
    gw.shutdown().await;
}

/// A token's `exp` claim.
fn exp(token: &str) -> u64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_u64().unwrap()
}

#[tokio::test]
async fn every_socket_is_counted_in_the_connection_gauge_and_pinged() {
    let gw = Gateway::with(|c| c.ws_ping_secs = 0.1).await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        // Counted once the server has registered it, a moment after the upgrade.
        eventually(WAIT, || async {
            gauge(&gw, "connections_active", ep.label()).await == 1
        })
        .await;
        // The server pings every socket.
        loop {
            match within(WAIT, ws.next()).await {
                Some(Ok(Message::Ping(_))) => break,
                Some(Ok(_)) => continue,
                other => panic!("{ep:?}: {other:?}"),
            }
        }
        ws.close(None).await.unwrap();
        eventually(WAIT, || async {
            gauge(&gw, "connections_active", ep.label()).await == 0
        })
        .await;
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped_on_every_endpoint() {
    // Pings a second apart: the socket is surely counted before its first
    // ping goes unanswered, even on a loaded machine (0.1 s raced the
    // gauge read below under a parallel build).
    let gw = Gateway::with(|c| c.ws_ping_secs = 1.0).await;
    for ep in ALL {
        // Never read again, so never answer a ping. The socket is counted
        // once the server has registered it, a moment after the upgrade.
        let ws = ep.open(&gw, &gw.token).await;
        eventually(WAIT, || async {
            gauge(&gw, "connections_active", ep.label()).await == 1
        })
        .await;
        eventually(WAIT, || async {
            gauge(&gw, "connections_active", ep.label()).await == 0
        })
        .await;
        drop(ws);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn the_per_user_connection_cap_counts_every_socket_endpoint() {
    let gw = Gateway::with(|c| c.max_connections_per_user = 3).await;
    let mut held = Vec::new();
    for ep in ALL {
        held.push(ep.open(&gw, &gw.token).await);
    }
    // A fourth socket, on any endpoint, is refused.
    for ep in [Endpoint::Actions, Endpoint::AiSdk] {
        match tokio_tungstenite::connect_async(ep.request(&gw, &gw.token)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 429, "{ep:?}");
                assert!(resp.headers().contains_key("retry-after"));
            }
            other => panic!("{ep:?}: expected 429, got {:?}", other.map(|_| ())),
        }
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(Endpoint::Graphql.request(&gw, &gw.token))
        .await
        .unwrap();
    send_json(
        &mut ws,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", gw.token)}}),
    )
    .await;
    assert_eq!(close_frame(&mut ws).await.0, 1013, "graphql at init");
    // Another user is not affected.
    let bob = gw.token_for("bob", &[]);
    for ep in ALL {
        ep.open(&gw, &bob).await;
    }
    drop(held);
    gw.shutdown().await;
}

/// Each message may cost a session lookup and the per-address HTTP rate
/// limit never sees it: past the message rate a socket closes with 1008,
/// saying why, on every endpoint. Messages within the rate are answered.
#[tokio::test]
async fn the_message_rate_is_limited_per_socket_on_every_endpoint() {
    const RATE: usize = 5;
    let gw = Gateway::with(|c| c.ws_rate_limit_per_sec = RATE as u32).await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        let cheap = match ep {
            Endpoint::Actions => json!({"action": "ping", "requestId": "p"}),
            Endpoint::AiSdk => json!({"type": "abort", "requestId": "nothing"}),
            Endpoint::Graphql => json!({"type": "ping"}),
        };
        // A burst of the rate passes (the GraphQL socket's connection_init was one).
        let burst = if ep == Endpoint::Graphql {
            RATE - 1
        } else {
            RATE
        };
        for _ in 0..burst {
            send_json(&mut ws, cheap.clone()).await;
        }
        if ep != Endpoint::AiSdk {
            assert_ne!(next_json(&mut ws).await["type"], "error", "{ep:?}");
        }
        for _ in 0..RATE * 4 {
            if ws
                .send(Message::Text(cheap.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let (code, reason) = close_frame(&mut ws).await;
        assert_eq!(code, 1008, "{ep:?}: {reason}");
        assert!(
            reason.contains("SPILLWAY_WS_RATE_LIMIT_PER_SEC"),
            "{ep:?}: {reason}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn operations_per_socket_are_capped_on_every_endpoint() {
    let gw = Gateway::with(|c| c.ws_max_streams_per_connection = 1).await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        send_json(&mut ws, ep.long_operation()).await;
        let mut second = ep.long_operation();
        match ep {
            Endpoint::Actions => second["requestId"] = json!("second"),
            Endpoint::AiSdk => second["requestId"] = json!("second"),
            Endpoint::Graphql => second["id"] = json!("second"),
        }
        send_json(&mut ws, second).await;
        // The refusal names the second request; the first goes on.
        loop {
            let m = next_json(&mut ws).await;
            let about_second = m["requestId"] == "second" || m["id"] == "second";
            if !about_second {
                continue;
            }
            assert_eq!(m["type"], "error", "{ep:?}: {m}");
            match ep {
                Endpoint::Actions => assert_eq!(m["error"]["code"], "too_many_streams"),
                Endpoint::AiSdk => assert_eq!(
                    m["errorText"],
                    "too_many_streams: this connection runs the most streams it may"
                ),
                Endpoint::Graphql => {
                    assert_eq!(m["payload"][0]["extensions"]["code"], "too_many_operations")
                }
            }
            break;
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let mut gw = Gateway::start().await;
    let mut sockets = Vec::new();
    for ep in ALL {
        sockets.push((ep, ep.open(&gw, &gw.token).await));
    }
    let server = gw.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    for (ep, ws) in &mut sockets {
        assert_eq!(close_frame(ws).await.0, 1001, "{ep:?}");
    }
    within(WAIT, stopping).await.unwrap();
}

/// A client that closes gets the server's close frame back (the closing
/// handshake completes: browsers and graphql-ws see 1000, not 1006).
#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let gw = Gateway::start().await;
    for ep in ALL {
        let mut ws = ep.open(&gw, &gw.token).await;
        ws.send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: "bye".into(),
            },
        )))
        .await
        .unwrap();
        let answer = loop {
            match within(WAIT, ws.next()).await {
                Some(Ok(Message::Close(f))) => break f,
                Some(Ok(_)) => continue,
                other => panic!("{ep:?}: no close frame back: {other:?}"),
            }
        };
        assert_eq!(answer.map(|f| u16::from(f.code)), Some(1000), "{ep:?}");
    }
    gw.shutdown().await;
}
