//! The HTTP server loop: hyper's own connection drivers on each capped
//! socket — HTTP/1.1, and HTTP/2 by ALPN under TLS or by prior knowledge in
//! cleartext (hyper-util's auto builder reads the preface) — with upgrades
//! (WebSockets, over HTTP/1.1) and a graceful stop.
//!
//! # Timeouts
//!
//! - A connection must bring its first request within the header timeout of
//!   the accept, TLS handshake included ([`Activity`]): a socket that sends
//!   nothing, half a ClientHello or half a preface is closed.
//! - HTTP/1.1: hyper's head clock on a [`HeadTimer`] — a half-sent head is
//!   closed after the header timeout, a kept-alive connection after the idle
//!   timeout.
//! - HTTP/2: with no stream open for the idle timeout the connection gets a
//!   GOAWAY ([`Activity`]); while streams run, a keep-alive ping every
//!   [`H2_KEEP_ALIVE_INTERVAL`] drops a peer that stops answering.
//!
//! While a request is being served (a stream may run for minutes) no clock
//! cuts it; upgraded connections (WebSockets) leave hyper and keep their own
//! ping and idle limits.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

use super::activity::{Activity, Counted, Quiet};
use super::head_timer::HeadTimer;
use super::listener::{Admission, CappedListener, ReadCount};
use crate::woken::Woken;

/// Per-connection HTTP timeouts (`SPILLWAY_HTTP_HEADER_TIMEOUT_SECS`,
/// `SPILLWAY_HTTP_IDLE_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// Time for a request head to arrive in full (and for a connection's
    /// first request, TLS handshake included).
    pub header: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle: Duration,
}

/// Streams one HTTP/2 connection may run at once (a browser tab's SSE
/// streams, a load generator's hundreds): as many as a WebSocket's operations.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 1000;
/// Largest header block of one HTTP/2 request (decoded).
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
/// hyper's HTTP/1.1 read buffer, which holds a whole request head: the same
/// 64 KiB of headers with room for the request line (a larger head is a
/// `431`). hyper's default (~400 KiB) let each slow connection hold that
/// much until the header timeout.
pub const H1_MAX_BUF_SIZE: usize = 64 * 1024 + 8 * 1024;
/// An HTTP/2 connection quiet this long is pinged…
pub const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// …and closed when the ping is not answered within this.
pub const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Serve `app` on `listener` until `stop` fires (over TLS when `tls` is
/// given); then stop accepting, let open connections finish their requests,
/// and drop those still open after `deadline`.
pub async fn serve(
    mut listener: CappedListener,
    app: Router,
    timeouts: HttpTimeouts,
    tls: Option<TlsAcceptor>,
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
        let first = Instant::now() + timeouts.header;
        let _ = io.get_ref().set_nodelay(true);
        let activity = Activity::default();
        let service = Counted {
            inner: axum::Extension(ConnectInfo(peer)).layer(app.clone()),
            activity: activity.clone(),
        };
        let conn = Conn {
            peer,
            activity,
            first,
            idle: timeouts.idle,
            stop: stop.clone(),
            abandon: abandon.clone(),
        };
        let builder = builder(io.reads(), timeouts, &connections);
        let tls = tls.clone();
        connections.spawn(async move {
            let Some(tls) = tls else {
                return conn.drive(builder, TokioIo::new(io), service).await;
            };
            let handshake = tokio::select! {
                shaken = tokio::time::timeout_at(first, tls.accept(io)) => shaken,
                _ = conn.stop.cancelled() => return,
            };
            let io = match handshake {
                Ok(Ok(io)) => io,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let builder = match io.get_ref().1.alpn_protocol() {
                Some(b"h2") => builder.http2_only(),
                Some(b"http/1.1") => builder.http1_only(),
                // No ALPN: the preface says which.
                _ => builder,
            };
            conn.drive(builder, TokioIo::new(io), service).await;
        });
        // One connection per turn: the one just accepted, and the session
        // and upstream request it starts, run before the next is taken
        // from the backlog. Taken a budget's worth at once, a burst's
        // upstream requests waited for every handler of the batch and went
        // out together, so every first token came about as late as the
        // last; and 10,000 streams peaked at ~820 MiB, not 577
        // (BENCHMARKS.md, "One accept per turn").
        tokio::task::yield_now().await;
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

/// [`serve`] on `threads` threads, each its own single-threaded runtime
/// accepting on its own socket bound to `listener`'s port (`SO_REUSEPORT`:
/// the kernel spreads new connections across them; one socket shared by
/// all let whichever thread woke first take a whole burst). A connection,
/// its requests, the session it starts and that session's upstream
/// connection (one pool per thread, `upstream/bedrock.rs`) all run on one
/// thread, with no work stealing and no wake-ups across threads between
/// them (× 0.9 gateway CPU per event and per stream start, BENCHMARKS.md).
/// The caps count across all of them. A thread stops accepting when `stop`
/// fires, but keeps its runtime (and the tasks on it: sessions, upgraded
/// sockets saying 1001) until `release` fires; the handle resolves when
/// every thread has ended.
#[allow(
    clippy::too_many_arguments,
    reason = "serve's arguments, and the thread count"
)]
pub fn serve_on_threads(
    threads: usize,
    listener: tokio::net::TcpListener,
    admission: Admission,
    app: Router,
    timeouts: HttpTimeouts,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
    release: CancellationToken,
    deadline: Duration,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    // `listener` was bound alone, so a port already in use failed clearly at
    // start-up; it makes way for the shared sockets on the same port.
    let addr = listener.local_addr()?;
    drop(listener);
    let mut sockets = Vec::with_capacity(threads);
    for _ in 0..threads {
        sockets.push(super::listener::bind_port(addr, true)?.into_std()?);
    }
    let mut ended = Vec::with_capacity(threads);
    for (i, socket) in sockets.into_iter().enumerate() {
        let (admission, app, tls) = (admission.clone(), app.clone(), tls.clone());
        let (stop, release) = (stop.clone(), release.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (done, ended_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("spillway-serve-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let serving = async {
                        // Registered with this thread's reactor.
                        match tokio::net::TcpListener::from_std(socket) {
                            Ok(l) => {
                                let l = admission.listener(l);
                                serve(l, app, timeouts, tls, stop, deadline).await;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "serving thread could not listen")
                            }
                        }
                    };
                    // `release` also ends a thread still serving (a server
                    // dropped without a shutdown).
                    tokio::select! {
                        () = serving => release.cancelled().await,
                        () = release.cancelled() => {}
                    }
                });
                let _ = done.send(());
            })?;
        ended.push(ended_rx);
    }
    Ok(tokio::spawn(async move {
        for rx in ended {
            let _ = rx.await;
        }
    }))
}

/// One connection's protocol settings: both protocols, the edge's knobs.
fn builder(
    reads: ReadCount,
    timeouts: HttpTimeouts,
    tasks: &TaskTracker,
) -> auto::Builder<Tracked> {
    let mut builder = auto::Builder::new(Tracked(tasks.clone()));
    builder
        .http1()
        .max_buf_size(H1_MAX_BUF_SIZE)
        .timer(HeadTimer::new(reads, timeouts.idle))
        .header_read_timeout(timeouts.header);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    builder
}

/// hyper's executor for HTTP/2 stream tasks: tracked with the connections,
/// so the drain waits for them too.
#[derive(Clone)]
struct Tracked(TaskTracker);

impl<F> hyper::rt::Executor<F> for Tracked
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(fut);
    }
}

/// What one connection's task needs besides its socket.
struct Conn {
    peer: SocketAddr,
    activity: Activity,
    /// When the first request must have arrived by.
    first: Instant,
    idle: Duration,
    stop: CancellationToken,
    abandon: CancellationToken,
}

/// What ended the first phase of [`Conn::drive`].
enum Drive<E> {
    Ended(Result<(), E>),
    Quiet(Quiet),
    Stop,
}

impl Conn {
    /// Serve requests on `io` until the peer leaves, the connection is quiet
    /// too long, or the server stops (then the requests in flight finish first).
    async fn drive<I, S>(self, builder: auto::Builder<Tracked>, io: I, service: Counted<S>)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        Counted<S>: tower::Service<
                axum::http::Request<hyper::body::Incoming>,
                Response = axum::http::Response<axum::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        <Counted<S> as tower::Service<axum::http::Request<hyper::body::Incoming>>>::Future:
            Send + 'static,
    {
        let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
        let mut conn = std::pin::pin!(conn);
        let peer = self.peer;
        let mut quiet = std::pin::pin!(self.activity.quiet(self.first, self.idle));
        let mut stop = std::pin::pin!(self.stop.cancelled());
        // The connection first; the server's stop and the quiet clock only
        // after one of them woke the task (not on every written event).
        let signals = Woken::new();
        let first = poll_fn(|cx| {
            if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
                return Poll::Ready(Drive::Ended(ended));
            }
            signals.poll(cx, |cx| {
                if let Poll::Ready(q) = quiet.as_mut().poll(cx) {
                    return Poll::Ready(Drive::Quiet(q));
                }
                stop.as_mut().poll(cx).map(|()| Drive::Stop)
            })
        })
        .await;
        let ended = match first {
            Drive::Ended(ended) => ended,
            Drive::Quiet(Quiet::NoRequest) => {
                // Nothing asked, nothing to finish.
                return tracing::debug!(%peer, "no request within the header timeout");
            }
            // HTTP/2 with no stream open: GOAWAY, then close. Or the server
            // stops: finish the requests in flight (if any), then close.
            Drive::Quiet(Quiet::Idle) | Drive::Stop => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = self.abandon.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::sync::CancellationToken;

    use super::{HttpTimeouts, serve};
    use crate::edge::listener::{Admission, ConnectionCaps};

    /// A backlog of connections, each with its request already sent, as a
    /// burst leaves it: the first request is answered before the rest of
    /// the backlog is accepted. (Taken a budget's worth at once, all of
    /// them were open before the first handler ran.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_backlog_is_accepted_one_connection_per_turn() {
        const BACKLOG: usize = 32;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::with_capacity(BACKLOG);
        for _ in 0..BACKLOG {
            // The kernel completes the handshake; nothing accepts it yet.
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            clients.push(c);
        }
        let admission = Admission::new(ConnectionCaps {
            max_total: 1000,
            max_per_ip: 1000,
        });
        let open = admission.clone();
        // Each answer says how many connections were open when it was made.
        let app = Router::new().route("/", get(move || async move { open.open().to_string() }));
        let timeouts = HttpTimeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(10),
        };
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            admission.listener(listener),
            app,
            timeouts,
            None,
            stop.clone(),
            Duration::from_secs(1),
        ));

        let mut answers = Vec::with_capacity(BACKLOG);
        for mut c in clients {
            let mut response = String::new();
            tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut response))
                .await
                .expect("an answer in time")
                .unwrap();
            let body = response.rsplit("\r\n\r\n").next().unwrap_or_default();
            answers.push(body.parse::<usize>().expect("a count"));
        }
        stop.cancel();
        server.await.unwrap();
        assert!(
            answers[0] <= 2,
            "the first request was answered with {} connections open: {answers:?}",
            answers[0]
        );
    }
}
