//! The body of `POST /v1/responses` and its mapping onto the gateway's
//! [`StreamRequest`]: options, flat function `tools`, `tool_choice`,
//! `reasoning.effort` (the chat completions' budgets). `input` is
//! [`super::input`]'s part; `previous_response_id` is resolved by the handler.
//!
//! Fields the gateway cannot honour are refused by name (a body is read with
//! `deny_unknown_fields`), log-probabilities (`top_logprobs`, `include` of
//! `message.output_text.logprobs`) with a sentence; `parallel_tool_calls`,
//! `metadata`, `user`, `store`, the rest of `include` and a few hints (`max_tool_calls`, `prompt_cache_key`,
//! `prompt_cache_retention`, `safety_identifier`, `service_tier`) are
//! accepted and ignored.
//!
//! The response object echoes what was asked even where the gateway does
//! not act on it: `tools[].strict` (nothing is enforced), `truncation`
//! (nothing is truncated: an input too long for the model is Bedrock's
//! `400` either way), `text.verbosity` (no Bedrock setting), and
//! `reasoning.summary` (the summary is the model's reasoning text,
//! whatever is asked).

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::super::error::{OpenAiError, bad, bad_param};
use super::super::request::{fit_under, reasoning};
use super::super::response_format;
use crate::parts::{OutputConfig, Tool, ToolChoice};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResponsesRequest {
    #[serde(default)]
    pub model: Option<String>,
    /// A string, or a list of items.
    pub input: Value,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<ToolDef>>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","name"}`.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub reasoning: Option<ReasoningOptions>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// `{"format":{"type":"text"|"json_object"|"json_schema",…}}`; JSON as
    /// a forced tool ([`super::super::response_format`]).
    #[serde(default)]
    text: Option<Value>,
    /// Only `false`: nothing runs in the background here.
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    store: Option<bool>,
    /// A cap on calls of OpenAI's built-in tools, which the gateway has
    /// none of: echoed, nothing to enforce.
    #[serde(default)]
    max_tool_calls: Option<u64>,
    /// Identifiers OpenAI keys its prompt cache and abuse checks on: echoed.
    #[serde(default)]
    prompt_cache_key: Option<String>,
    #[serde(default)]
    safety_identifier: Option<String>,
    // Accepted and ignored, whatever their value. `service_tier` is not sent
    // to Bedrock from here (the echo says `default`, the tier that serves);
    // `prompt_cache_retention` has no Bedrock setting here (cache points
    // keep Bedrock's own lifetime), so it is echoed as `null`.
    #[serde(default, rename = "user")]
    _user: Option<IgnoredAny>,
    /// Extra output to include; only log-probabilities are refused (Bedrock has none).
    #[serde(default)]
    include: Option<Vec<String>>,
    /// Refused above 0, like `include: ["message.output_text.logprobs"]`.
    #[serde(default)]
    top_logprobs: Option<u32>,
    /// `"auto"` or `"disabled"`: echoed, nothing is truncated.
    #[serde(default)]
    truncation: Option<Truncation>,
    #[serde(default, rename = "service_tier")]
    _service_tier: Option<IgnoredAny>,
    #[serde(default, rename = "prompt_cache_retention")]
    _prompt_cache_retention: Option<IgnoredAny>,
    #[serde(default, rename = "stream_options")]
    _stream_options: Option<IgnoredAny>,
    // Hints the current SDK sends, with nothing to act on here: the prompt
    // cache's lifetime (cache points keep Bedrock's own) and OpenAI's own
    // context compaction (the conversation goes to Bedrock whole).
    #[serde(default, rename = "prompt_cache_options")]
    _prompt_cache_options: Option<IgnoredAny>,
    #[serde(default, rename = "context_management")]
    _context_management: Option<IgnoredAny>,
    /// OpenAI's stored conversations and prompt templates: none here. `null`
    /// (what some clients send for "none") is taken; anything else refused.
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    prompt: Option<Value>,
}

/// `truncation`, as OpenAI names its two strategies.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Truncation {
    Auto,
    Disabled,
}

/// `reasoning`: `effort` sets the budget; `summary` (and the deprecated
/// `generate_summary`) are echoed (the summary is the model's reasoning
/// text, whatever is asked).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasoningOptions {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    generate_summary: Option<String>,
    /// Which reasoning of earlier turns the model sees: Bedrock gets what
    /// `input` replays.
    #[serde(default, rename = "context")]
    _context: Option<IgnoredAny>,
}

/// One entry of `tools`: `{"type":"function","name","description"?,"parameters"?,"strict"?}`.
#[derive(Debug, Deserialize)]
pub(super) struct ToolDef {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    /// Echoed as sent; not enforced.
    #[serde(default)]
    strict: Option<bool>,
}

impl ResponsesRequest {
    /// Refuse what the gateway cannot do, before anything else is read.
    pub fn check(&self) -> Result<(), OpenAiError> {
        if self.background == Some(true) {
            return Err(bad("background responses are not supported"));
        }
        if self.conversation.as_ref().is_some_and(|c| !c.is_null()) {
            return Err(bad_param(
                "conversation",
                "conversation objects are not served: continue with previous_response_id",
            ));
        }
        if self.prompt.as_ref().is_some_and(|p| !p.is_null()) {
            return Err(bad_param(
                "prompt",
                "prompt templates are not served: send the instructions and input",
            ));
        }
        const NO_LOGPROBS: &str = "is not supported: Bedrock returns no token log-probabilities";
        if self.top_logprobs.is_some_and(|n| n > 0) {
            return Err(bad_param(
                "top_logprobs",
                format!("top_logprobs {NO_LOGPROBS}"),
            ));
        }
        if let Some(asked) = self
            .include
            .iter()
            .flatten()
            .find(|i| i.ends_with("logprobs"))
        {
            return Err(bad_param(
                "include",
                format!("include \"{asked}\" {NO_LOGPROBS}"),
            ));
        }
        self.json_tool()?;
        Ok(())
    }

    /// The tool whose input is the answer, when `text.format` asks for JSON.
    fn json_tool(&self) -> Result<Option<Tool>, OpenAiError> {
        response_format::text_format_tool(self.text.as_ref().and_then(|t| t.get("format")))
    }

    /// The options as a stream request without its conversation (`system`
    /// and `messages` are the handler's, from `input` and the previous response).
    ///
    /// A JSON `text.format` is one more tool, the one whose call is the
    /// answer ([`response_format::declare`]); with reasoning, Bedrock's own
    /// structured output through Converse ([`response_format::native`]).
    pub fn options(&self) -> Result<StreamRequest, OpenAiError> {
        let mut tools = tools(self.tools.as_deref().unwrap_or_default())?;
        let mut tool_choice = tool_choice(self.tool_choice.as_ref())?;
        let reasoning = self.reasoning_budget()?;
        let mut output_config = OutputConfig::default();
        let mut api = None;
        match self.json_tool()? {
            Some(format) if reasoning.is_some() => {
                output_config = response_format::native(format);
                api = Some(Api::Converse);
            }
            Some(format) => {
                tool_choice = response_format::declare(
                    format,
                    &mut tools,
                    tool_choice,
                    "a JSON text.format",
                )?;
            }
            None => {}
        }
        Ok(StreamRequest {
            api,
            output_config,
            model: self.model.clone(),
            max_tokens: self.max_output_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            tools: tools.into(),
            tool_choice,
            parallel_tool_calls: self.parallel_tool_calls,
            reasoning,
            ..Default::default()
        })
    }

    fn reasoning_budget(&self) -> Result<Option<ReasoningRequest>, OpenAiError> {
        let Some(r) = &self.reasoning else {
            return Ok(None);
        };
        // As at OpenAI, `max_output_tokens` covers reasoning and answer.
        fit_under(
            reasoning(r.effort.as_deref(), None)?,
            self.max_output_tokens,
            "max_output_tokens",
        )
    }

    /// What a response object repeats of its request.
    pub fn echo(&self, created_at: u64) -> Value {
        json!({
            "created_at": created_at,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "metadata": self.metadata.clone().unwrap_or_else(|| json!({})),
            "parallel_tool_calls": self.parallel_tool_calls.unwrap_or(true),
            "previous_response_id": self.previous_response_id,
            "reasoning": self.reasoning.as_ref().map_or_else(
                || json!({"effort": null, "summary": null}),
                ReasoningOptions::echo,
            ),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "tool_choice": self.tool_choice.clone().unwrap_or_else(|| json!("auto")),
            "tools": self.tools.as_deref().unwrap_or_default().iter().map(ToolDef::echo).collect::<Vec<_>>(),
            "text": self.text_echo(),
            "truncation": self.truncation.unwrap_or(Truncation::Disabled),
            "store": self.store.unwrap_or(true),
            "max_tool_calls": self.max_tool_calls,
            "prompt_cache_key": self.prompt_cache_key,
            "prompt_cache_retention": null,
            "safety_identifier": self.safety_identifier,
            "service_tier": "default",
        })
    }
}

impl ResponsesRequest {
    /// `text` as sent (`verbosity` with it), its `format` `text` when none was named.
    fn text_echo(&self) -> Value {
        let mut text = match &self.text {
            Some(Value::Object(t)) => t.clone(),
            _ => serde_json::Map::new(),
        };
        if text.get("format").is_none_or(Value::is_null) {
            text.insert("format".into(), json!({"type": "text"}));
        }
        Value::Object(text)
    }
}

impl ReasoningOptions {
    fn echo(&self) -> Value {
        let mut v = json!({"effort": self.effort, "summary": self.summary});
        if let Some(g) = &self.generate_summary {
            v["generate_summary"] = json!(g);
        }
        v
    }
}

impl ToolDef {
    fn echo(&self) -> Value {
        json!({
            "type": self.kind,
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        })
    }
}

/// `tools` as the gateway's tools; `parameters` is the input schema (an
/// empty object schema when missing). `strict` is accepted and not enforced.
fn tools(defs: &[ToolDef]) -> Result<Vec<Tool>, OpenAiError> {
    defs.iter()
        .enumerate()
        .map(|(i, def)| {
            if def.kind != "function" {
                return Err(bad(format!(
                    "tools[{i}]: tools of type '{}' are not supported; only 'function'",
                    def.kind
                )));
            }
            let name = def
                .name
                .clone()
                .ok_or_else(|| bad(format!("tools[{i}]: a function tool needs `name`")))?;
            Ok(Tool {
                name,
                description: def.description.clone(),
                input_schema: def
                    .parameters
                    .clone()
                    .filter(|p| !p.is_null())
                    .unwrap_or_else(Tool::empty_schema),
                strict: None,
            })
        })
        .collect()
}

/// `tool_choice`: `"required"` is the gateway's `any`; a function by name.
fn tool_choice(v: Option<&Value>) -> Result<ToolChoice, OpenAiError> {
    let named = |v: &Value| {
        (v.get("type")?.as_str()? == "function")
            .then(|| v.get("name")?.as_str())
            .flatten()
            .map(|n| ToolChoice::Tool(n.to_owned()))
    };
    match v {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) if s == "auto" => Ok(ToolChoice::Auto),
        Some(Value::String(s)) if s == "none" => Ok(ToolChoice::None),
        Some(Value::String(s)) if s == "required" => Ok(ToolChoice::Any),
        Some(v) => named(v).ok_or_else(|| {
            bad(format!(
                "tool_choice {v} is not \"auto\", \"none\", \"required\" or {{\"type\":\"function\",\"name\":…}}"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<StreamRequest, OpenAiError> {
        let req: ResponsesRequest = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
        req.check()?;
        req.options()
    }

    #[test]
    fn options_tools_choice_and_effort() {
        let s = parse(json!({
            "model": "m", "input": "x", "max_output_tokens": 3000, "temperature": 0.5, "top_p": 0.9,
            "tools": [
                {"type": "function", "name": "w", "description": "Weather", "strict": true,
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"type": "function", "name": "now", "parameters": null}
            ],
            "tool_choice": {"type": "function", "name": "now"},
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": false, "parallel_tool_calls": false, "metadata": {"a": "b"}, "user": "u",
            "include": ["reasoning.encrypted_content"], "text": {"format": {"type": "text"}}
        }))
        .unwrap();
        assert_eq!(s.max_tokens, Some(3000));
        assert_eq!(s.tools.tools.len(), 2);
        assert_eq!(s.tools.tools[0].description.as_deref(), Some("Weather"));
        assert_eq!(
            s.tools.tools[1].input_schema,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(s.tool_choice, ToolChoice::Tool("now".into()));
        // Medium's 4,096 fit under the ceiling, which covers the answer too.
        assert_eq!(s.reasoning.map(|r| r.budget_tokens), Some(2999));
        for (wire, want) in [
            (json!("auto"), ToolChoice::Auto),
            (json!("none"), ToolChoice::None),
            (json!("required"), ToolChoice::Any),
        ] {
            assert_eq!(tool_choice(Some(&wire)).unwrap(), want);
        }
        let low = parse(json!({"input": "x", "reasoning": {"effort": "low"}})).unwrap();
        assert_eq!(low.reasoning.map(|r| r.budget_tokens), Some(1024));
    }

    #[test]
    fn hints_are_accepted_and_echoed() {
        let body = json!({"input": "x", "max_tool_calls": 3, "prompt_cache_key": "k",
            "prompt_cache_retention": "24h", "safety_identifier": "u-1", "service_tier": "flex"});
        let req: ResponsesRequest = serde_json::from_value(body).unwrap();
        req.check().unwrap();
        req.options().unwrap();
        let echo = req.echo(0);
        assert_eq!(echo["max_tool_calls"], 3);
        assert_eq!(echo["prompt_cache_key"], "k");
        assert_eq!(echo["safety_identifier"], "u-1");
        assert_eq!(echo["service_tier"], "default", "the tier that served it");
        assert_eq!(echo["prompt_cache_retention"], Value::Null);
        let bare: ResponsesRequest = serde_json::from_value(json!({"input": "x"})).unwrap();
        assert_eq!(bare.echo(0)["max_tool_calls"], Value::Null);
    }

    #[test]
    fn the_echo_repeats_what_was_asked() {
        let body = json!({"input": "x", "truncation": "auto",
        "text": {"verbosity": "low"},
        "reasoning": {"effort": "low", "summary": "detailed"},
        "tools": [
            {"type": "function", "name": "a", "strict": true},
            {"type": "function", "name": "b", "strict": false},
            {"type": "function", "name": "c"}
        ]});
        let req: ResponsesRequest = serde_json::from_value(body).unwrap();
        req.check().unwrap();
        let echo = req.echo(0);
        assert_eq!(echo["truncation"], "auto");
        assert_eq!(
            echo["text"],
            json!({"verbosity": "low", "format": {"type": "text"}})
        );
        assert_eq!(
            echo["reasoning"],
            json!({"effort": "low", "summary": "detailed"})
        );
        let strict: Vec<&Value> = echo["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["strict"])
            .collect();
        assert_eq!(strict, [&json!(true), &json!(false), &Value::Null]);
        let bare: ResponsesRequest = serde_json::from_value(json!({"input": "x"})).unwrap();
        let echo = bare.echo(0);
        assert_eq!(echo["truncation"], "disabled");
        assert_eq!(echo["text"], json!({"format": {"type": "text"}}));
        assert_eq!(echo["reasoning"], json!({"effort": null, "summary": null}));
        let schema = json!({"format": {"type": "json_object"}, "verbosity": "high"});
        let req: ResponsesRequest =
            serde_json::from_value(json!({"input": "x", "text": schema})).unwrap();
        assert_eq!(req.echo(0)["text"], schema);
    }

    #[test]
    fn nulls_for_what_it_has_none_of_are_taken() {
        assert!(parse(json!({"input": "x", "conversation": null, "prompt": null})).is_ok());
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for b in [
            json!({"input": "x", "tools": [{"type": "web_search"}]}),
            json!({"input": "x", "tools": [{"type": "function"}]}),
            json!({"input": "x", "tool_choice": {"type": "function", "function": {"name": "w"}}}),
            json!({"input": "x", "reasoning": {"effort": "max"}}),
            json!({"input": "x", "text": {"format": {"type": "json_schema"}}}),
            json!({"input": "x", "text": {"format": {"type": "yaml"}}}),
            json!({"input": "x", "background": true}),
            json!({"input": "x", "truncation": "sometimes"}),
            json!({"input": "x", "conversation": "c"}),
            json!({"input": "x", "prompt": {"id": "pmpt_1"}}),
            json!({"input": "x", "frequency": 1}),
            json!({"model": "m"}),
        ] {
            assert!(parse(b.clone()).is_err(), "{b} should be refused");
        }
    }
}
