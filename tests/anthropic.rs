//! Anthropic's Messages API over HTTP: the exact event sequence of a streamed
//! answer with thinking and a tool call, the tool loop back, one `message`
//! without streaming, model aliases, `count_tokens`, and every refusal in
//! Anthropic's error shape. The official `anthropic` SDK is driven in
//! `tests/python/test_anthropic.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

const FAST: &str = "rate=0 ttft_ms=0";
const SONNET_4_5: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

async fn post(gw: &Gateway, path: &str, key: &str, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.url(path))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Every SSE event until the stream ends: `(event name, data)`; the name is
/// always the data's `type`.
async fn events(resp: reqwest::Response) -> Vec<Value> {
    within(
        Duration::from_secs(30),
        resp.bytes_stream()
            .eventsource()
            .map(|e| {
                let e = e.expect("well-formed SSE");
                let data: Value = serde_json::from_str(&e.data).expect("JSON data");
                assert_eq!(e.event, data["type"].as_str().unwrap(), "{data}");
                data
            })
            .filter(|d| std::future::ready(d["type"] != "ping"))
            .collect::<Vec<_>>(),
    )
    .await
}

fn weather_tool() -> Value {
    json!([{
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }])
}

/// Refused with `status` and Anthropic's error `type`; returns the message.
async fn refused(resp: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// Each event as `type index kind`, the shape of the sequence.
fn shape(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["content_block"]["type"]
                .as_str()
                .or_else(|| e["delta"]["type"].as_str())
                .unwrap_or("");
            format!("{} {} {kind}", e["type"].as_str().unwrap(), e["index"])
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// The content blocks of a streamed message, put together as the SDKs do.
fn accumulate(events: &[Value]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_input = String::new();
    for e in events {
        match e["type"].as_str().unwrap() {
            "content_block_start" => {
                blocks.push(e["content_block"].clone());
                json_input.clear();
            }
            "content_block_delta" => {
                let b = blocks.last_mut().unwrap();
                let d = &e["delta"];
                let append = |b: &mut Value, key: &str, piece: &Value| {
                    let mut s = b[key].as_str().unwrap_or("").to_owned();
                    s.push_str(piece.as_str().unwrap());
                    b[key] = json!(s);
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => append(b, "signature", &d["signature"]),
                    "input_json_delta" => json_input.push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let b = blocks.last_mut().unwrap();
                if b["type"] == "tool_use" && !json_input.is_empty() {
                    b["input"] = serde_json::from_str(&json_input).unwrap();
                }
            }
            _ => {}
        }
    }
    blocks
}

#[tokio::test]
async fn streamed_thinking_and_tool_call_then_the_tool_loop() {
    let gw = Gateway::start().await;
    let question = json!({"role": "user", "content": format!("[[sim tool=get_weather think=2 tokens=2 {FAST}]] Weather in Paris?")});
    let request = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": weather_tool(),
        "messages": [question],
    });
    let resp = post(&gw, "/v1/messages", &gw.token, request).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let events = events(resp).await;
    assert_eq!(
        shape(&events),
        [
            "message_start null",
            "content_block_start 0 thinking",
            "content_block_delta 0 thinking_delta",
            "content_block_delta 0 thinking_delta",
            "content_block_delta 0 signature_delta",
            "content_block_stop 0",
            "content_block_start 1 text",
            "content_block_delta 1 text_delta",
            "content_block_delta 1 text_delta",
            "content_block_stop 1",
            "content_block_start 2 tool_use",
            "content_block_delta 2 input_json_delta",
            "content_block_delta 2 input_json_delta",
            "content_block_delta 2 input_json_delta",
            "content_block_stop 2",
            "message_delta null",
            "message_stop null",
        ][..],
        "{events:#?}"
    );
    let start = &events[0]["message"];
    assert_eq!(start["id"], format!("msg_{sid}"));
    assert_eq!(start["model"], "claude-sonnet-4-5");
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    let tool = &events[10]["content_block"];
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(tool["input"], json!({}));
    let input: String = events
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "sample"})
    );
    let end = &events[15];
    assert_eq!(end["delta"]["stop_reason"], "tool_use");
    assert_eq!(end["delta"]["stop_sequence"], Value::Null);
    assert!(end["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // The assistant turn as returned (signed thinking included), the result back.
    let content = accumulate(&events);
    assert_eq!(content[0]["type"], "thinking");
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(content[2]["input"], json!({"city": "sample"}));
    let assistant = json!({"role": "assistant", "content": content});
    let result = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tool["id"], "content": "22 °C and sunny"}
    ]});
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": weather_tool(),
            "messages": [question, assistant, result],
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let text = body["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "text")
        .unwrap()["text"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("Tool result: 22 °C and sunny"), "{body}");
    assert_eq!(body["stop_reason"], "end_turn");

    // A signature the simulator never issued is Bedrock's 400.
    let forged = json!({"role": "assistant", "content": [
        {"type": "thinking", "thinking": "x", "signature": "forged"},
        {"type": "tool_use", "id": tool["id"], "name": "get_weather", "input": {}},
    ]});
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        json!({"model": "claude-sonnet-4-5", "max_tokens": 2048, "tools": weather_tool(),
               "thinking": {"type": "enabled", "budget_tokens": 1024},
               "messages": [question, forged, result]}),
    )
    .await;
    refused(resp, 400, "invalid_request_error").await;
}

#[tokio::test]
async fn one_message_without_streaming() {
    let gw = Gateway::start().await;
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        json!({"model": "claude-3-haiku-20240307", "max_tokens": 100, "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": format!("[[sim tokens=7 {FAST}]] hi")}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(
        body,
        json!({
            "id": format!("msg_{sid}"),
            "type": "message",
            "role": "assistant",
            "model": "claude-3-haiku-20240307",
            "content": [{"type": "text", "text": info["text"]}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            // The cached system prompt ("be brief") is written to the cache.
            "usage": {"input_tokens": body["usage"]["input_tokens"], "output_tokens": 7,
                      "cache_creation_input_tokens": 2, "cache_read_input_tokens": 0},
        })
    );
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(info["model"], CLAUDE);
}

#[tokio::test]
async fn aliases_one_m_and_bedrock_ids() {
    let gw = Gateway::with(|c| {
        c.model_aliases
            .0
            .insert("house-model".into(), "us.amazon.nova-lite-v1:0".into());
    })
    .await;
    let ask = |model: &str| {
        json!({"model": model, "max_tokens": 50,
               "messages": [{"role": "user", "content": format!("[[sim tokens=3 {FAST}]] hi")}]})
    };
    for (name, id) in [
        ("claude-sonnet-4-5-20250929[1m]", SONNET_4_5),
        (
            "claude-haiku-4-5",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (CLAUDE, CLAUDE),
        ("house-model", "us.amazon.nova-lite-v1:0"),
    ] {
        let resp = post(&gw, "/v1/messages", &gw.token, ask(name)).await;
        assert_eq!(resp.status(), 200, "{name}");
        let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["model"], name);
        assert_eq!(body["content"][0]["type"], "text", "{name}: {body}");
        let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
        assert_eq!(info["model"], id, "{name}");
    }

    // A non-Claude model streams through Converse, in Anthropic's shapes.
    let mut req = ask("house-model");
    req["stream"] = json!(true);
    let events = events(post(&gw, "/v1/messages", &gw.token, req).await).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["message_start", "content_block_start"]);
    assert_eq!(
        types[types.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );

    let msg = refused(
        post(&gw, "/v1/messages", &gw.token, ask("claude-9-ultra")).await,
        404,
        "not_found_error",
    )
    .await;
    assert!(msg.contains("claude-9-ultra"), "{msg}");
}

#[tokio::test]
async fn the_allow_list_still_applies() {
    let gw = Gateway::with(|c| {
        c.allowed_models = vec![CLAUDE.into()];
        c.default_model = CLAUDE.into();
    })
    .await;
    let ask = |model: &str| json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": format!("[[sim {FAST}]] hi")}]});
    let msg = refused(
        post(&gw, "/v1/messages", &gw.token, ask("claude-sonnet-4-5")).await,
        404,
        "not_found_error",
    )
    .await;
    assert!(msg.contains(SONNET_4_5), "{msg}");
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        ask("claude-3-haiku-20240307"),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn keys_and_refusals_in_anthropics_shape() {
    let gw = Gateway::start().await;
    let good = json!({"model": "claude-3-haiku-20240307", "max_tokens": 20,
                      "messages": [{"role": "user", "content": format!("[[sim tokens=2 {FAST}]] hi")}]});
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let resp = gw.http.post(gw.url(path)).json(&good).send().await.unwrap();
        refused(resp, 401, "authentication_error").await;
        let resp = post(&gw, path, "not-a-jwt", good.clone()).await;
        refused(resp, 401, "authentication_error").await;
    }
    // The bearer form works too (an SDK's `auth_token`, Claude Code).
    let resp = gw
        .http
        .post(gw.url("/v1/messages"))
        .bearer_auth(&gw.token)
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let bad_json = gw
        .http
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &gw.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    refused(bad_json, 400, "invalid_request_error").await;
    for (body, says) in [
        (json!([1, 2]), "JSON object"),
        (
            json!({"model": "claude-3-haiku-20240307", "max_tokens": 5}),
            "messages",
        ),
        (
            json!({"model": "claude-3-haiku-20240307", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "claude-3-haiku-20240307", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]}),
            "not fetched",
        ),
        (
            json!({"model": "claude-3-haiku-20240307", "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]}),
            "user",
        ),
        (
            json!({"model": "claude-3-haiku-20240307", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}),
            "robot",
        ),
    ] {
        let msg = refused(
            post(&gw, "/v1/messages", &gw.token, body.clone()).await,
            400,
            "invalid_request_error",
        )
        .await;
        assert!(msg.contains(says), "{body}: {msg}");
    }

    // The gateway is fine after all that.
    let resp = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = post(&gw, "/v1/messages", &gw.token, good).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn count_tokens_is_bedrocks_count_for_claude() {
    let gw = Gateway::start().await;
    let messages = json!([{"role": "user", "content": "[[sim tokens=2 rate=0 ttft_ms=0]] Name three rivers of Europe."}]);
    let resp = post(
        &gw,
        "/v1/messages/count_tokens",
        &gw.token,
        json!({"model": "claude-sonnet-4-5", "system": "be brief", "messages": messages}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let counted = body["input_tokens"].as_u64().unwrap();
    // Bedrock (the simulator) counts it as it bills the same request.
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        json!({"model": "claude-sonnet-4-5", "system": "be brief", "max_tokens": 50, "messages": messages}),
    )
    .await;
    let message: Value = resp.json().await.unwrap();
    assert_eq!(
        counted,
        message["usage"]["input_tokens"].as_u64().unwrap(),
        "{message}"
    );
    let resp = post(
        &gw,
        "/v1/messages/count_tokens",
        &gw.token,
        json!({"model": "claude-9-ultra", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    refused(resp, 404, "not_found_error").await;
}

#[tokio::test]
async fn pings_while_the_model_is_slow() {
    let gw = Gateway::start().await;
    let resp = post(
        &gw,
        "/v1/messages",
        &gw.token,
        json!({"model": "claude-3-haiku-20240307", "max_tokens": 20, "stream": true,
               "messages": [{"role": "user", "content": "[[sim tokens=2 ttft_ms=2500 rate=0]] hi"}]}),
    )
    .await;
    let raw = within(Duration::from_secs(30), resp.text()).await.unwrap();
    assert!(
        raw.contains("event: ping\ndata: {\"type\":\"ping\"}\n\n"),
        "{raw}"
    );
    assert!(
        raw.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{raw}"
    );
}

#[test]
fn model_aliases_setting_is_a_json_object_of_names() {
    use clap::Parser;
    use spillway::config::Cli;
    let parse = |v: &str| Cli::try_parse_from(["spillway", "--model-aliases", v]);
    let cli = parse(r#"{"fast":"anthropic.claude-3-haiku-20240307-v1:0"}"#).unwrap();
    assert_eq!(cli.serve.model_aliases.0["fast"], CLAUDE);
    for bad in [
        "{not json",
        r#"["a"]"#,
        r#"{"a":1}"#,
        r#"{"":"x"}"#,
        r#"{"a":" "}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(
        Cli::try_parse_from(["spillway"])
            .unwrap()
            .serve
            .model_aliases
            .0
            .is_empty()
    );
}

/// While nothing else is sent, Anthropic's stream carries `ping` events (as
/// Anthropic's own API does), not SSE comments.
#[tokio::test]
async fn a_quiet_stream_sends_ping_events() {
    let gw = Gateway::with(|c| c.heartbeat_secs = 0.1).await;
    let request = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "[[sim tokens=2 ttft_ms=600]] Hi"}],
    });
    let resp = post(&gw, "/v1/messages", &gw.token, request).await;
    assert_eq!(resp.status(), 200);
    let body = within(Duration::from_secs(20), resp.text()).await.unwrap();
    let start = body.find("event: message_start\n").expect("message_start");
    let delta = body.find("event: content_block_delta\n").expect("a delta");
    assert!(
        body[start..delta].contains("event: ping\ndata: {\"type\":\"ping\"}\n\n"),
        "no ping while waiting for the first token: {body:?}"
    );
}

/// `message_start` carries the prompt's counts when the model gives them
/// before its answer, as Claude does (raw-stream readers such as LangChain
/// take input tokens from it and only output tokens from `message_delta`);
/// a Converse model counts only at the end, so its `message_start` says 0.
#[tokio::test]
async fn message_start_carries_the_prompt_count_when_the_model_gives_it() {
    let gw = Gateway::start().await;
    let ask = |model: &str, ttft: u32| {
        json!({"model": model, "max_tokens": 50, "stream": true,
               "messages": [{"role": "user", "content": format!("[[sim tokens=3 rate=0 ttft_ms={ttft}]] what is a prompt count")}]})
    };
    // A fast first token, and a slower one (within the default 15 s
    // heartbeat's half, so `message_start` waits for it).
    for ttft in [0, 300] {
        let events = events(
            post(
                &gw,
                "/v1/messages",
                &gw.token,
                ask("claude-sonnet-4-5", ttft),
            )
            .await,
        )
        .await;
        let start = &events[0]["message"]["usage"];
        let end = &events[events.len() - 2]["usage"];
        assert_eq!(events[0]["type"], "message_start");
        assert!(start["input_tokens"].as_u64().unwrap() > 0, "{start}");
        assert_eq!(start["input_tokens"], end["input_tokens"], "{events:?}");
        assert_eq!(start["output_tokens"], 0);
        assert!(end["output_tokens"].as_u64().unwrap() > 0);
    }
    let events = events(
        post(
            &gw,
            "/v1/messages",
            &gw.token,
            ask("us.amazon.nova-lite-v1:0", 0),
        )
        .await,
    )
    .await;
    assert_eq!(events[0]["message"]["usage"]["input_tokens"], 0);
    assert!(
        events[events.len() - 2]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// `message_start` does not wait long for a slow first token: it goes out
/// after half a heartbeat, and pings follow it (never precede it). The
/// prompt's count is then whatever the model has said by that time (the
/// simulator, like Bedrock, opens with its first token: nothing yet).
#[tokio::test]
async fn message_start_waits_at_most_half_a_heartbeat() {
    let gw = Gateway::with(|c| c.heartbeat_secs = 0.2).await;
    let request = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "[[sim tokens=2 ttft_ms=800]] Hi"}],
    });
    let resp = post(&gw, "/v1/messages", &gw.token, request).await;
    let mut stream = resp.bytes_stream().eventsource();
    let first = within(Duration::from_secs(20), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.event, "message_start");
    let second = within(Duration::from_secs(20), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.event, "ping", "the first token is 800 ms away");
}
