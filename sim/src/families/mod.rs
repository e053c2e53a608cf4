//! Model families: request parsing and chunk shaping for `InvokeModelWithResponseStream`.

mod claude;
mod cohere;
mod deepseek;
mod llama;
mod mistral;
mod nova;
mod titan;

use serde_json::{Value, json};

pub(crate) use super::answer::{BlockKind, Delta};
use super::body::{Obj, as_str, estimate_input_tokens, max_tokens, required};
pub(crate) use super::cache::CacheUsage;
use super::collect::Collected;
use super::guardrail::Intervention;
use super::model::{Family, Model};
use super::parts::Parts;
use super::wire::SimError;

/// What the simulator needs from a parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// Every piece of user and system text, one per line.
    pub text: String,
    /// The request's cap on output tokens.
    pub max_tokens: u32,
    /// Tools, attachments, tool results, reasoning.
    pub parts: Parts,
    /// Text that ends the answer where it appears (not included), as the
    /// model's `stop_sequences` / `stopSequences` do.
    pub stop_sequences: Vec<String>,
}

impl Prompt {
    /// A prompt of text alone.
    pub(crate) fn text(text: String, max_tokens: u32) -> Self {
        Self {
            text,
            max_tokens,
            parts: Parts::default(),
            stop_sequences: Vec::new(),
        }
    }

    /// Words of the text, plus estimates for attachments and tool definitions.
    pub(crate) fn input_tokens(&self) -> u32 {
        estimate_input_tokens(&self.text).saturating_add(self.parts.extra_input_tokens)
    }
}

/// Why a stream ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The model finished its answer.
    End,
    /// The answer hit the request's max tokens.
    Length,
    /// The answer ends with tool calls.
    ToolUse,
    /// The request's guardrail intervened (`guardrail=N`).
    Guardrail,
    /// The answer reached one of the request's stop sequences
    /// ([`Finish::stop_sequence`] says which).
    Sequence,
}

/// Totals and timings known when a stream ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finish {
    pub stop: Stop,
    /// The stop sequence reached, when `stop` is [`Stop::Sequence`].
    pub stop_sequence: Option<String>,
    /// Input tokens not read from or written to the prompt cache.
    /// The guardrail's intervention, when `stop` is [`Stop::Guardrail`].
    pub guardrail: Option<Intervention>,
    pub input_tokens: u32,
    /// Prompt-cache reads and writes (requests with cache points).
    pub cache: Option<CacheUsage>,
    pub output_tokens: u32,
    /// From request to the last chunk.
    pub latency_ms: u64,
    /// From request to the first chunk.
    pub first_byte_ms: u64,
}

impl Finish {
    /// The `amazon-bedrock-invocationMetrics` object of a last chunk.
    pub(crate) fn invocation_metrics(&self) -> Value {
        let mut metrics = json!({
            "inputTokenCount": self.input_tokens,
            "outputTokenCount": self.output_tokens,
            "invocationLatency": self.latency_ms,
            "firstByteLatency": self.first_byte_ms,
        });
        if let Some(cache) = self.cache {
            metrics["cacheReadInputTokenCount"] = cache.read.into();
            metrics["cacheWriteInputTokenCount"] = cache.write.into();
        }
        metrics
    }

    /// Every input token: uncached, read from and written to the cache.
    pub(crate) fn all_input_tokens(&self) -> u64 {
        let cache = self.cache.unwrap_or_default();
        u64::from(self.input_tokens) + u64::from(cache.read) + u64::from(cache.write)
    }
}

/// One unit of output before framing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    /// An InvokeModel chunk: the model's own JSON, sent base64 in a `chunk` event.
    Chunk(Value),
    /// A Converse event of the given `:event-type`, its JSON sent as is.
    Event(&'static str, Value),
}

/// Turns a stream's progress into the family's chunks. The answer's
/// content blocks (see `answer`) arrive as start, deltas, stop.
pub(crate) trait Shaper: Send {
    /// Chunks sent with (just before) the first delta.
    fn start(&mut self) -> Vec<Out>;
    /// Chunks that open content block `index`.
    fn block_start(&mut self, _index: u32, _block: &BlockKind<'_>) -> Vec<Out> {
        Vec::new()
    }
    /// The chunk(s) carrying one delta of block `index`.
    fn delta(&mut self, index: u32, delta: &Delta<'_>) -> Vec<Out>;
    /// Chunks that close content block `index`.
    fn block_stop(&mut self, _index: u32, _block: &BlockKind<'_>) -> Vec<Out> {
        Vec::new()
    }
    /// The closing chunks, with usage and metrics.
    fn finish(&mut self, finish: &Finish) -> Vec<Out>;
}

/// Parses an InvokeModel body of `model`'s family.
pub(crate) fn parse(model: &Model, body: &Obj) -> Result<Prompt, SimError> {
    let name = model.base.as_str();
    match model.family {
        Family::Claude => claude::parse(body, name),
        Family::Nova => nova::parse(body, name),
        Family::Titan => titan::parse(body, name),
        Family::Llama => llama::parse(body, name),
        Family::Mistral => mistral::parse(body, name),
        Family::Cohere => cohere::parse(body, name),
        Family::DeepSeek => deepseek::parse(body, name),
    }
}

/// Whether `model`'s InvokeModel body can stream reasoning (Claude, Nova, DeepSeek R1).
pub(crate) fn reasons(model: &Model) -> bool {
    matches!(
        model.family,
        Family::Claude | Family::Nova | Family::DeepSeek
    )
}

/// The chunk shaper for `model`'s family.
pub(crate) fn shaper(
    model: &Model,
    input_tokens: u32,
    cache: Option<CacheUsage>,
) -> Box<dyn Shaper> {
    match model.family {
        Family::Claude => Box::new(claude::Chunks::new(
            model.claude_name(),
            input_tokens,
            cache,
        )),
        Family::Nova => Box::new(nova::Chunks),
        Family::Titan => Box::new(titan::Chunks::new(input_tokens)),
        Family::Llama => Box::new(llama::Chunks::new(input_tokens)),
        Family::Mistral => Box::new(mistral::Chunks),
        Family::Cohere => Box::new(cohere::Chunks::new()),
        Family::DeepSeek => Box::new(deepseek::Chunks),
    }
}

/// The non-streaming `InvokeModel` response body for `model`'s family.
pub(crate) fn whole(model: &Model, answer: &Collected) -> Value {
    match model.family {
        Family::Claude => claude::whole(model.claude_name(), answer),
        Family::Nova => nova::whole(answer),
        Family::Titan => titan::whole(answer),
        Family::Llama => llama::whole(answer),
        Family::Mistral => mistral::whole(answer),
        Family::Cohere => cohere::whole(answer),
        Family::DeepSeek => deepseek::whole(answer),
    }
}

/// Parses the `{"prompt": …, "<max_key>": …}` bodies of Llama, Mistral and DeepSeek.
fn parse_prompt_body(
    body: &Obj,
    max_key: &str,
    default_max: u32,
    model: &str,
) -> Result<Prompt, SimError> {
    let prompt = as_str(required(body, "prompt", "#")?, "#/prompt")?;
    let max_tokens = max_tokens(body, max_key, "#", Some(default_max), model)?;
    Ok(Prompt::text(prompt.to_owned(), max_tokens))
}

/// A random id of `len` alphanumeric characters.
pub(crate) fn random_id(len: usize) -> String {
    let mut rng = fastrand::Rng::new();
    (0..len).map(|_| rng.alphanumeric()).collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn obj(value: Value) -> Obj {
        value.as_object().unwrap().clone()
    }

    pub(crate) fn finish(stop: Stop) -> Finish {
        Finish {
            stop,
            stop_sequence: None,
            guardrail: None,
            input_tokens: 3,
            cache: None,
            output_tokens: 2,
            latency_ms: 40,
            first_byte_ms: 20,
        }
    }

    /// Runs a shaper over a text block of two tokens and returns every chunk's JSON.
    pub(crate) fn run(shaper: Box<dyn Shaper>, stop: Stop) -> Vec<Value> {
        run_blocks(
            shaper,
            &[(
                BlockKind::Text,
                &[Delta::Text("Hello"), Delta::Text(" world")],
            )],
            stop,
        )
    }

    /// Runs a shaper over the given blocks and returns every chunk's JSON.
    pub(crate) fn run_blocks(
        shaper: Box<dyn Shaper>,
        blocks: &[(BlockKind<'_>, &[Delta<'_>])],
        stop: Stop,
    ) -> Vec<Value> {
        outs(shaper, blocks, stop)
            .into_iter()
            .map(|o| match o {
                Out::Chunk(v) => v,
                Out::Event(name, _) => panic!("unexpected converse event {name}"),
            })
            .collect()
    }

    /// Runs a shaper over the given blocks and returns what it made.
    pub(crate) fn outs(
        mut shaper: Box<dyn Shaper>,
        blocks: &[(BlockKind<'_>, &[Delta<'_>])],
        stop: Stop,
    ) -> Vec<Out> {
        let mut out = shaper.start();
        for (index, (kind, deltas)) in (0..).zip(blocks) {
            out.extend(shaper.block_start(index, kind));
            for delta in *deltas {
                out.extend(shaper.delta(index, delta));
            }
            out.extend(shaper.block_stop(index, kind));
        }
        out.extend(shaper.finish(&finish(stop)));
        out
    }

    pub(crate) fn metrics() -> Value {
        finish(Stop::End).invocation_metrics()
    }
}
