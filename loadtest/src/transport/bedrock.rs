//! The baseline: the simulator's `InvokeModelWithResponseStream`, through
//! the real `aws-sdk-bedrockruntime` (configured as the gateway configures it
//! for the simulator), with an Anthropic Claude body.

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
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

impl BedrockClient {
    /// The simulator at `endpoint`: fixed region, dummy credentials, no
    /// retries (a throttle should show, not hide in a backoff).
    pub fn new(endpoint: &str, model: &str) -> Result<Self, Error> {
        if ModelFamily::from_model_id(model) != Some(ModelFamily::AnthropicClaude) {
            return Err(Error::BaselineModel(model.to_owned()));
        }
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint.trim_end_matches('/'))
            .credentials_provider(Credentials::new(
                "sim",
                "sim",
                None,
                None,
                "spillway-loadtest",
            ))
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Ok(Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config),
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
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": spec.tokens,
            "messages": [{"role": "user", "content": spec.prompt}],
        });
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
        loop {
            match stream.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let at = Instant::now();
                    let bytes = part.bytes().map(|b| b.as_ref()).unwrap_or_default();
                    let chunk: Value = serde_json::from_slice(bytes)
                        .map_err(|e| format!("chunk is not JSON: {e}"))?;
                    match chunk.get("type").and_then(Value::as_str) {
                        Some("content_block_delta") => rec.token(at),
                        Some("message_stop") => {
                            rec.other();
                            stopped = true;
                        }
                        _ => {}
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
