//! ConverseStream: the request built from parts on the SDK's types, and its
//! events decoded into deltas.
//!
//! - `message`: turns and their parts as `Message`s and content blocks.
//! - `tool_config`: `toolConfig` from tools and tool choice.
//! - `json`: `serde_json::Value` ↔ the SDK's `Document`.
//! - `decode`: stream events → `Delta`s.
//! - `guardrail_trace`: the metadata's guardrail trace as JSON.
//!
//! Thinking goes in `additionalModelRequestFields` (see `upstream::reasoning`).

mod decode;
mod guardrail_trace;
mod json;
mod message;
mod tool_config;

use aws_sdk_bedrockruntime::types::{
    GuardrailStreamConfiguration, InferenceConfiguration, JsonSchemaDefinition, Message,
    OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType, SystemContentBlock,
    ToolConfiguration,
};
use aws_smithy_types::Document;

pub(crate) use decode::Decoder;

use super::models::ModelFamily;
use super::reasoning;
use super::request::InvocationRequest;

/// Everything a ConverseStream call sends besides the model id.
#[derive(Debug)]
pub(crate) struct ConverseInput {
    pub messages: Vec<Message>,
    pub system: Option<Vec<SystemContentBlock>>,
    pub inference: InferenceConfiguration,
    pub tool_config: Option<ToolConfiguration>,
    pub additional_fields: Option<Document>,
    pub guardrail: Option<GuardrailStreamConfiguration>,
    pub output_config: Option<OutputConfig>,
    /// `additionalModelResponseFieldPaths`: Claude's own stop sequence, when
    /// the request names several (Converse's `stop_sequence` stop does not
    /// say which; [`Decoder`] reads it back).
    pub response_field_paths: Option<Vec<String>>,
}

/// Where Claude's streamed response says which stop sequence it reached
/// (its `message_delta`), as a JSON pointer.
pub(crate) const STOP_SEQUENCE_PATH: &str = "/delta/stop_sequence";

/// Build the call for `req`. `Err` is a request that cannot be expressed
/// (the checks before any upstream call make that a request that skipped them).
pub(crate) fn build(req: &InvocationRequest) -> Result<ConverseInput, String> {
    let family = req.family();
    let drop_sampling =
        family.is_some_and(|f| reasoning::drops_sampling(f, &req.model_id, req.reasoning_budget));
    let inference = InferenceConfiguration::builder()
        .set_max_tokens(req.max_tokens.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
        .set_temperature(req.temperature.filter(|_| !drop_sampling))
        .set_top_p(req.top_p.filter(|_| !drop_sampling))
        .set_stop_sequences((!req.stop_sequences.is_empty()).then(|| req.stop_sequences.clone()))
        .build();
    Ok(ConverseInput {
        messages: message::messages(&req.turns)?,
        system: message::system(&req.system)?,
        inference,
        tool_config: tool_config::tool_config(req)?,
        additional_fields: match &req.converse_fields {
            Some(fields) => Some(Document::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), json::to_document(v)))
                    .collect(),
            )),
            None => family
                .and_then(|f| reasoning::fields(f, &req.model_id, req.reasoning_budget))
                .map(|v| json::to_document(&v)),
        },
        guardrail: req.guardrail.as_ref().map(|g| g.converse_config()),
        output_config: match family {
            Some(f) => output_config(&reasoning::with_effort(f, req))?,
            None => output_config(&req.output_config)?,
        },
        response_field_paths: (family == Some(ModelFamily::AnthropicClaude)
            && req.stop_sequences.len() > 1)
            .then(|| vec![STOP_SEQUENCE_PATH.to_owned()]),
    })
}

/// `outputConfig`: the JSON Schema as a string (Bedrock's `jsonSchema.schema`) and the effort.
fn output_config(c: &crate::parts::OutputConfig) -> Result<Option<OutputConfig>, String> {
    if !c.is_set() {
        return Ok(None);
    }
    let text_format = c
        .format
        .as_ref()
        .map(|f| {
            let schema = JsonSchemaDefinition::builder()
                .schema(f.schema.to_string())
                .set_name(f.name.clone())
                .set_description(f.description.clone())
                .build()
                .map_err(|e| e.to_string())?;
            OutputFormat::builder()
                .r#type(OutputFormatType::JsonSchema)
                .structure(OutputFormatStructure::JsonSchema(schema))
                .build()
                .map_err(|e| e.to_string())
        })
        .transpose()?;
    Ok(Some(
        OutputConfig::builder()
            .set_text_format(text_format)
            .set_effort(c.effort.clone())
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::request::{Role, Turn};
    use serde_json::json;

    fn req(model: &str, budget: Option<u32>) -> InvocationRequest {
        InvocationRequest {
            model_id: model.into(),
            system: "Be brief.".into(),
            turns: vec![Turn::text_turn(Role::User, "Hi")],
            max_tokens: Some(4096),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop_sequences: vec!["END".into()],
            reasoning_budget: budget,
            ..Default::default()
        }
    }

    #[test]
    fn plain_request() {
        let input = build(&req("us.amazon.nova-lite-v1:0", None)).unwrap();
        assert_eq!(input.messages.len(), 1);
        assert_eq!(
            input.system,
            Some(vec![SystemContentBlock::Text("Be brief.".into())])
        );
        assert_eq!(input.inference.max_tokens, Some(4096));
        assert_eq!(input.inference.temperature, Some(0.5));
        assert_eq!(input.inference.top_p, Some(0.9));
        assert_eq!(input.inference.stop_sequences, Some(vec!["END".into()]));
        assert!(input.tool_config.is_none());
        assert!(input.additional_fields.is_none());
    }

    #[test]
    fn claude_thinking_drops_sampling() {
        let input = build(&req(
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            Some(2048),
        ))
        .unwrap();
        assert_eq!(
            input.additional_fields.as_ref().map(json::from_document),
            Some(json!({"thinking":{"type":"enabled","budget_tokens":2048}}))
        );
        assert_eq!(input.inference.temperature, None);
        assert_eq!(input.inference.top_p, None);
        assert_eq!(input.inference.max_tokens, Some(4096));
    }

    #[test]
    fn adaptive_only_claude_thinks_adaptively_with_an_effort_and_takes_no_sampling() {
        let input = build(&req("us.anthropic.claude-opus-4-7", Some(4096))).unwrap();
        assert_eq!(
            input.additional_fields.as_ref().map(json::from_document),
            Some(json!({"thinking":{"type":"adaptive","display":"summarized"}}))
        );
        assert_eq!(
            input.output_config.as_ref().and_then(|c| c.effort()),
            Some("medium")
        );
        assert_eq!(input.inference.temperature, None);
        // No thinking asked for: still no sampling knob, and no effort.
        let input = build(&req("us.anthropic.claude-opus-4-7", None)).unwrap();
        assert_eq!(input.inference.temperature, None);
        assert_eq!(input.inference.top_p, None);
        assert!(input.additional_fields.is_none() && input.output_config.is_none());
        // An effort the request named stands.
        let mut r = req("anthropic.claude-sonnet-5", Some(1024));
        r.output_config.effort = Some("max".into());
        let input = build(&r).unwrap();
        assert_eq!(
            input.output_config.as_ref().and_then(|c| c.effort()),
            Some("max")
        );
    }

    #[test]
    fn nova_reasoning_is_an_effort() {
        let input = build(&req("us.amazon.nova-2-lite-v1:0", Some(20000))).unwrap();
        assert_eq!(
            input.additional_fields.as_ref().map(json::from_document),
            Some(json!({"reasoningConfig":{"type":"enabled","maxReasoningEffort":"high"}}))
        );
        assert_eq!(input.inference.temperature, Some(0.5));
    }

    #[test]
    fn blank_system_is_left_out() {
        let mut r = req("meta.llama3-8b-instruct-v1:0", None);
        r.system = " ".into();
        assert_eq!(build(&r).unwrap().system, None);
    }

    #[test]
    fn system_cache_points_are_system_blocks() {
        let mut r = req("us.amazon.nova-lite-v1:0", None);
        r.system = serde_json::from_value::<crate::parts::SystemPrompt>(json!([
            {"type":"text","text":"Rules"},{"type":"cachePoint"},{"type":"text","text":"Today"}
        ]))
        .unwrap();
        let system = build(&r).unwrap().system.unwrap();
        assert_eq!(system.len(), 3);
        assert_eq!(system[0], SystemContentBlock::Text("Rules".into()));
        let SystemContentBlock::CachePoint(cp) = &system[1] else {
            panic!("{system:?}")
        };
        assert_eq!(
            cp.r#type,
            aws_sdk_bedrockruntime::types::CachePointType::Default
        );
        assert_eq!(system[2], SystemContentBlock::Text("Today".into()));
    }
}
