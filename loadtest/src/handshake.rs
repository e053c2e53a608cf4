//! Scenario 5, handshakes (`--handshakes N`): open N WebSockets, each
//! waits for the gateway's greeting, then closes. `--transport ws`:
//! `/v1/ws` with `Authorization: Bearer` at the upgrade, to the
//! `connected` message; `--transport graphql`: `/graphql`,
//! `connection_init` with the token, to `connection_ack`. Either way the
//! gateway verifies the JWT (an RS256 signature) on every connection.
//!
//! `--concurrency` connections are in flight at once (default
//! [`DEFAULT_IN_FLIGHT`]), `--arrival` paces their start, and they come from
//! loopback source addresses ([`Sources`]), as each closed connection
//! leaves its port in `TIME_WAIT`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::{Args, TransportKind};
use crate::error::Error;
use crate::record::nanos;
use crate::report::{Percentiles, failures, num, tally};
use crate::runner::{Gate, or_default};
use crate::sources::Sources;
use crate::transport::graphql::GraphqlClient;
use crate::transport::socket::{self, Ws};
use crate::transport::ws::WsClient;
use crate::usage::Sampler;

/// Connections in flight when `--concurrency` is 0.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// The JSON report of a handshake run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeReport {
    pub transport: String,
    pub handshakes: u64,
    pub completed: u64,
    pub failed: u64,
    pub concurrency: usize,
    pub source_addrs: u8,
    /// From the first connect to the last close.
    pub wall_secs: f64,
    /// Completed handshakes over the wall time.
    pub handshakes_per_sec: f64,
    /// From starting the TCP connect to the greeting (`connected` or
    /// `connection_ack`): TCP, upgrade, JWT check.
    pub connect_ms: Option<Percentiles>,
    /// The gateway's CPU time over the run (`null` without `--gateway-pid`).
    pub gateway_cpu_secs: Option<f64>,
    /// Gateway CPU time per completed handshake, in milliseconds.
    pub gateway_cpu_ms_per_handshake: Option<f64>,
}

/// A finished handshake run.
#[derive(Debug, Clone)]
pub struct HandshakeRun {
    pub report: HandshakeReport,
    pub target: String,
    pub errors: BTreeMap<String, u64>,
}

/// Opens a connection to its greeting.
enum Opener {
    Ws(WsClient),
    Graphql(GraphqlClient),
}

impl Opener {
    fn new(args: &Args, sources: Sources) -> Result<Self, Error> {
        let (target, token, model) = (&args.target, &args.token, &args.model);
        match args.transport {
            TransportKind::Ws => Ok(Self::Ws(WsClient::new(target, token, model, sources)?)),
            TransportKind::Graphql => Ok(Self::Graphql(GraphqlClient::new(
                target, token, model, sources,
            )?)),
            TransportKind::Sse | TransportKind::Bedrock | TransportKind::Openai => {
                Err(Error::Unsupported(
                    "--handshakes opens WebSockets: use --transport ws or graphql".into(),
                ))
            }
        }
    }

    async fn open(&self, from: Option<IpAddr>) -> Result<Ws, String> {
        match self {
            Self::Ws(c) => c.open(from).await,
            Self::Graphql(c) => c.open(from).await,
        }
    }
}

pub async fn run(args: &Args) -> Result<HandshakeRun, Error> {
    let n = args.handshakes.unwrap_or(0);
    let sources = Sources::for_target(&args.target, args.source_addrs, n);
    let opener = Arc::new(Opener::new(args, sources)?);
    let concurrency = or_default(args.concurrency, DEFAULT_IN_FLIGHT);
    let open = Arc::new(AtomicU64::new(0));
    let sampler = args
        .gateway_pid
        .map(|pid| Sampler::start(pid, Arc::clone(&open)))
        .transpose()?;
    let progress = crate::progress_bar(n, args.quiet);
    progress.set_prefix("handshakes");
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX);
    let gate = Gate::new(args.arrival, concurrency);
    let mut tasks = JoinSet::new();
    let (mut connect_ns, mut errors) = (Vec::new(), BTreeMap::new());
    let start = Instant::now();
    for i in 0..n {
        let permit = gate.admit(i).await?;
        let opener = Arc::clone(&opener);
        let open = Arc::clone(&open);
        let from = sources.pick(i);
        tasks.spawn(async move {
            open.fetch_add(1, Ordering::Relaxed);
            let t0 = Instant::now();
            let result = match tokio::time::timeout(timeout, opener.open(from)).await {
                Ok(Ok(ws)) => {
                    let took = t0.elapsed();
                    socket::close(ws).await;
                    Ok(took)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timed out before the greeting".to_owned()),
            };
            open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            result
        });
        while let Some(done) = tasks.try_join_next() {
            note(done, &mut connect_ns, &mut errors);
            progress.inc(1);
        }
    }
    while let Some(done) = tasks.join_next().await {
        note(done, &mut connect_ns, &mut errors);
        progress.inc(1);
    }
    let wall_secs = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let cpu = sampler.map(|s| s.finish().0.cpu_secs);
    let completed = connect_ns.len() as u64;
    Ok(HandshakeRun {
        report: HandshakeReport {
            transport: args.transport.as_str().to_owned(),
            handshakes: n,
            completed,
            failed: n.saturating_sub(completed),
            concurrency,
            source_addrs: sources.count(),
            wall_secs: round(wall_secs, 1000.0),
            handshakes_per_sec: per_sec(completed, wall_secs),
            connect_ms: Percentiles::of_nanos(connect_ns),
            gateway_cpu_secs: cpu,
            gateway_cpu_ms_per_handshake: cpu
                .filter(|_| completed > 0)
                .map(|c| round(c * 1000.0 / completed as f64, 1000.0)),
        },
        target: args.target.clone(),
        errors,
    })
}

fn note(
    done: Result<Result<Duration, String>, tokio::task::JoinError>,
    connect_ns: &mut Vec<u64>,
    errors: &mut BTreeMap<String, u64>,
) {
    match done {
        Ok(Ok(took)) => connect_ns.push(nanos(took)),
        Ok(Err(e)) => tally(errors, e),
        Err(e) => tally(errors, format!("handshake task failed: {e}")),
    }
}

/// `count` over `secs`, to a whole number (0 for no time).
pub(crate) fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (count as f64 / secs).round()
    } else {
        0.0
    }
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

impl HandshakeRun {
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let _ = writeln!(md, "# spillway-loadtest: {} handshakes\n", r.transport);
        let greeting = if r.transport == "graphql" {
            "`connection_init` → `connection_ack`"
        } else {
            "upgrade with `Authorization` → `connected`"
        };
        let _ = writeln!(
            md,
            "{} connections to `{}` ({greeting}, then close), {} in flight, from {} source address(es).\n",
            r.handshakes, self.target, r.concurrency, r.source_addrs
        );
        let _ = writeln!(
            md,
            "| completed | failed | wall s | handshakes/s | connect p50 ms | connect p99 ms | gateway CPU s | CPU ms per handshake |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} |",
            r.completed,
            r.failed,
            r.wall_secs,
            r.handshakes_per_sec,
            num(r.connect_ms.map(|p| p.p50)),
            num(r.connect_ms.map(|p| p.p99)),
            r.gateway_cpu_secs
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
            num(r.gateway_cpu_ms_per_handshake),
        );
        failures(&mut md, "Failures", &self.errors);
        md
    }
}

pub fn write_reports(args: &Args, run: &HandshakeRun) -> Result<(), Error> {
    crate::write_json_md(args, &run.report, run.markdown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_defaults() {
        assert_eq!(per_sec(5000, 2.0), 2500.0);
        assert_eq!(per_sec(5, 0.0), 0.0);
        assert_eq!(or_default(0, DEFAULT_IN_FLIGHT), DEFAULT_IN_FLIGHT);
        assert_eq!(or_default(8, DEFAULT_IN_FLIGHT), 8);
    }

    #[test]
    fn outcomes_are_tallied() {
        let (mut ns, mut errors) = (Vec::new(), BTreeMap::new());
        note(Ok(Ok(Duration::from_millis(2))), &mut ns, &mut errors);
        note(Ok(Err("HTTP 401".into())), &mut ns, &mut errors);
        note(Ok(Err("HTTP 401".into())), &mut ns, &mut errors);
        assert_eq!(ns, vec![2_000_000]);
        assert_eq!(errors.get("HTTP 401"), Some(&2));
    }
}
