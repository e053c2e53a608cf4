//! The TLS listener: HTTP/2 or HTTP/1.1, whichever ALPN settles, on one port.
//!
//! Every stream of an HTTP/2 client shares its connection; the simulator sets
//! no limit on concurrent streams (hyper's default is 200), so a client's
//! stream count is never capped by the simulator's settings.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::tls::SimTls;
use crate::{SimState, router};

/// How long a connection may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to back off after `accept` fails (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve over TLS on an already-bound listener until `shutdown` is cancelled,
/// as [`crate::serve`] does in cleartext: cancelling stops accepting and
/// aborts the streams still running.
pub async fn serve_tls(
    listener: TcpListener,
    state: SimState,
    tls: SimTls,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = SimState {
        halt: shutdown.child_token(),
        ..state
    };
    let counters = std::sync::Arc::clone(&state.inner.counters);
    let app = router(state);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(None::<u32>);
    let graceful = GracefulShutdown::new();
    loop {
        let tcp = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    tracing::debug!(%error, "simulator accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        counters.connection_accepted();
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::trace!(%error, "could not set TCP_NODELAY");
        }
        let acceptor = tls.acceptor().clone();
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "simulator TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("simulator TLS handshake timed out");
                    return;
                }
            };
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(error) = watcher.watch(conn).await {
                tracing::trace!(%error, "simulator connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
