//! Non-streaming answers: the streaming answer walked to its end and kept as whole blocks.
//!
//! `InvokeModel` and `Converse` build the same [`Answer`] the streams do
//! and run it through a [`Collector`] — a shaper that keeps the deltas
//! instead of framing them — so both APIs say the same thing; each family
//! then renders the [`Collected`] blocks in its own response shape.

use serde_json::{Map, Value};

use crate::answer::{Answer, BlockKind, Delta};
use crate::families::{Finish, Out, Shaper};

/// One whole content block of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Reasoning {
        text: String,
        signature: String,
    },
    Text(String),
    /// A tool call; its input is the JSON the stream's deltas spell.
    Tool {
        name: String,
        input: Value,
    },
}

/// A whole answer and its totals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Collected {
    pub blocks: Vec<Block>,
    pub finish: Finish,
}

impl Collected {
    /// The text blocks joined: what a text-only model answers.
    pub(crate) fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Walks `answer` to its end; `finish` gives the totals and timings
/// (its `output_tokens` are set here, one per delta, as the streams count).
pub(crate) fn collect(mut answer: Answer, mut finish: Finish) -> Collected {
    let mut collector = Collector::default();
    let deltas = answer.deltas();
    for _ in 0..deltas {
        answer.next(&mut collector);
    }
    answer.close(&mut collector);
    finish.stop = answer.stop();
    finish.stop_sequence = answer.stop_sequence().map(str::to_owned);
    finish.guardrail = answer.intervention().cloned();
    finish.output_tokens = deltas;
    Collected {
        blocks: collector.blocks.into_iter().map(Partial::finish).collect(),
        finish,
    }
}

/// A block while its deltas arrive.
enum Partial {
    Reasoning { text: String, signature: String },
    Text(String),
    Tool { name: String, input: String },
}

impl Partial {
    fn finish(self) -> Block {
        match self {
            Self::Reasoning { text, signature } => Block::Reasoning { text, signature },
            Self::Text(text) => Block::Text(text),
            Self::Tool { name, input } => Block::Tool {
                name,
                // The input is built as JSON (see `schema_input`); an empty
                // object stands in should that ever not hold.
                input: serde_json::from_str(&input).unwrap_or_else(|_| Value::Object(Map::new())),
            },
        }
    }
}

/// A shaper that keeps blocks instead of making chunks.
#[derive(Default)]
struct Collector {
    blocks: Vec<Partial>,
}

impl Shaper for Collector {
    fn start(&mut self) -> Vec<Out> {
        Vec::new()
    }

    fn block_start(&mut self, _index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        self.blocks.push(match *block {
            BlockKind::Reasoning { signature } => Partial::Reasoning {
                text: String::new(),
                signature: signature.to_owned(),
            },
            BlockKind::Text => Partial::Text(String::new()),
            BlockKind::Tool { name } => Partial::Tool {
                name: name.to_owned(),
                input: String::new(),
            },
        });
        Vec::new()
    }

    fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
        match (self.blocks.last_mut(), *delta) {
            (Some(Partial::Reasoning { text, .. }), Delta::Reasoning(piece))
            | (Some(Partial::Text(text)), Delta::Text(piece))
            | (Some(Partial::Tool { input: text, .. }), Delta::ToolInput(piece)) => {
                text.push_str(piece);
            }
            _ => {}
        }
        Vec::new()
    }

    fn finish(&mut self, _finish: &Finish) -> Vec<Out> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::directive::Directive;
    use crate::families::test_support::finish;
    use crate::families::{Prompt, Stop};
    use crate::parts::{Parts, Tool};

    /// The collected answer and how many deltas its stream would send.
    fn collected(text: &str, parts: Parts) -> (Collected, u32) {
        let prompt = Prompt {
            text: text.to_owned(),
            max_tokens: 100,
            parts,
            stop_sequences: Vec::new(),
        };
        let answer = Answer::new(&prompt, &Directive::from_text(text), true).unwrap();
        let deltas = answer.deltas();
        (collect(answer, finish(Stop::End)), deltas)
    }

    #[test]
    fn collects_reasoning_text_and_tool_calls() {
        let parts = Parts {
            tools: vec![Tool {
                name: "get_weather".to_owned(),
                schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            }],
            ..Parts::default()
        };
        let (whole, deltas) = collected("[[sim think=2 tokens=3 tool=get_weather]]", parts);
        assert_eq!(whole.blocks.len(), 3);
        assert_eq!(
            whole.blocks[0],
            Block::Reasoning {
                text: "Let me".to_owned(),
                signature: crate::signature::sign("Let me"),
            }
        );
        let Block::Text(text) = &whole.blocks[1] else {
            panic!("{:?}", whole.blocks[1]);
        };
        assert!(!text.trim().is_empty());
        assert_eq!(whole.text(), *text);
        assert_eq!(
            whole.blocks[2],
            Block::Tool {
                name: "get_weather".to_owned(),
                input: json!({"city": "sample"}),
            }
        );
        assert_eq!(whole.finish.stop, Stop::ToolUse);
        assert!(
            deltas > 2 + 3 + 1,
            "the tool input streams in several deltas"
        );
        assert_eq!(whole.finish.output_tokens, deltas, "every delta counts");
    }

    #[test]
    fn the_same_text_as_the_stream() {
        let (whole, _) = collected("rivers [[sim tokens=5]]", Parts::default());
        let mut tokens = crate::text::Tokens::for_prompt("rivers [[sim tokens=5]]");
        let streamed: String = (0..5).filter_map(|_| tokens.next()).collect();
        assert_eq!(whole.text(), streamed);
        assert_eq!(whole.finish.output_tokens, 5);
    }
}
