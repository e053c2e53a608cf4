//! `response_format` on Bedrock, as LiteLLM does it: JSON mode
//! (`{"type":"json_object"}`) and structured outputs (`{"type":"json_schema",
//! "json_schema":{"name","schema","description"?,"strict"?}}`) become one
//! tool the model must call, whose input schema is the format's; that call's
//! input is then the answer's `content`, and the answer ends with
//! `finish_reason: "stop"`, as OpenAI's would. `{"type":"text"}` is the
//! default.
//!
//! With tools of the request's own ([`declare`]), the format's tool is
//! declared beside them and the model must call *some* tool (`any`): one of
//! the client's, which stays a function call, or the format's, which is the
//! answer. A tool choice that names a tool, or `none`, is kept.
//!
//! With reasoning, a forced tool is not possible (Claude refuses extended
//! thinking with one, and with `auto` the model may answer in prose), so the
//! format goes as Bedrock's own structured output instead ([`native`]:
//! Converse's `outputConfig`), and the answer's text is the JSON.

use serde_json::{Value, json};

use super::error::{OpenAiError, bad};
use crate::parts::{JsonFormat, OutputConfig, Part, Tool, ToolChoice};

/// The tool JSON mode asks for (structured outputs use the schema's name).
const JSON_OBJECT_TOOL: &str = "json_response";

/// The Responses API's `text.format` (`{"type":"json_schema","name","schema",…}`,
/// flat) as the tool it asks for.
pub(super) fn text_format_tool(format: Option<&Value>) -> Result<Option<Tool>, OpenAiError> {
    match format.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema")) {
        Some(f) => tool(Some(&json!({"type": "json_schema", "json_schema": f}))),
        None => tool(format),
    }
}

/// The name of the tool whose input is the answer, from a `text.format`
/// as echoed in a response object (no checks: it was checked on the way in).
pub(super) fn text_format_tool_name(format: &Value) -> Option<String> {
    match format.get("type").and_then(Value::as_str) {
        Some("json_object") => Some(JSON_OBJECT_TOOL.to_owned()),
        Some("json_schema") => format
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// The tool `response_format` asks the model to call, if it asks for JSON.
pub(super) fn tool(format: Option<&Value>) -> Result<Option<Tool>, OpenAiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Tool {
            name: JSON_OBJECT_TOOL.to_owned(),
            description: Some("Give the answer as this tool's input: one JSON object.".into()),
            input_schema: json!({"type": "object"}),
            strict: None,
        })),
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("response_format.json_schema must be an object"))?;
            let name = spec
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("response_format.json_schema.name is required"))?;
            let schema = match spec.get("schema") {
                None | Some(Value::Null) => json!({"type": "object"}),
                Some(s @ Value::Object(_)) => s.clone(),
                Some(_) => return Err(bad("response_format.json_schema.schema must be an object")),
            };
            let description = spec.get("description").and_then(Value::as_str).map_or_else(
                || "Give the answer as this tool's input.".to_owned(),
                str::to_owned,
            );
            Ok(Some(Tool {
                name: name.to_owned(),
                description: Some(description),
                input_schema: schema,
                strict: None,
            }))
        }
        _ => Err(bad(format!(
            "response_format {format} is not {{\"type\":\"text\"}}, {{\"type\":\"json_object\"}} or {{\"type\":\"json_schema\",\"json_schema\":{{…}}}}"
        ))),
    }
}

/// Declare `format`'s tool with the request's `tools` and say which tool
/// choice the request goes with. Alone, the format's tool is forced; beside
/// the client's tools the model must call one of them or it (`auto` and
/// `required` are `any`), unless `choice` names a tool or is `none`.
///
/// The format's tool goes first: for `any`, Claude picks a tool by what the
/// conversation needs, and the simulator picks the first one declared, so a
/// turn after a tool result answers in the format there.
///
/// `field` names the request's format field in refusals.
pub(super) fn declare(
    format: Tool,
    tools: &mut Vec<Tool>,
    choice: ToolChoice,
    field: &str,
) -> Result<ToolChoice, OpenAiError> {
    if tools.iter().any(|t| t.name == format.name) {
        return Err(bad(format!(
            "{field} names the tool '{}' of the JSON answer, which is also one of the request's tools; rename one of them",
            format.name
        )));
    }
    let choice = match choice {
        _ if tools.is_empty() => ToolChoice::Tool(format.name.clone()),
        ToolChoice::Auto | ToolChoice::Any => ToolChoice::Any,
        kept @ (ToolChoice::None | ToolChoice::Tool(_)) => kept,
    };
    tools.insert(0, format);
    Ok(choice)
}

/// The format as Bedrock's own structured output (with reasoning, where a
/// forced tool cannot go): the format tool's schema, name and description
/// as Converse's `outputConfig.textFormat`.
pub(super) fn native(format: Tool) -> OutputConfig {
    OutputConfig {
        format: Some(JsonFormat {
            schema: format.input_schema,
            name: Some(format.name),
            description: format.description,
        }),
        effort: None,
    }
}

/// The forced call of a JSON answer, followed over a session's events: its
/// input is the answer's text, piece by piece, or whole at the call's end
/// when none of it streamed. Chat and the Responses API render it alike.
///
/// Text the model writes before that call (Nova, Llama and Mistral often
/// do) is not the answer: it is held back until the next part shows what
/// the answer is. The JSON call drops it, as LiteLLM does; a call of one of
/// the client's tools, or the end, releases it ([`Self::release`]).
#[derive(Debug, Default)]
pub(super) struct JsonAnswer {
    /// The tool whose input is the answer.
    tool: Option<String>,
    /// The answer block of its call once seen, and whether any input went out.
    block: Option<(u32, bool)>,
    /// Text held while the JSON call may still come (`None`: not holding).
    held: Option<String>,
}

impl JsonAnswer {
    /// `tool`: the format's tool, if the request asked for JSON.
    pub fn new(tool: Option<String>) -> Self {
        let held = tool.as_ref().map(|_| String::new());
        Self {
            tool,
            block: None,
            held,
        }
    }

    /// The answer's plain text as it streams: `None` while it is held.
    pub fn plain(&mut self, token: &str) -> Option<String> {
        match &mut self.held {
            Some(held) => {
                held.push_str(token);
                None
            }
            None => Some(token.to_owned()),
        }
    }

    /// The text held so far, let out: a part other than the JSON call came,
    /// or the answer ended. Nothing is held after this.
    pub fn release(&mut self) -> String {
        self.held.take().unwrap_or_default()
    }

    /// The text `part` adds when it belongs to the JSON answer's call
    /// (empty when it adds none); `None` when it does not belong to it.
    pub fn text(&mut self, part: &Part) -> Option<String> {
        let Part::ToolCall {
            index,
            name,
            input_delta,
            input,
            ..
        } = part
        else {
            return None;
        };
        if self.block.is_none() && name.is_some() && name.as_deref() == self.tool.as_deref() {
            self.block = Some((*index, false));
            // What the model said before the answer is not the answer.
            self.held = None;
        }
        let (block, sent) = self.block.as_mut()?;
        if block != index {
            return None;
        }
        let text = match (input_delta, input) {
            (Some(piece), _) => piece.clone(),
            (None, Some(input)) if !*sent => input.to_string(),
            _ => String::new(),
        };
        *sent |= !text.is_empty();
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_tools() {
        assert!(tool(None).unwrap().is_none());
        assert!(tool(Some(&json!({"type": "text"}))).unwrap().is_none());
        let object = tool(Some(&json!({"type": "json_object"})))
            .unwrap()
            .unwrap();
        assert_eq!(object.name, JSON_OBJECT_TOOL);
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let named = tool(Some(&json!({"type": "json_schema", "json_schema": {
            "name": "place", "schema": schema, "strict": true
        }})))
        .unwrap()
        .unwrap();
        assert_eq!(
            (named.name.as_str(), &named.input_schema),
            ("place", &schema)
        );
        for bad in [
            json!({"type": "json_schema"}),
            json!({"type": "json_schema", "json_schema": {"schema": {}}}),
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}}),
            json!({"type": "yaml"}),
        ] {
            assert!(tool(Some(&bad)).is_err(), "{bad}");
        }
        // The Responses API's flat `text.format`.
        let flat = json!({"type": "json_schema", "name": "place", "schema": schema});
        let named = text_format_tool(Some(&flat)).unwrap().unwrap();
        assert_eq!(named.name, "place");
        assert_eq!(text_format_tool_name(&flat).as_deref(), Some("place"));
        assert_eq!(
            text_format_tool_name(&json!({"type": "json_object"})).as_deref(),
            Some(JSON_OBJECT_TOOL)
        );
        assert!(
            text_format_tool(Some(&json!({"type": "text"})))
                .unwrap()
                .is_none()
        );
        assert!(text_format_tool_name(&json!({"type": "text"})).is_none());
    }

    fn named(name: &str) -> Tool {
        Tool {
            name: name.to_owned(),
            description: None,
            input_schema: Tool::empty_schema(),
            strict: None,
        }
    }

    #[test]
    fn the_format_tool_beside_the_clients_tools() {
        let declared = |tools: &[&str], choice: ToolChoice| {
            let mut tools: Vec<Tool> = tools.iter().map(|n| named(n)).collect();
            let choice = declare(named("place"), &mut tools, choice, "response_format")?;
            let names: Vec<String> = tools.into_iter().map(|t| t.name).collect();
            Ok::<_, OpenAiError>((names, choice))
        };
        // Alone it is forced, whatever the choice said.
        for choice in [ToolChoice::Auto, ToolChoice::None, ToolChoice::Any] {
            let (names, forced) = declared(&[], choice).unwrap();
            assert_eq!(
                (names, forced),
                (vec!["place".to_owned()], ToolChoice::Tool("place".into()))
            );
        }
        // Beside the client's tools: first, with some tool to call.
        for choice in [ToolChoice::Auto, ToolChoice::Any] {
            let (names, choice) = declared(&["get_weather", "now"], choice).unwrap();
            assert_eq!(names, ["place", "get_weather", "now"]);
            assert_eq!(choice, ToolChoice::Any);
        }
        // A named tool, or none, is the client's to keep.
        for kept in [ToolChoice::None, ToolChoice::Tool("now".into())] {
            let (_, choice) = declared(&["get_weather", "now"], kept.clone()).unwrap();
            assert_eq!(choice, kept);
        }
        // Refused: a client tool of the same name.
        assert!(declared(&["place"], ToolChoice::Auto).is_err());
    }

    #[test]
    fn the_native_format_keeps_the_schema_name_and_description() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let c = native(Tool {
            name: "place".into(),
            description: Some("Where".into()),
            input_schema: schema.clone(),
            strict: None,
        });
        let f = c.format.unwrap();
        assert_eq!(
            (f.schema, f.name, f.description),
            (schema, Some("place".into()), Some("Where".into()))
        );
    }
}
