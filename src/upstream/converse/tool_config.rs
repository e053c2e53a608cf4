//! Converse's `toolConfig` from the request's tools and tool choice.
//!
//! Converse has no tool choice `none`: with `none` the tools are left out,
//! unless the history holds tool calls or results, which Converse refuses
//! without a `toolConfig` — then the tools are declared with no `toolChoice`
//! (the model's default, `auto`). A request that offers no tools but replays
//! tool calls declares stand-ins (see `upstream::tools`).

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, SpecificToolChoice, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolSpecification,
};

use super::json::to_document;
use crate::parts::ToolChoice as Choice;
use crate::upstream::request::InvocationRequest;
use crate::upstream::tools;

/// The `toolConfig` for `req`, or `None` when it declares no tools.
pub(crate) fn tool_config(req: &InvocationRequest) -> Result<Option<ToolConfiguration>, String> {
    let declared = tools::declared(req);
    if declared.is_empty() {
        return Ok(None);
    }
    let choice = match &req.tool_choice {
        Choice::None if !tools::history_has_tools(&req.turns) => return Ok(None),
        // `auto` is every model's default, and Converse documents
        // `toolChoice` for a few families only: left unsaid.
        Choice::None | Choice::Auto => None,
        Choice::Any => Some(ToolChoice::Any(AnyToolChoice::builder().build())),
        Choice::Tool(name) => Some(ToolChoice::Tool(
            SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(|e| e.to_string())?,
        )),
    };
    let mut specs = declared
        .iter()
        .map(|t| {
            ToolSpecification::builder()
                .name(&t.name)
                .set_description(t.description.clone())
                .input_schema(ToolInputSchema::Json(to_document(&t.input_schema)))
                .set_strict(t.strict)
                .build()
                .map(Tool::ToolSpec)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if tools::cache_point_after(req) {
        specs.push(Tool::CachePoint(super::message::cache_point(
            req.tools_cache_ttl,
        )?));
    }
    ToolConfiguration::builder()
        .set_tools(Some(specs))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: serde_json::Value) -> InvocationRequest {
        let turns = serde_json::from_value(v["turns"].clone()).unwrap();
        let tools = serde_json::from_value(v["tools"].clone()).unwrap_or_default();
        let tool_choice = serde_json::from_value(v["toolChoice"].clone()).unwrap_or_default();
        InvocationRequest {
            model_id: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            turns,
            tools,
            tool_choice,
            ..Default::default()
        }
    }

    const WEATHER: &str = r#"[{"name":"weather","description":"Now","inputSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]"#;

    fn with(choice: serde_json::Value, history: bool) -> InvocationRequest {
        let mut turns = vec![json!({"role":"user","content":"hi"})];
        if history {
            turns.push(json!({"role":"assistant","content":[{"type":"toolCall","id":"t","name":"weather","input":{}}]}));
            turns.push(json!({"role":"user","content":[{"type":"toolResult","toolCallId":"t","content":"sun"}]}));
        }
        req(
            json!({"turns": turns, "tools": serde_json::from_str::<serde_json::Value>(WEATHER).unwrap(), "toolChoice": choice}),
        )
    }

    #[test]
    fn tools_and_choices() {
        let cfg = tool_config(&with(json!("any"), false)).unwrap().unwrap();
        let Tool::ToolSpec(spec) = &cfg.tools[0] else {
            panic!("{cfg:?}")
        };
        assert_eq!(spec.name, "weather");
        assert_eq!(spec.description.as_deref(), Some("Now"));
        let Some(ToolInputSchema::Json(schema)) = &spec.input_schema else {
            panic!("{spec:?}")
        };
        assert_eq!(
            super::super::json::from_document(schema)["required"],
            json!(["city"])
        );
        assert!(matches!(cfg.tool_choice, Some(ToolChoice::Any(_))));

        let cfg = tool_config(&with(json!({"name":"weather"}), false))
            .unwrap()
            .unwrap();
        assert!(matches!(&cfg.tool_choice, Some(ToolChoice::Tool(t)) if t.name == "weather"));
        let cfg = tool_config(&with(json!("auto"), false)).unwrap().unwrap();
        assert_eq!(cfg.tool_choice, None);
    }

    #[test]
    fn none_leaves_tools_out_unless_the_history_needs_them() {
        assert_eq!(tool_config(&with(json!("none"), false)).unwrap(), None);
        let cfg = tool_config(&with(json!("none"), true)).unwrap().unwrap();
        assert_eq!(cfg.tools.len(), 1);
        assert_eq!(cfg.tool_choice, None);
    }

    #[test]
    fn a_cache_point_follows_the_tools() {
        let mut r = with(json!("auto"), false);
        r.tools_cache_point = true;
        let cfg = tool_config(&r).unwrap().unwrap();
        assert_eq!(cfg.tools.len(), 2);
        assert!(matches!(cfg.tools[0], Tool::ToolSpec(_)));
        let Tool::CachePoint(cp) = &cfg.tools[1] else {
            panic!("{cfg:?}")
        };
        assert_eq!(
            cp.r#type,
            aws_sdk_bedrockruntime::types::CachePointType::Default
        );
        r.tools_cache_point = false;
        assert_eq!(tool_config(&r).unwrap().unwrap().tools.len(), 1);
    }

    #[test]
    fn history_without_tools_gets_stand_ins() {
        let mut r = with(json!("auto"), true);
        r.tools.clear();
        let cfg = tool_config(&r).unwrap().unwrap();
        let Tool::ToolSpec(spec) = &cfg.tools[0] else {
            panic!("{cfg:?}")
        };
        assert_eq!(spec.name, "weather");
        let plain = req(json!({"turns":[{"role":"user","content":"hi"}]}));
        assert_eq!(tool_config(&plain).unwrap(), None);
    }
}
