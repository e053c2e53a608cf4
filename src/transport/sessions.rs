//! Session resources: `GET /v1/sessions/{id}` (status and text),
//! `POST /v1/sessions/{id}/cancel`, and `GET /v1/models`.

use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::Path;
use crate::hub::{Access, SessionInfo};
use crate::state::AppState;
use crate::transport::anthropic::models as anthropic_models;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions/{id}", get(info))
        .route("/v1/sessions/{id}/cancel", post(cancel))
        .route("/v1/models", get(models))
}

async fn info(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    let s = state.hub.find(&id, &Access::user(&principal)).await?;
    Ok(Json(s.info()))
}

/// Stop the session's upstream now and answer with its final state.
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    let s = state.hub.find(&id, &Access::user(&principal)).await?;
    s.cancel();
    // The upstream task writes the final event as soon as it sees the cancel.
    let _ = tokio::time::timeout(Duration::from_secs(5), s.finished()).await;
    Ok(Json(s.info()))
}

/// The models requests may name: OpenAI's list shape, so its SDKs read it
/// too; for the Anthropic SDK (`anthropic-version`), Anthropic's, with the
/// Anthropic names of the allowed Claude models.
async fn models(
    State(state): State<AppState>,
    _p: Principal,
    headers: axum::http::HeaderMap,
) -> Json<serde_json::Value> {
    if anthropic_models::is_anthropic(&headers) {
        return Json(anthropic_models::page(|id| state.models.admit(id).is_ok()));
    }
    let data: Vec<_> = state
        .models
        .listed()
        .into_iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "bedrock"}))
        .collect();
    Json(serde_json::json!({"object": "list", "data": data, "default": state.models.default_model}))
}
