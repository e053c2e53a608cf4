//! DeepSeek R1: `prompt` bodies and `choices` chunks.

use serde_json::json;

use super::{Finish, Out, Prompt, Shaper, Stop, parse_prompt_body};
use crate::body::Obj;
use crate::wire::SimError;

/// DeepSeek's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 8192;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    parse_prompt_body(body, "max_tokens", DEFAULT_MAX_TOKENS, model)
}

pub(super) struct Chunks;

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        Vec::new()
    }

    fn token(&mut self, text: &str) -> Vec<Out> {
        vec![Out::Chunk(
            json!({"choices": [{"text": text, "stop_reason": null}]}),
        )]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = match finish.stop {
            Stop::End => "stop",
            Stop::Length => "length",
        };
        vec![Out::Chunk(json!({
            "choices": [{"text": "", "stop_reason": reason}],
            "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
        }))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

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
}
