//! One part of a `UIMessage`, read into what can go back to the model: text,
//! reasoning the model signed (or redacted), a tool call with its outcome,
//! an attached file, a step boundary. Parts the model never sees (sources,
//! data, custom, unsigned reasoning) read as `None`.

use serde::Deserialize;
use serde_json::Value;

use crate::parts::attachment::{IMAGE_TYPES, split_data_url};
use crate::parts::{Content, Reasoning, ToolResultContent};

/// A UI part the conversation keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum UiPart {
    Text(String),
    /// Signed or redacted reasoning, replayed as received.
    Reasoning(Reasoning),
    /// A tool call and what it returned.
    Tool(ToolOutcome),
    /// An attachment, as an image or document request part.
    File(Content),
    /// Where a new model call (step) of an assistant message begins.
    StepStart,
}

/// A finished tool call: the call and its result, as request parts.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub call: Content,
    pub result: Content,
}

/// A tool part's fields (`tool-NAME` and `dynamic-tool` alike).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolWire {
    tool_call_id: String,
    #[serde(default)]
    tool_name: Option<String>,
    state: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error_text: Option<String>,
    /// The input as the model sent it, when it was not valid input.
    #[serde(default)]
    raw_input: Option<Value>,
    /// A tool approval: `{"id", "approved"?, "reason"?}`.
    #[serde(default)]
    approval: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileWire {
    #[serde(default)]
    media_type: String,
    url: String,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningWire {
    #[serde(default)]
    text: String,
    #[serde(default)]
    provider_metadata: Option<Value>,
}

#[derive(Deserialize)]
struct TextWire {
    text: String,
}

/// Read one part; `Err` says why it cannot be sent back.
pub fn read(part: Value) -> Result<Option<UiPart>, String> {
    let kind = part
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let field = |e: serde_json::Error| format!("a '{kind}' part: {e}");
    match kind.as_str() {
        "text" => {
            let t: TextWire = serde_json::from_value(part).map_err(field)?;
            Ok(Some(UiPart::Text(t.text)))
        }
        "reasoning" => {
            let r: ReasoningWire = serde_json::from_value(part).map_err(field)?;
            Ok(reasoning(r).map(UiPart::Reasoning))
        }
        "file" => {
            let f: FileWire = serde_json::from_value(part).map_err(field)?;
            file(f).map(|c| Some(UiPart::File(c)))
        }
        "step-start" => Ok(Some(UiPart::StepStart)),
        "dynamic-tool" => {
            let t: ToolWire = serde_json::from_value(part).map_err(field)?;
            let name = t.tool_name.clone().unwrap_or_default();
            tool(name, t).map(|o| o.map(UiPart::Tool))
        }
        _ => match kind.strip_prefix("tool-") {
            Some(name) => {
                let t: ToolWire = serde_json::from_value(part).map_err(field)?;
                tool(name.to_owned(), t).map(|o| o.map(UiPart::Tool))
            }
            None => Ok(None),
        },
    }
}

/// Reasoning comes back with what the gateway put in its `providerMetadata`:
/// `bedrock.signature` (signed text) or `bedrock.redactedData`. Without
/// either the model would refuse it, so it is left out.
fn reasoning(r: ReasoningWire) -> Option<Reasoning> {
    let bedrock = r.provider_metadata.as_ref()?.get("bedrock")?;
    let text_of = |key: &str| bedrock.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(redacted) = text_of("redactedData") {
        return Some(Reasoning {
            text: None,
            signature: None,
            redacted: Some(redacted),
        });
    }
    let signature = text_of("signature")?;
    Some(Reasoning {
        text: Some(r.text),
        signature: Some(signature),
        redacted: None,
    })
}

/// A `data:` URL file: an image part for `image/*`, else a document named by
/// its filename. The part's media type wins over the URL's unless it is only
/// a top-level type (`image`) or a wildcard (`image/*`, which `FileUIPart`
/// allows); an image's type is then what its bytes say.
fn file(f: FileWire) -> Result<Content, String> {
    let (url_type, data) = split_data_url(&f.url).map_err(|e| format!("a file part: {e}"))?;
    let media_type = if f.media_type.contains('/') && !f.media_type.ends_with("/*") {
        f.media_type.clone()
    } else {
        url_type.to_owned()
    };
    let data = data.to_owned();
    if media_type.starts_with("image/") || IMAGE_TYPES.contains(&media_type.as_str()) {
        // The browser's label comes from the file's extension: an image is
        // what its bytes are (a renamed PNG is still a PNG), as OpenAI reads it.
        let media_type = crate::parts::sniff::image_type_of(&media_type, &data);
        return Ok(Content::Image { media_type, data });
    }
    let name = f
        .filename
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "document".to_owned());
    Ok(Content::Document {
        media_type,
        name,
        data,
        citations: false,
        context: None,
    })
}

/// A tool part with an outcome (`output-available`, `output-error`,
/// `output-denied`, or an approval the user refused) as a call and a
/// result. A call without one — still streaming its input, never run
/// (the user stopped the answer), or waiting for an approval the
/// conversation moved past — is left out, as the AI SDK's own
/// `convertToModelMessages` leaves it: the model cannot take a call without
/// its result.
fn tool(name: String, t: ToolWire) -> Result<Option<ToolOutcome>, String> {
    let refused = t
        .approval
        .as_ref()
        .filter(|a| a.get("approved").and_then(Value::as_bool) == Some(false));
    let denied = || match refused
        .and_then(|a| a.get("reason"))
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
    {
        Some(reason) => format!("The tool call was denied: {reason}"),
        None => "The tool call was denied.".to_owned(),
    };
    let (content, is_error) = match t.state.as_str() {
        "output-available" => {
            let text = match t.output {
                Some(Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => String::new(),
            };
            (text, false)
        }
        "output-error" => (t.error_text.unwrap_or_default(), true),
        "output-denied" => (denied(), true),
        "approval-responded" if refused.is_some() => (denied(), true),
        "input-streaming" | "input-available" | "approval-requested" | "approval-responded" => {
            return Ok(None);
        }
        state => {
            return Err(format!(
                "tool call '{}' ({name}) is in state '{state}', which is not one of the AI SDK's \
                 tool states",
                t.tool_call_id
            ));
        }
    };
    // The input the call was made with: the parsed one, else the model's
    // raw one when it is an object (an input that failed to parse is not).
    let input = t
        .input
        .filter(Value::is_object)
        .or_else(|| t.raw_input.filter(Value::is_object))
        .unwrap_or_else(|| Value::Object(Default::default()));
    Ok(Some(ToolOutcome {
        call: Content::ToolCall {
            id: t.tool_call_id.clone(),
            name,
            input,
        },
        result: Content::ToolResult {
            tool_call_id: t.tool_call_id,
            content: ToolResultContent::Text(content),
            is_error,
        },
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(part: Value) -> Option<UiPart> {
        read(part).unwrap()
    }

    #[test]
    fn text_step_and_unknown_parts() {
        assert_eq!(
            one(json!({"type":"text","text":"hi","state":"done"})),
            Some(UiPart::Text("hi".into()))
        );
        assert_eq!(one(json!({"type":"step-start"})), Some(UiPart::StepStart));
        for ignored in [
            json!({"type":"source-url","sourceId":"s","url":"https://x"}),
            json!({"type":"data-weather","data":{}}),
            json!({"type":"reasoning","text":"unsigned"}),
            json!({"type":"reasoning","text":"x","providerMetadata":{"openai":{}}}),
            json!({}),
        ] {
            assert_eq!(one(ignored.clone()), None, "{ignored}");
        }
        assert!(read(json!({"type":"text"})).is_err());
    }

    #[test]
    fn reasoning_comes_back_signed_or_redacted() {
        let signed = json!({"type":"reasoning","text":"hmm","state":"done",
            "providerMetadata":{"bedrock":{"signature":"sig"}}});
        assert_eq!(
            one(signed),
            Some(UiPart::Reasoning(Reasoning {
                text: Some("hmm".into()),
                signature: Some("sig".into()),
                redacted: None,
            }))
        );
        let redacted = json!({"type":"reasoning","text":"",
            "providerMetadata":{"bedrock":{"redactedData":"AAAA"}}});
        assert_eq!(
            one(redacted),
            Some(UiPart::Reasoning(Reasoning {
                text: None,
                signature: None,
                redacted: Some("AAAA".into()),
            }))
        );
    }

    #[test]
    fn files_become_images_or_documents() {
        let wildcard =
            json!({"type":"file","mediaType":"image/*","url":"data:image/png;base64,iVBO"});
        assert_eq!(
            read(wildcard).unwrap(),
            Some(UiPart::File(Content::Image {
                media_type: "image/png".into(),
                data: "iVBO".into()
            }))
        );
        let png = json!({"type":"file","mediaType":"image/png","url":"data:image/png;base64,iVBO"});
        assert_eq!(
            one(png),
            Some(UiPart::File(Content::Image {
                media_type: "image/png".into(),
                data: "iVBO".into(),
            }))
        );
        let doc = json!({"type":"file","mediaType":"text/plain","filename":"notes","url":"data:text/plain;base64,aGk="});
        assert_eq!(
            one(doc),
            Some(UiPart::File(Content::Document {
                media_type: "text/plain".into(),
                name: "notes".into(),
                data: "aGk=".into(),
                citations: false,
                context: None,
            }))
        );
        let top_level =
            json!({"type":"file","mediaType":"image","url":"data:image/gif;base64,R0lG"});
        assert!(matches!(
            one(top_level),
            Some(UiPart::File(Content::Image { media_type, .. })) if media_type == "image/gif"
        ));
        let unnamed = json!({"type":"file","mediaType":"application/pdf","url":"data:application/pdf;base64,JVBE"});
        assert!(matches!(
            one(unnamed),
            Some(UiPart::File(Content::Document { name, .. })) if name == "document"
        ));
        let remote =
            json!({"type":"file","mediaType":"image/png","url":"https://example.com/a.png"});
        assert!(read(remote).unwrap_err().contains("not fetched"));
        // A PNG renamed `.jpg`: its bytes say what it is.
        let renamed = json!({"type":"file","mediaType":"image/jpeg","url":"data:image/jpeg;base64,iVBORw0KGgoAAAANSUhEUg=="});
        assert!(matches!(
            one(renamed),
            Some(UiPart::File(Content::Image { media_type, .. })) if media_type == "image/png"
        ));
    }

    #[test]
    fn tool_parts_with_outcomes_become_a_call_and_a_result() {
        let done = json!({"type":"tool-get_weather","toolCallId":"t1","state":"output-available",
            "input":{"city":"sample"},"output":"sunny"});
        let Some(UiPart::Tool(o)) = one(done) else {
            panic!("a tool part")
        };
        assert_eq!(
            serde_json::to_value([&o.call, &o.result]).unwrap(),
            json!([
                {"type":"toolCall","id":"t1","name":"get_weather","input":{"city":"sample"}},
                {"type":"toolResult","toolCallId":"t1","content":"sunny"}
            ])
        );
        let dynamic = json!({"type":"dynamic-tool","toolName":"lookup","toolCallId":"t2",
            "state":"output-available","input":{},"output":{"temp":21}});
        let Some(UiPart::Tool(o)) = one(dynamic) else {
            panic!("a tool part")
        };
        assert!(matches!(&o.call, Content::ToolCall { name, .. } if name == "lookup"));
        assert!(matches!(&o.result,
            Content::ToolResult { content: ToolResultContent::Text(t), is_error: false, .. }
            if t == r#"{"temp":21}"#));
        let failed = json!({"type":"tool-f","toolCallId":"t3","state":"output-error",
            "input":null,"errorText":"no network"});
        let Some(UiPart::Tool(o)) = one(failed) else {
            panic!("a tool part")
        };
        assert!(matches!(&o.call, Content::ToolCall { input, .. } if *input == json!({})));
        assert!(matches!(&o.result,
            Content::ToolResult { content: ToolResultContent::Text(t), is_error: true, .. }
            if t == "no network"));
    }

    #[test]
    fn tool_parts_without_an_outcome_are_left_out() {
        for state in [
            "input-streaming",
            "input-available",
            "approval-requested",
            "approval-responded",
        ] {
            let part = json!({"type":"tool-f","toolCallId":"t1","state":state,"input":{},
                "approval": {"id": "a1", "approved": true}});
            assert_eq!(read(part), Ok(None), "{state}");
        }
        let err = read(json!({"type":"tool-f","toolCallId":"t1","state":"thinking"})).unwrap_err();
        assert!(err.contains("'thinking'"), "{err}");
        assert!(read(json!({"type":"tool-f","state":"output-available"})).is_err());
    }

    #[test]
    fn refused_approvals_and_failed_input_become_error_results() {
        let outcome = |part: Value| match read(part) {
            Ok(Some(UiPart::Tool(o))) => o,
            other => panic!("{other:?}"),
        };
        for state in ["output-denied", "approval-responded"] {
            let o = outcome(
                json!({"type":"tool-f","toolCallId":"t1","state":state,"input":{"a":1},
                "approval": {"id": "a1", "approved": false, "reason": "not today"}}),
            );
            assert_eq!(
                o.result,
                Content::ToolResult {
                    tool_call_id: "t1".into(),
                    content: ToolResultContent::Text("The tool call was denied: not today".into()),
                    is_error: true,
                },
                "{state}"
            );
        }
        // An output error for input that did not parse: the raw input when
        // it is an object, else an empty one.
        let o = outcome(
            json!({"type":"tool-f","toolCallId":"t1","state":"output-error",
            "rawInput": {"city": 3}, "errorText": "bad input"}),
        );
        assert!(matches!(o.call, Content::ToolCall { input, .. } if input == json!({"city": 3})));
        let o = outcome(
            json!({"type":"tool-f","toolCallId":"t1","state":"output-error",
            "rawInput": "{\"city\":", "errorText": "bad input"}),
        );
        assert!(matches!(o.call, Content::ToolCall { input, .. } if input == json!({})));
    }
}
