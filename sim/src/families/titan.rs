//! Amazon Titan Text: `inputText` bodies and `outputText` chunks.

use serde_json::{Value, json};

use super::{Delta, Finish, Out, Prompt, Shaper, Stop};
use crate::body::{Obj, PromptText, as_object, as_str, max_tokens, optional, required};
use crate::collect::Collected;
use crate::wire::SimError;

/// Titan's default `maxTokenCount`.
const DEFAULT_MAX_TOKENS: u32 = 512;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    let input = as_str(required(body, "inputText", "#")?, "#/inputText")?;
    let max_tokens = match optional(body, "textGenerationConfig") {
        Some(config) => max_tokens(
            as_object(config, "#/textGenerationConfig")?,
            "maxTokenCount",
            "#/textGenerationConfig",
            Some(DEFAULT_MAX_TOKENS),
            model,
        )?,
        None => DEFAULT_MAX_TOKENS,
    };
    let mut text = PromptText::default();
    text.push(input);
    Ok(Prompt::text(text.joined(), max_tokens))
}

pub(super) struct Chunks {
    input_tokens: u32,
}

impl Chunks {
    pub(super) fn new(input_tokens: u32) -> Self {
        Self { input_tokens }
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
        vec![Out::Chunk(json!({
            "outputText": text,
            "index": 0,
            "totalOutputTextTokenCount": null,
            "completionReason": null,
            "inputTextTokenCount": self.input_tokens,
        }))]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = reason(finish.stop);
        vec![Out::Chunk(json!({
            "outputText": "",
            "index": 0,
            "totalOutputTextTokenCount": finish.output_tokens,
            "completionReason": reason,
            "inputTextTokenCount": self.input_tokens,
            "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
        }))]
    }
}

fn reason(stop: Stop) -> &'static str {
    match stop {
        Stop::End | Stop::ToolUse | Stop::Sequence => "FINISH",
        Stop::Length => "LENGTH",
        Stop::Guardrail => "CONTENT_FILTERED",
    }
}

/// The non-streaming answer: `inputTextTokenCount` and one result.
pub(super) fn whole(answer: &Collected) -> Value {
    json!({
        "inputTextTokenCount": answer.finish.input_tokens,
        "results": [{
            "tokenCount": answer.finish.output_tokens,
            "outputText": answer.text(),
            "completionReason": reason(answer.finish.stop),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

    const MODEL: &str = "amazon.titan-text-express-v1";

    #[test]
    fn parses_input_text_and_config() {
        let body = obj(json!({
            "inputText": "User: rivers\nBot:",
            "textGenerationConfig": {"maxTokenCount": 77, "temperature": 0, "topP": 1, "stopSequences": []},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "User: rivers\nBot:");
        assert_eq!(prompt.max_tokens, 77);
        let bare = obj(json!({"inputText": "x"}));
        assert_eq!(parse(&bare, MODEL).unwrap().max_tokens, DEFAULT_MAX_TOKENS);
        assert!(
            parse(&obj(json!({})), MODEL)
                .unwrap_err()
                .message
                .contains("[inputText]")
        );
        let too_many =
            obj(json!({"inputText": "x", "textGenerationConfig": {"maxTokenCount": 8193}}));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("maxTokenCount: 8193 > 8192")
        );
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks::new(3)), Stop::Length);
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[0],
            json!({"outputText": "Hello", "index": 0, "totalOutputTextTokenCount": null,
                   "completionReason": null, "inputTextTokenCount": 3})
        );
        assert_eq!(chunks[2]["completionReason"], "LENGTH");
        assert_eq!(chunks[2]["totalOutputTextTokenCount"], 2);
        assert_eq!(chunks[2]["amazon-bedrock-invocationMetrics"], metrics());
        let chunks = run(Box::new(Chunks::new(3)), Stop::End);
        assert_eq!(chunks[2]["completionReason"], "FINISH");
    }
}
