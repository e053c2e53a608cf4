//! A guardrail's verdict in an InvokeModel chunk, whatever the family:
//! `"amazon-bedrock-guardrailAction": "INTERVENED" | "NONE"` and, with a
//! trace asked for, `"amazon-bedrock-trace": {"guardrail": {…}}`.
//!
//! An intervention is also the stream's stop reason (`guardrail_intervened`),
//! said after the family's own, so it wins whatever the family calls its stop.

use serde_json::Value;

use crate::upstream::request::Delta;

const ACTION: &str = "amazon-bedrock-guardrailAction";
const TRACE: &str = "amazon-bedrock-trace";

/// The deltas a chunk's guardrail keys make: none when it has neither, or
/// when it says `NONE` without a trace.
pub(super) fn decode(chunk: &Value) -> Vec<Delta> {
    let action = chunk
        .get(ACTION)
        .and_then(Value::as_str)
        .filter(|a| !a.trim().is_empty())
        .map(str::to_ascii_uppercase);
    let trace = chunk
        .get(TRACE)
        .and_then(|t| t.get("guardrail"))
        .filter(|g| !g.is_null())
        .cloned();
    let intervened = action.as_deref() == Some("INTERVENED");
    if !intervened && trace.is_none() {
        return Vec::new();
    }
    let mut out = vec![Delta::Guardrail {
        action: action.unwrap_or_else(|| "NONE".into()),
        trace,
    }];
    if intervened {
        out.push(Delta::Stop("guardrail_intervened".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intervention_with_and_without_trace() {
        let trace = json!({"outputs": [{"g1": {"contentPolicy": {"filters": []}}}]});
        assert_eq!(
            decode(
                &json!({"type": "message_stop", ACTION: "INTERVENED", TRACE: {"guardrail": trace}})
            ),
            vec![
                Delta::Guardrail {
                    action: "INTERVENED".into(),
                    trace: Some(trace)
                },
                Delta::Stop("guardrail_intervened".into())
            ]
        );
        assert_eq!(
            decode(&json!({ACTION: "intervened"})),
            vec![
                Delta::Guardrail {
                    action: "INTERVENED".into(),
                    trace: None
                },
                Delta::Stop("guardrail_intervened".into())
            ]
        );
    }

    #[test]
    fn a_pass_is_reported_only_with_a_trace() {
        assert!(decode(&json!({ACTION: "NONE"})).is_empty());
        assert!(decode(&json!({"type": "message_stop"})).is_empty());
        assert_eq!(
            decode(&json!({ACTION: "NONE", TRACE: {"guardrail": {"input": {}}}})),
            vec![Delta::Guardrail {
                action: "NONE".into(),
                trace: Some(json!({"input": {}}))
            }]
        );
    }
}
