//! The relay measurement (`--relay-via URL`): `--target` (node A) and
//! `--relay-via` (node B) are two nodes of one fleet (same registry, same
//! signing key). Each stream starts on A (`POST /v1/stream`, SSE, read to
//! the end: the *original*); as soon as A answers with `X-Session-Id` the
//! same token attaches to the session twice with
//! `GET /v1/sessions/{id}/stream`: once on A itself (a same-node reader of
//! the session log) and once on B (which mirrors the log from A over the
//! fleet's internal route). For every event, each copy's arrival minus the
//! original's is its delay; the relay's cost is B's delay minus A's.
//!
//! The simulator waits before the first token (`--sim-ttft-ms`, 300 ms by
//! default here) so that both attaches are in place before it; an event
//! that had already reached the original when a copy attached is a replay,
//! not a relay, and is left out (and counted).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::{Args, TransportKind};
pub use crate::copies::Delay;
use crate::copies::{Reading, behind, for_plot};
use crate::error::Error;
use crate::report::{failures, tally};
use crate::runner::Gate;
use crate::transport::StreamSpec;
use crate::transport::sse;

/// The simulator's wait before the first token when `--sim-ttft-ms` is not given.
pub const DEFAULT_TTFT_MS: u32 = 300;

/// The JSON report of a relay run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    pub streams: u64,
    /// Streams whose original and both copies all completed, with no event
    /// lost or duplicated.
    pub completed: u64,
    pub failed: u64,
    pub lost_events: u64,
    /// Events of the other node's copy compared (replays left out).
    pub events: u64,
    /// Events of the same-node copy compared.
    pub same_node_events: u64,
    pub replayed_events: u64,
    /// A same-node reader's copy behind the original.
    pub same_node_delay_ms: Option<Delay>,
    /// The other node's copy behind the original.
    pub relay_delay_ms: Option<Delay>,
    /// `relayDelayMs` − `sameNodeDelayMs`: what the cross-node relay adds.
    pub relay_added_ms: Option<Delay>,
}

/// A finished relay run.
#[derive(Debug, Clone)]
pub struct RelayRun {
    pub report: RelayReport,
    pub node_a: String,
    pub node_b: String,
    pub tokens: u32,
    pub rate: f64,
    pub ttft_ms: u32,
    pub errors: BTreeMap<String, u64>,
    /// Every compared delay, sorted, in nanoseconds (negatives as 0), for the plot.
    pub same_node_ns: Vec<u64>,
    pub relay_ns: Vec<u64>,
}

/// What one stream measured.
#[derive(Debug, Default)]
struct Outcome {
    same_node: Vec<i64>,
    relay: Vec<i64>,
    replayed: u64,
    lost: u64,
    errors: Vec<String>,
}

struct Nodes {
    http: reqwest::Client,
    a: String,
    b: String,
    token: String,
    model: String,
}

pub async fn run(args: &Args) -> Result<RelayRun, Error> {
    let Some(b) = &args.relay_via else {
        return Err(Error::Unsupported(
            "the relay measurement needs --relay-via".into(),
        ));
    };
    if args.transport != TransportKind::Sse {
        return Err(Error::Unsupported(format!(
            "the relay measurement reads over SSE; use --transport sse (not {})",
            args.transport.as_str()
        )));
    }
    let ttft_ms = args.sim_ttft_ms.unwrap_or(DEFAULT_TTFT_MS);
    let mut with_ttft = args.clone();
    with_ttft.sim_ttft_ms = Some(ttft_ms);
    let specs = crate::stream_specs(&with_ttft);
    let nodes = Arc::new(Nodes {
        http: reqwest::Client::builder().tcp_nodelay(true).build()?,
        a: args.target.trim_end_matches('/').to_owned(),
        b: b.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
        model: args.model.clone(),
    });
    let progress = crate::progress_bar(specs.len() as u64, args.quiet);
    progress.set_prefix("relay");
    let gate = Gate::new(args.arrival, args.concurrency);
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX);
    let mut tasks = JoinSet::new();
    for (i, spec) in (0u64..).zip(specs) {
        let permit = gate.admit(i).await?;
        let nodes = Arc::clone(&nodes);
        tasks.spawn(async move {
            let out = tokio::time::timeout(timeout, one(&nodes, &spec))
                .await
                .unwrap_or_else(|_| Outcome {
                    errors: vec![format!("timed out after {:.1} s", timeout.as_secs_f64())],
                    ..Outcome::default()
                });
            drop(permit);
            out
        });
    }
    let mut report = RelayReport {
        streams: args.streams,
        completed: 0,
        failed: 0,
        lost_events: 0,
        events: 0,
        same_node_events: 0,
        replayed_events: 0,
        same_node_delay_ms: None,
        relay_delay_ms: None,
        relay_added_ms: None,
    };
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut same, mut relay) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        progress.inc(1);
        let out = done.unwrap_or_else(|e| Outcome {
            errors: vec![format!("stream task failed: {e}")],
            ..Outcome::default()
        });
        if out.errors.is_empty() {
            report.completed += 1;
        } else {
            report.failed += 1;
        }
        for e in out.errors {
            tally(&mut errors, e);
        }
        report.lost_events += out.lost;
        report.replayed_events += out.replayed;
        same.extend(out.same_node);
        relay.extend(out.relay);
    }
    progress.finish_and_clear();
    report.events = relay.len() as u64;
    report.same_node_events = same.len() as u64;
    same.sort_unstable();
    relay.sort_unstable();
    report.same_node_delay_ms = Delay::of_sorted(&same);
    report.relay_delay_ms = Delay::of_sorted(&relay);
    report.relay_added_ms = match (report.relay_delay_ms, report.same_node_delay_ms) {
        (Some(r), Some(s)) => Some(r.minus(s)),
        _ => None,
    };
    Ok(RelayRun {
        report,
        node_a: nodes.a.clone(),
        node_b: nodes.b.clone(),
        tokens: args.tokens,
        rate: args.rate,
        ttft_ms,
        errors,
        same_node_ns: for_plot(&same),
        relay_ns: for_plot(&relay),
    })
}

/// One stream: the original on A, copies on A and B, compared.
async fn one(nodes: &Nodes, spec: &StreamSpec) -> Outcome {
    let failed = |e: String| Outcome {
        errors: vec![e],
        ..Outcome::default()
    };
    let url = format!("{}/v1/stream", nodes.a);
    let resp = match sse::start(&nodes.http, &url, &nodes.token, &nodes.model, spec).await {
        Ok(r) => r,
        Err(e) => return failed(format!("start on A: {e}")),
    };
    let Some(id) = sse::session_id(&resp) else {
        return failed("A sent no X-Session-Id".into());
    };
    let original = Reading::of_sse(Instant::now(), resp);
    let same = attach(nodes, &nodes.a, &id);
    let other = attach(nodes, &nodes.b, &id);
    let (original, same, other) = tokio::join!(original, same, other);
    compare(original, same, other)
}

/// `GET /v1/sessions/{id}/stream` on `node`, read to the end.
async fn attach(nodes: &Nodes, node: &str, id: &str) -> Reading {
    match sse::attach(&nodes.http, node, &nodes.token, id).await {
        Ok(r) => Reading::of_sse(Instant::now(), r).await,
        Err(e) => Reading::failed(format!("on {node}: {e}")),
    }
}

fn compare(original: Reading, same: Reading, other: Reading) -> Outcome {
    let mut out = Outcome::default();
    for (name, r) in [
        ("original on A", &original),
        ("copy on A", &same),
        ("copy on B", &other),
    ] {
        if let Some(e) = &r.error {
            out.errors.push(format!("{name}: {e}"));
        } else if !r.ok() {
            out.errors
                .push(format!("{name}: lost or duplicated events"));
        }
        out.lost += r.seq.lost;
    }
    let at = original.by_seq();
    let same = behind(&at, &same);
    let other = behind(&at, &other);
    out.replayed = same.replayed + other.replayed;
    out.same_node = same.delays_ns;
    out.relay = other.delays_ns;
    out
}

impl RelayRun {
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let _ = writeln!(md, "# spillway-loadtest: cross-node relay\n");
        let _ = writeln!(
            md,
            "{} streams of {} tokens at {} tokens/s (first token after {} ms), started on \
             node A `{}`; each read there, and attached to on A and on node B `{}`.\n",
            r.streams, self.tokens, self.rate, self.ttft_ms, self.node_a, self.node_b
        );
        let _ = writeln!(
            md,
            "| copy | events | delay p50 ms | delay p99 ms |\n|---|---:|---:|---:|"
        );
        let f = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.3}"));
        let _ = writeln!(
            md,
            "| same node (A) | {} | {} | {} |",
            r.same_node_events,
            f(r.same_node_delay_ms.map(|d| d.p50)),
            f(r.same_node_delay_ms.map(|d| d.p99))
        );
        let _ = writeln!(
            md,
            "| other node (B, relayed) | {} | {} | {} |",
            r.events,
            f(r.relay_delay_ms.map(|d| d.p50)),
            f(r.relay_delay_ms.map(|d| d.p99))
        );
        let _ = writeln!(
            md,
            "| **added by the relay** | | {} | {} |",
            f(r.relay_added_ms.map(|d| d.p50)),
            f(r.relay_added_ms.map(|d| d.p99))
        );
        let _ = writeln!(
            md,
            "\nStreams: {} completed, {} failed; {} events lost; {} replayed events left out.",
            r.completed, r.failed, r.lost_events, r.replayed_events
        );
        failures(&mut md, "Failures", &self.errors);
        md
    }
}

/// Writes the JSON report, the Markdown summary and the delay CDF.
pub fn write_reports(args: &Args, run: &RelayRun) -> Result<(), Error> {
    crate::write_json_md(args, &run.report, run.markdown())?;
    if let Some(dir) = &args.plot {
        crate::create_dir(dir)?;
        crate::plot::cdf(
            &crate::plot::path_for(dir, &args.json, "delay-cdf"),
            "Delay of each copy of an event behind the original",
            "delay behind the original reader on node A (ms; negative drawn at 0)",
            &[
                ("same-node reader (A)", &run.same_node_ns),
                ("cross-node reader (B)", &run.relay_ns),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copies::tests::reading;

    #[test]
    fn compares_copies_and_leaves_out_replays() {
        let t0 = Instant::now();
        let original = reading(t0, 0, &[(0, 10), (1, 20), (2, 30)]);
        let same = reading(t0, 5, &[(0, 11), (1, 21), (2, 31)]);
        let other = reading(t0, 15, &[(0, 16), (1, 23), (2, 33)]); // seq 0 was a replay
        let out = compare(original, same, other);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.same_node, vec![1_000_000; 3]);
        assert_eq!(out.relay, vec![3_000_000, 3_000_000]);
        assert_eq!(out.replayed, 1);
    }
}
