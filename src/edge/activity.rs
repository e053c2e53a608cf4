//! What one connection is doing: requests in flight (a response counts until
//! its body ends or is dropped), and a clock for when it has been quiet too
//! long. hyper's HTTP/1.1 driver has a head clock of its own (`http.rs`); this
//! one bounds what that clock cannot see:
//!
//! - the first request, counted from the accept: a socket that never
//!   completes a TLS handshake, never finishes the HTTP/2 preface, or sends
//!   nothing before the protocol is known;
//! - an HTTP/2 connection with no stream open, which hyper would keep for as
//!   long as the client answers pings.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{Request, Response, Version};
use futures_util::future::BoxFuture;
use http_body::{Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's activity; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    started: AtomicU64,
    in_flight: AtomicU64,
    /// A request arrived over HTTP/2.
    h2: AtomicBool,
    changed: Notify,
}

/// Why [`Activity::quiet`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// No request arrived by the first deadline.
    NoRequest,
    /// An HTTP/2 connection had no request in flight for the idle timeout.
    Idle,
}

impl Activity {
    /// Resolves when no request has started by `first`, or when an HTTP/2
    /// connection has had none in flight for `idle`; pending otherwise.
    pub async fn quiet(&self, first: Instant, idle: Duration) -> Quiet {
        let mut idle_since: Option<Instant> = None;
        loop {
            let changed = self.0.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before reading the counts, so no change is missed.
            changed.as_mut().enable();
            let started = self.0.started.load(Ordering::Acquire);
            let in_flight = self.0.in_flight.load(Ordering::Acquire);
            let until = if started == 0 {
                Some((first, Quiet::NoRequest))
            } else if in_flight == 0 && self.0.h2.load(Ordering::Relaxed) {
                let since = *idle_since.get_or_insert_with(Instant::now);
                Some((since + idle, Quiet::Idle))
            } else {
                idle_since = None;
                None
            };
            match until {
                None => changed.await,
                Some((at, why)) => tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(at) => return why,
                },
            }
        }
    }

    fn enter(&self, version: Version) -> Guard {
        if version == Version::HTTP_2 {
            self.0.h2.store(true, Ordering::Relaxed);
        }
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        self.0.started.fetch_add(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
        Guard(self.clone())
    }
}

/// A request in flight; dropped with its response body.
struct Guard(Activity);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.0.changed.notify_waiters();
    }
}

/// A service that counts its requests in `activity` until their responses end.
#[derive(Clone)]
pub struct Counted<S> {
    pub inner: S,
    pub activity: Activity,
}

impl<S, B> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let guard = self.activity.enter(req.version());
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// A response body that holds its request's place in flight.
struct GuardedBody {
    body: Body,
    _guard: Guard,
}

impl HttpBody for GuardedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
