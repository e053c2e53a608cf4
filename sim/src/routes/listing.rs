//! `GET /foundation-models` and `GET /inference-profiles`: Bedrock's control-plane listings.

use axum::Json;
use axum::http::{HeaderMap, Uri, header};
use serde_json::Value;

use crate::listing::{self, Query};

/// `ListFoundationModels`.
pub(crate) async fn foundation_models(headers: HeaderMap, uri: Uri) -> Json<Value> {
    Json(listing::foundation_models(
        &region(&headers),
        &Query::parse(uri.query()),
    ))
}

/// `ListInferenceProfiles`.
pub(crate) async fn inference_profiles(headers: HeaderMap, uri: Uri) -> Json<Value> {
    Json(listing::inference_profiles(
        &region(&headers),
        &Query::parse(uri.query()),
    ))
}

fn region(headers: &HeaderMap) -> String {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    listing::region(authorization).to_owned()
}
