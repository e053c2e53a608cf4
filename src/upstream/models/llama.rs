//! Meta Llama 3 / 4: a chat-template `prompt` and `generation` chunks.

use serde_json::{Map, Value, json};

use super::{base_model_id, count, push_stop, push_text, push_usage, put_f32, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"prompt","max_gen_len","temperature","top_p"}`. Llama on Bedrock takes no
/// stop sequences, so `stop_sequences` is not sent.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let mut body = Map::new();
    body.insert("prompt".into(), json!(prompt(req)));
    body.insert("max_gen_len".into(), json!(req.body_max_tokens()));
    put_f32(&mut body, "temperature", req.temperature);
    put_f32(&mut body, "top_p", req.top_p);
    Value::Object(body)
}

/// Special tokens of one generation's chat template.
struct Template {
    header_start: &'static str,
    header_end: &'static str,
    end_of_turn: &'static str,
}

const LLAMA3: Template = Template {
    header_start: "<|start_header_id|>",
    header_end: "<|end_header_id|>",
    end_of_turn: "<|eot_id|>",
};

const LLAMA4: Template = Template {
    header_start: "<|header_start|>",
    header_end: "<|header_end|>",
    end_of_turn: "<|eot|>",
};

/// The conversation in the model's chat template, ending with an open
/// assistant header.
fn prompt(req: &InvocationRequest) -> String {
    let is_llama4 = base_model_id(&req.model_id)
        .is_some_and(|id| id.to_ascii_lowercase().starts_with("meta.llama4"));
    let t = if is_llama4 { &LLAMA4 } else { &LLAMA3 };
    let mut p = String::from("<|begin_of_text|>");
    let mut push = |role: &str, content: Option<&str>| {
        p.push_str(t.header_start);
        p.push_str(role);
        p.push_str(t.header_end);
        p.push_str("\n\n");
        if let Some(content) = content {
            p.push_str(content);
            p.push_str(t.end_of_turn);
        }
    };
    if let Some(system) = system_text(req) {
        push("system", Some(&system));
    }
    for turn in &req.turns {
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        push(role, Some(&turn.text()));
    }
    push("assistant", None);
    p
}

fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "stop" => Some("end_turn"),
        "length" => Some("max_tokens"),
        _ => None,
    }
}

/// `generation`, `prompt_token_count`, `generation_token_count`
/// (cumulative), `stop_reason`.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    push_text(&mut out, v.get("generation"));
    push_stop(&mut out, v.get("stop_reason"), stop_name);
    push_usage(
        &mut out,
        count(v.get("prompt_token_count")),
        count(v.get("generation_token_count")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::MetaLlama;

    #[test]
    fn simple_body() {
        assert_eq!(
            build_body(&simple("meta.llama3-8b-instruct-v1:0", "Hello")),
            json!({
                "prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                "max_gen_len": 512
            })
        );
    }

    #[test]
    fn system_cache_points_are_dropped() {
        let mut req = simple("us.meta.llama3-3-70b-instruct-v1:0", "Hi");
        req.system = serde_json::from_value(json!([
            {"type":"text","text":"Rules"},{"type":"cachePoint"},{"type":"text","text":"Today"}
        ]))
        .unwrap();
        let prompt = build_body(&req)["prompt"].as_str().unwrap().to_owned();
        assert!(
            prompt.contains("system<|end_header_id|>\n\nRules\n\nToday<|eot_id|>"),
            "{prompt}"
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            build_body(&full("us.meta.llama3-3-70b-instruct-v1:0")),
            json!({
                "prompt": concat!(
                    "<|begin_of_text|>",
                    "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>",
                    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
                    "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
                    "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>",
                    "<|start_header_id|>assistant<|end_header_id|>\n\n"
                ),
                "max_gen_len": 256,
                "temperature": 0.7,
                "top_p": 0.9
            })
        );
    }

    #[test]
    fn llama4_uses_its_own_template() {
        let body = build_body(&full(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama4-scout-17b-instruct-v1:0",
        ));
        assert_eq!(
            body["prompt"],
            json!(concat!(
                "<|begin_of_text|>",
                "<|header_start|>system<|header_end|>\n\nYou are terse.<|eot|>",
                "<|header_start|>user<|header_end|>\n\nHi<|eot|>",
                "<|header_start|>assistant<|header_end|>\n\nHello!<|eot|>",
                "<|header_start|>user<|header_end|>\n\nName a colour.<|eot|>",
                "<|header_start|>assistant<|header_end|>\n\n"
            ))
        );
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"generation":"A","prompt_token_count":29,"generation_token_count":1,"stop_reason":null}"#,
            r#"{"generation":" \"Hello, World!\" program","prompt_token_count":null,"generation_token_count":7,"stop_reason":null}"#,
            r#"{"generation":"","prompt_token_count":null,"generation_token_count":21,"stop_reason":"stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":29,"outputTokenCount":21,"invocationLatency":478,"firstByteLatency":230}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                text("A"),
                usage(Some(29), Some(1)),
                text(" \"Hello, World!\" program"),
                usage(None, Some(7)),
                stop("end_turn"),
                usage(None, Some(21)),
                usage(Some(29), Some(21)),
                latency(478, 230),
            ]
        );
    }

    #[test]
    fn length_stop() {
        let chunk = r#"{"generation":" and","prompt_token_count":null,"generation_token_count":512,"stop_reason":"length"}"#;
        assert_eq!(
            decode(FAMILY, chunk),
            vec![text(" and"), stop("max_tokens"), usage(None, Some(512))]
        );
    }
}
