//! From an upstream's deltas to answer blocks: dense 0-based indices across
//! text, reasoning and tool calls; a tool call's input text gathered and
//! parsed at its end. The session's upstream task is the only user.
//!
//! A tool call whose input is not JSON fails the stream, unless the answer
//! then stops at its token ceiling (`max_tokens`): the model was cut off
//! mid-input, as Anthropic documents it, and the call stays without an end
//! event (its input deltas are in the log) under that stop reason, which is
//! what a client must see to retry with a higher ceiling.

use serde_json::Value;

use super::event::Part;
use crate::upstream::Delta;

/// The block being written, if any.
#[derive(Debug)]
enum Open {
    Text,
    Reasoning {
        signed: bool,
    },
    Tool {
        id: String,
        name: String,
        input: String,
    },
}

/// Index bookkeeping for one answer.
#[derive(Debug, Default)]
pub struct Blocks {
    /// Index of the open block, or of the next one when none is open.
    next: u32,
    open: Option<(u32, Open)>,
    /// Why the last tool call's input is not JSON, until the stop reason
    /// says whether the model was cut off.
    unparsed: Option<String>,
}

/// What one delta adds to the log: `(token, part)` pairs, text in `token`.
pub type Emit = (String, Option<Box<Part>>);

impl Blocks {
    /// Apply `delta`, pushing the events it makes onto `out`. Deltas that
    /// make no event (stop reason, usage, latency, keep-alive) push nothing.
    /// `Err` when a tool call's input is not JSON.
    pub fn apply(&mut self, delta: Delta, out: &mut Vec<Emit>) -> Result<(), String> {
        // Anything after a call whose input is not JSON: it was not cut off.
        if let Some(e) = &self.unparsed {
            return Err(e.clone());
        }
        match delta {
            Delta::Text(t) => {
                if !matches!(self.open, Some((_, Open::Text))) {
                    self.start(Open::Text, out)?;
                }
                out.push((t, None));
            }
            Delta::Reasoning(text) => {
                let index = match &self.open {
                    Some((i, Open::Reasoning { signed: false })) => *i,
                    _ => self.start(Open::Reasoning { signed: false }, out)?,
                };
                out.push(part(Part::reasoning_text(index, text)));
            }
            Delta::ReasoningSignature(sig) => {
                let index = match &mut self.open {
                    Some((i, Open::Reasoning { signed })) if !*signed => {
                        *signed = true;
                        *i
                    }
                    _ => self.start(Open::Reasoning { signed: true }, out)?,
                };
                out.push(part(Part::reasoning_signature(index, sig)));
            }
            Delta::ReasoningRedacted(blob) => {
                let index = self.start(Open::Reasoning { signed: true }, out)?;
                out.push(part(Part::reasoning_redacted(index, blob)));
                self.close(out)?;
            }
            Delta::ToolStart { id, name } => {
                let open = Open::Tool {
                    id: id.clone(),
                    name: name.clone(),
                    input: String::new(),
                };
                let index = self.start(open, out)?;
                out.push(part(Part::tool_start(index, id, name)));
            }
            Delta::ToolInput(piece) => {
                if let Some((index, Open::Tool { input, .. })) = &mut self.open {
                    input.push_str(&piece);
                    out.push(part(Part::tool_input(*index, piece)));
                }
            }
            Delta::Citation {
                title,
                source,
                text,
                location,
            } => {
                let index = match &self.open {
                    Some((i, _)) => *i,
                    None => self.start(Open::Text, out)?,
                };
                out.push(part(Part::Citation {
                    index,
                    title,
                    source,
                    text,
                    location,
                }));
            }
            Delta::Guardrail { action, trace } => {
                out.push(part(Part::Guardrail { action, trace }));
            }
            Delta::BlockEnd => self.close(out)?,
            Delta::Stop(_)
            | Delta::StopSequence(_)
            | Delta::Usage { .. }
            | Delta::Latency { .. }
            | Delta::Alive => {}
        }
        Ok(())
    }

    /// Close what is open (the stream ended with `stop_reason`).
    pub fn finish(&mut self, stop_reason: Option<&str>, out: &mut Vec<Emit>) -> Result<(), String> {
        self.close(out)?;
        match self.unparsed.take() {
            Some(e) if stop_reason != Some("max_tokens") => Err(e),
            _ => Ok(()),
        }
    }

    /// Close the open block and open `block`; returns its index.
    fn start(&mut self, block: Open, out: &mut Vec<Emit>) -> Result<u32, String> {
        self.close(out)?;
        let index = self.next;
        self.open = Some((index, block));
        Ok(index)
    }

    /// Close the open block: a tool call's end event carries its parsed input.
    fn close(&mut self, out: &mut Vec<Emit>) -> Result<(), String> {
        let Some((index, block)) = self.open.take() else {
            return Ok(());
        };
        self.next = index + 1;
        if let Open::Tool { id, name, input } = block {
            let parsed = if input.trim().is_empty() {
                Ok(Value::Object(Default::default()))
            } else {
                serde_json::from_str(&input)
            };
            match parsed {
                Ok(input) => out.push(part(Part::tool_end(index, id, name, input))),
                Err(e) => {
                    self.unparsed = Some(format!(
                        "the model's input for tool call '{name}' is not JSON: {e}"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn part(p: Part) -> Emit {
    (String::new(), Some(Box::new(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(deltas: Vec<Delta>) -> Vec<Emit> {
        let mut b = Blocks::default();
        let mut out = Vec::new();
        for d in deltas {
            b.apply(d, &mut out).unwrap();
        }
        b.finish(None, &mut out).unwrap();
        out
    }

    #[test]
    fn indices_are_dense_across_kinds() {
        let out = run(vec![
            Delta::Reasoning("a".into()),
            Delta::Reasoning("b".into()),
            Delta::ReasoningSignature("s".into()),
            Delta::BlockEnd,
            Delta::Text("Hi".into()),
            Delta::Text("!".into()),
            Delta::BlockEnd,
            Delta::ToolStart {
                id: "t1".into(),
                name: "f".into(),
            },
            Delta::ToolInput("{\"a\":".into()),
            Delta::ToolInput("1}".into()),
            Delta::BlockEnd,
            Delta::ToolStart {
                id: "t2".into(),
                name: "g".into(),
            },
        ]);
        let parts: Vec<_> = out.iter().filter_map(|(_, p)| p.as_deref()).collect();
        let texts: Vec<_> = out
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(texts, ["Hi", "!"]);
        assert_eq!(parts[0], &Part::reasoning_text(0, "a".into()));
        assert_eq!(parts[2], &Part::reasoning_signature(0, "s".into()));
        assert_eq!(parts[3], &Part::tool_start(2, "t1".into(), "f".into()));
        assert_eq!(
            parts[6],
            &Part::tool_end(2, "t1".into(), "f".into(), json!({"a":1}))
        );
        assert_eq!(parts[7], &Part::tool_start(3, "t2".into(), "g".into()));
        assert_eq!(
            parts[8],
            &Part::tool_end(3, "t2".into(), "g".into(), json!({})),
            "a call left open at the end is closed, with an empty input"
        );
    }

    #[test]
    fn text_after_reasoning_without_block_end_is_a_new_block() {
        let out = run(vec![
            Delta::Reasoning("r".into()),
            Delta::Text("t".into()),
            Delta::Reasoning("again".into()),
        ]);
        let idx: Vec<_> = out
            .iter()
            .filter_map(|(_, p)| p.as_deref().and_then(Part::index))
            .collect();
        assert_eq!(idx, [0, 2]);
    }

    #[test]
    fn a_guardrail_verdict_is_a_part_outside_any_block() {
        let out = run(vec![
            Delta::Text("Hi".into()),
            Delta::Guardrail {
                action: "INTERVENED".into(),
                trace: Some(json!({"actionReason": "blocked"})),
            },
            Delta::Text(" more".into()),
        ]);
        assert_eq!(
            out[1].1.as_deref(),
            Some(&Part::Guardrail {
                action: "INTERVENED".into(),
                trace: Some(json!({"actionReason": "blocked"}))
            })
        );
        // The text block it interrupted goes on: no new index.
        assert_eq!(out.len(), 3);
    }

    /// A call with `input`, its block closed.
    fn broken_call(input: &str) -> (Blocks, Vec<Emit>) {
        let mut b = Blocks::default();
        let mut out = Vec::new();
        b.apply(
            Delta::ToolStart {
                id: "t".into(),
                name: "f".into(),
            },
            &mut out,
        )
        .unwrap();
        b.apply(Delta::ToolInput(input.into()), &mut out).unwrap();
        b.apply(Delta::BlockEnd, &mut out).unwrap();
        (b, out)
    }

    #[test]
    fn bad_tool_input_is_an_error_unless_the_model_was_cut_off() {
        // The answer ended for another reason: the model's input is broken.
        let (mut b, mut out) = broken_call("{nope");
        let e = b.finish(Some("end_turn"), &mut out).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        // Content after it: broken too.
        let (mut b, mut out) = broken_call("{nope");
        assert!(b.apply(Delta::Text("x".into()), &mut out).is_err());
        // Cut off at the ceiling: the start and the input delta stay, no end.
        let (mut b, mut out) = broken_call("{\"path\": \"a.t");
        b.finish(Some("max_tokens"), &mut out).unwrap();
        let parts: Vec<_> = out.iter().filter_map(|(_, p)| p.as_deref()).collect();
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(
            parts
                .iter()
                .all(|p| matches!(p, Part::ToolCall { input: None, .. }))
        );
    }
}
