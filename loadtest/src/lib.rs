//! `spillway-loadtest`: opens many streams through a Spillway gateway and,
//! optionally, the same streams straight against the Bedrock simulator, and
//! reports what the gateway adds (time to first token, inter-token gaps, lost
//! events, throughput, the gateway's memory and CPU).
//!
//! # Layout
//!
//! - [`cli`]: the command line (`Args`), the contract in PRODUCT.md.
//! - [`transport`]: one client per way of reaching a stream — the gateway over
//!   SSE, WebSocket and GraphQL (one file each) and the simulator's Bedrock
//!   endpoint through the real SDK (the baseline).
//! - [`record`]: what one stream measured, and the `seq` check (lost, duplicated).
//! - [`runner`]: arrival rate, concurrency, timeouts; folds records into aggregates.
//! - [`usage`]: the gateway process's RSS and CPU, sampled from `/proc`.
//! - [`report`]: the JSON report and the Markdown summary.
//! - [`plot`]: SVG plots beside the report (`--plot DIR`).
//! - [`idle`]: idle WebSockets and the gateway's memory per connection
//!   (`--idle-connections N`).
//! - [`relay`]: one fleet, two nodes: how late a session's events reach a
//!   reader on the other node vs one on the same node (`--relay-via URL`).
//! - [`ramp`]: the stream run at rising concurrencies, to the first step
//!   that fails (`--ramp 100,200,…`).
//! - [`handshake`]: WebSocket connections opened and closed, JWT checked
//!   on each (`--handshakes N`).
//! - [`fanout`]: one stream, N subscribers to its session (`--subscribers N`).
//! - [`copies`]: one session's readers compared event by event (relay, fan-out).
//! - [`sources`]: loopback source addresses for many connections.
//! - [`tool`]: the tool of `--tool-call` streams, sized so its input
//!   streams in `--tokens` deltas.

pub mod cli;
pub mod copies;
pub mod error;
pub mod fanout;
pub mod handshake;
pub mod idle;
pub mod plot;
pub mod ramp;
pub mod record;
pub mod relay;
pub mod report;
pub mod runner;
pub mod sources;
pub mod tool;
pub mod transport;
pub mod usage;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};

pub use cli::{Args, TransportKind};
pub use error::Error;
pub use report::{Report, Run, SimCpu};

use runner::Schedule;
use sources::Sources;
use transport::{Client, StreamSpec};
use usage::Sampler;

/// Runs the streams `args` asks for and returns the measurements (nothing is
/// written; see [`write_reports`]).
pub async fn run(args: &Args) -> Result<Run, Error> {
    run_from(
        args,
        Sources::for_target(&args.target, args.source_addrs, args.streams),
    )
    .await
}

/// The same, with the gateway streams' source addresses given.
pub async fn run_from(args: &Args, sources: Sources) -> Result<Run, Error> {
    let gateway = Arc::new(Client::gateway(args, sources)?);
    let baseline = match &args.baseline {
        Some(url) => Some(Arc::new(Client::baseline(url, args.baseline_model())?)),
        None => None,
    };
    let specs = stream_specs(args);
    let schedule = Schedule {
        arrival: args.arrival,
        concurrency: args.concurrency,
        timeout: Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX),
    };
    let total = specs.len() as u64 * if baseline.is_some() { 2 } else { 1 };
    let progress = progress_bar(total, args.quiet);
    let open = Arc::new(AtomicU64::new(0));
    let sampler = args
        .gateway_pid
        .map(|pid| Sampler::start(pid, Arc::clone(&open)))
        .transpose()?;

    // One stream at a time: the baseline and the gateway alternate, stream by
    // stream, so drift on a noisy machine hits both alike. Otherwise the
    // baseline runs first, on its own, then the gateway with the same schedule.
    let mut sim_cpu = None;
    let (gateway_agg, baseline_agg) = match baseline {
        Some(baseline) if args.concurrency == 1 => {
            progress.set_prefix("baseline+gateway");
            let mut aggs =
                runner::run_phase(&[baseline, gateway], specs, &schedule, &progress, &open).await?;
            let gateway = aggs.pop().unwrap_or_default();
            (gateway, aggs.pop())
        }
        Some(baseline) => {
            let sim_before = args.sim_pid.map(usage::cpu_secs).transpose()?;
            progress.set_prefix("baseline");
            let base = runner::run_phase(&[baseline], specs.clone(), &schedule, &progress, &open)
                .await?
                .pop();
            let sim_between = args.sim_pid.map(usage::cpu_secs).transpose()?;
            progress.set_prefix("gateway");
            let gw = runner::run_phase(&[gateway], specs, &schedule, &progress, &open)
                .await?
                .pop()
                .unwrap_or_default();
            let sim_after = args.sim_pid.map(usage::cpu_secs).transpose()?;
            if let (Some(a), Some(b), Some(c)) = (sim_before, sim_between, sim_after) {
                sim_cpu = Some(SimCpu {
                    baseline_secs: b - a,
                    gateway_secs: c - b,
                });
            }
            (gw, base)
        }
        None => {
            progress.set_prefix("gateway");
            let gw = runner::run_phase(&[gateway], specs, &schedule, &progress, &open)
                .await?
                .pop()
                .unwrap_or_default();
            (gw, None)
        }
    };
    progress.finish_and_clear();
    let usage = sampler.map(Sampler::finish);
    let mut run = Run::new(args, gateway_agg, baseline_agg, usage);
    run.sim_cpu = sim_cpu;
    Ok(run)
}

/// Writes the JSON report (and the Markdown summary, when asked for).
pub fn write_reports(args: &Args, run: &Run) -> Result<(), Error> {
    write_json_md(args, &run.report(), run.markdown())?;
    if let Some(dir) = &args.plot {
        plot_run(args, dir, run)?;
    }
    Ok(())
}

/// The latency CDFs (gateway vs baseline) and memory vs connections.
fn plot_run(args: &Args, dir: &std::path::Path, run: &Run) -> Result<(), Error> {
    create_dir(dir)?;
    let t = run.transport.as_str();
    let gateway = format!("gateway ({t})");
    let empty: &[u64] = &[];
    let base = run.baseline.as_ref();
    plot::cdf(
        &plot::path_for(dir, &args.json, "ttft-cdf"),
        &format!("Time to first token, {} streams over {t}", run.streams),
        "time to first token (ms)",
        &[
            ("baseline (simulator)", base.map_or(empty, |b| &b.ttft_ns)),
            (&gateway, &run.gateway.ttft_ns),
        ],
    )?;
    plot::cdf(
        &plot::path_for(dir, &args.json, "gap-cdf"),
        &format!("Inter-token gap at {} tokens/s over {t}", run.rate),
        "gap between tokens (ms)",
        &[
            ("baseline (simulator)", base.map_or(empty, |b| &b.gaps_ns)),
            (&gateway, &run.gateway.gaps_ns),
        ],
    )?;
    plot::memory(
        &plot::path_for(dir, &args.json, "memory"),
        &format!("Gateway memory vs open {t} streams"),
        &run.memory,
    )
}

/// Writes a mode's JSON report to `--json` and its summary to `--markdown`.
pub(crate) fn write_json_md(
    args: &Args,
    report: &impl serde::Serialize,
    markdown: String,
) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(report)?;
    write(&args.json, json + "\n")?;
    match &args.markdown {
        Some(path) => write(path, markdown),
        None => Ok(()),
    }
}

pub(crate) fn create_dir(dir: &std::path::Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

pub(crate) fn write(path: &std::path::Path, text: String) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One spec per stream; the nonce makes every prompt unique across runs, and
/// stream `i` of the baseline and of the gateway send the same prompt (so the
/// simulator answers both with the same text). With `--tool-call` the answer
/// is one call of [`tool::TOOL_NAME`] and no text (`tokens=0`); with
/// `--offer-tool` the request carries that tool and the answer is text.
pub(crate) fn stream_specs(args: &Args) -> Vec<StreamSpec> {
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let ttft = args
        .sim_ttft_ms
        .map(|ms| format!(" ttft_ms={ms}"))
        .unwrap_or_default();
    let tool = (args.tool_call || args.offer_tool)
        .then(|| Arc::new(tool::ToolCall::for_deltas(args.tokens)));
    let (text_tokens, call, max_tokens) = match &tool {
        Some(t) if args.tool_call => (
            0,
            format!(" tool={}", tool::TOOL_NAME),
            args.tokens.max(t.deltas),
        ),
        _ => (args.tokens, String::new(), args.tokens),
    };
    (0..args.streams)
        .map(|i| StreamSpec {
            index: i,
            tokens: max_tokens,
            prompt: format!(
                "[[sim tokens={text_tokens} rate={}{ttft}{call}]] Load test stream {i}, \
                 nonce {run_id:x}-{i}. Tell me about rivers.",
                args.rate
            ),
            tool: tool.clone(),
            calls_tool: args.tool_call,
        })
        .collect()
}

pub(crate) fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>16} {elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
