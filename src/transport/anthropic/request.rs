//! The body of `POST /v1/messages` (and `count_tokens`) and its mapping onto
//! the gateway's [`StreamRequest`]: options, `tools`, `tool_choice`,
//! `thinking`. Messages are [`super::content`]'s part.
//!
//! Fields this module does not name (`metadata`, `top_k`, `service_tier`, …)
//! are accepted; for Claude, the body sent upstream is the client's own
//! ([`super::body`]), so the ones Bedrock takes still reach the model.

use serde::Deserialize;
use serde_json::Value;

use super::content::{self, Message};
use super::error::{AnthropicError, bad};
use crate::parts::{CacheTtl, Content, JsonFormat, OutputConfig, Tool, ToolChoice, ToolList};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;

#[derive(Debug, Deserialize)]
pub(super) struct MessagesRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub system: Option<Value>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// `{"type":"auto"|"any"|"none"}` or `{"type":"tool","name"}`.
    #[serde(default)]
    tool_choice: Option<Value>,
    /// `{"type":"enabled","budget_tokens":N}` or `{"type":"disabled"}`.
    #[serde(default)]
    thinking: Option<Value>,
    /// Automatic caching: a cache point after the last block.
    #[serde(default)]
    cache_control: Option<Value>,
    /// Structured output and effort.
    #[serde(default)]
    output_config: Option<Value>,
}

/// The request as the gateway's stream request for `model_id`. `claude`:
/// the model is Claude, so the client's body goes upstream as it is and
/// Anthropic's server tools (`{"type":"bash_20250124",…}`) ride in it;
/// any other model is served through ConverseStream, which takes only
/// custom tools.
pub(super) fn to_stream_request(
    req: MessagesRequest,
    model_id: &str,
    claude: bool,
) -> Result<StreamRequest, AnthropicError> {
    let Some(max_tokens) = req.max_tokens else {
        return Err(bad("max_tokens: Field required"));
    };
    let mut messages = content::turns(req.messages, claude)?;
    if let Some(cache) = req.cache_control.filter(|c| !c.is_null())
        && let Some(last) = messages.last_mut()
        && !matches!(last.content.last(), Some(Content::CachePoint { .. }))
    {
        let ttl = CacheTtl::of_cache_control(Some(&cache), "body").map_err(bad)?;
        last.content.push(Content::CachePoint { ttl });
    }
    Ok(StreamRequest {
        prompt: None,
        model: Some(model_id.to_owned()),
        system: content::system(req.system.as_ref(), claude)?,
        messages,
        max_tokens: Some(max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop_sequences.unwrap_or_default(),
        api: Some(if claude { Api::Invoke } else { Api::Converse }),
        tools: tools(req.tools.unwrap_or_default(), claude)?,
        tool_choice: tool_choice(req.tool_choice.as_ref())?,
        // Claude's body carries it as sent; for the others it is the same switch.
        parallel_tool_calls: req
            .tool_choice
            .as_ref()
            .and_then(|c| c.get("disable_parallel_tool_use"))
            .and_then(Value::as_bool)
            .map(|disabled| !disabled),
        reasoning: reasoning(req.thinking.as_ref(), claude)?,
        guardrail: None,
        output_config: output_config(req.output_config.as_ref())?,
    })
}

/// `output_config`: `{"format"?: {"type": "json_schema", "schema": {…}},
/// "effort"?}`. Claude's body carries it as sent; for the others it becomes
/// Converse's `outputConfig`.
fn output_config(v: Option<&Value>) -> Result<OutputConfig, AnthropicError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(OutputConfig::default());
    };
    let c = v
        .as_object()
        .ok_or_else(|| bad("output_config: Input should be an object"))?;
    let format = match c.get("format").filter(|f| !f.is_null()) {
        None => None,
        Some(f) => {
            if f.get("type").and_then(Value::as_str) != Some("json_schema") {
                return Err(bad(
                    "output_config.format.type: Input should be 'json_schema'",
                ));
            }
            let schema = f
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| bad("output_config.format.schema: Input should be an object"))?;
            Some(JsonFormat {
                schema: schema.clone(),
                name: None,
                description: None,
            })
        }
    };
    let effort = match c.get("effort").filter(|e| !e.is_null()) {
        None => None,
        Some(Value::String(e)) => Some(e.clone()),
        Some(_) => return Err(bad("output_config.effort: Input should be a string")),
    };
    Ok(OutputConfig { format, effort })
}

/// `tools`: `{"name","description"?,"input_schema"}`, or (Claude only) a
/// server tool of some `type`, checked here by its name alone. A tool's
/// `cache_control` is a cache point after the tools.
fn tools(defs: Vec<Value>, claude: bool) -> Result<ToolList, AnthropicError> {
    let cache_point = defs
        .iter()
        .any(|d| d.get("cache_control").is_some_and(|c| !c.is_null()));
    let mut cache_ttl = None;
    for (i, d) in defs.iter().enumerate() {
        cache_ttl = cache_ttl.or(CacheTtl::of_cache_control(
            d.get("cache_control"),
            &format!("tools.{i}"),
        )
        .map_err(bad)?);
    }
    let tools = defs
        .into_iter()
        .enumerate()
        .map(|(i, def)| {
            let kind = def.get("type").and_then(Value::as_str).unwrap_or("custom");
            if kind == "mcp_toolset" {
                return Err(bad(format!(
                    "tools.{i}: tools of type 'mcp_toolset' are not served: Bedrock has no MCP connector"
                )));
            }
            let name = def
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("tools.{i}.name: a string is required")))?;
            let schema = def.get("input_schema").filter(|s| !s.is_null());
            let input_schema = match (kind, schema) {
                ("custom", Some(s)) => s.clone(),
                ("custom", None) => {
                    return Err(bad(format!("tools.{i}.input_schema: Field required")));
                }
                (_, _) if claude => serde_json::json!({"type": "object", "properties": {}}),
                (other, _) => {
                    return Err(bad(format!(
                        "tools.{i}: tools of type '{other}' are Claude's own; this model takes custom tools only"
                    )));
                }
            };
            Ok(Tool {
                name: name.to_owned(),
                description: def
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_schema,
                strict: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ToolList::new(tools, cache_point).with_cache_ttl(cache_ttl))
}

fn tool_choice(v: Option<&Value>) -> Result<ToolChoice, AnthropicError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    let name = v.get("name").and_then(Value::as_str);
    match (v.get("type").and_then(Value::as_str), name) {
        (Some("auto"), _) => Ok(ToolChoice::Auto),
        (Some("any"), _) => Ok(ToolChoice::Any),
        (Some("none"), _) => Ok(ToolChoice::None),
        (Some("tool"), Some(name)) => Ok(ToolChoice::Tool(name.to_owned())),
        _ => Err(bad(format!(
            "tool_choice {v} is not {{\"type\":\"auto\"|\"any\"|\"none\"}} or {{\"type\":\"tool\",\"name\":…}}"
        ))),
    }
}

/// `thinking`: a budget when enabled. Adaptive thinking (the model picks its
/// budget) asks for no budget here; Claude gets the client's own field (a
/// type not read here too, for Bedrock to judge).
fn reasoning(v: Option<&Value>, claude: bool) -> Result<Option<ReasoningRequest>, AnthropicError> {
    let Some(t) = v.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let budget = t.get("budget_tokens").and_then(Value::as_u64);
    match (t.get("type").and_then(Value::as_str), budget) {
        (Some("disabled" | "adaptive"), _) => Ok(None),
        (Some("enabled"), Some(b)) => Ok(Some(ReasoningRequest {
            budget_tokens: u32::try_from(b).unwrap_or(u32::MAX),
        })),
        (Some(other), _) if claude && other != "enabled" => Ok(None),
        _ => Err(bad(format!(
            "thinking {t} is not {{\"type\":\"enabled\",\"budget_tokens\":N}} or {{\"type\":\"disabled\"}}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value, claude: bool) -> Result<StreamRequest, AnthropicError> {
        to_stream_request(serde_json::from_value(v).unwrap(), "m", claude)
    }

    fn with(extra: Value) -> Value {
        let mut v = json!({"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    }

    #[test]
    fn options_tools_and_thinking() {
        let s = parse(
            with(json!({
                "system": "terse",
                "temperature": 0.5,
                "stop_sequences": ["END"],
                "tools": [{"name": "w", "description": "Weather", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
                "tool_choice": {"type": "tool", "name": "w"},
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "metadata": {"user_id": "u"},
                "top_k": 5
            })),
            true,
        )
        .unwrap();
        assert_eq!(s.model.as_deref(), Some("m"));
        assert_eq!(s.system.text().as_deref(), Some("terse"));
        assert_eq!(s.max_tokens, Some(100));
        assert_eq!(s.stop_sequences, ["END"]);
        assert_eq!(s.api, Some(Api::Invoke));
        assert_eq!(s.tools.tools[0].description.as_deref(), Some("Weather"));
        assert!(s.tools.cache_point, "the tool's cache_control");
        assert_eq!(s.tool_choice, ToolChoice::Tool("w".into()));
        assert_eq!(s.reasoning.map(|r| r.budget_tokens), Some(2048));
        assert_eq!(
            parse(with(json!({})), false).unwrap().api,
            Some(Api::Converse)
        );
    }

    #[test]
    fn system_cache_control_is_a_cache_point() {
        let s = parse(
            with(json!({"system": [
                {"type": "text", "text": "Rules", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Today"}
            ]})),
            false,
        )
        .unwrap();
        assert_eq!(
            s.system.parts(),
            [
                Content::text("Rules"),
                Content::CACHE_POINT,
                Content::text("Today")
            ]
            .as_slice()
        );
        assert!(!s.tools.cache_point);
        let e = parse(
            with(json!({"system": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]})),
            false,
        )
        .unwrap_err();
        assert!(e.message().contains("system"), "{}", e.message());
    }

    #[test]
    fn server_tools_only_for_claude() {
        let bash = with(json!({"tools": [{"type": "bash_20250124", "name": "bash"}]}));
        assert_eq!(
            parse(bash.clone(), true).unwrap().tools.tools[0].name,
            "bash"
        );
        assert!(
            parse(bash, false)
                .unwrap_err()
                .message()
                .contains("custom tools only")
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (v, says) in [
            (json!({"model": "x", "messages": []}), "max_tokens"),
            (with(json!({"tools": [{"name": "w"}]})), "input_schema"),
            (
                with(json!({"tool_choice": {"type": "tool"}})),
                "tool_choice",
            ),
            (with(json!({"thinking": {"type": "enabled"}})), "thinking"),
        ] {
            let e = parse(v.clone(), true).unwrap_err();
            assert!(e.message().contains(says), "{v}: {}", e.message());
        }
        for (wire, want) in [
            (json!({"type": "auto"}), ToolChoice::Auto),
            (
                json!({"type": "any", "disable_parallel_tool_use": true}),
                ToolChoice::Any,
            ),
            (json!({"type": "none"}), ToolChoice::None),
        ] {
            assert_eq!(tool_choice(Some(&wire)).unwrap(), want);
        }
        assert!(
            reasoning(Some(&json!({"type": "disabled"})), false)
                .unwrap()
                .is_none()
        );
    }
}
