//! The answer's content blocks — reasoning, text, tool calls — walked one delta at a time.
//!
//! Blocks come in this order, indices dense from 0: reasoning (`think=N`, or
//! [`DEFAULT_THINK`] deltas when the request turns reasoning on), then text,
//! then one block per tool call (`tool=NAME[,NAME2]`). The text block is
//! there when it has something to say or when there are no tool calls; it
//! begins with a preamble (below), then `tokens=N` generated tokens.
//!
//! The preamble: when the last user turn carries tool results,
//! `Tool result: ` and then each result's text followed by a newline (so
//! several results are joined by newlines); then one line per attachment
//! of the last user turn, in request order (`[image/png 64x48]`). Tool
//! results come first because that is their place in a Claude user turn.
//!
//! `cite=N` citations of the request's citable documents follow the
//! preamble in the text block. `guardrail=N`, when the request names a
//! guardrail, cuts the text after N tokens and ends the answer there
//! (`Stop::Guardrail`, no tool calls).
//!
//! Answering tool results, the model reports them and ends its turn: a
//! `tool=` directive applies to such a turn only when the last user turn
//! itself carries it, so an agent loop driven by an earlier `tool=` ends.

use crate::directive::Directive;
use crate::families::{Out, Prompt, Shaper, Stop};
use crate::guardrail::Intervention;
use crate::parts::citations::{self, Citable};
use crate::schema_input;
use crate::signature;
use crate::text::Tokens;
use crate::wire::SimError;

/// Reasoning deltas when the request turns reasoning on and no `think=N` says how many.
pub(crate) const DEFAULT_THINK: u32 = 3;

/// The reasoning deltas' words, in turn.
const THOUGHTS: [&str; 12] = [
    "Let", "me", "think", "this", "through", "step", "by", "step", "first", "then", "check",
    "again",
];

/// What a shaper is told when a block opens and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind<'a> {
    /// Reasoning; the signature goes out when it closes.
    Reasoning {
        signature: &'a str,
    },
    Text,
    /// A tool call; the shaper gives it an id.
    Tool {
        name: &'a str,
    },
}

/// One delta of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delta<'a> {
    Reasoning(&'a str),
    Text(&'a str),
    /// A piece of the tool input's JSON text.
    ToolInput(&'a str),
    /// A citation of the request's document `document` (its index), in the text block.
    Citation {
        document: u32,
        title: &'a str,
        text: &'a str,
    },
}

#[derive(Debug)]
enum Block {
    Reasoning {
        words: Vec<String>,
        signature: String,
    },
    Text {
        preamble: Vec<String>,
        /// Citations after the preamble, before the generated text.
        citations: Vec<(Citable, String)>,
        generated: u32,
    },
    Tool {
        name: String,
        pieces: Vec<String>,
    },
}

impl Block {
    fn len(&self) -> u32 {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self {
            Self::Reasoning { words, .. } => count(words.len()),
            Self::Text {
                preamble,
                citations,
                generated,
            } => count(preamble.len())
                .saturating_add(count(citations.len()))
                .saturating_add(*generated),
            Self::Tool { pieces, .. } => count(pieces.len()),
        }
    }

    fn kind(&self) -> BlockKind<'_> {
        match self {
            Self::Reasoning { signature, .. } => BlockKind::Reasoning { signature },
            Self::Text { .. } => BlockKind::Text,
            Self::Tool { name, .. } => BlockKind::Tool { name },
        }
    }
}

/// One stream's answer and how far it has been sent.
pub(crate) struct Answer {
    blocks: Vec<Block>,
    stop: Stop,
    /// The stop sequence the text reaches, when `stop` is [`Stop::Sequence`].
    stop_sequence: Option<String>,
    /// The request's guardrail intervenes (`guardrail=N` and a guardrail configured).
    intervention: Option<Intervention>,
    tokens: Tokens,
    /// The block of the next delta.
    current: usize,
    /// Deltas of the current block sent so far.
    sent: u32,
    /// Whether the current block's start is out.
    open: bool,
}

impl Answer {
    /// Plans the answer; a `tool=` naming no tool of the request is refused.
    /// `reasons`: the model (or API) can stream reasoning.
    pub(crate) fn new(
        prompt: &Prompt,
        directive: &Directive,
        reasons: bool,
    ) -> Result<Self, SimError> {
        let mut blocks = Vec::new();
        let think = match directive.think {
            _ if !reasons => 0,
            Some(n) => n,
            None if prompt.parts.reasoning => DEFAULT_THINK,
            None => 0,
        }
        // Thinking counts against the ceiling, as Claude's does, and never
        // runs past it: the answer has what it leaves.
        .min(prompt.max_tokens);
        if think > 0 {
            // Left out (Claude's `display: omitted`): one empty delta, signed.
            let words = if prompt.parts.reasoning_omitted {
                vec![String::new()]
            } else {
                thoughts(think)
            };
            let signature = signature::sign(&words.concat());
            blocks.push(Block::Reasoning { words, signature });
        }
        let ceiling = prompt.max_tokens.saturating_sub(think);
        let asked = asked_tools(prompt, directive);
        let mut calls = tool_calls(prompt, asked.clone())?;
        // A forced tool without a `tool=` directive: the call alone, no text.
        let forced_only = asked.is_none() && prompt.parts.forced_tool.is_some();
        let (mut generated, mut stop) = if forced_only {
            (0, Stop::ToolUse)
        } else if directive.tokens > ceiling {
            (ceiling, Stop::Length)
        } else if calls.is_empty() {
            (directive.tokens, Stop::End)
        } else {
            (directive.tokens, Stop::ToolUse)
        };
        // The text ends before the token that completes a stop sequence
        // (the sequence itself is not sent), and no tool call follows.
        let mut stop_sequence = None;
        if let Some((at, seq)) = first_stop(prompt, generated) {
            generated = at;
            stop = Stop::Sequence;
            stop_sequence = Some(seq);
        }
        // Structured output without a `tool=` directive: the text is the
        // schema's JSON, whole, and nothing else.
        let structured = match &prompt.parts.output_schema {
            Some(schema) if asked.is_none() && !forced_only => {
                let json = schema_input::output_for(schema).to_string();
                generated = 0;
                stop = Stop::End;
                stop_sequence = None;
                Some(schema_input::pieces(&json))
            }
            _ => None,
        };
        let mut preamble = match structured {
            Some(pieces) => pieces,
            None if forced_only => Vec::new(),
            None => preamble(prompt),
        };
        let citations: Vec<(Citable, String)> = (0..directive.cite.unwrap_or(0))
            .map_while(|k| citations::nth(citations::pool(&prompt.parts), k))
            .collect();
        // The guardrail cuts the text after N tokens (at its end when it is
        // shorter) and ends the answer there: no tool calls.
        let intervention = match (directive.guardrail, &prompt.parts.guardrail) {
            (Some(n), Some(config)) => {
                preamble.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                let room = n.saturating_sub(u32::try_from(preamble.len()).unwrap_or(u32::MAX));
                generated = generated.min(room);
                stop = Stop::Guardrail;
                Some(Intervention::from(config))
            }
            _ => None,
        };
        // Text cut at the ceiling never reaches a tool call.
        if stop == Stop::Length {
            calls.clear();
        }
        // Tool inputs count against the ceiling too: a call that does not
        // fit is cut off mid-input (a proper prefix of its JSON), later ones
        // are not made, and the answer stops at `max_tokens`, as Claude's
        // "incomplete tool use" does.
        if stop == Stop::ToolUse {
            let mut room = ceiling.saturating_sub(generated);
            for i in 0..calls.len() {
                let Block::Tool { pieces, .. } = &mut calls[i] else {
                    continue;
                };
                let len = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
                if len <= room {
                    room -= len;
                    continue;
                }
                pieces.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                let kept = if room == 0 { i } else { i + 1 };
                calls.truncate(kept);
                stop = Stop::Length;
                break;
            }
        }
        if !preamble.is_empty() || !citations.is_empty() || generated > 0 || stop != Stop::ToolUse {
            blocks.push(Block::Text {
                preamble,
                citations,
                generated,
            });
        }
        // An answer cut at max tokens reaches only the calls cut off above.
        if matches!(stop, Stop::ToolUse | Stop::Length) {
            blocks.extend(calls);
        }
        Ok(Self {
            blocks,
            stop,
            stop_sequence,
            intervention,
            tokens: Tokens::for_prompt(&prompt.text),
            current: 0,
            sent: 0,
            open: false,
        })
    }

    /// Every delta of every block.
    pub(crate) fn deltas(&self) -> u32 {
        self.blocks
            .iter()
            .fold(0, |sum: u32, block| sum.saturating_add(block.len()))
    }

    pub(crate) fn stop(&self) -> Stop {
        self.stop
    }

    /// The stop sequence the answer ends at, when it does.
    pub(crate) fn stop_sequence(&self) -> Option<&str> {
        self.stop_sequence.as_deref()
    }

    /// The guardrail's intervention, when it ends this answer.
    pub(crate) fn intervention(&self) -> Option<&Intervention> {
        self.intervention.as_ref()
    }

    /// The chunks of the next delta, with the block starts and stops before
    /// it; empty when every delta is out.
    pub(crate) fn next(&mut self, shaper: &mut dyn Shaper) -> Vec<Out> {
        let mut outs = Vec::new();
        while let Some(block) = self.blocks.get(self.current) {
            if self.sent >= block.len() {
                outs.extend(self.close_current(shaper));
                continue;
            }
            let index = u32::try_from(self.current).unwrap_or(u32::MAX);
            if !self.open {
                outs.extend(shaper.block_start(index, &block.kind()));
                self.open = true;
            }
            let at = usize::try_from(self.sent).unwrap_or(usize::MAX);
            let generated;
            let delta = match block {
                Block::Reasoning { words, .. } => Delta::Reasoning(word(words, at)),
                Block::Tool { pieces, .. } => Delta::ToolInput(word(pieces, at)),
                Block::Text {
                    preamble,
                    citations,
                    ..
                } => match (preamble.get(at), at.checked_sub(preamble.len())) {
                    (Some(line), _) => Delta::Text(line),
                    (None, Some(k)) if k < citations.len() => {
                        let (doc, text) = &citations[k];
                        Delta::Citation {
                            document: doc.index,
                            title: &doc.title,
                            text,
                        }
                    }
                    _ => {
                        generated = self.tokens.next().unwrap_or_default();
                        Delta::Text(&generated)
                    }
                },
            };
            outs.extend(shaper.delta(index, &delta));
            self.sent += 1;
            return outs;
        }
        outs
    }

    /// Closes the open block and any left (an empty block opens and closes).
    pub(crate) fn close(&mut self, shaper: &mut dyn Shaper) -> Vec<Out> {
        let mut outs = Vec::new();
        while self.current < self.blocks.len() {
            outs.extend(self.close_current(shaper));
        }
        outs
    }

    fn close_current(&mut self, shaper: &mut dyn Shaper) -> Vec<Out> {
        let mut outs = Vec::new();
        if let Some(block) = self.blocks.get(self.current) {
            let index = u32::try_from(self.current).unwrap_or(u32::MAX);
            if !self.open {
                outs.extend(shaper.block_start(index, &block.kind()));
            }
            outs.extend(shaper.block_stop(index, &block.kind()));
        }
        self.current += 1;
        self.sent = 0;
        self.open = false;
        outs
    }
}

/// Where the first `generated` tokens of `prompt`'s answer first reach one
/// of its stop sequences: how many tokens come before the one that
/// completes it, and which sequence.
fn first_stop(prompt: &Prompt, generated: u32) -> Option<(u32, String)> {
    let longest = prompt.stop_sequences.iter().map(String::len).max()?;
    let mut text = String::new();
    for (at, token) in (0..generated).zip(Tokens::for_prompt(&prompt.text)) {
        text.push_str(&token);
        // Only the end can hold a sequence the earlier tokens did not.
        let mut from = text.len().saturating_sub(token.len() + longest);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let tail = &text[from..];
        if let Some(seq) = prompt
            .stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .find(|s| tail.contains(s.as_str()))
        {
            return Some((at, seq.clone()));
        }
    }
    None
}

fn word(words: &[String], at: usize) -> &str {
    words.get(at).map_or("", String::as_str)
}

/// `n` short reasoning words, each after the first with its leading space.
fn thoughts(n: u32) -> Vec<String> {
    (0..usize::try_from(n).unwrap_or(0))
        .map(|i| {
            let word = THOUGHTS[i % THOUGHTS.len()];
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

/// The tools a `tool=` directive in effect names: answering tool results,
/// only the last user turn's own (see the module documentation).
fn asked_tools(prompt: &Prompt, directive: &Directive) -> Option<Vec<String>> {
    if prompt.parts.tool_results.is_empty() {
        directive.tool.clone()
    } else {
        Directive::from_text(&prompt.parts.last_user_text).tool
    }
}

/// The tool calls the directive in effect asks for, else the forced tool.
fn tool_calls(prompt: &Prompt, names: Option<Vec<String>>) -> Result<Vec<Block>, SimError> {
    let mut names = names
        .or_else(|| prompt.parts.forced_tool.clone().map(|t| vec![t]))
        .unwrap_or_default();
    if prompt.parts.one_tool_call {
        names.truncate(1);
    }
    names
        .into_iter()
        .map(|name| {
            let Some(tool) = prompt.parts.tools.iter().find(|t| t.name == name) else {
                return Err(SimError::validation(format!(
                    "The tool '{name}' named by the [[sim tool=…]] directive is not among the request's tools."
                )));
            };
            let input = schema_input::input_for(&tool.schema).to_string();
            Ok(Block::Tool {
                name,
                pieces: schema_input::pieces(&input),
            })
        })
        .collect()
}

/// The text the answer begins with; see the module documentation.
fn preamble(prompt: &Prompt) -> Vec<String> {
    let parts = &prompt.parts;
    let mut lines = Vec::new();
    if !parts.tool_results.is_empty() {
        lines.push("Tool result: ".to_owned());
        lines.extend(parts.tool_results.iter().map(|text| format!("{text}\n")));
    }
    lines.extend(parts.attachments.iter().map(|a| format!("{}\n", a.line())));
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::attachments::{image, samples::png};
    use crate::families::Finish;
    use crate::parts::{Parts, Tool};

    /// Records what the answer asks of a shaper, one string per call.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Shaper for Log {
        fn start(&mut self) -> Vec<Out> {
            Vec::new()
        }
        fn block_start(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
            self.0.push(format!("start {index} {block:?}"));
            Vec::new()
        }
        fn delta(&mut self, index: u32, delta: &Delta<'_>) -> Vec<Out> {
            self.0.push(format!("delta {index} {delta:?}"));
            Vec::new()
        }
        fn block_stop(&mut self, index: u32, _block: &BlockKind<'_>) -> Vec<Out> {
            self.0.push(format!("stop {index}"));
            Vec::new()
        }
        fn finish(&mut self, _finish: &Finish) -> Vec<Out> {
            Vec::new()
        }
    }

    fn prompt(text: &str, max_tokens: u32, parts: Parts) -> Prompt {
        Prompt {
            text: text.to_owned(),
            max_tokens,
            parts,
            stop_sequences: Vec::new(),
        }
    }

    #[test]
    fn a_stop_sequence_ends_the_text_before_it() {
        let text = "[[sim tokens=30]] go";
        let words: Vec<String> = Tokens::for_prompt(text).take(30).collect();
        // A word from the middle of the answer, as a stop sequence.
        let cut = words.iter().rposition(|w| w.trim().len() > 3).unwrap();
        let seq = words[cut].trim().to_owned();
        let mut p = prompt(text, 100, Parts::default());
        p.stop_sequences = vec!["never said".into(), seq.clone()];
        let (log, stop) = walk(&p, false);
        assert_eq!(stop, Stop::Sequence);
        let deltas = log.iter().filter(|l| l.starts_with("delta")).count();
        let first = words.iter().position(|w| w.contains(&seq)).unwrap();
        assert!(
            deltas <= first,
            "{deltas} deltas, {seq:?} at {first}: {log:?}"
        );
        assert!(!log.concat().contains(&format!("Text({:?})", words[first])));
        let answer = Answer::new(&p, &Directive::from_text(text), false).unwrap();
        assert_eq!(answer.stop_sequence(), Some(seq.as_str()));
    }

    fn weather() -> Parts {
        Parts {
            tools: vec![Tool {
                name: "get_weather".to_owned(),
                schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            }],
            ..Parts::default()
        }
    }

    /// Walks the whole answer; returns the calls and the stop reason.
    fn walk(prompt: &Prompt, reasons: bool) -> (Vec<String>, Stop) {
        let directive = Directive::from_text(&prompt.text);
        let mut answer = Answer::new(prompt, &directive, reasons).unwrap();
        let mut log = Log::default();
        for _ in 0..answer.deltas() {
            answer.next(&mut log);
        }
        assert!(answer.next(&mut log).is_empty());
        answer.close(&mut log);
        (log.0, answer.stop())
    }

    /// Answering tool results, an earlier turn's `tool=` is not in effect,
    /// so the request's structured output is the answer (an agent loop with
    /// a typed answer ends).
    #[test]
    fn structured_output_answers_tool_results_of_an_earlier_directive() {
        let mut parts = weather();
        parts.output_schema = Some(
            json!({"type": "object", "properties": {"t": {"type": "integer"}}, "required": ["t"]}),
        );
        parts.tool_results = vec!["{\"temp\":21}".into()];
        parts.last_user_text = String::new();
        let (log, stop) = walk(
            &prompt("[[sim tokens=3 tool=get_weather]] weather?", 100, parts),
            false,
        );
        assert_eq!(stop, Stop::End);
        let text: String = log
            .iter()
            .filter_map(|l| l.strip_prefix("delta 0 Text(\""))
            .map(|l| l.trim_end_matches("\")").replace("\\\"", "\""))
            .collect();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({"t": 1})
        );
        assert!(!log.concat().contains("Tool {"), "{log:?}");
    }

    #[test]
    fn plain_text_and_the_empty_answer_keep_their_block() {
        let (log, stop) = walk(&prompt("[[sim tokens=1]]", 10, Parts::default()), true);
        assert_eq!(log.len(), 3, "{log:?}");
        assert_eq!(log[0], "start 0 Text");
        assert!(log[1].starts_with("delta 0 Text("));
        assert_eq!(stop, Stop::End);
        let (log, _) = walk(&prompt("[[sim tokens=0]]", 10, Parts::default()), true);
        assert_eq!(log, ["start 0 Text", "stop 0"]);
        let (_, stop) = walk(&prompt("[[sim tokens=9]]", 2, Parts::default()), true);
        assert_eq!(stop, Stop::Length);
    }

    #[test]
    fn reasoning_then_text_then_tools() {
        let (log, stop) = walk(
            &prompt("[[sim think=2 tokens=1 tool=get_weather]]", 10, weather()),
            true,
        );
        let signature = signature::sign("Let me");
        assert_eq!(
            log[0],
            format!("start 0 Reasoning {{ signature: {signature:?} }}")
        );
        assert_eq!(log[1], r#"delta 0 Reasoning("Let")"#);
        assert_eq!(log[2], r#"delta 0 Reasoning(" me")"#);
        assert_eq!(log[3], "stop 0");
        assert_eq!(log[4], "start 1 Text");
        assert_eq!(log[6], "stop 1");
        assert_eq!(log[7], r#"start 2 Tool { name: "get_weather" }"#);
        let input: String = log[8..log.len() - 1]
            .iter()
            .map(|l| {
                l.trim_start_matches("delta 2 ToolInput(\"")
                    .trim_end_matches("\")")
            })
            .collect();
        assert_eq!(input, r#"{\"city\":\"sample\"}"#);
        assert_eq!(log.last().unwrap(), "stop 2");
        assert_eq!(stop, Stop::ToolUse);
        // Without text there is no text block; the model cannot reason: no reasoning.
        let (log, _) = walk(
            &prompt("[[sim think=2 tokens=0 tool=get_weather]]", 10, weather()),
            false,
        );
        assert!(log[0].starts_with("start 0 Tool"), "{log:?}");
    }

    #[test]
    fn request_reasoning_defaults_and_unknown_tools() {
        let parts = Parts {
            reasoning: true,
            ..Parts::default()
        };
        let directive = Directive::from_text("[[sim tokens=1]]");
        let answer = Answer::new(&prompt("", 10, parts.clone()), &directive, true).unwrap();
        assert_eq!(answer.deltas(), DEFAULT_THINK + 1);
        let none = Directive::from_text("[[sim tokens=1 think=0]]");
        assert_eq!(
            Answer::new(&prompt("", 10, parts), &none, true)
                .unwrap()
                .deltas(),
            1
        );
        let unknown = Directive::from_text("[[sim tool=get_weather,nope]]");
        let err = Answer::new(&prompt("", 10, weather()), &unknown, true)
            .err()
            .unwrap();
        assert!(err.message.contains("'nope'"), "{}", err.message);
        // Cut at max tokens: no tool calls.
        let cut = Directive::from_text("[[sim tool=get_weather tokens=50]]");
        let answer = Answer::new(&prompt("", 5, weather()), &cut, true).unwrap();
        assert_eq!((answer.stop(), answer.deltas()), (Stop::Length, 5));
    }

    #[test]
    fn thinking_counts_against_the_ceiling() {
        let deltas = |log: &[String], kind: &str| log.iter().filter(|l| l.contains(kind)).count();
        // Three thoughts leave seven of ten tokens for the text.
        let (log, stop) = walk(
            &prompt("[[sim think=3 tokens=50]]", 10, Parts::default()),
            true,
        );
        assert_eq!(stop, Stop::Length);
        assert_eq!(deltas(&log, "Reasoning("), 3, "{log:?}");
        assert_eq!(deltas(&log, "delta 1 Text("), 7, "{log:?}");
        // Thinking itself stops at the ceiling.
        let (log, stop) = walk(
            &prompt("[[sim think=500 tokens=5]]", 10, Parts::default()),
            true,
        );
        assert_eq!(stop, Stop::Length);
        assert_eq!(deltas(&log, "Reasoning("), 10, "{log:?}");
    }

    #[test]
    fn a_tool_call_past_the_ceiling_is_cut_off_mid_input() {
        let text = "[[sim tool=get_weather tokens=2]] Weather?";
        // Two text tokens, then room for one input delta of several.
        let (log, stop) = walk(&prompt(text, 3, weather()), false);
        assert_eq!(stop, Stop::Length);
        let inputs = log.iter().filter(|l| l.contains("ToolInput")).count();
        assert_eq!(inputs, 1, "{log:?}");
        assert!(
            log.iter().any(|l| l == "stop 1"),
            "the call's block closes: {log:?}"
        );
        // No room at all after the text: no call.
        let (log, stop) = walk(&prompt(text, 2, weather()), false);
        assert_eq!(stop, Stop::Length);
        assert!(!log.iter().any(|l| l.contains("Tool")), "{log:?}");
        // Room for the whole input: the call, as before.
        let (_, stop) = walk(&prompt(text, 100, weather()), false);
        assert_eq!(stop, Stop::ToolUse);
    }

    #[test]
    fn a_forced_tool_is_the_whole_answer_unless_a_directive_says_otherwise() {
        let mut parts = weather();
        parts.forced_tool = Some("get_weather".into());
        let plain = Directive::from_text("[[sim tokens=7]]");
        let (log, stop) = walk(&prompt("[[sim tokens=7]]", 100, parts.clone()), true);
        assert_eq!(stop, Stop::ToolUse);
        assert!(log.iter().all(|l| !l.contains("Text")), "{log:?}");
        assert!(log.iter().any(|l| l.contains("Tool")), "{log:?}");
        let answer = Answer::new(
            &prompt("[[sim tokens=7]]", 100, parts.clone()),
            &plain,
            true,
        )
        .unwrap();
        assert_eq!(answer.blocks.len(), 1);
        // A `tool=` directive still decides, text and all.
        let text = "[[sim tokens=3 tool=get_weather]]";
        let answer =
            Answer::new(&prompt(text, 100, parts), &Directive::from_text(text), true).unwrap();
        assert_eq!(answer.blocks.len(), 2);
    }

    #[test]
    fn guardrail_cuts_the_text_only_when_the_request_names_one() {
        use crate::guardrail::GuardrailConfig;
        let text = "[[sim tokens=9 guardrail=4 tool=get_weather]]";
        let (log, stop) = walk(&prompt(text, 100, weather()), true);
        assert_eq!(
            stop,
            Stop::ToolUse,
            "no guardrail configured: no intervention"
        );
        assert!(log.iter().any(|l| l.contains("Tool")));
        let mut parts = weather();
        parts.guardrail = Some(GuardrailConfig {
            id: "g".into(),
            trace: true,
        });
        let directive = Directive::from_text(text);
        let answer = Answer::new(&prompt(text, 100, parts.clone()), &directive, true).unwrap();
        assert_eq!((answer.stop(), answer.deltas()), (Stop::Guardrail, 4));
        assert_eq!(answer.intervention().map(|i| i.trace), Some(true));
        let (log, _) = walk(&prompt(text, 100, parts), true);
        assert!(!log.iter().any(|l| l.contains("Tool")), "{log:?}");
    }

    #[test]
    fn citations_follow_the_preamble_when_documents_are_citable() {
        use crate::parts::citations::Citable;
        let text = "[[sim tokens=1 cite=2]]";
        let (plain, _) = walk(&prompt(text, 100, Parts::default()), true);
        assert!(!plain.iter().any(|l| l.contains("Citation")), "{plain:?}");
        let parts = Parts {
            citable: vec![Citable {
                index: 1,
                title: "doc".into(),
            }],
            ..Parts::default()
        };
        let (log, _) = walk(&prompt(text, 100, parts), true);
        assert_eq!(
            log[1],
            r#"delta 0 Citation { document: 1, title: "doc", text: "Passage 1 of doc" }"#
        );
        assert!(log[2].starts_with("delta 0 Citation"));
        assert!(log[3].starts_with("delta 0 Text("));
    }

    #[test]
    fn preamble_reports_tool_results_then_attachments() {
        let mut parts = weather();
        parts.tool_results = vec!["sunny".to_owned(), "{\"t\":20}".to_owned()];
        parts.attachments = vec![image("image/png", &png(64, 48), "p").unwrap()];
        parts.last_user_text = String::new();
        let (log, stop) = walk(
            &prompt("[[sim tool=get_weather tokens=0]]", 10, parts.clone()),
            true,
        );
        assert_eq!(
            log,
            [
                "start 0 Text",
                r#"delta 0 Text("Tool result: ")"#,
                r#"delta 0 Text("sunny\n")"#,
                r#"delta 0 Text("{\"t\":20}\n")"#,
                r#"delta 0 Text("[image/png 64x48]\n")"#,
                "stop 0",
            ]
        );
        assert_eq!(stop, Stop::End, "an earlier turn's tool= is not repeated");
        parts.last_user_text = "again [[sim tool=get_weather]]".to_owned();
        let (_, stop) = walk(
            &prompt("[[sim tool=get_weather tokens=0]]", 10, parts),
            true,
        );
        assert_eq!(stop, Stop::ToolUse);
    }
}
