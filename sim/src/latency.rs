//! Latency-optimized inference: Converse's `performanceConfig.latency` and
//! InvokeModel's `X-Amzn-Bedrock-PerformanceConfig-Latency` header, each
//! `standard` or `optimized`. Bedrock offers `optimized` for a few models
//! only (Claude 3.5 Haiku, Llama 3.1 70B and 405B, Nova Pro, per its
//! user guide) and refuses it for the others with a `ValidationException`;
//! the simulator does the same (the refusal's wording is ours). An accepted
//! `optimized` changes nothing else here.

use axum::http::HeaderMap;

use crate::body::Obj;
use crate::wire::SimError;

const HEADER: &str = "x-amzn-bedrock-performanceconfig-latency";

/// The models Bedrock serves with latency-optimized inference.
const OPTIMIZED: &[&str] = &[
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-1-405b-instruct-v1:0",
    "amazon.nova-pro-v1:0",
];

/// Whether a Converse body asks for `optimized`, refused for a model without it.
pub(crate) fn from_converse(body: &Obj, model: &str) -> Result<bool, SimError> {
    let latency = body
        .get("performanceConfig")
        .and_then(|c| c.get("latency"))
        .map(|l| l.as_str().unwrap_or_default());
    check(latency, "performanceConfig.latency", model)
}

/// Whether InvokeModel's header asks for `optimized`, refused for a model without it.
pub(crate) fn from_invoke(headers: &HeaderMap, model: &str) -> Result<bool, SimError> {
    let latency = headers.get(HEADER).map(|v| v.to_str().unwrap_or_default());
    check(latency, "performanceConfigLatency", model)
}

fn check(latency: Option<&str>, field: &str, model: &str) -> Result<bool, SimError> {
    match latency {
        None | Some("standard") => Ok(false),
        Some("optimized") if OPTIMIZED.contains(&model) => Ok(true),
        Some("optimized") => Err(SimError::validation(format!(
            "Latency-optimized inference is not supported for the model {model}. Try again with performance configuration latency set to standard."
        ))),
        Some(other) => Err(SimError::validation(format!(
            "1 validation error detected: Value '{other}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [standard, optimized]"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::{Value, json};

    fn body(v: Value) -> Obj {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn optimized_only_where_bedrock_offers_it() {
        let haiku = "anthropic.claude-3-5-haiku-20241022-v1:0";
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        let asked = body(json!({"performanceConfig": {"latency": "optimized"}}));
        assert_eq!(from_converse(&asked, haiku).ok(), Some(true));
        let refused = from_converse(&asked, sonnet).unwrap_err();
        assert!(format!("{refused:?}").contains("not supported for the model"));
        assert_eq!(from_converse(&body(json!({})), sonnet).ok(), Some(false));
        let standard = body(json!({"performanceConfig": {"latency": "standard"}}));
        assert_eq!(from_converse(&standard, sonnet).ok(), Some(false));
        let odd = body(json!({"performanceConfig": {"latency": "fast"}}));
        assert!(format!("{:?}", from_converse(&odd, haiku).unwrap_err()).contains("'fast'"));

        let mut h = HeaderMap::new();
        assert_eq!(from_invoke(&h, sonnet).ok(), Some(false));
        h.insert(HEADER, HeaderValue::from_static("optimized"));
        assert_eq!(from_invoke(&h, haiku).ok(), Some(true));
        assert!(from_invoke(&h, sonnet).is_err());
    }
}
