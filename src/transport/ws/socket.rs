//! Plumbing every WebSocket transport shares (`/v1/ws`, `/v1/ai-sdk/ws`,
//! `/graphql`): admission at the upgrade, the buffered writer, close frames
//! and the token-expiry deadline.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
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

/// Close code for a token that expired (the application range, 4000–4999).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4401;

/// The times a connection closes on its own, whichever comes first: one
/// timer for the nearest (each timer is ~100 bytes an idle socket would carry).
pub struct Deadlines {
    pub expires: Instant,
    pub lifetime_ends: Instant,
    /// Only while no stream runs.
    pub idle_ends: Option<Instant>,
}

impl Deadlines {
    /// The nearest deadline and the close frame it sends.
    pub fn nearest(&self) -> (Instant, Message) {
        let mut best = (self.expires, close(CLOSE_TOKEN_EXPIRED, "token expired"));
        if self.lifetime_ends < best.0 {
            best = (
                self.lifetime_ends,
                close(close_code::NORMAL, "maximum connection lifetime reached"),
            );
        }
        if let Some(idle) = self.idle_ends.filter(|t| *t < best.0) {
            best = (idle, close(close_code::NORMAL, "idle timeout"));
        }
        best
    }
}

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

/// The end of a registered socket, once its readers are stopped: queue the
/// close frame (if any), drop the last senders so the writer drains and
/// stops, leave the registry, and give the writer 2 s to finish.
pub async fn finish(
    out: mpsc::Sender<Message>,
    handle: super::connections::Handle,
    reason: Option<Message>,
    conns: &Connections,
    id: &str,
    writer: tokio::task::JoinHandle<()>,
) {
    if let Some(msg) = reason {
        let _ = tokio::time::timeout(Duration::from_secs(1), out.send(msg)).await;
    }
    drop(out);
    drop(handle);
    conns.close(id).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// A pushed body as one message: text when it is UTF-8, binary otherwise.
pub fn push_message(body: &[u8]) -> Message {
    match std::str::from_utf8(body) {
        Ok(text) => Message::Text(text.into()),
        Err(_) => Message::Binary(body.to_vec().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(m: &Message) -> u16 {
        match m {
            Message::Close(Some(f)) => f.code,
            _ => 0,
        }
    }

    #[test]
    fn the_nearest_deadline_picks_the_close_frame() {
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let d = |expires, lifetime_ends, idle_ends| {
            Deadlines {
                expires,
                lifetime_ends,
                idle_ends,
            }
            .nearest()
        };
        let (t, m) = d(at(10), at(20), Some(at(30)));
        assert_eq!((t, code(&m)), (at(10), CLOSE_TOKEN_EXPIRED));
        let (t, m) = d(at(30), at(20), None);
        assert_eq!((t, code(&m)), (at(20), close_code::NORMAL));
        let (t, m) = d(at(30), at(20), Some(at(5)));
        assert_eq!(t, at(5));
        assert!(matches!(m, Message::Close(Some(f)) if f.reason == "idle timeout"));
    }
}
