//! GraphQL end to end: the AppSync flow (startStream, then onTokenReceived
//! from seq 0), both WebSocket subprotocols spoken by a real WebSocket
//! client, every close code of graphql-ws PROTOCOL.md, owner-only access,
//! publishToken, cancelStream, introspection and the schema file.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";
const WAIT: Duration = Duration::from_secs(15);

const EVENT_FIELDS: &str = "sessionId seq token isComplete timestamp stopReason usage { inputTokens outputTokens } error { code message retryable }";

/// What the server sent.
#[derive(Debug)]
enum In {
    Msg(Value),
    Closed(u16, String),
}

/// A GraphQL-over-WebSocket client on a real socket.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl Client {
    async fn connect(gw: &Gateway, protocol: &'static str) -> Self {
        Self::connect_with(gw, Some(protocol), None).await
    }

    async fn connect_with(
        gw: &Gateway,
        protocol: Option<&'static str>,
        bearer: Option<&str>,
    ) -> Self {
        let url = gw.url("/graphql").replacen("http://", "ws://", 1);
        let mut req = url.into_client_request().unwrap();
        if let Some(p) = protocol {
            req.headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static(p));
        }
        if let Some(t) = bearer {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        let (ws, resp) = within(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("websocket upgrade");
        if let Some(p) = protocol {
            assert_eq!(resp.headers()["sec-websocket-protocol"], p);
        }
        Self {
            ws,
            protocol: protocol.unwrap_or(""),
        }
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, s: &str) {
        self.ws.send(Message::Text(s.into())).await.unwrap();
    }

    /// The next message, keep-alives included.
    async fn recv_any(&mut self) -> In {
        within(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return In::Msg(serde_json::from_str(t.as_str()).unwrap());
                    }
                    Some(Ok(Message::Close(f))) => {
                        return f.map_or(In::Closed(1005, String::new()), |f| {
                            In::Closed(u16::from(f.code), f.reason.to_string())
                        });
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => panic!("websocket error: {e}"),
                    None => return In::Closed(1006, String::new()),
                }
            }
        })
        .await
    }

    /// The next message that is not a keep-alive (`ka`, unsolicited `pong`).
    async fn recv(&mut self) -> In {
        loop {
            match self.recv_any().await {
                In::Msg(m) if m["type"] == "ka" || m["type"] == "pong" => continue,
                other => return other,
            }
        }
    }

    async fn recv_msg(&mut self) -> Value {
        match self.recv().await {
            In::Msg(m) => m,
            In::Closed(code, reason) => {
                panic!("closed {code} {reason} while waiting for a message")
            }
        }
    }

    /// Wait for the server to close; fails on any non-keep-alive message first.
    async fn closed(&mut self) -> (u16, String) {
        match self.recv().await {
            In::Closed(code, reason) => (code, reason),
            In::Msg(m) => panic!("expected a close, got {m}"),
        }
    }

    async fn init(&mut self, token: &str) {
        self.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        let ack = self.recv_msg().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let ty = if self.protocol == LEGACY_WS {
            "start"
        } else {
            "subscribe"
        };
        self.send(
            json!({"type": ty, "id": id, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// Every payload of operation `id` until its `complete`.
    async fn collect(&mut self, id: &str) -> Vec<Value> {
        let data = if self.protocol == LEGACY_WS {
            "data"
        } else {
            "next"
        };
        let mut out = Vec::new();
        loop {
            let m = self.recv_msg().await;
            assert_eq!(m["id"], id, "{m}");
            match m["type"].as_str().unwrap() {
                t if t == data => out.push(m["payload"].clone()),
                "complete" => return out,
                other => panic!("unexpected {other}: {m}"),
            }
        }
    }
}

/// `POST /graphql` with `token`.
async fn post(gw: &Gateway, token: &str, query: &str, variables: Value) -> Value {
    let resp = gw
        .http
        .post(gw.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn start_stream(gw: &Gateway, token: &str, prompt: &str) -> String {
    let r = post(
        gw,
        token,
        "mutation($p: String!) { startStream(prompt: $p) { sessionId status message timestamp error model } }",
        json!({"p": prompt}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let s = &r["data"]["startStream"];
    assert_eq!(s["status"], "streaming", "{r}");
    assert!(s["error"].is_null());
    assert!(!s["model"].as_str().unwrap().is_empty(), "{r}");
    s["sessionId"].as_str().unwrap().to_owned()
}

async fn session(gw: &Gateway, token: &str, id: &str) -> Value {
    post(
        gw,
        token,
        "query($id: String!) { session(sessionId: $id) { sessionId status model text events stopReason usage { outputTokens } } }",
        json!({"id": id}),
    )
    .await
}

fn subscription_query() -> String {
    format!(
        "subscription($id: String!, $after: Int) {{ onTokenReceived(sessionId: $id, after: $after) {{ {EVENT_FIELDS} }} }}"
    )
}

/// The `onTokenReceived` events of `payloads`, checked: seq contiguous from
/// `first`, only the last complete.
fn events(payloads: &[Value], first: u64) -> Vec<Value> {
    let evs: Vec<Value> = payloads
        .iter()
        .map(|p| {
            assert!(p.get("errors").is_none(), "{p}");
            p["data"]["onTokenReceived"].clone()
        })
        .collect();
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            e["seq"],
            first + i as u64,
            "seq gap or duplicate at {i}: {e}"
        );
        assert_eq!(
            e["isComplete"],
            i + 1 == evs.len(),
            "only the last is complete: {e}"
        );
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    evs
}

#[tokio::test]
async fn appsync_flow_late_subscriber_gets_every_token_from_seq_0() {
    let gw = Gateway::start().await;
    let id = start_stream(
        &gw,
        &gw.token,
        "[[sim tokens=20 rate=40]] Tell me about rivers.",
    )
    .await;
    // Let tokens be produced before anyone subscribes.
    eventually(WAIT, || async {
        session(&gw, &gw.token, &id).await["data"]["session"]["events"]
            .as_u64()
            .unwrap()
            >= 5
    })
    .await;

    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("1", &subscription_query(), json!({"id": id}))
        .await;
    let evs = events(&c.collect("1").await, 0);
    assert_eq!(evs.len(), 21, "20 tokens and the final event");
    assert!(evs.iter().all(|e| e["sessionId"] == id.as_str()));
    let last = evs.last().unwrap();
    assert_eq!(last["token"], "");
    assert_eq!(last["stopReason"], "end_turn");
    assert_eq!(last["usage"]["outputTokens"], 20);
    assert!(last["error"].is_null());

    let text: String = evs.iter().map(|e| e["token"].as_str().unwrap()).collect();
    let info = session(&gw, &gw.token, &id).await;
    assert_eq!(info["data"]["session"]["status"], "complete");
    assert_eq!(info["data"]["session"]["text"], text.as_str());
    gw.shutdown().await;
}

#[tokio::test]
async fn legacy_graphql_ws_mutation_then_subscription() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, LEGACY_WS).await;
    c.send(json!({"type": "connection_init", "payload": {"headers": {"Authorization": gw.token}}}))
        .await;
    assert_eq!(c.recv_any().await.await_msg()["type"], "connection_ack");
    assert_eq!(
        c.recv_any().await.await_msg()["type"],
        "ka",
        "ka right after the ack"
    );

    c.subscribe(
        "m",
        "mutation { startStream(prompt: \"[[sim tokens=8 rate=100]] hi\", maxTokens: 64, temperature: 0.5) { sessionId status } }",
        json!({}),
    )
    .await;
    let r = c.collect("m").await;
    assert_eq!(r.len(), 1);
    let id = r[0]["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();

    c.subscribe("s", &subscription_query(), json!({"id": id}))
        .await;
    let evs = events(&c.collect("s").await, 0);
    assert_eq!(evs.len(), 9);
    assert_eq!(evs[8]["stopReason"], "end_turn");

    // `stop` of a finished id is ignored; `connection_terminate` closes normally.
    c.send(json!({"type": "stop", "id": "s"})).await;
    c.send(json!({"type": "connection_terminate"})).await;
    assert_eq!(c.closed().await.0, 1000);
    gw.shutdown().await;
}

trait AwaitMsg {
    fn await_msg(self) -> Value;
}

impl AwaitMsg for In {
    fn await_msg(self) -> Value {
        match self {
            In::Msg(m) => m,
            In::Closed(c, r) => panic!("closed {c} {r}"),
        }
    }
}

#[tokio::test]
async fn after_resumes_from_the_next_seq_on_both_protocols() {
    let gw = Gateway::start().await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=10 rate=200]] resume").await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut c = Client::connect(&gw, protocol).await;
        c.init(&gw.token).await;
        c.subscribe("r", &subscription_query(), json!({"id": id, "after": 4}))
            .await;
        let evs = events(&c.collect("r").await, 5);
        assert_eq!(evs.len(), 6, "seq 5..=10 ({protocol})");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn connection_init_without_or_with_a_bad_token_closes_4403() {
    let gw = Gateway::start().await;

    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.send(json!({"type": "connection_init"})).await;
    assert_eq!(c.closed().await.0, 4403);

    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer not.a.jwt"}}))
        .await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, 4403);
    assert!(!reason.contains("not.a.jwt"), "no token in the reason");

    // Legacy: connection_error first, then the same close.
    let mut c = Client::connect(&gw, LEGACY_WS).await;
    c.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer x.y.z"}}))
        .await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "connection_error", "{m}");
    assert_eq!(c.closed().await.0, 4403);

    // The token may come with the upgrade instead of in connection_init.
    let mut c = Client::connect_with(&gw, Some(TRANSPORT_WS), Some(&gw.token)).await;
    c.send(json!({"type": "connection_init", "payload": {}}))
        .await;
    assert_eq!(c.recv_msg().await["type"], "connection_ack");
    gw.shutdown().await;
}

/// An expired token closes a GraphQL socket with `4403`, on both dialects:
/// graphql-ws treats `4401` as fatal (no retry, `connectionParams()` never
/// asked again) and retries `4403`, so a client whose `connectionParams()`
/// returns a fresh token reconnects by itself (`tests/node`).
#[tokio::test]
async fn a_socket_whose_token_expires_is_closed_4403_which_graphql_ws_retries() {
    let gw = Gateway::with(|c| c.jwt_leeway_secs = 0).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let short = spillway::auth::dev::DevIssuer::load_or_create(gw.data_dir())
            .unwrap()
            .mint("alice", &[], 1)
            .unwrap();
        let mut c = Client::connect(&gw, protocol).await;
        c.init(&short).await;
        assert_eq!(
            c.closed().await,
            (4403, "Forbidden: token expired".to_owned()),
            "{protocol}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_waiting_operations_and_closes_1001() {
    let mut gw = Gateway::start().await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("w", &subscription_query(), json!({"id": "never"}))
        .await;
    // Messages are handled in order: once `q` is answered, `w` is waiting.
    c.subscribe("q", "{ models }", json!({})).await;
    c.collect("q").await;
    let server = gw.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["payload"][0]["extensions"]["code"], "shutting_down");
    assert_eq!(c.closed().await.0, 1001);
    within(WAIT, stopping).await.unwrap();
}

#[tokio::test]
async fn subscribe_before_ack_closes_4401() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.subscribe("1", "{ models }", json!({})).await;
    assert_eq!(c.closed().await, (4401, "Unauthorized".to_owned()));
    gw.shutdown().await;
}

#[tokio::test]
async fn duplicate_operation_id_closes_4409() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    // A subscription to a session nobody has created yet stays running (it waits for it).
    c.subscribe("dup", &subscription_query(), json!({"id": "not-yet"}))
        .await;
    c.subscribe("dup", &subscription_query(), json!({"id": "not-yet"}))
        .await;
    assert_eq!(
        c.closed().await,
        (4409, "Subscriber for dup already exists".to_owned())
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn no_connection_init_within_the_timeout_closes_4408() {
    let gw = Gateway::with(|c| c.graphql_init_timeout_secs = 0.3).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut c = Client::connect(&gw, protocol).await;
        assert_eq!(c.closed().await.0, 4408, "{protocol}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn protocol_edges_ping_second_init_invalid_messages_subprotocol() {
    let gw = Gateway::start().await;

    // ping is answered at any time, even before the ack.
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.send(json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(c.recv_any().await.await_msg(), json!({"type": "pong"}));
    c.init(&gw.token).await;
    // Keep-alive: an unsolicited pong every heartbeat (1 s in tests).
    assert_eq!(c.recv_any().await.await_msg()["type"], "pong");
    c.send(json!({"type": "connection_init"})).await;
    assert_eq!(
        c.closed().await,
        (4429, "Too many initialisation requests".to_owned())
    );

    for bad in [
        "not json",
        r#"{"type":"start","id":"1","payload":{"query":"{ models }"}}"#,
        r#"{"type":"subscribe","id":"","payload":{"query":"{ models }"}}"#,
        r#"{"type":"subscribe","id":"1","payload":{}}"#,
        r#"{"type":"connection_init","payload":"token"}"#,
    ] {
        let mut c = Client::connect(&gw, TRANSPORT_WS).await;
        c.send_raw(bad).await;
        assert_eq!(c.closed().await.0, 4400, "{bad}");
    }
    let mut c = Client::connect(&gw, LEGACY_WS).await;
    c.send_raw(r#"{"type":"subscribe","id":"1","payload":{"query":"{ models }"}}"#)
        .await;
    assert_eq!(
        c.closed().await.0,
        4400,
        "subscribe is not a legacy message"
    );

    // No acceptable subprotocol: upgraded, then closed 4406.
    let mut c = Client::connect_with(&gw, None, None).await;
    assert_eq!(c.closed().await.0, 4406);
    gw.shutdown().await;
}

#[tokio::test]
async fn limits_operation_size_and_operations_per_connection() {
    let gw = Gateway::with(|c| {
        c.max_body_bytes = 8 * 1024;
        c.ws_max_streams_per_connection = 100;
    })
    .await;
    let big = format!("{{ models }} # {}", "x".repeat(16 * 1024));

    let r = gw
        .http
        .post(gw.url("/graphql"))
        .bearer_auth(&gw.token)
        .json(&json!({"query": big}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("big", &big, json!({})).await;
    assert_eq!(c.closed().await.0, 1009);

    // 100 operations at once; the 101st gets an error and the others go on.
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    for i in 0..100 {
        c.subscribe(
            &format!("w{i}"),
            &subscription_query(),
            json!({"id": format!("later-{i}")}),
        )
        .await;
    }
    c.subscribe("one-too-many", "{ models }", json!({})).await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "one-too-many");
    assert_eq!(m["payload"][0]["extensions"]["code"], "too_many_operations");
    c.send(json!({"type": "complete", "id": "w0"})).await;
    c.subscribe("now-fits", "{ models }", json!({})).await;
    assert_eq!(c.collect("now-fits").await.len(), 1);
    gw.shutdown().await;
}

/// An operation that fails before any data: graphql-transport-ws sends one
/// `error` (an array of GraphQL errors, no `complete`); the legacy dialect
/// sends what subscriptions-transport-ws's reference server sends, `data`
/// with `{"data": null, "errors"}` then `complete` (an `error` there carries
/// one object, and Apollo's `WebSocketLink` reports an array as an
/// "unconventional" error, losing `extensions.code`). Either way the id is
/// free again.
#[tokio::test]
async fn failing_operation_ends_in_each_dialects_shape_and_its_id_is_free_again() {
    let gw = Gateway::start().await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=2 rate=0]] done soon").await;
    // A syntax error (refused before execution), a resolver's error.
    let failing = [
        (
            "subscription { onTokenReceived(".to_owned(),
            json!({}),
            None,
        ),
        (
            subscription_query(),
            json!({"id": id, "after": 1000}),
            Some("cursor_past_end"),
        ),
    ];
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut c = Client::connect(&gw, protocol).await;
        c.init(&gw.token).await;
        // Read to the end first: only a finished log's end is final.
        c.subscribe("all", &subscription_query(), json!({"id": id}))
            .await;
        assert_eq!(events(&c.collect("all").await, 0).len(), 3);
        for (query, variables, code) in &failing {
            c.subscribe("x", query, variables.clone()).await;
            let m = c.recv_msg().await;
            assert_eq!(m["id"], "x", "{m}");
            let errors = if protocol == LEGACY_WS {
                assert_eq!(m["type"], "data", "{m}");
                assert!(m["payload"]["data"].is_null(), "{m}");
                let done = c.recv_msg().await;
                assert_eq!(done, json!({"type": "complete", "id": "x"}));
                &m["payload"]["errors"]
            } else {
                assert_eq!(m["type"], "error", "{m}");
                &m["payload"]
            };
            assert!(errors[0]["message"].is_string(), "{m}");
            if let Some(code) = code {
                assert_eq!(errors[0]["extensions"]["code"], *code, "{m}");
            }
            // The id can be used again.
            c.subscribe("x", "{ models }", json!({})).await;
            let r = c.collect("x").await;
            assert!(
                r[0]["data"]["models"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m.as_str().is_some_and(|m| m.contains("claude"))),
                "{protocol}"
            );
        }
    }
    gw.shutdown().await;
}

/// Owner-only on every operation; the admin group changes nothing (admins
/// use the management API and `publishToken`, not other users' sessions).
#[tokio::test]
async fn users_and_admins_see_only_their_own_sessions() {
    let gw = Gateway::with(|c| c.graphql_session_wait_secs = 0.3).await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=20 rate=20]] mine").await;
    let bob = gw.token_for("bob", &[]);
    let admin = gw.token_for("root", &["admin"]);

    for (who, token) in [("bob", &bob), ("an admin", &admin)] {
        let mut c = Client::connect(&gw, TRANSPORT_WS).await;
        c.init(token).await;
        c.subscribe("o", &subscription_query(), json!({"id": id}))
            .await;
        let m = c.recv_msg().await;
        assert_eq!(m["type"], "error", "{who} gets an error and no data: {m}");
        assert_eq!(m["payload"][0]["extensions"]["code"], "not_found");

        let r = session(&gw, token, &id).await;
        assert!(r["data"]["session"].is_null(), "{who}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["code"], "not_found");
        let r = post(
            &gw,
            token,
            "mutation($id: String!) { cancelStream(sessionId: $id) { status } }",
            json!({"id": id}),
        )
        .await;
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "not_found",
            "{who}: {r}"
        );
    }

    // Nobody else's cancel reached the stream: the owner reads it to its normal end.
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("a", &subscription_query(), json!({"id": id}))
        .await;
    let evs = events(&c.collect("a").await, 0);
    assert_eq!(evs.len(), 21);
    assert_ne!(evs[20]["stopReason"], "cancelled");
    gw.shutdown().await;
}

/// A subscription to a session someone else owns waits like one to a session
/// that does not exist, and both get the same `not_found` when the wait ends:
/// nobody learns which ids exist from the timing.
/// Each `session` lookup may be a registry read in a fleet: aliases cannot
/// make one request hundreds of them. Four lookups run; a fifth is refused
/// before any runs.
#[tokio::test]
async fn an_operation_makes_at_most_four_session_lookups() {
    let gw = Gateway::start().await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=2 rate=0]] hi").await;
    let lookups = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("s{i}: session(sessionId: \"{id}\") {{ status }}"))
            .collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let four = post(&gw, &gw.token, &lookups(4), json!({})).await;
    assert!(four.get("errors").is_none(), "{four}");
    assert_eq!(four["data"].as_object().unwrap().len(), 4, "{four}");
    let five = post(&gw, &gw.token, &lookups(5), json!({})).await;
    assert!(five["data"].is_null(), "{five}");
    assert_eq!(
        five["errors"][0]["message"], "Query is too complex.",
        "{five}"
    );
    // The standard introspection query still fits.
    let intro = post(&gw, &gw.token, INTROSPECTION, json!({})).await;
    assert!(intro.get("errors").is_none(), "{intro}");
    gw.shutdown().await;
}

#[tokio::test]
async fn hidden_and_missing_sessions_get_the_same_answer_at_the_same_time() {
    let wait = Duration::from_secs(1);
    let gw = Gateway::with(|c| c.graphql_session_wait_secs = wait.as_secs_f64()).await;
    let hidden = start_stream(&gw, &gw.token, "[[sim tokens=3 rate=0]] alice's").await;
    let bob = gw.token_for("bob", &[]);
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&bob).await;
    let asked = std::time::Instant::now();
    c.subscribe("hidden", &subscription_query(), json!({"id": hidden}))
        .await;
    c.subscribe(
        "missing",
        &subscription_query(),
        json!({"id": "no-such-session"}),
    )
    .await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let m = c.recv_msg().await;
        answers.push((m["id"].as_str().unwrap().to_owned(), m, asked.elapsed()));
    }
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    let [(_, hidden_msg, hidden_at), (_, missing_msg, missing_at)] = &answers[..] else {
        panic!("{answers:?}");
    };
    for m in [hidden_msg, missing_msg] {
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["payload"], missing_msg["payload"], "the same answer");
        assert_eq!(m["payload"][0]["extensions"]["code"], "not_found");
    }
    for at in [hidden_at, missing_at] {
        assert!(*at >= wait, "answered after {at:?}, before the wait ended");
    }
    assert!(
        hidden_at.abs_diff(*missing_at) < Duration::from_millis(500),
        "hidden after {hidden_at:?}, missing after {missing_at:?}"
    );
    gw.shutdown().await;
}

/// `after` past the end of a finished session's log can never be served.
#[tokio::test]
async fn after_past_the_end_of_a_finished_session_is_an_error() {
    let gw = Gateway::start().await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=3 rate=0]] short").await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("all", &subscription_query(), json!({"id": id}))
        .await;
    assert_eq!(events(&c.collect("all").await, 0).len(), 4);
    c.subscribe(
        "past",
        &subscription_query(),
        json!({"id": id, "after": 1000}),
    )
    .await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["payload"][0]["extensions"]["code"], "cursor_past_end");
    gw.shutdown().await;
}

#[tokio::test]
async fn publish_token_is_admin_only_and_reaches_an_earlier_subscriber() {
    let gw = Gateway::start().await;
    let bob = gw.token_for("bob", &[]);
    let admin = gw.token_for("backend", &["admin"]);
    let publish = "mutation($id: String!, $t: String!, $c: Boolean!, $o: String) { publishToken(sessionId: $id, token: $t, isComplete: $c, owner: $o) { sessionId seq token isComplete timestamp } }";

    let r = post(
        &gw,
        &bob,
        publish,
        json!({"id": "ext-1", "t": "x", "c": false}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "forbidden", "{r}");
    assert!(r["data"].is_null());

    // AppSync's order: the client subscribes first, the backend publishes after.
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("e", &subscription_query(), json!({"id": "ext-1"}))
        .await;

    for (i, t) in ["Hel", "lo"].iter().enumerate() {
        let r = post(
            &gw,
            &admin,
            publish,
            json!({"id": "ext-1", "t": t, "c": false, "o": "alice"}),
        )
        .await;
        let ev = &r["data"]["publishToken"];
        assert_eq!(ev["seq"], i, "{r}");
        assert_eq!(ev["token"], *t);
        assert_eq!(ev["isComplete"], false);
    }
    let r = post(
        &gw,
        &admin,
        publish,
        json!({"id": "ext-1", "t": "!", "c": true}),
    )
    .await;
    assert_eq!(r["data"]["publishToken"]["isComplete"], true, "{r}");
    assert_eq!(r["data"]["publishToken"]["seq"], 3);

    let evs = events(&c.collect("e").await, 0);
    let text: String = evs.iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello!");
    assert_eq!(evs[3]["stopReason"], "end_turn");
    assert_eq!(evs[3]["usage"]["outputTokens"], 3);

    // Finished: more tokens are refused; a model-fed session takes none,
    // and another user's is answered as one that does not exist.
    let r = post(
        &gw,
        &admin,
        publish,
        json!({"id": "ext-1", "t": "x", "c": false}),
    )
    .await;
    assert_eq!(
        r["errors"][0]["extensions"]["code"], "session_finished",
        "{r}"
    );
    let id = start_stream(&gw, &gw.token, "[[sim tokens=3 rate=100]] model").await;
    let r = post(
        &gw,
        &admin,
        publish,
        json!({"id": id, "t": "x", "c": false}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "not_found", "{r}");
    let own = start_stream(&gw, &admin, "[[sim tokens=3 rate=100]] model").await;
    let r = post(
        &gw,
        &admin,
        publish,
        json!({"id": own, "t": "x", "c": false}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "not_external", "{r}");
    gw.shutdown().await;
}

/// Identical subscriptions share one render of each event (see
/// `transport/graphql/shared.rs`); requests that differ — even by a variable
/// feeding a directive, or only by an alias — must each get their own shape.
#[tokio::test]
async fn identical_subscriptions_share_renders_without_mixing_shapes() {
    let gw = Gateway::start().await;
    let admin = gw.token_for("backend", &["admin"]);
    let publish = "mutation($id: String!, $t: String!, $c: Boolean!, $o: String) { publishToken(sessionId: $id, token: $t, isComplete: $c, owner: $o) { seq } }";
    let with_usage = "subscription($id: String!, $u: Boolean!) { onTokenReceived(sessionId: $id) { seq token usage @include(if: $u) { outputTokens } } }";
    let aliased =
        "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq text: token } }";
    let id = "shared-1";

    let mut clients = Vec::new();
    for (query, vars) in [
        (with_usage, json!({"id": id, "u": true})),
        (with_usage, json!({"id": id, "u": true})),
        (with_usage, json!({"id": id, "u": true})),
        (with_usage, json!({"id": id, "u": false})),
        (aliased, json!({"id": id})),
    ] {
        let mut c = Client::connect(&gw, TRANSPORT_WS).await;
        c.init(&gw.token).await;
        c.subscribe("s", query, vars).await;
        clients.push(c);
    }
    for (t, c) in [("a", false), ("b", false), ("c", true)] {
        let r = post(
            &gw,
            &admin,
            publish,
            json!({"id": id, "t": t, "c": c, "o": "alice"}),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
    }

    let mut got = Vec::new();
    for c in &mut clients {
        let evs: Vec<Value> = c
            .collect("s")
            .await
            .iter()
            .map(|p| p["data"]["onTokenReceived"].clone())
            .collect();
        got.push(evs);
    }
    let expected_usage = json!([
        {"seq": 0, "token": "a", "usage": null},
        {"seq": 1, "token": "b", "usage": null},
        {"seq": 2, "token": "c", "usage": null},
        {"seq": 3, "token": "", "usage": {"outputTokens": 3}},
    ]);
    for evs in &got[..3] {
        assert_eq!(Value::from(evs.clone()), expected_usage);
    }
    let without_usage = json!([
        {"seq": 0, "token": "a"},
        {"seq": 1, "token": "b"},
        {"seq": 2, "token": "c"},
        {"seq": 3, "token": ""},
    ]);
    assert_eq!(Value::from(got[3].clone()), without_usage);
    let aliased_events = json!([
        {"seq": 0, "text": "a"},
        {"seq": 1, "text": "b"},
        {"seq": 2, "text": "c"},
        {"seq": 3, "text": ""},
    ]);
    assert_eq!(Value::from(got[4].clone()), aliased_events);
    gw.shutdown().await;
}

#[tokio::test]
async fn cancel_stream_stops_the_upstream() {
    let gw = Gateway::start().await;
    let id = start_stream(&gw, &gw.token, "[[sim tokens=500 rate=20]] long").await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("c", &subscription_query(), json!({"id": id}))
        .await;
    assert_eq!(c.recv_msg().await["type"], "next");

    let r = post(
        &gw,
        &gw.token,
        "mutation($id: String!) { cancelStream(sessionId: $id) { sessionId status stopReason } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(r["data"]["cancelStream"]["status"], "cancelled", "{r}");
    assert_eq!(r["data"]["cancelStream"]["stopReason"], "cancelled");

    let rest = c.collect("c").await;
    let last = &rest.last().unwrap()["data"]["onTokenReceived"];
    assert_eq!(last["isComplete"], true);
    assert_eq!(last["stopReason"], "cancelled");
    eventually(WAIT, || async {
        gw.sim_stats().await["streamsCancelled"].as_u64().unwrap() >= 1
    })
    .await;
    gw.shutdown().await;
}

/// graphql-js `getIntrospectionQuery()` (v16), as GraphiQL, Apollo and codegen send it.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[tokio::test]
async fn introspection_works_and_limits_refuse_deeper_queries() {
    let gw = Gateway::start().await;
    let r = post(&gw, &gw.token, INTROSPECTION, json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let schema = &r["data"]["__schema"];
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    assert!(
        schema["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "TokenEvent")
    );
    // Over the socket as well.
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("i", INTROSPECTION, json!({})).await;
    let payloads = c.collect("i").await;
    assert!(payloads[0].get("errors").is_none(), "{payloads:?}");
    assert_eq!(
        payloads[0]["data"]["__schema"]["subscriptionType"]["name"],
        "Subscription"
    );

    let mut deep = String::from("{ __schema { types { fields { type { name ");
    for _ in 0..20 {
        deep.push_str("ofType { name ");
    }
    deep.push_str(&"}".repeat(25));
    let r = post(&gw, &gw.token, &deep, json!({})).await;
    assert!(r["data"].is_null(), "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{r}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn post_requires_a_token_and_graphiql_is_open() {
    let gw = Gateway::start().await;
    let r = gw
        .http
        .post(gw.url("/graphql"))
        .json(&json!({"query": "{ models }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = gw.http.get(gw.url("/graphql")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("graphiql"));
    gw.shutdown().await;
}

/// GraphiQL's page runs scripts from unpkg.com on the gateway's origin:
/// with it turned off (the default outside local mode) `GET /graphql`
/// without a query is a `404` saying how to get it, and queries still run.
#[tokio::test]
async fn graphiql_turned_off_is_a_404_saying_how_to_turn_it_on() {
    let gw = Gateway::with(|c| c.graphiql = Some(false)).await;
    let r = gw.http.get(gw.url("/graphql")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SPILLWAY_GRAPHIQL=true"),
        "{body}"
    );
    let r = gw
        .http
        .get(gw.url("/graphql?query=%7Bmodels%7D"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

/// `GET /graphql?query=…` (urql's default for queries, Apollo's GET modes)
/// runs the query as a `POST` would, with the same token, and answers JSON:
/// `application/graphql-response+json` to a client that asks for it,
/// `application/json` otherwise. A mutation or subscription by `GET` is
/// `405` with `Allow: POST` and GraphQL's `errors`, and runs nothing. Only a
/// `GET` without a request gets GraphiQL.
#[tokio::test]
async fn get_runs_queries_and_refuses_mutations_with_405() {
    let gw = Gateway::start().await;
    let get = |params: &[(&str, &str)], token: Option<&str>, accept: Option<&str>| {
        let url = reqwest::Url::parse_with_params(&gw.url("/graphql"), params).unwrap();
        let mut req = gw.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        req.send()
    };
    let content_type =
        |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().to_owned();

    // No token: refused as a POST is, before anything runs.
    let r = get(&[("query", "{ models }")], None, None).await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "missing_token", "{v}");

    // urql's request: Accept names the GraphQL response type.
    let urql_accept = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed";
    let r = get(
        &[("query", "{ models }")],
        Some(&gw.token),
        Some(urql_accept),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/graphql-response+json");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["data"]["models"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );

    // Variables and operationName as Apollo sends them; no Accept: plain JSON.
    let id = start_stream(&gw, &gw.token, "[[sim tokens=3 rate=0]] by get").await;
    let doc =
        "query Other { models } query S($id: String!) { session(sessionId: $id) { sessionId } }";
    let vars = json!({"id": id}).to_string();
    let r = get(
        &[
            ("query", doc),
            ("operationName", "S"),
            ("variables", &vars),
            ("extensions", "{}"),
        ],
        Some(&gw.token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["session"]["sessionId"], id, "{v}");

    // A document that does not parse: GraphQL's errors, as over POST.
    let r = get(&[("query", "{ models")], Some(&gw.token), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["errors"][0]["message"].is_string(), "{v}");

    // Mutations and subscriptions are POST / WebSocket only; nothing runs.
    let started = gw.sim_stats().await["streamsStarted"].clone();
    for (params, what) in [
        (
            vec![(
                "query",
                "mutation { startStream(prompt: \"no\") { sessionId } }",
            )],
            "mutation",
        ),
        (
            vec![
                (
                    "query",
                    "query Q { models } mutation M { startStream(prompt: \"no\") { sessionId } }",
                ),
                ("operationName", "M"),
            ],
            "mutation",
        ),
        (
            vec![(
                "query",
                "subscription { onTokenReceived(sessionId: \"x\") { seq } }",
            )],
            "subscription",
        ),
    ] {
        let r = get(&params, Some(&gw.token), Some(urql_accept))
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{params:?}");
        assert_eq!(r.headers()["allow"], "POST");
        assert_eq!(content_type(&r), "application/graphql-response+json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["errors"][0]["extensions"]["code"], "method_not_allowed",
            "{v}"
        );
        assert!(
            v["errors"][0]["message"].as_str().unwrap().contains(what),
            "{v}"
        );
        assert!(v.get("data").is_none_or(Value::is_null), "{v}");
    }
    assert_eq!(
        gw.sim_stats().await["streamsStarted"],
        started,
        "no mutation ran"
    );

    // JSON parameters that are not objects: a bad request, as a bad POST body.
    let r = get(
        &[("query", "{ models }"), ("variables", "[1]")],
        Some(&gw.token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request", "{v}");

    // GraphiQL still answers a GET without a request, whatever it accepts.
    let r = get(&[], None, Some("text/html")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(content_type(&r).starts_with("text/html"));
    gw.shutdown().await;
}

/// Apollo's automatic persisted queries are not served: a request with a
/// `persistedQuery` hash and no document gets `PersistedQueryNotSupported`
/// (`PERSISTED_QUERY_NOT_SUPPORTED`), by `POST` and by `GET`, on which
/// Apollo's link sends the full document; a request with the document too
/// runs.
#[tokio::test]
async fn persisted_queries_are_refused_as_apollo_expects() {
    let gw = Gateway::start().await;
    let hash = json!({"persistedQuery": {"version": 1, "sha256Hash": "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"}});
    let check = |v: &Value| {
        assert_eq!(
            v["errors"][0]["message"], "PersistedQueryNotSupported",
            "{v}"
        );
        assert_eq!(
            v["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_SUPPORTED",
            "{v}"
        );
    };
    let r = gw
        .http
        .post(gw.url("/graphql"))
        .bearer_auth(&gw.token)
        .json(&json!({"operationName": "Models", "variables": {}, "extensions": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    check(&r.json().await.unwrap());

    let extensions = hash.to_string();
    let url = reqwest::Url::parse_with_params(
        &gw.url("/graphql"),
        [
            ("operationName", "Models"),
            ("variables", "{}"),
            ("extensions", &extensions),
        ],
    )
    .unwrap();
    let r = gw
        .http
        .get(url)
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    check(&r.json().await.unwrap());

    let r = gw
        .http
        .post(gw.url("/graphql"))
        .bearer_auth(&gw.token)
        .json(&json!({"query": "query Models { models }", "operationName": "Models", "extensions": hash}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["data"]["models"].is_array(), "{v}");
    gw.shutdown().await;
}

/// `SPILLWAY_GRAPHQL_MAX_DOCUMENT_BYTES` on `POST /graphql`: a longer
/// document is refused by its length, before parsing (garbage gets the same
/// answer), as `200` with a GraphQL error, like every other refused document.
#[tokio::test]
async fn post_documents_over_the_size_limit_are_refused_before_parsing() {
    let gw = Gateway::with(|c| c.graphql_max_document_bytes = 1024).await;
    let head = "{ models } #";
    let fits = format!("{head}{}", "x".repeat(1024 - head.len()));
    assert_eq!(fits.len(), 1024);
    let r = post(&gw, &gw.token, &fits, json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    assert!(r["data"]["models"].is_array(), "{r}");

    for too_big in [
        format!("{fits}x"),
        "{".repeat(1025),
        "{ models ".repeat(200),
    ] {
        let r = post(&gw, &gw.token, &too_big, json!({})).await;
        assert!(r.get("data").is_none_or(Value::is_null), "{r}");
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "payload_too_large",
            "{r}"
        );
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("1024 bytes"),
            "{r}"
        );
    }
    gw.shutdown().await;
}

/// A `POST` body that is not a GraphQL request is refused as on every other
/// route — a real status and `{"error":{"code","message"}}` — not with
/// Rust's debug text: not JSON or not a request object (`400`), a batch
/// (`400`), past the body limit (`413`), `application/graphql` or
/// `multipart/*` (`415`). JSON sent as form data (`curl -d`) is still read.
#[tokio::test]
async fn post_bodies_that_are_not_a_graphql_request_get_the_json_error() {
    let gw = Gateway::with(|c| c.max_body_bytes = 64 * 1024).await;
    let big = format!(
        r#"{{"query":"{{ models }}","variables":{{"x":"{}"}}}}"#,
        "a".repeat(70_000)
    );
    let cases: &[(&str, &str, u16, &str)] = &[
        ("", "", 400, "bad_request"),
        ("", "application/json", 400, "bad_request"),
        ("not json", "application/json", 400, "bad_request"),
        (r#"{"query": 5}"#, "application/json", 400, "bad_request"),
        (
            r#" [{"query":"{ models }"}]"#,
            "application/json",
            400,
            "bad_request",
        ),
        (&big, "application/json", 413, "payload_too_large"),
        (
            "{ models }",
            "application/graphql",
            415,
            "unsupported_media_type",
        ),
        (
            "{ models }",
            "application/graphql; charset=utf-8",
            415,
            "unsupported_media_type",
        ),
        (
            "--x\r\n\r\n--x--",
            "multipart/form-data; boundary=x",
            415,
            "unsupported_media_type",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let mut req = gw
            .http
            .post(gw.url("/graphql"))
            .bearer_auth(&gw.token)
            .body(body.to_string());
        if !content_type.is_empty() {
            req = req.header("content-type", *content_type);
        }
        let resp = req.send().await.unwrap();
        let what = format!("{content_type} {:.40}", body);
        assert_eq!(resp.status(), *status, "{what}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{what}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], *code, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("Error(") && !message.contains("Custom {"),
            "{what}: {v}"
        );
    }
    let resp = gw
        .http
        .post(gw.url("/graphql"))
        .bearer_auth(&gw.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"query":"{ models }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["data"]["models"].is_array(), "{v}");
    gw.shutdown().await;
}

/// One request starts at most one upstream call: a mutation selecting
/// `startStream` under many aliases (240 here, as an audit sent) is refused
/// with a GraphQL error before any of them starts, over HTTP and over the
/// socket; one `startStream` still works on both.
#[tokio::test]
async fn aliased_start_streams_are_refused_before_any_starts() {
    let gw = Gateway::start().await;
    let many: String = (0..240)
        .map(|i| format!("a{i}: startStream(prompt: \"[[sim tokens=2]] {i}\") {{ sessionId }} "))
        .collect();
    let r = post(&gw, &gw.token, &format!("mutation {{ {many} }}"), json!({})).await;
    assert!(r.get("data").is_none_or(Value::is_null), "{r}");
    assert_eq!(r["errors"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["errors"][0]["extensions"]["code"], "bad_request", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most one stream"),
        "{r}"
    );
    // The resolvers wait for Bedrock's response headers: had any run, the
    // simulator would have counted it before the answer.
    assert_eq!(gw.sim_stats().await["streamsStarted"], 0);

    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let two = "mutation { a: startStream(prompt: \"x\") { sessionId } b: startStream(prompt: \"y\") { sessionId } }";
    c.subscribe("two", two, json!({})).await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "two", "{m}");
    assert_eq!(m["payload"][0]["extensions"]["code"], "bad_request", "{m}");
    assert_eq!(gw.sim_stats().await["streamsStarted"], 0);

    // One at a time is the way.
    let one = "mutation { startStream(prompt: \"[[sim tokens=2]] one\") { sessionId } }";
    c.subscribe("one", one, json!({})).await;
    let payloads = c.collect("one").await;
    assert!(payloads[0].get("errors").is_none(), "{payloads:?}");
    start_stream(&gw, &gw.token, "[[sim tokens=2]] two").await;
    assert_eq!(gw.sim_stats().await["streamsStarted"], 2);
    gw.shutdown().await;
}

/// graphql-js's single-root-field rule: a subscription with two root fields
/// (aliases of one field here, waiting for a session that will never come)
/// gets an `error` at once, and the socket and the id stay usable.
/// Needs `limits::check_subscription` wired into the socket driver.
#[tokio::test]
async fn a_subscription_with_two_root_fields_gets_an_error() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let two = "subscription($id: String!) { a: onTokenReceived(sessionId: $id) { seq } b: onTokenReceived(sessionId: $id) { seq } }";
    c.subscribe("two", two, json!({"id": "never-created"}))
        .await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "two", "{m}");
    assert_eq!(
        m["payload"][0]["message"], "Anonymous Subscription must select only one top level field.",
        "{m}"
    );
    // Through a fragment as well.
    let via_fragment = "subscription S($id: String!) { ...F __typename } fragment F on Subscription { onTokenReceived(sessionId: $id) { seq } }";
    c.subscribe("two", via_fragment, json!({"id": "never-created"}))
        .await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "two", "{m}");
    // The connection goes on.
    c.subscribe("two", "{ models }", json!({})).await;
    assert_eq!(c.collect("two").await.len(), 1);
    gw.shutdown().await;
}

/// The document size limit on sockets: a `subscribe` whose query is over
/// `SPILLWAY_GRAPHQL_MAX_DOCUMENT_BYTES` (but within the message limit) gets
/// an `error` with `payload_too_large`, before it is parsed.
/// Needs `limits::check_document` wired into the socket driver.
#[tokio::test]
async fn a_subscribe_over_the_document_limit_gets_an_error() {
    let gw = Gateway::with(|c| c.graphql_max_document_bytes = 1024).await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    c.subscribe("big", &"{".repeat(2048), json!({})).await;
    let m = c.recv_msg().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["id"], "big", "{m}");
    assert_eq!(
        m["payload"][0]["extensions"]["code"], "payload_too_large",
        "{m}"
    );
    c.subscribe("big", "{ models }", json!({})).await;
    assert_eq!(c.collect("big").await.len(), 1);
    gw.shutdown().await;
}

/// `schema/schema.graphql` is the served schema. After changing the schema on
/// purpose, `SPILLWAY_BLESS_SCHEMA=1 cargo nextest run schema_file` rewrites it.
#[test]
fn schema_file_matches_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/schema.graphql");
    let served = spillway::transport::graphql::sdl();
    let file = std::fs::read_to_string(path).unwrap_or_default();
    // The file may open with `#` comment lines; the rest is the SDL.
    let body: Vec<&str> = file
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .skip_while(|l| l.is_empty())
        .collect();
    let body = body.join("\n");
    if std::env::var_os("SPILLWAY_BLESS_SCHEMA").is_some() {
        let header: String = file
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let sep = if header.is_empty() { "" } else { "\n" };
        std::fs::write(path, format!("{header}{sep}{}\n", served.trim_end())).unwrap();
        return;
    }
    assert_eq!(
        body.trim_end(),
        served.trim_end(),
        "schema/schema.graphql differs from the served schema \
         (SPILLWAY_BLESS_SCHEMA=1 cargo nextest run schema_file rewrites it)"
    );
}

#[tokio::test]
async fn start_stream_takes_parts_and_tools_and_subscribers_receive_parts() {
    let gw = Gateway::start().await;
    let r = post(
        &gw,
        &gw.token,
        r#"mutation($p: String!, $tools: [ToolInput!]) {
            startStream(prompt: $p, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                        tools: $tools, reasoningBudgetTokens: 1024) { sessionId status }
        }"#,
        json!({
            "p": "[[sim tool=lookup think=2 tokens=2]] find it",
            "tools": [{"name": "lookup", "inputSchema": "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}},\"required\":[\"q\"]}"}]
        }),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let id = r["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let query = "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq token isComplete timestamp stopReason part { type index text signature id name inputDelta input } } }";
    c.subscribe("1", query, json!({"id": id})).await;
    let evs = events(&c.collect("1").await, 0);
    let parts: Vec<&Value> = evs
        .iter()
        .map(|e| &e["part"])
        .filter(|p| !p.is_null())
        .collect();
    assert_eq!(parts[0]["type"], "reasoning", "{parts:?}");
    assert!(parts.iter().any(|p| p["signature"].is_string()));
    let end = parts.iter().rfind(|p| p["type"] == "toolCall").unwrap();
    assert_eq!(end["name"], "lookup");
    let input: Value = serde_json::from_str(end["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"q": "sample"}), "input is a JSON string");
    assert_eq!(evs.last().unwrap()["stopReason"], "tool_use");

    // The answer comes back as parts for the next turn.
    let content = post(
        &gw,
        &gw.token,
        "query($id: String!) { session(sessionId: $id) { content } }",
        json!({"id": id}),
    )
    .await;
    let content: Value =
        serde_json::from_str(content["data"]["session"]["content"].as_str().unwrap()).unwrap();
    let call = content
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "toolCall")
        .unwrap()
        .clone();
    let r = post(
        &gw,
        &gw.token,
        r#"mutation($m: [MessageInput!], $tools: [ToolInput!]) {
            startStream(prompt: "", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", messages: $m, tools: $tools) { sessionId }
        }"#,
        json!({
            "tools": [{"name": "lookup"}],
            "m": [
                {"role": "USER", "content": "find it"},
                {"role": "ASSISTANT", "parts": [{"type": "toolCall", "id": call["id"], "name": "lookup", "input": call["input"].to_string()}]},
                {"role": "USER", "parts": [{"type": "toolResult", "toolCallId": call["id"], "content": "found"}]}
            ]
        }),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let id2 = r["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    c.subscribe("2", &subscription_query(), json!({"id": id2}))
        .await;
    let text: String = events(&c.collect("2").await, 0)
        .iter()
        .map(|e| e["token"].as_str().unwrap().to_owned())
        .collect();
    assert!(text.starts_with("Tool result: found"), "{text}");

    // A bad part is a GraphQL error with the 400's code; nothing starts.
    let r = post(
        &gw,
        &gw.token,
        r#"mutation { startStream(prompt: "x", messages: [{role: USER, parts: [{type: "image", mediaType: "image/png", data: "https://x/y.png"}]}]) { sessionId } }"#,
        json!({}),
    )
    .await;
    let msg = r["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("fetches nothing"), "{r}");
    gw.shutdown().await;
}

#[tokio::test]
async fn start_stream_takes_a_guardrail_and_subscribers_get_its_part() {
    let gw = Gateway::start().await;
    let r = post(
        &gw,
        &gw.token,
        r#"mutation($p: String!) {
            startStream(prompt: $p, api: CONVERSE,
                        guardrail: {id: "gr1abc", version: "DRAFT", trace: true, streamProcessingMode: ASYNC}) { sessionId }
        }"#,
        json!({"p": "[[sim tokens=5 guardrail=2]] q"}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let id = r["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let query = "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq token isComplete timestamp stopReason part { type action trace } } }";
    c.subscribe("1", query, json!({"id": id})).await;
    let evs = events(&c.collect("1").await, 0);
    let part = evs
        .iter()
        .map(|e| &e["part"])
        .find(|p| p["type"] == "guardrail")
        .unwrap();
    assert_eq!(part["action"], "INTERVENED");
    let trace: Value = serde_json::from_str(part["trace"].as_str().unwrap()).unwrap();
    assert_eq!(trace["actionReason"], "Guardrail blocked.");
    assert_eq!(evs.last().unwrap()["stopReason"], "guardrail_intervened");
    // A bad guardrail is refused like any bad request.
    let bad = post(
        &gw,
        &gw.token,
        r#"mutation { startStream(prompt: "x", guardrail: {id: "gr1abc", version: "v1"}) { sessionId } }"#,
        json!({}),
    )
    .await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("guardrail version"),
        "{bad}"
    );
    gw.shutdown().await;
}

/// `PartInput` takes what a `/v1/stream` part takes for citations and
/// guardrails: a document's `citations` (the simulator then cites only the
/// documents that enable them) and a guardContent's `qualifiers`.
#[tokio::test]
async fn start_stream_parts_take_citations_and_qualifiers() {
    let gw = Gateway::start().await;
    let r = post(
        &gw,
        &gw.token,
        r#"mutation($m: [MessageInput!]) {
            startStream(prompt: "", api: CONVERSE, messages: $m) { sessionId }
        }"#,
        json!({"m": [{"role": "USER", "parts": [
            {"type": "document", "mediaType": "text/plain", "name": "Q2", "data": "U2FsZXMgZmVsbC4="},
            {"type": "document", "mediaType": "text/plain", "name": "Q3", "data": "U2FsZXMgcm9zZSA0JS4=",
             "citations": true},
            {"type": "guardContent", "text": "Sum up", "qualifiers": ["query"]},
            {"type": "text", "text": "[[sim tokens=2 cite=1 rate=0 ttft_ms=0]]"}
        ]}]}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let id = r["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let query = "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq token isComplete timestamp stopReason part { type title text } } }";
    c.subscribe("1", query, json!({"id": id})).await;
    let evs = events(&c.collect("1").await, 0);
    let cites: Vec<&Value> = evs
        .iter()
        .map(|e| &e["part"])
        .filter(|p| p["type"] == "citation")
        .collect();
    assert_eq!(cites.len(), 1, "{evs:?}");
    assert_eq!(cites[0]["title"], "Q3", "only the citable document");
    assert_eq!(evs.last().unwrap()["stopReason"], "end_turn");
    gw.shutdown().await;
}

/// The final `TokenEvent` names the model that answered, as on SSE: after
/// a fallback, the fallback, not the model the request named.
#[tokio::test]
async fn the_final_event_names_the_model_that_answered() {
    const NOVA: &str = "amazon.nova-lite-v1:0";
    let gw = Gateway::with(|c| c.fallback_models = vec![NOVA.to_owned()]).await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let query = "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq token isComplete timestamp model } }";
    for (prompt, answered) in [
        ("[[sim tokens=2 rate=0 ttft_ms=0]] rivers", CLAUDE),
        (
            "[[sim unavailable=claude-3-haiku tokens=2 rate=0 ttft_ms=0]] lakes",
            NOVA,
        ),
    ] {
        let r = post(
            &gw,
            &gw.token,
            "mutation($p: String!, $m: String) { startStream(prompt: $p, model: $m) { sessionId } }",
            json!({"p": prompt, "m": CLAUDE}),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        let id = r["data"]["startStream"]["sessionId"].as_str().unwrap();
        c.subscribe(id, query, json!({"id": id})).await;
        let evs = events(&c.collect(id).await, 0);
        let (last, rest) = evs.split_last().unwrap();
        assert_eq!(last["isComplete"], true, "{evs:?}");
        assert_eq!(last["model"], answered, "{prompt}");
        assert!(rest.iter().all(|e| e["model"].is_null()), "{evs:?}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn start_stream_takes_system_parts_and_a_tools_cache_point() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, TRANSPORT_WS).await;
    c.init(&gw.token).await;
    let start = r#"mutation($p: String!, $sp: [PartInput!], $tools: [ToolInput!]) {
        startStream(prompt: $p, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    system: "You are a patient guide to the rivers of Europe.",
                    systemParts: $sp, tools: $tools, toolsCachePoint: true) { sessionId }
    }"#;
    let vars = json!({
        "p": "[[sim tokens=2 rate=0]] Longest?",
        "sp": [{"type": "cachePoint"}],
        "tools": [{"name": "river_length", "description": "A river's length in kilometres."}]
    });
    let query = "subscription($id: String!) { onTokenReceived(sessionId: $id) { seq token isComplete timestamp usage { cacheReadInputTokens cacheWriteInputTokens } } }";
    let mut usage = Vec::new();
    for n in ["1", "2"] {
        let r = post(&gw, &gw.token, start, vars.clone()).await;
        assert!(r.get("errors").is_none(), "{r}");
        let id = r["data"]["startStream"]["sessionId"].as_str().unwrap();
        c.subscribe(n, query, json!({"id": id})).await;
        usage.push(events(&c.collect(n).await, 0).last().unwrap()["usage"].clone());
    }
    let written = usage[0]["cacheWriteInputTokens"].as_u64().unwrap();
    assert!(written > 0, "{usage:?}");
    assert_eq!(usage[0]["cacheReadInputTokens"], 0, "{usage:?}");
    assert_eq!(usage[1]["cacheReadInputTokens"], written, "{usage:?}");
    assert_eq!(usage[1]["cacheWriteInputTokens"], 0, "{usage:?}");

    // Only text and cache points in systemParts.
    let r = post(
        &gw,
        &gw.token,
        r#"mutation { startStream(prompt: "x", systemParts: [{type: "toolCall", id: "t", name: "f", input: "{}"}]) { sessionId } }"#,
        json!({}),
    )
    .await;
    let msg = r["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("systemParts") && msg.contains("toolCall"),
        "{r}"
    );
    gw.shutdown().await;
}
