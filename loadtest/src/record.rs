//! What one stream measured, and the `seq` check that finds lost and
//! duplicated events.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// A duration in nanoseconds (saturating).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Checks that `seq` starts at 0 and grows by one per event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeqCheck {
    next: u64,
    /// Sequence numbers skipped over (events that never arrived).
    pub lost: u64,
    /// Events whose `seq` was already seen (or went backwards).
    pub duplicates: u64,
}

impl SeqCheck {
    pub fn observe(&mut self, seq: u64) {
        if seq >= self.next {
            self.lost += seq - self.next;
            self.next = seq + 1;
        } else {
            self.duplicates += 1;
        }
    }
}

/// Everything one stream measured.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub started: Instant,
    pub ended: Instant,
    /// Opening the connection before the request (TCP, WebSocket upgrade,
    /// the gateway's greeting), for transports that hold one per stream;
    /// not part of `ttft`.
    pub connect: Option<Duration>,
    /// From sending the request to the first content event: a text token
    /// or, in a tool-call stream, the call's start.
    pub ttft: Option<Duration>,
    /// Between consecutive deltas (text tokens or tool-input deltas), in
    /// nanoseconds.
    pub gaps_ns: Vec<u64>,
    /// Events received (deltas, tool-call starts and ends, the final event).
    pub events: u64,
    /// Deltas received: text tokens, or a tool call's input deltas.
    pub tokens: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Why the stream did not complete, if it did not.
    pub error: Option<String>,
}

impl StreamRecord {
    /// Completed: the final event came, without an error, and no event was
    /// lost or duplicated.
    pub fn completed(&self) -> bool {
        self.error.is_none() && self.lost == 0 && self.duplicates == 0
    }

    /// A stream that produced nothing before `error`.
    pub fn failed(started: Instant, error: String) -> Self {
        Recorder::starting_at(started).finish(Err(error))
    }
}

/// Collects a [`StreamRecord`] as events arrive.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    last_token: Option<Instant>,
    connect: Option<Duration>,
    ttft: Option<Duration>,
    gaps_ns: Vec<u64>,
    events: u64,
    tokens: u64,
    /// Content events that are not deltas (a tool call's start and end).
    markers: u64,
    /// A tool-call stream's expected deltas and markers.
    expect: Option<(u64, u64)>,
    seq: SeqCheck,
}

impl Recorder {
    /// Starts the clock: call just before sending the request.
    pub fn start() -> Self {
        Self::starting_at(Instant::now())
    }

    fn starting_at(started: Instant) -> Self {
        Self {
            started,
            last_token: None,
            connect: None,
            ttft: None,
            gaps_ns: Vec::new(),
            events: 0,
            tokens: 0,
            markers: 0,
            expect: None,
            seq: SeqCheck::default(),
        }
    }

    /// How long opening the connection took (before [`Recorder::start`]).
    pub fn connected(&mut self, took: Duration) {
        self.connect = Some(took);
    }

    /// A delta arrived at `at`: a text token, or a piece of a tool call's
    /// input (the simulator paces both alike).
    pub fn token(&mut self, at: Instant) {
        self.first_content(at);
        if let Some(prev) = self.last_token {
            self.gaps_ns.push(nanos(at.saturating_duration_since(prev)));
        }
        self.last_token = Some(at);
        self.tokens += 1;
        self.events += 1;
    }

    /// A content event that is not a delta arrived at `at`: a tool call's
    /// start (the stream's first content) or its end. No gap is taken:
    /// each comes with a delta, not on the pacing schedule.
    pub fn marker(&mut self, at: Instant) {
        self.first_content(at);
        self.markers += 1;
        self.events += 1;
    }

    fn first_content(&mut self, at: Instant) {
        if self.ttft.is_none() {
            self.ttft = Some(at.saturating_duration_since(self.started));
        }
    }

    /// A tool-call stream must bring `deltas` input deltas and two markers
    /// (the call's start and end); otherwise it did not complete.
    pub fn expect_tool_call(&mut self, deltas: u32) {
        self.expect = Some((u64::from(deltas), 2));
    }

    /// Any other event (the final one).
    pub fn other(&mut self) {
        self.events += 1;
    }

    /// The event's `seq`, for transports that carry one.
    pub fn seq(&mut self, seq: u64) {
        self.seq.observe(seq);
    }

    pub fn finish(self, outcome: Result<(), String>) -> StreamRecord {
        let outcome = outcome.and_then(|()| match self.expect {
            Some((deltas, markers)) if (self.tokens, self.markers) != (deltas, markers) => {
                Err(format!(
                    "expected a tool call of {deltas} input deltas (+ start and end), \
                     got {} deltas and {} starts/ends",
                    self.tokens, self.markers
                ))
            }
            _ => Ok(()),
        });
        StreamRecord {
            started: self.started,
            ended: Instant::now(),
            connect: self.connect,
            ttft: self.ttft,
            gaps_ns: self.gaps_ns,
            events: self.events,
            tokens: self.tokens,
            lost: self.seq.lost,
            duplicates: self.seq.duplicates,
            error: outcome.err(),
        }
    }
}

/// Takes a stream's events as they arrive (a [`Recorder`], or a reading
/// that keeps every arrival): the transports' read loops feed one.
pub trait EventSink {
    /// Event `seq` arrived at `at`; `last`: it is the final event.
    fn event(&mut self, seq: u64, at: Instant, last: bool);

    /// Event `seq`, content that is not a delta (a tool call's start or
    /// end), arrived at `at`. Readers that only keep arrivals take it as
    /// any other event.
    fn marker(&mut self, seq: u64, at: Instant) {
        self.event(seq, at, false);
    }
}

impl EventSink for Recorder {
    fn event(&mut self, seq: u64, at: Instant, last: bool) {
        self.seq(seq);
        if last {
            self.other();
        } else {
            self.token(at);
        }
    }

    fn marker(&mut self, seq: u64, at: Instant) {
        self.seq(seq);
        Recorder::marker(self, at);
    }
}

/// Distinct error messages kept per aggregate (the rest are counted as "other").
const MAX_DISTINCT_ERRORS: usize = 20;

/// Many streams' records, folded together as they finish.
#[derive(Debug, Default, Clone)]
pub struct Aggregate {
    pub streams: u64,
    pub completed: u64,
    pub failed: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub events: u64,
    pub tokens: u64,
    /// Time to first token of each stream that had one, in nanoseconds.
    pub ttft_ns: Vec<u64>,
    /// Connection set-up of each stream that recorded one, in nanoseconds.
    pub connect_ns: Vec<u64>,
    /// Set-up plus time to first token, of the same streams.
    pub connect_ttft_ns: Vec<u64>,
    /// Every inter-token gap, in nanoseconds.
    pub gaps_ns: Vec<u64>,
    /// Error messages and how often each came.
    pub errors: BTreeMap<String, u64>,
    spans: Vec<(Instant, Instant)>,
}

impl Aggregate {
    pub fn add(&mut self, rec: StreamRecord) {
        self.streams += 1;
        if rec.completed() {
            self.completed += 1;
        } else {
            self.failed += 1;
        }
        self.lost += rec.lost;
        self.duplicates += rec.duplicates;
        self.events += rec.events;
        self.tokens += rec.tokens;
        if let Some(ttft) = rec.ttft {
            self.ttft_ns.push(nanos(ttft));
        }
        if let Some(connect) = rec.connect {
            self.connect_ns.push(nanos(connect));
            if let Some(ttft) = rec.ttft {
                self.connect_ttft_ns.push(nanos(connect + ttft));
            }
        }
        self.gaps_ns.extend_from_slice(&rec.gaps_ns);
        let error = match (rec.error, rec.lost, rec.duplicates) {
            (Some(e), _, _) => Some(e),
            (None, 0, 0) => None,
            (None, _, _) => Some("lost or duplicated events".to_owned()),
        };
        if let Some(e) = error {
            let key = if self.errors.len() < MAX_DISTINCT_ERRORS || self.errors.contains_key(&e) {
                e
            } else {
                "other errors".to_owned()
            };
            *self.errors.entry(key).or_default() += 1;
        }
        self.spans.push((rec.started, rec.ended));
    }

    /// How long at least one stream was open: the union of the streams'
    /// spans (so time spent on the other side of an interleaved run, or
    /// waiting between arrivals, does not count).
    pub fn busy(&self) -> Duration {
        let mut spans = self.spans.clone();
        spans.sort_unstable_by_key(|s| s.0);
        let mut total = Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for (start, end) in spans {
            current = match current {
                Some((s, e)) if start <= e => Some((s, e.max(end))),
                Some((s, e)) => {
                    total += e - s;
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((s, e)) = current {
            total += e - s;
        }
        total
    }

    /// Events delivered per second of busy time.
    pub fn events_per_sec(&self) -> f64 {
        let secs = self.busy().as_secs_f64();
        if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(seqs: &[u64]) -> SeqCheck {
        let mut c = SeqCheck::default();
        for &s in seqs {
            c.observe(s);
        }
        c
    }

    #[test]
    fn an_unbroken_sequence_is_clean() {
        assert_eq!(
            check(&[0, 1, 2, 3]),
            SeqCheck {
                next: 4,
                lost: 0,
                duplicates: 0
            }
        );
    }

    #[test]
    fn gaps_count_as_lost() {
        let c = check(&[0, 2, 3, 7]);
        assert_eq!((c.lost, c.duplicates), (4, 0)); // 1, 4, 5, 6
    }

    #[test]
    fn a_missing_first_event_is_lost() {
        assert_eq!(check(&[1, 2]).lost, 1);
    }

    #[test]
    fn repeats_and_steps_back_are_duplicates() {
        let c = check(&[0, 1, 1, 2, 0, 3]);
        assert_eq!((c.lost, c.duplicates), (0, 2));
    }

    #[test]
    fn a_record_with_a_duplicate_is_not_completed() {
        let mut r = Recorder::start();
        r.seq(0);
        r.seq(0);
        let rec = r.finish(Ok(()));
        assert!(!rec.completed());
        assert_eq!(rec.duplicates, 1);
    }

    #[test]
    fn the_first_token_sets_ttft_and_later_ones_gaps() {
        let t0 = Instant::now();
        let mut r = Recorder::starting_at(t0);
        r.token(t0 + Duration::from_millis(20));
        r.token(t0 + Duration::from_millis(30));
        r.token(t0 + Duration::from_millis(45));
        r.other();
        let rec = r.finish(Ok(()));
        assert_eq!(rec.ttft, Some(Duration::from_millis(20)));
        assert_eq!(rec.gaps_ns, vec![10_000_000, 15_000_000]);
        assert_eq!((rec.tokens, rec.events), (3, 4));
        assert!(rec.completed());
    }

    #[test]
    fn a_tool_call_starts_the_clock_and_its_deltas_make_the_gaps() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut r = Recorder::starting_at(t0);
        r.expect_tool_call(3);
        let mut seq = 0..;
        let mut next = || seq.next().unwrap();
        EventSink::marker(&mut r, next(), ms(20)); // start
        r.event(next(), ms(21), false); // deltas
        r.event(next(), ms(26), false);
        r.event(next(), ms(31), false);
        EventSink::marker(&mut r, next(), ms(36)); // end
        r.event(next(), ms(36), true); // done
        let rec = r.finish(Ok(()));
        assert_eq!(rec.ttft, Some(Duration::from_millis(20)));
        assert_eq!(rec.gaps_ns, vec![5_000_000, 5_000_000]);
        assert_eq!((rec.tokens, rec.events, rec.lost), (3, 6, 0));
        assert!(rec.completed(), "{:?}", rec.error);
    }

    #[test]
    fn a_tool_call_short_of_its_deltas_did_not_complete() {
        let t0 = Instant::now();
        let mut r = Recorder::starting_at(t0);
        r.expect_tool_call(3);
        r.marker(t0);
        r.token(t0);
        r.marker(t0);
        r.other();
        let rec = r.finish(Ok(()));
        assert!(!rec.completed());
        assert!(rec.error.unwrap().contains("3 input deltas"));
        // A stream that failed keeps its own error.
        let mut r = Recorder::starting_at(t0);
        r.expect_tool_call(3);
        assert_eq!(
            r.finish(Err("HTTP 400".into())).error.as_deref(),
            Some("HTTP 400")
        );
    }

    fn span(t0: Instant, from_ms: u64, to_ms: u64) -> StreamRecord {
        let mut rec = Recorder::starting_at(t0 + Duration::from_millis(from_ms)).finish(Ok(()));
        rec.ended = t0 + Duration::from_millis(to_ms);
        rec
    }

    #[test]
    fn busy_time_is_the_union_of_stream_spans() {
        let t0 = Instant::now();
        let mut agg = Aggregate::default();
        agg.add(span(t0, 0, 10));
        agg.add(span(t0, 5, 20));
        agg.add(span(t0, 30, 40));
        assert_eq!(agg.busy(), Duration::from_millis(30));
        assert_eq!((agg.streams, agg.completed, agg.failed), (3, 3, 0));
    }

    #[test]
    fn failures_are_counted_by_message() {
        let t0 = Instant::now();
        let mut agg = Aggregate::default();
        agg.add(StreamRecord::failed(t0, "HTTP 429".into()));
        agg.add(StreamRecord::failed(t0, "HTTP 429".into()));
        let mut r = Recorder::starting_at(t0);
        r.seq(0);
        r.seq(2);
        agg.add(r.finish(Ok(())));
        assert_eq!((agg.failed, agg.lost), (3, 1));
        assert_eq!(agg.errors.get("HTTP 429"), Some(&2));
        assert_eq!(agg.errors.get("lost or duplicated events"), Some(&1));
    }
}
