//! The Bedrock runtime API on the gateway, driven by the real
//! `aws-sdk-bedrockruntime` client with the gateway's JWT as its bearer
//! token (over plain http, which the Rust SDK allows), plus wire checks with
//! reqwest and aws-smithy-eventstream's frame reader where the SDK hides
//! what matters (headers, statuses, the `x-amzn-ErrorType` of a refusal).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::HashMap;

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, Token};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseOutput,
    ConverseStreamOutput, Message, ReasoningContentBlockDelta, ResponseStream, StopReason, Tool,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_sdk_bedrockruntime::{Client, Config};
use aws_smithy_types::{Document, Number};
use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

const FAST: &str = "rate=0 ttft_ms=0";
/// A Claude with extended thinking.
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "us.amazon.nova-lite-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";

fn config(gw: &Gateway) -> aws_sdk_bedrockruntime::config::Builder {
    Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&gw.base)
        .retry_config(RetryConfig::disabled())
}

/// The SDK with the gateway's token as its bearer token.
fn client(gw: &Gateway) -> Client {
    Client::from_conf(
        config(gw)
            .bearer_token(Token::new(gw.token.clone(), None))
            .build(),
    )
}

fn doc(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match n.as_u64() {
            Some(u) => Document::Number(Number::PosInt(u)),
            None => Document::Number(Number::Float(n.as_f64().unwrap())),
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(doc).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), doc(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// Every frame of an event-stream body: (headers, JSON payload).
fn frames(mut body: Bytes) -> Vec<(HashMap<String, String>, Value)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let m = aws_smithy_eventstream::frame::read_message_from(&mut body).expect("a frame");
        let headers = m
            .headers()
            .iter()
            .map(|h| {
                let v = h.value().as_string().map(|s| s.as_str().to_owned());
                (h.name().as_str().to_owned(), v.unwrap_or_default())
            })
            .collect();
        out.push((headers, serde_json::from_slice(m.payload()).unwrap()));
    }
    out
}

async fn post(gw: &Gateway, path: &str, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.url(path))
        .bearer_auth(&gw.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn converse_stream_with_tools_and_thinking_through_the_sdk() {
    let gw = Gateway::start().await;
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("weather")
                .input_schema(ToolInputSchema::Json(doc(&weather_schema())))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let out = client(&gw)
        .converse_stream()
        .model_id(SONNET)
        .messages(user(&format!("[[sim tool=weather think=2 {FAST}]] Oslo?")))
        .tool_config(tools)
        .additional_model_request_fields(doc(
            &json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
        ))
        .send()
        .await
        .expect("converse-stream starts");
    let mut stream = out.stream;
    let (mut reasoning, mut signature, mut input, mut tool_name) =
        (String::new(), false, String::new(), None);
    let (mut stop, mut usage) = (None, None);
    while let Some(ev) = within(std::time::Duration::from_secs(30), stream.recv())
        .await
        .expect("no stream error")
    {
        match ev {
            ConverseStreamOutput::ContentBlockStart(s) => {
                if let Some(ContentBlockStart::ToolUse(t)) = s.start {
                    tool_name = Some(t.name);
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta {
                Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(t))) => {
                    reasoning.push_str(&t)
                }
                Some(ContentBlockDelta::ReasoningContent(
                    ReasoningContentBlockDelta::Signature(_),
                )) => signature = true,
                Some(ContentBlockDelta::ToolUse(t)) => input.push_str(&t.input),
                _ => {}
            },
            ConverseStreamOutput::MessageStop(s) => stop = Some(s.stop_reason),
            ConverseStreamOutput::Metadata(m) => usage = m.usage,
            _ => {}
        }
    }
    assert!(
        !reasoning.is_empty() && signature,
        "reasoning then a signature"
    );
    assert_eq!(tool_name.as_deref(), Some("weather"));
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "sample"})
    );
    assert_eq!(stop, Some(StopReason::ToolUse));
    assert!(usage.unwrap().output_tokens > 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn invoke_stream_claude_with_a_tool_and_thinking_through_the_sdk() {
    let gw = Gateway::start().await;
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "weather", "input_schema": weather_schema(), "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": format!("[[sim tool=weather think=2 {FAST}]] Oslo?")}]
    });
    let out = client(&gw)
        .invoke_model_with_response_stream()
        .model_id(SONNET)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke stream");
    let mut stream = out.body;
    let mut events = Vec::new();
    while let Some(ev) = within(std::time::Duration::from_secs(30), stream.recv())
        .await
        .expect("no stream error")
    {
        if let ResponseStream::Chunk(p) = ev {
            events.push(serde_json::from_slice::<Value>(p.bytes.unwrap().as_ref()).unwrap());
        }
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(kinds.last(), Some(&"message_stop"));
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| &e["delta"])
        .collect();
    assert!(deltas.iter().any(|d| d["type"] == "thinking_delta"));
    assert!(deltas.iter().any(|d| d["type"] == "signature_delta"));
    let input: String = deltas
        .iter()
        .filter_map(|d| d["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "sample"})
    );
    assert!(events.iter().any(
        |e| e["content_block"]["type"] == "tool_use" && e["content_block"]["name"] == "weather"
    ));
    let stop = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(stop["delta"]["stop_reason"], "tool_use");
    let metrics = &events.last().unwrap()["amazon-bedrock-invocationMetrics"];
    assert!(
        metrics["outputTokenCount"].as_u64().unwrap() > 0,
        "{metrics}"
    );

    // Non-streaming: the Anthropic message object.
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": format!("[[sim tokens=5 {FAST}]] hi")}]}]});
    let out = client(&gw)
        .invoke_model()
        .model_id(SONNET)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke");
    let v: Value = serde_json::from_slice(out.body.as_ref()).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["stop_reason"], "end_turn");
    gw.shutdown().await;
}

#[tokio::test]
async fn converse_and_invoke_without_streaming_through_the_sdk() {
    let gw = Gateway::start().await;
    let c = client(&gw);
    let out = c
        .converse()
        .model_id(NOVA)
        .messages(user(&format!("[[sim tokens=5 {FAST}]] hi")))
        .send()
        .await
        .expect("converse");
    let Some(ConverseOutput::Message(m)) = out.output else {
        panic!("a message")
    };
    let ContentBlock::Text(text) = &m.content[0] else {
        panic!("{m:?}")
    };
    assert!(!text.is_empty());
    assert_eq!(out.stop_reason, StopReason::EndTurn);
    assert!(out.usage.unwrap().output_tokens > 0);

    // Nova's own body, answered in Nova's response shape.
    let body = json!({"schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": format!("[[sim tokens=5 {FAST}]] hi")}]}],
        "inferenceConfig": {"max_new_tokens": 100}});
    let out = c
        .invoke_model()
        .model_id(NOVA)
        .content_type("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke");
    let v: Value = serde_json::from_slice(out.body.as_ref()).unwrap();
    assert!(
        v["output"]["message"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{v}"
    );

    // A text family's body and response.
    let body = json!({"prompt": format!("[[sim tokens=5 {FAST}]] hi"), "max_gen_len": 50});
    let out = c
        .invoke_model()
        .model_id(LLAMA)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke llama");
    let v: Value = serde_json::from_slice(out.body.as_ref()).unwrap();
    assert!(
        v["generation"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert_eq!(v["stop_reason"], "stop");

    // The token counts and latency ride in headers, as Bedrock sends them.
    let resp = post(&gw, &format!("/model/{LLAMA}/invoke"), body).await;
    assert_eq!(resp.status(), 200);
    let header = |name: &str| -> u64 {
        resp.headers()[name]
            .to_str()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(header("x-amzn-bedrock-output-token-count"), 5);
    assert!(header("x-amzn-bedrock-input-token-count") > 0);
    header("x-amzn-bedrock-invocation-latency");
    gw.shutdown().await;
}

#[tokio::test]
async fn invoke_stream_nova_and_llama_chunks_through_the_sdk() {
    let gw = Gateway::start().await;
    let c = client(&gw);
    for (model, body, text_at) in [
        (
            NOVA,
            json!({"schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": format!("[[sim tokens=6 {FAST}]] hi")}]}]}),
            "/contentBlockDelta/delta/text",
        ),
        (
            LLAMA,
            json!({"prompt": format!("[[sim tokens=6 {FAST}]] hi")}),
            "/generation",
        ),
    ] {
        let out = c
            .invoke_model_with_response_stream()
            .model_id(model)
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .expect("invoke stream");
        let mut stream = out.body;
        let mut chunks = Vec::new();
        while let Some(ev) = stream.recv().await.expect("no stream error") {
            if let ResponseStream::Chunk(p) = ev {
                chunks.push(serde_json::from_slice::<Value>(p.bytes.unwrap().as_ref()).unwrap());
            }
        }
        let text: String = chunks
            .iter()
            .filter_map(|c| c.pointer(text_at).and_then(Value::as_str))
            .collect();
        assert!(!text.is_empty(), "{model}: {chunks:?}");
        let metrics = &chunks.last().unwrap()["amazon-bedrock-invocationMetrics"];
        assert!(metrics["outputTokenCount"].as_u64().unwrap() > 0, "{model}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn throttling_reaches_the_sdk_as_its_exception() {
    let gw = Gateway::with(|c| c.upstream_max_attempts = 1).await;
    let err = client(&gw)
        .converse_stream()
        .model_id(NOVA)
        .messages(user("[[sim throttle=100]] hi"))
        .send()
        .await
        .expect_err("throttled");
    let err = err.into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_failure_mid_stream_is_an_exception_frame_the_sdk_raises() {
    let gw = Gateway::start().await;
    let out = client(&gw)
        .converse_stream()
        .model_id(NOVA)
        .messages(user(&format!("[[sim error_after=3 {FAST}]] hi")))
        .send()
        .await
        .expect("starts");
    let mut stream = out.stream;
    let err = loop {
        match stream.recv().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended cleanly"),
            Err(e) => break e,
        }
    };
    let err = err.into_service_error();
    assert!(
        matches!(
            err,
            aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError::ModelStreamErrorException(_)
        ),
        "{err:?}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_model_stream_error_frame_carries_the_models_own_status_and_message() {
    let gw = Gateway::start().await;
    for (path, body) in [
        (
            format!("/model/{NOVA}/converse-stream"),
            json!({"messages": [{"role": "user", "content": [{"text": format!("[[sim error_after=2 {FAST}]] hi")}]}]}),
        ),
        (
            format!("/model/{SONNET}/invoke-with-response-stream"),
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                   "messages": [{"role": "user", "content": format!("[[sim error_after=2 {FAST}]] hi")}]}),
        ),
    ] {
        let resp = post(&gw, &path, body).await;
        assert_eq!(resp.status(), 200, "{path}");
        let frames = frames(resp.bytes().await.unwrap());
        let (headers, payload) = frames.last().unwrap();
        assert_eq!(
            headers[":exception-type"], "modelStreamErrorException",
            "{path}"
        );
        assert_eq!(payload["originalStatusCode"], 500, "{path}: {payload}");
        assert_eq!(
            payload["originalMessage"], "Simulated model failure mid-stream.",
            "{path}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn sigv4_is_refused_with_a_bearer_token_hint() {
    let gw = Gateway::start().await;
    let signed = Client::from_conf(
        config(&gw)
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "t"))
            .build(),
    );
    let err = signed
        .converse()
        .model_id(NOVA)
        .messages(user("hi"))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(401));
    let err = err.into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    let message = err.meta().message().unwrap_or_default().to_owned();
    assert!(message.contains("AWS_BEARER_TOKEN_BEDROCK"), "{message}");

    // No token at all: the same shape.
    let resp = gw
        .http
        .post(gw.url(&format!("/model/{NOVA}/converse")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-amzn-errortype"], "AccessDeniedException");
    gw.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_are_validation_exceptions() {
    let gw = Gateway::start().await;
    for (path, body) in [
        (
            format!("/model/{SONNET}/invoke-with-response-stream"),
            json!({"anthropic_version": "bedrock-2023-05-31", "messages": "hi"}),
        ),
        (
            format!("/model/{NOVA}/converse-stream"),
            json!({"messages": [{"role": "user", "content": [{"video": {}}]}]}),
        ),
        (
            "/model/acme.nope-v1/converse".to_owned(),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ),
    ] {
        let resp = post(&gw, &path, body).await;
        assert_eq!(resp.status(), 400, "{path}");
        assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
        let v: Value = resp.json().await.unwrap();
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // The SDK raises it as its own type.
    let err = client(&gw)
        .invoke_model()
        .model_id(NOVA)
        .body(Blob::new("{\"messages\": 3}"))
        .send()
        .await
        .expect_err("refused");
    assert!(err.into_service_error().is_validation_exception());
    gw.shutdown().await;
}

#[tokio::test]
async fn converse_stream_wire_and_the_session_is_watchable() {
    let gw = Gateway::start().await;
    // An ARN, percent-encoded, names the model.
    let arn = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{SONNET}")
        .replace(':', "%3A")
        .replace('/', "%2F");
    let resp = post(
        &gw,
        &format!("/model/{arn}/converse-stream"),
        json!({
            "messages": [{"role": "user", "content": [{"text": format!("[[sim tool=weather think=2 {FAST}]] Oslo?")}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": weather_schema()}}}]},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            "inferenceConfig": {"maxTokens": 2000}
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let session = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    assert_eq!(resp.headers()["x-amzn-requestid"], session.as_str());
    let frames = frames(resp.bytes().await.unwrap());
    let names: Vec<&str> = frames
        .iter()
        .map(|(h, _)| h[":event-type"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(&names[names.len() - 2..], ["messageStop", "metadata"]);
    let starts: Vec<&Value> = frames
        .iter()
        .filter(|(h, _)| h[":event-type"] == "contentBlockStart")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(starts.len(), 1, "contentBlockStart only for tool use");
    let tool_id = starts[0]["start"]["toolUse"]["toolUseId"].as_str().unwrap();

    // The same answer, attached over SSE.
    let resp = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{session}/stream")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    let events = collect_events(resp).await;
    assert_contiguous(&events, 0);
    let tool_end = events
        .iter()
        .filter_map(|e| e.data.part.as_deref())
        .find_map(|p| match p {
            spillway::parts::Part::ToolCall {
                id: Some(id),
                input: Some(input),
                ..
            } => Some((id.clone(), input.clone())),
            _ => None,
        })
        .expect("the tool call's end");
    assert_eq!(tool_end, (tool_id.to_owned(), json!({"city": "sample"})));
    assert!(events.iter().any(|e| matches!(
        e.data.part.as_deref(),
        Some(spillway::parts::Part::Reasoning { .. })
    )));
    gw.shutdown().await;
}

#[tokio::test]
async fn listings_in_bedrocks_shapes() {
    let gw = Gateway::start().await;
    let v = gw.get_json("/inference-profiles").await;
    let profiles = v["inferenceProfileSummaries"].as_array().unwrap();
    assert!(
        profiles
            .iter()
            .any(|p| p["inferenceProfileId"] == SONNET && p["status"] == "ACTIVE"),
        "{v}"
    );
    let v = gw.get_json("/foundation-models").await;
    assert!(
        v["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["modelId"] == "amazon.nova-lite-v1:0"),
        "{v}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_allow_list_holds_for_bodies_sent_as_they_came() {
    let gw = Gateway::with(|c| {
        c.allowed_models = vec![NOVA.to_owned()];
        c.default_model = NOVA.to_owned();
    })
    .await;
    let claude = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let resp = post(&gw, &format!("/model/{SONNET}/invoke"), claude).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("not allowed"),
        "{v}"
    );
    let v = gw.get_json("/inference-profiles").await;
    assert_eq!(
        v["inferenceProfileSummaries"][0]["inferenceProfileId"],
        NOVA
    );
    assert_eq!(v["inferenceProfileSummaries"].as_array().unwrap().len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_application_profile_arn_is_conversed_with_as_named() {
    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
    let gw = Gateway::with(|c| {
        c.allowed_models = vec![PROFILE.to_owned()];
        c.default_model = PROFILE.to_owned();
    })
    .await;
    // The simulator answers the opaque ARN only when it arrives whole.
    let out = client(&gw)
        .converse()
        .model_id(PROFILE)
        .messages(user(&format!("[[sim tokens=3 {FAST}]] hi")))
        .send()
        .await
        .unwrap();
    assert_eq!(out.usage.unwrap().output_tokens, 3);
    assert!(matches!(out.output, Some(ConverseOutput::Message(_))));
    // InvokeModel needs a family's body; an opaque profile names none.
    let err = client(&gw)
        .invoke_model()
        .model_id(PROFILE)
        .body(Blob::new(
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(
        format!("{err:?}").contains("SPILLWAY_PROFILE_MODELS, or call Converse"),
        "{err:?}"
    );
    gw.shutdown().await;
}

/// A profile declared in `SPILLWAY_PROFILE_MODELS` is served as its model:
/// InvokeModel with Claude's body (what Claude Code sends in Bedrock mode
/// with an application inference profile as its model), the Anthropic API
/// with Claude's body as sent, and the model's price on the answer.
#[tokio::test]
async fn a_declared_application_profile_is_served_as_its_model() {
    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/claude1";
    const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let gw = Gateway::with(|c| {
        c.profile_models =
            spillway::config::ProfileModels([(PROFILE.to_owned(), SONNET.to_owned())].into());
    })
    .await;
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": format!("[[sim tokens=3 {FAST}]] hi")}]});
    let out = client(&gw)
        .invoke_model_with_response_stream()
        .model_id(PROFILE)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .unwrap();
    let mut stream = out.body;
    let mut kinds = Vec::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ResponseStream::Chunk(chunk) = event {
            let v: Value = serde_json::from_slice(chunk.bytes.unwrap().as_ref()).unwrap();
            kinds.push(v["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("message_start"));
    assert_eq!(kinds.last().map(String::as_str), Some("message_stop"));

    // The Anthropic API takes the ARN as the model name, Claude's body as sent.
    let resp = gw
        .http
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &gw.token)
        .json(&json!({"model": PROFILE, "max_tokens": 50,
            "messages": [{"role": "user", "content": format!("[[sim tokens=2 {FAST}]] hi")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(info["model"], PROFILE);
    // Priced as the model it routes to.
    assert!(info["usage"]["costUsd"].as_f64().unwrap() > 0.0, "{info}");
    gw.shutdown().await;
}
