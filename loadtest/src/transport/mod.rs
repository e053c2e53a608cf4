//! The clients the load generator drives: the gateway over one transport, or
//! the simulator's Bedrock endpoint directly (the baseline).
//!
//! Each transport is one file with a client whose `run(&StreamSpec)` opens
//! one stream and returns its [`StreamRecord`]; adding one is a file, a
//! variant and a match arm. `socket` opens the WebSockets of `ws` and
//! `graphql`.

pub mod bedrock;
pub mod graphql;
pub mod openai;
pub mod socket;
pub mod sse;
pub mod ws;

use std::sync::Arc;

use crate::cli::{Args, TransportKind};
use crate::error::Error;
use crate::record::StreamRecord;
use crate::sources::Sources;
use crate::tool::ToolCall;

/// One stream to open.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub index: u64,
    /// The prompt, with its `[[sim …]]` directive and a per-stream nonce.
    pub prompt: String,
    /// Tokens asked for (also sent as the maximum).
    pub tokens: u32,
    /// `--tool-call`, `--offer-tool`: the tool the request carries.
    pub tool: Option<Arc<ToolCall>>,
    /// `--tool-call`: the prompt calls the tool (and asks for no text).
    pub calls_tool: bool,
}

impl StreamSpec {
    /// The input deltas of the tool call this stream must bring, if it calls one.
    pub fn expected_call(&self) -> Option<u32> {
        self.tool
            .as_ref()
            .filter(|_| self.calls_tool)
            .map(|t| t.deltas)
    }
}

pub enum Client {
    Sse(sse::SseClient),
    Ws(ws::WsClient),
    Graphql(graphql::GraphqlClient),
    /// The baseline: the simulator's Bedrock endpoint.
    Bedrock(bedrock::BedrockClient),
    /// `--transport bedrock`: the gateway's Bedrock runtime API, same client.
    BedrockApi(bedrock::BedrockClient),
    /// `--transport openai`: OpenAI's streamed chat completions.
    OpenAi(openai::OpenAiClient),
}

impl Client {
    /// The gateway at `args.target`, over `args.transport`, stream `i`
    /// connecting from `sources.pick(i)`.
    pub fn gateway(args: &Args, sources: Sources) -> Result<Self, Error> {
        let (target, token, model) = (&args.target, &args.token, &args.model);
        let tools = args.tool_call || args.offer_tool;
        if tools && args.transport != TransportKind::Sse {
            return Err(Error::Unsupported(format!(
                "--tool-call and --offer-tool run over sse only (the {} client sends no tools)",
                args.transport.as_str()
            )));
        }
        if tools && args.tokens > crate::tool::MAX_DELTAS {
            return Err(Error::Unsupported(format!(
                "--tool-call and --offer-tool size the tool for at most {} input deltas (--tokens)",
                crate::tool::MAX_DELTAS
            )));
        }
        Ok(match args.transport {
            TransportKind::Sse => Client::Sse(sse::SseClient::new(
                target, token, model, &sources, args.http2,
            )?),
            TransportKind::Ws => Client::Ws(ws::WsClient::new(target, token, model, sources)?),
            TransportKind::Graphql => {
                Client::Graphql(graphql::GraphqlClient::new(target, token, model, sources)?)
            }
            TransportKind::Bedrock => {
                Client::BedrockApi(bedrock::BedrockClient::gateway(target, token, model)?)
            }
            TransportKind::Openai => {
                Client::OpenAi(openai::OpenAiClient::new(target, token, model, &sources)?)
            }
        })
    }

    /// The simulator at `url`, through the real Bedrock SDK.
    pub fn baseline(url: &str, model: &str) -> Result<Self, Error> {
        Ok(Client::Bedrock(bedrock::BedrockClient::new(url, model)?))
    }

    /// Whether this client reaches the gateway (not the baseline).
    pub fn is_gateway(&self) -> bool {
        !matches!(self, Client::Bedrock(_))
    }

    /// Opens one stream and reads it to the end (or to its failure).
    pub async fn run(&self, spec: &StreamSpec) -> StreamRecord {
        match self {
            Client::Sse(c) => c.run(spec).await,
            Client::Ws(c) => c.run(spec).await,
            Client::Graphql(c) => c.run(spec).await,
            Client::Bedrock(c) | Client::BedrockApi(c) => c.run(spec).await,
            Client::OpenAi(c) => c.run(spec).await,
        }
    }
}

/// At most `max` bytes of `s` (on a char boundary), for error messages.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
