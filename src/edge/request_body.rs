//! What became of a request's body: whether the request is still waiting
//! on its client (watched so the timeout layer can tell a client that has
//! not finished sending, `408`, from a gateway that was slow to answer,
//! `504`), and whether it was read to its end before the answer (so an
//! answer that leaves it unread can say the connection closes).
//!
//! A body left unread is drained, not dropped: a refusal (`401`, `413`…)
//! given while the client is still sending would otherwise close the
//! connection with its upload in flight, the kernel would reset it, and the
//! client would see a broken connection (over TLS, urllib3 and so boto3 raise
//! `SSLError: EOF occurred in violation of protocol`) instead of the answer.
//! The rest is read and thrown away, at most [`LINGER_BYTES`] for at most
//! [`LINGER_TIME`] (RFC 9112 §9.6's lingering close), while the answer goes
//! out; then the connection closes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use http_body::{Frame, SizeHint};

/// Whether the handler's last read of the request body found nothing to
/// read yet: it is waiting for the client to send more.
#[derive(Clone, Default)]
pub struct AwaitingClient(Arc<AtomicBool>);

impl AwaitingClient {
    pub fn now(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `req` with its body watched. A request without a body (most `GET`s) is
/// left as it is: it never waits on its client.
pub fn watch(req: Request) -> (Request, AwaitingClient) {
    let awaiting = AwaitingClient::default();
    if req.body().is_end_stream() {
        return (req, awaiting);
    }
    let req = observe(req, awaiting.0.clone(), Mark::Pending);
    (req, awaiting)
}

/// Whether a request's body was read to its end. A request without a body
/// starts read.
#[derive(Clone)]
pub struct ReadToEnd(Arc<AtomicBool>);

impl ReadToEnd {
    pub fn now(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `req` with its body tracked until its end.
pub fn track(req: Request) -> (Request, ReadToEnd) {
    let read = ReadToEnd(Arc::new(AtomicBool::new(req.body().is_end_stream())));
    if read.now() {
        return (req, read);
    }
    // A client that waits for `100 Continue` sends nothing until the body is
    // read: one refused first is not drained (reading would ask for it).
    let drain = if expects_continue(&req) {
        Drain::OnceRead
    } else {
        Drain::Always
    };
    let req = observe(req, read.0.clone(), Mark::Ended(drain));
    (req, read)
}

fn expects_continue(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The most of an unread body drained after the answer (see the module docs).
pub const LINGER_BYTES: usize = 64 << 20;
/// The longest an unread body is drained after the answer.
pub const LINGER_TIME: Duration = Duration::from_secs(10);

/// What an [`ObservedBody`] writes to its flag after each poll.
#[derive(Clone, Copy)]
enum Mark {
    /// Whether the poll was left pending (waiting for the client).
    Pending,
    /// Set once the last frame has been given; a body dropped before its
    /// end is drained, as [`Drain`] says.
    Ended(Drain),
}

/// When a body dropped before its end is drained.
#[derive(Clone, Copy)]
enum Drain {
    Always,
    /// Only once something has read it (`Expect: 100-continue`).
    OnceRead,
}

fn observe(req: Request, flag: Arc<AtomicBool>, mark: Mark) -> Request {
    req.map(|body| {
        Body::new(ObservedBody {
            body,
            flag,
            mark,
            polled: false,
        })
    })
}

/// A request body that notes, by its [`Mark`], what its polls found.
struct ObservedBody {
    body: Body,
    flag: Arc<AtomicBool>,
    mark: Mark,
    /// Whether anything has read it yet.
    polled: bool,
}

impl HttpBody for ObservedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.polled = true;
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        match self.mark {
            Mark::Pending => self.flag.store(poll.is_pending(), Ordering::Relaxed),
            Mark::Ended(_) => {
                if matches!(poll, Poll::Ready(None)) || self.body.is_end_stream() {
                    self.flag.store(true, Ordering::Relaxed);
                }
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        let wanted = match self.mark {
            Mark::Ended(Drain::Always) => true,
            Mark::Ended(Drain::OnceRead) => self.polled,
            Mark::Pending => false,
        };
        if !wanted || self.flag.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let body = std::mem::take(&mut self.body);
        runtime.spawn(drain(body));
    }
}

/// Read `body` and throw it away, within [`LINGER_BYTES`] and [`LINGER_TIME`].
async fn drain(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            match left.checked_sub(chunk.len()) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{FutureExt, StreamExt};

    #[tokio::test]
    async fn a_body_read_to_its_end_or_never_read_is_not_waiting() {
        let (_, awaiting) = watch(Request::new(Body::empty()));
        assert!(!awaiting.now(), "no body");

        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let (req, awaiting) = watch(Request::new(body));
        assert!(!awaiting.now(), "not read yet");
        let mut stream = req.into_body().into_data_stream();
        // Read with nothing sent: waiting on the client.
        assert!(stream.next().now_or_never().is_none());
        assert!(awaiting.now(), "pending read");
        tx.send(Ok(b"x".to_vec())).await.unwrap();
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"x");
        assert!(!awaiting.now(), "a chunk came");
        drop(tx);
        assert!(stream.next().await.is_none());
        assert!(!awaiting.now(), "the end came");
    }
}
