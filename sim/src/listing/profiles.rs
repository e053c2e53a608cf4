//! `ListInferenceProfiles`: the system-defined cross-region profiles of the table's models.
//!
//! Each model Bedrock serves through profiles gets one for the caller's
//! geography (`us.`, `eu.` or `apac.`, from the region), routing to three
//! regions of it, and a `global.` one where Bedrock has it. Pages:
//! `maxResults` (default and at most 1000) and an opaque `nextToken`.

use serde_json::{Value, json};

use super::models::model_arn;
use super::{ACCOUNT, Query};
use crate::catalog::{Access, MODELS, ModelInfo};

/// The most summaries one page holds.
const MAX_RESULTS: usize = 1000;

/// One page of profile summaries (`type=APPLICATION`: none).
pub(crate) fn inference_profiles(region: &str, query: &Query) -> Value {
    let all = if query.get("type").is_some_and(|t| t != "SYSTEM_DEFINED") {
        Vec::new()
    } else {
        profiles(region)
    };
    let start = query
        .get("nextToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(all.len());
    let size = query
        .get("maxResults")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(MAX_RESULTS)
        .clamp(1, MAX_RESULTS);
    let end = start.saturating_add(size).min(all.len());
    let page = all.get(start..end).unwrap_or_default();
    let mut body = json!({ "inferenceProfileSummaries": page });
    if end < all.len() {
        body["nextToken"] = json!(end.to_string());
    }
    body
}

/// The geography of `region` and the regions its profiles route to.
fn geography(region: &str) -> (&'static str, &'static str, [&'static str; 3]) {
    if region.starts_with("eu-") {
        ("eu", "EU", ["eu-central-1", "eu-west-1", "eu-west-3"])
    } else if region.starts_with("ap-") {
        (
            "apac",
            "APAC",
            ["ap-northeast-1", "ap-southeast-1", "ap-southeast-2"],
        )
    } else {
        ("us", "US", ["us-east-1", "us-east-2", "us-west-2"])
    }
}

fn profiles(region: &str) -> Vec<Value> {
    let (prefix, label, regions) = geography(region);
    let mut all = Vec::new();
    for model in MODELS.iter().filter(|m| m.access != Access::OnDemand) {
        let models: Vec<Value> = regions
            .iter()
            .map(|r| json!({"modelArn": model_arn(r, model.id)}))
            .collect();
        let description = format!(
            "Routes requests to {} {} in {}, {} and {}.",
            model.provider, model.name, regions[0], regions[1], regions[2]
        );
        all.push(summary(region, prefix, label, model, description, models));
        if model.access == Access::Global {
            let description = format!(
                "Routes requests to {} {} in all commercial AWS regions.",
                model.provider, model.name
            );
            let models = vec![json!({"modelArn": model_arn("", model.id)})];
            all.push(summary(
                region,
                "global",
                "Global",
                model,
                description,
                models,
            ));
        }
    }
    all
}

fn summary(
    region: &str,
    prefix: &str,
    label: &str,
    model: &ModelInfo,
    description: String,
    models: Vec<Value>,
) -> Value {
    let id = format!("{prefix}.{}", model.id);
    json!({
        "inferenceProfileName": format!("{label} {} {}", model.provider, model.name),
        "description": description,
        "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{id}"),
        "models": models,
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn ids(value: &Value) -> Vec<String> {
        value["inferenceProfileSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["inferenceProfileId"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn profiles_for_the_callers_geography() {
        let us = inference_profiles("us-west-2", &Query::default());
        let ids_us = ids(&us);
        assert!(ids_us.contains(&"us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()));
        assert!(ids_us.contains(&"global.anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()));
        assert!(!ids_us.iter().any(|id| id.contains("titan")));
        assert!(us.get("nextToken").is_none());
        // Every profile id is one the runtime routes accept.
        for id in &ids_us {
            assert!(Model::recognise(id).is_some(), "{id}");
        }
        let first = &us["inferenceProfileSummaries"][0];
        assert!(
            first["inferenceProfileArn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.")
        );
        assert_eq!(first["models"].as_array().unwrap().len(), 3);
        let eu = inference_profiles("eu-west-1", &Query::default());
        assert!(
            ids(&eu)
                .iter()
                .all(|id| id.starts_with("eu.") || id.starts_with("global."))
        );
        let application = inference_profiles("us-east-1", &Query::parse(Some("type=APPLICATION")));
        assert!(ids(&application).is_empty());
    }

    #[test]
    fn pages() {
        let all = ids(&inference_profiles("us-east-1", &Query::default()));
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query = match &token {
                Some(t) => format!("maxResults=5&nextToken={t}"),
                None => "maxResults=5".to_owned(),
            };
            let page = inference_profiles("us-east-1", &Query::parse(Some(&query)));
            let got = ids(&page);
            assert!(got.len() <= 5);
            seen.extend(got);
            match page.get("nextToken").and_then(Value::as_str) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, all);
        let past = inference_profiles("us-east-1", &Query::parse(Some("nextToken=99999")));
        assert!(ids(&past).is_empty());
        let bad = inference_profiles("us-east-1", &Query::parse(Some("maxResults=0&nextToken=x")));
        assert_eq!(ids(&bad).len(), 1);
    }
}
