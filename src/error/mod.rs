//! API errors: every code in one table ([`ErrorCode`]), one enum for what an
//! HTTP caller is told ([`ApiError`]), and one HTTP rendering of both: the
//! code's status, `{"error":{"code","message"}}` and its `Retry-After`;
//! [`shape`]: OpenAI's rendering, and which routes get it.

pub mod bedrock;
mod code;
pub mod shape;

pub use code::{ErrorCode, UnknownCode};
pub use shape::Shape;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::hub::{LookupError, StartError};
use crate::socket::Admission;
use crate::upstream::UpstreamError;

/// The JSON error body used everywhere: `{"error":{"code","message"}}`.
pub fn error_body(code: ErrorCode, message: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({"error": {"code": code.as_str(), "message": message}}))
}

/// The HTTP rendering of an error: `code`'s status, its body, and
/// `Retry-After: retry_after_secs` when given.
pub fn error_response(code: ErrorCode, message: &str, retry_after_secs: Option<u64>) -> Response {
    let status = code.status();
    let mut res = (status, error_body(code, message)).into_response();
    if let Some(secs) = retry_after_secs {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // OpenAI's and Anthropic's SDKs retry these statuses whatever the
    // error; a final one (a model error, an internal failure) would only
    // fail again, so say so in the header they read first.
    let sdks_retry = matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error();
    if sdks_retry && !code.retryable() {
        res.headers_mut()
            .insert("x-should-retry", HeaderValue::from_static("false"));
    }
    res
}

impl ErrorCode {
    /// This code over HTTP, with its own `Retry-After`.
    pub fn response(self, message: &str) -> Response {
        error_response(self, message, self.retry_after_secs())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnknownModel(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    /// A body in a format the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("not found")]
    NotFound,
    /// A resume cursor past the end of a finished session's log.
    #[error("{0}")]
    CursorPastEnd(LookupError),
    /// A session dropped for the node's memory budget.
    #[error("{0}")]
    Gone(LookupError),
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    #[error("the gateway holds too many sessions; try again shortly")]
    Full,
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The user holds the most connections allowed (sockets and HTTP readers).
    #[error("{0}")]
    TooManyConnections(Admission),
    #[error("{what}")]
    Limited { what: String, retry_after_secs: u64 },
    /// A daily budget used up: the core API's `rate_limited` too, but each
    /// drop-in API answers it as its own "quota spent", which its SDKs do
    /// not retry (it frees up at the next UTC day, not in seconds).
    #[error("{what}")]
    Spent { what: String, retry_after_secs: u64 },
    #[error("the registry is unavailable; try again shortly")]
    RegistryUnavailable,
    /// The node that streams a session cannot be asked for it: why.
    #[error("{0}")]
    NodeUnavailable(String),
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Upstream(u) => ApiError::Upstream(u),
            StartError::Full => ApiError::Full,
            StartError::ShuttingDown => ApiError::ShuttingDown,
            StartError::Limited {
                what,
                retry_after_secs,
            } => ApiError::Limited {
                what,
                retry_after_secs,
            },
            StartError::Spent {
                what,
                retry_after_secs,
            } => ApiError::Spent {
                what,
                retry_after_secs,
            },
            StartError::Registry(e) => {
                tracing::warn!(error = %e, "registry unavailable");
                ApiError::RegistryUnavailable
            }
        }
    }
}

impl From<Admission> for ApiError {
    fn from(e: Admission) -> Self {
        match e {
            Admission::TooMany => ApiError::TooManyConnections(e),
            Admission::ShuttingDown => ApiError::ShuttingDown,
            Admission::Registry(e) => {
                tracing::warn!(error = %e, "registry unavailable");
                ApiError::RegistryUnavailable
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// A path parameter that does not decode (`%FF` is not UTF-8) or parse.
/// axum's other case, a route without the parameter, is a routing bug no
/// request can reach; it is refused the same way rather than with a 500.
impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound => ApiError::NotFound,
            LookupError::CursorPastEnd { .. } => ApiError::CursorPastEnd(e),
            LookupError::Gone | LookupError::Lost(_) => ApiError::Gone(e),
            LookupError::NodeUnavailable(why) => ApiError::NodeUnavailable(why),
            LookupError::RegistryUnavailable => ApiError::RegistryUnavailable,
        }
    }
}

impl ApiError {
    /// The error's code: its status, retryability and `Retry-After` follow.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::UnknownModel(_) => ErrorCode::UnknownModel,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::CursorPastEnd(_) => ErrorCode::CursorPastEnd,
            ApiError::Gone(_) => ErrorCode::Gone,
            ApiError::Upstream(u) => u.error_code(),
            ApiError::Full => ErrorCode::TooManySessions,
            ApiError::ShuttingDown => ErrorCode::ShuttingDown,
            ApiError::TooManyConnections(e) => e.code(),
            ApiError::Limited { .. } | ApiError::Spent { .. } => ErrorCode::RateLimited,
            ApiError::RegistryUnavailable => ErrorCode::RegistryUnavailable,
            ApiError::NodeUnavailable(_) => ErrorCode::NodeUnavailable,
        }
    }

    /// The `code` of the error body (`error_code().as_str()`).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn status(&self) -> StatusCode {
        self.error_code().status()
    }

    /// Whether the same request may succeed if tried again.
    pub fn retryable(&self) -> bool {
        self.error_code().retryable()
    }

    /// The `Retry-After` of the HTTP response: the code's, except that a
    /// limit says when it frees up.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            // The limit knows when it frees up (the next UTC day for the token limit).
            ApiError::Limited {
                retry_after_secs, ..
            }
            | ApiError::Spent {
                retry_after_secs, ..
            } => Some((*retry_after_secs).max(1)),
            other => other.error_code().retry_after_secs(),
        }
    }
}

impl From<&ApiError> for ErrorCode {
    fn from(e: &ApiError) -> Self {
        e.error_code()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(
            self.error_code(),
            &self.to_string(),
            self.retry_after_secs(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::UpstreamErrorKind;

    async fn parts(res: Response) -> (u16, Option<String>, serde_json::Value) {
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn final_errors_the_sdks_would_retry_say_not_to() {
        let should_retry = |code: ErrorCode| {
            code.response("x")
                .headers()
                .get("x-should-retry")
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(should_retry(ErrorCode::Internal).as_deref(), Some("false"));
        assert_eq!(
            should_retry(ErrorCode::ModelError).as_deref(),
            Some("false")
        );
        // Retryable ones are left to the SDK's rules, and so are the 4xx it
        // never retries.
        assert_eq!(should_retry(ErrorCode::ModelStreamError), None);
        assert_eq!(should_retry(ErrorCode::RateLimited), None);
        assert_eq!(should_retry(ErrorCode::BadRequest), None);
    }

    #[tokio::test]
    async fn api_errors_render_as_before() {
        let cases = [
            (
                ApiError::BadRequest("bad".into()),
                400,
                None,
                "bad_request",
                "bad",
            ),
            (ApiError::NotFound, 404, None, "not_found", "not found"),
            (
                ApiError::Full,
                503,
                Some("1"),
                "too_many_sessions",
                "the gateway holds too many sessions; try again shortly",
            ),
            (
                ApiError::Limited {
                    what: "at most 2 streams".into(),
                    retry_after_secs: 30,
                },
                429,
                Some("30"),
                "rate_limited",
                "at most 2 streams",
            ),
            (
                ApiError::Upstream(UpstreamError::new(
                    UpstreamErrorKind::Throttled,
                    "slow down",
                )),
                429,
                Some("1"),
                "throttled",
                "slow down",
            ),
            (
                ApiError::Upstream(UpstreamError::new(UpstreamErrorKind::ModelTimeout, "late")),
                504,
                None,
                "model_timeout",
                "late",
            ),
        ];
        for (e, status, retry, code, message) in cases {
            assert_eq!(e.code(), code);
            let got = parts(e.into_response()).await;
            assert_eq!(
                got,
                (
                    status,
                    retry.map(str::to_owned),
                    serde_json::json!({"error": {"code": code, "message": message}})
                )
            );
        }
    }

    #[tokio::test]
    async fn a_code_renders_its_own_status_and_retry_after() {
        let got = parts(ErrorCode::TooManyConnections.response("full")).await;
        assert_eq!(got.0, 429);
        assert_eq!(got.1.as_deref(), Some("5"));
        assert_eq!(got.2["error"]["code"], "too_many_connections");
        let got = parts(ErrorCode::NotReady.response("warming up")).await;
        assert_eq!((got.0, got.1), (503, None));
    }
}
