//! Conversations with parts end to end: reasoning and tool calls streamed as
//! typed events over SSE (both Bedrock APIs, through the real SDK and the
//! simulator), read back as request parts, resumed mid-call, sent back as a
//! tool loop; bad parts refused with a 400 before any upstream call.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};

const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "description": "Current weather in a city",
        "inputSchema": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "days", "unit"]
        }
    })
}

fn tool_request(api: &str) -> Value {
    json!({
        "model": SONNET,
        "api": api,
        "prompt": "[[sim tool=get_weather think=2 tokens=3]] Weather in Paris?",
        "tools": [weather_tool()],
        "reasoning": {"budgetTokens": 2048}
    })
}

fn part(e: &SseEvent) -> Value {
    serde_json::to_value(e.data.part.as_deref().expect("a part")).unwrap()
}

#[tokio::test]
async fn reasoning_and_a_tool_call_stream_as_parts_on_both_apis() {
    let gw = Gateway::start().await;
    for api in ["invoke", "converse"] {
        let resp = gw.post_stream(tool_request(api)).await;
        assert_eq!(resp.status(), 200, "{api}");
        let events = collect_events(resp).await;
        assert_contiguous(&events, 0);
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();

        // Reasoning first (block 0): text deltas, then the signature.
        let reasoning: Vec<Value> = events
            .iter()
            .filter(|e| e.event == "reasoning")
            .map(part)
            .collect();
        assert_eq!(reasoning.len(), 3, "{api}: {names:?}");
        assert!(
            reasoning[..2]
                .iter()
                .all(|p| p["index"] == 0 && p["text"].is_string())
        );
        assert!(
            reasoning[2]["signature"].is_string(),
            "{api}: {reasoning:?}"
        );
        for e in events
            .iter()
            .filter(|e| e.event != "token" && !e.data.is_complete)
        {
            assert_eq!(e.data.token, "", "a part event has an empty token");
        }

        // Then text (block 1), then the tool call (block 2).
        let text: String = events
            .iter()
            .filter(|e| e.event == "token")
            .map(|e| e.data.token.as_str())
            .collect();
        assert!(!text.is_empty(), "{api}");
        let tool: Vec<Value> = events
            .iter()
            .filter(|e| e.event == "tool")
            .map(part)
            .collect();
        assert!(tool.len() >= 4, "start, deltas, end: {tool:?}");
        let start = &tool[0];
        assert_eq!(
            (start["type"].as_str(), start["index"].as_u64()),
            (Some("toolCall"), Some(2))
        );
        assert_eq!(start["name"], "get_weather");
        let id = start["id"].as_str().unwrap().to_owned();
        let deltas: String = tool[1..tool.len() - 1]
            .iter()
            .map(|p| p["inputDelta"].as_str().expect("an input delta"))
            .collect();
        let end = tool.last().unwrap();
        let want = json!({"city": "sample", "days": 1, "unit": "celsius"});
        assert_eq!(
            end["input"], want,
            "{api}: the end carries the parsed input"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&deltas).unwrap(),
            want,
            "the deltas are the input's JSON"
        );
        assert_eq!(
            (end["id"].as_str(), end["index"].as_u64()),
            (Some(id.as_str()), Some(2))
        );

        let last = events.last().unwrap();
        assert_eq!(last.event, "done");
        assert_eq!(last.data.stop_reason.as_deref(), Some("tool_use"), "{api}");

        // The answer reads back as request parts.
        let info = gw
            .get_json(&format!("/v1/sessions/{}", last.data.session_id))
            .await;
        let content = info["content"].as_array().unwrap();
        let kinds: Vec<&str> = content
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["reasoning", "text", "toolCall"], "{api}: {info}");
        assert_eq!(content[0]["signature"], reasoning[2]["signature"]);
        assert_eq!(content[1]["text"], text);
        assert_eq!(
            content[2],
            json!({"type":"toolCall","id":id,"name":"get_weather","input":want})
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_tool_loop_sends_the_answer_back_with_the_result() {
    let gw = Gateway::start().await;
    for api in ["invoke", "converse"] {
        let first = collect_events(gw.post_stream(tool_request(api)).await).await;
        let sid = first.last().unwrap().data.session_id.clone();
        let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
        let call_id = info["content"][2]["id"].clone();
        let second = gw
            .post_stream(json!({
                "model": SONNET,
                "api": api,
                "tools": [weather_tool()],
                "reasoning": {"budgetTokens": 2048},
                "messages": [
                    {"role": "user", "content": "[[sim tool=get_weather think=2 tokens=3]] Weather in Paris?"},
                    {"role": "assistant", "content": info["content"]},
                    {"role": "user", "content": [
                        {"type": "toolResult", "toolCallId": call_id, "content": "18C and sunny"}
                    ]}
                ]
            }))
            .await;
        assert_eq!(
            second.status(),
            200,
            "{api}: the replayed reasoning signature is accepted"
        );
        let events = collect_events(second).await;
        let text: String = events
            .iter()
            .filter(|e| e.event == "token")
            .map(|e| e.data.token.as_str())
            .collect();
        assert!(
            text.starts_with("Tool result: 18C and sunny"),
            "{api}: {text}"
        );
        assert_eq!(
            events.last().unwrap().data.stop_reason.as_deref(),
            Some("end_turn")
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn resuming_in_the_middle_of_a_tool_call_gives_identical_parts() {
    let gw = Gateway::start().await;
    let events = collect_events(gw.post_stream(tool_request("invoke")).await).await;
    let sid = events[0].data.session_id.clone();
    let mid = events
        .iter()
        .find(|e| {
            e.data
                .part
                .as_deref()
                .is_some_and(|p| serde_json::to_value(p).unwrap()["inputDelta"].is_string())
        })
        .expect("an input delta")
        .data
        .seq;
    let resumed = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{sid}/stream")))
        .bearer_auth(&gw.token)
        .header("Last-Event-ID", mid.to_string())
        .send()
        .await
        .unwrap();
    let tail = collect_events(resumed).await;
    let want: Vec<_> = events.iter().filter(|e| e.data.seq > mid).collect();
    assert_eq!(tail.len(), want.len());
    for (a, b) in tail.iter().zip(want) {
        assert_eq!((a.event.as_str(), &a.data), (b.event.as_str(), &b.data));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_parts_are_refused_before_any_upstream_call() {
    let gw = Gateway::start().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGNgYGD4D8VoDABH0wX7kHb2kgAAAABJRU5ErkJggg==";
    let user = |content: Value| json!([{"role": "user", "content": content}]);
    let cases = [
        (
            "unknown tool result id",
            json!({"model": SONNET, "tools": [weather_tool()], "messages": user(json!([
                {"type": "toolResult", "toolCallId": "toolu_nope", "content": "x"}]))}),
            "answers no toolCall",
        ),
        (
            "png bytes said to be jpeg",
            json!({"model": SONNET, "messages": user(json!([
                {"type": "text", "text": "what is this?"},
                {"type": "image", "mediaType": "image/jpeg", "data": png}]))}),
            "not image/jpeg",
        ),
        (
            "an http image url",
            json!({"model": SONNET, "messages": user(json!([
                {"type": "image", "mediaType": "image/png", "data": "https://example.com/cat.png"}]))}),
            "fetches nothing",
        ),
        (
            "tools on titan",
            json!({"model": "amazon.titan-text-express-v1", "prompt": "hi", "tools": [weather_tool()]}),
            "cannot take tools",
        ),
        (
            "a word file in Claude's own body",
            json!({"model": SONNET, "api": "invoke", "messages": user(json!([
                {"type": "text", "text": "summarise"},
                {"type": "document", "mediaType": "application/msword", "name": "notes", "data": "0M8R4KGxGuE="}]))}),
            "converse",
        ),
        (
            "an unknown part type",
            json!({"model": SONNET, "messages": user(json!([{"type": "video", "data": "AA=="}]))}),
            "video",
        ),
    ];
    for (what, body, says) in cases {
        let resp = gw.post_stream(body).await;
        assert_eq!(resp.status(), 400, "{what}");
        let err: Value = resp.json().await.unwrap();
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {err}");
    }
    assert_eq!(
        gw.sim_stats().await["streamsStarted"],
        0,
        "nothing reached the upstream"
    );
    // Still healthy, and a good image goes through.
    let ok = gw
        .post_stream(json!({"model": SONNET, "messages": user(json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image", "mediaType": "image/png", "data": png}]))}))
        .await;
    assert_eq!(ok.status(), 200);
    let events = collect_events(ok).await;
    let text: String = events.iter().map(|e| e.data.token.as_str()).collect();
    assert!(text.starts_with("[image/png 2x3]"), "{text}");
    gw.shutdown().await;
}

/// The upstream timers count every frame, not only text: DeepSeek R1's
/// reasoning is held back until its `</think>` (1.2 s here), longer than
/// both timeouts, and the stream still completes.
#[tokio::test]
async fn frames_without_text_keep_the_upstream_timers_alive() {
    let gw = Gateway::with(|c| {
        c.upstream_first_token_timeout_secs = 0.5;
        c.upstream_idle_timeout_secs = 0.5;
    })
    .await;
    let resp = gw
        .post_stream(json!({
            "model": "us.deepseek.r1-v1:0",
            "prompt": "[[sim think=12 rate=10 tokens=3]] why is the sky blue?"
        }))
        .await;
    assert_eq!(resp.status(), 200);
    let events = collect_events(resp).await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "done", "{:?}", last.data.error);
    let reasoning: String = events
        .iter()
        .filter(|e| e.event == "reasoning")
        .filter_map(|e| part(e)["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !reasoning.is_empty() && !reasoning.contains("</think>"),
        "{reasoning}"
    );
    let text: String = events.iter().map(|e| e.data.token.as_str()).collect();
    assert!(!text.is_empty() && !text.contains("</think>"), "{text}");
    gw.shutdown().await;
}
