//! The upstream adapters with parts, end to end through the real SDK and the
//! simulator, beyond Claude's tool call (tests/parts.rs): Nova on both APIs,
//! DeepSeek R1's `</think>` reasoning on InvokeModel, attachments, and a tool
//! loop whose follow-up offers no tools (stand-in tool declarations).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};

const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "us.amazon.nova-2-lite-v1:0";
const R1: &str = "us.deepseek.r1-v1:0";
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGNgYGD4D8VoDABH0wX7kHb2kgAAAABJRU5ErkJggg==";

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "inputSchema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"]
        }
    })
}

fn parts_of<'a>(events: &'a [SseEvent], name: &'a str) -> impl Iterator<Item = Value> + 'a {
    events
        .iter()
        .filter(move |e| e.event == name)
        .map(|e| serde_json::to_value(e.data.part.as_deref().expect("a part")).unwrap())
}

#[tokio::test]
async fn nova_streams_reasoning_and_a_tool_call_on_both_apis() {
    let gw = Gateway::start().await;
    for api in ["invoke", "converse"] {
        let events = stream(
            &gw,
            json!({
                "model": NOVA, "api": api,
                "prompt": "[[sim tool=get_weather think=2 tokens=2 rate=0]] Weather?",
                "tools": [weather_tool()],
                "reasoning": {"budgetTokens": 2048}
            }),
        )
        .await;
        let reasoning: Vec<Value> = parts_of(&events, "reasoning").collect();
        assert_eq!(reasoning.len(), 3, "{api}: {reasoning:?}");
        assert!(reasoning.iter().all(|p| p["index"] == 0), "{api}");
        assert!(reasoning[2]["signature"].is_string(), "{api}");
        assert!(!text_of(&events).is_empty(), "{api}");
        let tool: Vec<Value> = parts_of(&events, "tool").collect();
        assert_eq!(tool[0]["name"], "get_weather", "{api}");
        assert_eq!(
            tool.last().unwrap()["input"],
            json!({"city": "sample", "days": 1}),
            "{api}"
        );
        let last = events.last().unwrap();
        assert_eq!(last.data.stop_reason.as_deref(), Some("tool_use"), "{api}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn deepseek_reasoning_is_split_from_the_answer_on_both_apis() {
    let gw = Gateway::start().await;
    for api in ["invoke", "converse"] {
        let events = stream(
            &gw,
            json!({"model": R1, "api": api, "prompt": "[[sim think=3 tokens=4 rate=0]] Hi"}),
        )
        .await;
        let reasoning: Vec<Value> = parts_of(&events, "reasoning").collect();
        let texts: Vec<&Value> = reasoning.iter().filter(|p| p["text"].is_string()).collect();
        assert_eq!(texts.len(), 3, "{api}: {reasoning:?}");
        assert!(reasoning.iter().all(|p| p["index"] == 0), "{api}");
        let tokens: Vec<&SseEvent> = events.iter().filter(|e| e.event == "token").collect();
        assert_eq!(tokens.len(), 4, "{api}: the answer's tokens");
        let text = text_of(&events);
        assert!(
            !text.contains("think>") && !text.starts_with(char::is_whitespace),
            "{api}: {text:?}"
        );
        let first_token = events.iter().position(|e| e.event == "token").unwrap();
        let last_reasoning = events.iter().rposition(|e| e.event == "reasoning").unwrap();
        assert!(last_reasoning < first_token, "{api}: reasoning first");
        assert_eq!(
            events.last().unwrap().data.stop_reason.as_deref(),
            Some("end_turn")
        );
    }
    // Without reasoning, R1's answer is all text (held back until the end, then released).
    let events = stream(
        &gw,
        json!({"model": R1, "api": "invoke", "prompt": "[[sim tokens=5 rate=0]] Hi"}),
    )
    .await;
    assert_eq!(parts_of(&events, "reasoning").count(), 0);
    assert_eq!(events.iter().filter(|e| e.event == "token").count(), 5);
    gw.shutdown().await;
}

#[tokio::test]
async fn attachments_reach_the_model_on_both_apis() {
    let gw = Gateway::start().await;
    let notes = "aGVsbG8="; // "hello"
    for model in [SONNET, NOVA] {
        for api in ["invoke", "converse"] {
            let events = stream(
                &gw,
                json!({"model": model, "api": api, "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "[[sim tokens=2 rate=0]] What are these?"},
                    {"type": "image", "mediaType": "image/png", "data": PNG},
                    {"type": "document", "mediaType": "text/plain", "name": "notes.v2.txt", "data": notes},
                    {"type": "cachePoint"}
                ]}]}),
            )
            .await;
            let text = text_of(&events);
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some("[image/png 2x3]"),
                "{model} {api}: {text}"
            );
            let doc = lines.next().unwrap_or_default();
            assert!(
                doc.starts_with("[document notes") && doc.ends_with(" 5 bytes]"),
                "{model} {api}: {doc}"
            );
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_document_in_a_tool_result_reaches_the_model_on_both_apis() {
    let gw = Gateway::start().await;
    let notes = "aGVsbG8="; // "hello"
    for model in [SONNET, NOVA] {
        for api in ["invoke", "converse"] {
            let events = stream(
                &gw,
                json!({"model": model, "api": api, "tools": [weather_tool()], "messages": [
                    {"role": "user", "content": "[[sim tokens=1 rate=0]] Weather?"},
                    {"role": "assistant", "content": [
                        {"type": "toolCall", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}
                    ]},
                    {"role": "user", "content": [{"type": "toolResult", "toolCallId": "t1", "content": [
                        {"type": "text", "text": "see the report"},
                        {"type": "document", "mediaType": "text/plain", "name": "report.txt", "data": notes}
                    ]}]}
                ]}),
            )
            .await;
            let last = &events.last().unwrap().data;
            assert_eq!(last.error, None, "{model} {api}: {last:?}");
            let text = text_of(&events);
            assert!(
                text.starts_with("Tool result: see the report\n[document report"),
                "{model} {api}: {text}"
            );
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stop_sequence_ends_the_answer_on_both_apis() {
    let gw = Gateway::start().await;
    let prompt = "[[sim tokens=30 rate=0]] Go on";
    for (model, api, named) in [
        (SONNET, "invoke", true),
        // Claude through Converse says which when asked
        // (`additionalModelResponseFieldPaths`), and the gateway asks.
        (SONNET, "converse", true),
        (NOVA, "converse", false),
    ] {
        let full =
            text_of(&stream(&gw, json!({"model": model, "api": api, "prompt": prompt})).await);
        let word = full
            .split_whitespace()
            .filter(|w| w.len() > 3 && w.chars().all(char::is_alphabetic))
            .nth(3)
            .unwrap()
            .to_owned();
        let events = stream(
            &gw,
            json!({"model": model, "api": api, "prompt": prompt, "stopSequences": ["never said", word]}),
        )
        .await;
        let last = &events.last().unwrap().data;
        assert_eq!(
            last.stop_reason.as_deref(),
            Some("stop_sequence"),
            "{model} {api}"
        );
        // Claude says which sequence; Nova through Converse does not…
        let expected = named.then(|| word.clone());
        assert_eq!(last.stop_sequence, expected, "{model} {api}");
        assert!(!text_of(&events).contains(&word), "{model} {api}");
        // …but with one sequence asked for, it can only be that one.
        let events = stream(
            &gw,
            json!({"model": model, "api": api, "prompt": prompt, "stopSequences": [word]}),
        )
        .await;
        let last = &events.last().unwrap().data;
        assert_eq!(
            last.stop_sequence.as_deref(),
            Some(word.as_str()),
            "{model} {api}"
        );
    }
    gw.shutdown().await;
}

/// `outputConfig` on Spillway's own API: the answer is JSON of the schema,
/// through Converse for any model and in Claude's own body; a request that
/// names no API goes through Converse when its model's body has no place
/// for it; one naming `invoke` is a 400 that says to use Converse.
#[tokio::test]
async fn structured_output_on_both_apis() {
    let gw = Gateway::start().await;
    let prompt = "[[sim tokens=9 rate=0]] Plan a trip";
    let output = json!({"format": {"schema": {"type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"]}, "name": "trip"}});
    for (model, api) in [
        (SONNET, Some("invoke")),
        (SONNET, Some("converse")),
        (NOVA, Some("converse")),
        (NOVA, None),
    ] {
        let mut body = json!({"model": model, "prompt": prompt, "outputConfig": output});
        if let Some(api) = api {
            body["api"] = json!(api);
        }
        let events = stream(&gw, body).await;
        let answer: Value = serde_json::from_str(&text_of(&events)).expect("a JSON answer");
        assert_eq!(
            answer,
            json!({"city": "sample", "days": 1}),
            "{model} {api:?}"
        );
    }
    let refused = |body: Value| {
        let gw = &gw;
        async move {
            let resp = gw
                .http
                .post(gw.url("/v1/stream"))
                .bearer_auth(&gw.token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 400);
            resp.text().await.unwrap()
        }
    };
    let msg =
        refused(json!({"model": NOVA, "api": "invoke", "prompt": prompt, "outputConfig": output}))
            .await;
    assert!(msg.contains("through Converse"), "{msg}");
    let msg = refused(json!({"model": NOVA, "api": "converse", "prompt": prompt,
        "outputConfig": {"format": {"schema": "object"}}}))
    .await;
    assert!(msg.contains("JSON Schema object"), "{msg}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_follow_up_without_tools_replays_the_tool_loop() {
    let gw = Gateway::start().await;
    for model in [SONNET, NOVA] {
        for api in ["invoke", "converse"] {
            let prompt = "[[sim tool=get_weather think=1 tokens=1 rate=0]] Weather?";
            let first = stream(
                &gw,
                json!({"model": model, "api": api, "prompt": prompt,
                       "tools": [weather_tool()], "reasoning": {"budgetTokens": 1024}}),
            )
            .await;
            let sid = &first.last().unwrap().data.session_id;
            let info = gw.get_json(&format!("/v1/sessions/{sid}")).await;
            let call = info["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "toolCall")
                .cloned()
                .expect("a tool call");
            // No `tools` now: the history's calls are declared as stand-ins.
            let second = stream(
                &gw,
                json!({"model": model, "api": api, "reasoning": {"budgetTokens": 1024}, "messages": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": info["content"]},
                    {"role": "user", "content": [
                        {"type": "toolResult", "toolCallId": call["id"], "content": "18C"}]}
                ]}),
            )
            .await;
            let text = text_of(&second);
            assert!(
                text.starts_with("Tool result: 18C"),
                "{model} {api}: {text}"
            );
        }
    }
    gw.shutdown().await;
}

/// Claude Opus 4.7 and later refuse `temperature`, `top_p` and a thinking
/// budget (the simulator as Bedrock does): the gateway sends them no
/// sampling knob, and thinking as `adaptive` with the budget's effort and
/// its text asked for (`display: summarized`; they omit it otherwise).
#[tokio::test]
async fn claude_opus_4_7_reasons_adaptively_without_sampling_knobs_on_both_apis() {
    const OPUS_4_7: &str = "us.anthropic.claude-opus-4-7";
    let gw = Gateway::start().await;
    for api in ["invoke", "converse"] {
        let events = stream(
            &gw,
            json!({
                "model": OPUS_4_7, "api": api,
                "prompt": "[[sim think=2 tokens=3 rate=0]] Rivers?",
                "temperature": 0.5, "topP": 0.9,
                "reasoning": {"budgetTokens": 4096}
            }),
        )
        .await;
        let last = events.last().unwrap();
        assert_eq!(last.event, "done", "{api}: {last:?}");
        let reasoning: String = parts_of(&events, "reasoning")
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        assert!(!reasoning.is_empty(), "{api}: the thinking text is shown");
        assert!(!text_of(&events).is_empty(), "{api}");
        // Sampling alone, no thinking: answered too.
        let events = stream(
            &gw,
            json!({"model": OPUS_4_7, "api": api, "prompt": "[[sim tokens=2 rate=0]] Hi", "temperature": 0.2}),
        )
        .await;
        assert_eq!(events.last().unwrap().event, "done", "{api}");
    }
    gw.shutdown().await;
}
