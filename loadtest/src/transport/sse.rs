//! The gateway over Server-Sent Events: `POST /v1/stream`, read with
//! reqwest and `eventsource-stream`.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::header::ACCEPT;
use serde_json::json;
use spillway::event::TokenEvent;
use tokio::time::Instant;

use super::{StreamSpec, clip};
use crate::error::Error;
use crate::record::{Recorder, StreamRecord};

pub struct SseClient {
    http: reqwest::Client,
    url: String,
    token: String,
    model: String,
}

impl SseClient {
    pub fn new(target: &str, token: &str, model: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
        Ok(Self {
            http,
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
        let body = json!({
            "prompt": spec.prompt,
            "model": self.model,
            "maxTokens": spec.tokens,
        });
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
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
        let mut events = response.bytes_stream().eventsource();
        while let Some(item) = events.next().await {
            let at = Instant::now();
            let event = item.map_err(|e| format!("SSE stream broke: {e}"))?;
            let token: TokenEvent =
                serde_json::from_str(&event.data).map_err(|e| format!("not a TokenEvent: {e}"))?;
            rec.seq(token.seq);
            if !token.is_complete {
                rec.token(at);
                continue;
            }
            rec.other();
            return match token.error {
                None => Ok(()),
                Some(e) => Err(format!("error event {}: {}", e.code, clip(&e.message, 200))),
            };
        }
        Err("the stream ended before its final event".into())
    }
}
