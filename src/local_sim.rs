//! Local mode (`--upstream sim`): the embedded Bedrock simulator on loopback
//! ports, and the SDK client pointed at it.
//!
//! The simulator always serves HTTP/1.1 in cleartext on one port (the address
//! `Server::sim_addr` reports, for `/sim/stats` and tests). With
//! `--sim-http2` (the default) it also serves TLS on a second port, with a
//! certificate it makes at start-up, offering `h2` by ALPN; the gateway
//! trusts that certificate alone and calls the simulator there, so its
//! streams share one HTTP/2 connection as they would with Bedrock.
//! (The SDK's HTTP client cannot speak cleartext HTTP/2 with prior
//! knowledge: it takes the protocol from ALPN, so HTTP/2 needs TLS.)

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::server::{StartupError, bind, local_addr};
use crate::upstream::Upstream;
use crate::upstream::bedrock::{BedrockUpstream, RetryPolicy};

/// Start the embedded simulator on `tasks` (stopped by `stop`) and a client
/// for it. Returns the client and the cleartext listener's address.
pub(crate) async fn start(
    config: &Config,
    retry: RetryPolicy,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(Arc<dyn Upstream>, SocketAddr), StartupError> {
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let state = spillway_sim::SimState::new();
    let plain = bind(loopback).await?;
    let plain_addr = local_addr(&plain)?;
    tasks.spawn(spillway_sim::serve(plain, state.clone(), stop.clone()));
    let upstream = if config.sim_http2 {
        let sim_tls = spillway_sim::SimTls::generate(spillway_sim::Alpn::H2AndHttp1)?;
        let tls = bind(loopback).await?;
        let tls_addr = local_addr(&tls)?;
        let cert = sim_tls.cert_pem().to_owned();
        tasks.spawn(spillway_sim::serve_tls(tls, state, sim_tls, stop.clone()));
        BedrockUpstream::for_simulator(&format!("https://{tls_addr}"), Some(&cert), retry)?
    } else {
        BedrockUpstream::for_simulator(&format!("http://{plain_addr}"), None, retry)?
    };
    Ok((Arc::new(upstream), plain_addr))
}
