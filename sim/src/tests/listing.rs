//! End to end, `GET /foundation-models` and `GET /inference-profiles` over HTTP.

use super::*;
use crate::catalog::MODELS;

async fn get(sim: &Sim, path: &str, authorization: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().get(format!("{}{path}", sim.url));
    if let Some(auth) = authorization {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

const SIGV4_EU: &str = "AWS4-HMAC-SHA256 Credential=AKIDSIMTEST/20261206/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

#[tokio::test]
async fn foundation_models_list_the_table() {
    let sim = Sim::start().await;
    let body = get(&sim, "/foundation-models", Some(SIGV4_EU)).await;
    let summaries = body["modelSummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), MODELS.len());
    let sonnet = summaries
        .iter()
        .find(|m| m["modelId"] == "anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    assert_eq!(
        sonnet["modelArn"],
        "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert_eq!(sonnet["providerName"], "Anthropic");
    assert_eq!(sonnet["modelName"], "Claude Sonnet 4.5");
    assert_eq!(sonnet["inputModalities"], json!(["TEXT", "IMAGE"]));
    assert_eq!(sonnet["outputModalities"], json!(["TEXT"]));
    assert_eq!(sonnet["responseStreamingSupported"], true);
    assert_eq!(
        sonnet["inferenceTypesSupported"],
        json!(["INFERENCE_PROFILE"])
    );
    let meta = get(&sim, "/foundation-models?byProvider=Meta", None).await;
    let meta = meta["modelSummaries"].as_array().unwrap();
    assert!(!meta.is_empty());
    assert!(meta.iter().all(|m| m["providerName"] == "Meta"));
    assert!(
        meta[0]["modelArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:bedrock:us-east-1::")
    );
}

#[tokio::test]
async fn inference_profiles_page_through_the_geography() {
    let sim = Sim::start().await;
    let body = get(&sim, "/inference-profiles", Some(SIGV4_EU)).await;
    let profiles = body["inferenceProfileSummaries"].as_array().unwrap();
    let sonnet = profiles
        .iter()
        .find(|p| p["inferenceProfileId"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    assert_eq!(
        sonnet["inferenceProfileArn"],
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert_eq!(
        sonnet["inferenceProfileName"],
        "EU Anthropic Claude Sonnet 4.5"
    );
    assert_eq!(sonnet["status"], "ACTIVE");
    assert_eq!(sonnet["type"], "SYSTEM_DEFINED");
    assert!(
        sonnet["description"]
            .as_str()
            .unwrap()
            .contains("eu-west-1")
    );
    assert_eq!(sonnet["models"].as_array().unwrap().len(), 3);
    assert!(
        sonnet["models"][0]["modelArn"]
            .as_str()
            .unwrap()
            .ends_with(":foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0")
    );
    let page = get(&sim, "/inference-profiles?maxResults=2", None).await;
    assert_eq!(
        page["inferenceProfileSummaries"].as_array().unwrap().len(),
        2
    );
    let token = page["nextToken"].as_str().unwrap();
    let next = get(
        &sim,
        &format!("/inference-profiles?maxResults=2&nextToken={token}"),
        None,
    )
    .await;
    assert_ne!(
        next["inferenceProfileSummaries"][0]["inferenceProfileId"],
        page["inferenceProfileSummaries"][0]["inferenceProfileId"]
    );
    // Every listed profile is a model id the runtime routes answer for.
    let us = get(&sim, "/inference-profiles", None).await;
    for profile in us["inferenceProfileSummaries"].as_array().unwrap() {
        let id = profile["inferenceProfileId"].as_str().unwrap();
        assert!(crate::model::Model::recognise(id).is_some(), "{id}");
    }
}
