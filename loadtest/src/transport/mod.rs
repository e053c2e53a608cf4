//! The clients the load generator drives: the gateway over one transport, or
//! the simulator's Bedrock endpoint directly (the baseline).
//!
//! Each transport is one file with a client whose `run(&StreamSpec)` opens
//! one stream and returns its [`StreamRecord`]; adding one (WebSocket,
//! GraphQL) is a file, a variant and a match arm.

pub mod bedrock;
pub mod sse;

use crate::cli::{Args, TransportKind};
use crate::error::Error;
use crate::record::StreamRecord;

/// One stream to open.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub index: u64,
    /// The prompt, with its `[[sim …]]` directive and a per-stream nonce.
    pub prompt: String,
    /// Tokens asked for (also sent as the maximum).
    pub tokens: u32,
}

pub enum Client {
    Sse(sse::SseClient),
    Bedrock(bedrock::BedrockClient),
}

impl Client {
    /// The gateway at `args.target`, over `args.transport`.
    pub fn gateway(args: &Args) -> Result<Self, Error> {
        match args.transport {
            TransportKind::Sse => Ok(Client::Sse(sse::SseClient::new(
                &args.target,
                &args.token,
                &args.model,
            )?)),
            other @ (TransportKind::Ws | TransportKind::Graphql) => {
                Err(Error::Unsupported(other.as_str()))
            }
        }
    }

    /// The simulator at `url`, through the real Bedrock SDK.
    pub fn baseline(url: &str, model: &str) -> Result<Self, Error> {
        Ok(Client::Bedrock(bedrock::BedrockClient::new(url, model)?))
    }

    /// Opens one stream and reads it to the end (or to its failure).
    pub async fn run(&self, spec: &StreamSpec) -> StreamRecord {
        match self {
            Client::Sse(c) => c.run(spec).await,
            Client::Bedrock(c) => c.run(spec).await,
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
