//! DeepSeek R1: `prompt` bodies and `choices` chunks.
//!
//! R1 on Bedrock streams its reasoning as plain text before the answer,
//! closed by `</think>`: with `think=N` the text is N reasoning words, then
//! `\n</think>\n\n`, then the answer.

use serde_json::{Value, json};

use super::{BlockKind, Delta, Finish, Out, Prompt, Shaper, Stop, parse_prompt_body};
use crate::body::Obj;
use crate::collect::{Block, Collected};
use crate::wire::SimError;

/// DeepSeek's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 8192;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    parse_prompt_body(body, "max_tokens", DEFAULT_MAX_TOKENS, model)
}

/// What ends R1's reasoning text.
const END_OF_THINKING: &str = "\n</think>\n\n";

fn text_chunk(text: &str) -> Out {
    Out::Chunk(json!({"choices": [{"text": text, "stop_reason": null}]}))
}

pub(super) struct Chunks;

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        Vec::new()
    }

    fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
        match *delta {
            Delta::Text(text) | Delta::Reasoning(text) => vec![text_chunk(text)],
            Delta::ToolInput(_) | Delta::Citation { .. } => Vec::new(),
        }
    }

    fn block_stop(&mut self, _index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        match block {
            BlockKind::Reasoning { .. } => vec![text_chunk(END_OF_THINKING)],
            _ => Vec::new(),
        }
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = reason(finish.stop);
        vec![Out::Chunk(json!({
            "choices": [{"text": "", "stop_reason": reason}],
            "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
        }))]
    }
}

fn reason(stop: Stop) -> &'static str {
    match stop {
        Stop::End | Stop::ToolUse => "stop",
        Stop::Length => "length",
        Stop::Guardrail => "stop",
        Stop::Sequence => "stop",
    }
}

/// The non-streaming answer: one choice, its text the reasoning, the end
/// of thinking, then the answer, as the stream spells it.
pub(super) fn whole(answer: &Collected) -> Value {
    let mut text = String::new();
    for block in &answer.blocks {
        match block {
            Block::Reasoning { text: thought, .. } => {
                text.push_str(thought);
                text.push_str(END_OF_THINKING);
            }
            Block::Text(piece) => text.push_str(piece),
            Block::Tool { .. } => {}
        }
    }
    json!({"choices": [{"text": text, "stop_reason": reason(answer.finish.stop)}]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run, run_blocks};

    const MODEL: &str = "deepseek.r1-v1:0";

    #[test]
    fn parses_prompt_and_max_tokens() {
        let body =
            obj(json!({"prompt": "rivers?", "max_tokens": 20, "temperature": 0.6, "stop": ["\n"]}));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "rivers?");
        assert_eq!(prompt.max_tokens, 20);
        assert_eq!(
            parse(&obj(json!({"prompt": "x"})), MODEL)
                .unwrap()
                .max_tokens,
            DEFAULT_MAX_TOKENS
        );
        assert!(parse(&obj(json!({"prompt": ["x"]})), MODEL).is_err());
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks), Stop::End);
        assert_eq!(
            chunks[1],
            json!({"choices": [{"text": " world", "stop_reason": null}]})
        );
        assert_eq!(
            chunks[2]["choices"],
            json!([{"text": "", "stop_reason": "stop"}])
        );
        assert_eq!(chunks[2]["amazon-bedrock-invocationMetrics"], metrics());
    }

    #[test]
    fn reasoning_is_text_closed_by_think() {
        let reasoning = BlockKind::Reasoning { signature: "sig" };
        let chunks = run_blocks(
            Box::new(Chunks),
            &[
                (
                    reasoning,
                    &[Delta::Reasoning("Let"), Delta::Reasoning(" me")],
                ),
                (BlockKind::Text, &[Delta::Text("Yes")]),
            ],
            Stop::End,
        );
        let text: Vec<&str> = chunks
            .iter()
            .map(|c| c["choices"][0]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, ["Let", " me", "\n</think>\n\n", "Yes", ""]);
    }
}
