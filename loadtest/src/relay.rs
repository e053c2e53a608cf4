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

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spillway::event::TokenEvent;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};

use crate::cli::{Args, TransportKind};
use crate::error::Error;
use crate::record::SeqCheck;
use crate::transport::{StreamSpec, clip};

/// The simulator's wait before the first token when `--sim-ttft-ms` is not given.
pub const DEFAULT_TTFT_MS: u32 = 300;
/// How long an attach keeps retrying a 404 (the session's registry record
/// may not have reached the shared registry yet).
const ATTACH_PATIENCE: Duration = Duration::from_secs(5);
const ATTACH_RETRY: Duration = Duration::from_millis(20);

/// Two percentiles of a signed delay, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delay {
    pub p50: f64,
    pub p99: f64,
}

impl Delay {
    /// Nearest-rank percentiles of signed nanoseconds; `None` when empty.
    pub fn of_nanos(mut values: Vec<i64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let at = |p: f64| {
            let rank = (p * values.len() as f64).ceil() as usize;
            let ns = values[rank.clamp(1, values.len()) - 1];
            (ns as f64 / 1e3).round() / 1e3
        };
        Some(Self {
            p50: at(0.50),
            p99: at(0.99),
        })
    }

    fn minus(self, base: Self) -> Self {
        let r = |v: f64| (v * 1000.0).round() / 1000.0;
        Self {
            p50: r(self.p50 - base.p50),
            p99: r(self.p99 - base.p99),
        }
    }
}

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

/// One reading of a session: when each event arrived.
#[derive(Debug, Default)]
struct Reading {
    /// When the response headers came (the reader was in place).
    attached: Option<Instant>,
    arrivals: Vec<(u64, Instant)>,
    seq: SeqCheck,
    error: Option<String>,
}

impl Reading {
    fn failed(e: String) -> Self {
        Self {
            error: Some(e),
            ..Self::default()
        }
    }

    fn ok(&self) -> bool {
        self.error.is_none() && self.seq.lost == 0 && self.seq.duplicates == 0
    }
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
    let limit = (args.concurrency > 0).then(|| Arc::new(Semaphore::new(args.concurrency)));
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX);
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for (i, spec) in (0u64..).zip(specs) {
        if args.arrival > 0.0 {
            let offset =
                Duration::try_from_secs_f64(i as f64 / args.arrival).unwrap_or(Duration::MAX);
            sleep_until(start + offset).await;
        }
        let permit = match &limit {
            Some(l) => Some(
                Arc::clone(l)
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::Scheduler(e.to_string()))?,
            ),
            None => None,
        };
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
            *errors.entry(e).or_default() += 1;
        }
        report.lost_events += out.lost;
        report.replayed_events += out.replayed;
        same.extend(out.same_node);
        relay.extend(out.relay);
    }
    progress.finish_and_clear();
    report.events = relay.len() as u64;
    report.same_node_events = same.len() as u64;
    report.same_node_delay_ms = Delay::of_nanos(same.clone());
    report.relay_delay_ms = Delay::of_nanos(relay.clone());
    report.relay_added_ms = match (report.relay_delay_ms, report.same_node_delay_ms) {
        (Some(r), Some(s)) => Some(r.minus(s)),
        _ => None,
    };
    let to_plot = |v: Vec<i64>| {
        let mut v: Vec<u64> = v.into_iter().map(|d| d.max(0).unsigned_abs()).collect();
        v.sort_unstable();
        v
    };
    Ok(RelayRun {
        report,
        node_a: nodes.a.clone(),
        node_b: nodes.b.clone(),
        tokens: args.tokens,
        rate: args.rate,
        ttft_ms,
        errors,
        same_node_ns: to_plot(same),
        relay_ns: to_plot(relay),
    })
}

/// One stream: the original on A, copies on A and B, compared.
async fn one(nodes: &Nodes, spec: &StreamSpec) -> Outcome {
    let body = json!({"prompt": spec.prompt, "model": nodes.model, "maxTokens": spec.tokens});
    let resp = nodes
        .http
        .post(format!("{}/v1/stream", nodes.a))
        .bearer_auth(&nodes.token)
        .header(ACCEPT, "text/event-stream")
        .json(&body)
        .send()
        .await;
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Outcome {
                errors: vec![format!("start on A: HTTP {status}: {}", clip(&text, 200))],
                ..Outcome::default()
            };
        }
        Err(e) => {
            return Outcome {
                errors: vec![format!("start on A failed: {e}")],
                ..Outcome::default()
            };
        }
    };
    let Some(id) = resp
        .headers()
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Outcome {
            errors: vec!["A sent no X-Session-Id".into()],
            ..Outcome::default()
        };
    };
    let original = read(Instant::now(), resp);
    let same = attach(nodes, &nodes.a, &id);
    let other = attach(nodes, &nodes.b, &id);
    let (original, same, other) = tokio::join!(original, same, other);
    compare(original, same, other)
}

/// `GET /v1/sessions/{id}/stream` on `node`, retrying a 404 for a while.
async fn attach(nodes: &Nodes, node: &str, id: &str) -> Reading {
    let url = format!("{node}/v1/sessions/{id}/stream");
    let deadline = Instant::now() + ATTACH_PATIENCE;
    loop {
        let resp = nodes
            .http
            .get(&url)
            .bearer_auth(&nodes.token)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => return read(Instant::now(), r).await,
            Ok(r) if r.status() == StatusCode::NOT_FOUND && Instant::now() < deadline => {
                sleep(ATTACH_RETRY).await;
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                return Reading::failed(format!(
                    "attach on {node}: HTTP {status}: {}",
                    clip(&text, 200)
                ));
            }
            Err(e) => return Reading::failed(format!("attach on {node} failed: {e}")),
        }
    }
}

/// Reads an SSE response to its final event, noting when each arrived.
async fn read(attached: Instant, resp: reqwest::Response) -> Reading {
    let mut reading = Reading {
        attached: Some(attached),
        ..Reading::default()
    };
    let mut events = resp.bytes_stream().eventsource();
    while let Some(item) = events.next().await {
        let at = Instant::now();
        let event = match item {
            Ok(e) => e,
            Err(e) => {
                reading.error = Some(format!("SSE stream broke: {e}"));
                return reading;
            }
        };
        let token: TokenEvent = match serde_json::from_str(&event.data) {
            Ok(t) => t,
            Err(e) => {
                reading.error = Some(format!("not a TokenEvent: {e}"));
                return reading;
            }
        };
        reading.seq.observe(token.seq);
        reading.arrivals.push((token.seq, at));
        if token.is_complete {
            if let Some(e) = token.error {
                reading.error = Some(format!("error event {}: {}", e.code, clip(&e.message, 200)));
            }
            return reading;
        }
    }
    reading.error = Some("the stream ended before its final event".into());
    reading
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
    let at: BTreeMap<u64, Instant> = original.arrivals.iter().copied().collect();
    for (copy, into) in [(&same, &mut out.same_node), (&other, &mut out.relay)] {
        let attached = copy.attached.unwrap_or(Instant::now());
        for (seq, t) in &copy.arrivals {
            let Some(orig) = at.get(seq) else { continue };
            if *orig <= attached {
                out.replayed += 1;
                continue;
            }
            let delay = if *t >= *orig {
                i64::try_from((*t - *orig).as_nanos()).unwrap_or(i64::MAX)
            } else {
                -i64::try_from((*orig - *t).as_nanos()).unwrap_or(i64::MAX)
            };
            into.push(delay);
        }
    }
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
        if !self.errors.is_empty() {
            let _ = writeln!(md, "\nFailures:\n");
            for (msg, n) in &self.errors {
                let _ = writeln!(md, "- {n} × `{}`", msg.replace('`', "'"));
            }
        }
        md
    }
}

/// Writes the JSON report, the Markdown summary and the delay CDF.
pub fn write_reports(args: &Args, run: &RelayRun) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(&run.report)?;
    crate::write(&args.json, json + "\n")?;
    if let Some(path) = &args.markdown {
        crate::write(path, run.markdown())?;
    }
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

    #[test]
    fn signed_percentiles() {
        let d = Delay::of_nanos((-50..50).map(|i| i * 1_000_000).collect()).unwrap();
        assert_eq!(
            d,
            Delay {
                p50: -1.0,
                p99: 48.0
            }
        );
        assert_eq!(Delay::of_nanos(vec![]), None);
    }

    #[test]
    fn compares_copies_and_leaves_out_replays() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let reading = |attached: u64, arrivals: &[(u64, u64)]| {
            let mut r = Reading {
                attached: Some(ms(attached)),
                ..Reading::default()
            };
            for &(seq, at) in arrivals {
                r.seq.observe(seq);
                r.arrivals.push((seq, ms(at)));
            }
            r
        };
        let original = reading(0, &[(0, 10), (1, 20), (2, 30)]);
        let same = reading(5, &[(0, 11), (1, 21), (2, 31)]);
        let other = reading(15, &[(0, 16), (1, 23), (2, 33)]); // seq 0 was a replay
        let out = compare(original, same, other);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.same_node, vec![1_000_000; 3]);
        assert_eq!(out.relay, vec![3_000_000, 3_000_000]);
        assert_eq!(out.replayed, 1);
    }
}
