//! The Bedrock runtime API, rendered from the session log, so boto3, the
//! other AWS SDKs, the Anthropic SDK's Bedrock client and Claude Code in
//! Bedrock mode work by changing their endpoint URL:
//!
//! - `POST /model/{modelId}/invoke-with-response-stream` and `/invoke`: the
//!   family's own body, checked as parts and sent upstream as it came;
//!   answered as the family's chunks (or its response object).
//! - `POST /model/{modelId}/converse-stream` and `/converse`: Converse JSON,
//!   answered as Converse stream events (or the Converse response).
//! - `POST /model/{modelId}/count-tokens`: Bedrock's CountTokens.
//! - `GET /inference-profiles`, `GET /foundation-models`: the served models.
//! - The other operations (ApplyGuardrail, InvokeGuardrailChecks, the async
//!   invokes, InvokeModelWithBidirectionalStream): `404
//!   UnknownOperationException` saying the gateway does not serve them.
//!
//! `modelId` comes with `:` raw or as `%3A`; an inference-profile or
//! foundation-model ARN (percent-encoded) stands for the id it names. Every
//! call is a session: `X-Session-Id` (and `x-amzn-requestid`) name it, so it
//! can be attached to over SSE, WebSocket or GraphQL.
//!
//! These routes are mounted outside the gateway-wide token gate: their
//! caller extractor ([`auth`]) is their gate, so that every refusal is in
//! Bedrock's shape (`x-amzn-ErrorType` + `{"message"}`), which the SDKs raise.
//!
//! # Layout
//!
//! - [`auth`]: bearer tokens in, SigV4 signatures refused (`401`).
//! - [`error`]: gateway error codes as Bedrock exceptions, before and mid-stream.
//! - [`frames`]: event-stream frames and the headers of an answer.
//! - [`session`]: validate, start, stream as frames or gather.
//! - [`converse`], [`converse_parse`], [`converse_render`]: the Converse API.
//! - [`count`]: CountTokens, asked of Bedrock after a call's checks.
//! - [`invoke`], [`claude_parse`], [`family_parse`]: InvokeModel bodies in;
//!   [`claude_render`], [`invoke_render`]: each family's chunks and responses out.
//! - [`guardrail`]: a caller's guardrail in (Converse's `guardrailConfig`,
//!   InvokeModel's headers) and its verdict out where Bedrock puts it.
//! - [`call_options`]: Bedrock's per-call options (latency, service tier,
//!   request metadata) asked for, passed on.
//! - [`listing`]: inference profiles and foundation models.

pub mod auth;
pub mod call_options;
pub mod claude_parse;
pub mod claude_render;
pub mod converse;
pub mod converse_parse;
pub mod converse_render;
pub mod count;
pub mod error;
pub mod family_parse;
pub mod frames;
pub mod guardrail;
pub mod invoke;
pub mod invoke_render;
pub mod listing;
pub mod response_fields;
pub mod session;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{any, get, post};
use serde_json::Value;

use crate::http::{Path, parse_json};
use crate::state::AppState;
use error::BedrockError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(invoke::invoke_stream),
        )
        .route("/model/{model_id}/invoke", post(invoke::invoke))
        .route(
            "/model/{model_id}/converse-stream",
            post(converse::converse_stream),
        )
        .route("/model/{model_id}/converse", post(converse::converse))
        .route("/model/{model_id}/count-tokens", post(count::count_tokens))
        .route("/inference-profiles", get(listing::inference_profiles))
        .route("/foundation-models", get(listing::foundation_models))
        // The runtime API's other operations (every one of the service
        // model the SDK 1.153 knows), refused in Bedrock's shape: the
        // gateway's own 404 reaches the SDKs as an unnamed error.
        .route(
            "/model/{model_id}/invoke-with-bidirectional-stream",
            any(|| not_served("InvokeModelWithBidirectionalStream")),
        )
        .route(
            "/guardrail/{id}/version/{version}/apply",
            any(|| not_served("ApplyGuardrail")),
        )
        .route(
            "/guardrail-checks/invoke",
            any(|| not_served("InvokeGuardrailChecks")),
        )
        .route(
            "/async-invoke",
            post(|| not_served("StartAsyncInvoke")).get(|| not_served("ListAsyncInvokes")),
        )
        .route("/async-invoke/{*arn}", any(|| not_served("GetAsyncInvoke")))
        .layer(axum::middleware::from_fn(request_id))
}

/// `x-amzn-requestid` (botocore's `ResponseMetadata.RequestId`, in its logs
/// and errors): the session's id on a call that became one, else the
/// request's `x-request-id`, the id the gateway's own log lines carry.
async fn request_id(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let fallback = req.headers().get("x-request-id").cloned();
    let mut res = next.run(req).await;
    if !res.headers().contains_key("x-amzn-requestid")
        && let Some(id) = res.headers().get("x-session-id").cloned().or(fallback)
    {
        res.headers_mut().insert("x-amzn-requestid", id);
    }
    res
}

/// InvokeModel's refusal of a model it has no family body for: an
/// application inference profile not declared (Converse serves it), or a
/// model that generates no text (embeddings, images), which is not served.
pub(super) fn not_invoked(model_id: &str) -> BedrockError {
    if !crate::upstream::models::well_formed(model_id) {
        return BedrockError::validation(format!(
            "a model id is 1 to {} letters, digits and `._:/-`",
            crate::upstream::models::MAX_MODEL_ID_LEN
        ));
    }
    let advice = if crate::upstream::model_id::is_application_profile(model_id) {
        "declare the profile's model in SPILLWAY_PROFILE_MODELS, or call Converse"
    } else {
        "it serves text generation (Claude, Nova, Titan Text, Llama, Mistral, \
         Cohere Command R, DeepSeek); embedding and image models are not served"
    };
    BedrockError::validation(format!(
        "model '{model_id}' is not of a model family this gateway invokes: {advice}"
    ))
}

/// `404 UnknownOperationException` for an operation the gateway does not serve.
async fn not_served(operation: &'static str) -> BedrockError {
    BedrockError::new(
        error::Exception::UnknownOperation,
        format!(
            "{operation} is not served by this gateway; it serves Converse, ConverseStream, \
             InvokeModel, InvokeModelWithResponseStream and CountTokens"
        ),
    )
}

/// The `{modelId}` path segment, percent-decoded; an ARN of an inference
/// profile or a foundation model stands for the id it names.
pub struct ModelId(pub String);

impl FromRequestParts<AppState> for ModelId {
    type Rejection = BedrockError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(Self(model_id(&id).to_owned()))
    }
}

/// The id inside an `inference-profile/` or `foundation-model/` ARN; any
/// other ARN (an application inference profile's among them) as it came.
fn model_id(id: &str) -> &str {
    if !id.starts_with("arn:") {
        return id;
    }
    // The resource type follows the account's `:`, so an
    // `application-inference-profile/` is not mistaken for an `inference-profile/`.
    [":inference-profile/", ":foundation-model/"]
        .iter()
        .find_map(|kind| id.split_once(kind).map(|(_, rest)| rest))
        .unwrap_or(id)
}

/// The JSON body, whatever its content type; a bad one is a `ValidationException`.
pub struct Body(pub Value);

impl FromRequest<AppState> for Body {
    type Rejection = BedrockError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await;
        Ok(Self(parse_json(bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_stand_for_their_ids() {
        assert_eq!(
            model_id("arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-x-v1:0"),
            "us.anthropic.claude-x-v1:0"
        );
        assert_eq!(
            model_id("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
            "amazon.nova-lite-v1:0"
        );
        assert_eq!(model_id("amazon.nova-lite-v1:0"), "amazon.nova-lite-v1:0");
        assert_eq!(
            model_id("arn:aws:bedrock:us-east-1:1:provisioned-model/abc"),
            "arn:aws:bedrock:us-east-1:1:provisioned-model/abc"
        );
        let profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3";
        assert_eq!(model_id(profile), profile);
    }
}
