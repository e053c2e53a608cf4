//! DeepSeek R1's reasoning on InvokeModel: plain text before the answer,
//! closed by `</think>` (R1's template, which the body's prompt follows, opens
//! `<think>` itself, so the model's text starts inside it).
//!
//! The rule, per stream:
//!
//! - Text is held back (not shown) while no `</think>` has come. Each held
//!   chunk still yields a keep-alive for the idle timer.
//! - When `</think>` comes, the held text is released as reasoning (chunk by
//!   chunk, trimmed at both ends), the block ends, and what follows the tag is
//!   the answer, streamed as text as it comes.
//! - When the stream stops with no `</think>`, the held text was the answer
//!   (the simulator answers so without `think=N`): it is released as text.
//! - Held text is bounded: past [`HOLD_LIMIT`] bytes with no `</think>` (or
//!   as soon as the text opens with `<think>`), it is taken for reasoning —
//!   released as such and streamed live from then on, holding back only a
//!   tail that may be the start of a split `</think>`. A long answer with no
//!   tag at all would then show as reasoning; R1 does not answer so (its
//!   output is cut short inside the reasoning only by `max_tokens`, where
//!   reasoning is right).
//!
//! The cost: R1's first reasoning event waits for `</think>` or the limit
//! (about 500 tokens). ConverseStream has none of this: there R1's reasoning
//! comes as reasoning blocks.

use crate::upstream::request::Delta;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";
/// Bytes of text held back, with no `</think>` yet, before they are taken for reasoning.
pub(super) const HOLD_LIMIT: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No `</think>` yet, and not known to be reasoning: text is held.
    Undecided,
    /// Reasoning, streamed live until `</think>`.
    Thinking,
    /// After `</think>`: the answer. `fresh` until its first non-blank text
    /// (the blank lines after the tag are dropped).
    Answer { fresh: bool },
}

/// Splits one stream's text into reasoning and answer.
#[derive(Debug)]
pub(super) struct ThinkSplit {
    mode: Mode,
    /// Undecided: the text so far, and where each chunk's piece ends in it.
    held: String,
    cuts: Vec<usize>,
    /// Thinking: a tail that may be the start of a `</think>` split across chunks.
    carry: String,
}

impl Default for ThinkSplit {
    fn default() -> Self {
        Self {
            mode: Mode::Undecided,
            held: String::new(),
            cuts: Vec::new(),
            carry: String::new(),
        }
    }
}

impl ThinkSplit {
    /// One chunk's deltas, its text split. A stop releases what is held first.
    pub(super) fn split(&mut self, deltas: Vec<Delta>) -> Vec<Delta> {
        let mut out = Vec::with_capacity(deltas.len());
        for d in deltas {
            match d {
                Delta::Text(t) => self.text(&t, &mut out),
                Delta::Stop(_) => {
                    self.flush(&mut out);
                    out.push(d);
                }
                other => out.push(other),
            }
        }
        out
    }

    /// The stream ended: release what is held.
    pub(super) fn finish(&mut self) -> Vec<Delta> {
        let mut out = Vec::new();
        self.flush(&mut out);
        out
    }

    fn text(&mut self, t: &str, out: &mut Vec<Delta>) {
        match self.mode {
            Mode::Answer { fresh } => {
                let t = if fresh { t.trim_start() } else { t };
                if !t.is_empty() {
                    self.mode = Mode::Answer { fresh: false };
                    out.push(Delta::Text(t.to_owned()));
                }
            }
            Mode::Thinking => {
                let mut s = std::mem::take(&mut self.carry);
                s.push_str(t);
                if let Some(p) = s.find(CLOSE) {
                    push_reasoning(out, s[..p].trim_end());
                    self.close_thinking(&s[p + CLOSE.len()..], out);
                } else {
                    let keep = partial_close_len(&s);
                    push_reasoning(out, &s[..s.len() - keep]);
                    self.carry = s[s.len() - keep..].to_owned();
                }
            }
            Mode::Undecided => {
                let before = self.held.len();
                self.held.push_str(t);
                self.cuts.push(self.held.len());
                let from = floor_boundary(&self.held, before.saturating_sub(CLOSE.len() - 1));
                if let Some(p) = self.held[from..].find(CLOSE).map(|i| i + from) {
                    let end = self.held[..p].trim_end().len();
                    self.release_reasoning(end, out);
                    let rest = self.held[p + CLOSE.len()..].to_owned();
                    self.clear_held();
                    self.close_thinking(&rest, out);
                } else if self.held.trim_start().starts_with(OPEN) || self.held.len() > HOLD_LIMIT {
                    let keep = partial_close_len(&self.held);
                    let end = self.held.len() - keep;
                    self.release_reasoning(end, out);
                    self.carry = self.held[end..].to_owned();
                    self.clear_held();
                    self.mode = Mode::Thinking;
                }
            }
        }
    }

    /// The reasoning ended at a `</think>`; `rest` followed it.
    fn close_thinking(&mut self, rest: &str, out: &mut Vec<Delta>) {
        out.push(Delta::BlockEnd);
        self.mode = Mode::Answer { fresh: true };
        self.text(rest, out);
    }

    /// Release the held pieces up to byte `end` as reasoning, without a
    /// leading `<think>` and leading blanks.
    fn release_reasoning(&self, end: usize, out: &mut Vec<Delta>) {
        let trimmed = self.held.trim_start();
        let body = trimmed.strip_prefix(OPEN).unwrap_or(trimmed).trim_start();
        let from = self.held.len() - body.len();
        for piece in pieces(&self.held, &self.cuts, from, end) {
            push_reasoning(out, piece);
        }
    }

    fn flush(&mut self, out: &mut Vec<Delta>) {
        match self.mode {
            Mode::Undecided => {
                for piece in pieces(&self.held, &self.cuts, 0, self.held.len()) {
                    out.push(Delta::Text(piece.to_owned()));
                }
                self.clear_held();
            }
            Mode::Thinking => {
                let carry = std::mem::take(&mut self.carry);
                push_reasoning(out, &carry);
            }
            Mode::Answer { .. } => {}
        }
    }

    fn clear_held(&mut self) {
        self.held.clear();
        self.cuts.clear();
    }
}

fn push_reasoning(out: &mut Vec<Delta>, text: &str) {
    if !text.is_empty() {
        out.push(Delta::Reasoning(text.to_owned()));
    }
}

/// The chunk pieces of `held` (ending at `cuts`) clipped to `from..to`, empty ones left out.
fn pieces<'a>(
    held: &'a str,
    cuts: &'a [usize],
    from: usize,
    to: usize,
) -> impl Iterator<Item = &'a str> + 'a {
    let mut start = 0;
    cuts.iter().filter_map(move |&cut| {
        let (a, b) = (start.max(from), cut.min(to));
        start = cut;
        (a < b).then(|| held.get(a..b)).flatten()
    })
}

/// Length of the longest tail of `s` that is a proper prefix of `</think>`.
fn partial_close_len(s: &str) -> usize {
    (1..CLOSE.len())
        .rev()
        .find(|&n| s.ends_with(&CLOSE[..n]))
        .unwrap_or(0)
}

/// `i`, or the nearest char boundary of `s` below it.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str], stop: bool) -> Vec<Delta> {
        let mut split = ThinkSplit::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(split.split(vec![Delta::Text((*c).to_owned())]));
        }
        if stop {
            out.extend(split.split(vec![Delta::Stop("end_turn".into())]));
        }
        out.extend(split.finish());
        out
    }

    fn r(s: &str) -> Delta {
        Delta::Reasoning(s.into())
    }

    fn t(s: &str) -> Delta {
        Delta::Text(s.into())
    }

    #[test]
    fn reasoning_then_answer() {
        assert_eq!(
            run(&["Let", " me", "\n</think>\n\n", "Yes", "."], true),
            vec![
                r("Let"),
                r(" me"),
                Delta::BlockEnd,
                t("Yes"),
                t("."),
                Delta::Stop("end_turn".into())
            ]
        );
    }

    #[test]
    fn close_tag_split_across_chunks() {
        for cut in 1..CLOSE.len() {
            let (a, b) = CLOSE.split_at(cut);
            let chunks = ["Hmm, ok.", &format!("\n{a}"), &format!("{b}\n\nAnswer")];
            assert_eq!(
                run(&chunks, true),
                vec![
                    r("Hmm, ok."),
                    Delta::BlockEnd,
                    t("Answer"),
                    Delta::Stop("end_turn".into())
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn no_close_tag_is_a_plain_answer() {
        assert_eq!(
            run(&["Hello", " there", "!"], true),
            vec![
                t("Hello"),
                t(" there"),
                t("!"),
                Delta::Stop("end_turn".into())
            ]
        );
        assert_eq!(
            run(&["Hi"], false),
            vec![t("Hi")],
            "a clean end releases too"
        );
    }

    #[test]
    fn an_opening_tag_streams_reasoning_live() {
        let mut split = ThinkSplit::default();
        assert_eq!(
            split.split(vec![t("<think>\nFirst")]),
            vec![r("First")],
            "known to be reasoning at once"
        );
        assert_eq!(split.split(vec![t(" step</th")]), vec![r(" step")]);
        assert_eq!(
            split.split(vec![t("ink>\n\nDone")]),
            vec![Delta::BlockEnd, t("Done")]
        );
    }

    #[test]
    fn past_the_limit_held_text_is_reasoning() {
        let mut split = ThinkSplit::default();
        let word = "word ".repeat(100);
        let mut out = Vec::new();
        while out.is_empty() {
            out = split.split(vec![t(&word)]);
        }
        assert!(out.iter().all(|d| matches!(d, Delta::Reasoning(_))));
        let total: usize = out
            .iter()
            .map(|d| match d {
                Delta::Reasoning(s) => s.len(),
                _ => 0,
            })
            .sum();
        assert!(total > HOLD_LIMIT - word.len(), "{total}");
        assert_eq!(split.split(vec![t("more")]), vec![r("more")]);
        // Cut short inside the reasoning: it stays reasoning.
        assert_eq!(
            split.split(vec![t(" </"), Delta::Stop("max_tokens".into())]),
            vec![r(" "), r("</"), Delta::Stop("max_tokens".into())]
        );
    }

    #[test]
    fn multibyte_text_near_the_tag() {
        assert_eq!(
            run(&["思考", "中…</think>", "答え"], true),
            vec![
                r("思考"),
                r("中…"),
                Delta::BlockEnd,
                t("答え"),
                Delta::Stop("end_turn".into())
            ]
        );
    }

    /// Any split of the text into chunks, at any byte that is a char
    /// boundary, gives the same reasoning and the same answer.
    #[test]
    fn every_chunking_gives_the_same_split() {
        let full = "  Ünïcode thoughts, </thin not yet… \n</think>\n\n答え: <think> stays.";
        let boundaries: Vec<usize> = (1..full.len())
            .filter(|&i| full.is_char_boundary(i))
            .collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let mut cuts: Vec<usize> = boundaries
                .iter()
                .copied()
                .filter(|_| rng.u8(..) < 40)
                .collect();
            cuts.push(full.len());
            let mut start = 0;
            let chunks: Vec<&str> = cuts
                .iter()
                .map(|&c| {
                    let piece = &full[start..c];
                    start = c;
                    piece
                })
                .collect();
            let out = run(&chunks, true);
            let (mut reasoning, mut answer) = (String::new(), String::new());
            for d in &out {
                match d {
                    Delta::Reasoning(r) => reasoning.push_str(r),
                    Delta::Text(t) => answer.push_str(t),
                    _ => {}
                }
            }
            assert_eq!(reasoning, "Ünïcode thoughts, </thin not yet…", "{chunks:?}");
            assert_eq!(answer, "答え: <think> stays.", "{chunks:?}");
            assert_eq!(out.iter().filter(|d| **d == Delta::BlockEnd).count(), 1);
        }
    }
}
