//! Bedrock's latency-optimized inference as the AWS SDKs ask for it:
//! Converse's `performanceConfig: {"latency": "standard"|"optimized"}`, or
//! InvokeModel's `X-Amzn-Bedrock-PerformanceConfig-Latency` header (boto3's
//! `performanceConfigLatency=`). Sent on to Bedrock, which refuses
//! `optimized` for a model that lacks it.

use axum::http::HeaderMap;
use serde_json::Value;

const HEADER: &str = "x-amzn-bedrock-performanceconfig-latency";

/// Whether Converse's `performanceConfig` asks for `optimized`.
pub fn from_converse(config: Option<&Value>) -> Result<bool, String> {
    let Some(config) = config.filter(|c| !c.is_null()) else {
        return Ok(false);
    };
    match config.get("latency") {
        None => Ok(false),
        Some(Value::String(l)) => parse(l, "performanceConfig.latency"),
        Some(_) => Err("performanceConfig.latency must be \"standard\" or \"optimized\"".into()),
    }
}

/// Whether InvokeModel's latency header asks for `optimized`.
pub fn from_invoke(headers: &HeaderMap) -> Result<bool, String> {
    match headers.get(HEADER) {
        None => Ok(false),
        Some(v) => parse(
            v.to_str().unwrap_or_default(),
            "X-Amzn-Bedrock-PerformanceConfig-Latency",
        ),
    }
}

fn parse(latency: &str, field: &str) -> Result<bool, String> {
    match latency {
        "standard" => Ok(false),
        "optimized" => Ok(true),
        other => Err(format!(
            "{field} '{other}' is not \"standard\" or \"optimized\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn converse_and_invoke_spellings() {
        assert_eq!(from_converse(None), Ok(false));
        assert_eq!(
            from_converse(Some(&json!({"latency": "standard"}))),
            Ok(false)
        );
        assert_eq!(
            from_converse(Some(&json!({"latency": "optimized"}))),
            Ok(true)
        );
        assert!(
            from_converse(Some(&json!({"latency": "fast"})))
                .unwrap_err()
                .contains("'fast'")
        );
        assert!(from_converse(Some(&json!({"latency": 1}))).is_err());
        let mut h = HeaderMap::new();
        assert_eq!(from_invoke(&h), Ok(false));
        h.insert(HEADER, HeaderValue::from_static("optimized"));
        assert_eq!(from_invoke(&h), Ok(true));
        h.insert(HEADER, HeaderValue::from_static("OPTIMIZED"));
        assert!(from_invoke(&h).is_err());
    }
}
