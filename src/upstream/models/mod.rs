//! Model families on Bedrock: request bodies and chunk decoders for
//! `InvokeModelWithResponseStream`, chosen from the model id.
//!
//! Claude and Nova bodies carry every part (images, documents, tool calls and
//! results, replayed reasoning, cache points), tools and thinking; the other
//! families' bodies are prompt strings, text only, though Converse takes
//! tools, images or documents for some of their models (`capabilities` is
//! the table, and the checks before any upstream call hold requests to it).
//! [`Decoder`] decodes one stream's chunks, with the state DeepSeek R1's
//! `</think>` needs (see `think`).

mod anthropic;
mod anthropic_content;
mod capabilities;
mod claude_generation;
mod cohere;
mod decoder;
mod deepseek;
mod guardrail;
mod llama;
mod metrics;
mod mistral;
mod nova;
mod nova_content;
mod think;
mod titan;

use std::fmt;

use serde_json::{Map, Number, Value};

use super::Api;
use super::request::{Delta, InvocationRequest};
pub use crate::parts::validate::Capabilities;
pub use claude_generation::{ClaudeGeneration, claude_generation};
pub use decoder::Decoder;

/// A family of models on Bedrock that share one request body and chunk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    AnthropicClaude,
    AmazonNova,
    AmazonTitanText,
    MetaLlama,
    Mistral,
    CohereCommandR,
    DeepSeek,
}

/// Why a streamed chunk could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The chunk bytes are not JSON.
    #[error("model chunk is not valid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// The chunk is JSON, but not a JSON object.
    #[error("model chunk is not a JSON object")]
    NotAnObject,
}

/// Built-in list of known model ids (current ids of each family, including a
/// few cross-region inference profiles), used by `GET /v1/models`.
/// A family body has no place for `guardContent` (the request checks send
/// it through Converse before any body is built).
pub(crate) const GUARD_CONVERSE_ONLY: &str = "guardContent goes to Bedrock through Converse only";

pub const KNOWN_MODELS: &[&str] = &[
    // Anthropic Claude
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0",
    "global.anthropic.claude-opus-4-5-20251101-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us.anthropic.claude-opus-4-6-v1",
    "us.anthropic.claude-opus-4-7",
    "us.anthropic.claude-opus-4-8",
    "us.anthropic.claude-sonnet-4-6",
    "us.anthropic.claude-sonnet-5",
    // Amazon Nova
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us.amazon.nova-premier-v1:0",
    "us.amazon.nova-2-lite-v1:0",
    // Amazon Titan Text
    "amazon.titan-text-express-v1",
    "amazon.titan-text-lite-v1",
    "amazon.titan-text-premier-v1:0",
    // Meta Llama
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "us.meta.llama3-2-3b-instruct-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "us.meta.llama4-scout-17b-instruct-v1:0",
    "us.meta.llama4-maverick-17b-instruct-v1:0",
    // Mistral
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "mistral.mistral-small-2402-v1:0",
    "mistral.mistral-large-2402-v1:0",
    // Cohere Command R
    "cohere.command-r-v1:0",
    "cohere.command-r-plus-v1:0",
    // DeepSeek
    "us.deepseek.r1-v1:0",
];

/// Built-in default model: Claude Haiku 4.5 through the global cross-region
/// inference profile (the model has no in-region on-demand throughput).
pub const DEFAULT_MODEL: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

/// Cross-region inference-profile prefixes that may precede a model id.
const PROFILE_PREFIXES: &[&str] = &[
    "us-gov.", "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.",
];

/// Key of Bedrock's own metrics object in a model's final chunk.
const INVOCATION_METRICS: &str = "amazon-bedrock-invocationMetrics";

impl ModelFamily {
    /// Every family, in declaration order.
    pub const ALL: [ModelFamily; 7] = [
        ModelFamily::AnthropicClaude,
        ModelFamily::AmazonNova,
        ModelFamily::AmazonTitanText,
        ModelFamily::MetaLlama,
        ModelFamily::Mistral,
        ModelFamily::CohereCommandR,
        ModelFamily::DeepSeek,
    ];

    /// Family from a Bedrock model id; strips an ARN prefix
    /// (`arn:aws:bedrock:<region>:<acct>:inference-profile/…`,
    /// `…:foundation-model/…`) and a cross-region inference-profile prefix
    /// (`us.`, `eu.`, `apac.`, `global.`, `us-gov.`, `jp.`, `au.`, `ca.`).
    ///
    /// `None` for an id of no known family: embedding and image models, the
    /// old non-R Cohere Command, Llama 2, opaque provisioned-model or
    /// application-inference-profile ARNs, and anything unrecognised.
    pub fn from_model_id(model_id: &str) -> Option<Self> {
        let id = base_model_id(model_id)?.to_ascii_lowercase();
        let id = id.as_str();
        if id.starts_with("anthropic.claude") {
            Some(Self::AnthropicClaude)
        } else if let Some(rest) = id.strip_prefix("amazon.nova-") {
            // Text tiers only: not canvas, reel, sonic or embeddings.
            let rest = rest.strip_prefix("2-").unwrap_or(rest);
            ["micro", "lite", "pro", "premier"]
                .iter()
                .any(|tier| {
                    rest.strip_prefix(tier)
                        .is_some_and(|after| after.starts_with('-'))
                })
                .then_some(Self::AmazonNova)
        } else if id.starts_with("amazon.titan-text-") || id.starts_with("amazon.titan-tg1-") {
            Some(Self::AmazonTitanText)
        } else if id.starts_with("meta.llama3") || id.starts_with("meta.llama4") {
            Some(Self::MetaLlama)
        } else if id.starts_with("mistral.") {
            Some(Self::Mistral)
        } else if id.starts_with("cohere.command-r") {
            Some(Self::CohereCommandR)
        } else if id.starts_with("deepseek.r1") {
            Some(Self::DeepSeek)
        } else {
            None
        }
    }

    /// Short stable name, e.g. `"anthropic-claude"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::AnthropicClaude => "anthropic-claude",
            Self::AmazonNova => "amazon-nova",
            Self::AmazonTitanText => "amazon-titan-text",
            Self::MetaLlama => "meta-llama",
            Self::Mistral => "mistral",
            Self::CohereCommandR => "cohere-command-r",
            Self::DeepSeek => "deepseek",
        }
    }

    /// What `model_id`, a model of this family, takes besides text through
    /// `api` (the table is in `capabilities`).
    pub fn capabilities(self, model_id: &str, api: Api) -> Capabilities {
        capabilities::of(self, model_id, api)
    }

    /// Whether a document of `media_type` goes to this family through
    /// Converse only: a type Converse takes that the family's own body does
    /// not (a Word file for Claude). False for a family whose body takes
    /// no documents at all: that is a capability the core checks.
    pub fn needs_converse_for(self, media_type: &str) -> bool {
        match self {
            Self::AnthropicClaude => {
                !anthropic_content::DOCUMENT_TYPES.contains(&media_type)
                    && crate::parts::attachment::document_format(media_type).is_some()
            }
            _ => false,
        }
    }

    /// The JSON body Bedrock expects for this family. `Err` says why a part
    /// cannot be sent in it (the text-only families read only text parts).
    /// A request that carries the client's own body (`raw_body`, the drop-in
    /// Bedrock and Anthropic APIs) sends that body as it came.
    pub fn build_body(self, req: &InvocationRequest) -> Result<Value, String> {
        if let Some(raw) = &req.raw_body {
            return Ok(raw.clone());
        }
        if req.output_config.is_set() && self != Self::AnthropicClaude {
            return Err(format!(
                "structured output and effort go to {} models through Converse only",
                self.name()
            ));
        }
        match self {
            Self::AnthropicClaude => anthropic::build_body(req),
            Self::AmazonNova => nova::build_body(req),
            Self::AmazonTitanText => Ok(titan::build_body(req)),
            Self::MetaLlama => Ok(llama::build_body(req)),
            Self::Mistral => Ok(mistral::build_body(req)),
            Self::CohereCommandR => Ok(cohere::build_body(req)),
            Self::DeepSeek => Ok(deepseek::build_body(req)),
        }
    }

    /// A decoder for one stream of this family's chunks.
    pub fn decoder(self) -> Decoder {
        Decoder::new(self)
    }

    /// Decode one streamed chunk (the bytes of a `PayloadPart`, i.e. the
    /// model's own chunk JSON), on its own: DeepSeek R1's reasoning stays
    /// text here; a stream is decoded by [`Decoder`]. Unknown event kinds
    /// decode to no deltas; only bytes that are not a JSON object are an error.
    pub fn decode_chunk(self, chunk: &[u8]) -> Result<Vec<Delta>, DecodeError> {
        if self == Self::AnthropicClaude
            && let Some(deltas) = anthropic::decode_text_delta(chunk)
        {
            return Ok(deltas);
        }
        let v: Value = serde_json::from_slice(chunk)?;
        if !v.is_object() {
            return Err(DecodeError::NotAnObject);
        }
        let mut deltas = match self {
            Self::AnthropicClaude => anthropic::decode_chunk(&v),
            Self::AmazonNova => nova::decode_chunk(&v),
            Self::AmazonTitanText => titan::decode_chunk(&v),
            Self::MetaLlama => llama::decode_chunk(&v),
            Self::Mistral => mistral::decode_chunk(&v),
            Self::CohereCommandR => cohere::decode_chunk(&v),
            Self::DeepSeek => deepseek::decode_chunk(&v),
        };
        if let Some(m) = v.get(INVOCATION_METRICS) {
            deltas.extend(metrics::decode(m));
        }
        deltas.extend(guardrail::decode(&v));
        Ok(deltas)
    }
}

impl fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bedrock's longest `modelId` (an id, a profile or an ARN).
pub const MAX_MODEL_ID_LEN: usize = 2048;

/// Whether `id` can be a Bedrock `modelId` at all: 1 to 2,048 of the
/// characters ids and ARNs are made of. Anything else never reaches the SDK
/// (which cannot put it in a URI) or a metric label.
pub fn well_formed(id: &str) -> bool {
    (1..=MAX_MODEL_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// The plain model id inside `model_id`: without an ARN prefix and without a
/// cross-region inference-profile prefix. `None` for a malformed id or ARN
/// (see [`well_formed`]).
pub fn base_model_id(model_id: &str) -> Option<&str> {
    if !well_formed(model_id) {
        return None;
    }
    let mut id = model_id;
    if id.starts_with("arn:") {
        // arn:<partition>:bedrock:<region>:<account>:<type>/<id>; the id itself
        // may contain ':' (`…-v1:0`), so split off the first five fields only.
        let resource = id.splitn(6, ':').nth(5)?;
        id = resource.split_once('/')?.1;
    }
    for prefix in PROFILE_PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix) {
            return Some(rest);
        }
    }
    Some(id)
}

// ---- helpers shared by the family modules ----

/// `x` as a JSON number with its shortest decimal form (`0.7f32` → `0.7`, not
/// `0.699999988079071`); `None` for NaN and infinities.
fn f32_number(x: f32) -> Option<Value> {
    if !x.is_finite() {
        return None;
    }
    let shortest: f64 = x.to_string().parse().ok()?;
    Number::from_f64(shortest).map(Value::Number)
}

/// Insert `key: x` when `x` is set (and finite).
fn put_f32(map: &mut Map<String, Value>, key: &str, x: Option<f32>) {
    if let Some(n) = x.and_then(f32_number) {
        map.insert(key.to_owned(), n);
    }
}

/// Insert `key: [..]` when the list is not empty.
fn put_strings(map: &mut Map<String, Value>, key: &str, list: &[String]) {
    if !list.is_empty() {
        map.insert(key.to_owned(), Value::from(list.to_vec()));
    }
}

/// The system prompt's text, when present and not blank (families without
/// system blocks: cache points are dropped, as in messages).
fn system_text(req: &InvocationRequest) -> Option<String> {
    req.system.text()
}

/// Push generated text, skipping absent and empty strings.
fn push_text(out: &mut Vec<Delta>, text: Option<&Value>) {
    if let Some(t) = text.and_then(Value::as_str).filter(|t| !t.is_empty()) {
        out.push(Delta::Text(t.to_owned()));
    }
}

/// A token count or latency: a non-negative integer (an integral float too).
fn count(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// Push a usage delta when at least one count is known.
fn push_usage(out: &mut Vec<Delta>, input_tokens: Option<u64>, output_tokens: Option<u64>) {
    push_cached_usage(out, [input_tokens, output_tokens, None, None]);
}

/// Push a usage delta of input, output, cache-read and cache-write counts
/// when at least one is known.
fn push_cached_usage(out: &mut Vec<Delta>, counts: [Option<u64>; 4]) {
    if counts.iter().any(Option::is_some) {
        let [
            input_tokens,
            output_tokens,
            cache_read_input_tokens,
            cache_write_input_tokens,
        ] = counts;
        out.push(Delta::Usage {
            input_tokens,
            output_tokens,
            cache_read_input_tokens,
            cache_write_input_tokens,
        });
    }
}

/// Push a stop delta for a non-empty reason, normalised by `map` (which gets
/// the raw reason and returns the Converse name, or `None` to keep it as is).
fn push_stop(out: &mut Vec<Delta>, reason: Option<&Value>, map: fn(&str) -> Option<&'static str>) {
    if let Some(r) = reason.and_then(Value::as_str).filter(|r| !r.is_empty()) {
        let name = map(r).map_or_else(|| r.to_ascii_lowercase(), str::to_owned);
        out.push(Delta::Stop(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::request::{Role, Turn};

    pub(super) fn turn(role: Role, content: &str) -> Turn {
        Turn::text_turn(role, content)
    }

    /// A one-turn request with no options set.
    pub(super) fn simple(model_id: &str, prompt: &str) -> InvocationRequest {
        InvocationRequest {
            model_id: model_id.to_owned(),
            turns: vec![turn(Role::User, prompt)],
            max_tokens: Some(512),
            temperature: None,
            top_p: None,
            stop_sequences: Vec::new(),
            ..Default::default()
        }
    }

    /// A three-turn request with a system prompt and every option set.
    pub(super) fn full(model_id: &str) -> InvocationRequest {
        InvocationRequest {
            model_id: model_id.to_owned(),
            system: "You are terse.".into(),
            turns: vec![
                turn(Role::User, "Hi"),
                turn(Role::Assistant, "Hello!"),
                turn(Role::User, "Name a colour."),
            ],
            max_tokens: Some(256),
            temperature: Some(0.7),
            top_p: Some(0.9),
            stop_sequences: vec!["END".to_owned()],
            ..Default::default()
        }
    }

    pub(super) fn decode(family: ModelFamily, chunk: &str) -> Vec<Delta> {
        match family.decode_chunk(chunk.as_bytes()) {
            Ok(d) => d,
            Err(e) => panic!("decode failed for {chunk}: {e}"),
        }
    }

    pub(super) fn text(s: &str) -> Delta {
        Delta::Text(s.to_owned())
    }

    pub(super) fn stop(s: &str) -> Delta {
        Delta::Stop(s.to_owned())
    }

    pub(super) fn usage(input: Option<u64>, output: Option<u64>) -> Delta {
        Delta::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_input_tokens: None,
            cache_write_input_tokens: None,
        }
    }

    pub(super) fn latency(invocation: u64, first_byte: u64) -> Delta {
        Delta::Latency {
            invocation_ms: Some(invocation),
            first_byte_ms: Some(first_byte),
        }
    }

    use ModelFamily::*;

    #[test]
    fn family_from_plain_ids() {
        let cases = [
            ("anthropic.claude-3-5-haiku-20241022-v1:0", AnthropicClaude),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", AnthropicClaude),
            ("anthropic.claude-v2:1", AnthropicClaude),
            ("amazon.nova-micro-v1:0", AmazonNova),
            ("amazon.nova-lite-v1:0", AmazonNova),
            ("amazon.nova-pro-v1:0", AmazonNova),
            ("amazon.nova-premier-v1:0", AmazonNova),
            ("amazon.nova-2-lite-v1:0", AmazonNova),
            ("amazon.titan-text-express-v1", AmazonTitanText),
            ("amazon.titan-text-lite-v1", AmazonTitanText),
            ("amazon.titan-text-premier-v1:0", AmazonTitanText),
            ("meta.llama3-8b-instruct-v1:0", MetaLlama),
            ("meta.llama3-1-405b-instruct-v1:0", MetaLlama),
            ("meta.llama4-scout-17b-instruct-v1:0", MetaLlama),
            ("mistral.mistral-7b-instruct-v0:2", Mistral),
            ("mistral.mixtral-8x7b-instruct-v0:1", Mistral),
            ("mistral.mistral-large-2407-v1:0", Mistral),
            ("cohere.command-r-v1:0", CohereCommandR),
            ("cohere.command-r-plus-v1:0", CohereCommandR),
            ("deepseek.r1-v1:0", DeepSeek),
        ];
        for (id, family) in cases {
            assert_eq!(ModelFamily::from_model_id(id), Some(family), "{id}");
        }
    }

    #[test]
    fn family_from_inference_profiles() {
        let cases = [
            (
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                AnthropicClaude,
            ),
            (
                "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
                AnthropicClaude,
            ),
            (
                "apac.anthropic.claude-sonnet-4-20250514-v1:0",
                AnthropicClaude,
            ),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                AnthropicClaude,
            ),
            (
                "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                AnthropicClaude,
            ),
            (
                "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
                AnthropicClaude,
            ),
            (
                "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
                AnthropicClaude,
            ),
            (
                "ca.anthropic.claude-haiku-4-5-20251001-v1:0",
                AnthropicClaude,
            ),
            ("us.amazon.nova-pro-v1:0", AmazonNova),
            ("eu.amazon.nova-lite-v1:0", AmazonNova),
            ("apac.amazon.nova-micro-v1:0", AmazonNova),
            ("global.amazon.nova-2-lite-v1:0", AmazonNova),
            ("us.meta.llama3-2-90b-instruct-v1:0", MetaLlama),
            ("eu.meta.llama3-2-1b-instruct-v1:0", MetaLlama),
            ("us.mistral.pixtral-large-2502-v1:0", Mistral),
            ("us.deepseek.r1-v1:0", DeepSeek),
        ];
        for (id, family) in cases {
            assert_eq!(ModelFamily::from_model_id(id), Some(family), "{id}");
        }
    }

    #[test]
    fn family_from_arns() {
        let cases = [
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
                AnthropicClaude,
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                AnthropicClaude,
            ),
            (
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-lite-v1:0",
                AmazonNova,
            ),
            (
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0",
                MetaLlama,
            ),
            (
                "arn:aws:bedrock:us-east-1:307698253033:inference-profile/us.deepseek.r1-v1:0",
                DeepSeek,
            ),
            (
                "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.titan-text-express-v1",
                AmazonTitanText,
            ),
        ];
        for (id, family) in cases {
            assert_eq!(ModelFamily::from_model_id(id), Some(family), "{id}");
        }
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
            ),
            Some("anthropic.claude-3-5-haiku-20241022-v1:0")
        );
    }

    #[test]
    fn unknown_ids_have_no_family() {
        for id in [
            "",
            "claude",
            "us.",
            "amazon.titan-embed-text-v2:0",
            "amazon.titan-embed-text-v1",
            "amazon.titan-image-generator-v2:0",
            "amazon.nova-canvas-v1:0",
            "amazon.nova-reel-v1:1",
            "amazon.nova-sonic-v1:0",
            "cohere.command-text-v14",
            "cohere.command-light-text-v14",
            "cohere.embed-english-v3",
            "meta.llama2-13b-chat-v1",
            "ai21.jamba-1-5-large-v1:0",
            "stability.sd3-5-large-v1:0",
            "openai.gpt-oss-120b-1:0",
            "xx.anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1",
            "arn:aws:bedrock:us-east-1::foundation-model",
        ] {
            assert_eq!(ModelFamily::from_model_id(id), None, "{id}");
        }
    }

    #[test]
    fn known_models_and_default_have_families() {
        for id in KNOWN_MODELS {
            assert!(ModelFamily::from_model_id(id).is_some(), "{id}");
        }
        for family in ModelFamily::ALL {
            assert!(
                KNOWN_MODELS
                    .iter()
                    .any(|id| ModelFamily::from_model_id(id) == Some(family)),
                "no known model for {family}"
            );
        }
        assert_eq!(
            ModelFamily::from_model_id(DEFAULT_MODEL),
            Some(AnthropicClaude)
        );
        assert!(KNOWN_MODELS.contains(&DEFAULT_MODEL));
    }

    #[test]
    fn names_are_distinct() {
        let names: std::collections::HashSet<_> =
            ModelFamily::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), ModelFamily::ALL.len());
        assert_eq!(AnthropicClaude.name(), "anthropic-claude");
        assert_eq!(AmazonNova.to_string(), "amazon-nova");
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let garbage: &[&[u8]] = &[
            b"not json",
            b"[]",
            b"{}",
            b"",
            b"null",
            b"42",
            b"\"text\"",
            b"{\"type\":",
            b"\xff\xfe\x00",
            b"{\"type\":42,\"delta\":[],\"outputs\":{},\"choices\":\"x\"}",
            b"{\"amazon-bedrock-invocationMetrics\":\"nope\"}",
            b"{\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":-1,\"invocationLatency\":1.5}}",
            b"{\"contentBlockDelta\":null,\"messageStop\":{\"stopReason\":7},\"metadata\":[]}",
            b"{\"outputs\":[],\"choices\":[],\"generation\":null,\"event_type\":null}",
            b"{\"outputs\":[null],\"choices\":[3],\"outputText\":{},\"completionReason\":[]}",
        ];
        for family in ModelFamily::ALL {
            for chunk in garbage {
                let _ = family.decode_chunk(chunk);
            }
            assert!(family.decode_chunk(b"not json").is_err());
            assert!(matches!(
                family.decode_chunk(b"[]"),
                Err(DecodeError::NotAnObject)
            ));
            assert!(matches!(family.decode_chunk(b"{}"), Ok(d) if d.is_empty()));
        }
    }

    #[test]
    fn metrics_ride_on_any_family() {
        let chunk = r#"{"amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":7,"invocationLatency":900,"firstByteLatency":120}}"#;
        for family in ModelFamily::ALL {
            assert_eq!(
                decode(family, chunk),
                vec![usage(Some(5), Some(7)), latency(900, 120)],
                "{family}"
            );
        }
    }

    #[test]
    fn floats_serialise_in_shortest_form() {
        assert_eq!(f32_number(0.7), Some(serde_json::json!(0.7)));
        assert_eq!(f32_number(1.0), Some(serde_json::json!(1.0)));
        assert_eq!(f32_number(f32::NAN), None);
        assert_eq!(f32_number(f32::INFINITY), None);
    }

    #[test]
    fn every_family_builds_an_object_body() {
        for family in ModelFamily::ALL {
            let body = family.build_body(&simple("x", "hello")).unwrap();
            assert!(body.is_object(), "{family}");
            let body = family.build_body(&full("x")).unwrap();
            assert!(body.is_object(), "{family}");
        }
    }
}
