//! End to end, tools, reasoning and attachments: the real SDK (and raw HTTP) against the simulator,
//! for the Claude native body, Converse and Nova's native body.

use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::operation::invoke_model_with_response_stream::InvokeModelWithResponseStreamError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockStart, DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat,
    ImageSource, ReasoningContentBlock, ReasoningContentBlockDelta, ReasoningTextBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
    ToolUseBlock,
};
use aws_smithy_types::{Document, Number};

use super::*;
use crate::attachments::samples::{gif, jpeg, png};

pub(super) fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "hourly": {"type": "boolean"},
        },
        "required": ["city", "days", "unit"],
    })
}

/// What a schema-built call of `get_weather` sends.
pub(super) fn weather_input() -> Value {
    json!({"city": "sample", "days": 1, "unit": "celsius"})
}

pub(super) fn claude_tools_body(messages: Value) -> Value {
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2000,
        "tools": [
            {"name": "get_weather", "description": "Weather for a city", "input_schema": weather_schema()},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}},
        ],
        "messages": messages,
    })
}

fn base64(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
}

/// A Claude answer, put back together from its chunks.
#[derive(Debug, Default)]
struct ClaudeAnswer {
    /// `content_block_start` types in order.
    blocks: Vec<String>,
    thinking: String,
    signature: Option<String>,
    text: String,
    /// (id, name, input JSON text, input deltas)
    tools: Vec<(String, String, String, usize)>,
    stop_reason: String,
    input_tokens: u64,
}

fn claude_answer(chunks: &[Value]) -> ClaudeAnswer {
    let mut answer = ClaudeAnswer::default();
    for chunk in chunks {
        match chunk["type"].as_str().unwrap() {
            "message_start" => {
                answer.input_tokens = chunk["message"]["usage"]["input_tokens"].as_u64().unwrap();
            }
            "content_block_start" => {
                let block = &chunk["content_block"];
                assert_eq!(chunk["index"], answer.blocks.len(), "dense indices");
                answer
                    .blocks
                    .push(block["type"].as_str().unwrap().to_owned());
                if block["type"] == "tool_use" {
                    answer.tools.push((
                        block["id"].as_str().unwrap().to_owned(),
                        block["name"].as_str().unwrap().to_owned(),
                        String::new(),
                        0,
                    ));
                }
            }
            "content_block_delta" => {
                let delta = &chunk["delta"];
                match delta["type"].as_str().unwrap() {
                    "thinking_delta" => answer.thinking += delta["thinking"].as_str().unwrap(),
                    "signature_delta" => {
                        answer.signature = Some(delta["signature"].as_str().unwrap().to_owned());
                    }
                    "text_delta" => answer.text += delta["text"].as_str().unwrap(),
                    "input_json_delta" => {
                        let tool = answer.tools.last_mut().unwrap();
                        tool.2 += delta["partial_json"].as_str().unwrap();
                        tool.3 += 1;
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "message_delta" => {
                answer.stop_reason = chunk["delta"]["stop_reason"].as_str().unwrap().to_owned();
            }
            _ => {}
        }
    }
    answer
}

/// Posts a body with raw HTTP; returns the status and the error message.
pub(super) async fn refused(url: &str, body: &Value) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    (status, kind, body["message"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn claude_thinks_answers_then_calls_tools() {
    let sim = Sim::start().await;
    let mut body = claude_tools_body(json!([{"role": "user", "content": [
        {"type": "text", "text": "Weather? [[sim tokens=3 think=4 tool=get_weather,get_time rate=0 ttft_ms=0]]", "cache_control": {"type": "ephemeral"}},
    ]}]));
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (chunks, end) = invoke(&sim.sdk(), CLAUDE, &body).await;
    assert_eq!(end, Ok(()));
    let answer = claude_answer(&chunks);
    assert_eq!(answer.blocks, ["thinking", "text", "tool_use", "tool_use"]);
    assert_eq!(answer.thinking.split_whitespace().count(), 4);
    let signature = answer.signature.unwrap();
    assert!(crate::signature::verify(&answer.thinking, &signature));
    assert!(!answer.text.is_empty());
    let (id, name, input, deltas) = &answer.tools[0];
    assert!(id.starts_with("toolu_"), "{id}");
    assert_eq!(name, "get_weather");
    assert!(*deltas >= 3, "{deltas}");
    assert_eq!(
        serde_json::from_str::<Value>(input).unwrap(),
        weather_input()
    );
    let (other_id, name, input, _) = &answer.tools[1];
    assert_ne!(id, other_id);
    assert_eq!((name.as_str(), input.as_str()), ("get_time", "{}"));
    assert_eq!(answer.stop_reason, "tool_use");
    // Every delta counts as output.
    let deltas = chunks
        .iter()
        .filter(|c| c["type"] == "content_block_delta" && c["delta"]["type"] != "signature_delta")
        .count();
    let last = chunks.last().unwrap();
    assert_eq!(
        last["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
        deltas
    );
    // Tools make the input longer.
    let plain = claude_answer(
        &invoke(
            &sim.sdk(),
            CLAUDE,
            &claude_body("Weather? [[sim tokens=1 rate=0 ttft_ms=0]]", 50),
        )
        .await
        .0,
    );
    assert!(answer.input_tokens > plain.input_tokens + 10);
    assert_eq!(plain.blocks, ["text"], "no reasoning unless asked");
}

#[tokio::test]
async fn claude_thinking_on_gives_default_reasoning_and_replays_are_checked() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let mut body = claude_body("Hmm? [[sim tokens=2 rate=0 ttft_ms=0]]", 2000);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let answer = claude_answer(&invoke(&client, CLAUDE, &body).await.0);
    assert_eq!(answer.blocks, ["thinking", "text"]);
    assert_eq!(
        answer.thinking.split_whitespace().count(),
        crate::answer::DEFAULT_THINK as usize
    );
    let signature = answer.signature.unwrap();
    let replay = |signature: &str| {
        let mut next = body.clone();
        next["messages"] = json!([
            {"role": "user", "content": "Hmm? [[sim tokens=2 rate=0 ttft_ms=0]]"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": answer.thinking, "signature": signature},
                {"type": "text", "text": answer.text},
            ]},
            {"role": "user", "content": "And then?"},
        ]);
        next
    };
    let (_, end) = invoke(&client, CLAUDE, &replay(&signature)).await;
    assert_eq!(end, Ok(()), "its own signature is accepted");
    let forged = base64(b"not a signature the simulator issued");
    let err = client
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .body(Blob::new(serde_json::to_vec(&replay(&forged)).unwrap()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let InvokeModelWithResponseStreamError::ValidationException(e) = err else {
        panic!("{err:?}")
    };
    assert!(e.message().unwrap().contains("Invalid signature"), "{e:?}");
    assert_eq!(sim.state.stats().streams_started, 2);
}

#[tokio::test]
async fn claude_tool_results_begin_the_answer() {
    let sim = Sim::start().await;
    let body = claude_tools_body(json!([
        {"role": "user", "content": "Weather? [[sim tokens=2 tool=get_weather rate=0 ttft_ms=0]]"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": weather_input()},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": weather_input()},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "rain, 9 C"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "sun"}], "is_error": false},
        ]},
    ]));
    let (chunks, end) = invoke(&sim.sdk(), CLAUDE, &body).await;
    assert_eq!(end, Ok(()));
    let answer = claude_answer(&chunks);
    assert!(
        answer.text.starts_with("Tool result: rain, 9 C\nsun\n"),
        "{:?}",
        answer.text
    );
    assert!(answer.text.len() > "Tool result: rain, 9 C\nsun\n".len());
    // The earlier turn's tool= is not repeated: the model answers and ends its turn.
    assert_eq!(answer.blocks, ["text"]);
    assert_eq!(answer.stop_reason, "end_turn");
    // A result for a call no assistant turn made is refused.
    let orphan = claude_tools_body(json!([
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_zz", "content": "?"}]},
    ]));
    let (status, kind, message) = refused(&sim.invoke_url(CLAUDE), &orphan).await;
    assert_eq!((status, kind.as_str()), (400, "ValidationException"));
    assert!(message.contains("toolu_zz"), "{message}");
}

#[tokio::test]
async fn tools_not_offered_are_refused_before_streaming() {
    let sim = Sim::start().await;
    let body = claude_tools_body(
        json!([{"role": "user", "content": "[[sim tool=get_weather,launch_rocket]]"}]),
    );
    let (status, kind, message) = refused(&sim.invoke_url(CLAUDE), &body).await;
    assert_eq!((status, kind.as_str()), (400, "ValidationException"));
    assert!(message.contains("'launch_rocket'"), "{message}");
    // A text-only family has no tools at all.
    let (status, _, _) = refused(
        &sim.invoke_url("meta.llama3-1-8b-instruct-v1:0"),
        &json!({"prompt": "[[sim tool=get_weather]]"}),
    )
    .await;
    assert_eq!(status, 400);
    let err = sim
        .sdk()
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_text("[[sim tool=get_weather]]"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseStreamError::ValidationException(_)),
        "{err:?}"
    );
    assert_eq!(sim.state.stats().streams_started, 0);
}

#[tokio::test]
async fn claude_attachment_lines_and_magic_numbers() {
    let sim = Sim::start().await;
    let content = json!([
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64(&png(64, 48))}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": base64(&jpeg(5120))}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": base64(&gif(7, 5))}},
        {"type": "document", "title": "report.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": base64(&[b'%'; 1234])}},
        {"type": "text", "text": "Describe. [[sim tokens=2 rate=0 ttft_ms=0]]"},
    ]);
    let body = claude_tools_body(json!([{"role": "user", "content": content}]));
    let (chunks, end) = invoke(&sim.sdk(), CLAUDE, &body).await;
    assert_eq!(end, Ok(()));
    let answer = claude_answer(&chunks);
    let expected = "[image/png 64x48]\n[image/jpeg 5120 bytes]\n[image/gif 7x5]\n[document report.pdf 1234 bytes]\n";
    assert!(answer.text.starts_with(expected), "{:?}", answer.text);
    assert!(answer.text.len() > expected.len());
    for (bad, why) in [
        (
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64(&jpeg(10))}}),
            "does not match its media type image/png",
        ),
        (
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": base64(b"RIFF\0\0\0\0WAVE")}}),
            "does not match its media type image/webp",
        ),
        (
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ""}}),
            "is empty",
        ),
    ] {
        let body = claude_body("x", 50);
        let mut body = body;
        body["messages"][0]["content"] = json!([bad, {"type": "text", "text": "x"}]);
        let (status, kind, message) = refused(&sim.invoke_url(CLAUDE), &body).await;
        assert_eq!((status, kind.as_str()), (400, "ValidationException"));
        assert!(message.contains(why), "{message}");
    }
}

pub(super) fn user_text(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

pub(super) fn document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap()),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(map) => {
            Document::Object(map.iter().map(|(k, v)| (k.clone(), document(v))).collect())
        }
    }
}

pub(super) fn weather_tools() -> ToolConfiguration {
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .description("Weather for a city")
                .input_schema(ToolInputSchema::Json(document(&weather_schema())))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

/// A Converse answer, put back together from its events.
#[derive(Debug, Default)]
struct ConverseAnswer {
    reasoning: String,
    signature: Option<String>,
    text: String,
    /// (index, id, name, input JSON text, input deltas)
    tools: Vec<(i32, String, String, String, usize)>,
    stop: Option<StopReason>,
    input_tokens: i32,
}

/// A ConverseStream call offering `get_weather` (see [`converse_with`]).
async fn converse(
    sim: &Sim,
    model: &str,
    messages: Vec<Message>,
    thinking: bool,
) -> Result<ConverseAnswer, ConverseStreamError> {
    converse_with(sim, model, messages, thinking, Some(weather_tools())).await
}

async fn converse_with(
    sim: &Sim,
    model: &str,
    messages: Vec<Message>,
    thinking: bool,
    tools: Option<ToolConfiguration>,
) -> Result<ConverseAnswer, ConverseStreamError> {
    let mut request = sim
        .sdk()
        .converse_stream()
        .model_id(model)
        .set_messages(Some(messages))
        .set_tool_config(tools);
    if thinking {
        request = request.additional_model_request_fields(document(
            &json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
        ));
    }
    let output = request.send().await.map_err(SdkError::into_service_error)?;
    let mut stream = output.stream;
    let mut answer = ConverseAnswer::default();
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockStart(start) => {
                let Some(ContentBlockStart::ToolUse(tool)) = start.start() else {
                    panic!("{start:?}")
                };
                answer.tools.push((
                    start.content_block_index(),
                    tool.tool_use_id().to_owned(),
                    tool.name().to_owned(),
                    String::new(),
                    0,
                ));
            }
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(t)) => answer.text += t,
                Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(t))) => {
                    answer.reasoning += t;
                }
                Some(ContentBlockDelta::ReasoningContent(
                    ReasoningContentBlockDelta::Signature(s),
                )) => answer.signature = Some(s.clone()),
                Some(ContentBlockDelta::ToolUse(t)) => {
                    let tool = answer.tools.last_mut().unwrap();
                    assert_eq!(tool.0, d.content_block_index());
                    tool.3 += t.input();
                    tool.4 += 1;
                }
                other => panic!("unexpected delta {other:?}"),
            },
            ConverseStreamOutput::MessageStop(m) => answer.stop = Some(m.stop_reason().clone()),
            ConverseStreamOutput::Metadata(m) => {
                answer.input_tokens = m.usage().unwrap().input_tokens();
            }
            _ => {}
        }
    }
    Ok(answer)
}

#[tokio::test]
async fn converse_reasons_then_calls_a_tool_and_checks_replays() {
    let sim = Sim::start().await;
    let prompt = "Weather? [[sim tokens=0 tool=get_weather rate=0 ttft_ms=0]]";
    let answer = converse(&sim, CLAUDE, vec![user_text(prompt)], true)
        .await
        .unwrap();
    assert_eq!(
        answer.reasoning.split_whitespace().count(),
        crate::answer::DEFAULT_THINK as usize
    );
    let signature = answer.signature.clone().unwrap();
    assert!(answer.text.is_empty(), "no text block: {:?}", answer.text);
    let (index, id, name, input, deltas) = &answer.tools[0];
    assert_eq!((*index, name.as_str()), (1, "get_weather"));
    assert!(id.starts_with("tooluse_"), "{id}");
    assert!(*deltas >= 3);
    let input: Value = serde_json::from_str(input).unwrap();
    assert_eq!(input, weather_input());
    assert_eq!(answer.stop, Some(StopReason::ToolUse));

    // The next turn replays the reasoning and the call, and sends the result.
    let turn = |signature: &str| {
        vec![
            user_text(prompt),
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::ReasoningContent(
                    ReasoningContentBlock::ReasoningText(
                        ReasoningTextBlock::builder()
                            .text(&answer.reasoning)
                            .signature(signature)
                            .build()
                            .unwrap(),
                    ),
                ))
                .content(ContentBlock::ToolUse(
                    ToolUseBlock::builder()
                        .tool_use_id(id)
                        .name("get_weather")
                        .input(document(&input))
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::ToolResult(
                    ToolResultBlock::builder()
                        .tool_use_id(id)
                        .content(ToolResultContentBlock::Text("rain".into()))
                        .content(ToolResultContentBlock::Json(document(&json!({"c": 9}))))
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        ]
    };
    let next = converse(&sim, CLAUDE, turn(&signature), false)
        .await
        .unwrap();
    assert_eq!(next.text, "Tool result: rain\n{\"c\":9}\n");
    assert_eq!(next.stop, Some(StopReason::EndTurn));
    assert!(next.tools.is_empty());
    let err = converse(&sim, CLAUDE, turn("Zm9yZ2Vk"), false)
        .await
        .err()
        .unwrap();
    let ConverseStreamError::ValidationException(e) = err else {
        panic!("{err:?}")
    };
    assert!(e.message().unwrap().contains("Invalid signature"), "{e:?}");
}

#[tokio::test]
async fn converse_think_directive_on_any_model() {
    let sim = Sim::start().await;
    let answer = converse_with(
        &sim,
        "us.deepseek.r1-v1:0",
        vec![user_text("[[sim think=5 tokens=2 rate=0 ttft_ms=0]]")],
        false,
        None,
    )
    .await
    .unwrap();
    assert_eq!(answer.reasoning.split_whitespace().count(), 5);
    assert!(crate::signature::verify(
        &answer.reasoning,
        answer.signature.as_deref().unwrap()
    ));
    assert!(!answer.text.is_empty());
    assert_eq!(answer.stop, Some(StopReason::EndTurn));
}

#[tokio::test]
async fn converse_attachment_lines_and_magic_numbers() {
    let sim = Sim::start().await;
    let image = |format: ImageFormat, bytes: Vec<u8>| {
        ContentBlock::Image(
            ImageBlock::builder()
                .format(format)
                .source(ImageSource::Bytes(Blob::new(bytes)))
                .build()
                .unwrap(),
        )
    };
    let doc = |bytes: &[u8]| {
        ContentBlock::Document(
            DocumentBlock::builder()
                .format(DocumentFormat::Md)
                .name("notes")
                .source(DocumentSource::Bytes(Blob::new(bytes)))
                .build()
                .unwrap(),
        )
    };
    let message = |blocks: Vec<ContentBlock>| {
        Message::builder()
            .role(ConversationRole::User)
            .set_content(Some(blocks))
            .build()
            .unwrap()
    };
    let answer = converse(
        &sim,
        "us.amazon.nova-pro-v1:0",
        vec![message(vec![
            image(ImageFormat::Png, png(64, 48)),
            image(ImageFormat::Jpeg, jpeg(5120)),
            doc(b"# Notes\n"),
            ContentBlock::Text("What is this? [[sim tokens=3 rate=0 ttft_ms=0]]".into()),
        ])],
        false,
    )
    .await
    .unwrap();
    let expected = "[image/png 64x48]\n[image/jpeg 5120 bytes]\n[document notes 8 bytes]\n";
    assert!(answer.text.starts_with(expected), "{:?}", answer.text);
    assert!(answer.input_tokens > 5);
    for (bad, why) in [
        (image(ImageFormat::Gif, png(1, 1)), "image/gif"),
        (
            image(ImageFormat::Jpeg, b"not an image".to_vec()),
            "image/jpeg",
        ),
        (doc(b""), "empty"),
    ] {
        let err = converse(
            &sim,
            CLAUDE,
            vec![message(vec![bad, ContentBlock::Text("x".into())])],
            false,
        )
        .await
        .err()
        .unwrap();
        let ConverseStreamError::ValidationException(e) = err else {
            panic!("{err:?}")
        };
        assert!(e.message().unwrap().contains(why), "{e:?}");
    }
}

/// Converse takes tools, images and documents for the Llama, Mistral and
/// Cohere models AWS's Converse feature table lists, and refuses, in
/// Bedrock's words, what it does not list for a model.
#[tokio::test]
async fn converse_takes_per_model_what_the_feature_table_lists() {
    let sim = Sim::start().await;
    let image = ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(png(2, 3))))
            .build()
            .unwrap(),
    );
    let doc = ContentBlock::Document(
        DocumentBlock::builder()
            .format(DocumentFormat::Txt)
            .name("notes")
            .source(DocumentSource::Bytes(Blob::new(b"hello".to_vec())))
            .build()
            .unwrap(),
    );
    let ask = |attachment: &ContentBlock| {
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(
                "Weather? [[sim tokens=2 tool=get_weather rate=0 ttft_ms=0]]".into(),
            ))
            .content(attachment.clone())
            .build()
            .unwrap()
    };
    for (model, attachment, line) in [
        (
            "us.meta.llama3-2-90b-instruct-v1:0",
            &image,
            "[image/png 2x3]\n",
        ),
        (
            "us.meta.llama4-maverick-17b-instruct-v1:0",
            &image,
            "[image/png 2x3]\n",
        ),
        (
            "mistral.mistral-large-2402-v1:0",
            &doc,
            "[document notes 5 bytes]\n",
        ),
        (
            "cohere.command-r-plus-v1:0",
            &doc,
            "[document notes 5 bytes]\n",
        ),
        (
            "us.meta.llama3-3-70b-instruct-v1:0",
            &doc,
            "[document notes 5 bytes]\n",
        ),
    ] {
        let answer = converse(&sim, model, vec![ask(attachment)], false)
            .await
            .unwrap_or_else(|e| panic!("{model}: {e:?}"));
        assert!(answer.text.starts_with(line), "{model}: {:?}", answer.text);
        assert_eq!(answer.tools[0].2, "get_weather", "{model}");
        assert_eq!(answer.stop, Some(StopReason::ToolUse), "{model}");
    }
    let no_tools = "This model doesn't support tool use.";
    let no_image = "This model doesn't support the image content block that you provided. Update the content block and try again.";
    let no_document = "This model doesn't support the document content block that you provided. Update the content block and try again.";
    let text = ContentBlock::Text("hi".into());
    for (model, attachment, tools, says) in [
        ("amazon.titan-text-express-v1", &text, true, no_tools),
        ("mistral.mistral-7b-instruct-v0:2", &text, true, no_tools),
        ("us.meta.llama3-2-3b-instruct-v1:0", &text, true, no_tools),
        ("us.deepseek.r1-v1:0", &text, true, no_tools),
        (
            "us.meta.llama3-3-70b-instruct-v1:0",
            &image,
            false,
            no_image,
        ),
        ("mistral.mistral-large-2402-v1:0", &image, false, no_image),
        ("cohere.command-r-v1:0", &image, false, no_image),
        ("amazon.titan-text-premier-v1:0", &doc, false, no_document),
    ] {
        let tools = tools.then(weather_tools);
        let err = converse_with(&sim, model, vec![ask(attachment)], false, tools)
            .await
            .err()
            .unwrap_or_else(|| panic!("{model} took it"));
        let ConverseStreamError::ValidationException(e) = err else {
            panic!("{model}: {err:?}")
        };
        assert_eq!(e.message(), Some(says), "{model}");
    }
}

#[tokio::test]
async fn nova_native_tool_call_and_reasoning() {
    let sim = Sim::start().await;
    let body = json!({
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [
            {"text": "Weather? [[sim tokens=1 tool=get_weather rate=0 ttft_ms=0]]"},
            {"image": {"format": "png", "source": {"bytes": base64(&png(2, 3))}}},
        ]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": weather_schema()}}}]},
        "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"},
        "inferenceConfig": {"max_new_tokens": 500},
    });
    let (chunks, end) = invoke(&sim.sdk(), "us.amazon.nova-pro-v1:0", &body).await;
    assert_eq!(end, Ok(()));
    let deltas = |key: &str, field: &str| -> String {
        chunks
            .iter()
            .filter_map(|c| c["contentBlockDelta"]["delta"][key][field].as_str())
            .collect()
    };
    assert_eq!(
        deltas("reasoningContent", "text")
            .split_whitespace()
            .count(),
        crate::answer::DEFAULT_THINK as usize
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["contentBlockDelta"]["delta"]["text"].as_str())
        .collect();
    assert!(text.starts_with("[image/png 2x3]\n"), "{text:?}");
    let start = chunks
        .iter()
        .find_map(|c| c.get("contentBlockStart"))
        .unwrap();
    assert_eq!(start["contentBlockIndex"], 2);
    assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
    let input: Value = serde_json::from_str(&deltas("toolUse", "input")).unwrap();
    assert_eq!(input, weather_input());
    let stop = chunks.iter().find_map(|c| c.get("messageStop")).unwrap();
    assert_eq!(stop["stopReason"], "tool_use");
}

#[tokio::test]
async fn deepseek_native_reasoning_is_text_closed_by_think() {
    let sim = Sim::start().await;
    let (chunks, end) = invoke(
        &sim.sdk(),
        "us.deepseek.r1-v1:0",
        &json!({"prompt": "[[sim think=3 tokens=2 rate=0 ttft_ms=0]]", "max_tokens": 100}),
    )
    .await;
    assert_eq!(end, Ok(()));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    let (reasoning, answer) = text.split_once("\n</think>\n\n").unwrap();
    assert_eq!(reasoning.split_whitespace().count(), 3);
    assert!(!answer.is_empty());
}

/// Structured output: a Claude body's `output_config.format` and Converse's
/// `outputConfig.textFormat` make the answer's text JSON of the schema, and
/// nothing else; a malformed Converse schema is refused.
#[tokio::test]
async fn structured_output_answers_json_of_the_schema() {
    use aws_sdk_bedrockruntime::types::{
        ConverseOutput, JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure,
        OutputFormatType,
    };
    let sim = Sim::start().await;
    let schema = json!({"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]});
    let expected = json!({"city": "sample", "days": 1});

    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Plan a trip [[sim tokens=9 rate=0 ttft_ms=0]]"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    });
    let (chunks, end) = invoke(&sim.sdk(), CLAUDE, &body).await;
    assert_eq!(end, Ok(()));
    let answer = claude_answer(&chunks);
    assert_eq!(answer.blocks, ["text"]);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.text).unwrap(),
        expected
    );
    assert_eq!(answer.stop_reason, "end_turn");

    let format = |schema: &str| {
        OutputConfig::builder()
            .text_format(
                OutputFormat::builder()
                    .r#type(OutputFormatType::JsonSchema)
                    .structure(OutputFormatStructure::JsonSchema(
                        JsonSchemaDefinition::builder()
                            .schema(schema)
                            .name("trip")
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let ask = |schema: &str| {
        sim.sdk()
            .converse()
            .model_id("us.amazon.nova-lite-v1:0")
            .messages(user_text("Plan a trip [[sim tokens=9 rate=0 ttft_ms=0]]"))
            .output_config(format(schema))
            .send()
    };
    let out = ask(&schema.to_string()).await.unwrap();
    let Some(ConverseOutput::Message(message)) = out.output() else {
        panic!("{out:?}")
    };
    let [ContentBlock::Text(text)] = message.content() else {
        panic!("{message:?}")
    };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), expected);

    let err = ask("{not json").await.unwrap_err().into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
