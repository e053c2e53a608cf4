//! A listener that refuses connections past a global cap or a per-IP cap by
//! closing them at once, before any request is read.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Pending connections the kernel queues before `accept` (the default 128
/// overflows under a burst of new streams; clients then retry a second later).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr`; with `shared`, one that other sockets of this
/// user may bind too (`SO_REUSEPORT`: each serving thread binds its own,
/// and the kernel spreads new connections across them).
pub fn bind_port(addr: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }?;
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionCaps {
    pub max_total: usize,
    pub max_per_ip: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The connection counts of one port, shared by every listener accepting on
/// it (one per serving thread), so the caps hold for the port as a whole.
#[derive(Clone)]
pub struct Admission {
    caps: ConnectionCaps,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    pub fn new(caps: ConnectionCaps) -> Self {
        Self {
            caps,
            counts: Arc::default(),
        }
    }

    /// Connections open on the port now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        CappedListener::counts(&self.counts).total
    }

    /// A listener on `inner` counting against these caps.
    pub fn listener(&self, inner: TcpListener) -> CappedListener {
        CappedListener {
            inner,
            caps: self.caps,
            counts: Arc::clone(&self.counts),
        }
    }
}

/// Wraps a `TcpListener`; each accepted stream holds its slot until dropped.
pub struct CappedListener {
    inner: TcpListener,
    caps: ConnectionCaps,
    counts: Arc<Mutex<Counts>>,
}

impl CappedListener {
    pub fn new(inner: TcpListener, caps: ConnectionCaps) -> Self {
        Admission::new(caps).listener(inner)
    }

    fn counts(counts: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
        counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a slot for `ip`, or `None` past a cap.
    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut c = Self::counts(&self.counts);
        let here = c.per_ip.get(&ip).copied().unwrap_or(0);
        if c.total >= self.caps.max_total || here >= self.caps.max_per_ip {
            return None;
        }
        c.total += 1;
        c.per_ip.insert(ip, here + 1);
        Some(Slot {
            ip,
            counts: self.counts.clone(),
        })
    }
}

/// A held connection slot.
struct Slot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = CappedListener::counts(&self.counts);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// How many reads brought bytes in on one connection (the HTTP idle timer
/// tells an idle keep-alive wait from a half-sent request by it).
#[derive(Debug, Clone, Default)]
pub struct ReadCount(Arc<AtomicU64>);

impl ReadCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A TCP stream that gives its slot back when closed.
pub struct CappedStream {
    inner: TcpStream,
    reads: ReadCount,
    _slot: Slot,
}

impl CappedStream {
    pub fn get_ref(&self) -> &TcpStream {
        &self.inner
    }

    pub fn reads(&self) -> ReadCount {
        self.reads.clone()
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.reads.bump();
        }
        polled
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // `TcpListener`'s own `Listener` impl retries transient accept errors.
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            match self.admit(addr.ip()) {
                Some(slot) => {
                    return (
                        CappedStream {
                            inner: stream,
                            reads: ReadCount::default(),
                            _slot: slot,
                        },
                        addr,
                    );
                }
                None => {
                    tracing::debug!(peer = %addr.ip(), "connection refused: over a connection cap");
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
