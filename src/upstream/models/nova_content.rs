//! Nova's InvokeModel content: Converse's blocks as JSON, bytes as base64.
//!
//! `{"text"}`, `{"image":{"format","source":{"bytes"}}}`,
//! `{"document":{"format","name","source":{"bytes"}}}`,
//! `{"toolUse":{"toolUseId","name","input"}}`,
//! `{"toolResult":{"toolUseId","content":[{"text"}|{"image"}],"status"?}}`,
//! `{"reasoningContent":{"reasoningText":{"text","signature"?}}}` or
//! `{"reasoningContent":{"redactedContent"}}`, `{"cachePoint":{"type":"default"}}`;
//! `system` as `{"text"}` blocks and cache points; and `toolConfig` as
//! Converse's (a cache point after the tools when asked for), with the same
//! rule for tool choice `none` (see `upstream::converse`).

use serde_json::{Map, Value, json};

use crate::parts::attachment::{document_format, image_format};
use crate::parts::{CacheTtl, Content, SystemPrompt, ToolChoice, ToolResultContent};
use crate::upstream::attach::DocumentNames;
use crate::upstream::request::{InvocationRequest, Role, Turn};
use crate::upstream::tools;

/// Every turn as a message with a list of content blocks.
pub(super) fn messages(turns: &[Turn]) -> Result<Vec<Value>, String> {
    let mut names = DocumentNames::default();
    turns
        .iter()
        .enumerate()
        .map(|(n, turn)| {
            let role = match turn.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            let only_part = turn.content.len() == 1;
            let content = turn
                .content
                .iter()
                .filter(|p| only_part || !matches!(p, Content::Text { text } if text.is_empty()))
                .map(|p| block(p, &mut names))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("messages[{n}]: {e}"))?;
            Ok(json!({"role": role, "content": content}))
        })
        .collect()
}

fn block(part: &Content, names: &mut DocumentNames) -> Result<Value, String> {
    Ok(match part {
        Content::Text { text } => json!({"text": text}),
        Content::Image { media_type, data } => image(media_type, data)?,
        Content::Document {
            media_type,
            name,
            data,
            ..
        } => document(media_type, name, data, names)?,
        Content::Reasoning(r) => match (&r.redacted, &r.text) {
            (Some(data), _) => json!({"reasoningContent": {"redactedContent": data}}),
            (None, text) => {
                let mut t = Map::new();
                t.insert("text".into(), json!(text.as_deref().unwrap_or_default()));
                if let Some(sig) = &r.signature {
                    t.insert("signature".into(), json!(sig));
                }
                json!({"reasoningContent": {"reasoningText": t}})
            }
        },
        Content::ToolCall { id, name, input } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
        }
        Content::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => {
            let mut r = Map::new();
            r.insert("toolUseId".into(), json!(tool_call_id));
            r.insert(
                "content".into(),
                Value::Array(tool_result_content(content, names)?),
            );
            if *is_error {
                r.insert("status".into(), json!("error"));
            }
            json!({"toolResult": r})
        }
        Content::CachePoint { ttl } => cache_point(*ttl),
        Content::GuardContent { .. } => return Err(super::GUARD_CONVERSE_ONLY.into()),
    })
}

fn image(media_type: &str, data: &str) -> Result<Value, String> {
    let format = image_format(media_type)
        .ok_or_else(|| format!("image type '{media_type}' is not one Nova takes"))?;
    Ok(json!({"image": {"format": format, "source": {"bytes": data.trim()}}}))
}

fn document(
    media_type: &str,
    name: &str,
    data: &str,
    names: &mut DocumentNames,
) -> Result<Value, String> {
    let format = document_format(media_type)
        .ok_or_else(|| format!("document type '{media_type}' is not one Nova takes"))?;
    Ok(json!({"document": {
        "format": format,
        "name": names.name(name),
        "source": {"bytes": data.trim()}
    }}))
}

fn tool_result_content(
    content: &ToolResultContent,
    names: &mut DocumentNames,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for part in content.parts() {
        match part {
            Content::Text { text } => out.push(json!({"text": text})),
            Content::Image { media_type, data } => out.push(image(&media_type, &data)?),
            Content::Document {
                media_type,
                name,
                data,
                ..
            } => out.push(document(&media_type, &name, &data, names)?),
            _ => {}
        }
    }
    Ok(out)
}

/// Nova's cache point, as Converse writes it (with its `ttl` when named).
fn cache_point(ttl: Option<CacheTtl>) -> Value {
    let mut point = json!({"type": "default"});
    if let Some(ttl) = ttl {
        point["ttl"] = json!(ttl.as_str());
    }
    json!({"cachePoint": point})
}

/// `system`: a `{"text"}` block per text part and a cache point where one
/// stands; `None` when there is no text.
pub(super) fn system(system: &SystemPrompt) -> Option<Value> {
    if system.is_empty() {
        return None;
    }
    let blocks = system
        .parts()
        .iter()
        .filter_map(|p| match p {
            Content::Text { text } if text.trim().is_empty() => None,
            Content::Text { text } => Some(json!({"text": text})),
            Content::CachePoint { ttl } => Some(cache_point(*ttl)),
            _ => None,
        })
        .collect();
    Some(Value::Array(blocks))
}

/// `toolConfig`, or `None` when no tools are declared (or the choice is
/// `none` and the history does not need them).
pub(super) fn tool_config(req: &InvocationRequest) -> Option<Value> {
    let declared = tools::declared(req);
    if declared.is_empty() {
        return None;
    }
    let choice = match &req.tool_choice {
        ToolChoice::None if !tools::history_has_tools(&req.turns) => return None,
        ToolChoice::None | ToolChoice::Auto => None,
        ToolChoice::Any => Some(json!({"any": {}})),
        ToolChoice::Tool(name) => Some(json!({"tool": {"name": name}})),
    };
    let mut list: Vec<Value> = declared
        .iter()
        .map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                spec.insert("description".into(), json!(d));
            }
            spec.insert("inputSchema".into(), json!({"json": t.input_schema}));
            json!({"toolSpec": spec})
        })
        .collect();
    if tools::cache_point_after(req) {
        list.push(cache_point(req.tools_cache_ttl));
    }
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(list));
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Some(Value::Object(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(v: Value) -> Vec<Turn> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parts_become_converse_json() {
        let m = messages(&turns(json!([
            {"role":"user","content":[
                {"type":"text","text":"Compare"},
                {"type":"image","mediaType":"image/jpeg","data":"/9j/4AAQ"},
                {"type":"document","mediaType":"text/csv","name":"sales.csv","data":"YSxi"},
                {"type":"cachePoint"}]},
            {"role":"assistant","content":[
                {"type":"reasoning","text":"hm","signature":"sig"},
                {"type":"reasoning","redacted":"EmwK"},
                {"type":"toolCall","id":"tooluse_1","name":"w","input":{"city":"Paris"}}]},
            {"role":"user","content":[
                {"type":"toolResult","toolCallId":"tooluse_1","content":"sunny","isError":true}]}
        ])))
        .unwrap();
        assert_eq!(
            m,
            vec![
                json!({"role":"user","content":[
                    {"text":"Compare"},
                    {"image":{"format":"jpeg","source":{"bytes":"/9j/4AAQ"}}},
                    {"document":{"format":"csv","name":"sales csv","source":{"bytes":"YSxi"}}},
                    {"cachePoint":{"type":"default"}}]}),
                json!({"role":"assistant","content":[
                    {"reasoningContent":{"reasoningText":{"text":"hm","signature":"sig"}}},
                    {"reasoningContent":{"redactedContent":"EmwK"}},
                    {"toolUse":{"toolUseId":"tooluse_1","name":"w","input":{"city":"Paris"}}}]}),
                json!({"role":"user","content":[
                    {"toolResult":{"toolUseId":"tooluse_1","content":[{"text":"sunny"}],"status":"error"}}]}),
            ]
        );
    }

    fn req(tools_v: Value, choice: Value, history: bool) -> InvocationRequest {
        let mut t = vec![json!({"role":"user","content":"hi"})];
        if history {
            t.push(json!({"role":"assistant","content":[{"type":"toolCall","id":"a","name":"w","input":{}}]}));
            t.push(json!({"role":"user","content":[{"type":"toolResult","toolCallId":"a","content":"x"}]}));
        }
        InvocationRequest {
            turns: turns(Value::Array(t)),
            tools: serde_json::from_value(tools_v).unwrap(),
            tool_choice: serde_json::from_value(choice).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn tool_config_and_choice() {
        let w = json!([{"name":"w","inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}}]);
        assert_eq!(
            tool_config(&req(w.clone(), json!({"name":"w"}), false)),
            Some(json!({
                "tools":[{"toolSpec":{"name":"w","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}],
                "toolChoice":{"tool":{"name":"w"}}
            }))
        );
        assert_eq!(
            tool_config(&req(w.clone(), json!("any"), false)).unwrap()["toolChoice"],
            json!({"any":{}})
        );
        assert!(
            tool_config(&req(w.clone(), json!("auto"), false))
                .unwrap()
                .get("toolChoice")
                .is_none()
        );
        assert_eq!(tool_config(&req(w.clone(), json!("none"), false)), None);
        assert!(tool_config(&req(w, json!("none"), true)).is_some());
        let stand_in = tool_config(&req(json!([]), json!("auto"), true)).unwrap();
        assert_eq!(stand_in["tools"][0]["toolSpec"]["name"], json!("w"));
    }
}
