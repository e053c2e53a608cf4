//! A Converse JSON body as a stream request: the reverse of
//! `upstream::converse::message`. Nova's InvokeModel body has the same
//! content blocks, so its parser shares [`turns`], [`system`] and [`tools`].
//!
//! `{"text"}` · `{"image":{"format","source":{"bytes"}}}` ·
//! `{"document":{"format","name","source":{"bytes"|"text"}}}` ·
//! `{"toolUse":{"toolUseId","name","input"}}` ·
//! `{"toolResult":{"toolUseId","content":[{"text"}|{"image"}|{"json"}],"status"}}` ·
//! `{"reasoningContent":{"reasoningText":{"text","signature"}}|{"redactedContent"}}` ·
//! `{"cachePoint":{…}}` · `{"guardContent":{"text":{…}}}` ·
//! `{"citationsContent":{"content":[{"text"}],"citations":[…]}}` (an answer
//! replayed, kept as its text). Other blocks (Nova's `video`, Claude's
//! `searchResult`, `audio`) and S3 sources are refused with a sentence saying
//! the gateway does not serve them: the request is Bedrock's, the gap ours.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::guardrail;
use crate::parts::attachment::{DOCUMENT_TYPES, IMAGE_TYPES};
use crate::parts::{
    CacheTtl, Content, JsonFormat, OutputConfig, Reasoning, SystemPrompt, Tool, ToolChoice,
    ToolList, ToolResultContent,
};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;
use crate::upstream::request::{Role, Turn};

/// `POST /model/{id}/converse[-stream]`'s body as a stream request.
pub fn stream_request(model_id: &str, body: &Value) -> Result<StreamRequest, String> {
    let body = body.as_object().ok_or("the body must be a JSON object")?;
    let config = body.get("inferenceConfig").and_then(Value::as_object);
    let (tools, tool_choice) = tools(body.get("toolConfig"))?;
    Ok(StreamRequest {
        model: Some(model_id.to_owned()),
        system: system(body.get("system"))?,
        messages: turns(body.get("messages"))?,
        max_tokens: config.and_then(|c| uint(c, "maxTokens")).transpose()?,
        temperature: config.and_then(|c| float(c, "temperature")).transpose()?,
        top_p: config.and_then(|c| float(c, "topP")).transpose()?,
        stop_sequences: config
            .map(|c| strings(c, "stopSequences"))
            .transpose()?
            .unwrap_or_default(),
        api: Some(Api::Converse),
        tools,
        tool_choice,
        reasoning: reasoning(body.get("additionalModelRequestFields"))?,
        guardrail: guardrail::from_converse(body.get("guardrailConfig"))?,
        output_config: output_config(body.get("outputConfig"))?,
        ..Default::default()
    })
}

/// `outputConfig`: `{"textFormat"?: {"type": "json_schema", "structure":
/// {"jsonSchema": {"schema": "<a JSON Schema as a string>", "name"?,
/// "description"?}}}, "effort"?}`.
fn output_config(v: Option<&Value>) -> Result<OutputConfig, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(OutputConfig::default());
    };
    let c = v.as_object().ok_or("outputConfig must be an object")?;
    let format = match c.get("textFormat").filter(|f| !f.is_null()) {
        None => None,
        Some(f) => {
            if f.get("type").and_then(Value::as_str) != Some("json_schema") {
                return Err("outputConfig.textFormat.type must be \"json_schema\"".into());
            }
            let def = f
                .pointer("/structure/jsonSchema")
                .and_then(Value::as_object)
                .ok_or("outputConfig.textFormat.structure.jsonSchema is required")?;
            let text = def
                .get("schema")
                .and_then(Value::as_str)
                .ok_or("outputConfig.textFormat.structure.jsonSchema.schema must be a string")?;
            let schema: Value = serde_json::from_str(text).map_err(|e| {
                format!("outputConfig.textFormat.structure.jsonSchema.schema is not JSON: {e}")
            })?;
            let text_field = |k: &str| def.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(JsonFormat {
                schema,
                name: text_field("name"),
                description: text_field("description"),
            })
        }
    };
    let effort = match c.get("effort") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(e.clone()),
        Some(_) => return Err("outputConfig.effort must be a string".into()),
    };
    Ok(OutputConfig { format, effort })
}

/// `additionalModelRequestFields`: an object, sent to ConverseStream as it
/// came (its `thinking` is also read into the request's reasoning budget).
pub fn additional_fields(v: Option<&Value>) -> Result<Option<Map<String, Value>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields.clone())),
        Some(_) => Err("additionalModelRequestFields must be an object".into()),
    }
}

/// `messages` as turns.
pub fn turns(messages: Option<&Value>) -> Result<Vec<Turn>, String> {
    let Some(messages) = messages else {
        return Ok(Vec::new());
    };
    let messages = messages.as_array().ok_or("messages must be a list")?;
    messages
        .iter()
        .enumerate()
        .map(|(n, m)| turn(m).map_err(|e| format!("messages[{n}]: {e}")))
        .collect()
}

fn turn(m: &Value) -> Result<Turn, String> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => return Err("role must be \"user\" or \"assistant\"".into()),
    };
    let blocks = m
        .get("content")
        .and_then(Value::as_array)
        .ok_or("content must be a list of content blocks")?;
    let content = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| block(b).map_err(|e| format!("content[{i}]: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Turn { role, content })
}

/// One content block: an object with one member naming its kind.
fn block(b: &Value) -> Result<Content, String> {
    let b = b.as_object().ok_or("a content block must be an object")?;
    let (kind, v) = b.iter().next().ok_or("an empty content block")?;
    Ok(match kind.as_str() {
        "text" => Content::text(v.as_str().ok_or("text must be a string")?),
        "image" => image(v)?,
        "document" => document(v)?,
        "toolUse" => Content::ToolCall {
            id: field(v, "toolUseId")?.to_owned(),
            name: field(v, "name")?.to_owned(),
            input: v.get("input").cloned().unwrap_or(Value::Null),
        },
        "toolResult" => tool_result(v)?,
        "reasoningContent" => Content::Reasoning(reasoning_block(v)?),
        "citationsContent" => Content::text(cited_text(v)?),
        "cachePoint" => Content::CachePoint { ttl: cache_ttl(v)? },
        "guardContent" => {
            let (text, qualifiers) = guard_content(v)?;
            Content::GuardContent { text, qualifiers }
        }
        other => return Err(not_served(other, SERVED_BLOCKS)),
    })
}

/// The content blocks the gateway serves in `messages`.
const SERVED_BLOCKS: &str = "text, image, document, toolUse, toolResult, reasoningContent, \
     cachePoint, guardContent and citationsContent";

/// The refusal of a block the gateway does not serve (Bedrock may take it:
/// the message says the gap is the gateway's, not the request's).
fn not_served(kind: &str, served: &str) -> String {
    format!("content block '{kind}' is not served by this gateway (it serves {served} blocks)")
}

/// A `cachePoint` block's `ttl` (`"5m"`, `"1h"`), `None` when it names none.
fn cache_ttl(v: &Value) -> Result<Option<CacheTtl>, String> {
    match v.get("ttl") {
        None | Some(Value::Null) => Ok(None),
        Some(t) => CacheTtl::parse(t, "cachePoint.ttl").map(Some),
    }
}

/// A `citationsContent` block's text: its `content[].text`, joined.
///
/// It is a cited answer replayed in the history (the SDKs' loops and Strands
/// send the assistant's message back as they got it). The parts model has no
/// cited-text part, and the citations only tell the reader where the text
/// came from: the model continuing the conversation needs the text, and a
/// text block is what every model and every upstream body (Converse, Claude's,
/// Nova's, a fallback's) takes, so the replay goes upstream as its text.
fn cited_text(v: &Value) -> Result<String, String> {
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or("citationsContent.content must be a list of {\"text\"} blocks")?;
    content
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("citationsContent.content[{i}].text must be a string"))
        })
        .collect()
}

fn document(v: &Value) -> Result<Content, String> {
    let data = source_bytes(v, "document")?;
    let format = match v.get("format").filter(|f| !f.is_null()) {
        Some(f) => f.as_str().ok_or("`format` must be a string")?,
        None => unnamed_format(&data)?,
    };
    let media_type = DOCUMENT_TYPES
        .iter()
        .find(|(_, f)| *f == format)
        .map(|(t, _)| (*t).to_owned())
        .ok_or_else(|| format!("document format '{format}' is not one Converse takes"))?;
    Ok(Content::Document {
        media_type,
        name: field(v, "name")?.to_owned(),
        data,
        citations: crate::parts::content::citations_enabled(v),
        context: match v.get("context") {
            None | Some(Value::Null) => None,
            Some(c) => Some(
                c.as_str()
                    .ok_or("document.context must be a string")?
                    .to_owned(),
            ),
        },
    })
}

/// The format of a document that names none (Converse's `format` is
/// optional): a PDF by its header, text when the bytes are UTF-8 (the SDKs'
/// default is `txt`); the binary office formats cannot be told apart here.
fn unnamed_format(data: &str) -> Result<&'static str, String> {
    let bytes = STANDARD
        .decode(data.trim())
        .map_err(|e| format!("document source bytes are not base64 ({e})"))?;
    if crate::parts::sniff::is_pdf(&bytes) {
        Ok("pdf")
    } else if std::str::from_utf8(&bytes).is_ok() {
        Ok("txt")
    } else {
        Err("document needs a `format` (its bytes are neither PDF nor text)".into())
    }
}

fn image(v: &Value) -> Result<Content, String> {
    let format = field(v, "format")?;
    let media_type = format!("image/{format}");
    if !IMAGE_TYPES.contains(&media_type.as_str()) {
        return Err(format!("image format '{format}' is not one Converse takes"));
    }
    Ok(Content::Image {
        media_type,
        data: source_bytes(v, "image")?,
    })
}

/// `source.bytes` (base64 on the wire), or a document's `source.text`.
fn source_bytes(v: &Value, what: &str) -> Result<String, String> {
    let source = v
        .get("source")
        .ok_or_else(|| format!("{what} needs a source"))?;
    if let Some(b) = source.get("bytes").and_then(Value::as_str) {
        return Ok(b.to_owned());
    }
    if let Some(t) = source.get("text").and_then(Value::as_str) {
        return Ok(STANDARD.encode(t));
    }
    if source.get("s3Location").is_some() {
        return Err(format!(
            "{what} source must be `bytes` (the gateway fetches nothing from S3)"
        ));
    }
    let kinds = if what == "document" {
        "`bytes` or `text`"
    } else {
        "`bytes`"
    };
    let named = source
        .as_object()
        .and_then(|s| s.keys().next())
        .map(|k| format!(" (not `{k}`)"))
        .unwrap_or_default();
    Err(format!("{what} source must be {kinds}{named}"))
}

fn tool_result(v: &Value) -> Result<Content, String> {
    let mut parts = Vec::new();
    for (i, c) in v
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = |e: String| format!("toolResult.content[{i}]: {e}");
        if let Some(t) = c.get("text").and_then(Value::as_str) {
            parts.push(Content::text(t));
        } else if let Some(j) = c.get("json") {
            parts.push(Content::text(j.to_string()));
        } else if let Some(img) = c.get("image") {
            parts.push(image(img).map_err(at)?);
        } else if let Some(doc) = c.get("document") {
            parts.push(document(doc).map_err(at)?);
        } else {
            let kind = c
                .as_object()
                .and_then(|o| o.keys().next())
                .map_or("", String::as_str);
            return Err(at(not_served(kind, "text, json, image and document")));
        }
    }
    Ok(Content::ToolResult {
        tool_call_id: field(v, "toolUseId")?.to_owned(),
        content: ToolResultContent::Parts(parts),
        is_error: v.get("status").and_then(Value::as_str) == Some("error"),
    })
}

fn reasoning_block(v: &Value) -> Result<Reasoning, String> {
    if let Some(data) = v.get("redactedContent").and_then(Value::as_str) {
        return Ok(Reasoning {
            text: None,
            signature: None,
            redacted: Some(data.to_owned()),
        });
    }
    let t = v
        .get("reasoningText")
        .ok_or("reasoningContent needs reasoningText or redactedContent")?;
    Ok(Reasoning {
        text: Some(field(t, "text")?.to_owned()),
        signature: t
            .get("signature")
            .and_then(Value::as_str)
            .map(str::to_owned),
        redacted: None,
    })
}

/// `system` blocks: `{"text"}`, `{"cachePoint"}` and `{"guardContent"}`;
/// any other is refused (none is dropped).
pub fn system(v: Option<&Value>) -> Result<SystemPrompt, String> {
    let mut system = SystemPrompt::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(system);
    };
    let blocks = v.as_array().ok_or("system must be a list of blocks")?;
    for (i, b) in blocks.iter().enumerate() {
        if let Some(text) = b.get("text").and_then(Value::as_str) {
            system.push_text(text);
        } else if let Some(point) = b.get("cachePoint") {
            system.push_cache_point(cache_ttl(point).map_err(|e| format!("system[{i}]: {e}"))?);
        } else if let Some(g) = b.get("guardContent") {
            let (text, qualifiers) = guard_content(g).map_err(|e| format!("system[{i}]: {e}"))?;
            system.push_guard(text, qualifiers);
        } else {
            return Err(format!(
                "system[{i}]: a system block is text, cachePoint or guardContent"
            ));
        }
    }
    Ok(system)
}

/// `guardContent`'s text block: `{"text": {"text", "qualifiers"?}}` (guard
/// content images are not taken).
fn guard_content(v: &Value) -> Result<(String, Vec<String>), String> {
    let t = v
        .get("text")
        .filter(|t| t.is_object())
        .ok_or("guardContent takes a text block ({\"text\": {\"text\": …}})")?;
    let qualifiers = match t.get("qualifiers") {
        None | Some(Value::Null) => Vec::new(),
        Some(q) => q
            .as_array()
            .ok_or("guardContent qualifiers must be a list")?
            .iter()
            .map(|q| {
                q.as_str()
                    .map(str::to_owned)
                    .ok_or("a qualifier is a string")
            })
            .collect::<Result<_, _>>()?,
    };
    Ok((field(t, "text")?.to_owned(), qualifiers))
}

/// `toolConfig`: `tools[].toolSpec` (a `cachePoint` among them is a cache
/// point after the tools) and `toolChoice` (`auto`, `any`, `tool`).
pub fn tools(v: Option<&Value>) -> Result<(ToolList, ToolChoice), String> {
    let Some(v) = v else {
        return Ok((ToolList::default(), ToolChoice::Auto));
    };
    let mut tools = Vec::new();
    let mut cache_point = false;
    let mut cache_ttl_after = None;
    for (i, t) in v
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = |e: String| format!("toolConfig.tools[{i}]: {e}");
        if t.get("systemTool").is_some() {
            return Err(at("systemTool: the gateway does not serve system tools \
                 (Nova's built-in tools); declare a toolSpec instead"
                .into()));
        }
        let Some(spec) = t.get("toolSpec") else {
            if let Some(point) = t.get("cachePoint") {
                cache_point = true;
                cache_ttl_after = cache_ttl(point).map_err(at)?;
            }
            continue;
        };
        tools.push(Tool {
            name: field(spec, "name")
                .map_err(|e| format!("toolConfig.tools[{i}]: {e}"))?
                .to_owned(),
            description: spec
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            input_schema: spec
                .pointer("/inputSchema/json")
                .cloned()
                .unwrap_or_else(Tool::empty_schema),
            strict: match spec.get("strict") {
                None | Some(Value::Null) => None,
                Some(s) => Some(
                    s.as_bool()
                        .ok_or_else(|| at("toolSpec.strict must be true or false".into()))?,
                ),
            },
        });
    }
    let choice = match v.get("toolChoice") {
        None => ToolChoice::Auto,
        Some(c) if c.get("any").is_some() => ToolChoice::Any,
        Some(c) if c.get("auto").is_some() => ToolChoice::Auto,
        Some(c) => ToolChoice::Tool(
            c.get("tool")
                .map(|t| field(t, "name"))
                .transpose()?
                .ok_or("toolChoice must be auto, any or tool")?
                .to_owned(),
        ),
    };
    Ok((
        ToolList::new(tools, cache_point).with_cache_ttl(cache_ttl_after),
        choice,
    ))
}

/// Claude's `thinking` or Nova's `reasoningConfig` in the additional fields.
pub fn reasoning(v: Option<&Value>) -> Result<Option<ReasoningRequest>, String> {
    let Some(v) = v else { return Ok(None) };
    if let Some(t) = v.get("thinking") {
        if t.get("type").and_then(Value::as_str) != Some("enabled") {
            return Ok(None);
        }
        let budget = t
            .get("budget_tokens")
            .and_then(Value::as_u64)
            .and_then(|b| u32::try_from(b).ok())
            .ok_or("thinking.budget_tokens must be a positive integer")?;
        return Ok(Some(ReasoningRequest {
            budget_tokens: budget,
        }));
    }
    Ok(nova_reasoning(v.get("reasoningConfig")))
}

/// Nova's `reasoningConfig` as a budget the gateway maps back to the same
/// effort (see `upstream::reasoning::effort`).
pub fn nova_reasoning(v: Option<&Value>) -> Option<ReasoningRequest> {
    let v = v?;
    if v.get("type").and_then(Value::as_str) != Some("enabled") {
        return None;
    }
    let budget = match v.get("maxReasoningEffort").and_then(Value::as_str) {
        Some("high") => 16384,
        Some("medium") => 8192,
        _ => 2048,
    };
    Some(ReasoningRequest {
        budget_tokens: budget,
    })
}

/// A required string field.
fn field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` must be a string"))
}

/// An optional non-negative integer field.
pub fn uint(m: &Map<String, Value>, key: &str) -> Option<Result<u32, String>> {
    m.get(key).filter(|v| !v.is_null()).map(|v| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("`{key}` must be a non-negative integer"))
    })
}

/// An optional number field.
pub fn float(m: &Map<String, Value>, key: &str) -> Option<Result<f32, String>> {
    m.get(key).filter(|v| !v.is_null()).map(|v| {
        v.as_f64()
            .map(|f| f as f32)
            .ok_or_else(|| format!("`{key}` must be a number"))
    })
}

/// An optional list of strings.
pub fn strings(m: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("`{key}` must be a list of strings")),
        Some(_) => Err(format!("`{key}` must be a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guard_content_is_kept_and_an_unknown_system_block_refused() {
        let system = system(Some(&json!([
            {"text": "Be brief."},
            {"guardContent": {"text": {"text": "Rivers only.", "qualifiers": ["guard_content"]}}}
        ])))
        .unwrap();
        assert!(system.has_guard_content());
        assert_eq!(
            system.parts()[1],
            Content::GuardContent {
                text: "Rivers only.".into(),
                qualifiers: vec!["guard_content".into()]
            }
        );
        let err = super::system(Some(&json!([{"someFutureBlock": {}}]))).unwrap_err();
        assert!(err.contains("system[0]"), "{err}");
        let part = block(&json!({"guardContent": {"text": {"text": "hi"}}})).unwrap();
        assert_eq!(
            part,
            Content::GuardContent {
                text: "hi".into(),
                qualifiers: vec![]
            }
        );
    }

    #[test]
    fn converse_body_becomes_parts() {
        let body = json!({
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
            "messages": [
                {"role": "user", "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {"bytes": "iVBORw=="}}}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"c": 3}}], "status": "error"}}]}
            ],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.5, "stopSequences": ["END"]},
            "toolConfig": {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}, {"cachePoint": {"type": "default"}}], "toolChoice": {"tool": {"name": "weather"}}},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}
        });
        let r = stream_request("m", &body).unwrap();
        assert!(r.tools.cache_point);
        assert_eq!(
            r.system.parts(),
            [Content::text("Be brief."), Content::CACHE_POINT].as_slice()
        );
        assert_eq!((r.max_tokens, r.temperature), (Some(300), Some(0.5)));
        assert_eq!(r.stop_sequences, ["END"]);
        assert_eq!(r.tool_choice, ToolChoice::Tool("weather".into()));
        assert_eq!(r.tools.tools[0].input_schema, json!({"type": "object"}));
        assert_eq!(r.reasoning.map(|r| r.budget_tokens), Some(2048));
        assert_eq!(
            serde_json::to_value(&r.messages).unwrap(),
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image", "mediaType": "image/png", "data": "iVBORw=="}]},
                {"role": "assistant", "content": [
                    {"type": "reasoning", "text": "hm", "signature": "sig"},
                    {"type": "toolCall", "id": "t1", "name": "weather", "input": {"city": "Oslo"}}]},
                {"role": "user", "content": [{"type": "toolResult", "toolCallId": "t1", "content": [{"type": "text", "text": "{\"c\":3}"}], "isError": true}]}
            ])
        );
    }

    #[test]
    fn additional_fields_are_kept_as_sent_or_refused() {
        let fields = json!({"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}});
        assert_eq!(
            additional_fields(Some(&fields)).unwrap(),
            fields.as_object().cloned()
        );
        assert_eq!(additional_fields(None).unwrap(), None);
        assert_eq!(additional_fields(Some(&Value::Null)).unwrap(), None);
        assert!(
            additional_fields(Some(&json!([1])))
                .unwrap_err()
                .contains("must be an object")
        );
    }

    #[test]
    fn bad_bodies_say_where() {
        for (body, says) in [
            (json!([]), "JSON object"),
            (json!({"messages": {}}), "messages must be a list"),
            (
                json!({"messages": [{"role": "system", "content": []}]}),
                "messages[0]: role",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"video": {}}]}]}),
                "messages[0]: content[0]: content block 'video' is not served by this gateway",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"searchResult": {}}]}]}),
                "content block 'searchResult' is not served by this gateway",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"searchResult": {}}]}}]}]}),
                "toolResult.content[0]: content block 'searchResult' is not served by this gateway (it serves text, json, image and document blocks)",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"s3Location": {}}}}]}]}),
                "fetches nothing",
            ),
            (json!({"inferenceConfig": {"maxTokens": -1}}), "maxTokens"),
            (
                json!({"messages": [{"role": "user", "content": [{"document": {"name": "d", "source": {"content": [{"text": "a"}]}}}]}]}),
                "document source must be `bytes` or `text` (not `content`)",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"document": {"name": "d", "source": {"bytes": "0M8R4KGxGuE="}}}]}]}),
                "document needs a `format`",
            ),
        ] {
            let e = stream_request("m", &body).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_replayed_citations_block_is_its_text() {
        let cited = json!({"citationsContent": {
            "content": [{"text": "The Nile "}, {"text": "is long."}],
            "citations": [{"title": "rivers", "sourceContent": [{"text": "The Nile is long."}],
                           "location": {"documentChar": {"documentIndex": 0, "start": 0, "end": 17}}}]
        }});
        assert_eq!(block(&cited).unwrap(), Content::text("The Nile is long."));
        let e = block(&json!({"citationsContent": {"content": [{"image": {}}]}})).unwrap_err();
        assert!(e.contains("citationsContent.content[0].text"), "{e}");
        let e = block(&json!({"citationsContent": {"citations": []}})).unwrap_err();
        assert!(e.contains("citationsContent.content must be a list"), "{e}");
    }

    #[test]
    fn a_document_without_a_format_is_read_by_its_bytes() {
        let doc = |source: Value| {
            block(&json!({"document": {"name": "notes", "source": source}})).unwrap()
        };
        let media = |c: Content| match c {
            Content::Document { media_type, .. } => media_type,
            other => panic!("{other:?}"),
        };
        assert_eq!(media(doc(json!({"text": "Rivers."}))), "text/plain");
        let pdf = STANDARD.encode(b"%PDF-1.7 ...");
        assert_eq!(media(doc(json!({"bytes": pdf}))), "application/pdf");
        let text = STANDARD.encode("a,b\n1,2");
        assert_eq!(media(doc(json!({"bytes": text}))), "text/plain");
        let named =
            block(&json!({"document": {"name": "t", "format": "csv", "source": {"bytes": text}}}));
        assert_eq!(media(named.unwrap()), "text/csv");
    }
}
