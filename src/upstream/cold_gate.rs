//! Holds back a cold burst. The SDK's connection pool learns that an origin
//! speaks HTTP/2 only after a TLS handshake: when N requests find no open
//! connection, each dials its own, and all but one are thrown away after
//! ALPN (measured: 50 streams opened at once on a cold pool dialled 50 TLS
//! connections; 10,000 would dial 10,000). So while no HTTP/2 connection is
//! open to the upstream and none has proved it speaks only HTTP/1.1, one
//! request at a time goes first (the probe); the rest wait until the probe's
//! response has come back over a new connection, then all go and share it.
//! Not as soon as the connection opens: a connection that has not yet
//! carried a request may not take new streams, and the pool dials another
//! for each request that finds it so (measured under CPU load: 21 to 48 TLS
//! connections for 50 streams when the gate opened on the pool's `Opened`
//! event). If the probe ends without a connection (the upstream is down,
//! say), the gate opens for everyone rather than queue them one by one; it
//! closes again when the last HTTP/2 connection closes. Once the upstream has
//! answered over HTTP/1.1 it never gates: HTTP/1.1 needs a connection per
//! concurrent stream anyway.

use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_http_client::pool::{ConnectionEvent, ConnectionProtocol};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct ColdGate {
    state: Mutex<State>,
    opened: Notify,
}

#[derive(Debug)]
struct State {
    /// Nothing is known to carry many streams: requests go one at a time.
    cold: bool,
    /// A request is out establishing a connection.
    probing: bool,
    /// HTTP/2 connections open now.
    h2_open: usize,
    /// The upstream has answered over HTTP/1.1: never gate.
    h1_seen: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            cold: true,
            probing: false,
            h2_open: 0,
            h1_seen: false,
        }
    }
}

/// Held by the request that goes first, until the SDK's `send` returns
/// (its response head has come, or it failed).
pub struct Probe {
    gate: Arc<ColdGate>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let mut s = self.gate.lock();
        s.probing = false;
        // Its response came back over a connection the rest can share; or
        // none came of it, and everyone may try rather than queue.
        s.cold = false;
        drop(s);
        self.gate.opened.notify_waiters();
    }
}

impl ColdGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait for the gate: `Some(probe)` for the request that goes first.
    pub async fn enter(self: &Arc<Self>) -> Option<Probe> {
        loop {
            let notified = self.opened.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if !s.cold {
                    return None;
                }
                if !s.probing {
                    s.probing = true;
                    return Some(Probe {
                        gate: Arc::clone(self),
                    });
                }
            }
            notified.await;
        }
    }

    /// The pool's connection events (its event listener).
    pub fn on_event(&self, event: &ConnectionEvent<'_>) {
        match event {
            ConnectionEvent::Opened(opened) => self.opened(opened.connection().protocol()),
            ConnectionEvent::LogicalClose(closed) => self.closed(closed.connection().protocol()),
            _ => {}
        }
    }

    /// A connection opened. Over HTTP/1.1 the gate opens for good; over
    /// HTTP/2 it opens when the probe's response is back (see the module
    /// comment), not now.
    fn opened(&self, protocol: ConnectionProtocol) {
        let mut s = self.lock();
        if protocol == ConnectionProtocol::Http2 {
            s.h2_open += 1;
            return;
        }
        s.h1_seen = true;
        s.cold = false;
        drop(s);
        self.opened.notify_waiters();
    }

    /// A connection closed: with the last HTTP/2 one gone, the next burst
    /// is cold again.
    fn closed(&self, protocol: ConnectionProtocol) {
        if protocol != ConnectionProtocol::Http2 {
            return;
        }
        let mut s = self.lock();
        s.h2_open = s.h2_open.saturating_sub(1);
        if s.h2_open == 0 && !s.h1_seen {
            s.cold = true;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_goes_first_and_the_rest_wait_until_it_is_done() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await;
        assert!(probe.is_some(), "the first request probes");
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.enter().await.is_none() }
        });
        // The second is held while the probe is out.
        let held = tokio::time::timeout(Duration::from_millis(50), async {
            while !waiting.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(held.is_err(), "a second request waits for the probe");
        drop(probe);
        let passed = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(passed, "released without probing again");
        assert!(gate.enter().await.is_none(), "open from then on");
    }

    /// Whether `enter` on `gate` is still held after the spawned task has had
    /// 50 ms to run (the waiting task is returned to finish later).
    async fn still_held(gate: &Arc<ColdGate>) -> (bool, tokio::task::JoinHandle<bool>) {
        let waiting = tokio::spawn({
            let gate = Arc::clone(gate);
            async move { gate.enter().await.is_none() }
        });
        let held = tokio::time::timeout(Duration::from_millis(50), async {
            while !waiting.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .is_err();
        (held, waiting)
    }

    #[tokio::test]
    async fn an_http2_connection_opening_does_not_release_the_burst_the_probes_response_does() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await.unwrap();
        gate.opened(ConnectionProtocol::Http2);
        let (held, waiting) = still_held(&gate).await;
        assert!(
            held,
            "a fresh HTTP/2 connection alone keeps the rest waiting"
        );
        drop(probe);
        let released = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(
            released,
            "the probe's response releases them, none probing again"
        );
        // The last HTTP/2 connection closing makes the next burst cold again.
        gate.closed(ConnectionProtocol::Http2);
        let probe = gate.enter().await;
        assert!(probe.is_some(), "cold again: the next request probes");
        let (held, waiting) = still_held(&gate).await;
        assert!(held, "and the rest wait for it");
        drop(probe);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn an_http1_connection_releases_the_burst_at_once_and_for_good() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await.unwrap();
        let (held, waiting) = still_held(&gate).await;
        assert!(held);
        gate.opened(ConnectionProtocol::Http1);
        let released = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(
            released,
            "HTTP/1.1 needs a connection per stream: no reason to wait"
        );
        drop(probe);
        gate.closed(ConnectionProtocol::Http1);
        assert!(gate.enter().await.is_none(), "never gates again");
    }
}
