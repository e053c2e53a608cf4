//! The gateway over Server-Sent Events: `POST /v1/stream`, read with
//! reqwest and `eventsource-stream`; also `GET /v1/sessions/{id}/stream`,
//! the attach of another reader (fan-out, relay).

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::json;
use spillway::event::TokenEvent;
use spillway::parts::Part;
use tokio::time::{Instant, sleep};

use super::{StreamSpec, clip};
use crate::error::Error;
use crate::record::{EventSink, Recorder, StreamRecord};
use crate::sources::{Sources, round_robin};

/// How long an attach keeps retrying a 404 (the session's registry record
/// may not have reached the shared registry yet).
const ATTACH_PATIENCE: Duration = Duration::from_secs(5);
const ATTACH_RETRY: Duration = Duration::from_millis(20);

pub struct SseClient {
    /// One per source address; stream `i` uses `http[i % len]`.
    http: Vec<reqwest::Client>,
    url: String,
    token: String,
    model: String,
}

impl SseClient {
    /// `http2`: HTTP/2 with prior knowledge on that many connections
    /// (else HTTP/1.1, a connection per stream in flight).
    pub fn new(
        target: &str,
        token: &str,
        model: &str,
        sources: &Sources,
        http2: Option<u64>,
    ) -> Result<Self, Error> {
        Ok(Self {
            http: match http2 {
                Some(n) => sources.http2_clients(n)?,
                None => sources.http_clients()?,
            },
            url: format!("{}/v1/stream", target.trim_end_matches('/')),
            token: token.to_owned(),
            model: model.to_owned(),
        })
    }

    pub async fn run(&self, spec: &StreamSpec) -> StreamRecord {
        let mut rec = Recorder::start();
        let outcome = self.read(spec, &mut rec).await;
        rec.finish(outcome)
    }

    async fn read(&self, spec: &StreamSpec, rec: &mut Recorder) -> Result<(), String> {
        let http = round_robin(&self.http, spec.index).ok_or("no HTTP client")?;
        if let Some(deltas) = spec.expected_call() {
            rec.expect_tool_call(deltas);
        }
        let response = start(http, &self.url, &self.token, &self.model, spec).await?;
        read_events(response, rec).await
    }
}

/// `POST /v1/stream` at `url`: the response, once its headers came.
pub async fn start(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    model: &str,
    spec: &StreamSpec,
) -> Result<reqwest::Response, String> {
    let mut body = json!({"prompt": spec.prompt, "model": model, "maxTokens": spec.tokens});
    if let Some(tool) = &spec.tool {
        body["tools"] = json!([{"name": crate::tool::TOOL_NAME, "inputSchema": tool.schema}]);
    }
    let response = http
        .post(url)
        .bearer_auth(token)
        .header(ACCEPT, "text/event-stream")
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {}", clip(&text, 200)));
    }
    Ok(response)
}

/// The session id a stream's response names.
pub fn session_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `GET {base}/v1/sessions/{id}/stream`, retrying a 404 for a while: the
/// response, once its headers came.
pub async fn attach(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<reqwest::Response, String> {
    let url = format!("{base}/v1/sessions/{id}/stream");
    let deadline = Instant::now() + ATTACH_PATIENCE;
    loop {
        let resp = http
            .get(&url)
            .bearer_auth(token)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) if r.status() == StatusCode::NOT_FOUND && Instant::now() < deadline => {
                sleep(ATTACH_RETRY).await;
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                return Err(format!("attach: HTTP {status}: {}", clip(&text, 200)));
            }
            Err(e) => return Err(format!("attach failed: {e}")),
        }
    }
}

/// Reads an SSE response to its final event, handing each to `sink`: a
/// tool call's start and end (`tool` events without `inputDelta`) as
/// markers, every other event (text, input deltas, the final one) as such.
pub async fn read_events(
    response: reqwest::Response,
    sink: &mut impl EventSink,
) -> Result<(), String> {
    let mut events = response.bytes_stream().eventsource();
    while let Some(item) = events.next().await {
        let at = Instant::now();
        let event = item.map_err(|e| format!("SSE stream broke: {e}"))?;
        let token: TokenEvent =
            serde_json::from_str(&event.data).map_err(|e| format!("not a TokenEvent: {e}"))?;
        if is_marker(&token) {
            sink.marker(token.seq, at);
        } else {
            sink.event(token.seq, at, token.is_complete);
        }
        if token.is_complete {
            return match token.error {
                None => Ok(()),
                Some(e) => Err(format!("error event {}: {}", e.code, clip(&e.message, 200))),
            };
        }
    }
    Err("the stream ended before its final event".into())
}

/// A content event that is not a delta: a tool call's start or end.
fn is_marker(event: &TokenEvent) -> bool {
    matches!(
        event.part.as_deref(),
        Some(Part::ToolCall {
            input_delta: None,
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(part: serde_json::Value) -> TokenEvent {
        serde_json::from_value(json!({
            "sessionId": "s", "seq": 1, "token": "", "isComplete": false,
            "timestamp": "t", "part": part,
        }))
        .unwrap()
    }

    #[test]
    fn a_tool_calls_start_and_end_are_markers_and_its_deltas_are_not() {
        let start = json!({"type": "toolCall", "index": 0, "id": "t1", "name": "f"});
        let delta = json!({"type": "toolCall", "index": 0, "inputDelta": "{\"p0\":"});
        let end = json!({"type": "toolCall", "index": 0, "id": "t1", "name": "f", "input": {}});
        assert!(is_marker(&event(start)));
        assert!(!is_marker(&event(delta)));
        assert!(is_marker(&event(end)));
        let mut text = event(json!(null));
        text.token = " river".into();
        assert!(!is_marker(&text));
        assert!(!is_marker(&event(
            json!({"type": "reasoning", "index": 0, "text": "hm"})
        )));
    }
}
