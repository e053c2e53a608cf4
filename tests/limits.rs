//! Per-user limits on a single node (the in-memory registry implements the
//! same traits as DynamoDB's; `tests/fleet.rs` covers the fleet-wide case).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn concurrent_streams_per_user_are_limited_with_retry_after() {
    let gw = Gateway::with(|c| c.max_streams_per_user = 2).await;
    let a = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] one"}))
        .await;
    let b = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] two"}))
        .await;
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    let c = gw.post_stream(json!({"prompt": "three"})).await;
    assert_eq!(c.status(), 429);
    assert!(c.headers().contains_key("retry-after"));
    // Another user is not affected.
    let bob = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth(gw.token_for("bob", &[]))
        .json(&json!({"prompt": "[[sim tokens=1 rate=0]] mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200);
    // Finishing a stream frees its slot.
    let id = a.headers()["x-session-id"].to_str().unwrap().to_owned();
    gw.http
        .post(gw.url(&format!("/v1/sessions/{id}/cancel")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    eventually(std::time::Duration::from_secs(10), || async {
        gw.post_stream(json!({"prompt": "[[sim tokens=1 rate=0]] again"}))
            .await
            .status()
            == 200
    })
    .await;
    drop(b);
    gw.shutdown().await;
}

#[tokio::test]
async fn tokens_per_day_are_limited_from_bedrock_usage() {
    let gw = Gateway::with(|c| c.max_tokens_per_user_per_day = 30).await;
    let events = collect_events(
        gw.post_stream(json!({"prompt": "[[sim tokens=40 rate=0]] spend"}))
            .await,
    )
    .await;
    let usage = events.last().unwrap().data.usage.unwrap();
    assert!(usage.input_tokens + usage.output_tokens > 30);
    let over = gw.post_stream(json!({"prompt": "more"})).await;
    assert_eq!(over.status(), 429);
    let retry: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let to_midnight = 86_400 - now % 86_400;
    assert!(
        retry.abs_diff(to_midnight) <= 2,
        "until midnight UTC ({to_midnight} s): {retry}"
    );
    let body: serde_json::Value = over.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_spent_daily_budget_is_each_drop_in_apis_spent_quota() {
    let gw = Gateway::with(|c| c.max_tokens_per_user_per_day = 30).await;
    collect_events(
        gw.post_stream(json!({"prompt": "[[sim tokens=40 rate=0]] spend"}))
            .await,
    )
    .await;
    let call = |path: &str, body: serde_json::Value| {
        gw.http
            .post(gw.url(path))
            .bearer_auth(&gw.token)
            .header("x-api-key", &gw.token)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };
    let nova = "us.amazon.nova-lite-v1:0";
    let messages = json!([{"role": "user", "content": [{"text": "more"}]}]);

    // Bedrock: ServiceQuotaExceededException, a 400 the AWS SDKs do not retry.
    let bedrock = call(
        &format!("/model/{nova}/converse"),
        json!({"messages": messages}),
    )
    .await
    .unwrap();
    assert_eq!(bedrock.status(), 400);
    assert_eq!(
        bedrock.headers()["x-amzn-errortype"],
        "ServiceQuotaExceededException"
    );
    let body: serde_json::Value = bedrock.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("tokens per user per day")
    );

    // OpenAI: 429 `insufficient_quota`, and not to be retried.
    let openai = call(
        "/v1/chat/completions",
        json!({"model": nova, "messages": [{"role": "user", "content": "more"}]}),
    )
    .await
    .unwrap();
    assert_eq!(openai.status(), 429);
    assert_eq!(openai.headers()["x-should-retry"], "false");
    let body: serde_json::Value = openai.json().await.unwrap();
    assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
    assert_eq!(body["error"]["code"], "insufficient_quota", "{body}");

    // Anthropic: its rate_limit_error, and not to be retried.
    let anthropic = call(
        "/v1/messages",
        json!({"model": nova, "max_tokens": 10, "messages": [{"role": "user", "content": "more"}]}),
    )
    .await
    .unwrap();
    assert_eq!(anthropic.status(), 429);
    assert_eq!(anthropic.headers()["x-should-retry"], "false");
    let body: serde_json::Value = anthropic.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_concurrent_stream_cap_stays_a_throttle_on_bedrock() {
    let gw = Gateway::with(|c| c.max_streams_per_user = 1).await;
    let held = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] one"}))
        .await;
    assert_eq!(held.status(), 200);
    let nova = "us.amazon.nova-lite-v1:0";
    let resp = gw
        .http
        .post(gw.url(&format!("/model/{nova}/converse")))
        .bearer_auth(&gw.token)
        .json(&json!({"messages": [{"role": "user", "content": [{"text": "two"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-amzn-errortype"], "ThrottlingException");
    assert!(resp.headers().get("x-should-retry").is_none());
    drop(held);
    gw.shutdown().await;
}
