//! The gateway over its WebSocket protocol, `GET /v1/ws`: one connection
//! per stream (authenticated at the upgrade with `Authorization`), the
//! `{"type":"connected"}` greeting, then one `stream` action and its
//! `started`, `token`…, `done` / `error` messages.
//!
//! The connection is opened before the clock starts: time to first token is
//! from sending the `stream` action, as a client holding a socket sees it;
//! the set-up (TCP, upgrade, JWT check, greeting) is recorded apart.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use super::socket::{self, Endpoint, Ws};
use super::{StreamSpec, clip};
use crate::error::Error;
use crate::record::{EventSink, Recorder, StreamRecord};
use crate::sources::Sources;

/// The gateway's WebSocket route.
pub const PATH: &str = "/v1/ws";

pub struct WsClient {
    endpoint: Endpoint,
    auth: (HeaderName, HeaderValue),
    model: String,
    /// Where stream `i`'s connection comes from.
    sources: Sources,
}

/// The fields of a server message the load generator looks at; the rest
/// (`token`, `timestamp`, …) are skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl WsClient {
    pub fn new(target: &str, token: &str, model: &str, sources: Sources) -> Result<Self, Error> {
        Ok(Self {
            endpoint: Endpoint::new(target, PATH)?,
            auth: socket::bearer(token)?,
            model: model.to_owned(),
            sources,
        })
    }

    /// Opens a connection and waits for the gateway's `connected` message.
    pub async fn open(&self, source: Option<IpAddr>) -> Result<Ws, String> {
        let mut ws = self
            .endpoint
            .connect(std::slice::from_ref(&self.auth), source)
            .await?;
        let first = socket::next_text(&mut ws).await?;
        let msg: ServerMessage<'_> = serde_json::from_str(&first)
            .map_err(|e| format!("greeting is not a server message: {e}"))?;
        if msg.kind != "connected" {
            return Err(format!(
                "expected a connected message, got {}",
                clip(&first, 200)
            ));
        }
        Ok(ws)
    }

    pub async fn run(&self, spec: &StreamSpec) -> StreamRecord {
        let opening = Instant::now();
        let mut ws = match self.open(self.sources.pick(spec.index)).await {
            Ok(ws) => ws,
            Err(e) => return StreamRecord::failed(opening, e),
        };
        let mut rec = Recorder::start();
        rec.connected(opening.elapsed());
        let outcome = self.read(spec, &mut ws, &mut rec).await;
        socket::close(ws).await;
        rec.finish(outcome)
    }

    async fn read(&self, spec: &StreamSpec, ws: &mut Ws, rec: &mut Recorder) -> Result<(), String> {
        let action = json!({
            "action": "stream",
            "requestId": spec.index,
            "prompt": spec.prompt,
            "model": self.model,
            "maxTokens": spec.tokens,
        });
        send(ws, action.to_string(), "the stream action").await?;
        read_events(ws, rec).await
    }
}

/// Sends `{"action":"subscribe","sessionId":…}` on an open connection.
pub async fn subscribe(ws: &mut Ws, session_id: &str, request_id: u64) -> Result<(), String> {
    let action = json!({"action": "subscribe", "sessionId": session_id, "requestId": request_id});
    send(ws, action.to_string(), "the subscribe action").await
}

async fn send(ws: &mut Ws, text: String, what: &str) -> Result<(), String> {
    use futures_util::SinkExt;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("sending {what} failed: {e}"))
}

/// Reads one stream's (or subscription's) messages to its final event,
/// handing each event to `sink`.
pub async fn read_events(ws: &mut Ws, sink: &mut impl EventSink) -> Result<(), String> {
    loop {
        let text = socket::next_text(ws)
            .await
            .map_err(|e| format!("{e} before the final event"))?;
        let at = Instant::now();
        let msg: ServerMessage<'_> = serde_json::from_str(&text)
            .map_err(|e| format!("not a server message: {e}: {}", clip(&text, 200)))?;
        match (msg.kind.as_ref(), msg.seq) {
            ("token", Some(seq)) => sink.event(seq, at, false),
            ("done", Some(seq)) => {
                sink.event(seq, at, true);
                return Ok(());
            }
            ("error", seq) => {
                // A final log event has a seq; a refused request has none.
                if let Some(seq) = seq {
                    sink.event(seq, at, true);
                }
                let (code, message) = msg.error.map(|e| (e.code, e.message)).unwrap_or_default();
                let what = if seq.is_some() {
                    "error event"
                } else {
                    "refused"
                };
                return Err(format!("{what} {code}: {}", clip(&message, 200)));
            }
            ("token" | "done", None) => {
                return Err(format!("an event without seq: {}", clip(&text, 200)));
            }
            _ => {} // started, pong, …
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_it_needs() {
        let m: ServerMessage<'_> = serde_json::from_str(
            r#"{"type":"token","requestId":3,"sessionId":"s","seq":4,"token":"hi","isComplete":false,"timestamp":"t"}"#,
        )
        .unwrap();
        assert_eq!((m.kind.as_ref(), m.seq), ("token", Some(4)));
        let m: ServerMessage<'_> = serde_json::from_str(
            r#"{"type":"error","error":{"code":"throttled","message":"slow down"},"requestId":1}"#,
        )
        .unwrap();
        assert_eq!(m.seq, None);
        assert_eq!(m.error.unwrap().code, "throttled");
        let m: ServerMessage<'_> =
            serde_json::from_str(r#"{"type":"connected","connectionId":"c"}"#).unwrap();
        assert_eq!(m.kind, "connected");
    }
}
