//! `InvokeModelWithResponseStream` through the real `aws-sdk-bedrockruntime`
//! (configured as the gateway configures it for the simulator), with an
//! Anthropic Claude body: the baseline, straight to the simulator with
//! dummy SigV4 credentials, and `--transport bedrock`, the same client
//! against the gateway's Bedrock runtime API
//! (`POST /model/{id}/invoke-with-response-stream`) with the JWT as its
//! bearer token.

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig, Token,
};
use aws_sdk_bedrockruntime::error::DisplayErrorContext;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::ResponseStream;
use serde_json::{Value, json};
use spillway::upstream::models::ModelFamily;
use tokio::time::Instant;

use super::StreamSpec;
use crate::error::Error;
use crate::record::{Recorder, StreamRecord};

pub struct BedrockClient {
    client: aws_sdk_bedrockruntime::Client,
    model: String,
}

/// How the client authenticates.
enum Auth<'a> {
    /// SigV4 with dummy credentials (the simulator checks none).
    Dummy,
    /// The gateway's JWT as the bearer token (`Authorization: Bearer`).
    Bearer(&'a str),
}

impl BedrockClient {
    /// The simulator at `endpoint`: fixed region, dummy credentials, no
    /// retries (a throttle should show, not hide in a backoff).
    pub fn new(endpoint: &str, model: &str) -> Result<Self, Error> {
        if !is_claude(model) {
            return Err(Error::BaselineModel(model.to_owned()));
        }
        Ok(Self::build(endpoint, model, Auth::Dummy))
    }

    /// The gateway at `endpoint` (`--transport bedrock`): the same client
    /// as [`BedrockClient::new`], with `token` as its bearer token instead
    /// of SigV4 credentials.
    pub fn gateway(endpoint: &str, token: &str, model: &str) -> Result<Self, Error> {
        if !is_claude(model) {
            return Err(Error::Unsupported(format!(
                "--transport bedrock sends Anthropic Claude request bodies; --model {model} is not a Claude model"
            )));
        }
        if token.is_empty() {
            return Err(Error::Unsupported(
                "--transport bedrock needs a --token (its bearer token)".into(),
            ));
        }
        Ok(Self::build(endpoint, model, Auth::Bearer(token)))
    }

    fn build(endpoint: &str, model: &str, auth: Auth<'_>) -> Self {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint.trim_end_matches('/'))
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        let config = match auth {
            Auth::Dummy => config.credentials_provider(Credentials::new(
                "sim",
                "sim",
                None,
                None,
                "spillway-loadtest",
            )),
            Auth::Bearer(token) => config.bearer_token(Token::new(token.to_owned(), None)),
        };
        Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config.build()),
            model: model.to_owned(),
        }
    }

    pub async fn run(&self, spec: &StreamSpec) -> StreamRecord {
        let mut rec = Recorder::start();
        if let Some(deltas) = spec.expected_call() {
            rec.expect_tool_call(deltas);
        }
        let outcome = self.read(spec, &mut rec).await;
        rec.finish(outcome)
    }

    async fn read(&self, spec: &StreamSpec, rec: &mut Recorder) -> Result<(), String> {
        let mut body = json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": spec.tokens,
            "messages": [{"role": "user", "content": spec.prompt}],
        });
        if let Some(tool) = &spec.tool {
            body["tools"] = json!([{"name": crate::tool::TOOL_NAME, "input_schema": tool.schema}]);
        }
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let output = self
            .client
            .invoke_model_with_response_stream()
            .model_id(&self.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(|e| format!("invoke failed: {}", DisplayErrorContext(&e)))?;
        let mut stream = output.body;
        let mut stopped = false;
        let mut blocks = ChunkKinds::default();
        loop {
            match stream.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let at = Instant::now();
                    let bytes = part.bytes().map(|b| b.as_ref()).unwrap_or_default();
                    let chunk: Value = serde_json::from_slice(bytes)
                        .map_err(|e| format!("chunk is not JSON: {e}"))?;
                    match blocks.kind(&chunk) {
                        Some(ChunkKind::Delta) => rec.token(at),
                        Some(ChunkKind::Marker) => rec.marker(at),
                        Some(ChunkKind::Stop) => {
                            rec.other();
                            stopped = true;
                        }
                        None => {}
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) if stopped => return Ok(()),
                Ok(None) => return Err("the stream ended before message_stop".into()),
                Err(e) => return Err(format!("stream failed: {}", DisplayErrorContext(&e))),
            }
        }
    }
}

fn is_claude(model: &str) -> bool {
    ModelFamily::from_model_id(model) == Some(ModelFamily::AnthropicClaude)
}

/// What a Claude stream chunk counts as, set against the gateway's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkKind {
    /// `content_block_delta`: a text token or a piece of tool input (the
    /// gateway's `token` event, or its `tool` event with `inputDelta`).
    Delta,
    /// A `tool_use` block's `content_block_start` or `content_block_stop`
    /// (the gateway's `tool` start and end events). A text block's start
    /// and stop make no gateway event and are not counted.
    Marker,
    /// `message_stop` (the gateway's final event).
    Stop,
}

/// Classifies a stream's chunks; remembers whether the open block is a tool call.
#[derive(Debug, Default)]
struct ChunkKinds {
    in_tool: bool,
}

impl ChunkKinds {
    fn kind(&mut self, chunk: &Value) -> Option<ChunkKind> {
        match chunk.get("type").and_then(Value::as_str)? {
            "content_block_delta" => Some(ChunkKind::Delta),
            "content_block_start" => {
                self.in_tool = chunk.pointer("/content_block/type").and_then(Value::as_str)
                    == Some("tool_use");
                self.in_tool.then_some(ChunkKind::Marker)
            }
            "content_block_stop" => std::mem::take(&mut self.in_tool).then_some(ChunkKind::Marker),
            "message_stop" => Some(ChunkKind::Stop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_blocks_start_and_stop_count_and_a_text_blocks_do_not() {
        let mut kinds = ChunkKinds::default();
        let stream = [
            json!({"type": "message_start", "message": {}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
            json!({"type": "message_stop"}),
        ];
        let got: Vec<_> = stream.iter().map(|c| kinds.kind(c)).collect();
        use ChunkKind::{Delta, Marker, Stop};
        assert_eq!(
            got,
            [
                None,
                None,
                Some(Delta),
                None,
                Some(Marker),
                Some(Delta),
                Some(Marker),
                None,
                Some(Stop)
            ]
        );
    }
}
