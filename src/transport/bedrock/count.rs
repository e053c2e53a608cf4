//! `POST /model/{modelId}/count-tokens`: Bedrock's CountTokens, asked of
//! Bedrock after the checks a call gets (allow-list, parts): an InvokeModel
//! body (`{"input": {"invokeModel": {"body": <base64>}}}`) as it came, or a
//! Converse request (`{"input": {"converse": {"messages", "system",
//! "toolConfig"}}}`) as ConverseStream would send it. `{"inputTokens": N}`.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::auth::BedrockCaller;
use super::error::BedrockError;
use super::{Body, ModelId, converse_parse, family_parse};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::CountInput;

/// `POST /model/{modelId}/count-tokens`.
pub async fn count_tokens(
    State(state): State<AppState>,
    BedrockCaller(_): BedrockCaller,
    ModelId(model_id): ModelId,
    Body(body): Body,
) -> Result<Json<Value>, BedrockError> {
    let input = body
        .get("input")
        .and_then(Value::as_object)
        .ok_or_else(|| BedrockError::validation("input must be an object"))?;
    let tokens = match (input.get("invokeModel"), input.get("converse")) {
        (Some(invoke), None) => {
            let raw = invoke
                .get("body")
                .and_then(Value::as_str)
                .and_then(|b| STANDARD.decode(b).ok())
                .ok_or_else(|| {
                    BedrockError::validation("input.invokeModel.body must be a base64 JSON body")
                })?;
            let parsed: Value = serde_json::from_slice(&raw).map_err(|e| {
                BedrockError::validation(format!("input.invokeModel.body is not JSON: {e}"))
            })?;
            let family = state
                .models
                .family_of(&model_id)
                .ok_or_else(|| super::not_invoked(&model_id))?;
            let req = family_parse::stream_request(family, &model_id, &parsed)
                .map_err(BedrockError::validation)?;
            let (inv, _) = state.models.validate(req)?;
            state
                .hub
                .count_tokens(&inv.model_id, CountInput::Invoke(&raw))
                .await
        }
        (None, Some(request)) => {
            let req = converse_parse::stream_request(&model_id, request)
                .map_err(BedrockError::validation)?;
            let (inv, _) = state.models.validate(req)?;
            state
                .hub
                .count_tokens(&inv.model_id, CountInput::Converse(&inv))
                .await
        }
        _ => {
            return Err(BedrockError::validation(
                "input must hold exactly one of invokeModel and converse",
            ));
        }
    }
    .map_err(ApiError::from)?;
    Ok(Json(json!({ "inputTokens": tokens })))
}
