//! The writer task: one per socket, draining its bounded outbound buffer.

use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;

/// Write everything queued, flushing when the queue is momentarily empty;
/// stop after a close frame, or when the peer stops taking messages. When
/// the queue ends without a close frame (the peer closed first), close the
/// sink: that sends the close reply tungstenite queued on reading the
/// peer's close frame, completing the closing handshake (without it the
/// peer sees 1006).
pub(super) async fn write_loop<S>(mut sink: S, mut rx: mpsc::Receiver<Message>)
where
    S: Sink<Message> + Unpin,
{
    let Some(()) = write_all(&mut sink, &mut rx).await else {
        return;
    };
    // A peer that stopped reading must not hold the task: bounded.
    let _ = tokio::time::timeout(CLOSE_REPLY, sink.close()).await;
}

/// How long the close reply may take to go out.
const CLOSE_REPLY: std::time::Duration = std::time::Duration::from_secs(1);

/// `Some` when the queue ended; `None` after a close frame or a failed write.
async fn write_all<S>(sink: &mut S, rx: &mut mpsc::Receiver<Message>) -> Option<()>
where
    S: Sink<Message> + Unpin,
{
    while let Some(msg) = rx.recv().await {
        let mut is_close = matches!(msg, Message::Close(_));
        sink.feed(msg).await.ok()?;
        while !is_close && let Ok(more) = rx.try_recv() {
            is_close = matches!(more, Message::Close(_));
            sink.feed(more).await.ok()?;
        }
        sink.flush().await.ok()?;
        if is_close {
            return None;
        }
    }
    Some(())
}
