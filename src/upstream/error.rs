//! Upstream failures, whatever the API path: one kind per thing a client can act on.

use axum::http::StatusCode;

use crate::error::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    Throttled,
    Validation,
    AccessDenied,
    NotFound,
    QuotaExceeded,
    ModelNotReady,
    ModelTimeout,
    ModelError,
    ModelStreamError,
    Internal,
    Unavailable,
    /// The connection was cut mid-stream.
    ConnectionDropped,
    /// No first chunk within the first-token timeout.
    FirstTokenTimeout,
    /// No chunk for the idle timeout after the first one.
    IdleTimeout,
    /// A chunk the adapter could not decode.
    Decode,
    /// The session log reached its bound.
    LogFull,
}

impl UpstreamErrorKind {
    /// The code a client sees (its status and retryability come with it).
    pub const fn error_code(self) -> ErrorCode {
        use UpstreamErrorKind::*;
        match self {
            Throttled => ErrorCode::Throttled,
            Validation => ErrorCode::ValidationError,
            AccessDenied => ErrorCode::AccessDenied,
            NotFound => ErrorCode::ModelNotFound,
            QuotaExceeded => ErrorCode::QuotaExceeded,
            ModelNotReady => ErrorCode::ModelNotReady,
            ModelTimeout => ErrorCode::ModelTimeout,
            ModelError => ErrorCode::ModelError,
            ModelStreamError => ErrorCode::ModelStreamError,
            Internal => ErrorCode::UpstreamInternalError,
            Unavailable => ErrorCode::UpstreamUnavailable,
            ConnectionDropped => ErrorCode::UpstreamConnectionDropped,
            FirstTokenTimeout => ErrorCode::FirstTokenTimeout,
            IdleTimeout => ErrorCode::UpstreamIdleTimeout,
            Decode => ErrorCode::UpstreamDecodeError,
            LogFull => ErrorCode::SessionTooLong,
        }
    }
}

/// A failure talking to Bedrock (or the simulator), before or during a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    pub message: String,
    /// What the model itself answered, when Bedrock said (its
    /// `ModelStreamErrorException`'s `originalStatusCode` and
    /// `originalMessage`): passed on to the Bedrock API's exception frame.
    pub original: Option<ModelOriginal>,
}

/// The model's own status and message behind a model stream error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelOriginal {
    pub status_code: Option<i32>,
    pub message: Option<String>,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            original: None,
        }
    }

    /// The error with the model's own status and message, when either is known.
    pub fn with_original(self, status_code: Option<i32>, message: Option<String>) -> Self {
        Self {
            original: (status_code.is_some() || message.is_some()).then_some(ModelOriginal {
                status_code,
                message,
            }),
            ..self
        }
    }

    /// The code of the final event's `error` and of HTTP error bodies.
    pub fn error_code(&self) -> ErrorCode {
        self.kind.error_code()
    }

    /// The wire string of [`Self::error_code`].
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// Whether the same request may succeed if tried again.
    pub fn retryable(&self) -> bool {
        self.error_code().retryable()
    }

    /// The HTTP status for this error when it happens before streaming starts.
    pub fn status(&self) -> StatusCode {
        self.error_code().status()
    }

    /// Kind from a Bedrock error code such as `ThrottlingException`.
    pub fn from_code(code: Option<&str>, message: Option<&str>) -> Self {
        use UpstreamErrorKind::*;
        let kind = match code.unwrap_or("") {
            "ThrottlingException" => Throttled,
            "ValidationException" => Validation,
            "AccessDeniedException" => AccessDenied,
            "ResourceNotFoundException" => NotFound,
            "ServiceQuotaExceededException" => QuotaExceeded,
            "ModelNotReadyException" => ModelNotReady,
            "ModelTimeoutException" => ModelTimeout,
            "ModelErrorException" => ModelError,
            "ModelStreamErrorException" => ModelStreamError,
            "ServiceUnavailableException" => Unavailable,
            _ => Internal,
        };
        let message = message
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| code.unwrap_or("upstream error").to_owned());
        Self::new(kind, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes, statuses and retryability clients saw before the table moved to `ErrorCode`.
    #[test]
    fn kinds_keep_their_code_status_and_retryability() {
        use UpstreamErrorKind::*;
        let table = [
            (Throttled, "throttled", 429, true),
            (Validation, "validation_error", 400, false),
            (AccessDenied, "access_denied", 403, false),
            (NotFound, "model_not_found", 404, false),
            (QuotaExceeded, "quota_exceeded", 400, false),
            (ModelNotReady, "model_not_ready", 429, true),
            (ModelTimeout, "model_timeout", 504, true),
            (ModelError, "model_error", 502, false),
            (ModelStreamError, "model_stream_error", 502, true),
            (Internal, "upstream_internal_error", 502, true),
            (Unavailable, "upstream_unavailable", 503, true),
            (ConnectionDropped, "upstream_connection_dropped", 502, true),
            (FirstTokenTimeout, "first_token_timeout", 504, true),
            (IdleTimeout, "upstream_idle_timeout", 504, true),
            (Decode, "upstream_decode_error", 502, false),
            (LogFull, "session_too_long", 400, false),
        ];
        for (kind, code, status, retryable) in table {
            let e = UpstreamError::new(kind, "m");
            assert_eq!(
                (e.code(), e.status().as_u16(), e.retryable()),
                (code, status, retryable),
                "{kind:?}"
            );
        }
    }
}
