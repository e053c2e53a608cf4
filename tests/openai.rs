//! The ecosystem protocols' wire shapes: OpenAI `chat.completions` (JSON and
//! SSE chunks) and the Vercel AI SDK's UI message stream over SSE and over
//! the `WebSocketChatTransport` frames. The real clients (the `openai` Python
//! SDK, the `ai` npm package) are driven in `tests/python` and `tests/node`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use eventsource_stream::Eventsource;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const FAST: &str = "rate=0 ttft_ms=0";

async fn post(gw: &Gateway, path: &str, token: &str, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Every `data:` of an SSE response, as text, until the stream ends.
async fn sse_data(resp: reqwest::Response) -> Vec<String> {
    within(
        Duration::from_secs(30),
        resp.bytes_stream()
            .eventsource()
            .map(|e| {
                let e = e.expect("well-formed SSE");
                assert_eq!(e.event, "message", "no named events: SDKs want bare data");
                e.data
            })
            .collect::<Vec<_>>(),
    )
    .await
}

/// A drain that runs out of time cuts a streamed chat answer with OpenAI's
/// in-stream error, retryable: never a `finish_reason: "stop"` a client
/// would take for the whole answer.
#[tokio::test]
async fn a_stream_the_drain_cuts_ends_with_an_error_not_a_stop() {
    let gw = Gateway::with(|c| c.drain_secs = 1).await;
    let token = gw.token.clone();
    let body = json!({"model": CLAUDE, "stream": true,
        "messages": user("[[sim tokens=400 rate=20]] too long to finish")});
    let resp = post(&gw, "/v1/chat/completions", &token, body).await;
    assert_eq!(resp.status(), 200);
    let stopping = tokio::spawn(gw.shutdown());
    let data = sse_data(resp).await;
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].as_str().is_none()),
        "a cut answer said it finished: {chunks:?}"
    );
    let error = &chunks.last().unwrap()["error"];
    assert_eq!(error["code"], "shutting_down", "{chunks:?}");
    within(Duration::from_secs(10), stopping).await.unwrap();
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test]
async fn chat_completion_json_shape() {
    let gw = Gateway::start().await;
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE, "messages": user(&format!("[[sim tokens=7 {FAST}]] hi"))}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], format!("chatcmpl-{sid}"));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], CLAUDE);
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(choice["message"]["content"], info["text"]);
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + 7
    );
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    // With reasoning: its estimated share of Bedrock's output count.
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "reasoning_effort": "low",
               "messages": user(&format!("[[sim think=3 tokens=4 {FAST}]] hi"))}),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let usage = &body["usage"];
    let reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        0 < reasoning && reasoning < usage["completion_tokens"].as_u64().unwrap(),
        "{usage}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn chat_completion_chunks_then_done() {
    let gw = Gateway::start().await;
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({
            "model": CLAUDE,
            "messages": user(&format!("[[sim tokens=5 {FAST}]] hi")),
            "stream": true,
            "stream_options": {"include_usage": true}
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let data = sse_data(resp).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    // role, 5 contents, finish, usage
    assert_eq!(chunks.len(), 8, "{chunks:#?}");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], format!("chatcmpl-{sid}"));
        assert_eq!(c["model"], CLAUDE);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let text: String = chunks[1..6]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        text,
        gw.get_json(&format!("/v1/sessions/{sid}")).await["text"]
    );
    assert!(chunks[..7].iter().all(|c| c["usage"].is_null()));
    assert_eq!(chunks[6]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[7]["choices"], json!([]));
    assert_eq!(chunks[7]["usage"]["completion_tokens"], 5);
    gw.shutdown().await;
}

#[tokio::test]
async fn chat_completion_errors() {
    let gw = Gateway::start().await;
    // Mid-stream: a bare `data: {"error":…}` the SDKs raise.
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE, "stream": true, "messages": user(&format!("[[sim tokens=9 error_after=2 {FAST}]] hi"))}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(resp).await;
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(err["error"]["code"], "model_stream_error");
    assert_eq!(err["error"]["type"], "api_error");
    assert!(err["error"]["message"].is_string());
    assert_eq!(data.len(), 1 + 2 + 1 + 1, "role, 2 tokens, error, [DONE]");

    // Before streaming: a real status with OpenAI's error object.
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": "acme.nope", "messages": user("hi")}),
    )
    .await;
    // A model it does not serve: OpenAI's 404 `model_not_found`.
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = post(&gw, "/v1/chat/completions", "nope", json!({})).await;
    assert_eq!(resp.status(), 401);
    gw.shutdown().await;
}

/// The status and error object of a refused request.
async fn refusal(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body["error"].clone())
}

/// What comes before a handler — the token gate, no route, a method the
/// route does not take — is in OpenAI's shape on OpenAI's routes, in each
/// API's own elsewhere.
#[tokio::test]
async fn errors_before_a_handler_are_in_the_routes_shape() {
    let gw = Gateway::start().await;
    let openai_shaped = |e: &Value, kind: &str, code: &str| {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{e}");
        assert_eq!(
            (&e["type"], &e["code"]),
            (&json!(kind), &json!(code)),
            "{e}"
        );
        assert!(e["param"].is_null(), "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    };
    for path in ["/v1/chat/completions", "/v1/responses"] {
        let (status, e) = refusal(post(&gw, path, "nope", json!({})).await).await;
        assert_eq!(status, 401);
        openai_shaped(&e, "authentication_error", "invalid_token");
    }
    let anonymous = gw
        .http
        .get(gw.url("/v1/responses/resp_x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let (status, e) = refusal(anonymous).await;
    assert_eq!(status, 401);
    openai_shaped(&e, "authentication_error", "missing_token");
    let wrong_method = gw
        .http
        .get(gw.url("/v1/chat/completions"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.headers()["allow"], "POST");
    let (status, e) = refusal(wrong_method).await;
    assert_eq!(status, 405);
    openai_shaped(&e, "invalid_request_error", "method_not_allowed");
    let (status, e) = refusal(post(&gw, "/v1/embeddings", &gw.token, json!({})).await).await;
    assert_eq!(status, 404);
    openai_shaped(&e, "not_found_error", "not_found");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/embeddings"),
        "{e}"
    );
    // The gateway's own routes keep `{"error":{"code","message"}}`.
    let (status, e) = refusal(post(&gw, "/v1/stream", "nope", json!({})).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        e,
        json!({"code": "invalid_token", "message": "malformed token"})
    );
    let (status, e) = refusal(post(&gw, "/nowhere", &gw.token, json!({})).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        e,
        json!({"code": "not_found", "message": "no route for POST /nowhere"})
    );
    let stream_get = gw
        .http
        .get(gw.url("/v1/stream"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    let (status, e) = refusal(stream_get).await;
    assert_eq!(status, 405);
    assert_eq!(e["code"], "method_not_allowed");
    assert!(e.get("type").is_none(), "{e}");
    // Anthropic's route keeps Anthropic's.
    let anthropic = gw
        .http
        .post(gw.url("/v1/messages"))
        .header("x-api-key", "nope")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 401);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn models_in_openai_list_shape() {
    let gw = Gateway::start().await;
    let list = gw.get_json("/v1/models").await;
    assert_eq!(list["object"], "list");
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == CLAUDE && m["object"] == "model")
    );
    let one = gw.get_json(&format!("/v1/models/{CLAUDE}")).await;
    assert_eq!(one["id"], CLAUDE);
    let missing = gw
        .http
        .get(gw.url("/v1/models/acme.nope"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    gw.shutdown().await;
}

/// `get_weather(city)`, as an OpenAI function tool.
fn weather_tool() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            }
        }
    }])
}

/// The chunks of a streamed completion, `[DONE]` checked and dropped.
async fn chunks(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    let data = sse_data(resp).await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Bytes that start like a PNG of `w`×`h` (signature and IHDR), as base64.
fn png(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn chat_completion_tool_loop() {
    let gw = Gateway::start().await;
    let question = json!({"role": "user", "content": format!("[[sim tool=get_weather {FAST}]] Weather in Paris?")});
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE, "stream": true, "tools": weather_tool(), "messages": [question]}),
    )
    .await;
    let chunks = chunks(resp).await;
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert!(calls.len() >= 2, "a head and argument pieces: {chunks:#?}");
    for c in &calls {
        assert_eq!(c.as_array().unwrap().len(), 1, "one call per delta");
    }
    let head = &calls[0][0];
    assert_eq!(head["index"], 0);
    assert_eq!(head["type"], "function");
    assert_eq!(head["function"]["name"], "get_weather");
    let id = head["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    let mut arguments = head["function"]["arguments"].as_str().unwrap().to_owned();
    for c in &calls[1..] {
        let piece = &c[0];
        assert_eq!(piece["index"], 0);
        assert!(piece.get("id").is_none() && piece["function"].get("name").is_none());
        arguments.push_str(piece["function"]["arguments"].as_str().unwrap());
    }
    let input: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(input, json!({"city": "sample"}));
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();

    // The tool's answer goes back; the simulator echoes it.
    let assistant = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { json!(text) },
        "tool_calls": [{"id": id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]
    });
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({
            "model": CLAUDE,
            "tools": weather_tool(),
            "messages": [question, assistant, {"role": "tool", "tool_call_id": id, "content": "22 °C and sunny"}]
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("Tool result: 22 °C and sunny"),
        "{content}"
    );

    // Without streaming: `message.tool_calls`, arguments as a JSON string.
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE, "tools": weather_tool(), "tool_choice": "required", "messages": [question]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let input: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"city": "sample"}));
    gw.shutdown().await;
}

#[tokio::test]
async fn chat_completion_refuses_parts_it_cannot_send() {
    let gw = Gateway::start().await;
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]});
    let image = |url: String| {
        json!([{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}}]}])
    };
    let cases = [
        (
            json!({"model": CLAUDE, "tools": weather_tool(), "messages": [
                {"role": "user", "content": "Weather?"}, call,
                {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}]}),
            "messages[2] (a tool message): tool_call_id 'call_9' answers no tool_calls entry",
        ),
        (
            json!({"model": CLAUDE, "messages": image("https://example.com/cat.png".into())}),
            "fetches nothing",
        ),
        (
            // The label is a hint (OpenAI reads the bytes), but bytes of no known image are refused.
            json!({"model": CLAUDE, "messages": image("data:image/jpeg;base64,bm90IGEgcGljdHVyZQ==".into())}),
            "not image/jpeg",
        ),
        (
            json!({"model": "amazon.titan-text-express-v1", "tools": weather_tool(),
                   "messages": [{"role": "user", "content": "Weather?"}]}),
            "cannot take tools",
        ),
        (
            json!({"model": CLAUDE, "tools": weather_tool(), "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{city"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "x"}]}),
            "not JSON",
        ),
    ];
    let before = gw.sim_stats().await["streamsStarted"].as_u64().unwrap();
    for (body, want) in cases {
        let resp = post(&gw, "/v1/chat/completions", &gw.token, body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["type"], "invalid_request_error");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{body}: {message}");
    }
    assert_eq!(
        gw.sim_stats().await["streamsStarted"].as_u64().unwrap(),
        before,
        "refused before any upstream call"
    );
    // Still healthy: a plain completion goes through.
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &gw.token,
        json!({"model": CLAUDE, "messages": user(&format!("[[sim tokens=2 {FAST}]] hi"))}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn chat_completion_images_are_what_their_bytes_say() {
    let gw = Gateway::start().await;
    // OpenAI reads the bytes; its own docs label every picture `image/jpeg`.
    for label in ["image/jpeg", "image/jpg", "IMAGE/PNG"] {
        let resp = post(
            &gw,
            "/v1/chat/completions",
            &gw.token,
            json!({"model": CLAUDE, "messages": [{"role": "user", "content": [
                {"type": "text", "text": format!("[[sim tokens=1 {FAST}]] What is this?")},
                {"type": "image_url", "image_url": {"url": format!("data:{label};base64,{}", png(4, 3))}}]}]}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{label}");
        let body: Value = resp.json().await.unwrap();
        let answer = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(answer.starts_with("[image/png 4x3]"), "{label}: {answer}");
    }
    gw.shutdown().await;
}

/// A `DefaultChatTransport` body.
fn chat_body(chat_id: &str, text: &str) -> Value {
    json!({
        "id": chat_id,
        "trigger": "submit-message",
        "messageId": null,
        "model": CLAUDE,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}]
    })
}

fn chunk_types(data: &[String]) -> Vec<String> {
    data.iter()
        .map(|d| match serde_json::from_str::<Value>(d) {
            Ok(v) => v["type"].as_str().unwrap().to_owned(),
            Err(_) => d.clone(),
        })
        .collect()
}

#[tokio::test]
async fn ai_sdk_ui_message_stream_over_sse() {
    let gw = Gateway::start().await;
    let resp = post(
        &gw,
        "/v1/ai-sdk/chat",
        &gw.token,
        chat_body("c1", &format!("[[sim tokens=3 {FAST}]] hi")),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-vercel-ai-ui-message-stream"], "v1");
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let data = sse_data(resp).await;
    assert_eq!(
        chunk_types(&data),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ]
    );
    let start: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(start, json!({"type": "start", "messageId": sid}));
    let finish: Value = serde_json::from_str(&data[8]).unwrap();
    assert_eq!(finish, json!({"type": "finish", "finishReason": "stop"}));

    // Errors: a chunk with `errorText`, and a real status before streaming.
    let resp = post(
        &gw,
        "/v1/ai-sdk/chat",
        &gw.token,
        chat_body("c2", &format!("[[sim tokens=9 error_after=1 {FAST}]] hi")),
    )
    .await;
    let data = sse_data(resp).await;
    let types = chunk_types(&data);
    assert_eq!(
        types[types.len() - 4..],
        ["text-end", "error", "finish", "[DONE]"]
    );
    let error: Value = serde_json::from_str(&data[data.len() - 3]).unwrap();
    assert!(
        error["errorText"]
            .as_str()
            .unwrap()
            .contains("model_stream_error")
    );
    let resp = post(
        &gw,
        "/v1/ai-sdk/chat",
        &gw.token,
        json!({"id": "c3", "messages": []}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    gw.shutdown().await;
}

#[tokio::test]
async fn ai_sdk_resume_replays_the_active_stream_or_answers_204() {
    let gw = Gateway::with(|c| c.cancel_grace_secs = 60.0).await;
    let resume = |token: &str, chat: &str| {
        gw.http
            .get(gw.url(&format!("/v1/ai-sdk/chat/{chat}/stream")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(resume(&gw.token, "nothing").await.unwrap().status(), 204);

    let first = post(
        &gw,
        "/v1/ai-sdk/chat",
        &gw.token,
        chat_body("c1", "[[sim tokens=20 rate=40 ttft_ms=0]] hi"),
    )
    .await;
    let sid = first.headers()["x-session-id"].to_str().unwrap().to_owned();
    drop(first); // the reader drops; the stream runs on through the grace
    let bob = gw.token_for("bob", &[]);
    assert_eq!(
        resume(&bob, "c1").await.unwrap().status(),
        204,
        "not bob's chat"
    );
    let again = resume(&gw.token, "c1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["x-session-id"], sid.as_str());
    let types = chunk_types(&sse_data(again).await);
    assert_eq!(types[0], "start", "a replay from the start");
    assert_eq!(types.iter().filter(|t| *t == "text-delta").count(), 20);
    assert_eq!(types[types.len() - 2..], ["finish", "[DONE]"]);
    assert_eq!(resume(&gw.token, "c1").await.unwrap().status(), 204);
    gw.shutdown().await;
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn ai_ws(gw: &Gateway) -> Socket {
    let mut req = format!("{}/v1/ai-sdk/ws", gw.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("spillway.v1, bearer.{}", gw.token).parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "spillway.v1");
    ws
}

async fn recv(ws: &mut Socket) -> Value {
    loop {
        match within(Duration::from_secs(15), ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn frame(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn send_frame(rid: &str, chat: &str, text: &str) -> Value {
    json!({
        "type": "send", "requestId": rid, "id": chat, "trigger": "submit-message",
        "messageId": null, "headers": {}, "metadata": null, "body": {"model": CLAUDE},
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}]
    })
}

/// Frames for `rid` until its `end` (or `error` / `no-active`).
async fn frames_until_end(ws: &mut Socket, rid: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let f = recv(ws).await;
        if f["requestId"] != rid {
            continue;
        }
        let last = matches!(f["type"].as_str(), Some("end" | "error" | "no-active"));
        out.push(f);
        if last {
            return out;
        }
    }
}

#[tokio::test]
async fn ai_sdk_websocket_frames() {
    let gw = Gateway::with(|c| c.cancel_grace_secs = 60.0).await;
    let mut ws = ai_ws(&gw).await;
    frame(
        &mut ws,
        send_frame("r1", "c1", &format!("[[sim tokens=4 {FAST}]] hi")),
    )
    .await;
    let frames = frames_until_end(&mut ws, "r1").await;
    assert_eq!(frames[0], json!({"type": "start", "requestId": "r1"}));
    assert_eq!(frames.last().unwrap()["type"], "end");
    let chunks = &frames[1..frames.len() - 1];
    for (i, f) in chunks.iter().enumerate() {
        assert_eq!(f["type"], "chunk");
        assert_eq!(f["sequence"], i as u64);
    }
    let types: Vec<_> = chunks
        .iter()
        .map(|f| f["chunk"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish"
        ]
    );

    // Resume with lastSequence skips what the client has; no-active once done.
    frame(
        &mut ws,
        send_frame("r2", "c2", "[[sim tokens=30 rate=30 ttft_ms=0]] hi"),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "start");
    frame(
        &mut ws,
        json!({"type": "resume", "requestId": "r3", "id": "c2", "lastSequence": 4, "headers": {}, "body": {}}),
    )
    .await;
    let resumed = frames_until_end(&mut ws, "r3").await;
    assert_eq!(resumed[1]["sequence"], 5);
    assert_eq!(resumed.last().unwrap()["type"], "end");
    // r3's `end` follows the final event, so the session has finished.
    frame(
        &mut ws,
        json!({"type": "resume", "requestId": "r4", "id": "c2", "headers": {}, "body": {}}),
    )
    .await;
    assert_eq!(
        frames_until_end(&mut ws, "r4").await,
        [json!({"type": "no-active", "requestId": "r4"})]
    );

    // Abort stops the upstream at once (the grace is 60 s).
    let before = gw.sim_stats().await["streamsCancelled"].as_u64().unwrap();
    frame(
        &mut ws,
        send_frame("r5", "c3", "[[sim tokens=500 rate=20 ttft_ms=0]] hi"),
    )
    .await;
    let first_chunk = loop {
        let f = recv(&mut ws).await;
        if f["type"] == "chunk" {
            break f;
        }
    };
    let sid = first_chunk["chunk"]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    frame(&mut ws, json!({"type": "abort", "requestId": "r5"})).await;
    eventually(Duration::from_secs(10), || async {
        gw.sim_stats().await["streamsCancelled"].as_u64().unwrap() == before + 1
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        gw.get_json(&format!("/v1/sessions/{sid}")).await["status"] == "cancelled"
    })
    .await;

    // Bad frames get error frames; the socket stays up.
    frame(&mut ws, json!({"type": "dance", "requestId": "r6"})).await;
    let err = frames_until_end(&mut ws, "r6").await;
    assert_eq!(err[0]["type"], "error");
    frame(&mut ws, send_frame("r7", "c4", "   ")).await;
    let err = frames_until_end(&mut ws, "r7").await;
    assert_eq!(err[0]["type"], "error");
    assert!(err[0]["errorText"].as_str().unwrap().contains("prompt"));
    gw.shutdown().await;
}
