//! What became of a request's body: whether the request is still waiting
//! on its client (watched so the timeout layer can tell a client that has
//! not finished sending, `408`, from a gateway that was slow to answer,
//! `504`), and whether it was read to its end before the answer (so an
//! answer that leaves it unread can say the connection closes).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

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
    let req = observe(req, read.0.clone(), Mark::Ended);
    (req, read)
}

/// What an [`ObservedBody`] writes to its flag after each poll.
#[derive(Clone, Copy)]
enum Mark {
    /// Whether the poll was left pending (waiting for the client).
    Pending,
    /// Set once the last frame has been given.
    Ended,
}

fn observe(req: Request, flag: Arc<AtomicBool>, mark: Mark) -> Request {
    req.map(|body| Body::new(ObservedBody { body, flag, mark }))
}

/// A request body that notes, by its [`Mark`], what its polls found.
struct ObservedBody {
    body: Body,
    flag: Arc<AtomicBool>,
    mark: Mark,
}

impl HttpBody for ObservedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        match self.mark {
            Mark::Pending => self.flag.store(poll.is_pending(), Ordering::Relaxed),
            Mark::Ended => {
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
