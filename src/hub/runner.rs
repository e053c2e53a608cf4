//! The upstream task of a session: the log's only writer. It applies the
//! first-token and idle timeouts, and cancels the upstream call when no one
//! has been reading for the cancel grace period.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::session::{Session, SessionStatus};
use crate::cost::Prices;
use crate::error::ErrorCode;
use crate::event::EventError;
use crate::metrics::Metrics;
use crate::parts::blocks::{Blocks, Emit};
use crate::upstream::{Delta, DeltaStream, UpstreamError, UpstreamErrorKind, Usage};
use crate::woken::Woken;

/// Timing rules for one upstream task.
#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub cancel_grace: Duration,
    pub max_events: u64,
}

#[derive(Default)]
struct Tally {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
    tokens_seen: u64,
    /// Events written (text and parts).
    events: u64,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    /// Time to the first event, once there is one.
    ttft: Option<Duration>,
}

impl Tally {
    /// The final usage, with its cost when `model` has a price.
    fn usage(&self, prices: &Prices, model: &str) -> Usage {
        let mut usage = Usage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(self.tokens_seen),
            cache_read_input_tokens: self.cache_read_input_tokens,
            cache_write_input_tokens: self.cache_write_input_tokens,
            cost_usd: None,
        };
        usage.cost_usd = prices.cost(model, &usage);
        usage
    }
}

/// What a run saw besides what it wrote to the session.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ran {
    /// Time to the first event, if one came.
    pub ttft: Option<Duration>,
    /// Bedrock reported token counts. Without them the final usage is a
    /// stand-in (no input, the events seen as output).
    pub counted: bool,
}

/// Feed `stream` into `session` until it ends, fails, times out or is
/// cancelled.
pub async fn run(
    session: Arc<Session>,
    mut stream: DeltaStream,
    cfg: RunnerConfig,
    metrics: &Metrics,
    requested: Instant,
    prices: &Prices,
) -> Ran {
    let _running = metrics.upstream_guard();
    let readers = session.watch_readers();
    let cancel = session.cancel_token().clone();
    let mut tally = Tally::default();
    let mut blocks = Blocks::default();
    let mut emitted: Vec<Emit> = Vec::with_capacity(2);
    let mut grace_until: Option<Instant> =
        (*readers.borrow() == 0).then(|| Instant::now() + cfg.cancel_grace);

    // The cancel signal and both timers are made once and reset in place:
    // made afresh for every chunk, they cost a mutex, a timer-wheel insert
    // and a removal per token (seen in the profile, BENCHMARKS.md).
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let grace = sleep_until(grace_until.unwrap_or_else(far_future));
    tokio::pin!(grace);
    let idle = sleep_until(Instant::now() + cfg.first_token_timeout);
    tokio::pin!(idle);
    // The wait for a reader to come or go is made once too, and again only
    // after it fires: a `changed()` made for each pass registered with the
    // watch and unregistered again on every token.
    let readers_changed = next_reader_change(readers);
    tokio::pin!(readers_changed);
    // When the newest frame came. The idle timer is moved to the first
    // frame's deadline once, then only when it fires (to the newest frame's
    // deadline, if that is later): a timer-wheel move per token showed in
    // the per-event profile.
    let mut last_frame: Option<Instant> = None;

    // The signals above are polled only after one of them woke the task: a
    // pass woken by the stream (most of them) skips their locks.
    let signals = Woken::new();

    let outcome: Result<(), Ended> = loop {
        // The stream first: when a token is ready the signals are not
        // looked at.
        let wake = poll_fn(|cx| {
            if let Poll::Ready(item) = stream.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Item(item));
            }
            signals.poll(cx, |cx| {
                if cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Cancelled);
                }
                if grace_until.is_some() && grace.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Abandoned);
                }
                if let Poll::Ready((readers, changed)) = readers_changed.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Readers(readers, changed));
                }
                if idle.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Idle);
                }
                Poll::Pending
            })
        })
        .await;
        match wake {
            Wake::Item(item) => {
                // The flag, not the signal: with the stream polled first, a
                // cancel must still win over an item ready with it.
                if cancel.is_cancelled() {
                    break Err(Ended::Cancelled);
                }
                match item {
                    None => {
                        // Close a block left open (a tool call's end carries its input).
                        if let Err(e) = blocks.finish(tally.stop_reason.as_deref(), &mut emitted) {
                            break Err(Ended::Failed(UpstreamError::new(
                                UpstreamErrorKind::Decode,
                                e,
                            )));
                        }
                        match append(&session, &mut emitted, &mut tally, cfg, metrics, requested) {
                            Some(ended) => break Err(ended),
                            None => break Ok(()),
                        }
                    }
                    Some(Err(e)) => break Err(Ended::Failed(e)),
                    Some(Ok(delta)) => {
                        let now = Instant::now();
                        if last_frame.is_none() {
                            idle.as_mut().reset(now + cfg.idle_timeout);
                            signals.mark();
                        }
                        last_frame = Some(now);
                        match delta {
                            Delta::Stop(r) => tally.stop_reason = Some(r),
                            Delta::StopSequence(s) => tally.stop_sequence = Some(s),
                            Delta::Usage {
                                input_tokens,
                                output_tokens,
                                cache_read_input_tokens,
                                cache_write_input_tokens,
                            } => {
                                tally.input_tokens = input_tokens.or(tally.input_tokens);
                                tally.output_tokens = output_tokens.or(tally.output_tokens);
                                tally.cache_read_input_tokens =
                                    cache_read_input_tokens.or(tally.cache_read_input_tokens);
                                tally.cache_write_input_tokens =
                                    cache_write_input_tokens.or(tally.cache_write_input_tokens);
                                // Counted before the answer: APIs that open
                                // with the prompt's usage can show it.
                                if let (0, Some(input_tokens)) = (tally.events, input_tokens) {
                                    session.set_prompt_usage(Usage {
                                        input_tokens,
                                        output_tokens: 0,
                                        cache_read_input_tokens: tally.cache_read_input_tokens,
                                        cache_write_input_tokens: tally.cache_write_input_tokens,
                                        cost_usd: None,
                                    });
                                }
                            }
                            Delta::Latency { .. } | Delta::Alive => {}
                            content => {
                                if let Err(e) = blocks.apply(content, &mut emitted) {
                                    break Err(Ended::Failed(UpstreamError::new(
                                        UpstreamErrorKind::Decode,
                                        e,
                                    )));
                                }
                                if let Some(ended) = append(
                                    &session,
                                    &mut emitted,
                                    &mut tally,
                                    cfg,
                                    metrics,
                                    requested,
                                ) {
                                    break Err(ended);
                                }
                            }
                        }
                    }
                }
            }
            Wake::Cancelled => break Err(Ended::Cancelled),
            Wake::Abandoned => break Err(Ended::Abandoned),
            Wake::Readers(readers, changed) => {
                if changed.is_err() {
                    break Err(Ended::Cancelled);
                }
                grace_until = (*readers.borrow() == 0).then(|| Instant::now() + cfg.cancel_grace);
                if let Some(until) = grace_until {
                    grace.as_mut().reset(until);
                }
                readers_changed.set(next_reader_change(readers));
            }
            Wake::Idle => {
                if let Some(due) = last_frame.map(|t| t + cfg.idle_timeout)
                    && due > Instant::now()
                {
                    idle.as_mut().reset(due);
                    continue;
                }
                let got_first = tally.events > 0;
                let (kind, what) = if got_first {
                    (UpstreamErrorKind::IdleTimeout, "no data from the model")
                } else {
                    (
                        UpstreamErrorKind::FirstTokenTimeout,
                        "no first token from the model",
                    )
                };
                let limit = if got_first {
                    cfg.idle_timeout
                } else {
                    cfg.first_token_timeout
                };
                break Err(Ended::Failed(UpstreamError::new(
                    kind,
                    format!("{what} within {} s", limit.as_secs_f32()),
                )));
            }
        }
    };
    // Dropping the stream here drops the SDK's response body: the upstream
    // HTTP connection is closed and Bedrock stops generating.
    drop(stream);

    let final_usage = tally.usage(prices, session.model());
    let counted = tally.input_tokens.is_some() || tally.output_tokens.is_some();
    metrics.usage_by_model(session.model(), &final_usage, counted);
    let usage = Some(final_usage);
    match outcome {
        Ok(()) => {
            let reason = tally
                .stop_reason
                .take()
                .unwrap_or_else(|| "end_turn".into());
            if reason == "guardrail_intervened" {
                metrics.guardrail_intervened(session.model());
            }
            session.complete(reason, tally.stop_sequence.take(), usage);
            metrics.session_ended("complete");
        }
        Err(Ended::Cancelled) if session.was_cut() => {
            // The drain ran out of time: a retryable error, so no client
            // takes a cut answer for a whole one.
            let error = EventError::new(
                ErrorCode::ShuttingDown,
                "the gateway shut down before the answer finished; try again",
            );
            session.finish(SessionStatus::Failed, None, usage, Some(error));
            metrics.session_ended("cut");
        }
        Err(Ended::Cancelled) => {
            session.finish(
                SessionStatus::Cancelled,
                Some("cancelled".into()),
                usage,
                None,
            );
            metrics.session_ended("cancelled");
        }
        Err(Ended::Abandoned) => {
            tracing::info!(session = %session.id(), "no readers left; upstream cancelled");
            session.finish(
                SessionStatus::Cancelled,
                Some("cancelled".into()),
                usage,
                None,
            );
            metrics.session_ended("abandoned");
        }
        Err(Ended::Failed(e)) => {
            tracing::warn!(session = %session.id(), code = e.code(), error = %e, "stream failed");
            let error = EventError::from(&e);
            session.finish(SessionStatus::Failed, None, usage, Some(error));
            metrics.upstream_error(e.code());
            metrics.session_ended("failed");
        }
    }
    Ran {
        ttft: tally.ttft,
        counted,
    }
}

/// Write what the last delta made to the log. The first event of any kind
/// (text, reasoning, a tool call) is the time to first token. `Some` when
/// the log is full.
fn append(
    session: &Session,
    emitted: &mut Vec<Emit>,
    tally: &mut Tally,
    cfg: RunnerConfig,
    metrics: &Metrics,
    requested: Instant,
) -> Option<Ended> {
    for (token, part) in emitted.drain(..) {
        if tally.events == 0 {
            let ttft = requested.elapsed();
            metrics.observe_ttft(ttft);
            tally.ttft = Some(ttft);
        }
        tally.events += 1;
        if part.is_none() {
            metrics.tokens_out.inc();
            tally.tokens_seen += 1;
        }
        // Leave room for the final event.
        if session.push(token, part) + 1 >= cfg.max_events {
            return Some(Ended::Failed(UpstreamError::new(
                UpstreamErrorKind::LogFull,
                format!("the session reached its limit of {} events", cfg.max_events),
            )));
        }
    }
    None
}

/// What woke one pass of the runner.
enum Wake {
    Item(Option<Result<Delta, UpstreamError>>),
    Cancelled,
    Abandoned,
    Readers(watch::Receiver<usize>, Result<(), watch::error::RecvError>),
    Idle,
}

enum Ended {
    Cancelled,
    Abandoned,
    Failed(UpstreamError),
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// The next change of a session's reader count, with the receiver handed
/// back to read it and wait again.
async fn next_reader_change(
    mut readers: watch::Receiver<usize>,
) -> (watch::Receiver<usize>, Result<(), watch::error::RecvError>) {
    let changed = readers.changed().await;
    (readers, changed)
}
