//! DeepSeek R1: a prompt in R1's chat template and `choices[0]` chunks.
//! Its reasoning is text closed by `</think>`, split from the answer per
//! stream (see `think`); the body carries text parts only.

use serde_json::{Map, Value, json};

use super::{push_stop, push_text, put_f32, put_strings, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

const BEGIN: &str = "<｜begin▁of▁sentence｜>";
const END: &str = "<｜end▁of▁sentence｜>";
const USER: &str = "<｜User｜>";
const ASSISTANT: &str = "<｜Assistant｜>";

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

/// `<｜begin▁of▁sentence｜>{system}<｜User｜>{u}<｜Assistant｜>{a}<｜end▁of▁sentence｜>…<｜Assistant｜><think>\n`;
/// the open `<think>` follows R1's template and AWS's own example, so the
/// stream starts with the reasoning and reaches `</think>` before the answer.
fn prompt(req: &InvocationRequest) -> String {
    let mut p = String::from(BEGIN);
    if let Some(system) = system_text(req) {
        p.push_str(&system);
    }
    for turn in &req.turns {
        match turn.role {
            Role::User => {
                p.push_str(USER);
                p.push_str(&turn.text());
            }
            Role::Assistant => {
                p.push_str(ASSISTANT);
                p.push_str(&turn.text());
                p.push_str(END);
            }
        }
    }
    p.push_str(ASSISTANT);
    p.push_str("<think>\n");
    p
}

fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "stop" => Some("end_turn"),
        "length" => Some("max_tokens"),
        _ => None,
    }
}

/// `choices[0].text` and `choices[0].stop_reason` (`finish_reason` as a
/// fallback).
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    if let Some(c) = v.pointer("/choices/0") {
        push_text(&mut out, c.get("text"));
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

    const FAMILY: ModelFamily = ModelFamily::DeepSeek;

    #[test]
    fn simple_body() {
        assert_eq!(
            build_body(&simple("us.deepseek.r1-v1:0", "Hello")),
            json!({
                "prompt": "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜><think>\n",
                "max_tokens": 512
            })
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            build_body(&full("us.deepseek.r1-v1:0")),
            json!({
                "prompt": concat!(
                    "<｜begin▁of▁sentence｜>You are terse.",
                    "<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>",
                    "<｜User｜>Name a colour.<｜Assistant｜><think>\n"
                ),
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
            r#"{"choices":[{"text":"Okay, the user wants","stop_reason":null}]}"#,
            r#"{"choices":[{"text":" one line.\n</think>\n\n","stop_reason":null}]}"#,
            r#"{"choices":[{"text":"It prints \"Hello, World!\".","stop_reason":null}]}"#,
            r#"{"choices":[{"text":"","stop_reason":"stop"}],"amazon-bedrock-invocationMetrics":{"inputTokenCount":17,"outputTokenCount":25,"invocationLatency":1873,"firstByteLatency":466}}"#,
        ];
        // Chunk by chunk, the text is raw.
        assert_eq!(
            decode(FAMILY, chunks[1]),
            vec![text(" one line.\n</think>\n\n")]
        );
        // A stream's decoder splits reasoning from the answer.
        let mut decoder = FAMILY.decoder();
        let deltas: Vec<Delta> = chunks
            .iter()
            .map(|c| decoder.decode(c.as_bytes()).unwrap())
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(
            deltas,
            vec![
                Delta::Reasoning("Okay, the user wants".into()),
                Delta::Reasoning(" one line.".into()),
                Delta::BlockEnd,
                text("It prints \"Hello, World!\"."),
                stop("end_turn"),
                usage(Some(17), Some(25)),
                latency(1873, 466),
            ]
        );
    }

    #[test]
    fn an_answer_without_think_tags_is_text() {
        let mut decoder = FAMILY.decoder();
        let mut deltas = Vec::new();
        for c in [
            r#"{"choices":[{"text":"Paris","stop_reason":null}]}"#,
            r#"{"choices":[{"text":".","stop_reason":"stop"}]}"#,
        ] {
            deltas.extend(decoder.decode(c.as_bytes()).unwrap());
        }
        assert_eq!(deltas, vec![text("Paris"), text("."), stop("end_turn")]);
    }

    #[test]
    fn length_stop() {
        let chunk = r#"{"choices":[{"text":" and","stop_reason":"length"}]}"#;
        assert_eq!(
            decode(FAMILY, chunk),
            vec![text(" and"), stop("max_tokens")]
        );
    }
}
