//! Mistral: an `<s>[INST] … [/INST]` prompt and `outputs[0]` chunks.

use serde_json::{Map, Value, json};

use super::{push_stop, push_text, put_f32, put_strings, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"prompt","max_tokens","temperature","top_p","stop"}`.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let mut body = Map::new();
    body.insert("prompt".into(), json!(prompt(req)));
    body.insert("max_tokens".into(), json!(req.body_max_tokens()));
    put_f32(&mut body, "temperature", req.temperature);
    put_f32(&mut body, "top_p", req.top_p);
    put_strings(&mut body, "stop", &req.stop_sequences);
    Value::Object(body)
}

/// `<s>[INST] u1 [/INST] a1</s>[INST] u2 [/INST]`, with the system text
/// prepended to the first user turn.
fn prompt(req: &InvocationRequest) -> String {
    let mut p = String::from("<s>");
    let mut system = system_text(req);
    for turn in &req.turns {
        match turn.role {
            Role::User => {
                p.push_str("[INST] ");
                if let Some(s) = system.take() {
                    p.push_str(&s);
                    p.push_str("\n\n");
                }
                p.push_str(&turn.text());
                p.push_str(" [/INST]");
            }
            Role::Assistant => {
                p.push(' ');
                p.push_str(&turn.text());
                p.push_str("</s>");
            }
        }
    }
    p
}

fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "stop" => Some("end_turn"),
        "length" | "model_length" => Some("max_tokens"),
        "tool_calls" => Some("tool_use"),
        _ => None,
    }
}

/// `outputs[0].text` and `outputs[0].stop_reason` (text-completion models).
/// Also reads the chat-completion shape (`choices[0].message.content` or
/// `.delta.content`, `stop_reason`/`finish_reason`) that Mistral Large 2 can
/// answer with.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    if let Some(o) = v.pointer("/outputs/0") {
        push_text(&mut out, o.get("text"));
        let reason = o
            .get("stop_reason")
            .filter(|r| r.is_string())
            .or_else(|| v.get("stop_reason"));
        push_stop(&mut out, reason, stop_name);
    } else if let Some(c) = v.pointer("/choices/0") {
        let content = c
            .pointer("/delta/content")
            .or_else(|| c.pointer("/message/content"));
        push_text(&mut out, content);
        let reason = c
            .get("stop_reason")
            .filter(|r| r.is_string())
            .or_else(|| c.get("finish_reason"));
        push_stop(&mut out, reason, stop_name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::Mistral;

    #[test]
    fn simple_body() {
        assert_eq!(
            build_body(&simple("mistral.mistral-7b-instruct-v0:2", "Hello")),
            json!({"prompt": "<s>[INST] Hello [/INST]", "max_tokens": 512})
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            build_body(&full("mistral.mistral-large-2402-v1:0")),
            json!({
                "prompt": "<s>[INST] You are terse.\n\nHi [/INST] Hello!</s>[INST] Name a colour. [/INST]",
                "max_tokens": 256,
                "temperature": 0.7,
                "top_p": 0.9,
                "stop": ["END"]
            })
        );
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"outputs":[{"text":" A","stop_reason":null}]}"#,
            r#"{"outputs":[{"text":" \"Hello, World!\" program","stop_reason":null}]}"#,
            r#"{"outputs":[{"text":" prints text.","stop_reason":"stop"}],"amazon-bedrock-invocationMetrics":{"inputTokenCount":22,"outputTokenCount":12,"invocationLatency":561,"firstByteLatency":272}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                text(" A"),
                text(" \"Hello, World!\" program"),
                text(" prints text."),
                stop("end_turn"),
                usage(Some(22), Some(12)),
                latency(561, 272),
            ]
        );
    }

    #[test]
    fn length_stop() {
        let chunk = r#"{"outputs":[{"text":"","stop_reason":"length"}]}"#;
        assert_eq!(decode(FAMILY, chunk), vec![stop("max_tokens")]);
    }

    #[test]
    fn chat_completion_shape() {
        let chunks = [
            r#"{"id":"5f0c2c5e","object":"chat.completion.chunk","choices":[{"index":0,"message":{"role":"assistant","content":"Blue"},"stop_reason":null}]}"#,
            r#"{"id":"5f0c2c5e","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"."},"finish_reason":null}]}"#,
            r#"{"id":"5f0c2c5e","object":"chat.completion.chunk","choices":[{"index":0,"message":{"role":"assistant","content":""},"stop_reason":"stop"}]}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(deltas, vec![text("Blue"), text("."), stop("end_turn")]);
    }
}
