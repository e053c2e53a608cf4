//! Bedrock's wire format: event-stream frames and pre-stream error responses.

use std::io;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use axum::http::{HeaderValue as HttpHeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

/// Response `content-type` of a stream.
pub(crate) const EVENTSTREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";
/// The header the SDK reads to learn the chunk payload type.
pub(crate) const BEDROCK_CONTENT_TYPE_HEADER: &str = "x-amzn-bedrock-content-type";

fn string(value: impl Into<String>) -> HeaderValue {
    HeaderValue::String(StrBytes::from(value.into()))
}

fn encode(message: &Message) -> io::Result<Bytes> {
    let mut buffer = Vec::with_capacity(message.payload().len() + 96);
    write_message_to(message, &mut buffer).map_err(io::Error::other)?;
    Ok(Bytes::from(buffer))
}

/// One `:message-type: event` frame with a JSON payload.
pub(crate) fn event_frame(event_type: &str, payload: &Value) -> io::Result<Bytes> {
    let payload = serde_json::to_vec(payload).map_err(io::Error::other)?;
    let message = Message::new_from_parts(
        vec![
            Header::new(":event-type", string(event_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        payload,
    );
    encode(&message)
}

/// One InvokeModel `chunk` frame carrying the model's chunk JSON, base64-encoded.
pub(crate) fn chunk_frame(chunk: &Value) -> io::Result<Bytes> {
    let raw = serde_json::to_vec(chunk).map_err(io::Error::other)?;
    event_frame(
        "chunk",
        &json!({ "bytes": aws_smithy_types::base64::encode(raw) }),
    )
}

/// One `:message-type: exception` frame, e.g. `modelStreamErrorException`.
pub(crate) fn exception_frame(exception_type: &str, payload: &Value) -> io::Result<Bytes> {
    let payload = serde_json::to_vec(payload).map_err(io::Error::other)?;
    let message = Message::new_from_parts(
        vec![
            Header::new(":exception-type", string(exception_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("exception")),
        ],
        payload,
    );
    encode(&message)
}

/// The mid-stream `modelStreamErrorException` an `error_after` directive sends.
pub(crate) fn model_stream_error_frame() -> io::Result<Bytes> {
    exception_frame(
        "modelStreamErrorException",
        &json!({
            "message": "The model produced an error while streaming (simulated by error_after).",
            "originalStatusCode": 500,
            "originalMessage": "Simulated model failure mid-stream.",
        }),
    )
}

/// Kinds of error Bedrock answers before a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Validation,
    Throttling,
    /// `InvokeModel` / `Converse` failing in the model (`error_after`, not streaming).
    ModelError,
    /// The simulator is stopping while a request waits.
    ServiceUnavailable,
    UnknownOperation,
}

impl ErrorKind {
    fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::Throttling => StatusCode::TOO_MANY_REQUESTS,
            Self::ModelError => StatusCode::FAILED_DEPENDENCY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnknownOperation => StatusCode::NOT_FOUND,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::Throttling => "ThrottlingException",
            Self::ModelError => "ModelErrorException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }
}

/// An error answered with an HTTP status, `x-amzn-ErrorType` and `{"message"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub(crate) struct SimError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SimError {
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Validation,
            message: message.into(),
        }
    }

    pub(crate) fn throttling() -> Self {
        Self {
            kind: ErrorKind::Throttling,
            message: "Too many requests, please wait before trying again.".to_owned(),
        }
    }

    /// What a non-streaming call gets for `error_after`.
    pub(crate) fn model_error() -> Self {
        Self {
            kind: ErrorKind::ModelError,
            message: "The model produced an error (simulated by error_after).".to_owned(),
        }
    }

    pub(crate) fn service_unavailable() -> Self {
        Self {
            kind: ErrorKind::ServiceUnavailable,
            message: "The simulator is shutting down.".to_owned(),
        }
    }

    /// What `unavailable=TEXT` answers for a model id containing `TEXT`.
    pub(crate) fn model_unavailable(model_id: &str) -> Self {
        Self {
            kind: ErrorKind::ServiceUnavailable,
            message: format!(
                "The model {model_id} is unavailable right now (simulated by unavailable=)."
            ),
        }
    }

    pub(crate) fn unknown_operation() -> Self {
        Self {
            kind: ErrorKind::UnknownOperation,
            message: "The requested operation is not recognized by the simulator.".to_owned(),
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let body = json!({ "message": self.message }).to_string();
        (
            self.kind.status(),
            [
                (
                    header::CONTENT_TYPE,
                    HttpHeaderValue::from_static("application/json"),
                ),
                (
                    header::HeaderName::from_static("x-amzn-errortype"),
                    HttpHeaderValue::from_static(self.kind.name()),
                ),
            ],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header<'a>(message: &'a Message, name: &str) -> &'a str {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(StrBytes::as_str)
            .unwrap_or_else(|| panic!("no string header {name}"))
    }

    #[test]
    fn chunk_frame_round_trips() {
        let chunk = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " river"}});
        let frame = chunk_frame(&chunk).unwrap();
        let message = read_message_from(frame.as_ref()).unwrap();
        assert_eq!(header(&message, ":event-type"), "chunk");
        assert_eq!(header(&message, ":content-type"), "application/json");
        assert_eq!(header(&message, ":message-type"), "event");
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        let bytes = aws_smithy_types::base64::decode(payload["bytes"].as_str().unwrap()).unwrap();
        let decoded: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded, chunk);
    }

    #[test]
    fn event_frame_round_trips() {
        let frame = event_frame("messageStart", &json!({"role": "assistant"})).unwrap();
        let message = read_message_from(frame.as_ref()).unwrap();
        assert_eq!(header(&message, ":event-type"), "messageStart");
        assert_eq!(header(&message, ":message-type"), "event");
        assert_eq!(message.payload().as_ref(), br#"{"role":"assistant"}"#);
    }

    #[test]
    fn exception_frame_round_trips() {
        let frame = model_stream_error_frame().unwrap();
        let message = read_message_from(frame.as_ref()).unwrap();
        assert_eq!(header(&message, ":message-type"), "exception");
        assert_eq!(
            header(&message, ":exception-type"),
            "modelStreamErrorException"
        );
        assert_eq!(header(&message, ":content-type"), "application/json");
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        assert_eq!(payload["originalStatusCode"], 500);
        assert!(payload["message"].is_string());
        assert!(payload["originalMessage"].is_string());
    }

    #[test]
    fn errors_carry_status_type_and_message() {
        let response = SimError::throttling().into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ThrottlingException"
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        let response = SimError::validation("bad").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ValidationException"
        );
    }
}
