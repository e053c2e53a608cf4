//! The upstream: Amazon Bedrock through the real SDK, behind a trait.
//!
//! - `request`: what the gateway asks for (`InvocationRequest`) and what comes back (`Delta`).
//! - `model_id`: what a model id names ([`model_id::ModelRef`]): a known family, or an
//!   application-inference-profile ARN (served through Converse).
//! - `fallback`: other models tried in order when the requested one cannot start.
//! - `models`: per-family request bodies and chunk decoders for `InvokeModelWithResponseStream`.
//! - `converse`: the `ConverseStream` request on the SDK's types, and its events as deltas.
//! - `tools`, `reasoning`, `attach`: what every path shares — the tools to declare,
//!   what a thinking budget becomes per family, attachment bytes and document names.
//! - `guardrail`: a request's guardrail, checked, as each API path sends it.
//! - `http_client`: the SDK's HTTP/2-aware connection pool under it, and what it trusts;
//!   `cold_gate`: one request first while no connection is open, so a cold burst shares one.
//! - `bedrock`: the SDK client, both API paths (`invoke`, `converse`), errors mapped to `UpstreamError`.

mod attach;
pub mod bedrock;
mod cold_gate;
mod converse;
pub mod error;
pub mod fallback;
pub mod guardrail;
pub mod http_client;
pub mod model_id;
pub mod models;
mod reasoning;
pub mod request;
mod tools;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

pub use error::{UpstreamError, UpstreamErrorKind};
pub use request::{Delta, InvocationRequest, Usage};

/// The decoded stream of one invocation. Ends with `None` on a clean end;
/// an `Err` item is final.
pub type DeltaStream = BoxStream<'static, Result<Delta, UpstreamError>>;

/// Which Bedrock API serves an invocation (`--api`, or per request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `InvokeModelWithResponseStream` with the family's own body.
    #[default]
    Invoke,
    /// `ConverseStream`, model-agnostic.
    Converse,
}

/// An invocation that started: its stream, and the model that answers it
/// (a fallback model when the requested one could not start).
pub struct Started {
    pub model: String,
    pub stream: DeltaStream,
}

impl Started {
    pub fn by(model: &str, stream: DeltaStream) -> Self {
        Self {
            model: model.to_owned(),
            stream,
        }
    }
}

/// What Bedrock's CountTokens counts: an InvokeModel body as a client sent
/// it, or a request as ConverseStream would send it (messages, system, tools).
#[derive(Debug, Clone, Copy)]
pub enum CountInput<'a> {
    Invoke(&'a [u8]),
    Converse(&'a InvocationRequest),
}

/// A model provider that streams. Bedrock is the one implementation; tests
/// run it against the simulator over real HTTP.
pub trait Upstream: Send + Sync + 'static {
    /// The input tokens `input` would use on `model_id`, counted by the
    /// provider (Bedrock's CountTokens, which counts for Claude models only);
    /// one that cannot count refuses.
    fn count_tokens<'a>(
        &'a self,
        model_id: &'a str,
        input: CountInput<'a>,
    ) -> BoxFuture<'a, Result<u64, UpstreamError>> {
        let _ = (model_id, input);
        Box::pin(async {
            Err(UpstreamError::new(
                UpstreamErrorKind::Validation,
                "this upstream does not count tokens",
            ))
        })
    }

    /// Start an invocation. Resolves once the response headers are in (before
    /// the first token); throttling before that point is retried inside.
    fn start<'a>(
        &'a self,
        req: &'a InvocationRequest,
        api: Api,
    ) -> BoxFuture<'a, Result<DeltaStream, UpstreamError>>;

    /// [`Self::start`], saying which model answers: the requested one, unless
    /// [`fallback::Fallback`] had another answer for it.
    fn start_answering<'a>(
        &'a self,
        req: &'a InvocationRequest,
        api: Api,
    ) -> BoxFuture<'a, Result<Started, UpstreamError>> {
        Box::pin(async move {
            let stream = self.start(req, api).await?;
            Ok(Started::by(&req.model_id, stream))
        })
    }
}
