//! OpenAI's Responses API over HTTP: `POST /v1/responses` streamed (named
//! SSE events) and not, `previous_response_id`, `GET /v1/responses/{id}`,
//! refusals in OpenAI's error shape. The official `openai` Python SDK drives
//! the same routes in `tests/python/test_responses.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

const FAST: &str = "rate=0 ttft_ms=0";
/// A model with extended thinking.
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

async fn create(gw: &Gateway, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.url("/v1/responses"))
        .bearer_auth(&gw.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Every event of a streamed response: its SSE name and its data.
async fn events(resp: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(resp.status(), 200);
    within(
        Duration::from_secs(30),
        resp.bytes_stream()
            .eventsource()
            .map(|e| {
                let e = e.expect("well-formed SSE");
                (e.event, serde_json::from_str(&e.data).expect("JSON data"))
            })
            .collect::<Vec<_>>(),
    )
    .await
}

fn weather_tool() -> Value {
    json!([{
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": true
    }])
}

/// The error object of a refused request, its status checked.
async fn refused(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    let error = body["error"].clone();
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["type"].is_string(), "{body}");
    error
}

#[tokio::test]
async fn a_streamed_function_call_renders_the_event_sequence() {
    let gw = Gateway::start().await;
    let resp = create(
        &gw,
        json!({"model": CLAUDE, "stream": true, "tools": weather_tool(),
               "input": format!("[[sim tool=get_weather {FAST}]] Weather in Paris?")}),
    )
    .await;
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let evs = events(resp).await;
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], *name, "the SSE name is the type");
        assert_eq!(data["sequence_number"], i, "numbered from 0");
    }
    let kinds: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        kinds[..2],
        ["response.created", "response.in_progress"],
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert_eq!(evs[0].1["response"]["status"], "in_progress");
    assert_eq!(evs[0].1["response"]["id"], format!("resp_{sid}"));
    // The call: added, argument pieces, done, item done.
    let call_at = evs
        .iter()
        .position(|(_, d)| d["item"]["type"] == "function_call")
        .unwrap();
    assert_eq!(kinds[call_at], "response.output_item.added");
    let added = &evs[call_at].1;
    assert_eq!(added["item"]["name"], "get_weather");
    assert_eq!(added["item"]["status"], "in_progress");
    let item_id = added["item"]["id"].as_str().unwrap();
    let pieces: String = evs
        .iter()
        .filter(|(n, d)| n == "response.function_call_arguments.delta" && d["item_id"] == item_id)
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    let done = evs
        .iter()
        .find(|(n, _)| n == "response.function_call_arguments.done")
        .map(|(_, d)| d)
        .unwrap();
    assert_eq!(done["arguments"], pieces);
    assert_eq!(
        serde_json::from_str::<Value>(&pieces).unwrap(),
        json!({"city": "sample"})
    );
    let completed = &evs.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    let call = completed["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    assert_eq!(call["arguments"], pieces);
    assert_eq!(call["status"], "completed");
    assert!(call["call_id"].as_str().is_some_and(|c| !c.is_empty()));
    let usage = &completed["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );
    // The session is watchable like any other.
    let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
    assert_eq!(info["status"], "complete");
}

#[tokio::test]
async fn previous_response_id_continues_the_conversation_and_get_finds_it() {
    let gw = Gateway::start().await;
    let first: Value = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "instructions": "Be brief.",
               "input": [{"role": "user", "content": [{"type": "input_text",
                          "text": format!("[[sim tool=get_weather {FAST}]] Weather in Paris?")}]}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["instructions"], "Be brief.");
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    let id = first["id"].as_str().unwrap();
    let resp = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "previous_response_id": id,
               "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    assert_eq!(second["previous_response_id"], id);
    let message = second["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "message")
        .unwrap();
    let text = message["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Tool result: sunny"), "{text}");
    // GET by id: the same response, while retained.
    let got = gw.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(got["id"], id);
    assert_eq!(got["output"], first["output"]);
    assert_eq!(got["usage"], first["usage"]);
    // Another user finds neither it nor a way to continue it.
    let bob = gw.token_for("bob", &[]);
    let hidden = gw
        .http
        .get(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(refused(hidden, 404).await["type"], "not_found_error");
    let theirs = gw
        .http
        .post(gw.url("/v1/responses"))
        .bearer_auth(&bob)
        .json(&json!({"model": CLAUDE, "previous_response_id": id, "input": "more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused(theirs, 400).await["code"],
        "previous_response_not_found"
    );
}

#[tokio::test]
async fn an_item_reference_is_the_output_item_it_names_for_its_owner_only() {
    let gw = Gateway::start().await;
    let question = format!("[[sim tool=get_weather tokens=2 {FAST}]] Weather in Paris?");
    let first: Value = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "input": question}),
    )
    .await
    .json()
    .await
    .unwrap();
    let output = first["output"].as_array().unwrap();
    let call = output
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    let mut input = vec![json!({"role": "user", "content": question})];
    input.extend(
        output
            .iter()
            .map(|i| json!({"type": "item_reference", "id": i["id"]})),
    );
    input.push(
        json!({"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}),
    );
    let resp = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "input": input}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    let text = second["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Tool result: sunny"), "{text}");
    // Another user's item, and ids that name no item: a 400 on `input`.
    let bob = gw.token_for("bob", &[]);
    let theirs = gw
        .http
        .post(gw.url("/v1/responses"))
        .bearer_auth(&bob)
        .json(&json!({"model": CLAUDE, "tools": weather_tool(), "input": input}))
        .send()
        .await
        .unwrap();
    let error = refused(theirs, 400).await;
    assert_eq!(error["param"], "input");
    assert!(error["message"].as_str().unwrap().contains("input[1]"));
    let sid = first["id"].as_str().unwrap().trim_start_matches("resp_");
    for id in [
        json!(format!("msg_{sid}_9")),
        json!("msg_nope_0"),
        json!("x"),
        json!(7),
    ] {
        let resp = create(
            &gw,
            json!({"model": CLAUDE, "input": [{"type": "item_reference", "id": id}]}),
        )
        .await;
        let error = refused(resp, 400).await;
        assert_eq!(
            (&error["param"], &error["type"]),
            (&json!("input"), &json!("invalid_request_error")),
            "{id}"
        );
    }
}

#[tokio::test]
async fn an_output_answering_no_call_names_its_item() {
    let gw = Gateway::start().await;
    let lone = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "input": [
            {"role": "user", "content": "Weather?"},
            {"type": "function_call_output", "call_id": "nobody", "output": "sunny"}]}),
    )
    .await;
    let error = refused(lone, 400).await;
    assert_eq!(error["param"], "input");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "input[1] (a function_call_output): call_id 'nobody' answers no function_call"
        ),
        "{message}"
    );
    assert!(!message.contains("toolCallId"), "{message}");
    // With previous_response_id, its calls are answerable; other ids are not.
    let first: Value = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(),
               "input": format!("[[sim tool=get_weather {FAST}]] Weather in Paris?")}),
    )
    .await
    .json()
    .await
    .unwrap();
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    let answer = |call_id: &Value| {
        json!({"model": CLAUDE, "tools": weather_tool(), "previous_response_id": first["id"],
               "input": [{"type": "function_call_output", "call_id": call_id, "output": "sunny"}]})
    };
    assert_eq!(create(&gw, answer(&call["call_id"])).await.status(), 200);
    let error = refused(create(&gw, answer(&json!("nobody"))).await, 400).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("input[0] (a function_call_output): call_id 'nobody'"),
        "{error}"
    );
}

#[tokio::test]
async fn input_items_list_the_conversation_for_its_owner_a_page_at_a_time() {
    let gw = Gateway::start().await;
    let question = format!("[[sim tool=get_weather {FAST}]] Weather in Paris?");
    let first: Value = create(
        &gw,
        json!({"model": CLAUDE, "tools": weather_tool(), "input": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": question}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/responses/{id}/input_items");
    let all = gw.get_json(&format!("{path}?order=asc")).await;
    assert_eq!(all["object"], "list");
    assert_eq!(all["has_more"], false);
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{all}");
    assert_eq!(
        (&data[0]["role"], &data[0]["content"][0]["text"]),
        (&json!("developer"), &json!("Be brief."))
    );
    assert_eq!(data[1]["content"][0]["text"], question);
    assert_eq!(all["first_id"], data[0]["id"]);
    assert_eq!(all["last_id"], data[1]["id"]);
    // Newest first by default; `after` pages on.
    let newest = gw.get_json(&format!("{path}?limit=1")).await;
    assert_eq!(newest["data"][0]["id"], data[1]["id"]);
    assert_eq!(newest["has_more"], true);
    let after = data[1]["id"].as_str().unwrap();
    let next = gw.get_json(&format!("{path}?limit=1&after={after}")).await;
    assert_eq!(next["data"][0]["id"], data[0]["id"]);
    assert_eq!(next["has_more"], false);
    // Refusals in OpenAI's shape: a bad query, another user's or no response.
    let get = |path: &str, token: &str| gw.http.get(gw.url(path)).bearer_auth(token).send();
    let bad_limit = get(&format!("{path}?limit=0"), &gw.token).await.unwrap();
    assert_eq!(refused(bad_limit, 400).await["param"], "limit");
    let bob = gw.token_for("bob", &[]);
    for (path, token) in [
        (path.as_str(), &bob),
        ("/v1/responses/resp_nope/input_items", &gw.token),
    ] {
        let error = refused(get(path, token).await.unwrap(), 404).await;
        assert_eq!(error["type"], "not_found_error");
    }
}

#[tokio::test]
async fn an_unknown_previous_response_is_a_clear_400() {
    let gw = Gateway::start().await;
    for id in ["resp_nope", "nope", "resp_"] {
        let resp = create(
            &gw,
            json!({"model": CLAUDE, "previous_response_id": id, "input": "hi"}),
        )
        .await;
        let error = refused(resp, 400).await;
        assert_eq!(error["code"], "previous_response_not_found");
        assert_eq!(error["param"], "previous_response_id");
        assert_eq!(error["type"], "invalid_request_error");
        assert!(error["message"].as_str().unwrap().contains(id));
    }
    let missing = gw
        .http
        .get(gw.url("/v1/responses/resp_nope"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    refused(missing, 404).await;
}

#[tokio::test]
async fn bad_input_is_a_400_in_openai_shape_and_the_server_stays_healthy() {
    let gw = Gateway::start().await;
    let bad = [
        json!({"model": CLAUDE}),
        json!({"model": CLAUDE, "input": 7}),
        json!({"model": CLAUDE, "input": "x", "tools": [{"type": "web_search"}]}),
        json!({"model": CLAUDE, "input": "x", "tool_choice": "sometimes"}),
        json!({"model": CLAUDE, "input": "x", "reasoning": {"effort": "max"}}),
        json!({"model": CLAUDE, "input": "x", "conversation": "conv_1"}),
        json!({"model": CLAUDE, "input": [{"type": "item_reference", "id": "x"}]}),
        json!({"model": CLAUDE, "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
        json!({"model": CLAUDE, "input": [{"type": "function_call_output", "call_id": "nobody", "output": "x"}]}),
        json!({"model": CLAUDE, "input": [{"type": "function_call", "call_id": "c", "name": "w", "arguments": "{oops"}]}),
        json!({"model": CLAUDE, "input": "x", "max_output_tokens": 0}),
    ];
    for body in bad {
        let error = refused(create(&gw, body.clone()).await, 400).await;
        assert_eq!(error["type"], "invalid_request_error", "{body}");
    }
    // A model it does not serve: OpenAI's 404.
    let error = refused(
        create(&gw, json!({"model": "acme.nope", "input": "x"})).await,
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");
    let garbage = gw
        .http
        .post(gw.url("/v1/responses"))
        .bearer_auth(&gw.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    refused(garbage, 400).await;
    let anonymous = gw
        .http
        .post(gw.url("/v1/responses"))
        .json(&json!({"model": CLAUDE, "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Still serving.
    let ok: Value = create(
        &gw,
        json!({"model": CLAUDE, "input": format!("[[sim tokens=3 {FAST}]] hi")}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ok["status"], "completed");
    assert_eq!(ok["usage"]["output_tokens"], 3);
    let health = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
}

/// Bedrock counts reasoning within the output tokens; the response gives
/// reasoning its estimated share, the same streamed, not and read again.
#[tokio::test]
async fn reasoning_has_its_share_of_the_output_tokens() {
    let gw = Gateway::start().await;
    let body = |stream: bool| {
        json!({"model": SONNET, "stream": stream, "reasoning": {"effort": "low"},
               "input": format!("[[sim think=3 tokens=4 {FAST}]] hi")})
    };
    let whole: Value = create(&gw, body(false)).await.json().await.unwrap();
    let usage = &whole["usage"];
    let output = usage["output_tokens"].as_u64().unwrap();
    let reasoning = usage["output_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!(0 < reasoning && reasoning < output, "{usage}");
    let streamed = events(create(&gw, body(true)).await).await;
    let last = &streamed.last().unwrap().1["response"]["usage"];
    assert_eq!(last, usage, "the same answer, the same usage");
    let again = gw
        .get_json(&format!("/v1/responses/{}", whole["id"].as_str().unwrap()))
        .await;
    assert_eq!(&again["usage"], usage);
    let plain: Value = create(
        &gw,
        json!({"model": CLAUDE, "input": format!("[[sim tokens=3 {FAST}]] hi")}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        plain["usage"]["output_tokens_details"]["reasoning_tokens"],
        0
    );
}

#[tokio::test]
async fn max_output_tokens_makes_an_incomplete_response() {
    let gw = Gateway::start().await;
    let evs = events(
        create(
            &gw,
            json!({"model": CLAUDE, "stream": true, "max_output_tokens": 2,
                   "input": format!("[[sim tokens=10 {FAST}]] hi")}),
        )
        .await,
    )
    .await;
    let (name, last) = evs.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[tokio::test]
async fn a_failure_mid_stream_is_response_failed() {
    let gw = Gateway::start().await;
    let evs = events(
        create(
            &gw,
            json!({"model": CLAUDE, "stream": true,
                   "input": format!("[[sim tokens=10 error_after=3 {FAST}]] hi")}),
        )
        .await,
    )
    .await;
    let (name, last) = evs.last().unwrap();
    assert_eq!(name, "response.failed");
    let response = &last["response"];
    assert_eq!(response["status"], "failed");
    assert!(response["error"]["message"].is_string());
    assert!(response["error"]["code"].is_string());
    assert_eq!(response["output"][0]["status"], "incomplete");
}

#[tokio::test]
async fn a_response_past_retention_is_gone() {
    let gw = Gateway::with(|c| c.session_retention_secs = 1).await;
    let first: Value = create(
        &gw,
        json!({"model": CLAUDE, "input": format!("[[sim tokens=2 {FAST}]] hi")}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/responses/{id}");
    eventually(Duration::from_secs(10), || async {
        let resp = gw
            .http
            .get(gw.url(&path))
            .bearer_auth(&gw.token)
            .send()
            .await
            .unwrap();
        resp.status() == 404
    })
    .await;
    let resp = create(
        &gw,
        json!({"model": CLAUDE, "previous_response_id": id, "input": "more"}),
    )
    .await;
    assert_eq!(
        refused(resp, 400).await["code"],
        "previous_response_not_found"
    );
}
