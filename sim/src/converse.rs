//! ConverseStream: Converse request bodies and `messageStart` … `metadata` events.
//!
//! The content-block objects (`contentBlockStart` for tool use only,
//! `contentBlockDelta` with `text`, `reasoningContent` or `toolUse`,
//! `contentBlockStop`) are shared with Nova's native chunks ([`block_objects`]).

use serde_json::{Value, json};

use super::answer::{BlockKind, Delta};
use super::body::{
    Obj, as_array, as_object, as_str, max_tokens_worded, optional, required, strings,
};
use super::catalog;
use super::collect::{Block, Collected};
use super::families::{Finish, Out, Prompt, Shaper, Stop, random_id};
use super::parts::{self, Conversation, Role};
use super::wire::SimError;

/// `maxTokens` when `inferenceConfig` names none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Parses a Converse body for `model` (the id as recognised).
pub(crate) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    let max_tokens = match optional(body, "inferenceConfig") {
        Some(config) => max_tokens_worded(
            as_object(config, "#/inferenceConfig")?,
            "maxTokens",
            "#/inferenceConfig",
            Some(DEFAULT_MAX_TOKENS),
            model,
            over_the_limit,
        )?,
        None => DEFAULT_MAX_TOKENS.min(catalog::max_output_tokens(model)),
    };
    let mut conv = Conversation::default();
    if let Some(system) = optional(body, "system") {
        parts::converse::system(&mut conv, system, "#/system")?;
    }
    let messages = as_array(required(body, "messages", "#")?, "#/messages")?;
    if messages.is_empty() {
        return Err(SimError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        let path = format!("#/messages/{i}");
        let message = as_object(message, &path)?;
        let role = as_str(required(message, "role", &path)?, &format!("{path}/role"))?;
        let Some(role) = Role::parse(role) else {
            return Err(SimError::validation(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            )));
        };
        conv.turn(role);
        parts::converse::content(
            &mut conv,
            required(message, "content", &path)?,
            &format!("{path}/content"),
        )?;
    }
    parts::converse::tool_config(&mut conv, body)?;
    takes(catalog::converse_takes(model), conv.carried())?;
    parts::converse::output_config(&mut conv, body)?;
    let claude = model.starts_with("anthropic.");
    parts::converse::additional_fields(&mut conv, body, model)?;
    if claude {
        conv.thinking_turn_fits()?;
    }
    let stop_sequences = stop_sequences(body)?;
    sampling_ranges(body)?;
    let (text, parts) = conv.finish();
    Ok(Prompt {
        text,
        max_tokens,
        parts,
        stop_sequences,
    })
}

/// Bedrock's refusal of what Converse does not take for the model: tools
/// (offered, or called and answered in the history), then images, then
/// documents. The tool and image wordings are Bedrock's; the document one
/// follows the image one.
fn takes(model: catalog::Takes, carried: catalog::Takes) -> Result<(), SimError> {
    if carried.tools && !model.tools {
        return Err(SimError::validation("This model doesn't support tool use."));
    }
    for (what, carried, taken) in [
        ("image", carried.images, model.images),
        ("document", carried.documents, model.documents),
    ] {
        if carried && !taken {
            return Err(SimError::validation(format!(
                "This model doesn't support the {what} content block that you provided. Update the content block and try again."
            )));
        }
    }
    Ok(())
}

/// `inferenceConfig.stopSequences` (Converse's, and Nova's own body's).
pub(crate) fn stop_sequences(body: &Obj) -> Result<Vec<String>, SimError> {
    match optional(body, "inferenceConfig") {
        Some(config) => strings(
            as_object(config, "#/inferenceConfig")?,
            "stopSequences",
            "#/inferenceConfig",
        ),
        None => Ok(Vec::new()),
    }
}

/// `inferenceConfig.temperature` and `topP`: the API's range is 0 to 1
/// (its reference's "Valid Range"), refused in its validation wording.
fn sampling_ranges(body: &Obj) -> Result<(), SimError> {
    let Some(config) = optional(body, "inferenceConfig") else {
        return Ok(());
    };
    let config = as_object(config, "#/inferenceConfig")?;
    for key in ["temperature", "topP"] {
        if let Some(x) = config.get(key).and_then(Value::as_f64)
            && !(0.0..=1.0).contains(&x)
        {
            return Err(SimError::validation(format!(
                "1 validation error detected: Value '{x}' at 'inferenceConfig.{key}' failed to satisfy constraint: Member must have value {} 1",
                if x < 0.0 {
                    "greater than or equal to 0, and less than or equal to"
                } else {
                    "less than or equal to"
                }
            )));
        }
    }
    Ok(())
}

/// Converse's refusal of a `maxTokens` over the model's ceiling.
fn over_the_limit(_requested: u64, ceiling: u32) -> SimError {
    SimError::validation(format!(
        "The maximum tokens you requested exceeds the model limit of {ceiling}. Try again with a maximum tokens value that is lower than {ceiling}."
    ))
}

/// Converse's name for a stop.
pub(crate) fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::End => "end_turn",
        Stop::Length => "max_tokens",
        Stop::ToolUse => "tool_use",
        Stop::Guardrail => "guardrail_intervened",
        Stop::Sequence => "stop_sequence",
    }
}

/// Whole content blocks as Converse's `ContentBlock`s (Nova's native body too).
pub(crate) fn content(blocks: &[Block]) -> Vec<Value> {
    blocks
        .iter()
        .map(|block| match block {
            Block::Reasoning { text, signature } => json!({
                "reasoningContent": {"reasoningText": {"text": text, "signature": signature}},
            }),
            Block::Text(text) => json!({"text": text}),
            Block::Tool { name, input } => json!({
                "toolUse": {"toolUseId": format!("tooluse_{}", random_id(22)), "name": name, "input": input},
            }),
        })
        .collect()
}

/// `additionalModelResponseFieldPaths`: pointers into the model's own
/// response. For Claude the simulator answers its stop sequence, at
/// `/stop_sequence` and `/delta/stop_sequence`; other pointers find nothing
/// and are left out, as Bedrock leaves them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseFields {
    paths: Vec<String>,
}

impl ResponseFields {
    pub(crate) fn parse(body: &Obj, model: &str) -> Result<Self, SimError> {
        let Some(paths) = optional(body, "additionalModelResponseFieldPaths") else {
            return Ok(Self::default());
        };
        let paths = as_array(paths, "#/additionalModelResponseFieldPaths")?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                as_str(p, &format!("#/additionalModelResponseFieldPaths/{i}")).map(str::to_owned)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            paths: if model.starts_with("anthropic.") {
                paths
            } else {
                Vec::new()
            },
        })
    }

    /// `additionalModelResponseFields` of an answer that ended so.
    fn answer(&self, finish: &Finish) -> Option<Value> {
        let mut fields = serde_json::Map::new();
        for path in &self.paths {
            match path.as_str() {
                "/stop_sequence" => {
                    fields.insert("stop_sequence".into(), json!(finish.stop_sequence));
                }
                "/delta/stop_sequence" => {
                    fields.insert(
                        "delta".into(),
                        json!({"stop_sequence": finish.stop_sequence}),
                    );
                }
                _ => {}
            }
        }
        (!fields.is_empty()).then_some(Value::Object(fields))
    }
}

/// The non-streaming `Converse` response.
pub(crate) fn whole(answer: &Collected, fields: &ResponseFields) -> Value {
    let finish = &answer.finish;
    let mut whole = json!({
        "output": {"message": {"role": "assistant", "content": content(&answer.blocks)}},
        "stopReason": stop_reason(finish.stop),
        "usage": usage(finish),
        "metrics": {"latencyMs": finish.latency_ms},
    });
    if let Some(trace) = finish.guardrail.as_ref().and_then(|g| g.converse_trace()) {
        whole["trace"] = trace;
    }
    if let Some(asked) = fields.answer(finish) {
        whole["additionalModelResponseFields"] = asked;
    }
    whole
}

/// Converse's `usage`: `totalTokens` counts cached input too; the cache
/// counts are there when the request had cache points.
pub(crate) fn usage(finish: &Finish) -> Value {
    let mut usage = json!({
        "inputTokens": finish.input_tokens,
        "outputTokens": finish.output_tokens,
        "totalTokens": finish.all_input_tokens() + u64::from(finish.output_tokens),
    });
    if let Some(cache) = finish.cache {
        usage["cacheReadInputTokens"] = cache.read.into();
        usage["cacheWriteInputTokens"] = cache.write.into();
    }
    usage
}

/// Converse-shaped content-block objects, as `(event type, payload)`.
pub(crate) mod block_objects {
    use super::*;

    /// Only tool use gets a `contentBlockStart`: the SDK's decoder rejects
    /// one without a `start` union member.
    pub(crate) fn start(index: u32, block: &BlockKind<'_>) -> Vec<(&'static str, Value)> {
        match block {
            BlockKind::Tool { name } => vec![(
                "contentBlockStart",
                json!({
                    "contentBlockIndex": index,
                    "start": {"toolUse": {"toolUseId": format!("tooluse_{}", random_id(22)), "name": name}},
                }),
            )],
            _ => Vec::new(),
        }
    }

    pub(crate) fn delta(index: u32, delta: &Delta<'_>) -> Vec<(&'static str, Value)> {
        let delta = match *delta {
            Delta::Text(text) => json!({"text": text}),
            Delta::Reasoning(text) => json!({"reasoningContent": {"text": text}}),
            Delta::ToolInput(input) => json!({"toolUse": {"input": input}}),
            Delta::Citation {
                document,
                title,
                text,
            } => json!({"citation": {
                "title": title,
                "sourceContent": [{"text": text}],
                "location": {"documentChar": {"documentIndex": document, "start": 0, "end": text.chars().count()}},
            }}),
        };
        vec![(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": delta}),
        )]
    }

    /// Reasoning closes with its signature, as a last delta.
    pub(crate) fn stop(index: u32, block: &BlockKind<'_>) -> Vec<(&'static str, Value)> {
        let mut objects = Vec::new();
        if let BlockKind::Reasoning { signature } = block {
            objects.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": signature}}}),
            ));
        }
        objects.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        objects
    }
}

/// ConverseStream events, with the response fields asked for.
pub(crate) struct Events(pub(crate) ResponseFields);

fn events(objects: Vec<(&'static str, Value)>) -> Vec<Out> {
    objects
        .into_iter()
        .map(|(name, payload)| Out::Event(name, payload))
        .collect()
}

impl Shaper for Events {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Event("messageStart", json!({"role": "assistant"}))]
    }

    fn block_start(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        events(block_objects::start(index, block))
    }

    fn delta(&mut self, index: u32, delta: &Delta<'_>) -> Vec<Out> {
        events(block_objects::delta(index, delta))
    }

    fn block_stop(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        events(block_objects::stop(index, block))
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let mut metadata = json!({
            "usage": usage(finish),
            "metrics": {"latencyMs": finish.latency_ms},
        });
        if let Some(trace) = finish.guardrail.as_ref().and_then(|g| g.converse_trace()) {
            metadata["trace"] = trace;
        }
        let mut stop = json!({"stopReason": stop_reason(finish.stop)});
        if let Some(asked) = self.0.answer(finish) {
            stop["additionalModelResponseFields"] = asked;
        }
        vec![
            Out::Event("messageStop", stop),
            Out::Event("metadata", metadata),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{obj, outs};

    fn png_base64(w: u32, h: u32) -> String {
        aws_smithy_types::base64::encode(crate::attachments::samples::png(w, h))
    }

    const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    #[test]
    fn parses_converse_bodies() {
        let body = obj(json!({
            "messages": [
                {"role": "user", "content": [{"text": "Rivers"}, {"image": {"format": "png", "source": {"bytes": png_base64(1, 1)}}}, {"cachePoint": {"type": "default"}}]},
                {"role": "assistant", "content": [{"text": "Yes"}, {"toolUse": {"toolUseId": "t", "name": "look", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "tool out"}]}}]},
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 12, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "Be brief.\nRivers\nYes\ntool out");
        assert_eq!(prompt.max_tokens, 12);
        let bare = obj(json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}));
        assert_eq!(parse(&bare, MODEL).unwrap().max_tokens, DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn rejects_bad_converse_bodies() {
        assert!(
            parse(&obj(json!({})), MODEL)
                .unwrap_err()
                .message
                .contains("[messages]")
        );
        assert!(parse(&obj(json!({"messages": []})), MODEL).is_err());
        let too_many = obj(json!({
            "messages": [{"role": "user", "content": [{"text": "x"}]}],
            "inferenceConfig": {"maxTokens": 20000},
        }));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("The maximum tokens you requested exceeds the model limit of 8192.")
        );
        let bad_role = obj(json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}));
        assert!(parse(&bad_role, MODEL).is_err());
    }

    #[test]
    fn tools_reasoning_attachments_and_tool_results() {
        let signature = crate::signature::sign("Hmm.");
        let body = obj(json!({
            "messages": [
                {"role": "user", "content": [{"text": "weather?"}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": signature}}},
                    {"reasoningContent": {"redactedContent": "c2VjcmV0"}},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}},
                    {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {"city": "Rome"}}},
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "rain"}], "status": "success"}},
                    {"toolResult": {"toolUseId": "tooluse_2", "content": [{"json": {"t": 20}}]}},
                    {"image": {"format": "gif", "source": {"bytes": aws_smithy_types::base64::encode(crate::attachments::samples::gif(3, 2))}}},
                    {"document": {"format": "md", "name": "notes", "source": {"bytes": "IyBoaQ=="}}},
                ]},
            ],
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}, {"cachePoint": {"type": "default"}}],
                "toolChoice": {"auto": {}},
            },
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        let parts = &prompt.parts;
        assert!(parts.reasoning);
        assert_eq!(parts.tools.len(), 1);
        assert_eq!(parts.tool_results, ["rain", r#"{"t":20}"#]);
        let lines: Vec<String> = parts.attachments.iter().map(|a| a.line()).collect();
        assert_eq!(lines, ["[image/gif 3x2]", "[document notes 4 bytes]"]);
    }

    #[test]
    fn claude_takes_only_its_own_body_keys_as_additional_fields() {
        let with = |fields: Value, model: &str| {
            parse(
                &obj(json!({
                    "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                    "additionalModelRequestFields": fields,
                })),
                model,
            )
        };
        assert!(with(json!({"top_k": 5, "anthropic_beta": ["x"]}), MODEL).is_ok());
        // Claude's own structured output, as the AI SDK's Bedrock provider
        // sends it, makes the answer JSON of the schema.
        let schema = json!({"type": "object", "properties": {"c": {"type": "string"}}});
        let format =
            json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}});
        let prompt = with(format, MODEL).unwrap();
        assert_eq!(prompt.parts.output_schema, Some(schema));
        let err = with(json!({"top_k": 5, "topK": 5}), MODEL).unwrap_err();
        assert!(
            format!("{err:?}").contains("extraneous key [topK] is not permitted"),
            "{err:?}"
        );
        // Other families' fields are not checked here.
        assert!(
            with(
                json!({"inferenceConfig": {"topK": 5}}),
                "amazon.nova-lite-v1:0"
            )
            .is_ok()
        );
    }

    #[test]
    fn refuses_forged_signatures_unknown_tool_results_and_bad_attachments() {
        let with = |content: Value| {
            parse(
                &obj(json!({"messages": [
                    {"role": "user", "content": [{"text": "hi"}]},
                    {"role": "assistant", "content": [{"text": "ok"}]},
                    {"role": "user", "content": content},
                ]})),
                MODEL,
            )
        };
        let forged = parse(
            &obj(json!({"messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "Zm9yZ2Vk"}}}]},
                {"role": "user", "content": [{"text": "go on"}]},
            ]})),
            MODEL,
        );
        assert!(forged.unwrap_err().message.contains("Invalid signature"));
        let orphan =
            with(json!([{"toolResult": {"toolUseId": "tooluse_x", "content": [{"text": "?"}]}}]));
        assert!(orphan.unwrap_err().message.contains("tooluse_x"));
        let gif_as_png =
            with(json!([{"image": {"format": "png", "source": {"bytes": "R0lGODlh"}}}]));
        assert_eq!(
            gif_as_png.unwrap_err().message,
            "#/messages/2/content/0/image: the image data does not match its media type image/png"
        );
        let bmp = with(json!([{"image": {"format": "bmp", "source": {"bytes": "Qk0="}}}]));
        assert!(bmp.unwrap_err().message.contains("enum value set"));
        let s3 = with(
            json!([{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}]),
        );
        assert!(s3.unwrap_err().message.contains("fetches nothing"));
        let empty = with(
            json!([{"document": {"format": "txt", "name": "empty", "source": {"bytes": ""}}}]),
        );
        assert!(empty.unwrap_err().message.contains("empty"));
        let nameless = with(json!([{"document": {"format": "txt", "source": {"bytes": "aGk="}}}]));
        assert!(nameless.unwrap_err().message.contains("[name]"));
    }

    #[test]
    fn reasoning_and_tool_use_events() {
        let out = outs(
            Box::new(Events(ResponseFields::default())),
            &[
                (
                    BlockKind::Reasoning { signature: "c2ln" },
                    &[Delta::Reasoning("Let")],
                ),
                (
                    BlockKind::Tool {
                        name: "get_weather",
                    },
                    &[Delta::ToolInput("{}")],
                ),
            ],
            Stop::ToolUse,
        );
        assert_eq!(
            out[1],
            Out::Event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let"}}})
            )
        );
        assert_eq!(
            out[2],
            Out::Event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}})
            )
        );
        assert_eq!(
            out[3],
            Out::Event("contentBlockStop", json!({"contentBlockIndex": 0}))
        );
        let Out::Event("contentBlockStart", start) = &out[4] else {
            panic!("{:?}", out[4])
        };
        assert_eq!(start["contentBlockIndex"], 1);
        assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
        assert!(
            start["start"]["toolUse"]["toolUseId"]
                .as_str()
                .unwrap()
                .starts_with("tooluse_")
        );
        assert_eq!(
            out[5],
            Out::Event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}})
            )
        );
        assert_eq!(
            out[7],
            Out::Event("messageStop", json!({"stopReason": "tool_use"}))
        );
    }

    #[test]
    fn events() {
        let out = outs(
            Box::new(Events(ResponseFields::default())),
            &[(BlockKind::Text, &[Delta::Text("Hi")])],
            Stop::Length,
        );
        assert_eq!(
            out,
            [
                Out::Event("messageStart", json!({"role": "assistant"})),
                Out::Event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})
                ),
                Out::Event("contentBlockStop", json!({"contentBlockIndex": 0})),
                Out::Event("messageStop", json!({"stopReason": "max_tokens"})),
                Out::Event(
                    "metadata",
                    json!({"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 40}})
                ),
            ]
        );
    }
}
