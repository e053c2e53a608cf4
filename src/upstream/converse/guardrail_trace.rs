//! ConverseStream's guardrail trace (`metadata.trace.guardrail`) as JSON in
//! Converse's own field names, for the `trace` of a `guardrail` event.
//!
//! The SDK's types have no serializer; this writes the parts a client acts
//! on: the model output, the action reason, and per guardrail each policy's
//! findings (topics, content filters, words, sensitive information,
//! contextual grounding). Automated-reasoning findings and the guardrail's
//! own invocation metrics are left out.

use std::collections::BTreeMap;

use aws_sdk_bedrockruntime::types::{GuardrailAssessment, GuardrailTraceAssessment};
use serde_json::{Map, Value, json};

/// The trace as `{"modelOutput"?, "inputAssessment"?, "outputAssessments"?, "actionReason"?}`.
pub(super) fn to_json(trace: &GuardrailTraceAssessment) -> Value {
    let mut out = Map::new();
    if let Some(output) = &trace.model_output {
        out.insert("modelOutput".into(), json!(output));
    }
    if let Some(input) = &trace.input_assessment {
        let sorted: BTreeMap<_, _> = input.iter().map(|(k, a)| (k, assessment(a))).collect();
        out.insert("inputAssessment".into(), json!(sorted));
    }
    if let Some(outputs) = &trace.output_assessments {
        let sorted: BTreeMap<_, Vec<Value>> = outputs
            .iter()
            .map(|(k, list)| (k, list.iter().map(assessment).collect()))
            .collect();
        out.insert("outputAssessments".into(), json!(sorted));
    }
    if let Some(reason) = &trace.action_reason {
        out.insert("actionReason".into(), json!(reason));
    }
    Value::Object(out)
}

fn assessment(a: &GuardrailAssessment) -> Value {
    let mut out = Map::new();
    if let Some(p) = &a.topic_policy {
        let topics: Vec<Value> = p
            .topics
            .iter()
            .map(|t| {
                finding(
                    json!({"name": t.name, "type": t.r#type.as_str(), "action": t.action.as_str()}),
                    t.detected,
                )
            })
            .collect();
        out.insert("topicPolicy".into(), json!({"topics": topics}));
    }
    if let Some(p) = &a.content_policy {
        let filters: Vec<Value> = p
            .filters
            .iter()
            .map(|f| {
                let mut v = json!({
                    "type": f.r#type.as_str(),
                    "confidence": f.confidence.as_str(),
                    "action": f.action.as_str(),
                });
                if let Some(strength) = &f.filter_strength {
                    v["filterStrength"] = json!(strength.as_str());
                }
                finding(v, f.detected)
            })
            .collect();
        out.insert("contentPolicy".into(), json!({"filters": filters}));
    }
    if let Some(p) = &a.word_policy {
        let custom: Vec<Value> = p
            .custom_words
            .iter()
            .map(|w| {
                finding(
                    json!({"match": w.r#match, "action": w.action.as_str()}),
                    w.detected,
                )
            })
            .collect();
        let managed: Vec<Value> = p
            .managed_word_lists
            .iter()
            .map(|w| {
                finding(
                    json!({"match": w.r#match, "type": w.r#type.as_str(), "action": w.action.as_str()}),
                    w.detected,
                )
            })
            .collect();
        out.insert(
            "wordPolicy".into(),
            json!({"customWords": custom, "managedWordLists": managed}),
        );
    }
    if let Some(p) = &a.sensitive_information_policy {
        let pii: Vec<Value> = p
            .pii_entities
            .iter()
            .map(|e| {
                finding(
                    json!({"match": e.r#match, "type": e.r#type.as_str(), "action": e.action.as_str()}),
                    e.detected,
                )
            })
            .collect();
        let regexes: Vec<Value> = p
            .regexes
            .iter()
            .map(|r| {
                finding(
                    json!({"name": r.name, "match": r.r#match, "regex": r.regex, "action": r.action.as_str()}),
                    r.detected,
                )
            })
            .collect();
        out.insert(
            "sensitiveInformationPolicy".into(),
            json!({"piiEntities": pii, "regexes": regexes}),
        );
    }
    if let Some(p) = &a.contextual_grounding_policy {
        let filters: Vec<Value> = p
            .filters
            .iter()
            .flatten()
            .map(|f| {
                finding(
                    json!({"type": f.r#type.as_str(), "threshold": f.threshold, "score": f.score, "action": f.action.as_str()}),
                    f.detected,
                )
            })
            .collect();
        out.insert(
            "contextualGroundingPolicy".into(),
            json!({"filters": filters}),
        );
    }
    Value::Object(out)
}

/// A finding with its `detected` flag when Bedrock gave one.
fn finding(mut v: Value, detected: Option<bool>) -> Value {
    if let (Some(d), Some(map)) = (detected, v.as_object_mut()) {
        map.insert("detected".into(), json!(d));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::{
        GuardrailContentFilter, GuardrailContentFilterConfidence, GuardrailContentFilterType,
        GuardrailContentPolicyAction, GuardrailContentPolicyAssessment,
    };

    #[test]
    fn content_filters_and_reason() {
        let filter = GuardrailContentFilter::builder()
            .r#type(GuardrailContentFilterType::Violence)
            .confidence(GuardrailContentFilterConfidence::High)
            .action(GuardrailContentPolicyAction::Blocked)
            .detected(true)
            .build()
            .unwrap();
        let a = GuardrailAssessment::builder()
            .content_policy(
                GuardrailContentPolicyAssessment::builder()
                    .filters(filter)
                    .build()
                    .unwrap(),
            )
            .build();
        let trace = GuardrailTraceAssessment::builder()
            .model_output("Hello")
            .output_assessments("g1", vec![a])
            .action_reason("Guardrail blocked.")
            .build();
        assert_eq!(
            to_json(&trace),
            json!({
                "modelOutput": ["Hello"],
                "outputAssessments": {"g1": [{"contentPolicy": {"filters": [
                    {"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED", "detected": true}
                ]}}]},
                "actionReason": "Guardrail blocked."
            })
        );
    }
}
