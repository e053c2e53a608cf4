//! Prompt caching through the real SDK: the first request with a prefix
//! writes it, the next reads it, in every shape that reports it.

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ConverseStreamOutput, Message,
    SystemContentBlock,
};
use serde_json::{Value, json};

use super::{CLAUDE, Sim, invoke};

/// Cache read and write counts of one ConverseStream call with a cached system prompt.
async fn converse_cached(sim: &Sim, system: &str) -> (i32, Option<i32>, Option<i32>, i32) {
    let output = sim
        .sdk()
        .converse_stream()
        .model_id("us.amazon.nova-pro-v1:0")
        .system(SystemContentBlock::Text(system.into()))
        .system(SystemContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .unwrap(),
        ))
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(
                    "Rivers? [[sim tokens=2 rate=0 ttft_ms=0]]".into(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut usage = None;
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::Metadata(m) = event {
            let u = m.usage().unwrap();
            usage = Some((
                u.input_tokens(),
                u.cache_read_input_tokens(),
                u.cache_write_input_tokens(),
                u.total_tokens(),
            ));
        }
    }
    usage.unwrap()
}

#[tokio::test]
async fn converse_cache_point_writes_then_reads() {
    let sim = Sim::start().await;
    let system = "You answer in the style of a very patient river guide";
    let (input, read, write, total) = converse_cached(&sim, system).await;
    assert_eq!((read, write), (Some(0), Some(11)));
    assert_eq!(total, input + 11 + 2);
    let (input2, read, write, total) = converse_cached(&sim, system).await;
    assert_eq!((read, write), (Some(11), Some(0)));
    assert_eq!(input2, input);
    assert_eq!(total, input + 11 + 2);
    // Another system prompt is another prefix.
    let (_, read, write, _) = converse_cached(&sim, "Something else entirely").await;
    assert_eq!((read, write), (Some(0), Some(3)));
}

#[tokio::test]
async fn converse_without_cache_points_reports_no_cache_counts() {
    let sim = Sim::start().await;
    let output = sim
        .sdk()
        .converse()
        .model_id("us.amazon.nova-pro-v1:0")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(
                    "Hi [[sim tokens=2 rate=0 ttft_ms=0]]".into(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let usage = output.usage().unwrap();
    assert_eq!(usage.cache_read_input_tokens(), None);
    assert_eq!(usage.cache_write_input_tokens(), None);
}

fn claude_cached(system: &str) -> Value {
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Hi [[sim tokens=2 rate=0 ttft_ms=0]]"}],
    })
}

#[tokio::test]
async fn claude_cache_control_in_message_start_and_invocation_metrics() {
    let sim = Sim::start().await;
    let body = claude_cached("one two three four five");
    let client = sim.sdk();
    for (read, write) in [(0, 5), (5, 0)] {
        let (chunks, end) = invoke(&client, CLAUDE, &body).await;
        end.unwrap();
        let usage = &chunks[0]["message"]["usage"];
        assert_eq!(usage["cache_read_input_tokens"], read, "{usage}");
        assert_eq!(usage["cache_creation_input_tokens"], write, "{usage}");
        let metrics = &chunks.last().unwrap()["amazon-bedrock-invocationMetrics"];
        assert_eq!(metrics["cacheReadInputTokenCount"], read, "{metrics}");
        assert_eq!(metrics["cacheWriteInputTokenCount"], write, "{metrics}");
        assert_eq!(metrics["inputTokenCount"], usage["input_tokens"]);
    }
}

#[tokio::test]
async fn nova_native_cache_point_in_metadata_usage() {
    let sim = Sim::start().await;
    let body = json!({
        "schemaVersion": "messages-v1",
        "system": [{"text": "one two three"}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "Hi [[sim tokens=2 rate=0 ttft_ms=0]]"}]}],
    });
    let client = sim.sdk();
    for (read, write) in [(0, 3), (3, 0)] {
        let (chunks, end) = invoke(&client, "us.amazon.nova-lite-v1:0", &body).await;
        end.unwrap();
        let usage = &chunks.last().unwrap()["metadata"]["usage"];
        assert_eq!(usage["cacheReadInputTokenCount"], read, "{usage}");
        assert_eq!(usage["cacheWriteInputTokenCount"], write, "{usage}");
    }
}

#[tokio::test]
async fn whole_claude_answer_and_headers_carry_cache_counts() {
    let sim = Sim::start().await;
    let body = claude_cached("alpha beta gamma");
    let http = reqwest::Client::new();
    let url = format!("{}/model/{CLAUDE}/invoke", sim.url);
    for (read, write) in [(0, 3), (3, 0)] {
        let res = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(
            header("x-amzn-bedrock-cache-read-input-token-count"),
            read.to_string()
        );
        assert_eq!(
            header("x-amzn-bedrock-cache-write-input-token-count"),
            write.to_string()
        );
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["usage"]["cache_read_input_tokens"], read);
        assert_eq!(v["usage"]["cache_creation_input_tokens"], write);
    }
}
