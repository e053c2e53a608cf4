//! Parts in GraphQL: `TokenEvent.part` (every member of the contract's
//! table, JSON values as strings, AppSync's `AWSJSON` convention) and the
//! typed inputs `startStream` takes for parts and tools.

use async_graphql::{InputObject, SimpleObject};
use serde_json::{Map, Value, json};

use crate::parts::{Content, Part, SystemPrompt, Tool};

/// A non-text piece of an answer: reasoning, a tool call, a citation or a
/// guardrail note. `index` is the content block's place in the answer.
#[derive(SimpleObject, Default)]
#[graphql(name = "Part")]
pub struct GqlPart {
    /// `reasoning`, `toolCall`, `citation` or `guardrail`.
    #[graphql(name = "type")]
    pub kind: String,
    pub index: Option<u32>,
    /// Reasoning or cited text.
    pub text: Option<String>,
    /// Closes a reasoning block; replay it with the reasoning text.
    pub signature: Option<String>,
    /// Redacted reasoning (base64), replayed as received.
    pub redacted: Option<String>,
    /// Tool call id (start and end events).
    pub id: Option<String>,
    /// Tool name (start and end events).
    pub name: Option<String>,
    /// A piece of the tool call's input JSON text.
    pub input_delta: Option<String>,
    /// The tool call's whole input, as a JSON string (end event).
    pub input: Option<String>,
    pub title: Option<String>,
    pub source: Option<String>,
    /// Where a citation points in the request's documents, as a JSON string.
    pub location: Option<String>,
    /// What a guardrail did.
    pub action: Option<String>,
    /// The guardrail's trace, as a JSON string.
    pub trace: Option<String>,
}

impl From<&Part> for GqlPart {
    fn from(p: &Part) -> Self {
        let kind = p.kind().to_owned();
        match p {
            Part::Reasoning {
                index,
                text,
                signature,
                redacted,
            } => Self {
                kind,
                index: Some(*index),
                text: text.clone(),
                signature: signature.clone(),
                redacted: redacted.clone(),
                ..Default::default()
            },
            Part::ToolCall {
                index,
                id,
                name,
                input_delta,
                input,
            } => Self {
                kind,
                index: Some(*index),
                id: id.clone(),
                name: name.clone(),
                input_delta: input_delta.clone(),
                input: input.as_ref().map(Value::to_string),
                ..Default::default()
            },
            Part::Citation {
                index,
                title,
                source,
                text,
                location,
            } => Self {
                kind,
                index: Some(*index),
                title: title.clone(),
                source: source.clone(),
                text: text.clone(),
                location: location.as_ref().map(Value::to_string),
                ..Default::default()
            },
            Part::Guardrail { action, trace } => Self {
                kind,
                action: Some(action.clone()),
                trace: trace.as_ref().map(Value::to_string),
                ..Default::default()
            },
        }
    }
}

/// One part of a message, as `POST /v1/stream` takes it: set `type` and the
/// fields of that type. `input` is a JSON string; `data` is base64.
#[derive(InputObject, Default)]
pub struct PartInput {
    /// `text`, `image`, `document`, `reasoning`, `toolCall`, `toolResult`,
    /// `cachePoint` or `guardContent`.
    #[graphql(name = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub media_type: Option<String>,
    pub name: Option<String>,
    pub data: Option<String>,
    pub signature: Option<String>,
    pub redacted: Option<String>,
    pub id: Option<String>,
    /// A tool call's input, as a JSON string.
    pub input: Option<String>,
    pub tool_call_id: Option<String>,
    /// A tool result's text.
    pub content: Option<String>,
    pub is_error: Option<bool>,
    /// A document's: ask the model to cite it (`citation` parts).
    pub citations: Option<bool>,
    /// A guardContent's: what the guardrail takes its text as
    /// (`grounding_source`, `query`, `guard_content`).
    pub qualifiers: Option<Vec<String>>,
}

impl PartInput {
    /// The request part, read through the same rules as JSON requests.
    pub fn into_content(self) -> Result<Content, String> {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("text", self.text.map(Value::from));
        put("mediaType", self.media_type.map(Value::from));
        put("name", self.name.map(Value::from));
        put("data", self.data.map(Value::from));
        put("signature", self.signature.map(Value::from));
        put("redacted", self.redacted.map(Value::from));
        put("id", self.id.map(Value::from));
        put("toolCallId", self.tool_call_id.map(Value::from));
        put("content", self.content.map(Value::from));
        put("isError", self.is_error.map(Value::from));
        put("citations", self.citations.map(Value::from));
        put("qualifiers", self.qualifiers.map(Value::from));
        if let Some(input) = self.input {
            let v: Value = serde_json::from_str(&input)
                .map_err(|e| format!("part input is not a JSON string: {e}"))?;
            m.insert("input".into(), v);
        }
        serde_json::from_value(Value::Object(m)).map_err(|e| format!("bad part: {e}"))
    }
}

/// `startStream`'s system prompt: `system` as a text part, then
/// `systemParts` (text and cache points only).
pub fn system_prompt(
    system: Option<String>,
    parts: Option<Vec<PartInput>>,
) -> Result<SystemPrompt, String> {
    let mut all: Vec<Content> = system.map(Content::text).into_iter().collect();
    for p in parts.unwrap_or_default() {
        all.push(p.into_content()?);
    }
    SystemPrompt::from_parts(all).map_err(|e| format!("systemParts: {e}"))
}

/// A tool the model may call; `inputSchema` is a JSON Schema as a JSON string.
#[derive(InputObject)]
pub struct ToolInput {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<String>,
}

impl ToolInput {
    pub fn into_tool(self) -> Result<Tool, String> {
        let mut tool = json!({"name": self.name, "description": self.description});
        if let Some(schema) = self.input_schema {
            tool["inputSchema"] = serde_json::from_str(&schema)
                .map_err(|e| format!("tool '{}': inputSchema is not JSON: {e}", self.name))?;
        }
        serde_json::from_value(tool).map_err(|e| format!("bad tool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_as_request_parts() {
        let call = PartInput {
            kind: "toolCall".into(),
            id: Some("t1".into()),
            name: Some("f".into()),
            input: Some(r#"{"a":1}"#.into()),
            ..Default::default()
        };
        assert_eq!(
            call.into_content().unwrap(),
            Content::ToolCall {
                id: "t1".into(),
                name: "f".into(),
                input: json!({"a":1})
            }
        );
        let bad = PartInput {
            kind: "video".into(),
            ..Default::default()
        };
        assert!(bad.into_content().is_err());
    }

    #[test]
    fn citations_and_qualifiers_read_as_on_the_stream_route() {
        let doc = PartInput {
            kind: "document".into(),
            media_type: Some("text/plain".into()),
            name: Some("Q3".into()),
            data: Some("AA==".into()),
            citations: Some(true),
            ..Default::default()
        };
        assert_eq!(
            doc.into_content().unwrap(),
            Content::Document {
                media_type: "text/plain".into(),
                name: "Q3".into(),
                data: "AA==".into(),
                citations: true,
                context: None,
            }
        );
        let guard = PartInput {
            kind: "guardContent".into(),
            text: Some("Is it safe?".into()),
            qualifiers: Some(vec!["query".into()]),
            ..Default::default()
        };
        assert_eq!(
            guard.into_content().unwrap(),
            Content::GuardContent {
                text: "Is it safe?".into(),
                qualifiers: vec!["query".into()]
            }
        );
    }

    #[test]
    fn system_text_then_parts() {
        let part = |kind: &str, text: Option<&str>| PartInput {
            kind: kind.into(),
            text: text.map(str::to_owned),
            ..Default::default()
        };
        let s = system_prompt(
            Some("Rules".into()),
            Some(vec![part("cachePoint", None), part("text", Some("Today"))]),
        )
        .unwrap();
        assert_eq!(
            s.parts(),
            [
                Content::text("Rules"),
                Content::CACHE_POINT,
                Content::text("Today")
            ]
            .as_slice()
        );
        let e = system_prompt(None, Some(vec![part("toolCall", None)])).unwrap_err();
        assert!(e.contains("bad part"), "{e}");
        let e = system_prompt(
            None,
            Some(vec![PartInput {
                kind: "image".into(),
                media_type: Some("image/png".into()),
                data: Some("AA==".into()),
                ..Default::default()
            }]),
        )
        .unwrap_err();
        assert!(e.contains("systemParts") && e.contains("not image"), "{e}");
    }

    #[test]
    fn tool_call_end_carries_input_as_json_text() {
        let p = Part::tool_end(1, "t".into(), "f".into(), json!({"a":[1]}));
        let g = GqlPart::from(&p);
        assert_eq!(g.kind, "toolCall");
        assert_eq!(g.input.as_deref(), Some(r#"{"a":[1]}"#));
    }
}
