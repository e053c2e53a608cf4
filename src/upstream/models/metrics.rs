//! `amazon-bedrock-invocationMetrics`, which any family's final chunk may carry.

use serde_json::Value;

use super::{count, push_cached_usage};
use crate::upstream::request::Delta;

/// Usage and latency from the metrics object Bedrock adds to a model's final
/// chunk: `{"inputTokenCount","outputTokenCount","invocationLatency","firstByteLatency"}`,
/// and with prompt caching `"cacheReadInputTokenCount","cacheWriteInputTokenCount"`.
pub(super) fn decode(metrics: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    if !metrics.is_object() {
        return out;
    }
    push_cached_usage(
        &mut out,
        [
            count(metrics.get("inputTokenCount")),
            count(metrics.get("outputTokenCount")),
            count(metrics.get("cacheReadInputTokenCount")),
            count(metrics.get("cacheWriteInputTokenCount")),
        ],
    );
    let invocation_ms = count(metrics.get("invocationLatency"));
    let first_byte_ms = count(metrics.get("firstByteLatency"));
    if invocation_ms.is_some() || first_byte_ms.is_some() {
        out.push(Delta::Latency {
            invocation_ms,
            first_byte_ms,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::tests::{latency, usage};
    use serde_json::json;

    #[test]
    fn full_metrics() {
        let m = json!({
            "inputTokenCount": 15,
            "outputTokenCount": 42,
            "invocationLatency": 1563,
            "firstByteLatency": 412
        });
        assert_eq!(
            decode(&m),
            vec![usage(Some(15), Some(42)), latency(1563, 412)]
        );
    }

    #[test]
    fn cache_fields_and_partial_metrics_are_kept() {
        let m = json!({
            "inputTokenCount": 3,
            "cacheReadInputTokenCount": 1024,
            "cacheWriteInputTokenCount": 0,
            "firstByteLatency": 77
        });
        assert_eq!(
            decode(&m),
            vec![
                Delta::Usage {
                    input_tokens: Some(3),
                    output_tokens: None,
                    cache_read_input_tokens: Some(1024),
                    cache_write_input_tokens: Some(0),
                },
                Delta::Latency {
                    invocation_ms: None,
                    first_byte_ms: Some(77)
                }
            ]
        );
    }

    #[test]
    fn odd_metrics_give_nothing() {
        assert!(decode(&json!(null)).is_empty());
        assert!(decode(&json!({})).is_empty());
        assert!(decode(&json!({"inputTokenCount": "12", "invocationLatency": -4})).is_empty());
    }
}
