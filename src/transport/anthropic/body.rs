//! The InvokeModel body for Claude from the client's own Messages body: the
//! same fields (`system`, `tools`, `tool_choice`, `thinking`,
//! `cache_control`, sampling, `stop_sequences`) minus what only Anthropic's
//! own API takes, plus `anthropic_version` and the `anthropic-beta` header
//! as `anthropic_beta`.

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::error::{AnthropicError, bad};
use super::models::ONE_M_BETA;

/// The version Bedrock's Claude bodies name.
const BEDROCK_VERSION: &str = "bedrock-2023-05-31";

/// Fields of Anthropic's API that Bedrock's Claude body refuses: the
/// transport's (`model` is in the path, `stream` in the API called) and
/// Anthropic's own platform's (tiers, regions, workspaces, billing; a
/// `container`, `mcp_servers` or `fallbacks` that asks for nothing), dropped.
/// Those that ask for something the gateway cannot give are refused first
/// ([`refuse_platform_features`]).
const NOT_FOR_BEDROCK: &[&str] = &[
    "model",
    "stream",
    "metadata",
    "service_tier",
    "speed",
    "inference_geo",
    "diagnostics",
    "user_profile_id",
    "workspace_id",
    "billing_policy",
    "container",
    "mcp_servers",
    "fallbacks",
];

/// Refuse what Anthropic's platform does for a request and Bedrock cannot,
/// rather than drop it and answer as if it had been done:
/// - `thread` (message threads: the server keeps the history), in the shape
///   the SDKs recover from by sending the whole history without one (their
///   tool runners thread by default);
/// - `mcp_servers` (the MCP connector) and `container` (code-execution
///   containers), which Bedrock has no counterpart for;
/// - `fallbacks` other than Anthropic's `"default"` (the gateway's own are
///   `SPILLWAY_FALLBACK_MODELS`).
pub(super) fn refuse_platform_features(body: &Map<String, Value>) -> Result<(), AnthropicError> {
    let asked = |key: &str| {
        body.get(key).filter(|v| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        })
    };
    if asked("thread").is_some() {
        return Err(AnthropicError::ThreadUnsupported);
    }
    if asked("mcp_servers").is_some() {
        return Err(bad(
            "mcp_servers: Bedrock has no MCP connector; call the MCP server's tools yourself and send them as custom tools",
        ));
    }
    if asked("container").is_some() {
        return Err(bad("container: Bedrock runs no code-execution containers"));
    }
    match asked("fallbacks") {
        None => Ok(()),
        Some(Value::String(s)) if s == "default" => Ok(()),
        Some(_) => Err(bad(
            "fallbacks: this gateway's fallback models are its operator's (SPILLWAY_FALLBACK_MODELS); send \"default\" or leave it out",
        )),
    }
}

/// Beta flags Bedrock takes for Claude. Others (Anthropic's own features,
/// such as `claude-code-20250219`, `oauth-2025-04-20`, `files-api-2025-04-14`)
/// are dropped: Bedrock refuses a flag it does not know.
const BEDROCK_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "fine-grained-tool-streaming-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
    "effort-2025-11-24",
];

/// The body to send for `body` (the client's, a JSON object), with the
/// betas of `headers` (and the 1M-context flag when `one_m`).
pub(super) fn bedrock_body(
    mut body: Map<String, Value>,
    headers: &HeaderMap,
    one_m: bool,
) -> Value {
    for key in NOT_FOR_BEDROCK {
        body.remove(*key);
    }
    if let Some(cache) = body.remove("cache_control").filter(|c| !c.is_null()) {
        mark_last_block(&mut body, cache);
    }
    body.insert("anthropic_version".into(), json!(BEDROCK_VERSION));
    let betas = betas(body.remove("anthropic_beta").as_ref(), headers, one_m);
    if !betas.is_empty() {
        body.insert("anthropic_beta".into(), json!(betas));
    }
    Value::Object(body)
}

/// Top-level `cache_control` (automatic caching: everything up to the last
/// block), which Bedrock's body has no field for, as the same cache point on
/// the last block of the last message.
fn mark_last_block(body: &mut Map<String, Value>, cache: Value) {
    let Some(content) = body
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .and_then(|m| m.last_mut())
        .and_then(|m| m.get_mut("content"))
    else {
        return;
    };
    if let Value::String(text) = content {
        *content = json!([{"type": "text", "text": text}]);
    }
    if let Some(Value::Object(block)) = content.as_array_mut().and_then(|b| b.last_mut()) {
        block.entry("cache_control").or_insert(cache);
    }
}

/// The beta flags asked for (a body's `anthropic_beta`, the `anthropic-beta`
/// headers, comma lists), those Bedrock takes, each once, in order.
fn betas(in_body: Option<&Value>, headers: &HeaderMap, one_m: bool) -> Vec<String> {
    let from_body = in_body
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let from_headers = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    let one_m = one_m.then_some(ONE_M_BETA);
    let mut out: Vec<String> = Vec::new();
    for flag in from_body.chain(from_headers).chain(one_m).map(str::trim) {
        if BEDROCK_BETAS.contains(&flag) && !out.iter().any(|f| f == flag) {
            out.push(flag.to_owned());
        } else if !flag.is_empty() && !BEDROCK_BETAS.contains(&flag) {
            tracing::debug!(flag, "beta flag not sent to Bedrock");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_clients_body_with_bedrocks_version_and_betas() {
        let body = json!({
            "model": "claude-sonnet-4-5",
            "stream": true,
            "metadata": {"user_id": "u"},
            "max_tokens": 100,
            "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "top_k": 5
        });
        let mut headers = HeaderMap::new();
        headers.append(
            "anthropic-beta",
            HeaderValue::from_static("claude-code-20250219, interleaved-thinking-2025-05-14"),
        );
        headers.append(
            "anthropic-beta",
            HeaderValue::from_static("context-1m-2025-08-07"),
        );
        let out = bedrock_body(body.as_object().unwrap().clone(), &headers, true);
        assert_eq!(
            out,
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "anthropic_beta": ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"],
                "max_tokens": 100,
                "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": "hi"}],
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "top_k": 5
            })
        );
    }

    #[test]
    fn top_level_cache_control_marks_the_last_block() {
        let ephemeral = json!({"type": "ephemeral"});
        let body = json!({
            "cache_control": ephemeral,
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
        });
        let out = bedrock_body(body.as_object().unwrap().clone(), &HeaderMap::new(), false);
        assert!(out.get("cache_control").is_none());
        assert_eq!(out["messages"][0]["content"], "a");
        assert_eq!(
            out["messages"][2]["content"],
            json!([{"type": "text", "text": "c", "cache_control": ephemeral}])
        );
        let body = json!({"cache_control": ephemeral, "messages": []});
        let out = bedrock_body(body.as_object().unwrap().clone(), &HeaderMap::new(), false);
        assert_eq!(out["messages"], json!([]));
    }

    #[test]
    fn no_betas_no_field() {
        let out = bedrock_body(Map::new(), &HeaderMap::new(), false);
        assert_eq!(out, json!({"anthropic_version": "bedrock-2023-05-31"}));
        let out = bedrock_body(Map::new(), &HeaderMap::new(), true);
        assert_eq!(out["anthropic_beta"], json!([ONE_M_BETA]));
    }
}
