//! The paced generator: one stream's frames, timed by the directive, as a body stream.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::directive::Directive;
use super::families::{Finish, Out, Shaper, Stop};
use super::stats::Counters;
use super::text::Tokens;
use super::wire;

/// No single wait is longer than this, whatever the directive says.
const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// A mid-stream failure a directive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Send a `modelStreamErrorException` frame and end the body.
    Error,
    /// Send nothing more; keep the connection open.
    Stall,
    /// Send part of a frame, then abort the connection.
    Drop,
}

/// What one stream will do, worked out before it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Text tokens in a full answer.
    pub tokens: u32,
    /// Why the full answer ends.
    pub stop: Stop,
    /// A failure, and the number of tokens sent before it (at most `tokens`).
    pub fault: Option<(Fault, u32)>,
    pub ttft: Duration,
    /// Tokens per second; `0` for no pacing.
    pub rate: f64,
    pub input_tokens: u32,
}

impl Plan {
    pub(crate) fn new(directive: &Directive, max_tokens: u32, input_tokens: u32) -> Self {
        let (tokens, stop) = if directive.tokens > max_tokens {
            (max_tokens, Stop::Length)
        } else {
            (directive.tokens, Stop::End)
        };
        // The earliest failure wins; on a tie error, then drop, then stall.
        let fault = [
            (Fault::Error, directive.error_after),
            (Fault::Drop, directive.drop_after),
            (Fault::Stall, directive.stall_after),
        ]
        .into_iter()
        .filter_map(|(fault, after)| after.map(|n| (fault, n.min(tokens))))
        .min_by_key(|(_, n)| *n);
        Self {
            tokens,
            stop,
            fault,
            ttft: directive.ttft.min(MAX_DELAY),
            rate: directive.rate,
            input_tokens,
        }
    }

    /// When token `k` (0-based) is due, counted from the request.
    fn offset(&self, k: u32) -> Duration {
        let pacing = if self.rate > 0.0 {
            Duration::try_from_secs_f64(f64::from(k) / self.rate).unwrap_or(MAX_DELAY)
        } else {
            Duration::ZERO
        };
        self.ttft.saturating_add(pacing).min(MAX_DELAY)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending tokens.
    Streaming,
    /// The last frames are out; the next poll ends the body normally.
    Ending,
    /// `stall_after`: wait for the client to leave (or the server to stop).
    Stalled,
    /// `drop_after`: a partial frame is out; the next poll aborts.
    Aborting,
    /// `error_after`: the exception frame is out; the next poll ends the body.
    Closing,
    /// Nothing more to send.
    Done,
}

/// One stream's state. Dropping it before it ended (the client went away)
/// counts a cancelled stream; since the generator *is* the body, nothing
/// keeps running after that.
pub(crate) struct Generator {
    plan: Plan,
    shaper: Box<dyn Shaper>,
    tokens: Tokens,
    sent: u32,
    started: bool,
    phase: Phase,
    requested_at: Instant,
    first_byte_at: Option<Instant>,
    counters: Arc<Counters>,
    halt: CancellationToken,
}

impl Generator {
    /// Counts the stream as started.
    pub(crate) fn new(
        plan: Plan,
        shaper: Box<dyn Shaper>,
        prompt: &str,
        requested_at: Instant,
        counters: Arc<Counters>,
        halt: CancellationToken,
    ) -> Self {
        counters.stream_started();
        Self {
            plan,
            shaper,
            tokens: Tokens::for_prompt(prompt),
            sent: 0,
            started: false,
            phase: Phase::Streaming,
            requested_at,
            first_byte_at: None,
            counters,
            halt,
        }
    }

    /// The generator as a body stream of frame bytes.
    pub(crate) fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        futures_util::stream::unfold(self, |mut generator| async move {
            let item = generator.step().await?;
            Some((item, generator))
        })
    }

    async fn step(&mut self) -> Option<io::Result<Bytes>> {
        match self.phase {
            Phase::Streaming => {}
            Phase::Done => return None,
            Phase::Closing => {
                self.phase = Phase::Done;
                return None;
            }
            Phase::Ending => {
                self.counters.stream_completed();
                self.phase = Phase::Done;
                return None;
            }
            Phase::Aborting => {
                self.phase = Phase::Done;
                return Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "simulated dropped connection (drop_after)",
                )));
            }
            Phase::Stalled => {
                self.halt.cancelled().await;
                return Some(self.halted());
            }
        }
        let k = self.sent;
        let fault = self.plan.fault.filter(|(_, at)| *at == k).map(|(f, _)| f);
        let wait = fault.is_some() || k < self.plan.tokens || k == 0;
        if wait {
            let due = self.requested_at + self.plan.offset(k);
            tokio::select! {
                () = sleep_until(due) => {}
                () = self.halt.cancelled() => return Some(self.halted()),
            }
        }
        let result = self.frames(fault);
        if result.is_err() {
            self.phase = Phase::Done;
        }
        match result {
            Ok(buf) if buf.is_empty() && self.phase == Phase::Stalled => {
                self.halt.cancelled().await;
                Some(self.halted())
            }
            other => Some(other),
        }
    }

    /// The bytes of one step: the start chunks before the first token, then a
    /// token, the end of the answer, or the planned failure.
    fn frames(&mut self, fault: Option<Fault>) -> io::Result<Bytes> {
        let mut buf = BytesMut::new();
        if !self.started {
            self.started = true;
            self.first_byte_at = Some(Instant::now());
            let start = self.shaper.start();
            encode(&start, &mut buf)?;
        }
        match fault {
            Some(Fault::Error) => {
                buf.extend_from_slice(&wire::model_stream_error_frame()?);
                self.phase = Phase::Closing;
            }
            Some(Fault::Stall) => self.phase = Phase::Stalled,
            Some(Fault::Drop) => {
                let mut next = BytesMut::new();
                let outs = if self.sent < self.plan.tokens {
                    let token = self.tokens.next().unwrap_or_default();
                    self.shaper.token(&token)
                } else {
                    let finish = self.finish();
                    self.shaper.finish(&finish)
                };
                encode(&outs, &mut next)?;
                let half = (next.len() / 2).max(1);
                buf.extend_from_slice(&next[..half.min(next.len())]);
                self.phase = Phase::Aborting;
            }
            None if self.sent < self.plan.tokens => {
                let token = self.tokens.next().unwrap_or_default();
                let outs = self.shaper.token(&token);
                encode(&outs, &mut buf)?;
                self.sent += 1;
                self.counters.token_sent();
            }
            None => {
                let finish = self.finish();
                let outs = self.shaper.finish(&finish);
                encode(&outs, &mut buf)?;
                self.phase = Phase::Ending;
            }
        }
        Ok(buf.freeze())
    }

    fn finish(&self) -> Finish {
        let now = Instant::now();
        let first_byte = self.first_byte_at.unwrap_or(now);
        Finish {
            stop: self.plan.stop,
            input_tokens: self.plan.input_tokens,
            output_tokens: self.sent,
            latency_ms: millis(now - self.requested_at),
            first_byte_ms: millis(first_byte - self.requested_at),
        }
    }

    /// The server is shutting down: abort the response.
    fn halted(&mut self) -> io::Result<Bytes> {
        self.phase = Phase::Done;
        Err(io::Error::other("simulator shutting down"))
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        if matches!(
            self.phase,
            Phase::Streaming | Phase::Ending | Phase::Stalled
        ) {
            self.counters.stream_cancelled();
        }
    }
}

fn encode(outs: &[Out], buf: &mut BytesMut) -> io::Result<()> {
    for out in outs {
        let frame = match out {
            Out::Chunk(chunk) => wire::chunk_frame(chunk)?,
            Out::Event(event_type, payload) => wire::event_frame(event_type, payload)?,
        };
        buf.extend_from_slice(&frame);
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
