//! The writer task: one per socket, draining its bounded outbound buffer.

use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;

/// Write everything queued, flushing when the queue is momentarily empty;
/// stop after a close frame, or when the peer stops taking messages.
pub(super) async fn write_loop<S>(mut sink: S, mut rx: mpsc::Receiver<Message>)
where
    S: Sink<Message> + Unpin,
{
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
