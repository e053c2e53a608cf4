//! Extended thinking per family: what a reasoning budget becomes upstream.
//!
//! - Claude: `{"thinking":{"type":"enabled","budget_tokens":N}}` (a body field
//!   on InvokeModel, an additional model request field on Converse). Anthropic
//!   refuses `temperature`, `top_p` and `top_k` with thinking, so they are dropped.
//! - Nova: `{"reasoningConfig":{"type":"enabled","maxReasoningEffort":E}}`
//!   (top level on InvokeModel, an additional model request field on
//!   Converse). Nova takes an effort, not a budget: see [`effort`].
//! - DeepSeek R1 always reasons and takes no setting.

use serde_json::{Value, json};

use super::models::ModelFamily;

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

/// The fields that turn thinking on for `family`, as a JSON object to merge
/// into a body or send as Converse's `additionalModelRequestFields`. `None`
/// when no budget was asked for or the family takes no setting.
pub fn fields(family: ModelFamily, budget: Option<u32>) -> Option<Value> {
    let budget = budget?;
    match family {
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
/// unsent: Claude refuses them with thinking. (Nova keeps them: no refusal
/// of them with `reasoningConfig` is documented.)
pub fn drops_sampling(family: ModelFamily, budget: Option<u32>) -> bool {
    family == ModelFamily::AnthropicClaude && budget.is_some()
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

    #[test]
    fn fields_per_family() {
        assert_eq!(
            fields(ModelFamily::AnthropicClaude, Some(2048)),
            Some(json!({"thinking":{"type":"enabled","budget_tokens":2048}}))
        );
        assert_eq!(
            fields(ModelFamily::AmazonNova, Some(8000)),
            Some(json!({"reasoningConfig":{"type":"enabled","maxReasoningEffort":"medium"}}))
        );
        assert_eq!(fields(ModelFamily::DeepSeek, Some(2048)), None);
        assert_eq!(fields(ModelFamily::AnthropicClaude, None), None);
        assert!(drops_sampling(ModelFamily::AnthropicClaude, Some(1024)));
        assert!(!drops_sampling(ModelFamily::AnthropicClaude, None));
        assert!(!drops_sampling(ModelFamily::AmazonNova, Some(20000)));
        assert!(!drops_sampling(ModelFamily::MetaLlama, Some(20000)));
    }
}
