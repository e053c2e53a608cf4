//! The model table: every model the simulator lists, with its output-token
//! ceiling and what Converse takes for it besides text.
//!
//! Ceilings are the most output tokens a request may ask for on Bedrock
//! (`max_tokens`, `maxTokens`, `max_gen_len`, …); a request over its model's
//! ceiling is refused with `ValidationException`. Sources, per row group:
//! Anthropic's model overview (Claude 4.x, 3.7 without the 128k beta, 3.5
//! Haiku, 3 Haiku / Opus / Sonnet) and the Bedrock error text "The maximum
//! tokens you requested exceeds the model limit of 4096" seen for Claude 3.5
//! Sonnet v1 without its beta header; AWS's Bedrock parameter pages for Titan
//! Text (Lite 4,096, Express 8,192, Premier 3,072), Meta Llama (`max_gen_len`
//! at most 2,048), Mistral (7B, Large and Small 8,192, Mixtral 4,096), Cohere
//! Command R / R+ (4,000) and DeepSeek R1 (32,768); the Nova user guide for
//! Nova Micro / Lite / Pro (10,000). Guessed: Claude Opus 4.6 to 4.8 and
//! Sonnet 5 (128,000; Claude Code asks for 64,000), Sonnet 4.6 (64,000); Nova Premier (32,000), Nova 2
//! Lite (65,536), Llama 4 (2,048, as the other Llama rows). Ids of a known
//! family that are not in the table get [`FALLBACK_CEILING`].
//!
//! What Converse takes ([`Takes`]): AWS's "Supported models and model
//! features" table for Converse (document chat, vision, tool use): Cohere
//! Command R / R+ tools and documents; Llama 3 documents, 3.1 tools and
//! documents, 3.2 1B / 3B documents, 3.2 11B / 90B all three; Mistral 7B and
//! Mixtral documents, Mistral Large (24.02, 24.07) tools and documents; Titan
//! Text documents except Premier; Nova Micro tools only. Mistral Small's tools
//! are on AWS's tool-use page, Llama 4's images on its model card; Llama 3.3
//! and Llama 4 are taken to use tools as Llama 3.1 does. DeepSeek R1 takes
//! none (Bedrock: "This model doesn't support tool use."). Claude rows take
//! all three, as the gateway sends them (the table marks Claude 3.5 Haiku
//! without vision; its `input` says so for the listing). Ids not in the
//! table take all three.

/// The ceiling of a recognised model id that is not in the table.
pub(crate) const FALLBACK_CEILING: u32 = 8192;

/// How a model may be invoked, as `ListFoundationModels` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// By its own id only (`ON_DEMAND`).
    OnDemand,
    /// Through a cross-region inference profile only (`INFERENCE_PROFILE`).
    Profile,
    /// Both; also listed with a profile.
    Both,
    /// Through a geography profile and a `global.` one.
    Global,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelInfo {
    /// The foundation-model id, e.g. `anthropic.claude-3-5-haiku-20241022-v1:0`.
    pub id: &'static str,
    pub name: &'static str,
    pub provider: &'static str,
    /// The most output tokens a request may ask for.
    pub max_output: u32,
    pub input: &'static [&'static str],
    pub access: Access,
    /// What Converse takes for it besides text.
    pub converse: Takes,
}

/// What Converse takes for a model besides text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Takes {
    pub tools: bool,
    pub images: bool,
    pub documents: bool,
}

const ALL: Takes = Takes {
    tools: true,
    images: true,
    documents: true,
};
const TOOLS_DOCS: Takes = Takes {
    images: false,
    ..ALL
};
const DOCS: Takes = Takes {
    tools: false,
    ..TOOLS_DOCS
};
const TOOLS: Takes = Takes {
    documents: false,
    ..TOOLS_DOCS
};
const NONE: Takes = Takes {
    documents: false,
    ..DOCS
};

const TEXT: &[&str] = &["TEXT"];
const TEXT_IMAGE: &[&str] = &["TEXT", "IMAGE"];
const MULTIMODAL: &[&str] = &["TEXT", "IMAGE", "VIDEO"];

const fn row(
    id: &'static str,
    name: &'static str,
    provider: &'static str,
    max_output: u32,
    input: &'static [&'static str],
    access: Access,
    converse: Takes,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        provider,
        max_output,
        input,
        access,
        converse,
    }
}

use Access::{Both, Global, OnDemand, Profile};

/// The table. Keep it in this one place.
#[rustfmt::skip]
pub(crate) const MODELS: &[ModelInfo] = &[
    row("anthropic.claude-opus-4-8", "Claude Opus 4.8", "Anthropic", 128_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-opus-4-7", "Claude Opus 4.7", "Anthropic", 128_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-opus-4-6-v1", "Claude Opus 4.6", "Anthropic", 128_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-sonnet-5", "Claude Sonnet 5", "Anthropic", 128_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6", "Anthropic", 128_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5", "Anthropic", 64_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Anthropic", 64_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", "Anthropic", 64_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1", "Anthropic", 32_000, TEXT_IMAGE, Profile, ALL),
    row("anthropic.claude-opus-4-20250514-v1:0", "Claude Opus 4", "Anthropic", 32_000, TEXT_IMAGE, Profile, ALL),
    row("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4", "Anthropic", 64_000, TEXT_IMAGE, Global, ALL),
    row("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", "Anthropic", 64_000, TEXT_IMAGE, Profile, ALL),
    row("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Anthropic", 8_192, TEXT_IMAGE, Both, ALL),
    row("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Anthropic", 4_096, TEXT_IMAGE, Both, ALL),
    row("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "Anthropic", 8_192, TEXT, Both, ALL),
    row("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic", 4_096, TEXT_IMAGE, Both, ALL),
    row("anthropic.claude-3-opus-20240229-v1:0", "Claude 3 Opus", "Anthropic", 4_096, TEXT_IMAGE, Both, ALL),
    row("anthropic.claude-3-sonnet-20240229-v1:0", "Claude 3 Sonnet", "Anthropic", 4_096, TEXT_IMAGE, Both, ALL),
    row("amazon.nova-premier-v1:0", "Nova Premier", "Amazon", 32_000, MULTIMODAL, Profile, ALL),
    row("amazon.nova-pro-v1:0", "Nova Pro", "Amazon", 10_000, MULTIMODAL, Both, ALL),
    row("amazon.nova-lite-v1:0", "Nova Lite", "Amazon", 10_000, MULTIMODAL, Both, ALL),
    row("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", 10_000, TEXT, Both, TOOLS),
    row("amazon.nova-2-lite-v1:0", "Nova 2 Lite", "Amazon", 65_536, MULTIMODAL, Global, ALL),
    row("amazon.titan-text-premier-v1:0", "Titan Text G1 - Premier", "Amazon", 3_072, TEXT, OnDemand, NONE),
    row("amazon.titan-text-express-v1", "Titan Text G1 - Express", "Amazon", 8_192, TEXT, OnDemand, DOCS),
    row("amazon.titan-text-lite-v1", "Titan Text G1 - Lite", "Amazon", 4_096, TEXT, OnDemand, DOCS),
    row("meta.llama4-maverick-17b-instruct-v1:0", "Llama 4 Maverick 17B Instruct", "Meta", 2_048, TEXT_IMAGE, Profile, ALL),
    row("meta.llama4-scout-17b-instruct-v1:0", "Llama 4 Scout 17B Instruct", "Meta", 2_048, TEXT_IMAGE, Profile, ALL),
    row("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", "Meta", 2_048, TEXT, Profile, TOOLS_DOCS),
    row("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Instruct", "Meta", 2_048, TEXT_IMAGE, Profile, ALL),
    row("meta.llama3-2-11b-instruct-v1:0", "Llama 3.2 11B Instruct", "Meta", 2_048, TEXT_IMAGE, Profile, ALL),
    row("meta.llama3-2-3b-instruct-v1:0", "Llama 3.2 3B Instruct", "Meta", 2_048, TEXT, Profile, DOCS),
    row("meta.llama3-2-1b-instruct-v1:0", "Llama 3.2 1B Instruct", "Meta", 2_048, TEXT, Profile, DOCS),
    row("meta.llama3-1-405b-instruct-v1:0", "Llama 3.1 405B Instruct", "Meta", 2_048, TEXT, OnDemand, TOOLS_DOCS),
    row("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", "Meta", 2_048, TEXT, Both, TOOLS_DOCS),
    row("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Meta", 2_048, TEXT, Both, TOOLS_DOCS),
    row("meta.llama3-70b-instruct-v1:0", "Llama 3 70B Instruct", "Meta", 2_048, TEXT, OnDemand, DOCS),
    row("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct", "Meta", 2_048, TEXT, OnDemand, DOCS),
    row("mistral.mistral-large-2407-v1:0", "Mistral Large (24.07)", "Mistral AI", 8_192, TEXT, OnDemand, TOOLS_DOCS),
    row("mistral.mistral-large-2402-v1:0", "Mistral Large (24.02)", "Mistral AI", 8_192, TEXT, OnDemand, TOOLS_DOCS),
    row("mistral.mistral-small-2402-v1:0", "Mistral Small (24.02)", "Mistral AI", 8_192, TEXT, OnDemand, TOOLS_DOCS),
    row("mistral.mixtral-8x7b-instruct-v0:1", "Mixtral 8x7B Instruct", "Mistral AI", 4_096, TEXT, OnDemand, DOCS),
    row("mistral.mistral-7b-instruct-v0:2", "Mistral 7B Instruct", "Mistral AI", 8_192, TEXT, OnDemand, DOCS),
    row("cohere.command-r-plus-v1:0", "Command R+", "Cohere", 4_000, TEXT, OnDemand, TOOLS_DOCS),
    row("cohere.command-r-v1:0", "Command R", "Cohere", 4_000, TEXT, OnDemand, TOOLS_DOCS),
    row("deepseek.r1-v1:0", "DeepSeek-R1", "DeepSeek", 32_768, TEXT, Profile, NONE),
];

/// The row of a foundation-model id (no ARN or region prefix); a
/// context-window variant such as `…-v1:0:200k` finds its base row.
pub(crate) fn find(id: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| {
        id == m.id
            || id
                .strip_prefix(m.id)
                .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// How a Claude model takes thinking and sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaudeThinking {
    /// `{"type":"enabled","budget_tokens":N}` only.
    Budget,
    /// A budget, or `{"type":"adaptive"}` with `output_config.effort`.
    Either,
    /// `adaptive` only; no `temperature`, `top_p` or `top_k`; the thinking
    /// text omitted unless `display` is `summarized`.
    AdaptiveOnly,
}

/// The Claude models that take adaptive thinking, and of them those that
/// take nothing else (Bedrock's "Adaptive thinking" page).
const ADAPTIVE: &[&str] = &[
    "anthropic.claude-opus-4-6-v1",
    "anthropic.claude-sonnet-4-6",
];
const ADAPTIVE_ONLY: &[&str] = &[
    "anthropic.claude-opus-4-8",
    "anthropic.claude-opus-4-7",
    "anthropic.claude-sonnet-5",
];

/// How the Claude model `id` (a foundation-model id) takes thinking.
pub(crate) fn claude_thinking(id: &str) -> ClaudeThinking {
    let listed = |ids: &[&str]| find(id).is_some_and(|m| ids.contains(&m.id));
    if listed(ADAPTIVE_ONLY) {
        ClaudeThinking::AdaptiveOnly
    } else if listed(ADAPTIVE) {
        ClaudeThinking::Either
    } else {
        ClaudeThinking::Budget
    }
}

/// What Converse takes for `id` besides text.
pub(crate) fn converse_takes(id: &str) -> Takes {
    find(id).map_or(ALL, |m| m.converse)
}

/// The most output tokens a request for `id` may ask for.
pub(crate) fn max_output_tokens(id: &str) -> u32 {
    find(id).map_or(FALLBACK_CEILING, |m| m.max_output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn ceilings_by_model() {
        let ceiling = |id: &str| max_output_tokens(&Model::recognise(id).unwrap().base);
        assert_eq!(
            ceiling("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            64_000
        );
        assert_eq!(
            ceiling("global.anthropic.claude-haiku-4-5-20251001-v1:0"),
            64_000
        );
        assert_eq!(ceiling("anthropic.claude-opus-4-1-20250805-v1:0"), 32_000);
        assert_eq!(ceiling("anthropic.claude-3-5-haiku-20241022-v1:0"), 8_192);
        assert_eq!(
            ceiling("anthropic.claude-3-haiku-20240307-v1:0:200k"),
            4_096
        );
        assert_eq!(ceiling("us.amazon.nova-pro-v1:0"), 10_000);
        assert_eq!(ceiling("meta.llama3-1-8b-instruct-v1:0"), 2_048);
        assert_eq!(ceiling("anthropic.claude-future-v9:0"), FALLBACK_CEILING);
    }

    #[test]
    fn converse_takes_images_where_the_listing_says_image() {
        for m in MODELS.iter().filter(|m| !m.id.starts_with("anthropic.")) {
            assert_eq!(m.converse.images, m.input.contains(&"IMAGE"), "{}", m.id);
        }
        assert_eq!(converse_takes("meta.llama3-2-90b-instruct-v1:0"), ALL);
        assert_eq!(
            converse_takes("meta.llama3-3-70b-instruct-v1:0"),
            TOOLS_DOCS
        );
        assert_eq!(converse_takes("amazon.titan-text-premier-v1:0"), NONE);
        assert_eq!(converse_takes("mistral.pixtral-large-2502-v1:0"), ALL);
    }

    #[test]
    fn every_row_is_recognised_and_unique() {
        for (i, m) in MODELS.iter().enumerate() {
            let model = Model::recognise(m.id).unwrap_or_else(|| panic!("{}", m.id));
            assert_eq!(model.base, m.id);
            assert!(m.max_output > 0);
            assert!(MODELS[..i].iter().all(|o| o.id != m.id), "{} twice", m.id);
            assert_eq!(find(m.id), Some(m));
        }
    }
}
