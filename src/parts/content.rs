//! Request parts: `messages[].content` as a string or a list of typed parts,
//! the `tools` a model may call and the `toolChoice`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One part of a turn's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Content {
    Text {
        text: String,
    },
    /// Image bytes, base64 (no `data:` prefix).
    #[serde(rename_all = "camelCase")]
    Image {
        media_type: String,
        data: String,
    },
    /// A document, base64.
    #[serde(rename_all = "camelCase")]
    Document {
        media_type: String,
        #[serde(default)]
        name: String,
        data: String,
        /// Ask the model to cite this document (Bedrock's `citations:
        /// {"enabled": true}`); its citations become `citation` events.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        citations: bool,
        /// How the model should read the document when it cites it
        /// (Converse's `document.context`). Bedrock's alone: the core API
        /// has no spelling for it, so serde neither reads nor writes it.
        #[serde(skip)]
        context: Option<String>,
    },
    /// Reasoning replayed as received: `text` + `signature`, or `redacted`.
    Reasoning(Reasoning),
    /// A tool call the model made (assistant turns).
    ToolCall {
        id: String,
        name: String,
        #[serde(default = "empty_object")]
        input: Value,
    },
    /// What a tool call returned (user turns).
    #[serde(rename_all = "camelCase")]
    ToolResult {
        tool_call_id: String,
        content: ToolResultContent,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// A prompt-cache checkpoint after what precedes it, kept for `ttl`
    /// (the default, `None`, is Bedrock's five minutes). The drop-ins that
    /// name a TTL (Converse's `cachePoint.ttl`, Anthropic's
    /// `cache_control.ttl`) set it; the core API's `{"type":"cachePoint"}`
    /// names none, so serde neither reads nor writes it.
    CachePoint {
        #[serde(skip)]
        ttl: Option<CacheTtl>,
    },
    /// Text the model reads that the request's guardrail evaluates alone
    /// (Converse's `guardContent`); `qualifiers` as Bedrock takes them
    /// (`grounding_source`, `query`, `guard_content`). Converse only.
    GuardContent {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        qualifiers: Vec<String>,
    },
}

/// How long a prompt-cache checkpoint keeps its prefix: Bedrock's
/// `CacheTTL` (`"5m"`, `"1h"`), which Anthropic's `cache_control.ttl` spells
/// the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTtl {
    FiveMinutes,
    OneHour,
}

impl CacheTtl {
    /// `"5m"` or `"1h"`; `Err` names the field and the values it takes.
    pub fn parse(v: &Value, field: &str) -> Result<Self, String> {
        match v.as_str() {
            Some("5m") => Ok(Self::FiveMinutes),
            Some("1h") => Ok(Self::OneHour),
            _ => Err(format!("{field} must be \"5m\" or \"1h\" (not {v})")),
        }
    }

    /// The `ttl` of an Anthropic `cache_control` (`None` when it names
    /// none); `at` names its block in the error.
    pub fn of_cache_control(
        cache_control: Option<&Value>,
        at: &str,
    ) -> Result<Option<Self>, String> {
        match cache_control.and_then(|c| c.get("ttl")) {
            None | Some(Value::Null) => Ok(None),
            Some(t) => Self::parse(t, &format!("{at}.cache_control.ttl")).map(Some),
        }
    }

    /// The TTL as Bedrock and Anthropic spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
        }
    }
}

/// A reasoning part: signed text, or an opaque redacted blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasoning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// A tool result's content: a string, or text and image parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Parts(Vec<Content>),
}

impl ToolResultContent {
    /// The result's text parts, joined.
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Parts(parts) => join_text(parts, "\n"),
        }
    }

    /// The result as a list of parts.
    pub fn parts(&self) -> Vec<Content> {
        match self {
            Self::Text(t) => vec![Content::text(t.clone())],
            Self::Parts(p) => p.clone(),
        }
    }
}

/// Whether a client's document block asks for citations (`"citations":
/// {"enabled": true}`, as Bedrock's Converse and Claude bodies say it).
pub fn citations_enabled(block: &serde_json::Value) -> bool {
    block
        .get("citations")
        .and_then(|c| c.get("enabled"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

impl Content {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A cache point with the default TTL.
    pub const CACHE_POINT: Self = Self::CachePoint { ttl: None };

    /// The part's name on the wire (`"image"`, `"toolCall"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Document { .. } => "document",
            Self::Reasoning(_) => "reasoning",
            Self::ToolCall { .. } => "toolCall",
            Self::ToolResult { .. } => "toolResult",
            Self::CachePoint { .. } => "cachePoint",
            Self::GuardContent { .. } => "guardContent",
        }
    }

    /// Text bytes this part adds to a prompt (what the prompt-size limit
    /// counts; attached bytes are bounded by the request body limit).
    pub fn size(&self) -> usize {
        match self {
            Self::Text { text } | Self::GuardContent { text, .. } => text.len(),
            Self::Image { .. } | Self::Document { .. } => 0,
            Self::Reasoning(r) => {
                r.text.as_ref().map_or(0, String::len) + r.redacted.as_ref().map_or(0, String::len)
            }
            Self::ToolCall { input, .. } => input.to_string().len(),
            Self::ToolResult { content, .. } => match content {
                ToolResultContent::Text(t) => t.len(),
                ToolResultContent::Parts(p) => p.iter().map(Content::size).sum(),
            },
            Self::CachePoint { .. } => 0,
        }
    }
}

/// The text parts of `parts`, joined with `sep` (what text-only families see).
pub fn join_text(parts: &[Content], sep: &str) -> String {
    let mut out = String::new();
    for p in parts {
        if let Content::Text { text } = p {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(text);
        }
    }
    out
}

/// `content` as a JSON string or a list of parts. Read through a `Value`
/// so a bad part's error names what is wrong (an untagged enum would only
/// say that nothing matched).
pub fn string_or_parts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Content>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::String(t) => Ok(vec![Content::text(t)]),
        Value::Array(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::from_value(p)
                    .map_err(|e| D::Error::custom(format!("content[{i}]: {e}")))
            })
            .collect(),
        _ => Err(D::Error::custom(
            "content must be a string or a list of parts",
        )),
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "empty_schema")]
    pub input_schema: Value,
    /// Hold the model's input to `input_schema` (Converse's
    /// `toolSpec.strict`). Bedrock's alone here: the other APIs' `strict`
    /// stays as each documents it, so serde neither reads nor writes it.
    #[serde(skip)]
    pub strict: Option<bool>,
}

fn empty_schema() -> Value {
    Tool::empty_schema()
}

impl Tool {
    /// The input schema of a tool that takes no arguments (the default when
    /// a client gives none).
    pub fn empty_schema() -> Value {
        serde_json::json!({"type": "object", "properties": {}})
    }
}

/// Which tools the model may or must call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    #[default]
    Auto,
    /// Some tool, the model picks which.
    Any,
    /// No tool.
    None,
    /// This tool.
    Tool(String),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Word(String),
            Named { name: String },
        }
        match Wire::deserialize(d)? {
            Wire::Word(w) => match w.as_str() {
                "auto" => Ok(Self::Auto),
                "any" | "required" => Ok(Self::Any),
                "none" => Ok(Self::None),
                other => Err(serde::de::Error::custom(format!(
                    "toolChoice '{other}' is not one of auto, any, none or {{\"name\":…}}"
                ))),
            },
            Wire::Named { name } => Ok(Self::Tool(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_read_and_write_the_contract_shapes() {
        let wire = json!([
            {"type":"text","text":"hi"},
            {"type":"image","mediaType":"image/png","data":"iVBORw=="},
            {"type":"document","mediaType":"text/plain","name":"a.txt","data":"aGk="},
            {"type":"reasoning","text":"hmm","signature":"sig"},
            {"type":"reasoning","redacted":"AAAA"},
            {"type":"toolCall","id":"t1","name":"f","input":{"a":1}},
            {"type":"toolResult","toolCallId":"t1","content":"ok","isError":true},
            {"type":"toolResult","toolCallId":"t1","content":[{"type":"text","text":"x"}]},
            {"type":"cachePoint"}
        ]);
        let parts: Vec<Content> = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(parts.len(), 9);
        assert_eq!(serde_json::to_value(&parts).unwrap(), wire);
    }

    #[test]
    fn unknown_part_types_and_fields_are_refused() {
        for bad in [
            json!({"type":"video","data":""}),
            json!({"type":"text","text":"a","extra":1}),
            json!({"type":"image","mediaType":"image/png"}),
        ] {
            assert!(
                serde_json::from_value::<Content>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tool_choice_words_and_names() {
        let read = |v| serde_json::from_value::<ToolChoice>(v);
        assert_eq!(read(json!("auto")).unwrap(), ToolChoice::Auto);
        assert_eq!(read(json!("any")).unwrap(), ToolChoice::Any);
        assert_eq!(read(json!("none")).unwrap(), ToolChoice::None);
        assert_eq!(
            read(json!({"name":"f"})).unwrap(),
            ToolChoice::Tool("f".into())
        );
        assert!(read(json!("sometimes")).is_err());
    }
}
