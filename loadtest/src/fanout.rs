//! Scenario 6, fan-out (`--subscribers N`): ONE stream is started on the
//! gateway over SSE (`POST /v1/stream`; its reader is the *original*),
//! and as soon as its `X-Session-Id` is known, N subscribers attach to the
//! session over `--transport`: `sse` = `GET /v1/sessions/{id}/stream`,
//! `ws` = a `/v1/ws` socket each with `{"action":"subscribe",…}`,
//! `graphql` = a `/graphql` socket each with the
//! `onTokenReceived(sessionId)` subscription.
//!
//! Every subscriber's copy is checked for lost and duplicated `seq`s, and
//! each event's arrival there minus its arrival at the original is its
//! delay ([`crate::copies`], as in the relay measurement). The simulator
//! waits `--sim-ttft-ms` before the first token (default
//! [`DEFAULT_TTFT_MS`]) so the subscribers can attach first; events that
//! reached the original before a subscriber attached are replays from the
//! session log, counted apart and left out of the delays. A socket
//! subscriber counts as attached when its subscribe message is sent (the
//! protocols do not acknowledge it); an SSE one when its response headers
//! come.

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
use crate::copies::{Delay, Reading, behind, for_plot, ms};
use crate::error::Error;
use crate::record::nanos;
use crate::report::{Percentiles, failures, num, signed, tally};
use crate::runner::{Gate, or_default};
use crate::sources::{Sources, round_robin};
use crate::transport::graphql::{self, GraphqlClient};
use crate::transport::socket::{self, Ws};
use crate::transport::sse;
use crate::transport::ws::{self, WsClient};
use crate::usage::Sampler;

/// The simulator's wait before the first token when `--sim-ttft-ms` is not given.
pub const DEFAULT_TTFT_MS: u32 = 1000;
/// Subscribers attaching at once when `--concurrency` is 0.
pub const DEFAULT_ATTACHING: usize = 64;

/// The JSON report of a fan-out run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutReport {
    pub transport: String,
    pub subscribers: u64,
    /// Subscribers that read to the final event with nothing lost or duplicated.
    pub completed: u64,
    pub failed: u64,
    pub lost_events: u64,
    pub duplicated: u64,
    /// Events delivered to the subscribers, replays included.
    pub events: u64,
    /// `events` over the time from the original's first event to the last
    /// arrival at any subscriber.
    pub events_per_sec: f64,
    /// Events that reached the original before their subscriber attached.
    pub replayed_events: u64,
    /// Events compared with the original (`events` − `replayedEvents`).
    pub compared_events: u64,
    /// Each subscriber's copy behind the original reader.
    pub delay_ms: Option<Delay>,
    pub delay_max_ms: Option<f64>,
    /// From starting to attach to being attached (SSE: headers; sockets:
    /// subscribe sent, greeting included).
    pub attach_ms: Option<Percentiles>,
    /// Subscribers attached before the original's first event.
    pub attached_before_first_event: u64,
    pub original_completed: bool,
    pub source_addrs: u8,
    pub gateway_rss_mb: Option<f64>,
    pub gateway_cpu_secs: Option<f64>,
}

/// A finished fan-out run.
#[derive(Debug, Clone)]
pub struct FanoutRun {
    pub report: FanoutReport,
    pub target: String,
    pub tokens: u32,
    pub rate: f64,
    pub ttft_ms: u32,
    pub errors: BTreeMap<String, u64>,
    /// Every compared delay, sorted, in nanoseconds (negatives as 0).
    pub delays_ns: Vec<u64>,
}

/// How subscribers attach.
enum Attacher {
    Sse {
        http: Vec<reqwest::Client>,
        base: String,
        token: String,
    },
    Ws(WsClient),
    Graphql(GraphqlClient),
}

/// One subscriber: its reading, and how long attaching took.
struct Subscriber {
    reading: Reading,
    attach: Option<Duration>,
}

impl Attacher {
    fn new(args: &Args, sources: Sources, http: Vec<reqwest::Client>) -> Result<Self, Error> {
        let (target, token, model) = (&args.target, &args.token, &args.model);
        Ok(match args.transport {
            TransportKind::Sse => Self::Sse {
                http,
                base: target.trim_end_matches('/').to_owned(),
                token: token.clone(),
            },
            TransportKind::Ws => Self::Ws(WsClient::new(target, token, model, sources)?),
            TransportKind::Graphql => {
                Self::Graphql(GraphqlClient::new(target, token, model, sources)?)
            }
            TransportKind::Bedrock | TransportKind::Openai => {
                return Err(Error::Unsupported(
                    "--subscribers attaches over sse, ws or graphql (the Bedrock and OpenAI APIs have no attach)"
                        .into(),
                ));
            }
        })
    }

    /// Attaches subscriber `i` (then calls `done_attaching`) and reads to the end.
    async fn subscribe(
        &self,
        i: u64,
        from: Option<IpAddr>,
        id: &str,
        done_attaching: impl FnOnce(),
    ) -> Subscriber {
        let t0 = Instant::now();
        let attached = self.attach(i, from, id).await;
        let attach = attached.is_ok().then(|| t0.elapsed());
        done_attaching();
        let reading = match attached {
            Err(e) => Reading::failed(e),
            Ok(Attached::Sse(resp)) => Reading::of_sse(Instant::now(), resp).await,
            Ok(Attached::Socket(mut s, graphql, at)) => {
                let mut reading = Reading::at(at);
                reading.error = if graphql {
                    graphql::read_events(&mut s, &mut reading, true).await
                } else {
                    ws::read_events(&mut s, &mut reading).await
                }
                .err();
                socket::close(*s).await;
                reading
            }
        };
        Subscriber { reading, attach }
    }

    async fn attach(&self, i: u64, from: Option<IpAddr>, id: &str) -> Result<Attached, String> {
        match self {
            Self::Sse { http, base, token } => {
                let http = round_robin(http, i).ok_or("no HTTP client")?;
                Ok(Attached::Sse(sse::attach(http, base, token, id).await?))
            }
            Self::Ws(c) => {
                let mut s = c.open(from).await?;
                ws::subscribe(&mut s, id, i).await?;
                Ok(Attached::Socket(Box::new(s), false, Instant::now()))
            }
            Self::Graphql(c) => {
                let mut s = c.open(from).await?;
                graphql::subscribe(&mut s, id).await?;
                Ok(Attached::Socket(Box::new(s), true, Instant::now()))
            }
        }
    }
}

enum Attached {
    Sse(reqwest::Response),
    /// The socket, whether it speaks GraphQL, when the subscribe was sent.
    Socket(Box<Ws>, bool, Instant),
}

pub async fn run(args: &Args) -> Result<FanoutRun, Error> {
    let n = args.subscribers.unwrap_or(0);
    let ttft_ms = args.sim_ttft_ms.unwrap_or(DEFAULT_TTFT_MS);
    let mut one = args.clone();
    one.streams = 1;
    one.sim_ttft_ms = Some(ttft_ms);
    let spec = crate::stream_specs(&one)
        .pop()
        .ok_or_else(|| Error::Scheduler("no stream to start".into()))?;
    let sources = Sources::for_target(&args.target, args.source_addrs, n + 1);
    let http = sources.http_clients()?;
    let attacher = Arc::new(Attacher::new(args, sources, http.clone())?);
    let open = Arc::new(AtomicU64::new(0));
    let sampler = args
        .gateway_pid
        .map(|pid| Sampler::start(pid, Arc::clone(&open)))
        .transpose()?;
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::MAX);

    // The original: one stream over SSE.
    let url = format!("{}/v1/stream", args.target.trim_end_matches('/'));
    let first = http
        .first()
        .ok_or_else(|| Error::Scheduler("no HTTP client".into()))?;
    let resp = sse::start(first, &url, &args.token, &args.model, &spec)
        .await
        .map_err(|e| Error::Unsupported(format!("starting the stream failed: {e}")))?;
    let id = sse::session_id(&resp)
        .ok_or_else(|| Error::Unsupported("the gateway sent no X-Session-Id".into()))?;
    let original = tokio::spawn(tokio::time::timeout(
        timeout,
        Reading::of_sse(Instant::now(), resp),
    ));

    let progress = crate::progress_bar(n, args.quiet);
    progress.set_prefix("attaching");
    let gate = Gate::new(
        args.arrival,
        or_default(args.concurrency, DEFAULT_ATTACHING),
    );
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let permit = gate.admit(i).await?;
        let (attacher, open, id) = (Arc::clone(&attacher), Arc::clone(&open), id.clone());
        let from = sources.pick(i + 1);
        let bar = progress.clone();
        tasks.spawn(async move {
            open.fetch_add(1, Ordering::Relaxed);
            let sub = attacher.subscribe(i, from, &id, move || {
                drop(permit);
                bar.inc(1);
            });
            let sub = tokio::time::timeout(timeout, sub)
                .await
                .unwrap_or_else(|_| Subscriber {
                    reading: Reading::failed(format!(
                        "timed out after {:.1} s",
                        timeout.as_secs_f64()
                    )),
                    attach: None,
                });
            open.fetch_sub(1, Ordering::Relaxed);
            sub
        });
    }
    progress.set_prefix("subscribed");
    let mut subs = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut errors = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(s) => subs.push(s),
            Err(e) => tally(&mut errors, format!("subscriber task failed: {e}")),
        }
    }
    progress.finish_and_clear();
    let original = match original.await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Reading::failed("the original timed out".into()),
        Err(e) => Reading::failed(format!("the original's task failed: {e}")),
    };
    let usage = sampler.map(|s| s.finish().0);
    let mut tally_run = fold(&original, &subs);
    for (e, k) in std::mem::take(&mut tally_run.errors) {
        *errors.entry(e).or_default() += k;
    }
    let mut report = tally_run.report;
    report.transport = args.transport.as_str().to_owned();
    report.subscribers = n;
    report.failed = n.saturating_sub(report.completed);
    report.source_addrs = sources.count();
    report.gateway_rss_mb = usage.map(|u| (u.rss_peak_mb * 10.0).round() / 10.0);
    report.gateway_cpu_secs = usage.map(|u| (u.cpu_secs * 100.0).round() / 100.0);
    Ok(FanoutRun {
        report,
        target: args.target.clone(),
        tokens: args.tokens,
        rate: args.rate,
        ttft_ms,
        errors,
        delays_ns: tally_run.delays_ns,
    })
}

/// The subscribers' readings, folded against the original's.
struct Folded {
    report: FanoutReport,
    errors: BTreeMap<String, u64>,
    delays_ns: Vec<u64>,
}

fn fold(original: &Reading, subs: &[Subscriber]) -> Folded {
    let mut errors = BTreeMap::new();
    if let Some(e) = &original.error {
        tally(&mut errors, format!("original: {e}"));
    }
    let at = original.by_seq();
    let first_event = original.arrivals.iter().map(|a| a.1).min();
    let mut r = FanoutReport {
        transport: String::new(),
        subscribers: subs.len() as u64,
        completed: 0,
        failed: 0,
        lost_events: 0,
        duplicated: 0,
        events: 0,
        events_per_sec: 0.0,
        replayed_events: 0,
        compared_events: 0,
        delay_ms: None,
        delay_max_ms: None,
        attach_ms: None,
        attached_before_first_event: 0,
        original_completed: original.ok(),
        source_addrs: 1,
        gateway_rss_mb: None,
        gateway_cpu_secs: None,
    };
    let (mut delays, mut attach_ns) = (Vec::new(), Vec::new());
    let mut last_arrival = first_event;
    for s in subs {
        let reading = &s.reading;
        if reading.ok() {
            r.completed += 1;
        } else if let Some(e) = &reading.error {
            tally(&mut errors, e.clone());
        } else {
            tally(&mut errors, "lost or duplicated events".into());
        }
        r.lost_events += reading.seq.lost;
        r.duplicated += reading.seq.duplicates;
        r.events += reading.arrivals.len() as u64;
        attach_ns.extend(s.attach.map(nanos));
        if let (Some(a), Some(f)) = (reading.attached, first_event)
            && a < f
        {
            r.attached_before_first_event += 1;
        }
        last_arrival = last_arrival.max(reading.arrivals.iter().map(|a| a.1).max());
        let b = behind(&at, reading);
        r.replayed_events += b.replayed;
        delays.extend(b.delays_ns);
    }
    r.failed = r.subscribers - r.completed;
    delays.sort_unstable();
    r.compared_events = delays.len() as u64;
    r.delay_ms = Delay::of_sorted(&delays);
    r.delay_max_ms = delays.last().map(|&d| ms(d));
    r.attach_ms = Percentiles::of_nanos(attach_ns);
    if let (Some(f), Some(l)) = (first_event, last_arrival) {
        let secs = (l - f).as_secs_f64();
        if secs > 0.0 {
            r.events_per_sec = (r.events as f64 / secs).round();
        }
    }
    Folded {
        report: r,
        errors,
        delays_ns: for_plot(&delays),
    }
}

impl FanoutRun {
    pub fn markdown(&self) -> String {
        let r = &self.report;
        let mut md = String::new();
        let _ = writeln!(md, "# spillway-loadtest: fan-out over {}\n", r.transport);
        let _ = writeln!(
            md,
            "One stream of {} tokens at {} tokens/s (first token after {} ms), started on `{}` \
             over SSE; {} subscribers attached to its session over {} from {} source address(es).\n",
            self.tokens,
            self.rate,
            self.ttft_ms,
            self.target,
            r.subscribers,
            r.transport,
            r.source_addrs
        );
        let _ = writeln!(
            md,
            "| completed | failed | lost | dup | events | events/s | replayed | delay p50 ms | delay p99 ms | delay max ms | attach p50 ms | attach p99 ms |"
        );
        let _ = writeln!(
            md,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            r.completed,
            r.failed,
            r.lost_events,
            r.duplicated,
            r.events,
            r.events_per_sec,
            r.replayed_events,
            signed(r.delay_ms.map(|d| d.p50)),
            signed(r.delay_ms.map(|d| d.p99)),
            signed(r.delay_max_ms),
            num(r.attach_ms.map(|p| p.p50)),
            num(r.attach_ms.map(|p| p.p99)),
        );
        let _ = writeln!(
            md,
            "\n{} of {} subscribers attached before the first event; the original {}.",
            r.attached_before_first_event,
            r.subscribers,
            if r.original_completed {
                "completed"
            } else {
                "did not complete"
            }
        );
        if let (Some(rss), Some(cpu)) = (r.gateway_rss_mb, r.gateway_cpu_secs) {
            let _ = writeln!(
                md,
                "Gateway process: RSS peak {rss:.1} MiB; CPU {cpu:.2} s."
            );
        }
        failures(&mut md, "Failures", &self.errors);
        md
    }
}

/// Writes the JSON report, the Markdown summary and the delay CDF.
pub fn write_reports(args: &Args, run: &FanoutRun) -> Result<(), Error> {
    crate::write_json_md(args, &run.report, run.markdown())?;
    if let Some(dir) = &args.plot {
        crate::create_dir(dir)?;
        crate::plot::cdf(
            &crate::plot::path_for(dir, &args.json, "delay-cdf"),
            &format!(
                "Delay of {} subscribers' copies behind the original reader",
                run.report.subscribers
            ),
            "delay behind the original SSE reader (ms; negative drawn at 0)",
            &[(
                &format!("subscribers ({})", run.report.transport),
                &run.delays_ns,
            )],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copies::tests::reading;

    fn sub(r: Reading) -> Subscriber {
        Subscriber {
            reading: r,
            attach: Some(Duration::from_millis(3)),
        }
    }

    #[test]
    fn folds_subscribers_against_the_original() {
        let t0 = Instant::now();
        let original = reading(t0, 0, &[(0, 100), (1, 200), (2, 300)]);
        let early = reading(t0, 50, &[(0, 101), (1, 202), (2, 303)]);
        let late = reading(t0, 150, &[(0, 151), (1, 204), (2, 306)]); // seq 0 replayed
        let lossy = reading(t0, 50, &[(0, 101), (2, 301)]);
        let mut broken = reading(t0, 50, &[(0, 101), (0, 102)]);
        broken.error = Some("SSE stream broke".into());
        let f = fold(&original, &[sub(early), sub(late), sub(lossy), sub(broken)]);
        let r = &f.report;
        assert_eq!((r.subscribers, r.completed, r.failed), (4, 2, 2));
        assert_eq!((r.lost_events, r.duplicated), (1, 1));
        assert_eq!((r.events, r.replayed_events), (10, 1));
        assert_eq!(r.compared_events, 9);
        assert_eq!(r.delay_max_ms, Some(6.0));
        assert_eq!(r.attached_before_first_event, 3);
        assert!(r.original_completed);
        // 10 events from 100 ms (original's first) to 306 ms.
        assert_eq!(r.events_per_sec, (10.0 / 0.206f64).round());
        assert_eq!(f.errors.get("SSE stream broke"), Some(&1));
        assert_eq!(f.errors.get("lost or duplicated events"), Some(&1));
        assert_eq!(f.delays_ns.len(), 9);
    }
}
