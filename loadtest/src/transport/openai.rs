//! OpenAI's Chat Completions API, streamed: `POST {target}/v1/chat/completions`
//! with `stream: true` and `stream_options.include_usage`, read with reqwest
//! and `eventsource-stream` — the same client against Spillway's drop-in
//! route or any other gateway that speaks it (LiteLLM's proxy, for the
//! side-by-side in `run-litellm.sh`).
//!
//! A token is a chunk whose `choices[0].delta.content` is a non-empty
//! string (the role chunk's `""` is not one); the stream ends at
//! `data: [DONE]`. The chunks carry no `seq` and the simulator's text is
//! not numbered, so events are not checked one by one for loss or
//! duplication: instead a stream must bring exactly as many content chunks
//! as the directive asked for (`tokens=`), or it fails.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{StreamSpec, clip};
use crate::error::Error;
use crate::record::{Recorder, StreamRecord};
use crate::sources::{Sources, round_robin};

pub struct OpenAiClient {
    /// One per source address; stream `i` uses `http[i % len]`.
    http: Vec<reqwest::Client>,
    url: String,
    token: String,
    model: String,
}

impl OpenAiClient {
    pub fn new(target: &str, token: &str, model: &str, sources: &Sources) -> Result<Self, Error> {
        Ok(Self {
            http: sources.http_clients()?,
            url: format!("{}/v1/chat/completions", target.trim_end_matches('/')),
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
        let body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": spec.prompt}],
            "max_tokens": spec.tokens,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let response = http
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
        let mut tokens = 0u64;
        while let Some(item) = events.next().await {
            let at = Instant::now();
            let event = item.map_err(|e| format!("SSE stream broke: {e}"))?;
            match classify(&event.data)? {
                Chunk::Content => {
                    tokens += 1;
                    rec.token(at);
                }
                Chunk::Other => {}
                Chunk::Done => {
                    rec.other();
                    return expect_tokens(u64::from(spec.tokens), tokens);
                }
            }
        }
        Err("the stream ended before data: [DONE]".into())
    }
}

/// A stream must bring as many content chunks as the directive asked for:
/// fewer means some were lost, more that some came twice.
fn expect_tokens(want: u64, got: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "expected {want} content chunks, got {got} (lost or duplicated)"
        ))
    }
}

/// What one `data:` payload of a chat completion stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// `choices[0].delta.content` is a non-empty string: a token.
    Content,
    /// Any other chunk: the role, the `finish_reason`, the usage.
    Other,
    /// `[DONE]`: the end of the stream.
    Done,
}

/// Classifies a payload; an `error` object (a gateway's mid-stream error)
/// or a payload that is not JSON fails the stream.
fn classify(data: &str) -> Result<Chunk, String> {
    if data.trim() == "[DONE]" {
        return Ok(Chunk::Done);
    }
    let chunk: Value = serde_json::from_str(data).map_err(|e| format!("chunk is not JSON: {e}"))?;
    if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
        return Err(format!("error chunk: {}", clip(&error.to_string(), 200)));
    }
    let content = chunk
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str);
    Ok(match content {
        Some(text) if !text.is_empty() => Chunk::Content,
        _ => Chunk::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_chunks_are_tokens_and_done_ends() {
        let role =
            r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
        let token =
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":" river"}}],"usage":null}"#;
        let finish = r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        let usage = r#"{"id":"c","choices":[],"usage":{"completion_tokens":3}}"#;
        let null_content = r#"{"choices":[{"index":0,"delta":{"content":null}}]}"#;
        assert_eq!(classify(role), Ok(Chunk::Other));
        assert_eq!(classify(token), Ok(Chunk::Content));
        assert_eq!(classify(finish), Ok(Chunk::Other));
        assert_eq!(classify(usage), Ok(Chunk::Other));
        assert_eq!(classify(null_content), Ok(Chunk::Other));
        assert_eq!(classify("[DONE]"), Ok(Chunk::Done));
    }

    #[test]
    fn a_stream_with_too_few_or_too_many_tokens_fails() {
        assert_eq!(expect_tokens(4, 4), Ok(()));
        assert!(expect_tokens(4, 3).unwrap_err().contains("got 3"));
        assert!(expect_tokens(4, 5).is_err());
    }

    #[test]
    fn an_error_chunk_or_garbage_fails_the_stream() {
        let err = classify(r#"{"error":{"message":"throttled","type":"rate_limit"}}"#).unwrap_err();
        assert!(err.contains("throttled"), "{err}");
        assert!(classify("not json").is_err());
        assert_eq!(
            classify(r#"{"error":null,"choices":[{"delta":{"content":"a"}}]}"#),
            Ok(Chunk::Content)
        );
    }
}
