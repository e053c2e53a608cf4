//! hyper's HTTP/1.1 head clock for one connection, which keeps apart the
//! wait for the first request's head and a kept-alive connection's idle wait.
//!
//! hyper 1 has one clock per connection for this: `header_read_timeout`,
//! which starts whenever the connection waits for a request head, so it
//! bounds both a half-sent head and the wait for the next request on a
//! kept-alive connection (there is no separate keep-alive idle setting in
//! `hyper::server::conn::http1`). That clock runs on the [`Timer`] the builder
//! is given, so the server loop gives it a [`HeadTimer`]:
//!
//! - the first request's head must arrive within the header timeout;
//! - after a response, the connection may sit idle for the idle timeout; once a
//!   byte of the next request arrives, its head gets the header timeout.
//!
//! (Bytes hyper already holds, a pipelined request, need no clock at all.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioTimer;

use super::listener::ReadCount;

/// hyper's head clock for one connection; see the module docs.
pub struct HeadTimer {
    tokio: TokioTimer,
    reads: ReadCount,
    idle: Duration,
    /// Whether the connection has waited for a head before (it is kept alive).
    kept_alive: AtomicBool,
}

impl HeadTimer {
    pub fn new(reads: ReadCount, idle: Duration) -> Self {
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
