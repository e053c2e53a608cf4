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

    /// An error Bedrock answered with `code` (such as `ThrottlingException`),
    /// its `message` and its request id ([`Self::from_bedrock`]).
    pub fn from_code(code: Option<&str>, message: Option<&str>, request_id: Option<&str>) -> Self {
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
            .unwrap_or_else(|| code.unwrap_or("upstream error"));
        Self::from_bedrock(kind, message, request_id)
    }

    /// An error of `kind` Bedrock answered in its own words (`message`),
    /// before or during a stream; every such error is built here.
    ///
    /// Bedrock's words reach the client when they are about the request
    /// (a validation error says what is wrong with the user's input). Two
    /// kinds are not: an access denial names the gateway's own AWS
    /// principal (account id, role, role session), which any user could
    /// trigger by naming a guardrail the role may not apply, and an internal
    /// error says nothing a client can act on. Those keep their code and get
    /// a generic sentence with Bedrock's request id; Bedrock's words go to
    /// the log at WARN (inside the session's span, so with its id).
    pub fn from_bedrock(kind: UpstreamErrorKind, message: &str, request_id: Option<&str>) -> Self {
        let generic = match kind {
            UpstreamErrorKind::AccessDenied => {
                "the gateway is not permitted to use this model or guardrail"
            }
            UpstreamErrorKind::Internal => "Bedrock failed with an internal error; try again",
            _ => return Self::new(kind, message),
        };
        let code = kind.error_code().as_str();
        tracing::warn!(
            code,
            bedrock_request_id = request_id,
            bedrock_message = message,
            "Bedrock refused the request; the client is told less"
        );
        Self::new(
            kind,
            match request_id {
                Some(id) => format!("{generic} (Bedrock request id {id})"),
                None => generic.to_owned(),
            },
        )
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

    const DENIAL: &str = "User: arn:aws:sts::123456789012:assumed-role/spillway-TaskRole-1A2B/7f3c2a1b \
        is not authorized to perform: bedrock:ApplyGuardrail on resource: arn:aws:bedrock:us-east-1:123456789012:guardrail/x";

    /// Bedrock's words about the gateway's own AWS principal, or an internal
    /// failure, never reach clients; the code and Bedrock's request id do.
    #[test]
    fn denials_and_internal_errors_keep_their_code_but_not_bedrocks_words() {
        let denied =
            UpstreamError::from_code(Some("AccessDeniedException"), Some(DENIAL), Some("req-1"));
        assert_eq!(denied.code(), "access_denied");
        assert_eq!(
            denied.message,
            "the gateway is not permitted to use this model or guardrail (Bedrock request id req-1)"
        );
        let internal =
            UpstreamError::from_code(Some("InternalServerException"), Some(DENIAL), None);
        assert_eq!(internal.code(), "upstream_internal_error");
        assert_eq!(
            internal.message,
            "Bedrock failed with an internal error; try again"
        );
        let mid_stream = UpstreamError::from_bedrock(UpstreamErrorKind::AccessDenied, DENIAL, None);
        for e in [&denied, &internal, &mid_stream] {
            assert!(
                !e.message.contains("123456789012") && !e.message.contains("arn:"),
                "{e}"
            );
        }
    }

    /// What is about the user's own request stays in Bedrock's words.
    #[test]
    fn other_errors_keep_bedrocks_words() {
        for (code, words) in [
            ("ValidationException", "max_tokens: must be less than 4096"),
            (
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            (
                "ResourceNotFoundException",
                "Could not resolve the foundation model",
            ),
        ] {
            let e = UpstreamError::from_code(Some(code), Some(words), Some("req-2"));
            assert_eq!(e.message, words, "{code}");
        }
        assert_eq!(
            UpstreamError::from_code(Some("ValidationException"), None, None).message,
            "ValidationException"
        );
    }
}
