//! Server-Sent Events on the wire: one frame's bytes, and the response every
//! SSE route sends its frames through, with its heartbeat.
//!
//! Frames are plain `Bytes`, so a frame rendered once (the native route's
//! events, see [`crate::event::TokenEvent::sse_frame`]) goes to every reader
//! without a copy. The heartbeat timer moves only when it fires: resetting
//! it at every event (what axum's `KeepAlive` does) showed as a timer-wheel
//! removal and insertion per token in the per-event profile.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::Stream;
use http_body::Frame;
use tokio::time::{Instant, Sleep};

/// One event: `event: NAME` (if any), `id: ID` (if any), then `data` as
/// `data:` lines (split at line breaks, as the SSE grammar needs), then the
/// blank line that ends it.
pub fn frame(event: Option<&str>, id: Option<u64>, data: &str) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 40);
    if let Some(name) = event {
        field(&mut out, "event", name);
    }
    if let Some(id) = id {
        field(&mut out, "id", itoa::Buffer::new().format(id));
    }
    let mut rest = data;
    loop {
        match rest.find(['\r', '\n']) {
            None => {
                field(&mut out, "data", rest);
                break;
            }
            Some(i) => {
                field(&mut out, "data", &rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// A frame whose `data` is `value` as JSON.
pub fn json_frame(event: Option<&str>, value: &impl serde::Serialize) -> Bytes {
    // JSON has no raw line breaks; serialising a `Value` or a derived struct
    // cannot fail.
    let data = serde_json::to_string(value).unwrap_or_default();
    frame(event, None, &data)
}

/// A comment line (`: TEXT`), which clients ignore: the heartbeat.
pub fn comment(text: &str) -> Bytes {
    let mut out = Vec::with_capacity(text.len() + 4);
    field(&mut out, "", text);
    out.push(b'\n');
    Bytes::from(out)
}

/// `NAME: VALUE\n`; `value` holds no line break (names and ids are ours).
fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    debug_assert!(
        !value.contains(['\r', '\n']),
        "SSE field {name} spans lines"
    );
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// A `text/event-stream` response sending `frames`, and `beat` whenever
/// nothing has been sent for `every` (so proxies do not cut a quiet stream).
pub fn response<S>(frames: S, every: Duration, beat: Bytes) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let mut res = Response::new(Body::new(SseBody {
        frames: Box::pin(frames),
        beat,
        every,
        timer: Box::pin(tokio::time::sleep(every)),
        last: Instant::now(),
    }));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

struct SseBody {
    frames: Pin<Box<dyn Stream<Item = Bytes> + Send>>,
    beat: Bytes,
    every: Duration,
    /// Fires at or before the next heartbeat is due.
    timer: Pin<Box<Sleep>>,
    /// When the newest frame went out.
    last: Instant,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Poll::Ready(next) = this.frames.as_mut().poll_next(cx) {
            return Poll::Ready(next.map(|bytes| {
                this.last = Instant::now();
                Ok(Frame::data(bytes))
            }));
        }
        loop {
            ready!(this.timer.as_mut().poll(cx));
            let now = Instant::now();
            let due = this.last + this.every;
            if due > now {
                // A frame went out since the timer was set: wait the rest.
                this.timer.as_mut().reset(due);
                continue;
            }
            this.last = now;
            this.timer.as_mut().reset(now + this.every);
            return Poll::Ready(Some(Ok(Frame::data(this.beat.clone()))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn frames_name_id_and_data() {
        assert_eq!(
            frame(Some("token"), Some(7), r#"{"a":1}"#),
            Bytes::from_static(b"event: token\nid: 7\ndata: {\"a\":1}\n\n")
        );
        assert_eq!(frame(None, None, "[DONE]"), "data: [DONE]\n\n");
        assert_eq!(comment("heartbeat"), ": heartbeat\n\n");
    }

    #[test]
    fn data_with_line_breaks_becomes_several_data_lines() {
        assert_eq!(
            frame(None, None, "a\nb\r\nc\rd\n"),
            "data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"
        );
        assert_eq!(frame(None, None, ""), "data: \n\n");
    }

    /// The frames a body sends, heartbeats included, as text.
    async fn collect(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn beats_only_when_nothing_was_sent_for_the_interval() {
        let every = Duration::from_secs(10);
        // Frames at 4 s and 8 s, then 25 s of quiet: the first beat is due
        // 10 s after the second frame (18 s), the next at 28 s.
        let frames = futures_util::stream::iter([4u64, 4, 25])
            .then(|wait| async move {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                wait
            })
            .filter_map(|wait| async move { (wait == 4).then(|| frame(None, None, "x")) });
        let started = Instant::now();
        let res = response(frames, every, comment("hb"));
        let text = collect(res).await;
        assert_eq!(text, "data: x\n\ndata: x\n\n: hb\n\n: hb\n\n");
        assert_eq!(started.elapsed(), Duration::from_secs(33));
    }

    #[tokio::test]
    async fn sets_the_event_stream_headers() {
        let res = response(
            futures_util::stream::empty(),
            Duration::from_secs(1),
            comment("hb"),
        );
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(collect(res).await, "");
    }
}
