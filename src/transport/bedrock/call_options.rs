//! Bedrock's per-call options as the AWS SDKs send them, read into
//! [`CallOptions`] and sent on (Bedrock refuses what a model does not offer):
//!
//! - latency-optimized inference: Converse's `performanceConfig: {"latency":
//!   "standard"|"optimized"}`, InvokeModel's
//!   `X-Amzn-Bedrock-PerformanceConfig-Latency` (boto3's `performanceConfigLatency=`);
//! - the service tier: Converse's `serviceTier: {"type": …}`, InvokeModel's
//!   `X-Amzn-Bedrock-Service-Tier` (boto3's `serviceTier=`): `default`,
//!   `flex`, `priority` or `reserved`;
//! - `requestMetadata`: key-value pairs for the invocation logs (Converse's
//!   body; InvokeModel's `X-Amzn-Bedrock-Request-Metadata`, the map as JSON,
//!   boto3's `requestMetadata=`).

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::upstream::request::CallOptions;

const LATENCY_HEADER: &str = "x-amzn-bedrock-performanceconfig-latency";
const TIER_HEADER: &str = "x-amzn-bedrock-service-tier";
const METADATA_HEADER: &str = "x-amzn-bedrock-request-metadata";
const TIERS: &[&str] = &["default", "flex", "priority", "reserved"];

/// A Converse body's options.
pub fn from_converse(body: &Value) -> Result<CallOptions, String> {
    let latency = match body.get("performanceConfig").filter(|c| !c.is_null()) {
        None => None,
        Some(config) => match config.get("latency") {
            None => None,
            Some(Value::String(l)) => Some(l.as_str()),
            Some(_) => {
                return Err(
                    "performanceConfig.latency must be \"standard\" or \"optimized\"".into(),
                );
            }
        },
    };
    let tier = match body.get("serviceTier").filter(|t| !t.is_null()) {
        None => None,
        Some(t) => Some(t.get("type").and_then(Value::as_str).ok_or(
            "serviceTier must be {\"type\": \"default\"|\"flex\"|\"priority\"|\"reserved\"}",
        )?),
    };
    Ok(CallOptions {
        latency_optimized: latency_optimized(latency, "performanceConfig.latency")?,
        service_tier: service_tier(tier, "serviceTier.type")?,
        request_metadata: request_metadata(body.get("requestMetadata"))?,
    })
}

/// An InvokeModel call's options, from its headers.
pub fn from_invoke(headers: &HeaderMap) -> Result<CallOptions, String> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    Ok(CallOptions {
        latency_optimized: latency_optimized(
            header(LATENCY_HEADER),
            "X-Amzn-Bedrock-PerformanceConfig-Latency",
        )?,
        service_tier: service_tier(header(TIER_HEADER), "X-Amzn-Bedrock-Service-Tier")?,
        request_metadata: match header(METADATA_HEADER) {
            None => None,
            Some(json) => request_metadata(Some(&serde_json::from_str(json).map_err(|_| {
                "X-Amzn-Bedrock-Request-Metadata must be a JSON object of strings".to_owned()
            })?))?,
        },
    })
}

fn latency_optimized(latency: Option<&str>, field: &str) -> Result<bool, String> {
    match latency {
        None | Some("standard") => Ok(false),
        Some("optimized") => Ok(true),
        Some(other) => Err(format!(
            "{field} '{other}' is not \"standard\" or \"optimized\""
        )),
    }
}

fn service_tier(tier: Option<&str>, field: &str) -> Result<Option<String>, String> {
    match tier {
        None => Ok(None),
        Some(t) if TIERS.contains(&t) => Ok(Some(t.to_owned())),
        Some(t) => Err(format!("{field} '{t}' is not one of {}", TIERS.join(", "))),
    }
}

/// `requestMetadata`: an object of strings.
fn request_metadata(v: Option<&Value>) -> Result<Option<HashMap<String, String>>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let map = v
        .as_object()
        .ok_or("requestMetadata must be an object of strings")?;
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("requestMetadata.{k} must be a string")),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn converse_options() {
        assert_eq!(from_converse(&json!({})), Ok(CallOptions::default()));
        let o = from_converse(&json!({
            "performanceConfig": {"latency": "optimized"},
            "serviceTier": {"type": "priority"},
            "requestMetadata": {"team": "search"},
        }))
        .unwrap();
        assert!(o.latency_optimized);
        assert_eq!(o.service_tier.as_deref(), Some("priority"));
        assert_eq!(o.request_metadata.unwrap()["team"], "search");
        for (bad, says) in [
            (json!({"performanceConfig": {"latency": "fast"}}), "'fast'"),
            (
                json!({"performanceConfig": {"latency": 1}}),
                "performanceConfig.latency",
            ),
            (json!({"serviceTier": {"type": "gold"}}), "'gold'"),
            (json!({"serviceTier": "priority"}), "serviceTier must be"),
            (json!({"requestMetadata": {"n": 1}}), "requestMetadata.n"),
            (json!({"requestMetadata": []}), "object of strings"),
        ] {
            let err = from_converse(&bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn invoke_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(from_invoke(&h), Ok(CallOptions::default()));
        h.insert(LATENCY_HEADER, HeaderValue::from_static("optimized"));
        h.insert(TIER_HEADER, HeaderValue::from_static("flex"));
        let o = from_invoke(&h).unwrap();
        assert!(o.latency_optimized);
        assert_eq!(o.service_tier.as_deref(), Some("flex"));
        h.insert(LATENCY_HEADER, HeaderValue::from_static("OPTIMIZED"));
        assert!(from_invoke(&h).is_err());
        h.insert(LATENCY_HEADER, HeaderValue::from_static("standard"));
        h.insert(TIER_HEADER, HeaderValue::from_static("gold"));
        assert!(from_invoke(&h).unwrap_err().contains("'gold'"));
    }
}
