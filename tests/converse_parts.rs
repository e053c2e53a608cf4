//! Tools, images and documents for models whose own InvokeModel body is a
//! prompt string (Llama, Mistral, Cohere): a request that names no API goes
//! through Converse, which takes them as AWS's Converse feature table lists,
//! on the core SSE route, the OpenAI chat route (whose clients cannot name
//! an API) and the Anthropic Messages route (Converse for every model but
//! Claude). What a model takes through no API, or a named InvokeModel
//! for parts only Converse takes, is a 400 naming the model and the part.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};

const LLAMA_90B: &str = "us.meta.llama3-2-90b-instruct-v1:0";
const MISTRAL_LARGE: &str = "mistral.mistral-large-2402-v1:0";
const COMMAND_R_PLUS: &str = "cohere.command-r-plus-v1:0";
const LLAMA_33: &str = "us.meta.llama3-3-70b-instruct-v1:0";
const TITAN: &str = "amazon.titan-text-express-v1";
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGNgYGD4D8VoDABH0wX7kHb2kgAAAABJRU5ErkJggg==";
const ASK: &str = "[[sim tool=get_weather tokens=2 rate=0 ttft_ms=0]] Weather in Paris?";

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "inputSchema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }
    })
}

/// An attachment each model takes through Converse, and the line the
/// simulator's answer begins with for it.
fn attachment(model: &str) -> (Value, &'static str) {
    if model == LLAMA_90B {
        (
            json!({"type": "image", "mediaType": "image/png", "data": PNG}),
            "[image/png 2x3]\n",
        )
    } else {
        (
            json!({"type": "document", "mediaType": "text/plain", "name": "notes", "data": "aGVsbG8="}),
            "[document notes 5 bytes]\n",
        )
    }
}

#[tokio::test]
async fn a_tool_round_trip_and_an_attachment_on_the_core_route() {
    let gw = Gateway::start().await;
    for model in [LLAMA_90B, MISTRAL_LARGE, COMMAND_R_PLUS] {
        let (attached, line) = attachment(model);
        let first = stream(
            &gw,
            json!({"model": model, "tools": [weather_tool()], "messages": [
                {"role": "user", "content": [{"type": "text", "text": ASK}, attached]}]}),
        )
        .await;
        assert!(text_of(&first).starts_with(line), "{model}: {first:?}");
        let done = first.last().unwrap();
        assert_eq!(
            done.data.stop_reason.as_deref(),
            Some("tool_use"),
            "{model}"
        );
        let info = gw
            .get_json(&format!("/v1/sessions/{}", done.data.session_id))
            .await;
        let content = info["content"].clone();
        let call = content
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["type"] == "toolCall")
            .unwrap_or_else(|| panic!("{model}: {content}"));
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["input"], json!({"city": "sample"}));

        let answer = stream(
            &gw,
            json!({"model": model, "tools": [weather_tool()], "messages": [
                {"role": "user", "content": ASK},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [
                    {"type": "toolResult", "toolCallId": call["id"], "content": "sunny"}]}]}),
        )
        .await;
        assert!(
            text_of(&answer).starts_with("Tool result: sunny\n"),
            "{model}: {}",
            text_of(&answer)
        );
        assert_eq!(
            answer.last().unwrap().data.stop_reason.as_deref(),
            Some("end_turn"),
            "{model}"
        );
    }
    gw.shutdown().await;
}

async fn chat(gw: &Gateway, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&gw.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn openai_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": weather_tool()["inputSchema"]}}])
}

#[tokio::test]
async fn a_tool_round_trip_and_an_image_on_the_openai_chat_route() {
    let gw = Gateway::start().await;
    for model in [LLAMA_90B, MISTRAL_LARGE, COMMAND_R_PLUS] {
        let resp = chat(
            &gw,
            json!({"model": model, "tools": openai_tool(),
                   "messages": [{"role": "user", "content": ASK}]}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{model}");
        let body: Value = resp.json().await.unwrap();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {body}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
            json!({"city": "sample"})
        );

        let resp = chat(
            &gw,
            json!({"model": model, "tools": openai_tool(), "messages": [
                {"role": "user", "content": ASK},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{model}");
        let body: Value = resp.json().await.unwrap();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "stop", "{model}: {body}");
        let text = choice["message"]["content"].as_str().unwrap();
        assert!(text.starts_with("Tool result: sunny\n"), "{model}: {text}");
    }
    let resp = chat(
        &gw,
        json!({"model": LLAMA_90B, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "[[sim tokens=2 rate=0 ttft_ms=0]] What is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.starts_with("[image/png 2x3]\n"), "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_tool_round_trip_on_the_anthropic_messages_route() {
    let gw = Gateway::start().await;
    let messages = |body: Value| {
        gw.http
            .post(gw.url("/v1/messages"))
            .header("x-api-key", &gw.token)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };
    let tools = json!([{"name": "get_weather", "input_schema": weather_tool()["inputSchema"]}]);
    for model in [LLAMA_90B, MISTRAL_LARGE, COMMAND_R_PLUS] {
        let resp = messages(json!({"model": model, "max_tokens": 200, "tools": tools,
            "messages": [{"role": "user", "content": ASK}]}))
        .await
        .unwrap();
        assert_eq!(resp.status(), 200, "{model}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["stop_reason"], "tool_use", "{model}: {body}");
        let call = body["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap()
            .clone();
        assert_eq!(call["input"], json!({"city": "sample"}));
        let resp = messages(
            json!({"model": model, "max_tokens": 200, "tools": tools, "messages": [
            {"role": "user", "content": ASK},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}]}]}),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 200, "{model}");
        let body: Value = resp.json().await.unwrap();
        let text = body["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("Tool result: sunny\n"), "{model}: {text}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn what_a_model_does_not_take_is_refused_by_model_and_part() {
    let gw = Gateway::start().await;
    let image = json!({"type": "image", "mediaType": "image/png", "data": PNG});
    let with_image = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, image]}]})
    };
    let cases = [
        (
            with_image(LLAMA_33),
            format!("{LLAMA_33} cannot take images"),
        ),
        (
            with_image(MISTRAL_LARGE),
            format!("{MISTRAL_LARGE} cannot take images"),
        ),
        (
            json!({"model": TITAN, "prompt": "hi", "tools": [weather_tool()]}),
            format!("{TITAN} cannot take tools"),
        ),
        (
            json!({"model": LLAMA_90B, "api": "invoke", "prompt": "hi", "tools": [weather_tool()]}),
            format!(
                "{LLAMA_90B} takes tools through Converse, not in its own InvokeModel body: send them with api \"converse\""
            ),
        ),
        (
            json!({"model": COMMAND_R_PLUS, "api": "invoke", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "summarise"},
                {"type": "document", "mediaType": "text/plain", "name": "n", "data": "aGk="}]}]}),
            format!(
                "{COMMAND_R_PLUS} takes documents through Converse, not in its own InvokeModel body: send them with api \"converse\""
            ),
        ),
    ];
    for (body, says) in cases {
        let resp = gw.post_stream(body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["message"], says, "{body}");
    }
    let resp = chat(
        &gw,
        json!({"model": LLAMA_33, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(
        err["error"]["message"],
        format!("{LLAMA_33} cannot take images")
    );
    assert_eq!(
        gw.sim_stats().await["streamsStarted"],
        0,
        "nothing reached the upstream"
    );
    gw.shutdown().await;
}
