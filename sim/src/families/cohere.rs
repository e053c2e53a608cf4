//! Cohere Command R: `message` / `chat_history` bodies and `event_type` chunks.

use serde_json::{Value, json};

use super::{Delta, Finish, Out, Prompt, Shaper, Stop, random_id};
use crate::body::{Obj, PromptText, as_array, as_object, as_str, max_tokens, optional, required};
use crate::collect::Collected;
use crate::wire::SimError;

/// Command R's default `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 512;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    let message = as_str(required(body, "message", "#")?, "#/message")?;
    let max_tokens = max_tokens(body, "max_tokens", "#", Some(DEFAULT_MAX_TOKENS), model)?;
    let mut text = PromptText::default();
    if let Some(preamble) = optional(body, "preamble") {
        text.push(as_str(preamble, "#/preamble")?);
    }
    if let Some(history) = optional(body, "chat_history") {
        for (i, turn) in as_array(history, "#/chat_history")?.iter().enumerate() {
            let path = format!("#/chat_history/{i}");
            let turn = as_object(turn, &path)?;
            as_str(required(turn, "role", &path)?, &format!("{path}/role"))?;
            if let Some(m) = optional(turn, "message") {
                text.push(as_str(m, &format!("{path}/message"))?);
            }
        }
    }
    text.push(message);
    Ok(Prompt::text(text.joined(), max_tokens))
}

pub(super) struct Chunks {
    generation_id: String,
    text: String,
}

impl Chunks {
    pub(super) fn new() -> Self {
        let hex = random_id(32).to_ascii_lowercase();
        // A uuid-shaped id, as Cohere returns.
        let generation_id = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        Self {
            generation_id,
            text: String::new(),
        }
    }
}

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Chunk(json!({
            "is_finished": false,
            "event_type": "stream-start",
            "generation_id": self.generation_id,
        }))]
    }

    fn delta(&mut self, _index: u32, delta: &Delta<'_>) -> Vec<Out> {
        // A text-only model: its answers have nothing but text.
        let Delta::Text(text) = *delta else {
            return Vec::new();
        };
        self.text.push_str(text);
        vec![Out::Chunk(json!({
            "is_finished": false,
            "event_type": "text-generation",
            "text": text,
        }))]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let reason = reason(finish.stop);
        vec![Out::Chunk(json!({
            "is_finished": true,
            "event_type": "stream-end",
            "finish_reason": reason,
            "response": {
                "response_id": random_id(36).to_ascii_lowercase(),
                "text": self.text,
                "generation_id": self.generation_id,
                "finish_reason": reason,
                "meta": {
                    "billed_units": {
                        "input_tokens": finish.input_tokens,
                        "output_tokens": finish.output_tokens,
                    },
                },
            },
            "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
        }))]
    }
}

fn reason(stop: Stop) -> &'static str {
    match stop {
        Stop::End | Stop::ToolUse => "COMPLETE",
        Stop::Length => "MAX_TOKENS",
        Stop::Guardrail => "COMPLETE",
        Stop::Sequence => "COMPLETE",
    }
}

/// The non-streaming answer: Command R's chat response.
pub(super) fn whole(answer: &Collected) -> Value {
    json!({
        "response_id": random_id(36).to_ascii_lowercase(),
        "text": answer.text(),
        "generation_id": random_id(36).to_ascii_lowercase(),
        "finish_reason": reason(answer.finish.stop),
        "meta": {
            "billed_units": {
                "input_tokens": answer.finish.input_tokens,
                "output_tokens": answer.finish.output_tokens,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

    const MODEL: &str = "cohere.command-r-plus-v1:0";

    #[test]
    fn parses_message_history_and_preamble() {
        let body = obj(json!({
            "message": "And rivers?",
            "preamble": "You are terse.",
            "chat_history": [
                {"role": "USER", "message": "Hi"},
                {"role": "CHATBOT", "message": "Hello"},
            ],
            "max_tokens": 99,
            "temperature": 0.3,
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "You are terse.\nHi\nHello\nAnd rivers?");
        assert_eq!(prompt.max_tokens, 99);
        assert!(
            parse(&obj(json!({"prompt": "x"})), MODEL)
                .unwrap_err()
                .message
                .contains("[message]")
        );
        let bad_history = obj(json!({"message": "x", "chat_history": [{"message": "no role"}]}));
        assert!(parse(&bad_history, MODEL).is_err());
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks::new()), Stop::End);
        assert_eq!(chunks[0]["event_type"], "stream-start");
        let id = chunks[0]["generation_id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 36);
        assert_eq!(
            chunks[1],
            json!({"is_finished": false, "event_type": "text-generation", "text": "Hello"})
        );
        let last = &chunks[3];
        assert_eq!(last["is_finished"], true);
        assert_eq!(last["event_type"], "stream-end");
        assert_eq!(last["finish_reason"], "COMPLETE");
        assert_eq!(last["response"]["text"], "Hello world");
        assert_eq!(last["response"]["generation_id"], id.as_str());
        assert_eq!(last["amazon-bedrock-invocationMetrics"], metrics());
        let chunks = run(Box::new(Chunks::new()), Stop::Length);
        assert_eq!(chunks[3]["finish_reason"], "MAX_TOKENS");
    }
}
