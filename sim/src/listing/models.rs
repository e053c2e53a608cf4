//! `ListFoundationModels`: `{"modelSummaries":[…]}`, filtered as Bedrock filters.

use serde_json::{Value, json};

use super::Query;
use crate::catalog::{Access, MODELS, ModelInfo};

/// The summaries of the table's models that pass the query's filters
/// (`byProvider`, `byOutputModality`, `byInferenceType`,
/// `byCustomizationType`; none can be customised).
pub(crate) fn foundation_models(region: &str, query: &Query) -> Value {
    let provider = query.get("byProvider");
    let output = query.get("byOutputModality");
    let inference = query.get("byInferenceType");
    let customizable = query.get("byCustomizationType").is_some();
    let summaries: Vec<Value> = MODELS
        .iter()
        .filter(|m| {
            provider.is_none_or(|p| p.eq_ignore_ascii_case(m.provider) || provider_key(m) == p)
        })
        .filter(|_| output.is_none_or(|o| o == "TEXT"))
        .filter(|m| inference.is_none_or(|i| inference_types(m).contains(&i)))
        .filter(|_| !customizable)
        .map(|m| summary(region, m))
        .collect();
    json!({ "modelSummaries": summaries })
}

/// The provider as the model id spells it (`anthropic`, `meta`, …).
fn provider_key(model: &ModelInfo) -> &str {
    model.id.split('.').next().unwrap_or_default()
}

fn inference_types(model: &ModelInfo) -> &'static [&'static str] {
    match model.access {
        Access::OnDemand => &["ON_DEMAND"],
        Access::Profile | Access::Global => &["INFERENCE_PROFILE"],
        Access::Both => &["ON_DEMAND", "INFERENCE_PROFILE"],
    }
}

/// The foundation-model ARN of `id` in `region` (no account).
pub(super) fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

fn summary(region: &str, model: &ModelInfo) -> Value {
    json!({
        "modelArn": model_arn(region, model.id),
        "modelId": model.id,
        "modelName": model.name,
        "providerName": model.provider,
        "inputModalities": model.input,
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": [],
        "inferenceTypesSupported": inference_types(model),
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(value: &Value) -> Vec<&str> {
        value["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["modelId"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn lists_every_model_with_its_arn() {
        let all = foundation_models("eu-west-1", &Query::default());
        assert_eq!(ids(&all).len(), MODELS.len());
        let first = &all["modelSummaries"][0];
        assert_eq!(
            first["modelArn"],
            format!(
                "arn:aws:bedrock:eu-west-1::foundation-model/{}",
                MODELS[0].id
            )
        );
        assert_eq!(first["providerName"], MODELS[0].provider);
        assert_eq!(first["outputModalities"], json!(["TEXT"]));
    }

    #[test]
    fn filters() {
        let q = |s: &str| Query::parse(Some(s));
        let anthropic = foundation_models("us-east-1", &q("byProvider=anthropic"));
        assert!(
            ids(&anthropic)
                .iter()
                .all(|id| id.starts_with("anthropic."))
        );
        assert!(!ids(&anthropic).is_empty());
        let on_demand = foundation_models("us-east-1", &q("byInferenceType=ON_DEMAND"));
        assert!(ids(&on_demand).contains(&"amazon.titan-text-express-v1"));
        assert!(!ids(&on_demand).contains(&"anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(
            ids(&foundation_models(
                "us-east-1",
                &q("byOutputModality=IMAGE")
            ))
            .is_empty()
        );
        assert!(
            ids(&foundation_models(
                "us-east-1",
                &q("byCustomizationType=FINE_TUNING")
            ))
            .is_empty()
        );
    }
}
