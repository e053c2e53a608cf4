//! Scenario 3, the ramp (`--ramp 100,200,500,…`): the ordinary stream run
//! (gateway, and with `--baseline` the baseline first) at each concurrency
//! in turn, `--streams` = the step, stopping at the first step that fails:
//!
//! - a gateway stream failed, or an event was lost or duplicated; or
//! - the gateway's p99 inter-token gap minus the baseline's (without a
//!   baseline: minus the pacing interval `1000/rate` ms) exceeds twice the
//!   pacing interval.
//!
//! Each step's connections come from fresh loopback source addresses (see
//! [`Sources::starting_at`]), clear of the previous steps' closed ports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::Args;
use crate::error::Error;
use crate::report::{Percentiles, Report, Run, failures, num, signed};
use crate::sources::Sources;

/// Pause between steps, so one step's connections are closed before the next.
const PAUSE: Duration = Duration::from_secs(1);

/// One step of the ramp: the stream run's report plus what the verdict needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    #[serde(flatten)]
    pub run: Report,
    pub duplicated: u64,
    /// Gateway gap minus the baseline's (without one: minus the pacing interval).
    pub gap_added_ms: Option<Percentiles>,
    /// Baseline streams that failed (not part of the verdict).
    pub baseline_failed: Option<u64>,
    /// The gateway's CPU time (user + system) over the step (baseline phase included).
    pub gateway_cpu_secs: Option<f64>,
    /// The most descriptors the gateway held open during the step (`/proc/<pid>/fd`).
    #[serde(default)]
    pub gateway_fds_peak: Option<u64>,
    pub passed: bool,
    /// Why the step failed.
    pub reason: Option<String>,
}

/// The JSON report of a ramp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RampReport {
    pub transport: String,
    pub tokens: u32,
    pub rate: f64,
    /// `1000 / rate`.
    pub pacing_interval_ms: f64,
    /// Largest p99 gap added that passes: twice the pacing interval.
    pub gap_limit_ms: f64,
    pub baseline: bool,
    pub steps: Vec<StepReport>,
    /// The largest step that passed (`null`: none did).
    pub largest_passed: Option<u64>,
    /// The step the ramp stopped at (`null`: every step passed).
    pub stopped_at: Option<u64>,
}

/// What the verdict looks at, taken from one step's run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub failed: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// The gateway's p99 gap and, with a baseline, the baseline's (`Some(None)`:
    /// there was a baseline but it measured no gap).
    pub gap_p99: Option<f64>,
    pub baseline_gap_p99: Option<Option<f64>>,
}

/// Passes, or says why not. `interval_ms` is the pacing interval.
pub fn verdict(f: &Figures, interval_ms: f64) -> Result<(), String> {
    if f.failed > 0 {
        return Err(format!("{} stream(s) failed", f.failed));
    }
    if f.lost > 0 || f.duplicated > 0 {
        return Err(format!(
            "{} event(s) lost, {} duplicated",
            f.lost, f.duplicated
        ));
    }
    let gap = f.gap_p99.ok_or("no inter-token gap measured")?;
    let (base, against) = match f.baseline_gap_p99 {
        Some(Some(b)) => (b, "the baseline's"),
        Some(None) => return Err("the baseline measured no inter-token gap".into()),
        None => (interval_ms, "the pacing interval"),
    };
    let added = gap - base;
    let limit = 2.0 * interval_ms;
    if added > limit {
        return Err(format!(
            "p99 gap {gap:.3} ms is {added:.3} ms over {against} ({base:.3} ms), \
             more than 2 × {interval_ms:.3} ms"
        ));
    }
    Ok(())
}

/// A finished ramp.
#[derive(Debug, Clone)]
pub struct RampRun {
    pub report: RampReport,
    pub target: String,
    pub arrival: f64,
    /// Each step's failure messages, by step.
    pub errors: Vec<(u64, BTreeMap<String, u64>)>,
    /// Each step's gateway gaps, sorted, in nanoseconds (for the plot).
    pub gaps_ns: Vec<(u64, Vec<u64>)>,
}

pub async fn run(args: &Args) -> Result<RampRun, Error> {
    if args.rate <= 0.0 {
        return Err(Error::Unsupported(
            "--ramp judges the inter-token gap against the pacing: give --rate > 0".into(),
        ));
    }
    if args.tokens < 2 {
        return Err(Error::Unsupported(
            "--ramp needs --tokens 2 or more (it judges inter-token gaps)".into(),
        ));
    }
    let interval_ms = 1000.0 / args.rate;
    let mut report = RampReport {
        transport: args.transport.as_str().to_owned(),
        tokens: args.tokens,
        rate: args.rate,
        pacing_interval_ms: round3(interval_ms),
        gap_limit_ms: round3(2.0 * interval_ms),
        baseline: args.baseline.is_some(),
        steps: Vec::new(),
        largest_passed: None,
        stopped_at: None,
    };
    let (mut errors, mut gaps_ns) = (Vec::new(), Vec::new());
    let mut first = 1u8;
    for (k, &n) in args.ramp.iter().enumerate() {
        if k > 0 {
            tokio::time::sleep(PAUSE).await;
        }
        if !args.quiet {
            eprintln!("ramp: {n} streams");
        }
        let mut step_args = args.clone();
        step_args.streams = n;
        let sources = Sources::starting_at(&args.target, args.source_addrs, n, first);
        first = match sources.next_first() {
            f if f > 254 => 1,
            f => f,
        };
        let run = crate::run_from(&step_args, sources).await?;
        let step = step_report(&run, interval_ms);
        let passed = step.passed;
        if passed {
            report.largest_passed = report.largest_passed.max(Some(n));
        }
        errors.push((n, run.gateway.errors.clone()));
        gaps_ns.push((n, run.gateway.gaps_ns));
        report.steps.push(step);
        if !passed {
            report.stopped_at = Some(n);
            break;
        }
    }
    Ok(RampRun {
        report,
        target: args.target.clone(),
        arrival: args.arrival,
        errors,
        gaps_ns,
    })
}

fn step_report(run: &Run, interval_ms: f64) -> StepReport {
    let g = &run.gateway;
    let figures = Figures {
        failed: g.failed,
        lost: g.lost,
        duplicated: g.duplicates,
        gap_p99: g.gap.map(|p| p.p99),
        baseline_gap_p99: run.baseline.as_ref().map(|b| b.gap.map(|p| p.p99)),
    };
    let outcome = verdict(&figures, interval_ms);
    let gap_added_ms = match &run.baseline {
        Some(_) => run.gap_added(),
        None => g.gap.map(|p| {
            p.minus(Percentiles {
                p50: interval_ms,
                p99: interval_ms,
            })
        }),
    };
    StepReport {
        run: run.report(),
        duplicated: g.duplicates,
        gap_added_ms,
        baseline_failed: run.baseline.as_ref().map(|b| b.failed),
        gateway_cpu_secs: run.usage.map(|u| round3(u.cpu_secs)),
        gateway_fds_peak: run.usage.and_then(|u| u.fds_peak),
        passed: outcome.is_ok(),
        reason: outcome.err(),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl RampRun {
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let _ = writeln!(md, "# spillway-loadtest: ramp over {}\n", r.transport);
        let arrival = if self.arrival > 0.0 {
            format!("{} streams/s", self.arrival)
        } else {
            "all at once".to_owned()
        };
        let _ = writeln!(
            md,
            "Gateway `{}`; {} tokens at {} tokens/s per stream (pacing {:.3} ms); arrival {arrival}; {}.  ",
            self.target,
            r.tokens,
            r.rate,
            r.pacing_interval_ms,
            if r.baseline {
                "added = gateway − baseline (same step)"
            } else {
                "no baseline: gap added = gateway − pacing interval"
            }
        );
        let _ = writeln!(
            md,
            "A step fails on any failed stream, lost or duplicated event, or a p99 gap added over {:.3} ms.\n",
            r.gap_limit_ms
        );
        let _ = writeln!(
            md,
            "| streams | completed | failed | lost | TTFT p50 ms | TTFT p99 ms | TTFT added p50 | TTFT added p99 | gap p50 ms | gap p99 ms | gap added p50 | gap added p99 | events/s | RSS MiB | CPU s | fds peak | verdict |"
        );
        let _ = writeln!(
            md,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for s in &r.steps {
            let g = &s.run;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
                g.streams,
                g.completed,
                g.failed,
                g.lost_events,
                num(g.ttft_ms.map(|p| p.p50)),
                num(g.ttft_ms.map(|p| p.p99)),
                signed(g.ttft_added_ms.map(|p| p.p50)),
                signed(g.ttft_added_ms.map(|p| p.p99)),
                num(g.gap_ms.map(|p| p.p50)),
                num(g.gap_ms.map(|p| p.p99)),
                signed(s.gap_added_ms.map(|p| p.p50)),
                signed(s.gap_added_ms.map(|p| p.p99)),
                g.events_per_sec,
                g.gateway_rss_mb
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
                s.gateway_cpu_secs
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
                s.gateway_fds_peak
                    .map_or_else(|| "–".to_owned(), |v| v.to_string()),
                if s.passed { "pass" } else { "**fail**" },
            );
        }
        let _ = writeln!(
            md,
            "\nLargest step that passed: {}.",
            r.largest_passed
                .map_or_else(|| "none".to_owned(), |n| format!("{n} streams"))
        );
        if let Some(s) = r.steps.iter().find(|s| !s.passed) {
            let _ = writeln!(
                md,
                "Stopped at {} streams: {}.",
                s.run.streams,
                s.reason.as_deref().unwrap_or("?")
            );
        }
        for (n, errors) in &self.errors {
            failures(&mut md, &format!("Failures at {n} streams"), errors);
        }
        md
    }
}

/// Writes the JSON report, the Markdown summary and the gap CDF per step.
pub fn write_reports(args: &Args, run: &RampRun) -> Result<(), Error> {
    crate::write_json_md(args, &run.report, run.markdown())?;
    if let Some(dir) = &args.plot {
        crate::create_dir(dir)?;
        let names: Vec<String> = run
            .gaps_ns
            .iter()
            .map(|(n, _)| format!("{n} streams"))
            .collect();
        let series: Vec<(&str, &[u64])> = names
            .iter()
            .zip(&run.gaps_ns)
            .map(|(name, (_, gaps))| (name.as_str(), gaps.as_slice()))
            .collect();
        crate::plot::cdf(
            &crate::plot::path_for(dir, &args.json, "gap-cdf"),
            &format!(
                "Inter-token gap through the gateway at each step ({})",
                run.report.transport
            ),
            "gap between tokens (ms)",
            &series,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(gap: f64, base: Option<Option<f64>>) -> Figures {
        Figures {
            failed: 0,
            lost: 0,
            duplicated: 0,
            gap_p99: Some(gap),
            baseline_gap_p99: base,
        }
    }

    #[test]
    fn the_gap_is_judged_against_the_baseline() {
        // 20 tokens/s: 50 ms pacing, at most 100 ms added.
        assert!(verdict(&clean(160.0, Some(Some(60.0))), 50.0).is_ok());
        let e = verdict(&clean(160.1, Some(Some(60.0))), 50.0).unwrap_err();
        assert!(e.contains("over the baseline's"), "{e}");
        assert!(verdict(&clean(100.0, Some(None)), 50.0).is_err());
    }

    #[test]
    fn without_a_baseline_the_gap_is_judged_against_the_pacing() {
        assert!(verdict(&clean(150.0, None), 50.0).is_ok());
        let e = verdict(&clean(151.0, None), 50.0).unwrap_err();
        assert!(e.contains("pacing interval"), "{e}");
    }

    #[test]
    fn failures_and_lost_events_fail_the_step() {
        let mut f = clean(50.0, None);
        f.failed = 1;
        assert_eq!(verdict(&f, 50.0).unwrap_err(), "1 stream(s) failed");
        let mut f = clean(50.0, None);
        f.duplicated = 2;
        assert!(verdict(&f, 50.0).unwrap_err().contains("2 duplicated"));
        let mut f = clean(50.0, None);
        f.gap_p99 = None;
        assert!(verdict(&f, 50.0).is_err());
    }

    #[test]
    fn a_step_report_flattens_the_stream_report() {
        let step = StepReport {
            run: Report {
                transport: "sse".into(),
                streams: 100,
                completed: 100,
                failed: 0,
                lost_events: 0,
                ttft_ms: None,
                ttft_added_ms: None,
                gap_ms: None,
                events_per_sec: 1.0,
                gateway_rss_mb: None,
            },
            duplicated: 0,
            gap_added_ms: None,
            baseline_failed: None,
            gateway_cpu_secs: None,
            gateway_fds_peak: Some(20_000),
            passed: true,
            reason: None,
        };
        let v = serde_json::to_value(&step).unwrap();
        assert_eq!(v["streams"], 100);
        assert_eq!(v["lostEvents"], 0);
        assert_eq!(v["passed"], true);
        let back: StepReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, step);
    }
}
