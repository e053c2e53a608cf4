//! `GET /inference-profiles` and `GET /foundation-models`: the models this
//! gateway serves (`ModelPolicy::listed`) in Bedrock's `ListInferenceProfiles`
//! and `ListFoundationModels` shapes (Claude Code asks for them at start).
//!
//! Ids with a cross-region prefix (`us.`, `global.`, …) are inference
//! profiles; every listed id's base model is a foundation model. A listed
//! application-inference-profile ARN is an `APPLICATION` profile (its model
//! is not known here, so it names none and adds no foundation model).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::auth::BedrockCaller;
use crate::state::AppState;
use crate::upstream::Api;
use crate::upstream::model_id::is_application_profile;
use crate::upstream::models::{ModelFamily, base_model_id};

/// The region the ARNs name (the gateway answers for one endpoint).
const REGION: &str = "us-east-1";
/// The account inference-profile ARNs name.
const ACCOUNT: &str = "000000000000";

/// `GET /inference-profiles`.
pub async fn inference_profiles(
    State(state): State<AppState>,
    _caller: BedrockCaller,
) -> Json<Value> {
    Json(profiles(&state.models.listed()))
}

/// `GET /foundation-models`.
pub async fn foundation_models(
    State(state): State<AppState>,
    _caller: BedrockCaller,
) -> Json<Value> {
    Json(foundation(&state.models.listed()))
}

fn model_arn(base: &str) -> String {
    format!("arn:aws:bedrock:{REGION}::foundation-model/{base}")
}

/// `ListInferenceProfiles`' answer for `listed`.
fn profiles(listed: &[String]) -> Value {
    let summaries: Vec<Value> = listed
        .iter()
        .filter_map(|id| {
            if is_application_profile(id) {
                return Some(application_profile(id));
            }
            let base = base_model_id(id).filter(|b| *b != id.as_str())?;
            Some(json!({
                "inferenceProfileName": id,
                "inferenceProfileId": id,
                "inferenceProfileArn": format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{id}"),
                "description": format!("Routes requests to {base}"),
                "models": [{"modelArn": model_arn(base)}],
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            }))
        })
        .collect();
    json!({ "inferenceProfileSummaries": summaries })
}

/// An application inference profile's summary: its ARN as listed.
fn application_profile(arn: &str) -> Value {
    let id = arn.rsplit('/').next().unwrap_or(arn);
    json!({
        "inferenceProfileName": id,
        "inferenceProfileId": id,
        "inferenceProfileArn": arn,
        "description": "Application inference profile",
        "models": [],
        "status": "ACTIVE",
        "type": "APPLICATION",
    })
}

/// `ListFoundationModels`' answer for `listed`.
fn foundation(listed: &[String]) -> Value {
    let mut bases: Vec<&str> = listed
        .iter()
        .filter(|id| !is_application_profile(id))
        .filter_map(|id| base_model_id(id))
        .collect();
    bases.sort_unstable();
    bases.dedup();
    let summaries: Vec<Value> = bases
        .into_iter()
        .map(|base| {
            let family = ModelFamily::from_model_id(base);
            // What the model takes through Converse, where it takes the most.
            let caps = family
                .map(|f| f.capabilities(base, Api::Converse))
                .unwrap_or_default();
            let mut input = vec!["TEXT"];
            if caps.images {
                input.push("IMAGE");
            }
            // A model reached only through a profile in the list.
            let profile_only = !listed.iter().any(|id| id == base);
            json!({
                "modelArn": model_arn(base),
                "modelId": base,
                "modelName": base,
                "providerName": family.map_or("Unknown", provider),
                "inputModalities": input,
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": true,
                "customizationsSupported": [],
                "inferenceTypesSupported": [if profile_only { "INFERENCE_PROFILE" } else { "ON_DEMAND" }],
                "modelLifecycle": {"status": "ACTIVE"},
            })
        })
        .collect();
    json!({ "modelSummaries": summaries })
}

fn provider(family: ModelFamily) -> &'static str {
    match family {
        ModelFamily::AnthropicClaude => "Anthropic",
        ModelFamily::AmazonNova | ModelFamily::AmazonTitanText => "Amazon",
        ModelFamily::MetaLlama => "Meta",
        ModelFamily::Mistral => "Mistral AI",
        ModelFamily::CohereCommandR => "Cohere",
        ModelFamily::DeepSeek => "DeepSeek",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_models_in_bedrocks_shapes() {
        let listed = vec![
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned(),
            "amazon.nova-lite-v1:0".to_owned(),
        ];
        let p = profiles(&listed);
        let s = &p["inferenceProfileSummaries"];
        assert_eq!(s.as_array().unwrap().len(), 1);
        assert_eq!(
            s[0]["inferenceProfileId"],
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(
            s[0]["models"][0]["modelArn"],
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(s[0]["type"], "SYSTEM_DEFINED");
        let f = foundation(&listed);
        let m = f["modelSummaries"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["modelId"], "amazon.nova-lite-v1:0");
        assert_eq!(m[0]["inferenceTypesSupported"], json!(["ON_DEMAND"]));
        assert_eq!(m[1]["providerName"], "Anthropic");
        assert_eq!(
            m[1]["inferenceTypesSupported"],
            json!(["INFERENCE_PROFILE"])
        );
    }

    #[test]
    fn application_profiles_are_listed_as_such_and_add_no_model() {
        let arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123";
        let listed = vec![arn.to_owned(), "amazon.nova-lite-v1:0".to_owned()];
        let p = profiles(&listed);
        let s = p["inferenceProfileSummaries"].as_array().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0]["inferenceProfileArn"], arn);
        assert_eq!(s[0]["inferenceProfileId"], "abc123");
        assert_eq!(s[0]["type"], "APPLICATION");
        let f = foundation(&listed);
        let m = f["modelSummaries"].as_array().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["modelId"], "amazon.nova-lite-v1:0");
    }
}
