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

/// HTTP readers of one's own session hold a connection each, as sockets do:
/// they count in the same per-user budget on every attach route, in each
/// route's own error shape, so one user cannot fill the connection caps
/// everyone shares. Another user is not affected, and a reader that ends
/// gives its place back.
#[tokio::test]
async fn http_readers_count_in_the_per_user_connection_cap_on_every_attach_route() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let gw = Gateway::with(|c| c.max_connections_per_user = 2).await;
    let long = "[[sim tokens=1000 rate=20]] keep going";
    let post = |path: &str, body: serde_json::Value| {
        gw.http
            .post(gw.url(path))
            .bearer_auth(&gw.token)
            .json(&body)
            .send()
    };
    let session = post("/v1/stream", json!({"prompt": long})).await.unwrap();
    let session_id = session.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let response = post(
        "/v1/responses",
        json!({"model": CLAUDE, "stream": true, "input": long}),
    )
    .await
    .unwrap();
    let response_id = response.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let chat = post(
        "/v1/ai-sdk/chat",
        json!({"id": "chat-cap", "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": long}]}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            session.status().as_u16(),
            response.status().as_u16(),
            chat.status().as_u16()
        ),
        (200, 200, 200)
    );
    let get = |path: String, token: String| gw.http.get(gw.url(&path)).bearer_auth(token).send();
    let attach = format!("/v1/sessions/{session_id}/stream");
    let retrieve = format!("/v1/responses/resp_{response_id}?stream=true");
    let resume = "/v1/ai-sdk/chat/chat-cap/stream".to_owned();

    // One socket and one reader fill alice's budget of two.
    let ws_req = || {
        let mut req = format!("{}/v1/ws", gw.base.replace("http", "ws"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", gw.token).parse().unwrap(),
        );
        req
    };
    let _socket = tokio_tungstenite::connect_async(ws_req()).await.unwrap();
    let reader = get(attach.clone(), gw.token.clone()).await.unwrap();
    assert_eq!(reader.status(), 200);

    for (path, openai) in [(&attach, false), (&retrieve, true), (&resume, false)] {
        let refused = get(path.clone(), gw.token.clone()).await.unwrap();
        assert_eq!(refused.status(), 429, "{path}");
        assert!(refused.headers().contains_key("retry-after"), "{path}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "too_many_connections",
            "{path}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("SPILLWAY_MAX_CONNECTIONS_PER_USER"),
            "{path}: {body}"
        );
        // OpenAI's routes answer in OpenAI's shape.
        assert_eq!(
            body["error"].get("type").is_some(),
            openai,
            "{path}: {body}"
        );
    }
    // Readers count against sockets too.
    match tokio_tungstenite::connect_async(ws_req()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!("expected a 429 upgrade, got {:?}", other.map(|_| ())),
    }

    // Another user is not affected.
    let bob = gw.token_for("bob", &[]);
    let theirs = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth(&bob)
        .json(&json!({"prompt": long}))
        .send()
        .await
        .unwrap();
    let theirs_id = theirs.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let bobs = get(format!("/v1/sessions/{theirs_id}/stream"), bob)
        .await
        .unwrap();
    assert_eq!(bobs.status(), 200);

    // A reader that goes away frees its place.
    drop(reader);
    let token = gw.token.clone();
    eventually(std::time::Duration::from_secs(10), || {
        let again = get(resume.clone(), token.clone());
        async move { again.await.unwrap().status() == 200 }
    })
    .await;
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
