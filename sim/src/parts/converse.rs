//! Converse content blocks, shared by ConverseStream and Nova's native `messages-v1` body.
//!
//! Blocks are objects with one member: `text`, `image` {format, source:{bytes}},
//! `document` {format?, name, source:{bytes|text|content}}, `toolUse`,
//! `toolResult` {toolUseId, content:[{text}|{json}|{image}|{document}]},
//! `reasoningContent` {reasoningText:{text, signature?}} | {redactedContent};
//! `guardContent`'s text is read like any text; `cachePoint` and the rest
//! carry nothing the simulator reads.
//! Blobs (`bytes`) travel base64 in JSON.

use serde_json::Value;

use super::{Conversation, base64, citations, fetches_nothing};
use crate::attachments::{self, Attachment};
use crate::body::{Obj, as_array, as_object, as_str, optional, required};
use crate::wire::SimError;

const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

/// `system`: `[{text}|{cachePoint}|…]`.
pub(crate) fn system(conv: &mut Conversation, system: &Value, path: &str) -> Result<(), SimError> {
    for (i, block) in as_array(system, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        let block = as_object(block, &path)?;
        if let Some(text) = optional(block, "text") {
            conv.system(as_str(text, &format!("{path}/text"))?);
        }
        if let Some(text) = guarded_text(block, &path)? {
            conv.system(text);
        }
    }
    Ok(())
}

/// The text of a `guardContent` block (`{"text": {"text"}}`): the model
/// reads it like any text.
fn guarded_text<'a>(block: &'a Obj, path: &str) -> Result<Option<&'a str>, SimError> {
    let Some(guard) = optional(block, "guardContent") else {
        return Ok(None);
    };
    let path = format!("{path}/guardContent");
    let Some(text) = optional(as_object(guard, &path)?, "text") else {
        return Ok(None);
    };
    let path = format!("{path}/text");
    let text = required(as_object(text, &path)?, "text", &path)?;
    as_str(text, &format!("{path}/text")).map(Some)
}

/// A message's `content` blocks.
pub(crate) fn content(
    conv: &mut Conversation,
    content: &Value,
    path: &str,
) -> Result<(), SimError> {
    for (i, block) in as_array(content, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        block_of(conv, as_object(block, &path)?, &path)?;
    }
    Ok(())
}

fn block_of(conv: &mut Conversation, block: &Obj, path: &str) -> Result<(), SimError> {
    conv.block(block.contains_key("reasoningContent"));
    if let Some(text) = optional(block, "text") {
        conv.text(as_str(text, &format!("{path}/text"))?);
    }
    if let Some(text) = guarded_text(block, path)? {
        conv.text(text);
    }
    if let Some(image) = optional(block, "image") {
        conv.attachment(image_of(image, &format!("{path}/image"))?);
    }
    if let Some(document) = optional(block, "document") {
        add_document(conv, document, &format!("{path}/document"))?;
    }
    if let Some(tool_use) = optional(block, "toolUse") {
        let path = format!("{path}/toolUse");
        let tool_use = as_object(tool_use, &path)?;
        conv.tool_call(as_str(
            required(tool_use, "toolUseId", &path)?,
            &format!("{path}/toolUseId"),
        )?);
    }
    if let Some(result) = optional(block, "toolResult") {
        tool_result(conv, result, &format!("{path}/toolResult"))?;
    }
    if let Some(reasoning) = optional(block, "reasoningContent") {
        let path = format!("{path}/reasoningContent");
        let reasoning = as_object(reasoning, &path)?;
        if let Some(text_block) = optional(reasoning, "reasoningText") {
            let path = format!("{path}/reasoningText");
            let text_block = as_object(text_block, &path)?;
            let text = as_str(
                required(text_block, "text", &path)?,
                &format!("{path}/text"),
            )?;
            let signature = match optional(text_block, "signature") {
                Some(s) => Some(as_str(s, &format!("{path}/signature"))?),
                None => None,
            };
            conv.reasoning(text, signature, &path)?;
        }
    }
    Ok(())
}

/// `toolResult`: its text and JSON content (JSON as compact text), lines joined by newlines.
fn tool_result(conv: &mut Conversation, result: &Value, path: &str) -> Result<(), SimError> {
    let result = as_object(result, path)?;
    let id = as_str(
        required(result, "toolUseId", path)?,
        &format!("{path}/toolUseId"),
    )?;
    let mut texts = Vec::new();
    if let Some(content) = optional(result, "content") {
        let content_path = format!("{path}/content");
        for (i, block) in as_array(content, &content_path)?.iter().enumerate() {
            let path = format!("{content_path}/{i}");
            let block = as_object(block, &path)?;
            if let Some(text) = optional(block, "text") {
                let text = as_str(text, &format!("{path}/text"))?;
                conv.text(text);
                texts.push(text.to_owned());
            }
            if let Some(json) = block.get("json") {
                texts.push(json.to_string());
            }
            if let Some(image) = optional(block, "image") {
                conv.attachment(image_of(image, &format!("{path}/image"))?);
            }
            if let Some(document) = optional(block, "document") {
                add_document(conv, document, &format!("{path}/document"))?;
            }
        }
    }
    conv.tool_result(id, texts.join("\n"), path)
}

fn image_of(image: &Value, path: &str) -> Result<Attachment, SimError> {
    let image = as_object(image, path)?;
    let format = as_str(required(image, "format", path)?, &format!("{path}/format"))?;
    if !IMAGE_FORMATS.contains(&format) {
        return Err(not_in_enum(
            format,
            &format!("{path}/format"),
            &IMAGE_FORMATS,
        ));
    }
    let data = source_bytes(image, path, false)?;
    attachments::image(&format!("image/{format}"), &data, path)
}

/// A `document` block: checked, counted, citable when its citations are enabled.
fn add_document(conv: &mut Conversation, document: &Value, path: &str) -> Result<(), SimError> {
    let attachment = document_of(document, path)?;
    let block = as_object(document, path)?;
    let name = block
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("document");
    conv.document(attachment, name, citations::enabled(block));
    Ok(())
}

fn document_of(document: &Value, path: &str) -> Result<Attachment, SimError> {
    let document = as_object(document, path)?;
    let name = as_str(required(document, "name", path)?, &format!("{path}/name"))?;
    if let Some(format) = optional(document, "format") {
        let format = as_str(format, &format!("{path}/format"))?;
        if !DOCUMENT_FORMATS.contains(&format) {
            return Err(not_in_enum(
                format,
                &format!("{path}/format"),
                &DOCUMENT_FORMATS,
            ));
        }
    }
    let data = source_bytes(document, path, true)?;
    attachments::document(name, &data, path)
}

/// `source`: `bytes` (base64); for documents also `text` or `content` text blocks.
fn source_bytes(block: &Obj, path: &str, document: bool) -> Result<Vec<u8>, SimError> {
    let source = as_object(required(block, "source", path)?, &format!("{path}/source"))?;
    let path = format!("{path}/source");
    if let Some(bytes) = optional(source, "bytes") {
        return base64(
            as_str(bytes, &format!("{path}/bytes"))?,
            &format!("{path}/bytes"),
        );
    }
    if optional(source, "s3Location").is_some() {
        return Err(fetches_nothing(&path, "s3Location"));
    }
    if document {
        if let Some(text) = optional(source, "text") {
            return Ok(as_str(text, &format!("{path}/text"))?.as_bytes().to_vec());
        }
        if let Some(content) = optional(source, "content") {
            let mut text = String::new();
            for (i, block) in as_array(content, &format!("{path}/content"))?
                .iter()
                .enumerate()
            {
                let path = format!("{path}/content/{i}");
                if let Some(t) = optional(as_object(block, &path)?, "text") {
                    text.push_str(as_str(t, &format!("{path}/text"))?);
                }
            }
            return Ok(text.into_bytes());
        }
    }
    Err(SimError::validation(format!(
        "{path}: the source needs bytes{}",
        if document { ", text or content" } else { "" }
    )))
}

fn not_in_enum(value: &str, path: &str, allowed: &[&str]) -> SimError {
    SimError::validation(format!(
        "{path}: value '{value}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    ))
}

/// `toolConfig`: `{"tools": [{"toolSpec": {name, description?, inputSchema: {json}}} | {cachePoint} …], "toolChoice"?}`.
pub(crate) fn tool_config(conv: &mut Conversation, body: &Obj) -> Result<(), SimError> {
    let Some(config) = optional(body, "toolConfig") else {
        return Ok(());
    };
    let config = as_object(config, "#/toolConfig")?;
    let tools = as_array(
        required(config, "tools", "#/toolConfig")?,
        "#/toolConfig/tools",
    )?;
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("#/toolConfig/tools/{i}");
        let Some(spec) = optional(as_object(tool, &path)?, "toolSpec") else {
            continue;
        };
        let path = format!("{path}/toolSpec");
        let spec = as_object(spec, &path)?;
        let name = as_str(required(spec, "name", &path)?, &format!("{path}/name"))?;
        let description = match optional(spec, "description") {
            Some(d) => as_str(d, &format!("{path}/description"))?,
            None => "",
        };
        let schema_path = format!("{path}/inputSchema");
        let input_schema = as_object(required(spec, "inputSchema", &path)?, &schema_path)?;
        let schema = match optional(input_schema, "json") {
            Some(json) => json.clone(),
            None => Value::Object(Obj::new()),
        };
        conv.tool(name, description, schema);
    }
    if let Some(choice) = optional(config, "toolChoice").and_then(Value::as_object) {
        if let Some(tool) = choice.get("tool") {
            conv.force_tool(tool.get("name").and_then(Value::as_str))?;
        } else if choice.contains_key("any") {
            conv.force_tool(None)?;
        }
    }
    Ok(())
}

/// `outputConfig.textFormat`: `{"type": "json_schema", "structure":
/// {"jsonSchema": {"schema": "<the schema as a JSON string>", "name"?,
/// "description"?}}}` makes the answer JSON of that schema.
pub(crate) fn output_config(conv: &mut Conversation, body: &Obj) -> Result<(), SimError> {
    let Some(config) = optional(body, "outputConfig") else {
        return Ok(());
    };
    let config = as_object(config, "#/outputConfig")?;
    let Some(format) = optional(config, "textFormat") else {
        return Ok(());
    };
    let path = "#/outputConfig/textFormat";
    let format = as_object(format, path)?;
    let kind = as_str(required(format, "type", path)?, &format!("{path}/type"))?;
    if kind != "json_schema" {
        return Err(SimError::validation(format!(
            "1 validation error detected: Value '{kind}' at 'outputConfig.textFormat.type' failed to satisfy constraint: Member must satisfy enum value set: [json_schema]"
        )));
    }
    let structure = as_object(
        required(format, "structure", path)?,
        &format!("{path}/structure"),
    )?;
    let json_schema = as_object(
        required(structure, "jsonSchema", &format!("{path}/structure"))?,
        &format!("{path}/structure/jsonSchema"),
    )?;
    let text = as_str(
        required(
            json_schema,
            "schema",
            &format!("{path}/structure/jsonSchema"),
        )?,
        &format!("{path}/structure/jsonSchema/schema"),
    )?;
    let schema: Value = serde_json::from_str(text).map_err(|e| {
        SimError::validation(format!(
            "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {e}"
        ))
    })?;
    if !schema.is_object() {
        return Err(SimError::validation(
            "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON object",
        ));
    }
    conv.output_schema(schema);
    Ok(())
}

/// Whether a `{"type": "enabled", …}` reasoning setting (Nova's
/// `reasoningConfig`, Claude's `thinking`) turns reasoning on.
pub(crate) fn enabled(setting: Option<&Value>) -> bool {
    setting
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| matches!(t, "enabled" | "adaptive"))
}

/// The keys of Claude's own request body. Bedrock merges a Converse call's
/// `additionalModelRequestFields` into that body and refuses any other key,
/// as it refuses one in an InvokeModel body.
const CLAUDE_BODY_KEYS: &[&str] = &[
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "system",
    "messages",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "output_config",
    "context_management",
];

/// `additionalModelRequestFields`: Claude's `thinking` or Nova's
/// `reasoningConfig`; for a Claude model, only keys of Claude's own body.
pub(crate) fn additional_fields(
    conv: &mut Conversation,
    body: &Obj,
    model: &str,
) -> Result<(), SimError> {
    let claude = model.starts_with("anthropic.");
    if claude && let Some(config) = optional(body, "inferenceConfig") {
        super::anthropic::no_sampling(as_object(config, "#/inferenceConfig")?, true, model)?;
    }
    let Some(fields) = optional(body, "additionalModelRequestFields") else {
        return Ok(());
    };
    let fields = as_object(fields, "#/additionalModelRequestFields")?;
    if claude
        && let Some(key) = fields
            .keys()
            .find(|k| !CLAUDE_BODY_KEYS.contains(&k.as_str()))
    {
        return Err(SimError::validation(format!(
            "Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
        )));
    }
    if claude {
        // Merged into Claude's body: its thinking and sampling rules hold.
        super::anthropic::thinking(conv, fields, model)?;
        super::anthropic::no_sampling(fields, false, model)?;
    } else if enabled(fields.get("reasoningConfig")) {
        conv.reasoning_on();
    }
    if claude {
        // Claude's own structured output (`output_config.format`), as the
        // AI SDK's Bedrock provider sends it: merged into Claude's body.
        super::anthropic::output_config(conv, fields)?;
    }
    Ok(())
}
