//! Meta Llama: `prompt` bodies and `generation` chunks.

use serde_json::{Value, json};

use super::{Delta, Finish, Out, Prompt, Shaper, Stop, parse_prompt_body};
use crate::body::Obj;
use crate::collect::Collected;
use crate::wire::SimError;

/// Llama's default `max_gen_len`.
const DEFAULT_MAX_TOKENS: u32 = 512;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    parse_prompt_body(body, "max_gen_len", DEFAULT_MAX_TOKENS, model)
}

pub(super) struct Chunks {
    input_tokens: u32,
    generated: u32,
}

impl Chunks {
    pub(super) fn new(input_tokens: u32) -> Self {
        Self {
            input_tokens,
            generated: 0,
        }
    }

    /// The prompt token count goes on the first chunk only.
    fn prompt_token_count(&self) -> Option<u32> {
        (self.generated == 0).then_some(self.input_tokens)
    }
}

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        Vec::new()
    }

    fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
        // A text-only model: its answers have nothing but text.
        let Delta::Text(text) = *delta else {
            return Vec::new();
        };
        let prompt_token_count = self.prompt_token_count();
        self.generated += 1;
        vec![Out::Chunk(json!({
            "generation": text,
            "prompt_token_count": prompt_token_count,
            "generation_token_count": self.generated,
            "stop_reason": null,
        }))]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = reason(finish.stop);
        vec![Out::Chunk(json!({
            "generation": "",
            "prompt_token_count": self.prompt_token_count(),
            "generation_token_count": finish.output_tokens,
            "stop_reason": reason,
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

/// The non-streaming answer: one `generation` with its counts.
pub(super) fn whole(answer: &Collected) -> Value {
    json!({
        "generation": answer.text(),
        "prompt_token_count": answer.finish.input_tokens,
        "generation_token_count": answer.finish.output_tokens,
        "stop_reason": reason(answer.finish.stop),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

    const MODEL: &str = "meta.llama3-1-8b-instruct-v1:0";

    #[test]
    fn parses_prompt_and_max_gen_len() {
        let body = obj(
            json!({"prompt": "<|begin_of_text|>rivers", "max_gen_len": 128, "temperature": 0.5, "top_p": 0.9}),
        );
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "<|begin_of_text|>rivers");
        assert_eq!(prompt.max_tokens, 128);
        assert_eq!(
            parse(&obj(json!({"prompt": "x"})), MODEL)
                .unwrap()
                .max_tokens,
            DEFAULT_MAX_TOKENS
        );
        assert!(
            parse(&obj(json!({"max_gen_len": 5})), MODEL)
                .unwrap_err()
                .message
                .contains("[prompt]")
        );
        assert!(parse(&obj(json!({"prompt": 5})), MODEL).is_err());
        let too_many = obj(json!({"prompt": "x", "max_gen_len": 10000}));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("max_gen_len: 10000 > 2048")
        );
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks::new(3)), Stop::End);
        assert_eq!(
            chunks[0],
            json!({"generation": "Hello", "prompt_token_count": 3, "generation_token_count": 1, "stop_reason": null})
        );
        assert_eq!(chunks[1]["prompt_token_count"], json!(null));
        assert_eq!(chunks[1]["generation_token_count"], 2);
        assert_eq!(chunks[2]["stop_reason"], "stop");
        assert_eq!(chunks[2]["amazon-bedrock-invocationMetrics"], metrics());
        let chunks = run(Box::new(Chunks::new(3)), Stop::Length);
        assert_eq!(chunks[2]["stop_reason"], "length");
    }
}
