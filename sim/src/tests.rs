//! End-to-end tests: the real `aws-sdk-bedrockruntime` (and raw HTTP) against the simulator.

use std::time::Duration;

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::operation::invoke_model_with_response_stream::InvokeModelWithResponseStreamError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::ResponseStreamError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, ResponseStream, StopReason,
};
use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::Message as Frame;
use bytes::{Buf, Bytes};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{SimState, SimStats, serve};

mod cache;
mod guardrails;
mod listing;
mod parts;
mod routing;
mod whole;

struct Sim {
    url: String,
    state: SimState,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Sim {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = SimState::new();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
        Self {
            url,
            state,
            shutdown,
            task,
        }
    }

    fn sdk(&self) -> aws_sdk_bedrockruntime::Client {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(
                "AKIDSIMTEST",
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_bedrockruntime::Client::from_conf(config)
    }

    fn invoke_url(&self, model: &str) -> String {
        format!("{}/model/{model}/invoke-with-response-stream", self.url)
    }

    /// Waits (briefly) until the counters satisfy `done`.
    async fn stats_until(&self, done: impl Fn(&SimStats) -> bool) -> SimStats {
        for _ in 0..200 {
            let stats = self.state.stats();
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.state.stats()
    }
}

const CLAUDE: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

fn claude_body(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    })
}

/// Invokes through the SDK; returns the decoded chunks and how the stream ended.
async fn invoke(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: &Value,
) -> (Vec<Value>, Result<(), String>) {
    let output = client
        .invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{model}: {e:?}"));
    let mut stream = output.body;
    let mut chunks = Vec::new();
    loop {
        match stream.recv().await {
            Ok(Some(ResponseStream::Chunk(part))) => {
                let bytes = part.bytes().unwrap().as_ref();
                chunks.push(serde_json::from_slice(bytes).unwrap());
            }
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) => return (chunks, Ok(())),
            Err(SdkError::ServiceError(e)) => match e.err() {
                ResponseStreamError::ModelStreamErrorException(e) => {
                    return (chunks, Err(format!("modelStreamErrorException: {e}")));
                }
                other => panic!("unexpected service error {other:?}"),
            },
            Err(other) => return (chunks, Err(format!("transport: {other:?}"))),
        }
    }
}

type TextOf = fn(&Value) -> Option<&str>;

#[tokio::test]
async fn sdk_decodes_every_family() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let prompt = "Tell me about rivers. [[sim tokens=6 rate=0 ttft_ms=0]]";
    let cases: Vec<(&str, Value, TextOf)> = vec![
        (CLAUDE, claude_body(prompt, 100), |c| {
            (c["type"] == "content_block_delta")
                .then(|| c["delta"]["text"].as_str())
                .flatten()
        }),
        (
            "us.amazon.nova-lite-v1:0",
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": prompt}]}],
                   "inferenceConfig": {"max_new_tokens": 100}}),
            |c| c["contentBlockDelta"]["delta"]["text"].as_str(),
        ),
        (
            "amazon.titan-text-express-v1",
            json!({"inputText": prompt, "textGenerationConfig": {"maxTokenCount": 100}}),
            |c| c["outputText"].as_str(),
        ),
        (
            "meta.llama3-1-8b-instruct-v1:0",
            json!({"prompt": prompt, "max_gen_len": 100}),
            |c| c["generation"].as_str(),
        ),
        (
            "mistral.mistral-large-2407-v1:0",
            json!({"prompt": prompt, "max_tokens": 100}),
            |c| c["outputs"][0]["text"].as_str(),
        ),
        (
            "cohere.command-r-plus-v1:0",
            json!({"message": prompt, "max_tokens": 100}),
            |c| {
                (c["event_type"] == "text-generation")
                    .then(|| c["text"].as_str())
                    .flatten()
            },
        ),
        (
            "us.deepseek.r1-v1:0",
            json!({"prompt": prompt, "max_tokens": 100}),
            |c| c["choices"][0]["text"].as_str(),
        ),
    ];
    let count = cases.len() as u64;
    let mut texts = Vec::new();
    for (model, body, text_of) in cases {
        let (chunks, end) = invoke(&client, model, &body).await;
        assert_eq!(end, Ok(()), "{model}");
        let tokens: Vec<&str> = chunks
            .iter()
            .filter_map(text_of)
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(tokens.len(), 6, "{model}: {chunks:#?}");
        let last = chunks.last().unwrap();
        let metrics = &last["amazon-bedrock-invocationMetrics"];
        assert_eq!(metrics["outputTokenCount"], 6, "{model}: {last}");
        assert!(metrics["inputTokenCount"].as_u64().unwrap() > 0, "{model}");
        assert!(metrics["invocationLatency"].is_u64() && metrics["firstByteLatency"].is_u64());
        texts.push(tokens.concat());
    }
    // The text depends only on the prompt text, not on the family.
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
    let stats = sim.state.stats();
    assert_eq!(
        stats,
        SimStats {
            streams_started: count,
            streams_completed: count,
            streams_cancelled: 0,
            tokens_sent: 6 * count,
            throttled: 0,
            // The SDK signs every call with SigV4.
            auth_schemes: crate::AuthSchemes {
                sigv4: count,
                bearer: 0,
                none: 0,
            },
            ..stats
        }
    );
}

#[tokio::test]
async fn claude_events_and_max_tokens_cap() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let (chunks, end) = invoke(
        &client,
        CLAUDE,
        &claude_body("[[sim tokens=10 rate=0 ttft_ms=0]]", 3),
    )
    .await;
    assert_eq!(end, Ok(()));
    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(chunks[6]["delta"]["stop_reason"], "max_tokens");
    assert_eq!(chunks[6]["usage"]["output_tokens"], 3);
    // The same prompt in the string content form gives the same text.
    let string_form = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 3,
        "messages": [{"role": "user", "content": "[[sim tokens=10 rate=0 ttft_ms=0]]"}],
    });
    let (again, _) = invoke(&client, CLAUDE, &string_form).await;
    let text = |cs: &[Value]| -> String {
        cs.iter()
            .filter_map(|c| c["delta"]["text"].as_str())
            .collect()
    };
    assert_eq!(text(&chunks), text(&again));
    assert!(!text(&chunks).is_empty());
}

#[tokio::test]
async fn arn_model_ids_are_decoded() {
    let sim = Sim::start().await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let (chunks, end) = invoke(
        &sim.sdk(),
        arn,
        &claude_body("hi [[sim tokens=2 rate=0 ttft_ms=0]]", 50),
    )
    .await;
    assert_eq!(end, Ok(()));
    assert_eq!(chunks[0]["message"]["model"], "claude-3-5-haiku-20241022");
}

#[tokio::test]
async fn sdk_converse_stream() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    for (max_tokens, expected_tokens, expected_stop) in [
        (None, 5, StopReason::EndTurn),
        (Some(2), 2, StopReason::MaxTokens),
    ] {
        let output = client
            .converse_stream()
            .model_id("us.amazon.nova-pro-v1:0")
            .messages(
                Message::builder()
                    .role(ConversationRole::User)
                    .content(ContentBlock::Text(
                        "Rivers? [[sim tokens=5 rate=0 ttft_ms=0]]".into(),
                    ))
                    .build()
                    .unwrap(),
            )
            .set_inference_config(
                max_tokens.map(|n| InferenceConfiguration::builder().max_tokens(n).build()),
            )
            .send()
            .await
            .unwrap();
        let mut stream = output.stream;
        let mut names = Vec::new();
        let mut deltas = 0;
        let mut stop = None;
        let mut usage = None;
        while let Some(event) = stream.recv().await.unwrap() {
            match event {
                ConverseStreamOutput::MessageStart(_) => names.push("messageStart"),
                ConverseStreamOutput::ContentBlockDelta(d) => {
                    assert!(matches!(d.delta(), Some(ContentBlockDelta::Text(t)) if !t.is_empty()));
                    deltas += 1;
                }
                ConverseStreamOutput::ContentBlockStop(_) => names.push("contentBlockStop"),
                ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
                ConverseStreamOutput::Metadata(m) => {
                    usage = m
                        .usage()
                        .map(|u| (u.input_tokens(), u.output_tokens(), u.total_tokens()));
                    assert!(m.metrics().is_some());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(names, ["messageStart", "contentBlockStop"]);
        assert_eq!(deltas, expected_tokens);
        assert_eq!(stop, Some(expected_stop));
        let (input, output, total) = usage.unwrap();
        assert_eq!(output, expected_tokens);
        assert_eq!(total, input + output);
    }
}

#[tokio::test]
async fn throttle_refuses_the_first_k_requests() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let body = claude_body("busy [[sim throttle=2 tokens=3 rate=0 ttft_ms=0]]", 50);
    for _ in 0..2 {
        let err = client
            .invoke_model_with_response_stream()
            .model_id(CLAUDE)
            .body(Blob::new(serde_json::to_vec(&body).unwrap()))
            .send()
            .await
            .unwrap_err();
        let err = err.into_service_error();
        assert!(
            matches!(
                err,
                InvokeModelWithResponseStreamError::ThrottlingException(_)
            ),
            "{err:?}"
        );
    }
    let (_, end) = invoke(&client, CLAUDE, &body).await;
    assert_eq!(end, Ok(()));
    // Raw shape of the refusal, for a different prompt.
    let raw = reqwest::Client::new()
        .post(sim.invoke_url(CLAUDE))
        .json(&claude_body("other [[sim throttle=1]]", 50))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 429);
    assert_eq!(raw.headers()["x-amzn-errortype"], "ThrottlingException");
    let body: Value = raw.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Too many requests, please wait before trying again."})
    );
    let stats = sim.state.stats();
    assert_eq!(stats.throttled, 3);
    assert_eq!(stats.streams_started, 1);
}

#[tokio::test]
async fn error_after_sends_a_model_stream_error() {
    let sim = Sim::start().await;
    let (chunks, end) = invoke(
        &sim.sdk(),
        CLAUDE,
        &claude_body("[[sim tokens=10 error_after=2 rate=0 ttft_ms=0]]", 50),
    )
    .await;
    assert!(end.unwrap_err().starts_with("modelStreamErrorException"));
    let deltas = chunks
        .iter()
        .filter(|c| c["type"] == "content_block_delta")
        .count();
    assert_eq!(deltas, 2);
    let stats = sim.stats_until(|s| s.streams_started == 1).await;
    assert_eq!(
        (
            stats.streams_completed,
            stats.streams_cancelled,
            stats.tokens_sent
        ),
        (0, 0, 2)
    );
}

#[tokio::test]
async fn converse_error_after() {
    let sim = Sim::start().await;
    let output = sim
        .sdk()
        .converse_stream()
        .model_id(CLAUDE)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(
                    "[[sim tokens=4 error_after=1 rate=0 ttft_ms=0]]".into(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut events = 0;
    let err = loop {
        match stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("clean end"),
            Err(e) => break e,
        }
    };
    assert_eq!(events, 2, "messageStart and one delta");
    let SdkError::ServiceError(e) = err else {
        panic!("{err:?}")
    };
    assert!(e.err().is_model_stream_error_exception(), "{:?}", e.err());
}

#[tokio::test]
async fn drop_after_cuts_the_connection() {
    let sim = Sim::start().await;
    let (chunks, end) = invoke(
        &sim.sdk(),
        CLAUDE,
        &claude_body("[[sim tokens=10 drop_after=3 rate=0 ttft_ms=0]]", 50),
    )
    .await;
    let end = end.unwrap_err();
    assert!(end.starts_with("transport"), "{end}");
    assert_eq!(
        chunks
            .iter()
            .filter(|c| c["type"] == "content_block_delta")
            .count(),
        3
    );
    let stats = sim.stats_until(|s| s.streams_started == 1).await;
    assert_eq!(
        (
            stats.streams_completed,
            stats.streams_cancelled,
            stats.tokens_sent
        ),
        (0, 0, 3)
    );
}

fn frames(mut bytes: Bytes) -> Vec<Frame> {
    let mut out = Vec::new();
    while bytes.has_remaining() {
        out.push(read_message_from(&mut bytes).unwrap());
    }
    out
}

#[tokio::test]
async fn stall_holds_the_connection_until_the_client_leaves() {
    let sim = Sim::start().await;
    let mut response = reqwest::Client::new()
        .post(sim.invoke_url(CLAUDE))
        .json(&claude_body(
            "[[sim tokens=10 stall_after=2 rate=0 ttft_ms=0]]",
            50,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert_eq!(
        response.headers()["x-amzn-bedrock-content-type"],
        "application/json"
    );
    let mut received = Vec::new();
    // message_start + content_block_start + 2 deltas, then silence.
    while frames(Bytes::from(received.clone())).len() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.extend_from_slice(&chunk);
    }
    let quiet = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(quiet.is_err(), "a stalled stream sent more: {quiet:?}");
    assert_eq!(sim.state.stats().streams_cancelled, 0);
    drop(response);
    let stats = sim.stats_until(|s| s.streams_cancelled == 1).await;
    assert_eq!(stats.streams_cancelled, 1);
    assert_eq!(stats.streams_completed, 0);
    assert_eq!(stats.tokens_sent, 2);
}

#[tokio::test]
async fn leaving_mid_stream_stops_the_generator() {
    let sim = Sim::start().await;
    let mut response = reqwest::Client::new()
        .post(sim.invoke_url("meta.llama3-1-8b-instruct-v1:0"))
        .json(&json!({"prompt": "[[sim tokens=2000 rate=100 ttft_ms=0]]", "max_gen_len": 2048}))
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap().unwrap();
    drop(response);
    let stats = sim.stats_until(|s| s.streams_cancelled == 1).await;
    assert_eq!(stats.streams_cancelled, 1);
    let sent = stats.tokens_sent;
    assert!(sent < 100, "{sent}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sim.state.stats().tokens_sent,
        sent,
        "the generator kept running"
    );
}

#[tokio::test]
async fn headers_come_at_once_and_ttft_delays_the_first_chunk() {
    let sim = Sim::start().await;
    let started = std::time::Instant::now();
    let mut response = reqwest::Client::new()
        .post(sim.invoke_url("amazon.titan-text-lite-v1"))
        .json(&json!({"inputText": "[[sim tokens=2 ttft_ms=600 rate=0]]"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    response.chunk().await.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn pacing_follows_the_rate() {
    let sim = Sim::start().await;
    let started = std::time::Instant::now();
    let (_, end) = invoke(
        &sim.sdk(),
        CLAUDE,
        &claude_body("[[sim tokens=11 rate=50 ttft_ms=0]]", 50),
    )
    .await;
    assert_eq!(end, Ok(()));
    // Ten gaps of 20 ms.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn pre_stream_errors_are_validation_exceptions() {
    let sim = Sim::start().await;
    let http = reqwest::Client::new();
    let cases = [
        (
            sim.invoke_url("openai.gpt-oss-120b-1:0"),
            json!({"prompt": "x"}).to_string(),
            "The provided model identifier is invalid.",
        ),
        (
            sim.invoke_url(CLAUDE),
            "{not json".to_owned(),
            "not valid JSON",
        ),
        (
            sim.invoke_url(CLAUDE),
            json!({"anthropic_version": "bedrock-2023-05-31", "messages": []}).to_string(),
            "required key [max_tokens] not found",
        ),
        (
            sim.invoke_url(CLAUDE),
            claude_body("x", 100_000).to_string(),
            "max_tokens: 100000 > 8192, which is the maximum allowed number of output tokens for anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        (
            format!("{}/model/{CLAUDE}/converse-stream", sim.url),
            json!({"messages": "nope"}).to_string(),
            "expected type: JSONArray",
        ),
    ];
    for (url, body, expected) in cases {
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ValidationException"
        );
        let body: Value = response.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    // Through the SDK, a ValidationException with the message.
    let err = sim
        .sdk()
        .converse_stream()
        .model_id("unknown.model-v1")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("x".into()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let ConverseStreamError::ValidationException(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        e.message(),
        Some("The provided model identifier is invalid.")
    );
    // Refused before any stream; only the credentials were counted (and
    // the connections and requests that carried them).
    let stats = sim.state.stats();
    assert_eq!(
        SimStats {
            connections: 0,
            http_versions: Default::default(),
            ..stats
        },
        SimStats {
            auth_schemes: crate::AuthSchemes {
                sigv4: 1,
                bearer: 0,
                none: 5,
            },
            ..SimStats::default()
        }
    );
    assert!(stats.http_versions.http1 > 0 && stats.http_versions.http2 == 0);
}

#[tokio::test]
async fn stats_route_reports_counters() {
    let sim = Sim::start().await;
    let (_, end) = invoke(
        &sim.sdk(),
        CLAUDE,
        &claude_body("[[sim tokens=4 rate=0 ttft_ms=0]]", 50),
    )
    .await;
    assert_eq!(end, Ok(()));
    let stats: Value = reqwest::get(format!("{}/sim/stats", sim.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats,
        json!({"streamsStarted": 1, "streamsCompleted": 1, "streamsCancelled": 0, "tokensSent": 4, "throttled": 0,
            "authSchemes": {"sigv4": 1, "bearer": 0, "none": 0},
            "connections": 2, "httpVersions": {"HTTP/1.1": 1, "HTTP/2": 0}})
    );
}

#[tokio::test]
async fn shutdown_aborts_stalled_streams_and_returns() {
    let sim = Sim::start().await;
    let mut response = reqwest::Client::new()
        .post(sim.invoke_url(CLAUDE))
        .json(&claude_body("[[sim stall_after=0 ttft_ms=0]]", 50))
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap().unwrap();
    sim.shutdown.cancel();
    let served = tokio::time::timeout(Duration::from_secs(5), sim.task).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    let rest = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .unwrap();
    assert!(
        rest.is_err(),
        "the client must see an unexpected end: {rest:?}"
    );
}
