//! A session's event log, kept compact: every event's text in one buffer,
//! one 16-byte record per event, and the few parts that are not deltas.
//! `TokenEvent`s are rendered from it on demand; only the most recent ones
//! are held as shared `Arc`s while the session streams, so live readers fan
//! out one rendering (and one JSON) per event, and a finished session keeps
//! nothing but its buffers.
//!
//! Reasoning text and tool-input deltas, the bulk of the non-text events,
//! keep their text in the buffer too; starts, ends, signatures, citations
//! and guardrail notes are kept as `Part`s.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::event::TokenEvent;
use crate::parts::Part;

/// How many of the newest events stay rendered while a session streams:
/// live readers, even 5,000 of one session, keep within a few events of the
/// newest. 64 held 11 KiB more per live stream (51 → 40 KiB at 1,000
/// streams) with the same CPU per event and fan-out rate (BENCHMARKS.md).
const HOT: usize = 8;

/// What one entry of the log holds besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    /// Text in `token`.
    Text,
    /// `Part::Reasoning` with only `text` (the text is in the buffer); `aux` = block index.
    Reasoning,
    /// `Part::ToolCall` with only `inputDelta` (in the buffer); `aux` = block index.
    ToolInput,
    /// `token` in the buffer, the part in `parts[aux]`.
    Part,
}

/// One event: where its text ends in the buffer, its time, and what it is.
#[derive(Debug, Clone, Copy)]
struct Rec {
    end: u32,
    aux: u32,
    /// Milliseconds after the log's base time.
    at: i32,
    kind: Kind,
}

/// The events of one session (not its final event, which is kept whole).
#[derive(Default)]
pub(super) struct Log {
    text: String,
    recs: Vec<Rec>,
    parts: Vec<Part>,
    /// Unix milliseconds of the first event; `Rec::at` counts from it.
    base_ms: i64,
    /// Heap bytes of `parts` (their strings and JSON), for [`Log::bytes`].
    part_heap: usize,
    /// The newest events, rendered; `hot[0]` is event `recs.len() - hot.len()`.
    hot: VecDeque<Arc<TokenEvent>>,
    /// The final event.
    last: Option<Arc<TokenEvent>>,
    /// The second of the newest event, formatted (only while streaming).
    clock: Clock,
}

/// Timestamps within one second share their date and time: formatting a
/// whole RFC 3339 date for every token showed in the per-event profile.
#[derive(Default)]
struct Clock {
    second: i64,
    /// `YYYY-MM-DDTHH:MM:SS.` of `second`; empty until the first stamp.
    prefix: String,
}

impl Clock {
    /// The timestamp of Unix milliseconds `ms`, as [`format_ms`] writes it.
    fn stamp(&mut self, ms: i64) -> String {
        let second = ms.div_euclid(1000);
        if self.prefix.is_empty() || second != self.second {
            let mut whole = format_ms(second * 1000);
            // `….000Z` → `….`
            whole.truncate(whole.len().saturating_sub(4));
            self.prefix = whole;
            self.second = second;
        }
        let millis = ms.rem_euclid(1000);
        let mut out = String::with_capacity(self.prefix.len() + 4);
        out.push_str(&self.prefix);
        out.push(char::from(b'0' + (millis / 100) as u8));
        out.push(char::from(b'0' + (millis / 10 % 10) as u8));
        out.push(char::from(b'0' + (millis % 10) as u8));
        out.push('Z');
        out
    }
}

impl Log {
    /// Events written, the final one included.
    pub(super) fn len(&self) -> u64 {
        self.recs.len() as u64 + u64::from(self.last.is_some())
    }

    /// Bytes of answer text (text events only).
    pub(super) fn text_len(&self) -> usize {
        let mut start = 0;
        let mut n = 0;
        for r in &self.recs {
            if r.kind == Kind::Text {
                n += r.end as usize - start;
            }
            start = r.end as usize;
        }
        n
    }

    /// Append a not-final event; `at_ms` is its time in Unix milliseconds.
    /// Returns the rendered event when it is to be kept hot.
    pub(super) fn push(
        &mut self,
        session_id: &Arc<str>,
        token: String,
        part: Option<Box<Part>>,
        at_ms: i64,
    ) -> Arc<TokenEvent> {
        let seq = self.recs.len() as u64;
        if seq == 0 {
            self.base_ms = at_ms;
        }
        let at = i32::try_from(at_ms - self.base_ms).unwrap_or(i32::MAX);
        // Render first: the hot copy is exactly what a cold read gives back.
        let ev = Arc::new(TokenEvent {
            timestamp: self.clock.stamp(self.base_ms + i64::from(at)),
            ..TokenEvent::text_event(session_id.clone(), seq, token, part)
        });
        let (kind, aux, piece): (Kind, u32, &str) = match ev.part.as_deref() {
            None => (Kind::Text, 0, &ev.token),
            Some(Part::Reasoning {
                index,
                text: Some(t),
                signature: None,
                redacted: None,
            }) if ev.token.is_empty() => (Kind::Reasoning, *index, t),
            Some(Part::ToolCall {
                index,
                id: None,
                name: None,
                input_delta: Some(d),
                input: None,
            }) if ev.token.is_empty() => (Kind::ToolInput, *index, d),
            Some(p) => {
                self.part_heap += part_heap(p);
                self.parts.push(p.clone());
                (Kind::Part, self.parts.len() as u32 - 1, &ev.token)
            }
        };
        self.text.push_str(piece);
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.recs.push(Rec { end, aux, at, kind });
        if self.hot.len() == HOT {
            self.hot.pop_front();
        }
        self.hot.push_back(ev.clone());
        ev
    }

    /// Append the final event. The hot copies go, and the buffers shrink to
    /// what they hold: a retained session keeps only its compact form.
    pub(super) fn finish(&mut self, last: Arc<TokenEvent>) {
        self.last = Some(last);
        self.hot = VecDeque::new();
        self.clock = Clock::default();
        self.text.shrink_to_fit();
        self.recs.shrink_to_fit();
        self.parts.shrink_to_fit();
    }

    /// Event `seq`, if written: shared while hot, else rendered now.
    pub(super) fn event(&self, session_id: &Arc<str>, seq: u64) -> Option<Arc<TokenEvent>> {
        let n = self.recs.len() as u64;
        if seq == n {
            return self.last.clone();
        }
        let idx = usize::try_from(seq).ok().filter(|&i| i < self.recs.len())?;
        let hot_from = self.recs.len() - self.hot.len();
        if idx >= hot_from {
            return Some(self.hot[idx - hot_from].clone());
        }
        Some(Arc::new(self.render(session_id, idx)))
    }

    /// The final event, once written.
    pub(super) fn last(&self) -> Option<&Arc<TokenEvent>> {
        self.last.as_ref()
    }

    fn render(&self, session_id: &Arc<str>, idx: usize) -> TokenEvent {
        let r = self.recs[idx];
        let start = idx.checked_sub(1).map_or(0, |i| self.recs[i].end as usize);
        let piece = self.text.get(start..r.end as usize).unwrap_or_default();
        let (token, part) = match r.kind {
            Kind::Text => (piece.to_owned(), None),
            Kind::Reasoning => (
                String::new(),
                Some(Part::reasoning_text(r.aux, piece.into())),
            ),
            Kind::ToolInput => (String::new(), Some(Part::tool_input(r.aux, piece.into()))),
            Kind::Part => (piece.to_owned(), self.parts.get(r.aux as usize).cloned()),
        };
        TokenEvent {
            timestamp: format_ms(self.base_ms + i64::from(r.at)),
            ..TokenEvent::text_event(session_id.clone(), idx as u64, token, part.map(Box::new))
        }
    }

    /// Every event in order (the final one included), rendered.
    pub(super) fn rendered(&self, session_id: &Arc<str>) -> Vec<Arc<TokenEvent>> {
        (0..self.len())
            .filter_map(|seq| self.event(session_id, seq))
            .collect()
    }

    /// The answer's text: the text events' tokens, in order.
    pub(super) fn answer_text(&self) -> String {
        let mut out = String::with_capacity(self.text_len());
        let mut start = 0;
        for r in &self.recs {
            if r.kind == Kind::Text {
                out.push_str(&self.text[start..r.end as usize]);
            }
            start = r.end as usize;
        }
        out
    }

    /// Heap bytes this log holds (buffers by capacity, rendered events by
    /// an estimate of their size).
    pub(super) fn bytes(&self) -> usize {
        let rendered = |e: &Arc<TokenEvent>| RENDERED_EVENT + e.token.len() + e.json_len();
        self.text.capacity()
            + self.recs.capacity() * size_of::<Rec>()
            + self.parts.capacity() * size_of::<Part>()
            + self.part_heap
            + self.hot.iter().map(rendered).sum::<usize>()
            + self.last.as_ref().map_or(0, rendered)
    }
}

/// What a rendered event costs beyond its text and JSON: the struct in its
/// `Arc`, the timestamp string, a part when it has one (an estimate).
const RENDERED_EVENT: usize = size_of::<TokenEvent>() + 16 + 32;

/// Heap bytes a part holds, roughly (its strings, its JSON input).
fn part_heap(p: &Part) -> usize {
    let s = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    match p {
        Part::Reasoning {
            text,
            signature,
            redacted,
            ..
        } => s(text) + s(signature) + s(redacted),
        Part::ToolCall {
            id,
            name,
            input_delta,
            input,
            ..
        } => {
            s(id) + s(name) + s(input_delta) + input.as_ref().map_or(0, |v| v.to_string().len() * 2)
        }
        Part::Citation {
            title,
            source,
            text,
            location,
            ..
        } => {
            s(title)
                + s(source)
                + s(text)
                + location.as_ref().map_or(0, |v| v.to_string().len() * 2)
        }
        Part::Guardrail { action, trace } => {
            action.len() + trace.as_ref().map_or(0, |v| v.to_string().len() * 2)
        }
    }
}

/// Unix milliseconds now.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix milliseconds of an RFC 3339 timestamp (a relayed event's); now if it does not parse.
pub(super) fn parse_ms(ts: &str) -> i64 {
    humantime::parse_rfc3339(ts)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(now_ms, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An event timestamp (RFC 3339, milliseconds, UTC) for Unix milliseconds.
fn format_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> Arc<str> {
        Arc::from("s")
    }

    /// Cold renderings equal what was pushed, field for field and byte for byte.
    #[test]
    fn events_read_back_as_written() {
        let id = id();
        let mut log = Log::default();
        let t0 = 1_790_000_000_123;
        let pushed: Vec<(String, Option<Part>)> = vec![
            ("Hel".into(), None),
            ("lo ✓".into(), None),
            (String::new(), Some(Part::reasoning_text(1, "think".into()))),
            (
                String::new(),
                Some(Part::reasoning_signature(1, "sig".into())),
            ),
            (
                String::new(),
                Some(Part::tool_start(2, "t1".into(), "f".into())),
            ),
            (String::new(), Some(Part::tool_input(2, "{\"a\":".into()))),
            (String::new(), Some(Part::tool_input(2, "1}".into()))),
            (
                String::new(),
                Some(Part::tool_end(2, "t1".into(), "f".into(), json!({"a": 1}))),
            ),
            (String::new(), None),
        ];
        let mut hot = Vec::new();
        for (i, (token, part)) in pushed.iter().enumerate() {
            hot.push(log.push(
                &id,
                token.clone(),
                part.clone().map(Box::new),
                t0 + i as i64 * 7,
            ));
        }
        for (i, ev) in hot.iter().enumerate() {
            let cold = log.render(&id, i);
            assert_eq!(&cold, &**ev, "event {i}");
            assert_eq!(cold.json(), ev.json(), "event {i} as JSON");
            assert_eq!(cold.seq, i as u64);
        }
        assert_eq!(hot[0].timestamp, "2026-09-21T14:13:20.123Z");
        assert_eq!(log.answer_text(), "Hello ✓");
        assert_eq!(log.len(), pushed.len() as u64);
    }

    #[test]
    fn hot_events_are_shared_and_cold_ones_rendered() {
        let id = id();
        let mut log = Log::default();
        let first = log.push(&id, "a".into(), None, 0);
        for _ in 0..HOT {
            log.push(&id, "b".into(), None, 0);
        }
        let newest = log.event(&id, HOT as u64).unwrap();
        assert!(Arc::ptr_eq(&newest, log.hot.back().unwrap()));
        let oldest = log.event(&id, 0).unwrap();
        assert!(
            !Arc::ptr_eq(&oldest, &first),
            "no longer hot: rendered afresh"
        );
        assert_eq!(*oldest, *first);
        assert!(log.event(&id, HOT as u64 + 1).is_none());
    }

    /// The goal: at most 64 bytes per retained event beyond its text.
    #[test]
    fn a_finished_log_costs_little_beyond_its_text() {
        let id = id();
        let mut log = Log::default();
        for i in 0..1000 {
            log.push(&id, "tok ".into(), None, i);
        }
        let last = Arc::new(TokenEvent::text_event(
            id.clone(),
            1000,
            String::new(),
            None,
        ));
        log.finish(last);
        let beyond_text = log.bytes() - log.text.len();
        assert!(
            beyond_text <= 1000 * 16 + 1024,
            "{beyond_text} bytes beyond the text"
        );
        assert!(log.hot.is_empty());
        assert_eq!(log.event(&id, 1000).unwrap().seq, 1000);
    }

    #[test]
    fn stamps_within_a_second_match_whole_formatting() {
        let mut clock = Clock::default();
        let base = parse_ms("2026-12-06T19:55:01.000Z");
        for ms in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            1001,
            61_005,
            86_400_000 - 1,
        ] {
            assert_eq!(clock.stamp(base + ms), format_ms(base + ms), "{ms}");
        }
        // Back to an earlier second (a relayed event): still right.
        assert_eq!(clock.stamp(base + 5), format_ms(base + 5));
    }

    #[test]
    fn relayed_timestamps_round_trip() {
        let ts = "2026-11-23T14:00:00.123Z";
        assert_eq!(format_ms(parse_ms(ts)), ts);
    }
}
