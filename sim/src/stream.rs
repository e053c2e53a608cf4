//! The paced generator: one stream's frames, timed by the directive, as a body stream.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::answer::Answer;
use super::cache::CacheUsage;
use super::directive::Directive;
use super::families::{Finish, Out, Shaper, Stop};
use super::stats::Counters;
use super::wire;

/// No single wait is longer than this, whatever the directive says.
const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// How long a `drop_after` stream waits between its partial frame and the cut.
pub(crate) const ABORT_DELAY: Duration = Duration::from_millis(20);

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
///
/// Pacing, faults and the token counts count *deltas*: reasoning, text and
/// tool-input deltas alike (text only, unless the answer reasons or calls tools).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Deltas in a full answer.
    pub deltas: u32,
    /// Why the full answer ends.
    pub stop: Stop,
    /// A failure, and the number of deltas sent before it (at most `deltas`).
    pub fault: Option<(Fault, u32)>,
    pub ttft: Duration,
    /// Tokens per second; `0` for no pacing.
    pub rate: f64,
    pub input_tokens: u32,
    /// Prompt-cache reads and writes (requests with cache points).
    pub cache: Option<CacheUsage>,
}

impl Plan {
    /// The plan for an answer of `deltas` deltas ending with `stop`.
    pub(crate) fn new(directive: &Directive, deltas: u32, stop: Stop, input_tokens: u32) -> Self {
        // The earliest failure wins; on a tie error, then drop, then stall.
        let fault = [
            (Fault::Error, directive.error_after),
            (Fault::Drop, directive.drop_after),
            (Fault::Stall, directive.stall_after),
        ]
        .into_iter()
        .filter_map(|(fault, after)| after.map(|n| (fault, n.min(deltas))))
        .min_by_key(|(_, n)| *n);
        Self {
            deltas,
            stop,
            fault,
            ttft: directive.ttft.min(MAX_DELAY),
            rate: directive.rate,
            input_tokens,
            cache: None,
        }
    }

    /// When token `k` (0-based) is due, counted from the request.
    pub(crate) fn offset(&self, k: u32) -> Duration {
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
    answer: Answer,
    shaper: Box<dyn Shaper>,
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
        answer: Answer,
        shaper: Box<dyn Shaper>,
        requested_at: Instant,
        counters: Arc<Counters>,
        halt: CancellationToken,
    ) -> Self {
        counters.stream_started();
        Self {
            plan,
            answer,
            shaper,
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
                // Let hyper flush what came before (it flushes when the body
                // is pending), so the client sees the tokens, then the cut.
                tokio::select! {
                    () = tokio::time::sleep(ABORT_DELAY) => {}
                    () = self.halt.cancelled() => {}
                }
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
        let wait = fault.is_some() || k < self.plan.deltas || k == 0;
        let due = self.requested_at + self.plan.offset(k);
        if wait && due > Instant::now() {
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

    /// The bytes of one step: the start chunks before the first delta, then a
    /// delta, the end of the answer, or the planned failure.
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
                let outs = if self.sent < self.plan.deltas {
                    self.answer.next(self.shaper.as_mut())
                } else {
                    self.ending()
                };
                encode(&outs, &mut next)?;
                let half = (next.len() / 2).max(1);
                buf.extend_from_slice(&next[..half.min(next.len())]);
                self.phase = Phase::Aborting;
            }
            None if self.sent < self.plan.deltas => {
                let outs = self.answer.next(self.shaper.as_mut());
                encode(&outs, &mut buf)?;
                self.sent += 1;
                self.counters.token_sent();
            }
            None => {
                let outs = self.ending();
                encode(&outs, &mut buf)?;
                self.phase = Phase::Ending;
            }
        }
        Ok(buf.freeze())
    }

    /// The last chunks: the open content blocks closed, then the finish.
    fn ending(&mut self) -> Vec<Out> {
        let mut outs = self.answer.close(self.shaper.as_mut());
        let finish = self.finish();
        outs.extend(self.shaper.finish(&finish));
        if let Some(intervention) = &finish.guardrail {
            intervention.mark_invoke_chunks(&mut outs);
        }
        outs
    }

    fn finish(&self) -> Finish {
        let now = Instant::now();
        let first_byte = self.first_byte_at.unwrap_or(now);
        Finish {
            stop: self.plan.stop,
            stop_sequence: self.answer.stop_sequence().map(str::to_owned),
            guardrail: self.answer.intervention().cloned(),
            input_tokens: self.plan.input_tokens,
            cache: self.plan.cache,
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

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Delta;
    use crate::families::{Out, Prompt};
    use futures_util::StreamExt;

    fn directive(text: &str) -> Directive {
        Directive::from_text(text)
    }

    /// The plan and answer for a text-only prompt.
    fn planned(text: &str, max_tokens: u32) -> (Plan, Answer) {
        let directive = directive(text);
        let prompt = Prompt::text(text.to_owned(), max_tokens);
        let answer = Answer::new(&prompt, &directive, false).unwrap();
        let plan = Plan::new(&directive, answer.deltas(), answer.stop(), 4);
        (plan, answer)
    }

    fn plan(text: &str, max_tokens: u32) -> Plan {
        planned(text, max_tokens).0
    }

    #[test]
    fn plan_caps_tokens_at_max_tokens() {
        let capped = plan("[[sim tokens=50]]", 10);
        assert_eq!((capped.deltas, capped.stop), (10, Stop::Length));
        let full = plan("[[sim tokens=10]]", 10);
        assert_eq!((full.deltas, full.stop), (10, Stop::End));
        assert_eq!(full.input_tokens, 4);
    }

    #[test]
    fn plan_picks_the_earliest_fault_within_the_answer() {
        let stall = plan("[[sim tokens=9 stall_after=5 error_after=7]]", 100);
        assert_eq!(stall.fault, Some((Fault::Stall, 5)));
        let error = plan("[[sim tokens=9 drop_after=3 error_after=3]]", 100);
        assert_eq!(error.fault, Some((Fault::Error, 3)));
        let drop = plan("[[sim tokens=4 drop_after=30]]", 100);
        assert_eq!(drop.fault, Some((Fault::Drop, 4)));
        assert_eq!(plan("", 100).fault, None);
    }

    #[test]
    fn offsets_follow_ttft_and_rate_and_are_bounded() {
        let paced = plan("[[sim ttft_ms=100 rate=10]]", 100);
        assert_eq!(paced.offset(0), Duration::from_millis(100));
        assert_eq!(paced.offset(5), Duration::from_millis(600));
        let fast = plan("[[sim ttft_ms=0 rate=0]]", 100);
        assert_eq!(fast.offset(1000), Duration::ZERO);
        let slow = plan("[[sim rate=0.0000000000001]]", 100);
        assert_eq!(slow.offset(50), MAX_DELAY);
    }

    /// A shaper that names each chunk, to check the generator's ordering.
    struct Labels;

    impl Shaper for Labels {
        fn start(&mut self) -> Vec<Out> {
            vec![Out::Event("start", serde_json::json!({}))]
        }
        fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
            vec![Out::Event(
                "token",
                serde_json::json!({ "delta": format!("{delta:?}") }),
            )]
        }
        fn finish(&mut self, finish: &Finish) -> Vec<Out> {
            vec![Out::Event(
                "finish",
                serde_json::json!({ "outputTokens": finish.output_tokens }),
            )]
        }
    }

    async fn run(text: &str) -> (Vec<String>, Option<io::Error>, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let (plan, answer) = planned(text, 100);
        let generator = Generator::new(
            plan,
            answer,
            Box::new(Labels),
            Instant::now(),
            counters.clone(),
            CancellationToken::new(),
        );
        let mut stream = Box::pin(generator.into_stream());
        let mut bytes = BytesMut::new();
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) => error = Some(e),
            }
        }
        let mut bytes = bytes.freeze();
        let mut names = Vec::new();
        while let Ok(message) = aws_smithy_eventstream::frame::read_message_from(&mut bytes) {
            let name = message
                .headers()
                .iter()
                .find(|h| matches!(h.name().as_str(), ":event-type" | ":exception-type"))
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            names.push(name);
        }
        if !bytes.is_empty() {
            names.push(format!("partial {} bytes", bytes.len()));
        }
        (names, error, counters)
    }

    #[tokio::test]
    async fn normal_stream_order_and_counts() {
        let (names, error, counters) = run("[[sim tokens=3 rate=0 ttft_ms=0]]").await;
        assert_eq!(names, ["start", "token", "token", "token", "finish"]);
        assert!(error.is_none());
        let stats = counters.snapshot();
        assert_eq!(
            (
                stats.streams_started,
                stats.streams_completed,
                stats.tokens_sent
            ),
            (1, 1, 3)
        );
    }

    #[tokio::test]
    async fn zero_tokens_still_start_and_finish() {
        let (names, _, _) = run("[[sim tokens=0 rate=0 ttft_ms=0]]").await;
        assert_eq!(names, ["start", "finish"]);
    }

    #[tokio::test]
    async fn error_after_ends_with_an_exception_frame() {
        let (names, error, counters) = run("[[sim tokens=3 error_after=1 rate=0 ttft_ms=0]]").await;
        assert_eq!(names, ["start", "token", "modelStreamErrorException"]);
        assert!(error.is_none());
        let stats = counters.snapshot();
        assert_eq!((stats.streams_completed, stats.streams_cancelled), (0, 0));
    }

    #[tokio::test]
    async fn drop_after_sends_a_partial_frame_then_an_error() {
        let (names, error, counters) = run("[[sim tokens=3 drop_after=2 rate=0 ttft_ms=0]]").await;
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names[3].starts_with("partial"), "{names:?}");
        assert!(error.is_some());
        let stats = counters.snapshot();
        assert_eq!(
            (
                stats.streams_completed,
                stats.streams_cancelled,
                stats.tokens_sent
            ),
            (0, 0, 2)
        );
    }

    #[tokio::test]
    async fn dropping_an_unfinished_stream_counts_a_cancel() {
        let counters = Arc::new(Counters::default());
        let (plan, answer) = planned("[[sim tokens=3 rate=0 ttft_ms=0]]", 100);
        let generator = Generator::new(
            plan,
            answer,
            Box::new(Labels),
            Instant::now(),
            counters.clone(),
            CancellationToken::new(),
        );
        let mut stream = Box::pin(generator.into_stream());
        assert!(stream.next().await.is_some());
        drop(stream);
        let stats = counters.snapshot();
        assert_eq!(
            (
                stats.streams_started,
                stats.streams_cancelled,
                stats.streams_completed
            ),
            (1, 1, 0)
        );
    }
}
