//! The HTTP/1.1 server loop: hyper's own connection driver on each capped
//! socket, with a header-read timeout and a keep-alive idle timeout, upgrades
//! (WebSockets) allowed, and a graceful stop.
//!
//! # Timeouts
//!
//! hyper 1 has one clock per connection for this: `header_read_timeout`,
//! which starts whenever the connection waits for a request head, so it
//! bounds both a half-sent head and the wait for the next request on a
//! kept-alive connection (there is no separate keep-alive idle setting in
//! `hyper::server::conn::http1`). That clock runs on the [`Timer`] the builder
//! is given, so this module gives it [`HeadTimer`], which keeps the two waits
//! apart:
//!
//! - the first request's head must arrive within the header timeout of the
//!   accept (a socket that sends nothing, or half a request line, is closed);
//! - after a response, the connection may sit idle for the idle timeout; once a
//!   byte of the next request arrives, its head gets the header timeout.
//!
//! (Bytes hyper already holds, a pipelined request, need no clock at all.)
//!
//! While a request is being served (a stream may run for minutes) hyper runs
//! no head clock, so neither timeout cuts a response; upgraded connections
//! (WebSockets) leave hyper and keep their own ping and idle limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

use super::listener::{CappedListener, ReadCount};

/// Per-connection HTTP timeouts (`SPILLWAY_HTTP_HEADER_TIMEOUT_SECS`,
/// `SPILLWAY_HTTP_IDLE_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// Time for a request head to arrive in full.
    pub header: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle: Duration,
}

/// Serve `app` on `listener` until `stop` fires; then stop accepting, let
/// open connections finish their requests, and drop those still open after
/// `deadline`.
pub async fn serve(
    mut listener: CappedListener,
    app: Router,
    timeouts: HttpTimeouts,
    stop: CancellationToken,
    deadline: Duration,
) {
    let connections = TaskTracker::new();
    let abandon = CancellationToken::new();
    loop {
        let (io, peer) = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            // Retries transient accept errors (EMFILE among them) itself.
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        let _ = io.get_ref().set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(HeadTimer::new(io.reads(), timeouts.idle))
            .header_read_timeout(timeouts.header);
        let service = axum::Extension(ConnectInfo(peer)).layer(app.clone());
        let stop = stop.clone();
        let abandon = abandon.clone();
        connections.spawn(async move {
            let conn = http
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = stop.cancelled() => {
                    // Finish the request in flight (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = conn.as_mut() => ended,
                        _ = abandon.cancelled() => Ok(()),
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    // Stop accepting: the port closes now.
    drop(listener);
    connections.close();
    if tokio::time::timeout(deadline, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open past the drain deadline; dropping them"
        );
        abandon.cancel();
        connections.wait().await;
    }
}

/// hyper's head clock for one connection; see the module docs.
struct HeadTimer {
    tokio: TokioTimer,
    reads: ReadCount,
    idle: Duration,
    /// Whether the connection has waited for a head before (it is kept alive).
    kept_alive: AtomicBool,
}

impl HeadTimer {
    fn new(reads: ReadCount, idle: Duration) -> Self {
        Self {
            tokio: TokioTimer::new(),
            reads,
            idle,
            kept_alive: AtomicBool::new(false),
        }
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.tokio.sleep(duration)
    }

    /// hyper arms its clock at `now + header timeout` each time the
    /// connection waits for a head (hyper uses this timer for nothing else).
    /// The first head gets exactly that; for each later one the connection
    /// first waits up to the idle timeout for the request's first byte, and
    /// its head then gets the header timeout from there.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        if !self.kept_alive.swap(true, Ordering::Relaxed) {
            return self.tokio.sleep_until(deadline);
        }
        let header = deadline.saturating_duration_since(self.now());
        Box::pin(KeepAliveWait {
            tokio: self.tokio.clone(),
            reads: self.reads.clone(),
            reads_then: self.reads.get(),
            header: Some(header),
            sleep: self.tokio.sleep(self.idle),
        })
    }

    fn now(&self) -> Instant {
        self.tokio.now()
    }
}

/// Idle until the next request's first byte, then its header timeout.
struct KeepAliveWait {
    tokio: TokioTimer,
    reads: ReadCount,
    reads_then: u64,
    /// `Some` while still idle.
    header: Option<Duration>,
    sleep: Pin<Box<dyn Sleep>>,
}

impl Future for KeepAliveWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // hyper polls this clock each time the socket brings bytes but no full head.
        if let Some(header) = this.header
            && this.reads.get() != this.reads_then
        {
            this.header = None;
            this.sleep = this.tokio.sleep(header);
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl Sleep for KeepAliveWait {}
