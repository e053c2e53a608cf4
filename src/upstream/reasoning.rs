//! Extended thinking per family: what a reasoning budget becomes upstream.
//!
//! - Claude: `{"thinking":{"type":"enabled","budget_tokens":N}}` (a body field
//!   on InvokeModel, an additional model request field on Converse). Anthropic
//!   refuses `temperature`, `top_p` and `top_k` with thinking, so they are dropped.
//!   The models that take adaptive thinking only (Claude Opus 4.7 and later,
//!   Claude 5: [`ClaudeGeneration::AdaptiveOnly`]) get
//!   `{"thinking":{"type":"adaptive","display":"summarized"}}` and the
//!   budget's [`effort`] as `output_config.effort` (Converse's
//!   `outputConfig.effort`) unless the request named one; `summarized`
//!   because they omit the thinking text otherwise, and a client that asked
//!   for reasoning reads it. They take no sampling knob at all, thinking or
//!   not, so those are dropped for them always.
//! - Nova: `{"reasoningConfig":{"type":"enabled","maxReasoningEffort":E}}`
//!   (top level on InvokeModel, an additional model request field on
//!   Converse). Nova takes an effort, not a budget: see [`effort`].
//! - DeepSeek R1 always reasons and takes no setting.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::models::{ClaudeGeneration, ModelFamily, claude_generation};
use super::request::InvocationRequest;
use crate::parts::OutputConfig;

/// Nova's effort for a thinking budget: below 4k tokens `low`, below 16k
/// `medium`, else `high` (Claude's budgets in practice run 1k–32k; the
/// thresholds split that range where the Nova docs place their examples).
pub fn effort(budget: u32) -> &'static str {
    match budget {
        0..4096 => "low",
        4096..16384 => "medium",
        _ => "high",
    }
}

/// Whether `model_id` is a Claude that takes adaptive thinking only.
fn adaptive_only(family: ModelFamily, model_id: &str) -> bool {
    family == ModelFamily::AnthropicClaude
        && claude_generation(model_id) == ClaudeGeneration::AdaptiveOnly
}

/// The fields that turn thinking on for `family`, as a JSON object to merge
/// into a body or send as Converse's `additionalModelRequestFields`. `None`
/// when no budget was asked for or the family takes no setting.
pub fn fields(family: ModelFamily, model_id: &str, budget: Option<u32>) -> Option<Value> {
    let budget = budget?;
    match family {
        ModelFamily::AnthropicClaude if adaptive_only(family, model_id) => Some(json!({
            "thinking": {"type": "adaptive", "display": "summarized"}
        })),
        ModelFamily::AnthropicClaude => Some(json!({
            "thinking": {"type": "enabled", "budget_tokens": budget}
        })),
        ModelFamily::AmazonNova => Some(json!({
            "reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort(budget)}
        })),
        _ => None,
    }
}

/// Whether sampling knobs (`temperature`, `top_p`, `top_k`) must stay
/// unsent: Claude refuses them with thinking, and the adaptive-only models
/// always. (Nova keeps them: no refusal of them with `reasoningConfig` is
/// documented.)
pub fn drops_sampling(family: ModelFamily, model_id: &str, budget: Option<u32>) -> bool {
    family == ModelFamily::AnthropicClaude && budget.is_some() || adaptive_only(family, model_id)
}

/// The request's structured output and effort, with the effort its thinking
/// budget stands for when the model takes thinking as an effort (the
/// adaptive-only Claudes) and the request named none.
pub fn with_effort(family: ModelFamily, req: &InvocationRequest) -> Cow<'_, OutputConfig> {
    match req.reasoning_budget {
        Some(budget)
            if req.output_config.effort.is_none() && adaptive_only(family, &req.model_id) =>
        {
            let mut c = req.output_config.clone();
            c.effort = Some(effort(budget).to_owned());
            Cow::Owned(c)
        }
        _ => Cow::Borrowed(&req.output_config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_thresholds() {
        assert_eq!(effort(1024), "low");
        assert_eq!(effort(4095), "low");
        assert_eq!(effort(4096), "medium");
        assert_eq!(effort(16383), "medium");
        assert_eq!(effort(16384), "high");
        assert_eq!(effort(u32::MAX), "high");
    }

    const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    const OPUS_4_7: &str = "us.anthropic.claude-opus-4-7";

    #[test]
    fn fields_per_family() {
        let claude = ModelFamily::AnthropicClaude;
        assert_eq!(
            fields(claude, SONNET, Some(2048)),
            Some(json!({"thinking":{"type":"enabled","budget_tokens":2048}}))
        );
        assert_eq!(
            fields(claude, OPUS_4_7, Some(2048)),
            Some(json!({"thinking":{"type":"adaptive","display":"summarized"}}))
        );
        assert_eq!(
            fields(ModelFamily::AmazonNova, "amazon.nova-pro-v1:0", Some(8000)),
            Some(json!({"reasoningConfig":{"type":"enabled","maxReasoningEffort":"medium"}}))
        );
        assert_eq!(
            fields(ModelFamily::DeepSeek, "deepseek.r1-v1:0", Some(2048)),
            None
        );
        assert_eq!(fields(claude, SONNET, None), None);
        assert_eq!(fields(claude, OPUS_4_7, None), None);
        assert!(drops_sampling(claude, SONNET, Some(1024)));
        assert!(!drops_sampling(claude, SONNET, None));
        assert!(drops_sampling(claude, OPUS_4_7, None));
        assert!(!drops_sampling(
            ModelFamily::AmazonNova,
            "amazon.nova-pro-v1:0",
            Some(20000)
        ));
        assert!(!drops_sampling(
            ModelFamily::MetaLlama,
            "meta.llama3-3-70b-instruct-v1:0",
            Some(20000)
        ));
    }
}
