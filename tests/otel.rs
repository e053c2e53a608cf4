//! OpenTelemetry: sessions started over the sockets (`/v1/ws`, GraphQL over
//! WebSocket) take their parent from the upgrade request's `traceparent`.
//!
//! The gateway binary runs with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an
//! OTLP/HTTP receiver in this test, which decodes every
//! `ExportTraceServiceRequest` (`opentelemetry-proto`) and hands its spans
//! over a channel. (HTTP routes, attributes and the resource are tested from
//! Python, `tests/python/test_otel.py`.)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::within;
use futures_util::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use spillway::auth::dev::DevIssuer;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// The OTLP/HTTP receiver: decoded spans arrive on `spans`.
struct Receiver {
    url: String,
    spans: mpsc::UnboundedReceiver<Span>,
    seen: Vec<Span>,
}

impl Receiver {
    async fn start() -> Self {
        let (tx, spans) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| async move {
                if headers.get("content-type").and_then(|v| v.to_str().ok())
                    != Some("application/x-protobuf")
                {
                    return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
                }
                let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                for span in req
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                {
                    let _ = tx.send(span);
                }
                (StatusCode::OK, Vec::new())
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            spans,
            seen: Vec::new(),
        }
    }

    /// The span of session `id`, waiting for it.
    async fn span(&mut self, id: &str) -> Span {
        within(Duration::from_secs(30), async {
            loop {
                if let Some(s) = self
                    .seen
                    .iter()
                    .find(|s| string_attr(s, "spillway.session_id").as_deref() == Some(id))
                {
                    return s.clone();
                }
                let span = self.spans.recv().await.expect("receiver open");
                self.seen.push(span);
            }
        })
        .await
    }
}

fn string_attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Any::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The gateway binary exporting to `receiver`.
struct Gateway {
    _child: Child,
    ws: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(receiver: &Receiver) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SPILLWAY_DATA_DIR", dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url)
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = within(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap();
        let url = line.rsplit(' ').next().unwrap().to_owned();
        let token = DevIssuer::load_or_create(dir.path())
            .unwrap()
            .mint("alice", &[], 600)
            .unwrap();
        Self {
            _child: child,
            ws: url.replace("http", "ws"),
            token,
            _dir: dir,
        }
    }

    /// A socket to `path` whose upgrade carries `traceparent`.
    async fn connect(
        &self,
        path: &str,
        protocol: Option<&str>,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
        let mut req = format!("{}{path}", self.ws).into_client_request().unwrap();
        let h = req.headers_mut();
        h.insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        h.insert(
            "traceparent",
            format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
        );
        h.insert("tracestate", "ws=1".parse().unwrap());
        if let Some(p) = protocol {
            h.insert("sec-websocket-protocol", p.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        ws
    }
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match within(Duration::from_secs(15), ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn assert_child_of_upgrade(span: &Span) {
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), PARENT_ID);
    assert_eq!(span.trace_state, "ws=1");
    assert_eq!(span.kind, 3, "SPAN_KIND_CLIENT");
    assert!(span.name.starts_with("chat "), "{}", span.name);
    assert_eq!(string_attr(span, "enduser.id").as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_ws_session_is_a_child_of_the_upgrades_traceparent() {
    let mut receiver = Receiver::start().await;
    let gw = Gateway::start(&receiver).await;
    let mut ws = gw.connect("/v1/ws", None).await;
    assert_eq!(next_json(&mut ws).await["type"], "connected");
    ws.send(Message::Text(
        json!({"action": "stream", "requestId": "r1", "prompt": "[[sim tokens=3 rate=0 ttft_ms=0]] hi"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut session = None;
    loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "started" {
            session = m["sessionId"].as_str().map(str::to_owned);
        }
        if m["isComplete"] == true || m["type"] == "done" || m["type"] == "error" {
            break;
        }
    }
    let session = session.expect("a started message");
    let span = receiver.span(&session).await;
    assert_child_of_upgrade(&span);
}

#[tokio::test]
async fn a_graphql_socket_session_is_a_child_of_the_upgrades_traceparent() {
    let mut receiver = Receiver::start().await;
    let gw = Gateway::start(&receiver).await;
    let mut ws = gw.connect("/graphql", Some("graphql-transport-ws")).await;
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", gw.token)}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    let start = json!({"type": "subscribe", "id": "m", "payload": {"query":
        "mutation { startStream(prompt: \"[[sim tokens=3 rate=0 ttft_ms=0]] hi\") { sessionId } }"}});
    ws.send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    let session = loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "next" && m["id"] == "m" {
            break m["payload"]["data"]["startStream"]["sessionId"]
                .as_str()
                .expect("a session id")
                .to_owned();
        }
        assert_ne!(m["type"], "error", "{m}");
    };
    let span = receiver.span(&session).await;
    assert_child_of_upgrade(&span);
}
