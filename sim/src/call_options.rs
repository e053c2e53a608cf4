//! Per-call options, checked as Bedrock checks them; accepted ones change
//! nothing else here. The refusals' wording is the simulator's.
//!
//! - Latency-optimized inference: Converse's `performanceConfig.latency`,
//!   InvokeModel's `X-Amzn-Bedrock-PerformanceConfig-Latency`, each
//!   `standard` or `optimized`. Bedrock offers `optimized` for a few models
//!   only (Claude 3.5 Haiku, Llama 3.1 70B and 405B, Nova Pro, per its user
//!   guide) and refuses it for the others with a `ValidationException`.
//! - The service tier: Converse's `serviceTier.type`, InvokeModel's
//!   `X-Amzn-Bedrock-Service-Tier`: `default`, `flex`, `priority`, or
//!   `reserved`, which needs reserved capacity the simulated account has
//!   none of (a `ValidationException`).
//! - `requestMetadata` (Converse's body; InvokeModel's
//!   `X-Amzn-Bedrock-Request-Metadata`, the same map as JSON): at most 16
//!   pairs of strings.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::body::Obj;
use crate::wire::SimError;

const HEADER: &str = "x-amzn-bedrock-performanceconfig-latency";
const TIER_HEADER: &str = "x-amzn-bedrock-service-tier";
const METADATA_HEADER: &str = "x-amzn-bedrock-request-metadata";
const MAX_METADATA: usize = 16;

/// The models Bedrock serves with latency-optimized inference.
const OPTIMIZED: &[&str] = &[
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-1-405b-instruct-v1:0",
    "amazon.nova-pro-v1:0",
];

/// A Converse body's options, refused as Bedrock refuses them.
pub(crate) fn from_converse(body: &Obj, model: &str) -> Result<(), SimError> {
    let latency = body
        .get("performanceConfig")
        .and_then(|c| c.get("latency"))
        .map(|l| l.as_str().unwrap_or_default());
    check(latency, "performanceConfig.latency", model)?;
    let tier = body
        .get("serviceTier")
        .and_then(|t| t.get("type"))
        .map(|t| t.as_str().unwrap_or_default());
    check_tier(tier, "serviceTier.type", model)?;
    metadata(body.get("requestMetadata").and_then(Value::as_object))
}

/// At most [`MAX_METADATA`] pairs.
fn metadata(pairs: Option<&serde_json::Map<String, Value>>) -> Result<(), SimError> {
    if pairs.map_or(0, serde_json::Map::len) > MAX_METADATA {
        return Err(SimError::validation(format!(
            "1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: Member must have length less than or equal to {MAX_METADATA}"
        )));
    }
    Ok(())
}

/// An InvokeModel call's option headers, refused as Bedrock refuses them.
pub(crate) fn from_invoke(headers: &HeaderMap, model: &str) -> Result<(), SimError> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    check(header(HEADER), "performanceConfigLatency", model)?;
    check_tier(header(TIER_HEADER), "serviceTier", model)?;
    match header(METADATA_HEADER) {
        None => Ok(()),
        Some(json) => match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(pairs)) if pairs.values().all(Value::is_string) => {
                metadata(Some(&pairs))
            }
            _ => Err(SimError::validation(
                "The request metadata header must be a JSON object of strings.",
            )),
        },
    }
}

fn check_tier(tier: Option<&str>, field: &str, model: &str) -> Result<(), SimError> {
    match tier {
        None | Some("default" | "flex" | "priority") => Ok(()),
        Some("reserved") => Err(SimError::validation(format!(
            "The reserved service tier needs reserved capacity for the model {model}, and this account has none."
        ))),
        Some(other) => Err(SimError::validation(format!(
            "1 validation error detected: Value '{other}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [default, flex, priority, reserved]"
        ))),
    }
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
    use serde_json::json;

    fn body(v: Value) -> Obj {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn optimized_only_where_bedrock_offers_it() {
        let haiku = "anthropic.claude-3-5-haiku-20241022-v1:0";
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        let asked = body(json!({"performanceConfig": {"latency": "optimized"}}));
        assert!(from_converse(&asked, haiku).is_ok());
        let refused = from_converse(&asked, sonnet).unwrap_err();
        assert!(format!("{refused:?}").contains("not supported for the model"));
        assert!(from_converse(&body(json!({})), sonnet).is_ok());
        let standard = body(json!({"performanceConfig": {"latency": "standard"}}));
        assert!(from_converse(&standard, sonnet).is_ok());
        let odd = body(json!({"performanceConfig": {"latency": "fast"}}));
        assert!(format!("{:?}", from_converse(&odd, haiku).unwrap_err()).contains("'fast'"));

        let mut h = HeaderMap::new();
        assert!(from_invoke(&h, sonnet).is_ok());
        h.insert(HEADER, HeaderValue::from_static("optimized"));
        assert!(from_invoke(&h, haiku).is_ok());
        assert!(from_invoke(&h, sonnet).is_err());
    }

    #[test]
    fn tiers_and_metadata() {
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        let tier = |t: &str| body(json!({"serviceTier": {"type": t}}));
        assert!(from_converse(&tier("priority"), sonnet).is_ok());
        assert!(
            format!(
                "{:?}",
                from_converse(&tier("reserved"), sonnet).unwrap_err()
            )
            .contains("reserved capacity")
        );
        assert!(
            format!("{:?}", from_converse(&tier("gold"), sonnet).unwrap_err()).contains("'gold'")
        );
        let mut h = HeaderMap::new();
        h.insert(TIER_HEADER, HeaderValue::from_static("reserved"));
        assert!(from_invoke(&h, sonnet).is_err());
        let many: serde_json::Map<String, Value> =
            (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
        let too_many = body(json!({"requestMetadata": many.clone()}));
        assert!(
            format!("{:?}", from_converse(&too_many, sonnet).unwrap_err())
                .contains("less than or equal to 16")
        );
        let header = |v: String| {
            let mut h = HeaderMap::new();
            h.insert(METADATA_HEADER, HeaderValue::from_str(&v).unwrap());
            from_invoke(&h, sonnet).map_err(|e| format!("{e:?}"))
        };
        assert!(header(json!({"team": "search"}).to_string()).is_ok());
        assert!(
            header(json!(many).to_string())
                .unwrap_err()
                .contains("less than or equal to 16")
        );
        assert!(
            header("team=search".into())
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            header(json!({"n": 1}).to_string())
                .unwrap_err()
                .contains("JSON object")
        );
    }
}
