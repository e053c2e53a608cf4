//! The body of `POST /v1/chat/completions` and its mapping onto the
//! gateway's [`StreamRequest`]: options, `tools`, `tool_choice` and the
//! reasoning budget (`reasoning_effort`, or `thinking` as Anthropic and
//! LiteLLM clients send it). Messages are [`super::messages`]' part.
//!
//! `parallel_tool_calls: false` allows one tool call per answer where the
//! model has the switch (Claude's `disable_parallel_tool_use`); fields this
//! module does not name are accepted and ignored.
//! `logprobs: true` and `top_logprobs` are refused: Bedrock returns no token
//! log-probabilities, and an answer without them would look like one with.

use serde::Deserialize;
use serde_json::Value;

use super::error::{OpenAiError, bad, bad_param};
use super::messages::{self, ChatMessage};
use super::response_format;
use crate::parts::{OutputConfig, Tool, ToolChoice};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;
use crate::upstream::guardrail::Guardrail;

#[derive(Debug, Deserialize)]
pub(super) struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    tools: Option<Vec<ToolDef>>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name"}}`.
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    reasoning_effort: Option<String>,
    /// `{"type":"enabled","budget_tokens":N}` or `{"type":"disabled"}`.
    #[serde(default)]
    thinking: Option<Value>,
    /// Spillway's `guardrail` (`extra_body` in the SDK); the deployment default when absent.
    #[serde(default)]
    guardrail: Option<Guardrail>,
    /// `false`: at most one tool call per answer.
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    /// JSON mode and structured outputs ([`super::response_format`]).
    #[serde(default)]
    response_format: Option<Value>,
    /// Token log-probabilities, which Bedrock does not return: `true` (or
    /// any `top_logprobs`) is refused rather than answered without them.
    #[serde(default)]
    logprobs: Option<bool>,
    #[serde(default)]
    top_logprobs: Option<u32>,
    /// The legacy function-calling fields, refused with a pointer to `tools`.
    #[serde(default)]
    functions: Option<Value>,
    #[serde(default)]
    function_call: Option<Value>,
    /// OpenAI's own web search, which Bedrock's models do not have: refused
    /// rather than answered without a search.
    #[serde(default)]
    web_search_options: Option<Value>,
    /// Output modalities: only `text` (Bedrock's models answer in text).
    #[serde(default)]
    modalities: Option<Vec<String>>,
    #[serde(default)]
    audio: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// One entry of `tools`: `{"type":"function","function":{"name","description"?,"parameters"?}}`.
#[derive(Debug, Deserialize)]
struct ToolDef {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    function: Option<FunctionDef>,
}

#[derive(Debug, Deserialize)]
struct FunctionDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// The thinking budget each `reasoning_effort` asks for. Bedrock's smallest
/// budget is 1024, so `minimal` and `low` both get it; `none` turns
/// reasoning off. As at OpenAI, a named output ceiling covers the reasoning
/// too: the budget shrinks to fit under it ([`fit_under`]).
pub const EFFORT_BUDGETS: &[(&str, u32)] = &[
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 4096),
    ("high", 16384),
    ("xhigh", 32768),
];

/// Bedrock's smallest thinking budget.
const MIN_BUDGET: u32 = 1024;

/// An effort's budget under the output ceiling `cap` (the client's
/// `param`), which at OpenAI counts reasoning and answer together: at most
/// `cap - 1`, so the ceiling holds as named (the answer may then end at it,
/// `length`). A ceiling with no room for Bedrock's smallest budget is refused.
pub(super) fn fit_under(
    reasoning: Option<ReasoningRequest>,
    cap: Option<u32>,
    param: &'static str,
) -> Result<Option<ReasoningRequest>, OpenAiError> {
    let (Some(r), Some(cap)) = (reasoning, cap) else {
        return Ok(reasoning);
    };
    if cap <= MIN_BUDGET {
        return Err(bad_param(
            param,
            format!(
                "{param} {cap} leaves no room for reasoning (its smallest budget is {MIN_BUDGET} tokens); raise it above {MIN_BUDGET} or turn reasoning off"
            ),
        ));
    }
    Ok(Some(ReasoningRequest {
        budget_tokens: r.budget_tokens.min(cap - 1),
    }))
}

/// The request as the gateway's stream request, and the name of the tool
/// whose input is the answer when `response_format` asks for JSON.
pub(super) fn to_stream_request(
    req: CompletionRequest,
) -> Result<(StreamRequest, Option<String>), OpenAiError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(bad("only n = 1 is supported"));
    }
    if req.functions.is_some() || req.function_call.is_some() {
        return Err(bad(
            "`functions` and `function_call` are not supported; use `tools` and `tool_choice`",
        ));
    }
    if req.logprobs == Some(true) {
        return Err(bad_param(
            "logprobs",
            "logprobs is not supported: Bedrock returns no token log-probabilities",
        ));
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(bad_param(
            "top_logprobs",
            "top_logprobs is not supported: Bedrock returns no token log-probabilities",
        ));
    }
    if req
        .web_search_options
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(bad_param(
            "web_search_options",
            "web_search_options is not supported: Bedrock's models have no built-in web search; declare a search function in `tools`",
        ));
    }
    if req.audio.as_ref().is_some_and(|v| !v.is_null())
        || req.modalities.iter().flatten().any(|m| m != "text")
    {
        return Err(bad_param(
            "modalities",
            "only text output is supported: Bedrock's models answer in text",
        ));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    let cap_param = if req.max_completion_tokens.is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let reasoning = match reasoning(req.reasoning_effort.as_deref(), req.thinking.as_ref())? {
        // An explicit `thinking` budget is Anthropic's: the core fits the ceiling to it.
        r if req.thinking.as_ref().is_some_and(|t| !t.is_null()) => r,
        r => fit_under(r, max_tokens, cap_param)?,
    };
    let mut tools = tools(req.tools.unwrap_or_default())?;
    let mut tool_choice = tool_choice(req.tool_choice.as_ref())?;
    let mut json_tool_name = None;
    let mut output_config = OutputConfig::default();
    let mut api = None;
    match response_format::tool(req.response_format.as_ref())? {
        // With reasoning: Bedrock's own structured output, through Converse.
        Some(format) if reasoning.is_some() => {
            output_config = response_format::native(format);
            api = Some(Api::Converse);
        }
        Some(format) => {
            json_tool_name = Some(format.name.clone());
            tool_choice =
                response_format::declare(format, &mut tools, tool_choice, "response_format")?;
        }
        None => {}
    }
    let (system, mut turns) = messages::to_turns(req.messages)?;
    // A chat UI's opening greeting (the assistant's, before the user spoke).
    crate::request::drop_leading_greeting(&mut turns);
    let stream_request = StreamRequest {
        prompt: None,
        model: req.model,
        system,
        messages: turns,
        max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: match req.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        api,
        tools: tools.into(),
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        reasoning,
        guardrail: req.guardrail,
        output_config,
    };
    Ok((stream_request, json_tool_name))
}

/// `tools` as the gateway's tools; `parameters` is the input schema (an
/// empty object schema when missing). Names and schemas are the core's check.
fn tools(defs: Vec<ToolDef>) -> Result<Vec<Tool>, OpenAiError> {
    defs.into_iter()
        .enumerate()
        .map(|(i, def)| {
            if def.kind != "function" {
                return Err(bad(format!(
                    "tools[{i}]: tools of type '{}' are not supported; only 'function'",
                    def.kind
                )));
            }
            let f = def
                .function
                .ok_or_else(|| bad(format!("tools[{i}]: a function tool needs `function`")))?;
            Ok(Tool {
                name: f.name,
                description: f.description,
                input_schema: f
                    .parameters
                    .filter(|p| !p.is_null())
                    .unwrap_or_else(Tool::empty_schema),
                strict: None,
            })
        })
        .collect()
}

/// `tool_choice`: `"required"` is the gateway's `any`.
fn tool_choice(v: Option<&Value>) -> Result<ToolChoice, OpenAiError> {
    let named = |v: &Value| {
        (v.get("type")?.as_str()? == "function")
            .then(|| v.get("function")?.get("name")?.as_str())
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
                "tool_choice {v} is not \"auto\", \"none\", \"required\" or {{\"type\":\"function\",\"function\":{{\"name\":…}}}}"
            ))
        }),
    }
}

/// The thinking budget: `thinking` when given (it names a number),
/// else `reasoning_effort` through [`EFFORT_BUDGETS`].
pub(super) fn reasoning(
    effort: Option<&str>,
    thinking: Option<&Value>,
) -> Result<Option<ReasoningRequest>, OpenAiError> {
    if let Some(t) = thinking.filter(|t| !t.is_null()) {
        let budget = t.get("budget_tokens").and_then(Value::as_u64);
        return match (t.get("type").and_then(Value::as_str), budget) {
            (Some("disabled"), _) => Ok(None),
            (Some("enabled"), Some(b)) => Ok(Some(ReasoningRequest {
                budget_tokens: u32::try_from(b).unwrap_or(u32::MAX),
            })),
            _ => Err(bad(format!(
                "thinking {t} is not {{\"type\":\"enabled\",\"budget_tokens\":N}} or {{\"type\":\"disabled\"}}"
            ))),
        };
    }
    match effort {
        None | Some("none") => Ok(None),
        Some(e) => EFFORT_BUDGETS
            .iter()
            .find(|(name, _)| *name == e)
            .map(|(_, budget)| {
                Some(ReasoningRequest {
                    budget_tokens: *budget,
                })
            })
            .ok_or_else(|| {
                bad(format!(
                    "reasoning_effort '{e}' is not one of none, minimal, low, medium, high, xhigh"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn parse(v: Value) -> Result<StreamRequest, OpenAiError> {
        to_stream_request(serde_json::from_value(v).unwrap()).map(|(r, _)| r)
    }

    fn user() -> Value {
        json!([{"role": "user", "content": "x"}])
    }

    #[test]
    fn response_format_is_a_forced_tool() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let body = json!({"messages": user(), "response_format": {"type": "json_schema",
            "json_schema": {"name": "place", "schema": schema}}});
        let (s, json_tool) = to_stream_request(serde_json::from_value(body).unwrap()).unwrap();
        assert_eq!(json_tool.as_deref(), Some("place"));
        assert_eq!(s.tools.tools.len(), 1);
        assert_eq!(s.tools.tools[0].input_schema, schema);
        assert_eq!(s.tool_choice, ToolChoice::Tool("place".into()));
        let text = json!({"messages": user(), "response_format": {"type": "text"}});
        let (s, json_tool) = to_stream_request(serde_json::from_value(text).unwrap()).unwrap();
        assert!(json_tool.is_none() && s.tools.tools.is_empty());
        // Beside the client's tools: declared first, and some tool must be called.
        let with_tools = json!({"messages": user(), "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "now"}}]});
        let (s, json_tool) =
            to_stream_request(serde_json::from_value(with_tools.clone()).unwrap()).unwrap();
        let names: Vec<&str> = s.tools.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [json_tool.as_deref().unwrap(), "now"]);
        assert_eq!(s.tool_choice, ToolChoice::Any);
        let mut named = with_tools;
        named["tool_choice"] = json!({"type": "function", "function": {"name": "now"}});
        assert_eq!(
            parse(named).unwrap().tool_choice,
            ToolChoice::Tool("now".into())
        );
        // With reasoning: Bedrock's own structured output through Converse,
        // no forced tool.
        let thinking = json!({"messages": user(), "response_format": {"type": "json_object"},
            "reasoning_effort": "low"});
        let (s, json_tool) = to_stream_request(serde_json::from_value(thinking).unwrap()).unwrap();
        assert!(json_tool.is_none() && s.tools.tools.is_empty());
        assert_eq!(s.api, Some(Api::Converse));
        assert_eq!(
            s.output_config.format.map(|f| f.schema),
            Some(json!({"type": "object"}))
        );
    }

    #[test]
    fn tools_and_tool_choice() {
        let s = parse(json!({
            "messages": user(),
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
                {"type": "function", "function": {"name": "now"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "now"}},
            "parallel_tool_calls": false
        }))
        .unwrap();
        assert_eq!(s.tools.tools.len(), 2);
        assert_eq!(s.tools.tools[0].description.as_deref(), Some("Weather"));
        assert_eq!(s.tools.tools[0].input_schema["required"], json!(["city"]));
        assert_eq!(
            s.tools.tools[1].input_schema,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(s.tool_choice, ToolChoice::Tool("now".into()));
        for (wire, want) in [
            (json!("auto"), ToolChoice::Auto),
            (json!("none"), ToolChoice::None),
            (json!("required"), ToolChoice::Any),
            (Value::Null, ToolChoice::Auto),
        ] {
            assert_eq!(tool_choice(Some(&wire)).unwrap(), want);
        }
        for wire in [
            json!("any"),
            json!({"type": "function"}),
            json!({"type": "allowed_tools"}),
        ] {
            assert!(tool_choice(Some(&wire)).is_err(), "{wire}");
        }
    }

    #[test]
    fn reasoning_budgets() {
        let budget = |v: Value| parse(v).unwrap().reasoning.map(|r| r.budget_tokens);
        let with = |extra: Value| {
            let mut v = json!({"messages": user()});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        assert_eq!(budget(with(json!({}))), None);
        assert_eq!(budget(with(json!({"reasoning_effort": "none"}))), None);
        assert_eq!(
            budget(with(json!({"reasoning_effort": "minimal"}))),
            Some(1024)
        );
        assert_eq!(budget(with(json!({"reasoning_effort": "low"}))), Some(1024));
        assert_eq!(
            budget(with(json!({"reasoning_effort": "medium"}))),
            Some(4096)
        );
        assert_eq!(
            budget(with(json!({"reasoning_effort": "high"}))),
            Some(16384)
        );
        assert_eq!(
            budget(with(
                json!({"reasoning_effort": "low", "thinking": {"type": "enabled", "budget_tokens": 3000}})
            )),
            Some(3000),
            "an explicit budget wins"
        );
        assert_eq!(
            budget(with(
                json!({"reasoning_effort": "high", "thinking": {"type": "disabled"}})
            )),
            None
        );
    }

    #[test]
    fn logprobs_are_refused_on_their_param_unless_turned_off() {
        for (extra, param) in [
            (json!({"logprobs": true}), "logprobs"),
            (json!({"logprobs": true, "top_logprobs": 3}), "logprobs"),
            (json!({"top_logprobs": 2}), "top_logprobs"),
        ] {
            let mut body = json!({"messages": user()});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            match parse(body) {
                Err(e) => assert_eq!(e.param, Some(param), "{extra}"),
                Ok(_) => panic!("{extra} should be refused"),
            }
        }
        for off in [
            json!({"messages": user(), "logprobs": false}),
            json!({"messages": user(), "logprobs": false, "top_logprobs": 0}),
            json!({"messages": user(), "logprobs": null, "top_logprobs": null}),
        ] {
            assert!(parse(off.clone()).is_ok(), "{off}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let bad = [
            json!({"messages": user(), "n": 2}),
            json!({"messages": user(), "tools": [{"type": "function"}]}),
            json!({"messages": user(), "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
            json!({"messages": user(), "functions": [{"name": "f"}]}),
            json!({"messages": user(), "reasoning_effort": "max"}),
            json!({"messages": user(), "thinking": {"type": "enabled"}}),
            json!({"messages": user(), "tool_choice": "sometimes"}),
        ];
        for b in bad {
            assert!(parse(b.clone()).is_err(), "{b} should be refused");
        }
    }
}
