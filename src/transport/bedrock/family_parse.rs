//! Each family's InvokeModel body read as a stream request (`api: invoke`),
//! for the checks before the body goes upstream as it came: Claude's in
//! [`super::claude_parse`]; Nova's `messages-v1` (Converse's blocks);
//! the text families' prompt and options (their prompt, templates and all,
//! is the one user turn).

use serde_json::{Map, Value};

use super::claude_parse;
use super::converse_parse::{self, float, strings, uint};
use crate::request::StreamRequest;
use crate::upstream::Api;
use crate::upstream::models::ModelFamily;
use crate::upstream::request::{Role, Turn};

/// `body` for `family` as a stream request for `model_id`.
pub fn stream_request(
    family: ModelFamily,
    model_id: &str,
    body: &Value,
) -> Result<StreamRequest, String> {
    if family == ModelFamily::AnthropicClaude {
        return claude_parse::stream_request(model_id, body);
    }
    let obj = body.as_object().ok_or("the body must be a JSON object")?;
    let mut req = match family {
        ModelFamily::AmazonNova => nova(obj)?,
        ModelFamily::AmazonTitanText => {
            let config = obj.get("textGenerationConfig").and_then(Value::as_object);
            options(
                text(obj, "inputText")?,
                config,
                ["maxTokenCount", "temperature", "topP", "stopSequences"],
            )?
        }
        ModelFamily::MetaLlama => options(
            text(obj, "prompt")?,
            Some(obj),
            ["max_gen_len", "temperature", "top_p", ""],
        )?,
        ModelFamily::Mistral | ModelFamily::DeepSeek => options(
            text(obj, "prompt")?,
            Some(obj),
            ["max_tokens", "temperature", "top_p", "stop"],
        )?,
        ModelFamily::CohereCommandR => cohere(obj)?,
        ModelFamily::AnthropicClaude => StreamRequest::default(),
    };
    req.model = Some(model_id.to_owned());
    req.api = Some(Api::Invoke);
    Ok(req)
}

/// Nova's `messages-v1` body.
fn nova(obj: &Map<String, Value>) -> Result<StreamRequest, String> {
    let config = obj.get("inferenceConfig").and_then(Value::as_object);
    let pick = |a: &str, b: &str| config.and_then(|c| c.get(a).or_else(|| c.get(b)));
    let mut c = Map::new();
    for (key, a, b) in [
        ("max", "max_new_tokens", "maxTokens"),
        ("t", "temperature", "temperature"),
        ("p", "top_p", "topP"),
    ] {
        if let Some(v) = pick(a, b) {
            c.insert(key.into(), v.clone());
        }
    }
    let (tools, tool_choice) = converse_parse::tools(obj.get("toolConfig"))?;
    Ok(StreamRequest {
        system: converse_parse::system(obj.get("system"))?,
        messages: converse_parse::turns(obj.get("messages"))?,
        max_tokens: uint(&c, "max").transpose()?,
        temperature: float(&c, "t").transpose()?,
        top_p: float(&c, "p").transpose()?,
        stop_sequences: config
            .map(|c| strings(c, "stopSequences"))
            .transpose()?
            .unwrap_or_default(),
        tools,
        tool_choice,
        reasoning: converse_parse::nova_reasoning(obj.get("reasoningConfig")),
        ..Default::default()
    })
}

/// Cohere Command R: `message`, `chat_history`, `preamble` and options.
fn cohere(obj: &Map<String, Value>) -> Result<StreamRequest, String> {
    let mut messages = Vec::new();
    if let Some(history) = obj.get("chat_history").and_then(Value::as_array) {
        for h in history {
            let role = match h.get("role").and_then(Value::as_str) {
                Some("CHATBOT") => Role::Assistant,
                _ => Role::User,
            };
            let t = h.get("message").and_then(Value::as_str).unwrap_or_default();
            messages.push(Turn::text_turn(role, t));
        }
    }
    let mut req = options(
        text(obj, "message")?,
        Some(obj),
        ["max_tokens", "temperature", "p", "stop_sequences"],
    )?;
    messages.append(&mut req.messages);
    req.messages = messages;
    req.system = obj
        .get("preamble")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .into();
    Ok(req)
}

/// A one-turn request with `[max tokens, temperature, top p, stop]` read
/// from `config` under the family's names (`""`: the family has none).
fn options(
    prompt: String,
    config: Option<&Map<String, Value>>,
    [max, t, p, stop]: [&str; 4],
) -> Result<StreamRequest, String> {
    let empty = Map::new();
    let c = config.unwrap_or(&empty);
    Ok(StreamRequest {
        messages: vec![Turn::text_turn(Role::User, prompt)],
        max_tokens: uint(c, max).transpose()?,
        temperature: float(c, t).transpose()?,
        top_p: float(c, p).transpose()?,
        stop_sequences: if stop.is_empty() {
            Vec::new()
        } else {
            strings(c, stop)?
        },
        ..Default::default()
    })
}

fn text(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the body needs `{key}`, a string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_family_body_reads() {
        let cases = [
            (
                ModelFamily::AmazonNova,
                json!({"schemaVersion": "messages-v1", "system": [{"text": "S"}], "messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"max_new_tokens": 77, "top_p": 0.5}}),
            ),
            (
                ModelFamily::AmazonTitanText,
                json!({"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": 77, "topP": 0.5}}),
            ),
            (
                ModelFamily::MetaLlama,
                json!({"prompt": "Hi", "max_gen_len": 77, "top_p": 0.5}),
            ),
            (
                ModelFamily::Mistral,
                json!({"prompt": "Hi", "max_tokens": 77, "top_p": 0.5, "stop": ["x"]}),
            ),
            (
                ModelFamily::CohereCommandR,
                json!({"message": "Hi", "chat_history": [{"role": "USER", "message": "a"}, {"role": "CHATBOT", "message": "b"}], "max_tokens": 77, "p": 0.5}),
            ),
            (
                ModelFamily::DeepSeek,
                json!({"prompt": "Hi", "max_tokens": 77, "top_p": 0.5}),
            ),
        ];
        for (family, body) in cases {
            let r = stream_request(family, "m", &body).unwrap();
            assert_eq!(r.max_tokens, Some(77), "{family}");
            assert_eq!(r.top_p, Some(0.5), "{family}");
            assert_eq!(r.messages.last().unwrap().text(), "Hi", "{family}");
            assert_eq!(r.api, Some(Api::Invoke));
        }
        assert!(stream_request(ModelFamily::MetaLlama, "m", &json!({"max_gen_len": 5})).is_err());
    }
}
