//! What a Claude model's id says about the request fields it takes.
//!
//! Claude's request body has changed under the same API as models moved on:
//! - Claude Opus 4.1 and later refuse `temperature` together with `top_p`.
//! - Claude Opus 4.7 and later, and every Claude 5 model (Fable and Mythos
//!   included), take no sampling knob at all (`temperature`, `top_p`,
//!   `top_k`: "`temperature` is deprecated for this model"), take thinking
//!   only as `{"type":"adaptive"}` with `output_config.effort` (a
//!   `budget_tokens` is refused), and omit the thinking text unless asked for
//!   `"display":"summarized"`.
//!
//! The version is read from the id (`anthropic.claude-<tier>-<major>[-<minor>]…`,
//! after any inference-profile prefix or ARN). An id it cannot read (the old
//! style, `claude-3-5-sonnet-…`, `claude-v2`) is [`ClaudeGeneration::Classic`].

use super::base_model_id;

/// The request fields a Claude model takes, by generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudeGeneration {
    /// `temperature` and `top_p` together, thinking with a budget.
    Classic,
    /// One of `temperature` and `top_p` (Claude 4.1 to 4.6).
    OneSamplingKnob,
    /// No sampling knob, adaptive thinking only, thinking text on request
    /// (Claude Opus 4.7 and later, Claude 5).
    AdaptiveOnly,
}

/// Tiers named only from Claude 5 on (each model of them is [`ClaudeGeneration::AdaptiveOnly`]).
const LATE_TIERS: &[&str] = &["fable", "mythos"];

/// The generation of the Claude model `model_id` names.
pub fn claude_generation(model_id: &str) -> ClaudeGeneration {
    let Some(id) = base_model_id(model_id) else {
        return ClaudeGeneration::Classic;
    };
    let id = id.to_ascii_lowercase();
    let Some(rest) = id.strip_prefix("anthropic.claude-") else {
        return ClaudeGeneration::Classic;
    };
    let mut parts = rest.split('-');
    let Some(tier) = parts
        .next()
        .filter(|t| t.bytes().all(|b| b.is_ascii_lowercase()))
    else {
        return ClaudeGeneration::Classic;
    };
    if LATE_TIERS.contains(&tier) {
        return ClaudeGeneration::AdaptiveOnly;
    }
    if !matches!(tier, "opus" | "sonnet" | "haiku") {
        return ClaudeGeneration::Classic; // old style (`v2`, `instant`), or not a version
    }
    let Some(major) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return ClaudeGeneration::Classic;
    };
    // The minor version is a short number; an 8-digit date means `.0`.
    let minor = parts
        .next()
        .filter(|p| p.len() <= 2)
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    match (major, minor) {
        v if v >= (4, 7) => ClaudeGeneration::AdaptiveOnly,
        v if v >= (4, 1) => ClaudeGeneration::OneSamplingKnob,
        _ => ClaudeGeneration::Classic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClaudeGeneration::*;

    #[test]
    fn generations_by_id() {
        for (id, want) in [
            ("anthropic.claude-3-5-haiku-20241022-v1:0", Classic),
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", Classic),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", Classic),
            ("anthropic.claude-opus-4-20250514-v1:0", Classic),
            ("anthropic.claude-v2:1", Classic),
            ("anthropic.claude-instant-v1", Classic),
            ("anthropic.claude-opus-4-1-20250805-v1:0", OneSamplingKnob),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                OneSamplingKnob,
            ),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                OneSamplingKnob,
            ),
            ("anthropic.claude-opus-4-6-v1", OneSamplingKnob),
            ("anthropic.claude-sonnet-4-6", OneSamplingKnob),
            ("us.anthropic.claude-opus-4-7", AdaptiveOnly),
            ("anthropic.claude-opus-4-8", AdaptiveOnly),
            ("us.anthropic.claude-sonnet-5", AdaptiveOnly),
            ("anthropic.claude-opus-5-5", AdaptiveOnly),
            ("anthropic.claude-fable-5", AdaptiveOnly),
            ("anthropic.claude-mythos-preview", AdaptiveOnly),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-7",
                AdaptiveOnly,
            ),
            ("amazon.nova-pro-v1:0", Classic),
        ] {
            assert_eq!(claude_generation(id), want, "{id}");
        }
    }
}
