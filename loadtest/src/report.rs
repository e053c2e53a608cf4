//! The results: the JSON report of PRODUCT.md and a Markdown summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::{Args, TransportKind};
use crate::record::Aggregate;
use crate::tool::{TOOL_NAME, ToolCall};
use crate::usage::{GatewayUsage, MemorySample};

/// Two percentiles of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of nanosecond values; `None` when empty.
    pub fn of_nanos(mut values: Vec<u64>) -> Option<Self> {
        values.sort_unstable();
        Self::of_sorted(&values)
    }

    /// The same, of values already sorted.
    pub fn of_sorted(values: &[u64]) -> Option<Self> {
        let at = |p: f64| nearest_rank(values, p).map(|ns| ms(ns as f64 / 1e6));
        Some(Self {
            p50: at(0.50)?,
            p99: at(0.99)?,
        })
    }

    /// `self - base`, percentile by percentile.
    pub fn minus(self, base: Self) -> Self {
        Self {
            p50: ms(self.p50 - base.p50),
            p99: ms(self.p99 - base.p99),
        }
    }
}

/// The nearest-rank `p` percentile (0 < p ≤ 1) of sorted values.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// Rounded to the microsecond.
fn ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The JSON report: exactly the fields PRODUCT.md names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub transport: String,
    pub streams: u64,
    pub completed: u64,
    pub failed: u64,
    pub lost_events: u64,
    pub ttft_ms: Option<Percentiles>,
    /// Gateway minus baseline; `null` without a baseline.
    pub ttft_added_ms: Option<Percentiles>,
    pub gap_ms: Option<Percentiles>,
    pub events_per_sec: f64,
    /// Peak resident memory of the gateway; `null` without `--gateway-pid`.
    pub gateway_rss_mb: Option<f64>,
}

/// One side of the run (the gateway or the baseline), summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub streams: u64,
    pub completed: u64,
    pub failed: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub tokens: u64,
    pub events: u64,
    pub ttft: Option<Percentiles>,
    pub gap: Option<Percentiles>,
    /// Connection set-up (WebSocket transports), not part of `ttft`.
    pub connect: Option<Percentiles>,
    /// Set-up plus time to first token (WebSocket transports).
    pub connect_ttft: Option<Percentiles>,
    pub events_per_sec: f64,
    pub errors: BTreeMap<String, u64>,
    /// Every time to first token, sorted, in nanoseconds (for the plots).
    pub ttft_ns: Vec<u64>,
    /// Every inter-token gap, sorted, in nanoseconds.
    pub gaps_ns: Vec<u64>,
}

impl From<Aggregate> for Side {
    fn from(mut agg: Aggregate) -> Self {
        let events_per_sec = (agg.events_per_sec() * 10.0).round() / 10.0;
        agg.ttft_ns.sort_unstable();
        agg.gaps_ns.sort_unstable();
        Self {
            streams: agg.streams,
            completed: agg.completed,
            failed: agg.failed,
            lost: agg.lost,
            duplicates: agg.duplicates,
            tokens: agg.tokens,
            events: agg.events,
            ttft: Percentiles::of_sorted(&agg.ttft_ns),
            gap: Percentiles::of_sorted(&agg.gaps_ns),
            connect: Percentiles::of_nanos(agg.connect_ns),
            connect_ttft: Percentiles::of_nanos(agg.connect_ttft_ns),
            events_per_sec,
            errors: agg.errors,
            ttft_ns: agg.ttft_ns,
            gaps_ns: agg.gaps_ns,
        }
    }
}

/// A finished run: what was asked and what each side measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub transport: TransportKind,
    pub streams: u64,
    pub tokens: u32,
    pub rate: f64,
    pub arrival: f64,
    pub concurrency: usize,
    /// `--tool-call`: the tool every stream calls.
    pub tool: Option<ToolCall>,
    /// `--offer-tool`: the tool every request carries, not called.
    pub offered: Option<ToolCall>,
    pub target: String,
    pub baseline_url: Option<String>,
    pub gateway: Side,
    pub baseline: Option<Side>,
    pub usage: Option<GatewayUsage>,
    /// The gateway's RSS over the run, with the streams open at each sample.
    pub memory: Vec<MemorySample>,
    /// The simulator's CPU in each phase (`--sim-pid`).
    pub sim_cpu: Option<SimCpu>,
}

/// CPU seconds the simulator spent serving the baseline, and feeding the gateway.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimCpu {
    pub baseline_secs: f64,
    pub gateway_secs: f64,
}

impl Run {
    pub fn new(
        args: &Args,
        gateway: Aggregate,
        baseline: Option<Aggregate>,
        usage: Option<(GatewayUsage, Vec<MemorySample>)>,
    ) -> Self {
        let (usage, memory) = match usage {
            Some((u, m)) => (Some(u), m),
            None => (None, Vec::new()),
        };
        Self {
            transport: args.transport,
            streams: args.streams,
            tokens: args.tokens,
            rate: args.rate,
            arrival: args.arrival,
            concurrency: args.concurrency,
            tool: args.tool_call.then(|| ToolCall::for_deltas(args.tokens)),
            offered: args.offer_tool.then(|| ToolCall::for_deltas(args.tokens)),
            target: args.target.clone(),
            baseline_url: args.baseline.clone(),
            gateway: gateway.into(),
            baseline: baseline.map(Side::from),
            usage,
            memory,
            sim_cpu: None,
        }
    }

    pub(crate) fn ttft_added(&self) -> Option<Percentiles> {
        Some(self.gateway.ttft?.minus(self.baseline.as_ref()?.ttft?))
    }

    pub(crate) fn gap_added(&self) -> Option<Percentiles> {
        Some(self.gateway.gap?.minus(self.baseline.as_ref()?.gap?))
    }

    pub fn report(&self) -> Report {
        let g = &self.gateway;
        Report {
            transport: self.transport.as_str().to_owned(),
            streams: g.streams,
            completed: g.completed,
            failed: g.failed,
            lost_events: g.lost,
            ttft_ms: g.ttft,
            ttft_added_ms: self.ttft_added(),
            gap_ms: g.gap,
            events_per_sec: g.events_per_sec,
            gateway_rss_mb: self.usage.map(|u| (u.rss_peak_mb * 10.0).round() / 10.0),
        }
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let arrival = if self.arrival > 0.0 {
            format!("{} streams/s", self.arrival)
        } else {
            "all at once".to_owned()
        };
        let concurrency = match self.concurrency {
            0 => "no limit".to_owned(),
            1 => "1 (one at a time)".to_owned(),
            n => n.to_string(),
        };
        let rate = if self.rate > 0.0 {
            format!("{} tokens/s", self.rate)
        } else {
            "unpaced".to_owned()
        };
        let _ = writeln!(md, "# spillway-loadtest: {}\n", self.transport.as_str());
        let _ = writeln!(
            md,
            "{} streams of {} tokens at {rate}; arrival {arrival}; concurrency {concurrency}.  ",
            self.streams, self.tokens
        );
        if let Some(tool) = &self.tool {
            let _ = writeln!(
                md,
                "Tool-call streams: each answer is one call of `{TOOL_NAME}` ({} required string \
                 properties), no text; its input comes in {} deltas (the tokens column). The \
                 gateway sends the call's start, the deltas, its end and the final event \
                 ({} events a stream); the baseline counts the same: the `tool_use` block's start, \
                 its `input_json_delta`s, its stop and `message_stop`. TTFT is to the call's start.  ",
                tool.properties,
                tool.deltas,
                tool.gateway_events()
            );
        }
        if let Some(tool) = &self.offered {
            let _ = writeln!(
                md,
                "Text streams whose requests carry the tool `{TOOL_NAME}` ({} required string \
                 properties, as `--tool-call` would call) without calling it.  ",
                tool.properties
            );
        }
        let baseline = match &self.baseline_url {
            Some(url) => format!("baseline: the simulator at `{url}` through the Bedrock SDK"),
            None => "no baseline".to_owned(),
        };
        let _ = writeln!(md, "Gateway `{}`; {baseline}.\n", self.target);
        let _ = writeln!(
            md,
            "| | completed | failed | lost | dup | tokens | TTFT p50 ms | TTFT p99 ms | gap p50 ms | gap p99 ms | events/s |"
        );
        let _ = writeln!(
            md,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        row(
            &mut md,
            &format!("gateway ({})", self.transport.as_str()),
            &self.gateway,
        );
        if let Some(b) = &self.baseline {
            row(&mut md, "baseline (simulator)", b);
            let (t, g) = (self.ttft_added(), self.gap_added());
            let _ = writeln!(
                md,
                "| **added by the gateway** | | | | | | {} | {} | {} | {} | |",
                signed(t.map(|p| p.p50)),
                signed(t.map(|p| p.p99)),
                signed(g.map(|p| p.p50)),
                signed(g.map(|p| p.p99)),
            );
            if let (Some(gw), Some(base)) = (self.gateway.ttft, b.ttft)
                && base.p50 > 0.0
            {
                let _ = writeln!(
                    md,
                    "\nMedian time to first token: gateway {:.3} ms vs simulator {:.3} ms (× {:.3}).",
                    gw.p50,
                    base.p50,
                    gw.p50 / base.p50
                );
            }
        }
        if let Some(c) = self.gateway.connect {
            let _ = writeln!(
                md,
                "\nConnection set-up per stream (TCP, upgrade, JWT, greeting; not in TTFT): \
                 p50 {:.3} ms, p99 {:.3} ms.",
                c.p50, c.p99
            );
        }
        if let Some(t) = self.gateway.connect_ttft {
            let _ = writeln!(
                md,
                "Set-up plus time to first token: p50 {:.3} ms, p99 {:.3} ms.",
                t.p50, t.p99
            );
        }
        if let Some(u) = &self.usage {
            let per_stream_kib = per(
                (u.rss_peak_mb - u.rss_start_mb).max(0.0) * 1024.0,
                self.streams,
            );
            let cpu_per_1k = per(u.cpu_secs * 1e6, self.gateway.events);
            let cpu_per_stream_ms = per(u.cpu_secs * 1e3, self.streams);
            let _ = writeln!(
                md,
                "\nGateway process: RSS {:.1} MiB before, {:.1} MiB peak ({per_stream_kib:.1} KiB per stream); \
                 CPU {:.2} s over {:.1} s ({cpu_per_1k:.1} ms per 1,000 events, \
                 {cpu_per_stream_ms:.3} ms per stream).",
                u.rss_start_mb, u.rss_peak_mb, u.cpu_secs, u.wall_secs
            );
            if let (Some(start), Some(peak)) = (u.fds_start, u.fds_peak) {
                let _ = writeln!(md, "Open descriptors: {start} before, {peak} at the peak.");
            }
        }
        if let (Some(sim), Some(b)) = (&self.sim_cpu, &self.baseline) {
            let per_1k = |secs: f64, events: u64| per(secs * 1e6, events);
            let per_stream_ms = |secs: f64| per(secs * 1e3, self.streams);
            let _ = writeln!(
                md,
                "Simulator process: CPU {:.2} s serving the baseline ({:.1} ms per 1,000 events, \
                 {:.3} ms per stream), {:.2} s feeding the gateway ({:.1} ms per 1,000 events, \
                 {:.3} ms per stream).",
                sim.baseline_secs,
                per_1k(sim.baseline_secs, b.events),
                per_stream_ms(sim.baseline_secs),
                sim.gateway_secs,
                per_1k(sim.gateway_secs, self.gateway.events),
                per_stream_ms(sim.gateway_secs),
            );
        }
        failures(&mut md, "Failures (gateway)", &self.gateway.errors);
        if let Some(b) = &self.baseline {
            failures(&mut md, "Failures (baseline)", &b.errors);
        }
        md
    }
}

/// The failure messages and their counts, under `heading` (nothing when
/// there were none).
/// `total` shared out over `count` (0 when there is nothing to share it by).
fn per(total: f64, count: u64) -> f64 {
    if count > 0 { total / count as f64 } else { 0.0 }
}

pub fn failures(md: &mut String, heading: &str, errors: &BTreeMap<String, u64>) {
    if errors.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n{heading}:\n");
    for (msg, n) in errors {
        let _ = writeln!(md, "- {n} × `{}`", msg.replace('`', "'"));
    }
}

/// Counts one more `error`.
pub fn tally(errors: &mut BTreeMap<String, u64>, error: String) {
    *errors.entry(error).or_default() += 1;
}

fn row(md: &mut String, label: &str, s: &Side) {
    let _ = writeln!(
        md,
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
        s.completed,
        s.failed,
        s.lost,
        s.duplicates,
        s.tokens,
        num(s.ttft.map(|p| p.p50)),
        num(s.ttft.map(|p| p.p99)),
        num(s.gap.map(|p| p.p50)),
        num(s.gap.map(|p| p.p99)),
        s.events_per_sec,
    );
}

pub(crate) fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

pub(crate) fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        let p = Percentiles::of_nanos(values).unwrap();
        assert_eq!(
            p,
            Percentiles {
                p50: 50.0,
                p99: 99.0
            }
        );
        let one = Percentiles::of_nanos(vec![1_234_567]).unwrap();
        assert_eq!(
            one,
            Percentiles {
                p50: 1.235,
                p99: 1.235
            }
        );
        assert_eq!(Percentiles::of_nanos(vec![]), None);
    }

    #[test]
    fn the_report_has_exactly_the_contract_fields() {
        let report = Report {
            transport: "sse".into(),
            streams: 2,
            completed: 2,
            failed: 0,
            lost_events: 0,
            ttft_ms: Some(Percentiles {
                p50: 21.0,
                p99: 22.0,
            }),
            ttft_added_ms: None,
            gap_ms: Some(Percentiles {
                p50: 20.0,
                p99: 20.5,
            }),
            events_per_sec: 100.0,
            gateway_rss_mb: None,
        };
        let v = serde_json::to_value(&report).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "completed",
                "eventsPerSec",
                "failed",
                "gapMs",
                "gatewayRssMb",
                "lostEvents",
                "streams",
                "transport",
                "ttftAddedMs",
                "ttftMs"
            ]
        );
        assert_eq!(v["ttftMs"], serde_json::json!({"p50": 21.0, "p99": 22.0}));
        assert!(v["ttftAddedMs"].is_null() && v["gatewayRssMb"].is_null());
    }
}
