//! Bedrock's event-stream wire format: `event` frames (Converse events,
//! InvokeModel `chunk`s) and `exception` frames, encoded with
//! aws-smithy-eventstream (its CRCs, its header encoding), and the headers
//! of a streamed answer.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue as HttpHeaderValue, header};
use axum::response::Response;
use futures_util::Stream;
use serde_json::{Value, json};

use crate::http::stream_headers;

/// Response `content-type` of a stream.
const EVENTSTREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn string(value: &str) -> HeaderValue {
    HeaderValue::String(StrBytes::from(value.to_owned()))
}

/// A message as bytes. Encoding fails only for headers or payloads past the
/// format's limits (16 MB); such a frame is dropped and logged.
fn encode(message: &Message) -> Bytes {
    let mut buffer = Vec::with_capacity(message.payload().len() + 96);
    match write_message_to(message, &mut buffer) {
        Ok(()) => Bytes::from(buffer),
        Err(e) => {
            tracing::warn!(error = %e, "event-stream frame not encoded");
            Bytes::new()
        }
    }
}

/// One `:message-type: event` frame with a JSON payload.
pub fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    let payload = serde_json::to_vec(payload).unwrap_or_default();
    encode(&Message::new_from_parts(
        vec![
            Header::new(":event-type", string(event_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        payload,
    ))
}

/// One InvokeModel `chunk` frame: the model's chunk JSON, base64-encoded.
pub fn chunk_frame(chunk: &Value) -> Bytes {
    let raw = serde_json::to_vec(chunk).unwrap_or_default();
    event_frame(
        "chunk",
        &json!({ "bytes": aws_smithy_types::base64::encode(raw) }),
    )
}

/// One `:message-type: exception` frame, payload `{"message"}`, plus
/// `originalStatusCode` and `originalMessage` (a `modelStreamErrorException`'s
/// model status and message) when known.
pub fn exception_frame(
    exception_type: &str,
    message: &str,
    original_status_code: Option<i32>,
    original_message: Option<&str>,
) -> Bytes {
    let mut payload = json!({ "message": message });
    if let Some(code) = original_status_code {
        payload["originalStatusCode"] = json!(code);
    }
    if let Some(m) = original_message {
        payload["originalMessage"] = json!(m);
    }
    let payload = serde_json::to_vec(&payload).unwrap_or_default();
    encode(&Message::new_from_parts(
        vec![
            Header::new(":exception-type", string(exception_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("exception")),
        ],
        payload,
    ))
}

/// A `200` streaming `frames`, with Bedrock's headers and the session id.
pub fn stream_response<S>(frames: S, session_id: &str) -> Response
where
    S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut res = Response::new(Body::from_stream(frames));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HttpHeaderValue::from_static(EVENTSTREAM_CONTENT_TYPE),
    );
    h.insert(
        "x-amzn-bedrock-content-type",
        HttpHeaderValue::from_static("application/json"),
    );
    stream_headers(&mut res, session_id);
    res
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::read_message_from;

    use super::*;

    fn header<'a>(m: &'a Message, name: &str) -> &'a str {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn frames_read_back() {
        let mut bytes = chunk_frame(&json!({"type": "ping"}));
        let m = read_message_from(&mut bytes).unwrap();
        assert_eq!(header(&m, ":event-type"), "chunk");
        assert_eq!(header(&m, ":message-type"), "event");
        let payload: Value = serde_json::from_slice(m.payload()).unwrap();
        let raw = aws_smithy_types::base64::decode(payload["bytes"].as_str().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&raw).unwrap(),
            json!({"type": "ping"})
        );

        let mut bytes = exception_frame("throttlingException", "slow down", None, None);
        let m = read_message_from(&mut bytes).unwrap();
        assert_eq!(header(&m, ":message-type"), "exception");
        assert_eq!(header(&m, ":exception-type"), "throttlingException");
        assert_eq!(
            serde_json::from_slice::<Value>(m.payload()).unwrap(),
            json!({"message": "slow down"})
        );
        let mut bytes = exception_frame(
            "modelStreamErrorException",
            "the model failed",
            Some(500),
            Some("overloaded"),
        );
        let m = read_message_from(&mut bytes).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(m.payload()).unwrap(),
            json!({"message": "the model failed", "originalStatusCode": 500, "originalMessage": "overloaded"})
        );
    }
}
