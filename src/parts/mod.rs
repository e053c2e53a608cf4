//! Conversations with parts: what a request may carry besides text (images,
//! documents, tool calls and results, replayed reasoning) and what an answer
//! streams besides text (reasoning, tool calls), the same on every transport.
//!
//! - [`content`]: request parts (`messages[].content`), tools and the tool choice.
//! - [`system`]: the system prompt, text with cache points.
//! - [`tool_list`]: a request's `tools`, with a cache point after them.
//! - [`attachment`]: checks on attached bytes (base64, magic numbers), before any upstream call.
//! - [`sniff`]: what attached bytes are (magic numbers, a file name's extension), for labels that are only hints.
//! - [`event`]: the `part` of a `TokenEvent` (reasoning, tool call, citation, guardrail).
//! - [`blocks`]: turns an upstream's deltas into dense, indexed answer blocks (the runner's half).
//! - [`validate`]: what a family can take, which role carries which part; the 400s.
//! - [`answer`]: reads a session's events back as request-shaped content parts.
//! - [`output`]: structured output (a JSON Schema the answer follows) and effort.

pub mod answer;
pub mod attachment;
pub mod blocks;
pub mod content;
pub mod event;
pub mod output;
pub mod sniff;
pub mod system;
pub mod tool_list;
pub mod validate;

pub use content::{CacheTtl, Content, Reasoning, Tool, ToolChoice, ToolResultContent};
pub use event::Part;
pub use output::{JsonFormat, OutputConfig};
pub use system::SystemPrompt;
pub use tool_list::ToolList;
