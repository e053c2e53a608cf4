//! Plumbing every WebSocket transport shares (`/v1/ws`, `/v1/ai-sdk/ws`,
//! `/graphql`): admission at the upgrade, the buffered writer, close frames
//! and the token-expiry deadline.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Connections;
use crate::error::error_body;

/// Refuse an upgrade while shutting down or past the user's connection limit.
pub async fn admit(conns: &Connections, user: &str) -> Result<(), Response> {
    if conns.closing().is_cancelled() {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("shutting_down", "the gateway is shutting down"),
        )
            .into_response());
    }
    match conns.registry().count_for_user(user).await {
        Ok(n) if n >= conns.limits().max_connections_per_user => {
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                error_body(
                    "too_many_connections",
                    "this user holds the most connections allowed",
                ),
            )
                .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Err(res)
        }
        Ok(_) => Ok(()),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("registry_unavailable", &e.to_string()),
        )
            .into_response()),
    }
}

/// Initial read buffer of a socket, allocated up front for every connection.
/// tungstenite's default (128 KiB) made an idle connection cost ~140 KiB;
/// client messages are small JSON actions, and larger ones still arrive
/// (the buffer grows for them). See BENCHMARKS.md, scenario 4.
pub const READ_BUFFER: usize = 512;

/// A close frame.
pub fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// When a token expiring at `exp_unix` (seconds since the epoch) stops being valid.
pub fn expiry_instant(exp_unix: u64) -> Instant {
    let now = jsonwebtoken::get_current_timestamp();
    Instant::now() + Duration::from_secs(exp_unix.saturating_sub(now).min(86_400 * 365))
}

/// Write everything queued, flushing when the queue is momentarily empty;
/// stop after a close frame.
pub async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    while let Some(msg) = rx.recv().await {
        let mut is_close = matches!(msg, Message::Close(_));
        if sink.feed(msg).await.is_err() {
            return;
        }
        while !is_close && let Ok(more) = rx.try_recv() {
            is_close = matches!(more, Message::Close(_));
            if sink.feed(more).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() || is_close {
            return;
        }
    }
}

/// A pushed body as one message: text when it is UTF-8, binary otherwise.
pub fn push_message(body: &[u8]) -> Message {
    match std::str::from_utf8(body) {
        Ok(text) => Message::Text(text.into()),
        Err(_) => Message::Binary(body.to_vec().into()),
    }
}
