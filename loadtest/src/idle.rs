//! Scenario 4, idle WebSockets: open N connections to `/v1/ws` (each waits
//! for the gateway's `connected` greeting) or, with `--transport graphql`,
//! to `/graphql` (to its `connection_ack`), hold them without a stream,
//! and report the gateway's resident memory per connection — the RSS once
//! all are open and settled minus the RSS before, over the connections.
//!
//! Connections are spread over source addresses 127.0.0.1 … 127.0.0.K
//! (`--source-addrs`; by default one per 2,000 connections), so that neither
//! the client's ephemeral ports nor the gateway's per-address limits
//! (connections and requests per IP) cap the run. Every connection keeps a
//! reader, so the gateway's pings are answered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Args, TransportKind};
use crate::error::Error;
use crate::record::nanos;
use crate::report::{Percentiles, failures, tally};
use crate::runner::{Gate, or_default};
use crate::sources::Sources;
use crate::transport::graphql::GraphqlClient;
use crate::transport::socket::{self, Ws};
use crate::transport::ws::WsClient;
use crate::usage::{MemorySample, Sampler, mb};

/// Connections opening at once when `--concurrency` is 0. On the 2-core
/// test machine 200 at once left ~1% of them waiting a second for a SYN
/// retransmit; 50 did not.
const DEFAULT_OPENING: usize = 50;
/// Wait this long after the last connection opened before reading the RSS.
const SETTLE: Duration = Duration::from_millis(500);
/// And this long after closing them all, for the RSS after.
const AFTER_CLOSE: Duration = Duration::from_secs(1);

/// The JSON report of an idle run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleReport {
    pub transport: String,
    /// Connections asked for.
    pub connections: u64,
    /// Connections that opened and stayed open through the hold.
    pub held: u64,
    pub failed: u64,
    pub source_addrs: u8,
    pub rss_before_mb: f64,
    /// RSS with every connection open, after they settled.
    pub rss_held_mb: f64,
    /// RSS a second after all were closed.
    pub rss_after_mb: f64,
    /// (`rssHeldMb` − `rssBeforeMb`) / connections opened, in KiB.
    pub kib_per_connection: Option<f64>,
    /// From starting the TCP connect to the `connected` greeting.
    pub connect_ms: Option<Percentiles>,
    /// Connections opened per second while opening.
    pub connects_per_sec: f64,
}

/// A finished idle run.
#[derive(Debug, Clone)]
pub struct IdleRun {
    pub report: IdleReport,
    pub target: String,
    pub concurrency: usize,
    pub hold_secs: f64,
    pub errors: BTreeMap<String, u64>,
    pub memory: Vec<MemorySample>,
}

/// Opens one idle socket: `/v1/ws` to its `connected` greeting, or
/// `/graphql` to its `connection_ack`.
enum Opener {
    Ws(WsClient),
    Graphql(GraphqlClient),
}

impl Opener {
    async fn open(&self, source: Option<IpAddr>) -> Result<Ws, String> {
        match self {
            Opener::Ws(c) => c.open(source).await,
            Opener::Graphql(c) => c.open(source).await,
        }
    }
}

pub async fn run(args: &Args) -> Result<IdleRun, Error> {
    let n = args.idle_connections.unwrap_or(0);
    let pid = args
        .gateway_pid
        .ok_or(Error::NeedsPid("--idle-connections"))?;
    let sources = Sources::for_target(&args.target, args.source_addrs, n);
    let client = Arc::new(match args.transport {
        TransportKind::Ws => Opener::Ws(WsClient::new(
            &args.target,
            &args.token,
            &args.model,
            sources,
        )?),
        TransportKind::Graphql => Opener::Graphql(GraphqlClient::new(
            &args.target,
            &args.token,
            &args.model,
            sources,
        )?),
        TransportKind::Sse | TransportKind::Bedrock | TransportKind::Openai => {
            return Err(Error::Unsupported(
                "--idle-connections holds WebSockets; use --transport ws or graphql".into(),
            ));
        }
    });
    let open = Arc::new(AtomicU64::new(0));
    let sampler = Sampler::start(pid, Arc::clone(&open))?;
    let before_kb = sampler.rss_now_kb().unwrap_or(0);
    let progress = crate::progress_bar(n, args.quiet);
    progress.set_prefix("opening");

    let gate = Gate::new(args.arrival, or_default(args.concurrency, DEFAULT_OPENING));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let mut connect_ns = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut holders = JoinSet::new();
    let start = Instant::now();
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX);
    for i in 0..n {
        let permit = gate.admit(i).await?;
        let client = Arc::clone(&client);
        let opened = opened_tx.clone();
        let stop = stop_rx.clone();
        let open = Arc::clone(&open);
        let from = sources.pick(i);
        holders.spawn(async move {
            let t0 = Instant::now();
            let result = tokio::time::timeout(timeout, client.open(from)).await;
            drop(permit);
            let ws = match result {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => {
                    let _ = opened.send(Err(e));
                    return None; // counted as an opening failure
                }
                Err(_) => {
                    let _ = opened.send(Err("timed out opening".into()));
                    return None;
                }
            };
            open.fetch_add(1, Ordering::Relaxed);
            let _ = opened.send(Ok(t0.elapsed()));
            drop(opened);
            let early = hold(ws, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
            early
        });
        while let Ok(r) = opened_rx.try_recv() {
            note(r, &mut connect_ns, &mut errors);
            progress.inc(1);
        }
    }
    drop(opened_tx);
    // Each task sends its outcome once, then drops its sender.
    while let Some(r) = opened_rx.recv().await {
        note(r, &mut connect_ns, &mut errors);
        progress.inc(1);
    }
    let opening_secs = start.elapsed().as_secs_f64();
    let opened = connect_ns.len() as u64;
    progress.set_prefix("holding");
    sleep(SETTLE).await;
    sleep(Duration::try_from_secs_f64(args.hold).unwrap_or(Duration::ZERO)).await;
    let held_kb = sampler.rss_now_kb().unwrap_or(before_kb);
    let held = open.load(Ordering::Relaxed);
    progress.set_prefix("closing");
    let _ = stop_tx.send(true);
    while let Some(done) = holders.join_next().await {
        match done {
            Ok(Some(e)) => tally(&mut errors, e),
            Ok(None) => {}
            Err(e) => tally(&mut errors, format!("holder task failed: {e}")),
        }
    }
    sleep(AFTER_CLOSE).await;
    let after_kb = sampler.rss_now_kb().unwrap_or(held_kb);
    let (_, memory) = sampler.finish();
    progress.finish_and_clear();

    let kib_per_connection = (opened > 0)
        .then(|| ((held_kb as f64 - before_kb as f64) / opened as f64 * 10.0).round() / 10.0);
    let connects_per_sec = if opening_secs > 0.0 {
        (opened as f64 / opening_secs).round()
    } else {
        0.0
    };
    Ok(IdleRun {
        report: IdleReport {
            transport: args.transport.as_str().to_owned(),
            connections: n,
            held,
            failed: n.saturating_sub(held),
            source_addrs: sources.count(),
            rss_before_mb: mb(before_kb),
            rss_held_mb: mb(held_kb),
            rss_after_mb: mb(after_kb),
            kib_per_connection,
            connect_ms: Percentiles::of_nanos(connect_ns),
            connects_per_sec,
        },
        target: args.target.clone(),
        concurrency: args.concurrency,
        hold_secs: args.hold,
        errors,
        memory,
    })
}

fn note(
    r: Result<Duration, String>,
    connect_ns: &mut Vec<u64>,
    errors: &mut BTreeMap<String, u64>,
) {
    match r {
        Ok(d) => connect_ns.push(nanos(d)),
        Err(e) => tally(errors, e),
    }
}

/// Writes the JSON report, the Markdown summary and the memory plot.
pub fn write_reports(args: &Args, run: &IdleRun) -> Result<(), Error> {
    crate::write_json_md(args, &run.report, run.markdown())?;
    if let Some(dir) = &args.plot {
        crate::create_dir(dir)?;
        crate::plot::memory(
            &crate::plot::path_for(dir, &args.json, "memory"),
            &format!(
                "Gateway memory vs idle {} connections",
                run.report.transport
            ),
            &run.memory,
        )?;
    }
    Ok(())
}

/// Holds one idle connection until `stop`; answers the gateway's pings by
/// reading. Returns why it ended early, if the gateway closed it.
async fn hold(mut ws: Ws, mut stop: watch::Receiver<bool>) -> Option<String> {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                socket::close(ws).await;
                return None;
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(frame))) => {
                    return Some(match frame {
                        Some(f) => format!("closed by the gateway while idle: {} {}", f.code, f.reason),
                        None => "closed by the gateway while idle".to_owned(),
                    });
                }
                None => return Some("the connection ended while idle".to_owned()),
                Some(Err(e)) => return Some(format!("WebSocket broke while idle: {e}")),
                Some(Ok(_)) => {}
            }
        }
    }
}

impl IdleRun {
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# spillway-loadtest: idle {} connections\n",
            r.transport
        );
        let _ = writeln!(
            md,
            "{} connections to `{}` from {} source address(es), {} opening at once; held {} s.\n",
            r.connections,
            self.target,
            r.source_addrs,
            or_default(self.concurrency, DEFAULT_OPENING),
            self.hold_secs
        );
        let _ = writeln!(
            md,
            "| held | failed | RSS before MiB | RSS held MiB | RSS after close MiB | KiB per connection | connect p50 ms | connect p99 ms | connects/s |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let f = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"));
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.0} |",
            r.held,
            r.failed,
            r.rss_before_mb,
            r.rss_held_mb,
            r.rss_after_mb,
            r.kib_per_connection
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
            f(r.connect_ms.map(|p| p.p50)),
            f(r.connect_ms.map(|p| p.p99)),
            r.connects_per_sec
        );
        failures(&mut md, "Failures", &self.errors);
        md
    }
}
