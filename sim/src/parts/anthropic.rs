//! Claude's Messages content (InvokeModel): a string or blocks, plus `tools` and `thinking`.
//!
//! Blocks: `text`, `image` and `document` (`source` `base64`, or `text` for
//! a document), `tool_use`, `tool_result` (`content` a string or blocks),
//! `thinking` (`signature` checked), `redacted_thinking`. `cache_control`
//! and other unknown keys, and unknown block types, are ignored.

use serde_json::{Value, json};

use super::{Conversation, base64, citations, fetches_nothing};
use crate::attachments;
use crate::body::{Obj, as_array, as_object, as_str, malformed, optional, required};
use crate::catalog::{ClaudeThinking, claude_thinking};
use crate::wire::SimError;

/// `system`: a string or `text` blocks.
pub(crate) fn system(conv: &mut Conversation, system: &Value, path: &str) -> Result<(), SimError> {
    if let Some(text) = system.as_str() {
        conv.system(text);
        return Ok(());
    }
    for (i, block) in string_or_blocks(system, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        let block = as_object(block, &path)?;
        if let Some(text) = optional(block, "text") {
            conv.system(as_str(text, &format!("{path}/text"))?);
        }
    }
    Ok(())
}

/// A message's `content`.
pub(crate) fn content(
    conv: &mut Conversation,
    content: &Value,
    path: &str,
) -> Result<(), SimError> {
    if let Some(text) = content.as_str() {
        conv.text(text);
        return Ok(());
    }
    for (i, block) in string_or_blocks(content, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        block_of(conv, as_object(block, &path)?, &path)?;
    }
    Ok(())
}

fn string_or_blocks<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], SimError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| malformed(format!("{path}: expected type: String or JSONArray")))
}

fn block_of(conv: &mut Conversation, block: &Obj, path: &str) -> Result<(), SimError> {
    let field = |key: &str| format!("{path}/{key}");
    let kind = as_str(required(block, "type", path)?, &field("type"))?;
    conv.block(matches!(kind, "thinking" | "redacted_thinking"));
    match kind {
        "text" => conv.text(as_str(required(block, "text", path)?, &field("text"))?),
        "image" | "document" => attachment(conv, block, path)?,
        "tool_use" => conv.tool_call(as_str(required(block, "id", path)?, &field("id"))?),
        "tool_result" => {
            let id = as_str(required(block, "tool_use_id", path)?, &field("tool_use_id"))?;
            let text = tool_result_text(conv, optional(block, "content"), &field("content"))?;
            conv.tool_result(id, text, path)?;
        }
        "thinking" => {
            let text = as_str(required(block, "thinking", path)?, &field("thinking"))?;
            let signature = as_str(required(block, "signature", path)?, &field("signature"))?;
            conv.reasoning(text, Some(signature), path)?;
        }
        // `redacted_thinking` is accepted as replayed; other types carry nothing we read.
        _ => {}
    }
    Ok(())
}

/// A tool result's text: a string, or its text blocks joined by newlines
/// (its images and documents are attachments).
fn tool_result_text(
    conv: &mut Conversation,
    content: Option<&Value>,
    path: &str,
) -> Result<String, SimError> {
    let Some(content) = content else {
        return Ok(String::new());
    };
    if let Some(text) = content.as_str() {
        conv.text(text);
        return Ok(text.to_owned());
    }
    let mut texts = Vec::new();
    for (i, block) in string_or_blocks(content, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        let block = as_object(block, &path)?;
        match as_str(required(block, "type", &path)?, &format!("{path}/type"))? {
            "text" => {
                let text = as_str(required(block, "text", &path)?, &format!("{path}/text"))?;
                conv.text(text);
                texts.push(text);
            }
            "image" | "document" => attachment(conv, block, &path)?,
            _ => {}
        }
    }
    Ok(texts.join("\n"))
}

/// An `image` or `document` block: its `source` checked and counted.
fn attachment(conv: &mut Conversation, block: &Obj, path: &str) -> Result<(), SimError> {
    let source_path = format!("{path}/source");
    let source = as_object(required(block, "source", path)?, &source_path)?;
    let field = |key: &str| format!("{source_path}/{key}");
    let kind = as_str(required(source, "type", &source_path)?, &field("type"))?;
    let (media_type, data) = match kind {
        "base64" => {
            let media_type = as_str(
                required(source, "media_type", &source_path)?,
                &field("media_type"),
            )?;
            let data = as_str(required(source, "data", &source_path)?, &field("data"))?;
            (media_type, base64(data, &field("data"))?)
        }
        "text" => {
            let media_type = match optional(source, "media_type") {
                Some(m) => as_str(m, &field("media_type"))?,
                None => "text/plain",
            };
            let data = as_str(required(source, "data", &source_path)?, &field("data"))?;
            (media_type, data.as_bytes().to_vec())
        }
        other => return Err(fetches_nothing(&field("type"), &format!("'{other}'"))),
    };
    if block.get("type") == Some(&json!("image")) {
        conv.attachment(attachments::image(media_type, &data, path)?);
    } else {
        let name = match optional(block, "title") {
            Some(title) => as_str(title, &format!("{path}/title"))?,
            None => "document",
        };
        let attachment = attachments::document(name, &data, path)?;
        conv.document(attachment, name, citations::enabled(block));
    }
    Ok(())
}

/// `tools`: `[{name, description?, input_schema?}]` (server tools have no schema).
pub(crate) fn tools(conv: &mut Conversation, body: &Obj) -> Result<(), SimError> {
    let Some(tools) = optional(body, "tools") else {
        return Ok(());
    };
    for (i, tool) in as_array(tools, "#/tools")?.iter().enumerate() {
        let path = format!("#/tools/{i}");
        let tool = as_object(tool, &path)?;
        let name = as_str(required(tool, "name", &path)?, &format!("{path}/name"))?;
        let description = match optional(tool, "description") {
            Some(d) => as_str(d, &format!("{path}/description"))?,
            None => "",
        };
        let schema = match optional(tool, "input_schema") {
            Some(schema) => {
                Value::Object(as_object(schema, &format!("{path}/input_schema"))?.clone())
            }
            None => json!({"type": "object"}),
        };
        conv.tool(name, description, schema);
    }
    if let Some(choice) = optional(body, "tool_choice").and_then(Value::as_object) {
        conv.one_tool_call(
            choice
                .get("disable_parallel_tool_use")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        match choice.get("type").and_then(Value::as_str) {
            Some("tool") => conv.force_tool(choice.get("name").and_then(Value::as_str))?,
            Some("any") => conv.force_tool(None)?,
            _ => {}
        }
    }
    Ok(())
}

/// `output_config.format`: `{"type": "json_schema", "schema": {…}}` makes
/// the answer JSON of that schema (`effort` is accepted and changes nothing).
pub(crate) fn output_config(conv: &mut Conversation, body: &Obj) -> Result<(), SimError> {
    let Some(config) = optional(body, "output_config") else {
        return Ok(());
    };
    let config = as_object(config, "#/output_config")?;
    let Some(format) = optional(config, "format") else {
        return Ok(());
    };
    let path = "#/output_config/format";
    let format = as_object(format, path)?;
    let kind = as_str(required(format, "type", path)?, &format!("{path}/type"))?;
    if kind != "json_schema" {
        return Err(SimError::validation(format!(
            "{path}/type: '{kind}' is not 'json_schema'"
        )));
    }
    let schema = as_object(required(format, "schema", path)?, &format!("{path}/schema"))?;
    conv.output_schema(Value::Object(schema.clone()));
    Ok(())
}

/// `thinking`: `{"type": "enabled", "budget_tokens": N}` or `{"type":
/// "adaptive", "display"?}` turns reasoning on, as `model` takes it
/// ([`ClaudeThinking`]): Claude Opus 4.7 and later refuse a budget and omit
/// the thinking text unless `display` is `summarized`; models before 4.6
/// refuse `adaptive`.
pub(crate) fn thinking(conv: &mut Conversation, body: &Obj, model: &str) -> Result<(), SimError> {
    let Some(thinking) = optional(body, "thinking") else {
        return Ok(());
    };
    let thinking = as_object(thinking, "#/thinking")?;
    let kind = as_str(required(thinking, "type", "#/thinking")?, "#/thinking/type")?;
    let takes = claude_thinking(model);
    match kind {
        "enabled" if takes == ClaudeThinking::AdaptiveOnly => {
            return Err(SimError::validation(
                "thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and output_config.effort to control thinking behavior.",
            ));
        }
        "adaptive" if takes == ClaudeThinking::Budget => {
            return Err(SimError::validation(
                "thinking.type.adaptive is not supported for this model. Use thinking.type.enabled with budget_tokens.",
            ));
        }
        "enabled" | "adaptive" => conv.reasoning_on(),
        _ => {}
    }
    let omitted = match optional(thinking, "display") {
        None => takes == ClaudeThinking::AdaptiveOnly,
        Some(d) => match as_str(d, "#/thinking/display")? {
            "summarized" => false,
            "omitted" => true,
            other => {
                return Err(SimError::validation(format!(
                    "thinking.display: Input should be 'summarized' or 'omitted', not '{other}'"
                )));
            }
        },
    };
    if omitted {
        conv.reasoning_omitted();
    }
    Ok(())
}

/// Claude's `temperature` and `top_p` run from 0 to 1: another value is
/// refused in Bedrock's schema wording.
pub(crate) fn sampling_ranges(body: &Obj) -> Result<(), SimError> {
    for key in ["temperature", "top_p"] {
        if let Some(x) = body.get(key).and_then(Value::as_f64)
            && !(0.0..=1.0).contains(&x)
        {
            let bound = if x < 0.0 {
                "not greater or equal to 0"
            } else {
                "not less or equal to 1"
            };
            return Err(SimError::validation(format!(
                "Malformed input request: #/{key}: {x} is {bound}, please reformat your input and try again."
            )));
        }
    }
    Ok(())
}

/// Claude's sampling knobs: each one's key in its own body, and in Converse's `inferenceConfig`.
pub(crate) const SAMPLING: [(&str, &str); 3] = [
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
];

/// Claude Opus 4.7 and later take no sampling knob: the first that `body`
/// sets is refused, by its name in Claude's body. `converse`: `body` is
/// Converse's `inferenceConfig`.
pub(crate) fn no_sampling(body: &Obj, converse: bool, model: &str) -> Result<(), SimError> {
    if claude_thinking(model) != ClaudeThinking::AdaptiveOnly {
        return Ok(());
    }
    let set = SAMPLING
        .into_iter()
        .find(|(claude, conv)| optional(body, if converse { conv } else { claude }).is_some());
    match set {
        Some((key, _)) => Err(SimError::validation(format!(
            "The model returned the following errors: `{key}` is deprecated for this model."
        ))),
        None => Ok(()),
    }
}
