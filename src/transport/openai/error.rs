//! Errors in OpenAI's shape, `{"error":{"message","type","param","code"}}`,
//! before streaming (a real status) and mid-stream (a `data:` event). The
//! object is [`crate::error::shape`]'s, which the token gate's `401` and the
//! router's `404` and `405` on these routes render too.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::event::EventError;
use crate::hub::StartError;

/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
pub struct OpenAiError {
    pub(super) error: ApiError,
    /// The request field it is about (`param`), when one is to blame.
    pub(super) param: Option<&'static str>,
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        Self { error, param: None }
    }
}

/// A path parameter (`/v1/responses/{id}`), refused like the gateway's
/// ([`crate::http::Path`]) in OpenAI's error shape.
pub struct OpenAiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for OpenAiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = OpenAiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let crate::http::Path(t) = crate::http::Path::from_request_parts(parts, state).await?;
        Ok(Self(t))
    }
}

impl From<StartError> for OpenAiError {
    fn from(e: StartError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for OpenAiError {
    /// The gateway's own rendering (status, `Retry-After`…) with OpenAI's body.
    fn into_response(self) -> Response {
        let mut code = self.error.error_code();
        let unknown_model = code == ErrorCode::UnknownModel;
        let spent = matches!(self.error, ApiError::Spent { .. });
        let mut param = self.param;
        let message = self.error.to_string();
        let (mut parts, _) = self.error.into_response().into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        if unknown_model {
            // OpenAI's answer to a model it does not serve, which its SDKs
            // raise as `NotFoundError` (and LiteLLM does not retry).
            code = ErrorCode::ModelNotFound;
            parts.status = StatusCode::NOT_FOUND;
            param = param.or(Some("model"));
        }
        let mut error = error_object(parts.status, code.as_str(), &message);
        error["param"] = json!(param);
        if unknown_model {
            error["type"] = json!("invalid_request_error");
        }
        if spent {
            // OpenAI's answer to a spent quota (429 `insufficient_quota`);
            // `x-should-retry: false` keeps its SDKs from retrying a call
            // that cannot succeed before the next UTC day.
            error["type"] = json!(INSUFFICIENT_QUOTA);
            error["code"] = json!(INSUFFICIENT_QUOTA);
            parts
                .headers
                .insert(SHOULD_RETRY, HeaderValue::from_static("false"));
        }
        (parts, Json(json!({ "error": error }))).into_response()
    }
}

/// OpenAI's `type` and `code` for a spent quota.
const INSUFFICIENT_QUOTA: &str = "insufficient_quota";

/// The header OpenAI's and Anthropic's SDKs read before their own retry
/// rules (`"false"`: do not retry).
const SHOULD_RETRY: &str = "x-should-retry";

/// OpenAI's error object, the one every OpenAI route renders (the token
/// gate's and the router's errors too): [`crate::error::shape`].
pub(super) use crate::error::shape::openai_object as error_object;

/// A `400` with `msg`.
pub(super) fn bad(msg: impl Into<String>) -> OpenAiError {
    ApiError::BadRequest(msg.into()).into()
}

/// A `400` with `msg` about the request field `param`.
pub(super) fn bad_param(param: &'static str, msg: impl Into<String>) -> OpenAiError {
    OpenAiError {
        param: Some(param),
        ..bad(msg)
    }
}

/// The `error` object of a failed session.
pub(super) fn stream_error(e: &EventError) -> Value {
    error_object(StatusCode::BAD_GATEWAY, &e.code, &e.message)
}

/// The status of a completion whose session failed once started: 429 if
/// throttled, 504 if it timed out, 502 otherwise.
pub(super) fn failed_status(code: Option<ErrorCode>) -> StatusCode {
    match code {
        Some(ErrorCode::Throttled) => StatusCode::TOO_MANY_REQUESTS,
        Some(
            ErrorCode::FirstTokenTimeout | ErrorCode::UpstreamIdleTimeout | ErrorCode::ModelTimeout,
        ) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}
