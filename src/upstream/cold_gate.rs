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
//! for each request that finds it so (measured under CPU load: 12 to 48 TLS
//! connections for 50 streams when the gate opened on the pool's `Opened`
//! event). An upstream may hold its response head until its first token,
//! so the rest wait for the probe at most `PROBE_GRACE` once its connection
//! is open. If the probe ends without a connection (the upstream is down,
//! say), the gate opens for everyone rather than queue them one by one; it
//! closes again when the last HTTP/2 connection closes. Once the upstream has
//! answered over HTTP/1.1 it never gates: HTTP/1.1 needs a connection per
//! concurrent stream anyway.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_http_client::pool::{ConnectionEvent, ConnectionProtocol};
use tokio::sync::Notify;

/// How long the rest wait for the probe's response once its HTTP/2
/// connection is open: long enough for the connection to take new streams
/// (milliseconds under load), short beside a slow first answer.
const PROBE_GRACE: Duration = Duration::from_millis(250);

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
        self.gate.lock().probing = false;
        // Its response came back over a connection the rest can share; or
        // none came of it, and everyone may try rather than queue.
        self.gate.open();
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
            let connected = {
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
                s.h2_open > 0
            };
            if !connected {
                notified.await;
            } else if tokio::time::timeout(PROBE_GRACE, notified).await.is_err() {
                // The probe's answer is slow to come: go, and open for all.
                self.open();
                return None;
            }
        }
    }

    /// Let every request through from now on (until the gate is cold again).
    fn open(&self) {
        self.lock().cold = false;
        self.opened.notify_waiters();
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
            drop(s);
            // Not open yet: the waiters start counting `PROBE_GRACE`.
            self.opened.notify_waiters();
            return;
        }
        s.h1_seen = true;
        drop(s);
        self.open();
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

    /// A request entering `gate` in its own task: true when let through
    /// without probing.
    fn spawn_enter(gate: &Arc<ColdGate>) -> tokio::task::JoinHandle<bool> {
        let gate = Arc::clone(gate);
        tokio::spawn(async move { gate.enter().await.is_none() })
    }

    /// A request that enters `gate` behind a probe still dialling, checked
    /// to be held for a while (no clock runs before a connection opens).
    async fn held_while_the_probe_dials(gate: &Arc<ColdGate>) -> tokio::task::JoinHandle<bool> {
        let waiting = spawn_enter(gate);
        tokio::time::sleep(PROBE_GRACE * 4).await;
        assert!(!waiting.is_finished(), "held while the probe dials");
        waiting
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_opening_does_not_release_the_burst_the_probes_response_does() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await.unwrap();
        gate.opened(ConnectionProtocol::Http2);
        let waiting = spawn_enter(&gate);
        tokio::time::sleep(PROBE_GRACE / 2).await;
        assert!(
            !waiting.is_finished(),
            "a fresh HTTP/2 connection alone keeps the rest waiting"
        );
        drop(probe);
        assert!(
            waiting.await.unwrap(),
            "the probe's response releases them, none probing again"
        );
        // The last HTTP/2 connection closing makes the next burst cold again.
        gate.closed(ConnectionProtocol::Http2);
        let probe = gate.enter().await;
        assert!(probe.is_some(), "cold again: the next request probes");
        let waiting = held_while_the_probe_dials(&gate).await;
        drop(probe);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_slow_to_answer_holds_the_rest_only_for_the_grace_once_connected() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await.unwrap();
        let waiting = held_while_the_probe_dials(&gate).await;
        gate.opened(ConnectionProtocol::Http2);
        tokio::time::sleep(PROBE_GRACE / 2).await;
        assert!(!waiting.is_finished(), "held within the grace");
        tokio::time::sleep(PROBE_GRACE).await;
        assert!(waiting.await.unwrap(), "released after it, without probing");
        assert!(gate.enter().await.is_none(), "and the gate is open for all");
        drop(probe);
    }

    #[tokio::test(start_paused = true)]
    async fn an_http1_connection_releases_the_burst_at_once_and_for_good() {
        let gate = Arc::new(ColdGate::default());
        let probe = gate.enter().await.unwrap();
        let waiting = held_while_the_probe_dials(&gate).await;
        gate.opened(ConnectionProtocol::Http1);
        assert!(
            waiting.await.unwrap(),
            "HTTP/1.1 needs a connection per stream: no reason to wait"
        );
        drop(probe);
        gate.closed(ConnectionProtocol::Http1);
        assert!(gate.enter().await.is_none(), "never gates again");
    }
}
