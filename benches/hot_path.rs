//! The gateway's per-token hot path, one criterion group per stage. Every
//! stage is a small function over the crate's public API (or the SDK crates
//! the gateway itself uses), so a change to the hot path only touches the
//! function of its stage.
//!
//! `cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 3`
//!
//! (one group: `cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 3 framing`)
//!
//! The token is `" river"` in a session with a UUID id, as the simulator and
//! `Hub::start` make them.
//!
//! 1. `upstream_decode`: one InvokeModel `chunk` frame, built as the simulator
//!    builds it (`sim/src/wire.rs`: aws-smithy-eventstream `write_message_to`,
//!    JSON payload `{"bytes": base64(chunk JSON)}`).
//!    - `frame_decode`: `MessageFrameDecoder::decode_frame` (prelude, headers,
//!      payload, both CRCs) + `smithy::parse_response_headers`: what the SDK's
//!      event-stream receiver and its unmarshaller do before the payload.
//!    - `payload_part`: the payload's `{"bytes": "<base64>"}` → chunk bytes.
//!      The SDK's own deserializer for this (aws-smithy-json tokens) is private
//!      and that crate is not a dependency here, so this is serde_json + the
//!      same `aws_smithy_types::base64::decode`: a stand-in of the same work.
//!    - `adapter_claude`, `adapter_nova`: `ModelFamily::decode_chunk` of one
//!      text-delta chunk (the `PayloadPart` bytes) → `Delta::Text`.
//!    - `frame_to_token_claude`: the three above in a row for Claude.
//!    - `adapter_claude_tool_input`: `decode_chunk` of a Claude
//!      `input_json_delta` chunk of the token's length → `Delta::ToolInput`.
//! 2. `log_append`: a `Session`'s writer and its `Subscription` cursors.
//!    Each sample gets a fresh session (the log only grows), made untimed.
//!    Readers are polled once (`now_or_never`): the event is already there, so
//!    this is the cursor's cost, not tokio waking a parked reader task.
//!    - `writer_only`: `Session::push_token` (timestamp, `Arc<TokenEvent>`,
//!      watch send) with no reader.
//!    - `writer_1_reader`: push + one `Subscription::next`.
//!    - `writer_100_readers`: push + 100 cursors each reading it
//!      (throughput elements = 100 deliveries).
//!    - `writer_100_sse_readers`: push + 100 SSE response bodies each
//!      producing the event's bytes (stage 3's `sse_bytes` per reader): the
//!      fan-out cost that the per-event JSON cache (`TokenEvent::json`) cuts.
//!    - `blocks_text`, `blocks_tool_input`: one delta through the answer's
//!      `Blocks` (as `hub/runner.rs` applies it) and its event written with
//!      `Session::push`, no reader: a text token, or a piece of tool input
//!      inside an open call (appended to the call's input, a boxed part).
//! 3. `framing`: one `TokenEvent` (seq 42, not final) per transport, each
//!    twice: `*_first_read` frames events no reader has framed yet (a fresh
//!    clone per iteration, made untimed), `*_next_read` frames the same event
//!    again and again. Since each event caches its JSON on first use
//!    (`TokenEvent::json`), the first read pays the serialisation and the
//!    other readers of a fan-out pay the next-read cost; before that cache
//!    both cost the same.
//!    - `sse_event_*`: `TokenEvent::sse_frame` (JSON + the SSE frame, both
//!      cached on the event; until 2026-12-06 an axum `Event` built per read).
//!    - `sse_bytes_*`: the bytes the response body hands to hyper: the same
//!      body the gateway builds (`render::sse::response` over the events
//!      mapped through `sse_frame`), polled through its data stream.
//!      Excludes hyper's chunked encoding and the socket write.
//!    - `sse_bytes_tool_input_first_read`: the same for a tool-input event
//!      (`event: tool`, `"token":""` and the part
//!      `{"type":"toolCall","index":0,"inputDelta":…}`).
//!    - `ws_event_message_*`: `transport::ws::protocol::event_message` with a
//!      request id, as an axum `Message::Text` (tungstenite's frame header is
//!      written later, on send, and is not measured).
//!    - `graphql_next`: one item of the real `onTokenReceived` subscription,
//!      executed by the real schema (`transport::graphql::build_schema`) with
//!      the web client's selection set, then the `graphql-transport-ws`
//!      `{"type":"next","id":…,"payload":…}` text as `transport/graphql/ws.rs`
//!      encodes it. Includes the `Subscription::next` under it (a few tens of
//!      ns, see stage 2). Needs an `AppState`, so a whole gateway is started
//!      (`Server::start`, dev auth, memory registry, loopback) on a
//!      current-thread runtime; the events are pushed untimed before each
//!      sample and then read back timed.
//!    - `graphql_next_100_identical`: one event read by 100 subscriptions of
//!      the same request, as the WebSocket layer marks them
//!      (`transport/graphql/shared.rs`): one resolves, 99 copy the value.
//!      Throughput is per subscriber.
//! 4. `end_to_end`: `frame_to_sse_claude`: frame decode → payload part →
//!    Claude adapter → `push_token` → the session's SSE body (one reader)
//!    yields the event's bytes: one token from the upstream socket's bytes to
//!    the bytes handed to hyper.
//!    - `frame_to_sse_claude_via_blocks`: the same text token, but as the
//!      session's upstream task applies it (`hub/runner.rs`): every delta
//!      the adapter decodes goes through the answer's `parts::blocks::Blocks`,
//!      and each event it makes is written with `Session::push(token, part)`.
//!    - `frame_to_sse_claude_tool_input`: the same path for one piece of a
//!      tool call's input: a Claude `content_block_delta` with
//!      `{"type":"input_json_delta","partial_json":…}` of the token's length
//!      (`{"p0":`), inside a call opened untimed (a `content_block_start` of
//!      type `tool_use` through the same path, its `tool` event read). The
//!      adapter's `Delta::ToolInput` is appended to the call's input text
//!      and becomes a `tool` event with a boxed `Part::ToolCall`
//!      `{"type":"toolCall","index":0,"inputDelta":…}`. The call's end (the
//!      input parsed once, at the end) is not in it.

#![allow(clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Request, Variables};
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
use aws_smithy_eventstream::smithy::parse_response_headers;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use axum::body::{BodyDataStream, Bytes};
use axum::extract::ws::Message as WsMessage;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
use spillway::auth::Principal;
use spillway::config::Config;
use spillway::event::TokenEvent;
use spillway::hub::{Access, Session, SessionStatus, Subscription};
use spillway::parts::blocks::{Blocks, Emit};
use spillway::render::sse;
use spillway::server::Server;
use spillway::state::AppState;
use spillway::transport::graphql::{RequestKey, build_schema};
use spillway::transport::ws::protocol::event_message;
use spillway::upstream::Delta;
use spillway::upstream::models::ModelFamily;

const TOKEN: &str = " river";
/// A piece of tool input as long as `TOKEN`, as the simulator cuts a tool
/// call's input JSON (`sim/src/schema_input.rs`).
const TOOL_INPUT: &str = r#"{"p0":"#;
/// The called tool's name, and the id the simulator gives the call.
const TOOL_NAME: &str = "loadtest_probe";
const TOOL_ID: &str = "toolu_bdrk_01AbCdEfGhIjKlMnOpQrStUv";
const SESSION_ID: &str = "3f0c5e9a-8d2b-4c71-9a4e-1b6d2f7e8c90";
const OWNER: &str = "bench-user";
/// The gateway's default heartbeat interval (`--heartbeat-secs`).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// The web client's subscription (`web-client/src/transports/graphql.ts`).
const GRAPHQL_SUBSCRIPTION: &str = "subscription Tokens($sessionId: String!, $after: Int) {
  onTokenReceived(sessionId: $sessionId, after: $after) {
    sessionId seq token isComplete timestamp stopReason
    usage { inputTokens outputTokens }
    error { code message retryable }
  }
}";

// ---------------------------------------------------------------- fixtures

fn string(value: &str) -> HeaderValue {
    HeaderValue::String(StrBytes::from(value.to_owned()))
}

/// An InvokeModel `chunk` frame around `chunk`, as `spillway_sim`'s `wire::chunk_frame` makes it.
fn chunk_frame(chunk: &Value) -> Bytes {
    let raw = serde_json::to_vec(chunk).expect("chunk JSON");
    let payload = serde_json::to_vec(&json!({ "bytes": aws_smithy_types::base64::encode(raw) }))
        .expect("payload JSON");
    let message = Message::new_from_parts(
        vec![
            Header::new(":event-type", string("chunk")),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        payload,
    );
    let mut buffer = Vec::with_capacity(message.payload().len() + 96);
    write_message_to(&message, &mut buffer).expect("frame");
    Bytes::from(buffer)
}

/// The simulator's Claude text chunk (`sim/src/families/claude.rs`).
fn claude_chunk(text: &str) -> Value {
    json!({
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    })
}

/// The simulator's Claude tool call start (`sim/src/families/claude.rs`).
fn claude_tool_start_chunk() -> Value {
    json!({
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": TOOL_ID, "name": TOOL_NAME, "input": {}},
    })
}

/// The simulator's Claude tool-input chunk (`sim/src/families/claude.rs`).
fn claude_tool_input_chunk(json: &str) -> Value {
    json!({
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": json},
    })
}

/// The simulator's Nova text chunk (`sim/src/families/nova.rs`).
fn nova_chunk(text: &str) -> Value {
    json!({
        "contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0},
    })
}

fn new_session() -> Arc<Session> {
    Session::new(
        Arc::from(SESSION_ID),
        OWNER.into(),
        "bench-model".into(),
        u64::MAX,
    )
}

/// A mid-stream token event, written by a real session (seq 42).
fn token_event() -> Arc<TokenEvent> {
    let session = new_session();
    for _ in 0..=42 {
        session.push_token(TOKEN.to_owned());
    }
    session.event(42).expect("event 42")
}

/// A mid-stream tool-input event (`TOOL_INPUT`), written by a real session
/// through `Blocks` inside an open call.
fn tool_input_event() -> Arc<TokenEvent> {
    let session = new_session();
    let mut blocks = Blocks::default();
    let mut emitted = Vec::new();
    let start = Delta::ToolStart {
        id: TOOL_ID.to_owned(),
        name: TOOL_NAME.to_owned(),
    };
    for delta in [start, Delta::ToolInput(TOOL_INPUT.to_owned())] {
        blocks.apply(delta, &mut emitted).expect("delta applies");
    }
    for (token, part) in emitted {
        session.push(token, part);
    }
    session.event(1).expect("event 1")
}

/// `n` copies of `template` that no reader has framed yet (an event's JSON
/// is cached on first use since the per-event JSON cache; `template` must
/// never be framed itself).
fn fresh_events(template: &TokenEvent, n: u64) -> Vec<Arc<TokenEvent>> {
    (0..n).map(|_| Arc::new(template.clone())).collect()
}

/// Time `frame` over `iters` events no reader has framed yet (made untimed).
fn first_reads<T>(
    template: &TokenEvent,
    iters: u64,
    mut frame: impl FnMut(&TokenEvent) -> T,
) -> Duration {
    let events = fresh_events(template, iters);
    let start = Instant::now();
    for ev in &events {
        black_box(frame(ev));
    }
    start.elapsed()
}

// ---------------------------------------------------------- stage functions

/// Stage 1a: frame bytes → event-stream `Message`, headers checked as the SDK does.
fn decode_frame(frame: &[u8]) -> Message {
    let mut decoder = MessageFrameDecoder::new();
    let DecodedFrame::Complete(message) = decoder.decode_frame(frame).expect("valid frame") else {
        panic!("incomplete frame");
    };
    let headers = parse_response_headers(&message).expect("response headers");
    assert_eq!(headers.smithy_type.as_str(), "chunk");
    message
}

#[derive(serde::Deserialize)]
struct PayloadPart<'a> {
    #[serde(borrow)]
    bytes: &'a str,
}

/// Stage 1a': the `chunk` message's payload → the `PayloadPart`'s bytes.
fn payload_part(message: &Message) -> Vec<u8> {
    let part: PayloadPart<'_> = serde_json::from_slice(message.payload()).expect("payload JSON");
    aws_smithy_types::base64::decode(part.bytes).expect("base64")
}

/// Stage 1b: the model family's adapter, chunk bytes → token text.
fn adapter(family: ModelFamily, chunk: &[u8]) -> String {
    let deltas = family.decode_chunk(chunk).expect("chunk decodes");
    match deltas.into_iter().next() {
        Some(Delta::Text(t)) => t,
        other => panic!("not a text delta: {other:?}"),
    }
}

/// Stage 1: one frame to one token.
fn frame_to_token(family: ModelFamily, frame: &[u8]) -> String {
    let message = decode_frame(frame);
    adapter(family, &payload_part(&message))
}

/// Stage 4 (parts): one frame as the session's upstream task applies it
/// (`hub/runner.rs`): decoded, each delta through the answer's blocks, each
/// event they make pushed to `session` (`emitted` is the task's reused buffer).
fn frame_to_events(
    family: ModelFamily,
    frame: &[u8],
    blocks: &mut Blocks,
    emitted: &mut Vec<Emit>,
    session: &Session,
) {
    let message = decode_frame(frame);
    let deltas = family
        .decode_chunk(&payload_part(&message))
        .expect("chunk decodes");
    for delta in deltas {
        blocks.apply(delta, emitted).expect("delta applies");
    }
    for (token, part) in emitted.drain(..) {
        session.push(token, part);
    }
}

/// Stage 2: the next event of a cursor that has it already.
fn read_ready(sub: &mut Subscription) -> Arc<TokenEvent> {
    sub.next()
        .now_or_never()
        .expect("the event is written")
        .expect("not past the end")
}

/// Stage 3 (SSE): one event's frame. (Until 2026-12-06 an axum `Event`,
/// built for every reader; before the per-event JSON cache, a `Result`.)
fn sse_frame(ev: &TokenEvent) -> Bytes {
    ev.sse_frame()
}

/// Stage 3 (SSE): the body of the gateway's SSE response over `events`, as
/// `transport::sse` builds it (the heartbeat needs a tokio runtime entered).
fn sse_body(
    events: impl futures_util::Stream<Item = Arc<TokenEvent>> + Send + 'static,
) -> BodyDataStream {
    let frames = events.map(|ev| sse_frame(&ev));
    sse::response(frames, HEARTBEAT, sse::comment("heartbeat"))
        .into_body()
        .into_data_stream()
}

/// Stage 3 (SSE): the next chunk of bytes an SSE body hands to hyper.
fn sse_next(body: &mut BodyDataStream) -> Bytes {
    body.next()
        .now_or_never()
        .expect("the event is ready")
        .expect("the stream goes on")
        .expect("infallible")
}

/// Stage 3 (WebSocket): the text message of one event.
fn ws_message(ev: &TokenEvent, request_id: &Value) -> WsMessage {
    WsMessage::Text(event_message(ev, Some(request_id)).into())
}

/// Stage 3 (GraphQL): the `graphql-transport-ws` message of a subscription
/// response, as `transport/graphql/ws.rs` encodes it.
fn graphql_next(id: &str, response: &async_graphql::Response) -> String {
    #[derive(serde::Serialize)]
    struct ServerMessage<'a, P> {
        #[serde(rename = "type")]
        ty: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<P>,
    }
    serde_json::to_string(&ServerMessage {
        ty: "next",
        id: Some(id),
        payload: Some(response),
    })
    .expect("next message")
}

/// Time `iters` rounds of `round` on a fresh session made by `setup` (untimed).
fn fresh_sample<T>(
    iters: u64,
    setup: impl FnOnce(&Arc<Session>) -> T,
    mut round: impl FnMut(&Arc<Session>, &mut T),
) -> Duration {
    let session = new_session();
    let mut state = setup(&session);
    let start = Instant::now();
    for _ in 0..iters {
        round(&session, &mut state);
    }
    let elapsed = start.elapsed();
    drop(state);
    elapsed
}

// ------------------------------------------------------------------ stages

fn upstream_decode(c: &mut Criterion) {
    let claude = chunk_frame(&claude_chunk(TOKEN));
    let nova = chunk_frame(&nova_chunk(TOKEN));
    let message = decode_frame(&claude);
    let claude_bytes = payload_part(&message);
    let nova_bytes = payload_part(&decode_frame(&nova));
    assert_eq!(frame_to_token(ModelFamily::AmazonNova, &nova), TOKEN);

    let mut g = c.benchmark_group("upstream_decode");
    g.throughput(Throughput::Bytes(claude.len() as u64));
    g.bench_function("frame_decode", |b| {
        b.iter(|| decode_frame(black_box(&claude)))
    });
    g.throughput(Throughput::Bytes(message.payload().len() as u64));
    g.bench_function("payload_part", |b| {
        b.iter(|| payload_part(black_box(&message)))
    });
    g.throughput(Throughput::Bytes(claude_bytes.len() as u64));
    g.bench_function("adapter_claude", |b| {
        b.iter(|| adapter(ModelFamily::AnthropicClaude, black_box(&claude_bytes)))
    });
    g.throughput(Throughput::Bytes(nova_bytes.len() as u64));
    g.bench_function("adapter_nova", |b| {
        b.iter(|| adapter(ModelFamily::AmazonNova, black_box(&nova_bytes)))
    });
    g.throughput(Throughput::Bytes(claude.len() as u64));
    g.bench_function("frame_to_token_claude", |b| {
        b.iter(|| frame_to_token(ModelFamily::AnthropicClaude, black_box(&claude)))
    });
    let tool_bytes = payload_part(&decode_frame(&chunk_frame(&claude_tool_input_chunk(
        TOOL_INPUT,
    ))));
    let decode = |bytes: &[u8]| {
        let deltas = ModelFamily::AnthropicClaude
            .decode_chunk(bytes)
            .expect("chunk decodes");
        match deltas.into_iter().next() {
            Some(Delta::ToolInput(piece)) => piece,
            other => panic!("not a tool input delta: {other:?}"),
        }
    };
    assert_eq!(decode(&tool_bytes), TOOL_INPUT);
    g.throughput(Throughput::Bytes(tool_bytes.len() as u64));
    g.bench_function("adapter_claude_tool_input", |b| {
        b.iter(|| decode(black_box(&tool_bytes)))
    });
    g.finish();
}

fn log_append(c: &mut Criterion) {
    // `KeepAlive` arms a tokio timer when the SSE stream is built.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt = rt.enter();

    let mut g = c.benchmark_group("log_append");
    g.throughput(Throughput::Elements(1));
    g.bench_function("writer_only", |b| {
        b.iter_custom(|iters| {
            fresh_sample(
                iters,
                |_| (),
                |s, _| {
                    black_box(s.push_token(TOKEN.to_owned()));
                },
            )
        })
    });
    // A text token, or a piece of tool input inside an open call, through
    // the answer's blocks into the log.
    let tool_start = || Delta::ToolStart {
        id: TOOL_ID.to_owned(),
        name: TOOL_NAME.to_owned(),
    };
    for (name, opening, delta) in [
        ("blocks_text", None, Delta::Text(TOKEN.to_owned())),
        (
            "blocks_tool_input",
            Some(tool_start()),
            Delta::ToolInput(TOOL_INPUT.to_owned()),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                fresh_sample(
                    iters,
                    |s| {
                        let mut blocks = Blocks::default();
                        let mut emitted: Vec<Emit> = Vec::with_capacity(2);
                        if let Some(open) = opening.clone() {
                            blocks.apply(open, &mut emitted).expect("opens");
                            for (token, part) in emitted.drain(..) {
                                s.push(token, part);
                            }
                        }
                        (blocks, emitted)
                    },
                    |s, (blocks, emitted)| {
                        blocks
                            .apply(black_box(delta.clone()), emitted)
                            .expect("applies");
                        for (token, part) in emitted.drain(..) {
                            black_box(s.push(token, part));
                        }
                    },
                )
            })
        });
    }
    g.bench_function("writer_1_reader", |b| {
        b.iter_custom(|iters| {
            fresh_sample(
                iters,
                |s| Subscription::from_start(s.clone()),
                |s, sub| {
                    s.push_token(TOKEN.to_owned());
                    black_box(read_ready(sub));
                },
            )
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("writer_100_readers", |b| {
        b.iter_custom(|iters| {
            fresh_sample(
                iters,
                |s| {
                    (0..100)
                        .map(|_| Subscription::from_start(s.clone()))
                        .collect::<Vec<_>>()
                },
                |s, subs| {
                    s.push_token(TOKEN.to_owned());
                    for sub in subs.iter_mut() {
                        black_box(read_ready(sub));
                    }
                },
            )
        })
    });
    g.bench_function("writer_100_sse_readers", |b| {
        b.iter_custom(|iters| {
            fresh_sample(
                iters,
                |s| {
                    (0..100)
                        .map(|_| sse_body(Subscription::from_start(s.clone()).into_stream()))
                        .collect::<Vec<_>>()
                },
                |s, bodies| {
                    s.push_token(TOKEN.to_owned());
                    for body in bodies.iter_mut() {
                        black_box(sse_next(body));
                    }
                },
            )
        })
    });
    g.finish();
}

/// A gateway to run GraphQL operations against: its `AppState` is what the
/// schema's resolvers read.
struct Gateway {
    rt: tokio::runtime::Runtime,
    state: AppState,
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::local_defaults();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.data_dir = dir.path().to_path_buf();
        let server = rt.block_on(Server::start(config)).expect("gateway starts");
        Self {
            state: server.state().clone(),
            rt,
            _server: server,
            _dir: dir,
        }
    }

    /// A fresh externally-fed session `id` holding `events` tokens, and the
    /// web client's `onTokenReceived` on it, its first event already read.
    fn subscribed(
        &self,
        schema: &spillway::transport::graphql::GqlSchema,
        id: &str,
        events: u64,
    ) -> (Arc<Session>, BoxStream<'static, async_graphql::Response>) {
        let (session, mut streams) = self.subscribed_many(schema, id, events, 1, false);
        (session, streams.remove(0))
    }

    /// The same with `readers` subscriptions; `identical`: as the WebSocket
    /// layer sends identical requests (one render per event for all).
    fn subscribed_many(
        &self,
        schema: &spillway::transport::graphql::GqlSchema,
        id: &str,
        events: u64,
        readers: usize,
        identical: bool,
    ) -> (
        Arc<Session>,
        Vec<BoxStream<'static, async_graphql::Response>>,
    ) {
        self.state
            .hub
            .publish(id, OWNER, TOKEN.to_owned(), false)
            .expect("session created");
        let session = self
            .rt
            .block_on(self.state.hub.find(id, &Access::User(OWNER)))
            .expect("own session");
        for _ in 0..events {
            session.push_token(TOKEN.to_owned());
        }
        let principal = Principal {
            sub: OWNER.into(),
            username: OWNER.into(),
            groups: Vec::new(),
            expires_at: u64::MAX,
        };
        let variables = json!({ "sessionId": id });
        let key = RequestKey::new(GRAPHQL_SUBSCRIPTION, None, variables.as_object());
        let streams = (0..readers)
            .map(|_| {
                let mut req = Request::new(GRAPHQL_SUBSCRIPTION)
                    .variables(Variables::from_json(variables.clone()))
                    .data(self.state.clone())
                    .data(principal.clone());
                if identical {
                    req = req.data(key.clone());
                }
                let mut stream = schema.execute_stream(req);
                let first = self.rt.block_on(stream.next()).expect("first event");
                assert!(first.errors.is_empty(), "{:?}", first.errors);
                stream
            })
            .collect();
        (session, streams)
    }
}

fn framing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt = rt.enter();
    // Framed again and again: from the second reader on, an event's JSON is cached.
    let ev = token_event();
    // Only ever cloned: each clone is an event nobody has framed yet.
    let template = (*token_event()).clone();
    let request_id = json!("r1");

    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sse_event_first_read", |b| {
        b.iter_custom(|iters| first_reads(&template, iters, sse_frame))
    });
    g.bench_function("sse_event_next_read", |b| {
        b.iter(|| sse_frame(black_box(&ev)))
    });
    g.bench_function("sse_bytes_first_read", |b| {
        b.iter_custom(|iters| {
            let mut body = sse_body(futures_util::stream::iter(fresh_events(&template, iters)));
            let start = Instant::now();
            for _ in 0..iters {
                black_box(sse_next(&mut body));
            }
            start.elapsed()
        })
    });
    let tool_template = (*tool_input_event()).clone();
    assert!(tool_template.part.is_some());
    g.bench_function("sse_bytes_tool_input_first_read", |b| {
        b.iter_custom(|iters| {
            let events = fresh_events(&tool_template, iters);
            let mut body = sse_body(futures_util::stream::iter(events));
            let start = Instant::now();
            for _ in 0..iters {
                black_box(sse_next(&mut body));
            }
            start.elapsed()
        })
    });
    let repeated = ev.clone();
    let mut body = sse_body(futures_util::stream::repeat_with(move || repeated.clone()));
    let sample = sse_next(&mut body);
    assert!(sample.starts_with(b"event: token\n"), "{sample:?}");
    g.bench_function("sse_bytes_next_read", |b| {
        b.iter(|| sse_next(black_box(&mut body)))
    });
    g.bench_function("ws_event_message_first_read", |b| {
        b.iter_custom(|iters| first_reads(&template, iters, |ev| ws_message(ev, &request_id)))
    });
    g.bench_function("ws_event_message_next_read", |b| {
        b.iter(|| ws_message(black_box(&ev), &request_id))
    });

    let gateway = Gateway::start();
    let schema = build_schema();
    let mut n = 0u64;
    g.bench_function("graphql_next", |b| {
        b.iter_custom(|iters| {
            n += 1;
            let id = format!("bench-graphql-{n}");
            let (session, mut stream) = gateway.subscribed(&schema, &id, iters);
            let elapsed = gateway.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let response = stream.next().await.expect("an event");
                    black_box(graphql_next("tokens", &response));
                }
                start.elapsed()
            });
            session.finish(SessionStatus::Complete, None, None, None);
            elapsed
        })
    });
    // One event read by 100 subscribers of identical requests (the fan-out
    // case): one resolves it, 99 copy the value (`transport/graphql/shared.rs`).
    const READERS: usize = 100;
    g.throughput(Throughput::Elements(READERS as u64));
    g.bench_function("graphql_next_100_identical", |b| {
        b.iter_custom(|iters| {
            n += 1;
            let id = format!("bench-graphql-{n}");
            let (session, mut streams) =
                gateway.subscribed_many(&schema, &id, iters, READERS, true);
            let elapsed = gateway.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for stream in &mut streams {
                        let response = stream.next().await.expect("an event");
                        black_box(graphql_next("tokens", &response));
                    }
                }
                start.elapsed()
            });
            session.finish(SessionStatus::Complete, None, None, None);
            elapsed
        })
    });
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt = rt.enter();
    let frame = chunk_frame(&claude_chunk(TOKEN));
    let tool_start = chunk_frame(&claude_tool_start_chunk());
    assert_eq!(TOOL_INPUT.len(), TOKEN.len());
    let tool_input = chunk_frame(&claude_tool_input_chunk(TOOL_INPUT));
    // A session, its answer's blocks and its SSE body; `opening` (untimed)
    // is applied first and its events read.
    let through_blocks = |s: &Arc<Session>, opening: Option<&[u8]>| {
        let mut blocks = Blocks::default();
        let mut emitted = Vec::with_capacity(2);
        let mut body = sse_body(Subscription::from_start(s.clone()).into_stream());
        if let Some(frame) = opening {
            frame_to_events(
                ModelFamily::AnthropicClaude,
                frame,
                &mut blocks,
                &mut emitted,
                s,
            );
            let started = sse_next(&mut body);
            assert!(started.starts_with(b"event: tool\n"), "{started:?}");
        }
        (blocks, emitted, body)
    };
    // The path is what the names say: a `token` event, a `tool` input delta.
    {
        let s = new_session();
        let (mut blocks, mut emitted, mut body) = through_blocks(&s, Some(&tool_start));
        let family = ModelFamily::AnthropicClaude;
        frame_to_events(family, &tool_input, &mut blocks, &mut emitted, &s);
        let bytes = sse_next(&mut body);
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        assert!(text.starts_with("event: tool\n"), "{text}");
        assert!(
            text.contains(r#""part":{"type":"toolCall","index":0,"inputDelta":"{\"p0\":"}"#),
            "{text}"
        );
        let s = new_session();
        let (mut blocks, mut emitted, mut body) = through_blocks(&s, None);
        frame_to_events(family, &frame, &mut blocks, &mut emitted, &s);
        assert!(sse_next(&mut body).starts_with(b"event: token\n"));
    }

    let mut g = c.benchmark_group("end_to_end");
    g.throughput(Throughput::Elements(1));
    g.bench_function("frame_to_sse_claude", |b| {
        b.iter_custom(|iters| {
            fresh_sample(
                iters,
                |s| sse_body(Subscription::from_start(s.clone()).into_stream()),
                |s, body| {
                    let token = frame_to_token(ModelFamily::AnthropicClaude, black_box(&frame));
                    s.push_token(token);
                    black_box(sse_next(body));
                },
            )
        })
    });
    for (name, opening, frame) in [
        ("frame_to_sse_claude_via_blocks", None, &frame),
        (
            "frame_to_sse_claude_tool_input",
            Some(&tool_start[..]),
            &tool_input,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                fresh_sample(
                    iters,
                    |s| through_blocks(s, opening),
                    |s, (blocks, emitted, body)| {
                        let family = ModelFamily::AnthropicClaude;
                        frame_to_events(family, black_box(frame), blocks, emitted, s);
                        black_box(sse_next(body));
                    },
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, upstream_decode, log_append, framing, end_to_end);
criterion_main!(benches);
