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

use std::pin::pin;

use axum::Extension;
use axum::extract::ws::Message;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::chunks::{UiChunk, error_text};
use super::render::chunk_stream;
use super::request::{ChatOptions, UiMessage, chat_answer, check_chat_id, to_stream_request};
use crate::auth::Principal;
use crate::edge::client_ip::Peer;
use crate::error::{ApiError, ErrorCode};
use crate::hub::Subscription;
use crate::hub::chats::{ChatIndex, Rendering};
use crate::socket::{self, Client, Ctx, Flow, Opening, Protocol, SUBPROTOCOL};
use crate::state::AppState;

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
    if let Err(refused) = state.connections.admit(&principal.sub).await {
        return refused.into_response();
    }
    let limits = *state.connections.limits();
    let opening = Opening {
        protocol: ChatFrames { chats },
        client: Client::new(peer, &headers),
        principal: Some(principal),
        // A `send` frame carries the whole conversation, like a POST body.
        max_message: limits.max_message_bytes.max(state.max_body_bytes),
        ping_every: limits.ping_interval,
        state,
    };
    socket::upgrade(ws.protocols([SUBPROTOCOL]), opening)
}

/// The `WebSocketChatTransport` protocol; what an operation is known by is
/// its `requestId`.
struct ChatFrames {
    chats: ChatIndex,
}

type Cx<'a> = Ctx<'a, String>;

impl Protocol for ChatFrames {
    type Tag = String;
    const NAME: &'static str = "ai_sdk";

    async fn on_text(&mut self, text: &str, cx: &mut Cx<'_>) -> Flow {
        self.on_frame(text, cx).await;
        Flow::Continue
    }

    async fn on_binary(&mut self, _data: &[u8], cx: &mut Cx<'_>) -> Flow {
        cx.reply(error_frame(
            "",
            ErrorCode::BinaryNotSupported,
            "send frames as JSON text messages",
        ))
        .await;
        Flow::Continue
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

impl ChatFrames {
    async fn on_frame(&mut self, text: &str, cx: &mut Cx<'_>) {
        let frame: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return cx
                    .reply(error_frame(
                        "",
                        ErrorCode::InvalidMessage,
                        "a frame is a JSON object",
                    ))
                    .await;
            }
        };
        let Some(rid) = frame.get("requestId").and_then(Value::as_str) else {
            return cx
                .reply(error_frame(
                    "",
                    ErrorCode::InvalidFields,
                    "a frame needs a string requestId",
                ))
                .await;
        };
        let rid = rid.to_owned();
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "abort" {
            for r in cx.ops.iter().filter(|r| r.tag == rid) {
                r.cancel.cancel();
            }
            return;
        }
        if !matches!(kind, "send" | "resume") {
            let msg = format!("unknown frame type '{kind}' (send, resume, abort)");
            return cx
                .reply(error_frame(&rid, ErrorCode::UnknownAction, &msg))
                .await;
        }
        let refusal = match cx.ops.admit() {
            Err(refused) => Some((refused.code(), refused.to_string())),
            Ok(()) if cx.ops.iter().any(|r| r.tag == rid) => Some((
                ErrorCode::InvalidFields,
                "a request with this requestId is running".to_owned(),
            )),
            Ok(()) => None,
        };
        if let Some((code, msg)) = refusal {
            return cx.reply(error_frame(&rid, code, &msg)).await;
        }
        let Some(owner) = cx.principal().map(|p| p.sub.clone()) else {
            return;
        };
        if kind == "send" {
            match serde_json::from_value::<SendFrame>(frame) {
                Ok(f) => self.send(cx, owner, rid, f),
                Err(e) => {
                    cx.reply(error_frame(
                        &rid,
                        ErrorCode::InvalidFields,
                        &format!("bad send frame: {e}"),
                    ))
                    .await
                }
            }
        } else {
            match serde_json::from_value::<ResumeFrame>(frame) {
                Ok(f) => self.resume(cx, owner, rid, f).await,
                Err(e) => {
                    cx.reply(error_frame(
                        &rid,
                        ErrorCode::InvalidFields,
                        &format!("bad resume frame: {e}"),
                    ))
                    .await
                }
            }
        }
    }

    /// `send`: start the chat's next answer and stream its chunks.
    fn send(&self, cx: &mut Cx<'_>, owner: String, rid: String, frame: SendFrame) {
        let state = cx.state().clone();
        let chats = self.chats.clone();
        let out = cx.out();
        cx.ops.spawn(rid.clone(), move |cancel| async move {
            let answer = chat_answer(&frame.messages, frame.body.as_ref().unwrap_or(&ChatOptions::default()));
            let validated = check_chat_id(&frame.id)
                .and_then(|()| {
                    to_stream_request(frame.messages, frame.body.unwrap_or_default())
                })
                .and_then(|req| state.models.validate(req));
            let (inv, api) = match validated {
                Ok(v) => v,
                Err(e) => {
                    send_text(&out, error_frame(&rid, e.error_code(), &e.to_string())).await;
                    return;
                }
            };
            let started = tokio::select! {
                _ = cancel.cancelled() => return,
                r = state.hub.start_chat(&chats, &owner, &frame.id, answer, inv, api) => r,
            };
            match started {
                Ok((sub, rendering)) => {
                    tracing::info!(session = %sub.session().id(), user = %owner, chat = %frame.id, "ai-sdk chat started");
                    pump(sub, rendering, rid, 0, out, cancel).await;
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    send_text(&out, error_frame(&rid, e.error_code(), &e.to_string())).await;
                }
            }
        });
    }

    /// `resume`: replay the chat's active stream after `lastSequence`, or `no-active`.
    async fn resume(&self, cx: &mut Cx<'_>, owner: String, rid: String, frame: ResumeFrame) {
        match cx
            .state()
            .hub
            .resume_chat(&self.chats, &owner, &frame.id)
            .await
        {
            Some((sub, rendering)) => {
                let from = frame.last_sequence.map_or(0, |s| s.saturating_add(1));
                let out = cx.out();
                cx.ops.spawn(rid.clone(), move |cancel| {
                    pump(sub, rendering, rid, from, out, cancel)
                });
            }
            None => {
                cx.reply(json!({"type": "no-active", "requestId": rid}).to_string())
                    .await
            }
        }
    }
}

/// `start`, the chunks from sequence `from` on, then `end`; on `abort`, stop
/// the upstream unless someone else reads it.
async fn pump(
    sub: Subscription,
    rendering: Rendering,
    rid: String,
    from: u64,
    out: mpsc::Sender<Message>,
    cancel: CancellationToken,
) {
    let session = sub.session().clone();
    if !send_text(&out, json!({"type": "start", "requestId": rid}).to_string()).await {
        return;
    }
    let mut chunks = pin!(chunk_stream(sub, rendering));
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

/// An `error` frame; `errorText` as the AI SDK's HTTP stream renders it (`"{code}: {message}"`).
fn error_frame(rid: &str, code: ErrorCode, message: &str) -> String {
    json!({"type": "error", "requestId": rid, "errorText": error_text(code.as_str(), message)})
        .to_string()
}
