//! Mistral: `[INST]` prompt bodies and `outputs` chunks.

use serde_json::{Value, json};

use super::{Delta, Finish, Out, Prompt, Shaper, Stop, parse_prompt_body};
use crate::body::Obj;
use crate::collect::Collected;
use crate::wire::SimError;

/// Mistral's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 512;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    parse_prompt_body(body, "max_tokens", DEFAULT_MAX_TOKENS, model)
}

pub(super) struct Chunks;

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        Vec::new()
    }

    fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
        // A text-only model: its answers have nothing but text.
        let Delta::Text(text) = *delta else {
            return Vec::new();
        };
        vec![Out::Chunk(
            json!({"outputs": [{"text": text, "stop_reason": null}]}),
        )]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = reason(finish.stop);
        vec![Out::Chunk(json!({
            "outputs": [{"text": "", "stop_reason": reason}],
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

/// The non-streaming answer: one output.
pub(super) fn whole(answer: &Collected) -> Value {
    json!({"outputs": [{"text": answer.text(), "stop_reason": reason(answer.finish.stop)}]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

    const MODEL: &str = "mistral.mistral-large-2407-v1:0";

    #[test]
    fn parses_prompt_and_max_tokens() {
        let body = obj(json!({"prompt": "<s>[INST] rivers [/INST]", "max_tokens": 50, "top_k": 5}));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "<s>[INST] rivers [/INST]");
        assert_eq!(prompt.max_tokens, 50);
        assert!(
            parse(&obj(json!({})), MODEL)
                .unwrap_err()
                .message
                .contains("[prompt]")
        );
        let too_many = obj(json!({"prompt": "x", "max_tokens": 100000}));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("max_tokens: 100000 > 8192")
        );
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks), Stop::End);
        assert_eq!(
            chunks[0],
            json!({"outputs": [{"text": "Hello", "stop_reason": null}]})
        );
        assert_eq!(
            chunks[2]["outputs"],
            json!([{"text": "", "stop_reason": "stop"}])
        );
        assert_eq!(chunks[2]["amazon-bedrock-invocationMetrics"], metrics());
        let chunks = run(Box::new(Chunks), Stop::Length);
        assert_eq!(chunks[2]["outputs"][0]["stop_reason"], "length");
    }
}
