//! Amazon Titan Text: a "User:/Bot:" transcript as `inputText`, and its chunks.

use serde_json::{Map, Value, json};

use super::{count, push_stop, push_text, push_usage, put_f32, put_strings, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"inputText","textGenerationConfig":{"maxTokenCount","temperature","topP","stopSequences"}}`.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let mut config = Map::new();
    config.insert("maxTokenCount".into(), json!(req.body_max_tokens()));
    put_f32(&mut config, "temperature", req.temperature);
    put_f32(&mut config, "topP", req.top_p);
    put_strings(&mut config, "stopSequences", &req.stop_sequences);
    json!({
        "inputText": transcript(req),
        "textGenerationConfig": Value::Object(config),
    })
}

/// The conversation as "User: …" / "Bot: …" lines (system text first),
/// ending with "Bot:" for the model to continue.
fn transcript(req: &InvocationRequest) -> String {
    let mut lines: Vec<String> = Vec::with_capacity(req.turns.len() + 2);
    if let Some(system) = system_text(req) {
        lines.push(system);
    }
    for t in &req.turns {
        let who = match t.role {
            Role::User => "User",
            Role::Assistant => "Bot",
        };
        lines.push(format!("{who}: {}", t.text()));
    }
    lines.push("Bot:".to_owned());
    lines.join("\n")
}

fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "FINISH" => Some("end_turn"),
        "LENGTH" => Some("max_tokens"),
        "STOP_CRITERIA_MET" => Some("stop_sequence"),
        "CONTENT_FILTERED" => Some("content_filtered"),
        _ => None,
    }
}

/// `outputText`, `completionReason`, `inputTextTokenCount`,
/// `totalOutputTextTokenCount` (cumulative).
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    push_text(&mut out, v.get("outputText"));
    push_stop(&mut out, v.get("completionReason"), stop_name);
    push_usage(
        &mut out,
        count(v.get("inputTextTokenCount")),
        count(v.get("totalOutputTextTokenCount")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::AmazonTitanText;

    #[test]
    fn simple_body() {
        assert_eq!(
            build_body(&simple("amazon.titan-text-express-v1", "Hello")),
            json!({
                "inputText": "User: Hello\nBot:",
                "textGenerationConfig": {"maxTokenCount": 512}
            })
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            build_body(&full("amazon.titan-text-premier-v1:0")),
            json!({
                "inputText": "You are terse.\nUser: Hi\nBot: Hello!\nUser: Name a colour.\nBot:",
                "textGenerationConfig": {
                    "maxTokenCount": 256,
                    "temperature": 0.7,
                    "topP": 0.9,
                    "stopSequences": ["END"]
                }
            })
        );
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"outputText":"\nA 'hello world' program","index":0,"totalOutputTextTokenCount":8,"completionReason":null,"inputTextTokenCount":14}"#,
            r#"{"outputText":" displays a greeting.","index":0,"totalOutputTextTokenCount":13,"completionReason":null,"inputTextTokenCount":null}"#,
            r#"{"outputText":"","index":0,"totalOutputTextTokenCount":13,"completionReason":"FINISH","inputTextTokenCount":null,"amazon-bedrock-invocationMetrics":{"inputTokenCount":14,"outputTokenCount":13,"invocationLatency":1204,"firstByteLatency":903}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                text("\nA 'hello world' program"),
                usage(Some(14), Some(8)),
                text(" displays a greeting."),
                usage(None, Some(13)),
                stop("end_turn"),
                usage(None, Some(13)),
                usage(Some(14), Some(13)),
                latency(1204, 903),
            ]
        );
    }

    #[test]
    fn completion_reasons() {
        for (raw, want) in [
            ("FINISH", "end_turn"),
            ("LENGTH", "max_tokens"),
            ("STOP_CRITERIA_MET", "stop_sequence"),
            ("CONTENT_FILTERED", "content_filtered"),
            ("RAG_QUERY_WHEN_RAG_DISABLED", "rag_query_when_rag_disabled"),
        ] {
            let chunk = format!(r#"{{"outputText":"","index":0,"completionReason":"{raw}"}}"#);
            assert_eq!(decode(FAMILY, &chunk), vec![stop(want)], "{raw}");
        }
    }
}
