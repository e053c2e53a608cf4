//! End to end, non-streaming `InvokeModel` and `Converse`: the real SDK (and raw HTTP) against the simulator.

use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;

use super::parts::{claude_tools_body, refused, user_text, weather_input, weather_tools};
use super::*;

const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

impl Sim {
    fn whole_url(&self, model: &str) -> String {
        format!("{}/model/{model}/invoke", self.url)
    }
}

/// Invokes through the SDK; returns the response body.
async fn invoke_whole(client: &aws_sdk_bedrockruntime::Client, model: &str, body: &Value) -> Value {
    let output = client
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{model}: {e:?}"));
    assert_eq!(output.content_type(), "application/json");
    serde_json::from_slice(output.body().as_ref()).unwrap()
}

#[tokio::test]
async fn sdk_invoke_model_claude_message_with_thinking_and_a_tool_call() {
    let sim = Sim::start().await;
    let mut body = claude_tools_body(json!([{"role": "user", "content":
        "Weather? [[sim think=2 tokens=4 tool=get_weather rate=0 ttft_ms=0]]"}]));
    body["max_tokens"] = json!(32_000);
    let message = invoke_whole(&sim.sdk(), SONNET_45, &body).await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-sonnet-4-5-20250929");
    assert!(message["id"].as_str().unwrap().starts_with("msg_bdrk_01"));
    let content = message["content"].as_array().unwrap();
    let types: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["thinking", "text", "tool_use"]);
    assert_eq!(content[0]["thinking"], "Let me");
    assert_eq!(content[0]["signature"], crate::signature::sign("Let me"));
    assert_eq!(
        content[1]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        4
    );
    assert_eq!(content[2]["name"], "get_weather");
    assert_eq!(content[2]["input"], weather_input());
    assert!(
        content[2]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_bdrk_01")
    );
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["stop_sequence"], Value::Null);
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 2 + 4);
    let stats = sim.state.stats();
    assert_eq!((stats.streams_started, stats.streams_completed), (1, 1));
    assert_eq!(
        stats.tokens_sent,
        message["usage"]["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn invoke_headers_carry_the_token_counts_and_latency() {
    let sim = Sim::start().await;
    let response = reqwest::Client::new()
        .post(sim.whole_url(CLAUDE))
        .json(&claude_body(
            "three word prompt [[sim tokens=5 rate=0 ttft_ms=60]]",
            100,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-amzn-bedrock-output-token-count"], "5");
    assert_eq!(
        headers["x-amzn-bedrock-input-token-count"], "7",
        "words of the prompt"
    );
    let latency: u64 = headers["x-amzn-bedrock-invocation-latency"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(latency >= 60, "ttft_ms delays the answer: {latency}");
    let message: Value = response.json().await.unwrap();
    assert_eq!(
        message["usage"],
        json!({"input_tokens": 7, "output_tokens": 5})
    );
    assert_eq!(message["stop_reason"], "end_turn");
}

#[tokio::test]
async fn every_family_answers_whole_in_its_own_shape() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let p = "Tell me about rivers. [[sim tokens=6 rate=0 ttft_ms=0]]";
    let nova = invoke_whole(
        &client,
        "us.amazon.nova-lite-v1:0",
        &json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": p}]}]}),
    )
    .await;
    assert_eq!(nova["output"]["message"]["role"], "assistant");
    assert!(nova["output"]["message"]["content"][0]["text"].is_string());
    assert_eq!(nova["stopReason"], "end_turn");
    assert_eq!(nova["usage"]["outputTokens"], 6);
    let titan = invoke_whole(
        &client,
        "amazon.titan-text-express-v1",
        &json!({"inputText": p, "textGenerationConfig": {"maxTokenCount": 4}}),
    )
    .await;
    assert_eq!(titan["results"][0]["tokenCount"], 4);
    assert_eq!(titan["results"][0]["completionReason"], "LENGTH");
    assert!(titan["inputTextTokenCount"].as_u64().unwrap() > 0);
    let llama = invoke_whole(
        &client,
        "meta.llama3-1-8b-instruct-v1:0",
        &json!({"prompt": p, "max_gen_len": 2048}),
    )
    .await;
    assert_eq!(llama["generation_token_count"], 6);
    assert_eq!(llama["stop_reason"], "stop");
    assert!(
        llama["generation"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count()
            >= 3
    );
    let mistral = invoke_whole(
        &client,
        "mistral.mistral-large-2407-v1:0",
        &json!({"prompt": p, "max_tokens": 100}),
    )
    .await;
    assert_eq!(mistral["outputs"][0]["stop_reason"], "stop");
    let cohere = invoke_whole(
        &client,
        "cohere.command-r-plus-v1:0",
        &json!({"message": p}),
    )
    .await;
    assert_eq!(cohere["finish_reason"], "COMPLETE");
    assert_eq!(cohere["meta"]["billed_units"]["output_tokens"], 6);
    let deepseek = invoke_whole(
        &client,
        "us.deepseek.r1-v1:0",
        &json!({"prompt": format!("{p} [[sim think=2]]"), "max_tokens": 32_768}),
    )
    .await;
    let text = deepseek["choices"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Let me\n</think>\n\n"), "{text}");
    // The same answer as the stream's, token for token.
    let streamed = invoke(
        &client,
        "meta.llama3-1-8b-instruct-v1:0",
        &json!({"prompt": p}),
    )
    .await;
    let streamed: String = streamed
        .0
        .iter()
        .filter_map(|c| c["generation"].as_str())
        .collect();
    assert_eq!(llama["generation"], streamed);
}

async fn converse_whole(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
    text: &str,
) -> Result<ConverseOutput, SdkError<ConverseError>> {
    client
        .converse()
        .model_id(model)
        .messages(user_text(text))
        .tool_config(weather_tools())
        .send()
        .await
}

#[tokio::test]
async fn sdk_converse_answers_whole_with_a_tool_call() {
    let sim = Sim::start().await;
    let output = converse_whole(
        &sim.sdk(),
        SONNET_45,
        "Weather? [[sim tokens=3 tool=get_weather think=1 rate=0 ttft_ms=0]]",
    )
    .await
    .unwrap();
    assert_eq!(output.stop_reason(), &StopReason::ToolUse);
    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.role(), &ConversationRole::Assistant);
    let content = message.content();
    assert_eq!(content.len(), 3, "{content:?}");
    let reasoning = content[0].as_reasoning_content().unwrap();
    assert_eq!(reasoning.as_reasoning_text().unwrap().text(), "Let");
    assert!(content[1].as_text().unwrap().split_whitespace().count() == 3);
    let tool = content[2].as_tool_use().unwrap();
    assert_eq!(tool.name(), "get_weather");
    assert!(tool.tool_use_id().starts_with("tooluse_"));
    assert_eq!(tool.input(), &super::parts::document(&weather_input()));
    let usage = output.usage().unwrap();
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    assert!(output.metrics().is_some());
}

#[tokio::test]
async fn whole_answers_follow_throttle_and_error_after() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let body = claude_body("busy [[sim throttle=1 tokens=2 rate=0 ttft_ms=0]]", 50);
    let err = client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, InvokeModelError::ThrottlingException(_)),
        "{err:?}"
    );
    invoke_whole(&client, CLAUDE, &body).await;
    let failing = claude_body("[[sim error_after=1 rate=0 ttft_ms=0]]", 50);
    let err = client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(serde_json::to_vec(&failing).unwrap()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, InvokeModelError::ModelErrorException(_)),
        "{err:?}"
    );
    let err = converse_whole(&client, CLAUDE, "[[sim error_after=0]]")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ModelErrorException(_)),
        "{err:?}"
    );
    let (status, kind, _) = refused(&sim.whole_url(CLAUDE), &failing).await;
    assert_eq!((status, kind.as_str()), (424, "ModelErrorException"));
    let stats = sim.state.stats();
    assert_eq!((stats.throttled, stats.streams_started), (1, 1));
}

#[tokio::test]
async fn whole_answers_stall_and_drop() {
    let sim = Sim::start().await;
    let http = reqwest::Client::new();
    let stalled = http
        .post(sim.whole_url(CLAUDE))
        .json(&claude_body("[[sim stall_after=1 rate=0 ttft_ms=0]]", 50))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(stalled.unwrap_err().is_timeout());
    let dropped = http
        .post(sim.whole_url(CLAUDE))
        .json(&claude_body("[[sim drop_after=1 rate=0 ttft_ms=0]]", 50))
        .send()
        .await
        .unwrap();
    assert_eq!(dropped.status(), 200);
    assert!(dropped.bytes().await.is_err(), "the body is cut");
}

#[tokio::test]
async fn ceilings_are_the_models_own() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    // Claude Code's default: over the old flat 8,192, under Sonnet 4.5's 64,000.
    let body = claude_body("hi [[sim tokens=2 rate=0 ttft_ms=0]]", 32_000);
    invoke_whole(&client, SONNET_45, &body).await;
    let (_, end) = invoke(&client, SONNET_45, &body).await;
    assert_eq!(end, Ok(()));
    let cases = [
        (SONNET_45, 64_001, "64000", "claude-sonnet-4-5"),
        (
            "anthropic.claude-opus-4-1-20250805-v1:0",
            32_001,
            "32000",
            "opus-4-1",
        ),
        (CLAUDE, 8_193, "8192", "3-5-haiku"),
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            4_097,
            "4096",
            "3-haiku",
        ),
    ];
    for (model, max_tokens, ceiling, name) in cases {
        for url in [sim.whole_url(model), sim.invoke_url(model)] {
            let (status, kind, message) = refused(&url, &claude_body("hi", max_tokens)).await;
            assert_eq!((status, kind.as_str()), (400, "ValidationException"));
            assert!(
                message.starts_with(&format!("max_tokens: {max_tokens} > {ceiling}, which is the maximum allowed number of output tokens for "))
                    && message.contains(name),
                "{message}"
            );
        }
    }
    let err = client
        .converse()
        .model_id("us.amazon.nova-pro-v1:0")
        .messages(user_text("hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(10_001).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let ConverseError::ValidationException(e) = err else {
        panic!("{err:?}");
    };
    assert_eq!(
        e.message(),
        Some(
            "The maximum tokens you requested exceeds the model limit of 10000. Try again with a maximum tokens value that is lower than 10000."
        )
    );
}

#[tokio::test]
async fn sdk_count_tokens_counts_as_the_answer_bills() {
    use aws_sdk_bedrockruntime::primitives::Blob;
    use aws_sdk_bedrockruntime::types::{
        ConverseTokensRequest, CountTokensInput, InvokeModelTokensRequest,
    };
    let sim = Sim::start().await;
    let sdk = sim.sdk();
    let text = "Name a river. [[sim tokens=2 rate=0 ttft_ms=0]]";
    let billed = converse_whole(&sdk, SONNET_45, text)
        .await
        .unwrap()
        .usage()
        .unwrap()
        .input_tokens();
    let converse = ConverseTokensRequest::builder()
        .messages(user_text(text))
        .tool_config(weather_tools())
        .build();
    let counted = sdk
        .count_tokens()
        .model_id(SONNET_45)
        .input(CountTokensInput::Converse(converse.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.input_tokens(), billed);
    let body = serde_json::json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Name a river."}],
    });
    let by_body = sdk
        .count_tokens()
        .model_id(SONNET_45)
        .input(CountTokensInput::InvokeModel(
            InvokeModelTokensRequest::builder()
                .body(Blob::new(body.to_string()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert!(by_body.input_tokens() > 0);
    let refused = sdk
        .count_tokens()
        .model_id("amazon.nova-lite-v1:0")
        .input(CountTokensInput::Converse(converse))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("doesn't support counting tokens"),
        "{refused:?}"
    );
}
