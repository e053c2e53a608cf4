//! The WebSocket transport end to end with a real client (tokio-tungstenite).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Client {
    ws: Socket,
    connection_id: String,
}

impl Client {
    async fn connect(gw: &Gateway, token: &str) -> Self {
        let mut req = format!("{}/v1/ws", gw.base.replace("http", "ws"))
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        Self::connect_with(req).await
    }

    async fn connect_with(req: http::Request<()>) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        let mut c = Self {
            ws,
            connection_id: String::new(),
        };
        let hello = c.recv().await;
        assert_eq!(hello["type"], "connected");
        c.connection_id = hello["connectionId"].as_str().unwrap().to_owned();
        c
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    /// The next JSON message (pings are answered by tungstenite as we read).
    async fn recv(&mut self) -> Value {
        loop {
            let msg = within(Duration::from_secs(15), self.ws.next())
                .await
                .expect("open")
                .expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The close code the server ends with.
    async fn close_code(&mut self) -> CloseCode {
        loop {
            match within(Duration::from_secs(15), self.ws.next()).await {
                Some(Ok(Message::Close(Some(f)))) => return f.code,
                Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error before close: {e}"),
            }
        }
    }
}

/// Read messages of `request_id` until its final event; returns them all.
async fn until_final(c: &mut Client, request_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let m = c.recv().await;
        if m["requestId"] == request_id {
            let last = m["isComplete"] == true || m["type"] == "error";
            out.push(m);
            if last {
                return out;
            }
        }
    }
}

fn assert_events_contiguous(events: &[Value]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i as u64, "{e}");
        assert!(
            e["token"].is_string() && e["isComplete"].is_boolean() && e["timestamp"].is_string()
        );
    }
}

#[tokio::test]
async fn concurrent_streams_on_one_connection_each_arrive_in_order() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    for i in 0..3 {
        c.send(json!({"action": "stream", "requestId": format!("r{i}"), "prompt": format!("[[sim tokens={} rate=200]] q{i}", 10 + i)})).await;
    }
    let mut per: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let mut finished = 0;
    while finished < 3 {
        let m = c.recv().await;
        let rid = m["requestId"].as_str().unwrap().to_owned();
        if m["isComplete"] == true {
            finished += 1;
        }
        per.entry(rid).or_default().push(m);
    }
    for i in 0..3 {
        let msgs = &per[&format!("r{i}")];
        assert_eq!(msgs[0]["type"], "started");
        let session = msgs[0]["sessionId"].clone();
        let events = &msgs[1..];
        assert_events_contiguous(events);
        assert_eq!(events.len(), 10 + i + 1);
        assert!(events.iter().all(|e| e["sessionId"] == session));
        let last = events.last().unwrap();
        assert_eq!(last["type"], "done");
        assert_eq!(last["usage"]["outputTokens"], 10 + i as u64);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_the_upstream_with_a_final_event() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({"action": "stream", "requestId": "long", "prompt": "[[sim tokens=500 rate=20]] go on"})).await;
    let started = c.recv().await;
    assert_eq!(started["type"], "started");
    let first = c.recv().await;
    assert_eq!(first["type"], "token");
    c.send(json!({"action": "cancel", "requestId": "long"}))
        .await;
    let rest = until_final(&mut c, "long").await;
    let last = rest.last().unwrap();
    assert_eq!(last["stopReason"], "cancelled");
    assert_eq!(last["isComplete"], true);
    eventually(Duration::from_secs(5), || async {
        gw.sim_stats().await["streamsCancelled"] == 1
    })
    .await;
    // The connection is still usable.
    c.send(json!({"action": "ping", "requestId": 9})).await;
    assert_eq!(c.recv().await, json!({"type": "pong", "requestId": 9}));
    gw.shutdown().await;
}

#[tokio::test]
async fn late_subscribe_to_an_sse_session_gets_every_event() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=15 rate=0]] shared"}))
        .await;
    let sse = collect_events(resp).await;
    let session = sse[0].data.session_id.to_string();
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({"action": "subscribe", "requestId": "sub", "sessionId": session}))
        .await;
    let events = until_final(&mut c, "sub").await;
    assert_events_contiguous(&events);
    assert_eq!(events.len(), sse.len());
    for (w, s) in events.iter().zip(&sse) {
        assert_eq!(w["token"], s.data.token);
        assert_eq!(w["type"], s.event);
    }
    // Resume from `after`.
    c.send(json!({"action": "subscribe", "requestId": "tail", "sessionId": session, "after": 12}))
        .await;
    let tail = until_final(&mut c, "tail").await;
    assert_eq!(
        tail.iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![13, 14, 15]
    );
    // Another user cannot see it.
    let mut bob = Client::connect(&gw, &gw.token_for("bob", &[])).await;
    bob.send(json!({"action": "subscribe", "requestId": "x", "sessionId": session}))
        .await;
    let m = bob.recv().await;
    assert_eq!(m["type"], "error");
    assert_eq!(m["error"]["code"], "not_found");
    gw.shutdown().await;
}

/// A cursor past the end of a finished session's log can never be served:
/// an `error` message, not a subscription that waits forever.
#[tokio::test]
async fn a_subscribe_past_the_end_of_a_finished_session_is_an_error() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=3 rate=0]] short"}))
        .await;
    let sse = collect_events(resp).await;
    let session = sse[0].data.session_id.to_string();
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({"action": "subscribe", "requestId": "past", "sessionId": session, "after": u64::MAX}))
        .await;
    let m = c.recv().await;
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(m["requestId"], "past");
    assert_eq!(m["error"]["code"], "cursor_past_end");
    // Right after the final event (seq 3) nothing follows either: said at once,
    // not a subscription that never answers.
    c.send(json!({"action": "subscribe", "requestId": "end", "sessionId": session, "after": 3}))
        .await;
    let m = c.recv().await;
    assert_eq!(
        (&m["type"], &m["requestId"]),
        (&json!("error"), &json!("end")),
        "{m}"
    );
    assert_eq!(m["error"]["code"], "cursor_past_end");
    // From the final event itself: it is delivered.
    c.send(json!({"action": "subscribe", "requestId": "last", "sessionId": session, "after": 2}))
        .await;
    let m = c.recv().await;
    assert_eq!((&m["type"], &m["seq"]), (&json!("done"), &json!(3)), "{m}");
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_connection_stays_up() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("not json".into()), "invalid_json"),
        (Message::Text("[1,2]".into()), "invalid_message"),
        (
            Message::Text(r#"{"requestId":"a"}"#.into()),
            "missing_action",
        ),
        (
            Message::Text(r#"{"action":"fly","requestId":"b"}"#.into()),
            "unknown_action",
        ),
        (
            Message::Text(r#"{"action":"subscribe"}"#.into()),
            "invalid_fields",
        ),
        (
            Message::Text(r#"{"action":"stream","prompt":7}"#.into()),
            "invalid_fields",
        ),
        (
            Message::Text(r#"{"action":"stream","prompt":"x","model":"acme.nope"}"#.into()),
            "unknown_model",
        ),
        (
            Message::Text(r#"{"action":"stream","prompt":""}"#.into()),
            "bad_request",
        ),
        (
            Message::Text(r#"{"action":"stream","prompt":"x","maxTokens":100000}"#.into()),
            "validation_error",
        ),
        (
            Message::Binary(vec![1, 2, 3].into()),
            "binary_not_supported",
        ),
    ];
    for (msg, code) in cases {
        c.ws.send(msg).await.unwrap();
        let m = c.recv().await;
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["error"]["code"], code, "{m}");
        assert!(
            m["error"]["message"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
    }
    c.send(
        json!({"action": "stream", "requestId": "ok", "prompt": "[[sim tokens=3 rate=0]] fine"}),
    )
    .await;
    let events = until_final(&mut c, "ok").await;
    assert_eq!(events.last().unwrap()["type"], "done");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let gw = Gateway::with(|c| c.ws_max_message_bytes = 1024).await;
    let mut c = Client::connect(&gw, &gw.token).await;
    let big = json!({"action": "stream", "prompt": "x".repeat(2000)});
    c.send(big).await;
    assert_eq!(c.close_code().await, CloseCode::Size);
    // Far past the limit too.
    let mut c = Client::connect(&gw, &gw.token).await;
    let _ = c.ws.send(Message::Text("y".repeat(50_000).into())).await;
    assert_eq!(c.close_code().await, CloseCode::Size);
    gw.shutdown().await;
}

#[tokio::test]
async fn upgrades_need_a_token_from_a_header_query_or_subprotocol() {
    let gw = Gateway::start().await;
    let url = format!("{}/v1/ws", gw.base.replace("http", "ws"));
    let err = tokio_tungstenite::connect_async(url.clone())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected a 401, got {other}"),
    }
    let req = format!("{url}?token={}", gw.token)
        .into_client_request()
        .unwrap();
    Client::connect_with(req).await;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("spillway.v1, bearer.{}", gw.token).parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "spillway.v1");
    drop(ws);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_with_4401() {
    let gw = Gateway::with(|c| c.jwt_leeway_secs = 0).await;
    let short = spillway::auth::dev::DevIssuer::load_or_create(gw.data_dir())
        .unwrap()
        .mint("alice", &[], 1)
        .unwrap();
    let mut c = Client::connect(&gw, &short).await;
    assert_eq!(c.close_code().await, CloseCode::from(4401));
    gw.shutdown().await;
}

#[tokio::test]
async fn the_connections_api_pushes_describes_and_disconnects() {
    let gw = Gateway::start().await;
    let admin = gw.token_for("ops", &["admin"]);
    let mut c = Client::connect(&gw, &gw.token).await;
    let url = gw.url(&format!("/@connections/{}", c.connection_id));

    let r = gw
        .http
        .post(&url)
        .bearer_auth(&gw.token)
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "non-admins may not push");

    let r = gw
        .http
        .post(&url)
        .bearer_auth(&admin)
        .body(r#"{"note":"from a backend"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.recv().await, json!({"note": "from a backend"}));

    let r = gw
        .http
        .post(&url)
        .bearer_auth(&admin)
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let info: Value = gw
        .http
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert!(info["lastActiveAt"].is_string());

    let r = gw
        .http
        .delete(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(c.close_code().await, CloseCode::Normal);
    eventually(Duration::from_secs(5), || async {
        gw.http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;
    let r = gw
        .http
        .post(&url)
        .bearer_auth(&admin)
        .body("late")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let r = gw
        .http
        .delete(gw.url("/@connections/nope"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let gw = Gateway::with(|c| c.ws_ping_secs = 0.1).await;
    let admin = gw.token_for("ops", &["admin"]);
    let c = Client::connect(&gw, &gw.token).await;
    let url = gw.url(&format!("/@connections/{}", c.connection_id));
    assert_eq!(
        gw.http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The client never reads again, so it never answers a ping.
    eventually(Duration::from_secs(10), || async {
        gw.http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;
    drop(c);
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_streams_finish_then_closes_with_1001() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({"action": "stream", "requestId": "s", "prompt": "[[sim tokens=20 rate=40]] drain me"})).await;
    assert_eq!(c.recv().await["type"], "started");
    let stopping = tokio::spawn(gw.shutdown());
    let events = until_final(&mut c, "s").await;
    assert_eq!(
        events.last().unwrap()["type"],
        "done",
        "the in-flight stream finishes"
    );
    assert_eq!(events.len(), 21);
    assert_eq!(c.close_code().await, CloseCode::Away);
    within(Duration::from_secs(10), stopping).await.unwrap();
}

#[tokio::test]
async fn stream_action_carries_tools_and_reasoning_as_typed_messages() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({
        "action": "stream",
        "requestId": "t1",
        "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "prompt": "[[sim tool=lookup think=2 tokens=2]] Find it.",
        "tools": [{"name": "lookup", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        "reasoning": {"budgetTokens": 1024}
    }))
    .await;
    let msgs = until_final(&mut c, "t1").await;
    let events: Vec<&Value> = msgs.iter().filter(|m| m["type"] != "started").collect();
    let types: Vec<&str> = events.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"reasoning"), "{types:?}");
    assert!(
        types.contains(&"token") && types.contains(&"tool"),
        "{types:?}"
    );
    for m in events
        .iter()
        .filter(|m| m["type"] == "reasoning" || m["type"] == "tool")
    {
        assert_eq!(m["token"], "", "{m}");
        assert!(m["part"]["index"].is_u64(), "{m}");
    }
    let end = events.iter().rfind(|m| m["type"] == "tool").unwrap();
    assert_eq!(end["part"]["input"], json!({"q": "sample"}));
    let done = events.last().unwrap();
    assert_eq!(
        (done["type"].as_str(), done["stopReason"].as_str()),
        (Some("done"), Some("tool_use"))
    );

    // A bad part is an error message on the socket, which stays open.
    c.send(json!({"action": "stream", "requestId": "bad", "messages": [
        {"role": "user", "content": [{"type": "toolResult", "toolCallId": "nope", "content": "x"}]}]}))
    .await;
    let err = until_final(&mut c, "bad").await;
    assert_eq!(err.last().unwrap()["type"], "error", "{err:?}");
    c.send(json!({"action": "ping", "requestId": "p"})).await;
    assert_eq!(until_pong(&mut c).await["requestId"], "p");
    gw.shutdown().await;
}

async fn until_pong(c: &mut Client) -> Value {
    loop {
        let m = c.recv().await;
        if m["type"] == "pong" {
            return m;
        }
    }
}

#[tokio::test]
async fn a_guardrail_intervention_is_a_guardrail_message_then_done() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(
        json!({"action": "stream", "requestId": "g", "api": "converse",
        "prompt": "[[sim tokens=6 guardrail=2 rate=0 ttft_ms=0]] q",
        "guardrail": {"id": "gr1abc", "version": "1", "trace": true}}),
    )
    .await;
    let msgs = until_final(&mut c, "g").await;
    let guard = msgs.iter().find(|m| m["type"] == "guardrail").unwrap();
    assert_eq!(guard["part"]["type"], "guardrail");
    assert_eq!(guard["part"]["action"], "INTERVENED");
    assert!(guard["part"]["trace"].is_object(), "{guard}");
    let last = msgs.last().unwrap();
    assert_eq!(last["type"], "done");
    assert_eq!(last["stopReason"], "guardrail_intervened");
    gw.shutdown().await;
}

/// The `stream` action reads the same body as `/v1/stream`: `outputConfig`
/// makes the answer JSON of the schema (here through Converse).
#[tokio::test]
async fn the_stream_action_takes_an_output_config() {
    let gw = Gateway::start().await;
    let mut c = Client::connect(&gw, &gw.token).await;
    c.send(json!({
        "action": "stream", "requestId": "json",
        "model": "us.amazon.nova-pro-v1:0", "api": "converse",
        "prompt": "[[sim tokens=9 rate=0]] Plan a trip",
        "outputConfig": {"format": {"name": "trip", "schema": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"]}}},
    }))
    .await;
    let events = until_final(&mut c, "json").await;
    let text: String = events.iter().filter_map(|e| e["token"].as_str()).collect();
    let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
    assert_eq!(answer, json!({"city": "sample", "days": 1}));
    gw.shutdown().await;
}
