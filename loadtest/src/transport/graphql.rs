//! The gateway over GraphQL, `graphql-transport-ws` on `/graphql`: one
//! connection per stream, `connection_init` with the token in its payload
//! (`{"Authorization": "Bearer …"}`), then two operations on the socket —
//! the `startStream` mutation, and with its session id the
//! `onTokenReceived` subscription, read to its `complete`.
//!
//! The client side of the protocol is the handful of messages above
//! (PROTOCOL.md of github.com/enisdenjo/graphql-ws), written here on
//! tokio-tungstenite: the Rust graphql-ws client crates bring their own
//! WebSocket stacks and runtimes, and a load generator needs none of their
//! reconnection or typing.
//!
//! Time to first token is from sending the mutation (the socket is already
//! open and acknowledged), so it includes the mutation's round trip and the
//! subscribe: that is what a GraphQL client of this API waits for.

use std::borrow::Cow;
use std::net::IpAddr;

use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, header};

use super::socket::{self, Endpoint, Ws};
use super::{StreamSpec, clip};
use crate::error::Error;
use crate::record::{EventSink, Recorder, StreamRecord};
use crate::sources::Sources;

pub const PATH: &str = "/graphql";
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

const START: &str = "mutation Start($prompt: String!, $model: String, $maxTokens: Int) { \
     startStream(prompt: $prompt, model: $model, maxTokens: $maxTokens) { sessionId status error } }";
const TOKENS: &str = "subscription Tokens($sessionId: String!) { \
     onTokenReceived(sessionId: $sessionId) { seq isComplete error { code message } } }";

/// Operation ids on each socket.
const START_ID: &str = "start";
const TOKENS_ID: &str = "tokens";

pub struct GraphqlClient {
    endpoint: Endpoint,
    headers: [(HeaderName, HeaderValue); 1],
    init: String,
    model: String,
    /// Where stream `i`'s connection comes from.
    sources: Sources,
}

/// Every server message: its type and operation id.
#[derive(Debug, Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

/// A `next` message: an execution result.
#[derive(Debug, Deserialize)]
struct Next {
    payload: ExecutionResult,
}

#[derive(Debug, Deserialize)]
struct ExecutionResult {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    errors: Option<Vec<GqlError>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    start_stream: Option<StartStream>,
    #[serde(default)]
    on_token_received: Option<Token>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartStream {
    session_id: String,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Token {
    seq: u64,
    is_complete: bool,
    #[serde(default)]
    error: Option<super::ws::ErrorBody>,
}

#[derive(Debug, Deserialize)]
struct GqlError {
    #[serde(default)]
    message: String,
}

fn errors_text(errors: &[GqlError]) -> String {
    let joined = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    clip(&joined, 200).to_owned()
}

impl GraphqlClient {
    pub fn new(target: &str, token: &str, model: &str, sources: Sources) -> Result<Self, Error> {
        let init = json!({
            "type": "connection_init",
            "payload": {"Authorization": format!("Bearer {token}")},
        })
        .to_string();
        Ok(Self {
            endpoint: Endpoint::new(target, PATH)?,
            headers: [(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            )],
            init,
            model: model.to_owned(),
            sources,
        })
    }

    /// Opens a connection and waits for `connection_ack`.
    pub async fn open(&self, source: Option<IpAddr>) -> Result<Ws, String> {
        let mut ws = self.endpoint.connect(&self.headers, source).await?;
        send(&mut ws, self.init.clone()).await?;
        loop {
            let text = socket::next_text(&mut ws).await?;
            let head: Head<'_> = serde_json::from_str(&text)
                .map_err(|e| format!("not a graphql-ws message: {e}"))?;
            match head.kind.as_ref() {
                "connection_ack" => return Ok(ws),
                "ping" => send(&mut ws, r#"{"type":"pong"}"#.to_owned()).await?,
                "pong" => {}
                _ => return Err(format!("expected connection_ack, got {}", clip(&text, 200))),
            }
        }
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
        let start = json!({
            "id": START_ID,
            "type": "subscribe",
            "payload": {
                "query": START,
                "variables": {"prompt": spec.prompt, "model": self.model, "maxTokens": spec.tokens},
            },
        });
        send(ws, start.to_string()).await?;
        read_events(ws, rec, false).await
    }
}

/// Subscribes to `onTokenReceived(sessionId)` on an acknowledged connection.
pub async fn subscribe(ws: &mut Ws, session_id: &str) -> Result<(), String> {
    let subscribe = json!({
        "id": TOKENS_ID,
        "type": "subscribe",
        "payload": {"query": TOKENS, "variables": {"sessionId": session_id}},
    });
    send(ws, subscribe.to_string()).await
}

/// Reads the socket's operations to the subscription's `complete`, handing
/// each token event to `sink`; answers `startStream` by subscribing to its
/// session. `subscribed`: the subscription was sent already.
pub async fn read_events(
    ws: &mut Ws,
    sink: &mut impl EventSink,
    subscribed: bool,
) -> Result<(), String> {
    let mut session = subscribed;
    let mut finished = false;
    loop {
        let text = socket::next_text(ws).await.map_err(|e| {
            let when = if session {
                "before the final event"
            } else {
                "before startStream answered"
            };
            format!("{e} {when}")
        })?;
        let at = Instant::now();
        let head: Head<'_> = serde_json::from_str(&text)
            .map_err(|e| format!("not a graphql-ws message: {e}: {}", clip(&text, 200)))?;
        let id = head.id.as_deref();
        match (head.kind.as_ref(), id) {
            ("next", Some(TOKENS_ID)) => {
                let next: Next = serde_json::from_str(&text)
                    .map_err(|e| format!("bad onTokenReceived result: {e}"))?;
                if let Some(errors) = next.payload.errors.filter(|e| !e.is_empty()) {
                    return Err(format!("onTokenReceived: {}", errors_text(&errors)));
                }
                let Some(token) = next.payload.data.and_then(|d| d.on_token_received) else {
                    continue;
                };
                sink.event(token.seq, at, token.is_complete);
                if !token.is_complete {
                    continue;
                }
                finished = true;
                if let Some(e) = token.error {
                    return Err(format!("error event {}: {}", e.code, clip(&e.message, 200)));
                }
            }
            ("complete", Some(TOKENS_ID)) => {
                return if finished {
                    Ok(())
                } else {
                    Err("onTokenReceived completed before the final event".into())
                };
            }
            ("next", Some(START_ID)) => {
                let next: Next = serde_json::from_str(&text)
                    .map_err(|e| format!("bad startStream result: {e}"))?;
                if let Some(errors) = next.payload.errors.filter(|e| !e.is_empty()) {
                    return Err(format!("startStream: {}", errors_text(&errors)));
                }
                let started = next
                    .payload
                    .data
                    .and_then(|d| d.start_stream)
                    .ok_or("startStream returned no data")?;
                if let Some(e) = started.error {
                    return Err(format!("startStream: {}", clip(&e, 200)));
                }
                subscribe(ws, &started.session_id).await?;
                session = true;
            }
            ("error", _) => {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                let errors: Vec<GqlError> =
                    serde_json::from_value(v["payload"].clone()).unwrap_or_default();
                return Err(format!(
                    "{} failed: {}",
                    id.unwrap_or("operation"),
                    errors_text(&errors)
                ));
            }
            ("ping", _) => send(ws, r#"{"type":"pong"}"#.to_owned()).await?,
            _ => {} // pong, the mutation's complete
        }
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("sending failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_results() {
        let text = r#"{"id":"tokens","type":"next","payload":{"data":{"onTokenReceived":{"seq":3,"isComplete":false,"error":null}}}}"#;
        let head: Head<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(
            (head.kind.as_ref(), head.id.as_deref()),
            ("next", Some("tokens"))
        );
        let next: Next = serde_json::from_str(text).unwrap();
        let t = next.payload.data.unwrap().on_token_received.unwrap();
        assert_eq!((t.seq, t.is_complete), (3, false));
    }

    #[test]
    fn parses_start_results_and_errors() {
        let text = r#"{"id":"start","type":"next","payload":{"data":{"startStream":{"sessionId":"s1","status":"streaming","error":null}}}}"#;
        let next: Next = serde_json::from_str(text).unwrap();
        assert_eq!(
            next.payload.data.unwrap().start_stream.unwrap().session_id,
            "s1"
        );
        let text = r#"{"id":"start","type":"next","payload":{"data":null,"errors":[{"message":"unknown model"}]}}"#;
        let next: Next = serde_json::from_str(text).unwrap();
        assert_eq!(errors_text(&next.payload.errors.unwrap()), "unknown model");
    }
}
