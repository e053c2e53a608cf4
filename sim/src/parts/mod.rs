//! What a request carries besides text: tools, attachments, tool calls and results, replayed reasoning.
//!
//! Each API's body parser walks its turns through one [`Conversation`],
//! which collects the prompt text and the [`Parts`] the answer depends on,
//! and checks what Bedrock checks across turns: a tool result must answer a
//! tool call of an earlier assistant turn, and replayed reasoning must carry
//! a signature the simulator issued.

pub(crate) mod anthropic;
pub(crate) mod citations;
pub(crate) mod converse;

use serde_json::Value;

use crate::attachments::Attachment;
use crate::body::PromptText;
use crate::catalog::Takes;
use crate::guardrail::GuardrailConfig;
use crate::signature;
use crate::wire::SimError;

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

impl Role {
    /// `user` or `assistant`; anything else is `None`.
    pub(crate) fn parse(role: &str) -> Option<Self> {
        match role {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// A tool the request offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tool {
    pub name: String,
    /// The input's JSON Schema.
    pub schema: Value,
}

/// The parts of a request the answer depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parts {
    pub tools: Vec<Tool>,
    /// The request turns reasoning on (Claude `thinking`, Nova `reasoningConfig`).
    pub reasoning: bool,
    /// The reasoning's text is left out (Claude's `thinking.display`
    /// `omitted`, the default of Opus 4.7 and later): its blocks stream
    /// empty, signed.
    pub reasoning_omitted: bool,
    /// The last user turn's attachments, in request order (tool-result images included).
    pub attachments: Vec<Attachment>,
    /// The text of each tool result in the last user turn.
    pub tool_results: Vec<String>,
    /// The last user turn's text.
    pub last_user_text: String,
    /// Input tokens for the attachments of every turn and the tool definitions.
    pub extra_input_tokens: u32,
    /// Documents of any turn whose citations are enabled (what `cite=N` cites).
    pub citable: Vec<citations::Citable>,
    /// Documents that did not enable citations: what `cite=N` cites when no
    /// document did (the contract's "needs a document in the request").
    pub uncited: Vec<citations::Citable>,
    /// The guardrail the request names (what `guardrail=N` needs).
    pub guardrail: Option<GuardrailConfig>,
    /// The tool the request's tool choice forces (a named tool, or the
    /// first for "any tool"): without a `tool=` directive, the answer is
    /// that one call, with no text before it, as Claude answers then.
    pub forced_tool: Option<String>,
    /// Claude's `tool_choice.disable_parallel_tool_use`: at most one tool
    /// call per answer (the first a `tool=` directive names).
    pub one_tool_call: bool,
    /// Structured output (Claude's `output_config.format`, Converse's
    /// `outputConfig.textFormat`): the answer's text is JSON of this schema.
    pub output_schema: Option<Value>,
}

/// Reads a request turn by turn; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    text: PromptText,
    last_user: PromptText,
    parts: Parts,
    role: Option<Role>,
    /// Ids of the tool calls of the assistant turns read so far.
    calls: Vec<String>,
    /// Documents read so far (a document's index in the request).
    documents: u32,
    /// Whether any turn carries an image (a tool result's included).
    images: bool,
    /// The latest assistant turn so far: whether its first block is
    /// reasoning, whether it calls tools, whether it has a block yet.
    assistant: AssistantTurn,
}

/// What Claude's thinking rule asks of the last assistant turn.
#[derive(Debug, Default, Clone, Copy)]
struct AssistantTurn {
    opens_with_thinking: bool,
    calls_tools: bool,
    started: bool,
}

impl Conversation {
    /// System text (before any turn).
    pub(crate) fn system(&mut self, text: &str) {
        self.text.push(text);
    }

    /// A new turn begins; a user turn becomes the last user turn.
    pub(crate) fn turn(&mut self, role: Role) {
        self.role = Some(role);
        if role == Role::Assistant {
            self.assistant = AssistantTurn::default();
        }
        if role == Role::User {
            self.last_user = PromptText::default();
            self.parts.attachments.clear();
            self.parts.tool_results.clear();
        }
    }

    fn in_user_turn(&self) -> bool {
        self.role == Some(Role::User)
    }

    /// Text of the current turn (a tool result's text included).
    pub(crate) fn text(&mut self, text: &str) {
        self.text.push(text);
        if self.in_user_turn() {
            self.last_user.push(text);
        }
    }

    /// A checked image or document of the current turn.
    pub(crate) fn attachment(&mut self, attachment: Attachment) {
        self.add_tokens(attachment.input_tokens());
        self.images |= attachment.is_image();
        if self.in_user_turn() {
            self.parts.attachments.push(attachment);
        }
    }

    /// A checked document of the current turn, with its title; `citable`
    /// when the request enables its citations.
    pub(crate) fn document(&mut self, attachment: Attachment, title: &str, citable: bool) {
        let doc = citations::Citable {
            index: self.documents,
            title: title.to_owned(),
        };
        if citable {
            self.parts.citable.push(doc);
        } else {
            self.parts.uncited.push(doc);
        }
        self.documents = self.documents.saturating_add(1);
        self.attachment(attachment);
    }

    /// A content block begins (`thinking`: it is reasoning, signed or
    /// redacted): an assistant turn's first block is noted.
    pub(crate) fn block(&mut self, thinking: bool) {
        if self.role == Some(Role::Assistant) && !self.assistant.started {
            self.assistant.started = true;
            self.assistant.opens_with_thinking = thinking;
        }
    }

    /// A tool call replayed in an assistant turn.
    pub(crate) fn tool_call(&mut self, id: &str) {
        if self.role == Some(Role::Assistant) {
            self.calls.push(id.to_owned());
            self.assistant.calls_tools = true;
        }
    }

    /// Claude's rule with thinking on: answering tool results, the last
    /// assistant turn (the one that called the tools) must open with its
    /// thinking block, as it was streamed. Call after the request's
    /// thinking setting is read.
    /// Claude refuses thinking with a forced tool choice too.
    pub(crate) fn thinking_turn_fits(&self) -> Result<(), SimError> {
        if self.parts.reasoning && self.parts.forced_tool.is_some() {
            return Err(SimError::validation(
                "Thinking may not be enabled when tool_choice forces tool use.",
            ));
        }
        let turn = self.assistant;
        if self.parts.reasoning
            && !self.parts.tool_results.is_empty()
            && turn.calls_tools
            && !turn.opens_with_thinking
        {
            return Err(SimError::validation(
                "Expected `thinking` or `redacted_thinking`, but found another block. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.",
            ));
        }
        Ok(())
    }

    /// A tool result answering the call `id`, with its text content.
    pub(crate) fn tool_result(
        &mut self,
        id: &str,
        text: String,
        path: &str,
    ) -> Result<(), SimError> {
        if !self.calls.iter().any(|call| call == id) {
            return Err(SimError::validation(format!(
                "{path}: unexpected tool use id '{id}' in a tool result: each tool result must answer a tool call of an earlier assistant turn"
            )));
        }
        if self.in_user_turn() {
            self.parts.tool_results.push(text);
        }
        Ok(())
    }

    /// Replayed reasoning: a signature present must be one the simulator issued for `text`.
    pub(crate) fn reasoning(
        &mut self,
        text: &str,
        signature: Option<&str>,
        path: &str,
    ) -> Result<(), SimError> {
        match signature {
            Some(signature) if !signature::verify(text, signature) => {
                Err(SimError::validation(format!(
                    "{path}: Invalid signature in the reasoning block: it was not issued for this reasoning text"
                )))
            }
            _ => Ok(()),
        }
    }

    /// A tool the request offers.
    pub(crate) fn tool(&mut self, name: &str, description: &str, schema: Value) {
        let spec_len = name.len() + description.len() + schema.to_string().len();
        self.add_tokens(u32::try_from(spec_len / 4 + 1).unwrap_or(u32::MAX));
        self.parts.tools.push(Tool {
            name: name.to_owned(),
            schema,
        });
    }

    /// The tool choice forces a tool: `Some(name)`, or `None` for any tool
    /// (the first declared). Call after the tools are read.
    /// A name that is not among the tools is refused, as Bedrock refuses it.
    pub(crate) fn force_tool(&mut self, name: Option<&str>) -> Result<(), SimError> {
        if let Some(name) = name
            && !self.parts.tools.iter().any(|t| t.name == name)
        {
            return Err(SimError::validation(format!(
                "The tool choice names the tool '{name}', which is not among the request's tools."
            )));
        }
        self.parts.forced_tool = name
            .map(str::to_owned)
            .or_else(|| self.parts.tools.first().map(|t| t.name.clone()));
        Ok(())
    }

    /// The request allows at most one tool call per answer.
    pub(crate) fn one_tool_call(&mut self, one: bool) {
        self.parts.one_tool_call = one;
    }

    /// The answer's text must be JSON of `schema`.
    pub(crate) fn output_schema(&mut self, schema: Value) {
        self.parts.output_schema = Some(schema);
    }

    /// The request turns reasoning on.
    pub(crate) fn reasoning_on(&mut self) {
        self.parts.reasoning = true;
    }

    /// The request's reasoning text is to be left out.
    pub(crate) fn reasoning_omitted(&mut self) {
        self.parts.reasoning_omitted = true;
    }

    /// What the request carries besides text, in any turn: tools (offered,
    /// called or answered), images, documents. Call after the tools are read.
    pub(crate) fn carried(&self) -> Takes {
        Takes {
            tools: !self.parts.tools.is_empty() || !self.calls.is_empty(),
            images: self.images,
            documents: self.documents > 0,
        }
    }

    fn add_tokens(&mut self, tokens: u32) {
        self.parts.extra_input_tokens = self.parts.extra_input_tokens.saturating_add(tokens);
    }

    /// The prompt text (every piece, one per line) and the parts.
    pub(crate) fn finish(mut self) -> (String, Parts) {
        self.parts.last_user_text = self.last_user.joined();
        (self.text.joined(), self.parts)
    }
}

/// Decodes a base64 field of the body.
pub(crate) fn base64(data: &str, path: &str) -> Result<Vec<u8>, SimError> {
    aws_smithy_types::base64::decode(data)
        .map_err(|_| SimError::validation(format!("{path}: invalid base64 data")))
}

/// The simulator reads attachments from the body only.
fn fetches_nothing(path: &str, kind: &str) -> SimError {
    SimError::validation(format!(
        "{path}: {kind} sources are not supported by the simulator (it fetches nothing); send the bytes in the request"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachments::{document, image, samples::png};

    #[test]
    fn last_user_turn_parts_and_every_turns_tokens() {
        let mut conv = Conversation::default();
        conv.system("Be brief.");
        conv.turn(Role::User);
        conv.text("first");
        conv.attachment(image("image/png", &png(750, 4), "p").unwrap());
        conv.turn(Role::Assistant);
        conv.text("reply");
        conv.tool_call("t1");
        conv.turn(Role::User);
        conv.tool_result("t1", "sunny".to_owned(), "p").unwrap();
        conv.attachment(document("d", b"abcdefgh", "p").unwrap());
        conv.text("second");
        conv.tool("get_weather", "", serde_json::json!({}));
        let (text, parts) = conv.finish();
        assert_eq!(text, "Be brief.\nfirst\nreply\nsecond");
        assert_eq!(parts.last_user_text, "second");
        assert_eq!(parts.tool_results, ["sunny"]);
        assert_eq!(parts.attachments.len(), 1);
        assert_eq!(parts.attachments[0].line(), "[document d 8 bytes]");
        // 4 for the image, 2 for the document, 4 for the tool.
        assert_eq!(parts.extra_input_tokens, 10);
        assert_eq!(parts.tools[0].name, "get_weather");
    }

    #[test]
    fn tool_results_must_answer_earlier_calls() {
        let mut conv = Conversation::default();
        conv.turn(Role::User);
        conv.tool_call("not-an-assistant-call");
        let err = conv.tool_result(
            "not-an-assistant-call",
            String::new(),
            "#/messages/0/content/0",
        );
        assert!(err.unwrap_err().message.contains("unexpected tool use id"));
    }

    #[test]
    fn replayed_reasoning_needs_an_issued_signature() {
        let mut conv = Conversation::default();
        conv.turn(Role::Assistant);
        let good = signature::sign("Hmm.");
        assert!(conv.reasoning("Hmm.", Some(&good), "p").is_ok());
        assert!(conv.reasoning("Hmm.", None, "p").is_ok());
        let err = conv.reasoning("Hmm!", Some(&good), "p").unwrap_err();
        assert!(
            err.message.starts_with("p: Invalid signature"),
            "{}",
            err.message
        );
    }
}
