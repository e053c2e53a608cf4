//! The stream request body (`POST /v1/stream`, WebSocket `stream`, GraphQL
//! `startStream`): `serde_json::from_slice::<StreamRequest>`, then
//! `ModelPolicy::validate`, with and without an allow-list.
//!
//! Invariants: a refusal is a 4xx; an accepted request names a model of a
//! known (and allowed) family, its turns are non-blank, alternate, start and
//! end with the user, fit the prompt limit, and every option is in range.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::config::ProfileModels;
use spillway::parts::Content;
use spillway::request::{MAX_MAX_TOKENS, ModelPolicy, StreamRequest};
use spillway::upstream::Api;
use spillway::upstream::models::ModelFamily;
use spillway::upstream::request::Role;

const MAX_PROMPT_BYTES: usize = 2048;

/// A declared application inference profile (Claude behind it).
const PROFILE: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fuzz";

fn policies() -> [ModelPolicy; 2] {
    let open = ModelPolicy {
        default_model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        allowed: vec![],
        default_api: Api::Invoke,
        max_prompt_bytes: MAX_PROMPT_BYTES,
        default_guardrail: None,
        profiles: Default::default(),
    };
    let narrow = ModelPolicy {
        default_model: "meta.llama3-8b-instruct-v1:0".into(),
        allowed: vec![
            "meta.llama3-8b-instruct-v1:0".into(),
            "us.amazon.nova-lite-v1:0".into(),
            PROFILE.into(),
        ],
        default_api: Api::Converse,
        max_prompt_bytes: MAX_PROMPT_BYTES,
        default_guardrail: None,
        profiles: ProfileModels(
            [(
                PROFILE.to_owned(),
                "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
            )]
            .into(),
        ),
    };
    [open, narrow]
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<StreamRequest>(data) else {
        return;
    };
    for policy in policies() {
        match policy.validate(req.clone()) {
            Err(e) => assert!(e.status().is_client_error(), "{e:?} is not a 4xx"),
            Ok((inv, api)) => {
                // The API named; else the default, or Converse when the
                // request carries what the model's own body cannot.
                match req.api {
                    Some(named) => assert_eq!(api, named),
                    None => assert!(api == policy.default_api || api == Api::Converse),
                }
                // Every accepted model has a family: its id's, or a declared profile's.
                assert!(inv.family().is_some());
                if !policy.allowed.is_empty() {
                    assert!(policy.allowed.contains(&inv.model_id));
                }
                if let Some(m) = &req.model {
                    assert_eq!(&inv.model_id, m);
                }
                assert_eq!(inv.turns.first().map(|t| t.role), Some(Role::User));
                // A last assistant turn is a prefill, only where the model continues one.
                let family = inv.family();
                if inv.turns.last().map(|t| t.role) != Some(Role::User) {
                    assert!(
                        api == Api::Converse || family == Some(ModelFamily::AnthropicClaude),
                        "a prefill for {family:?} through {api:?}"
                    );
                }
                for pair in inv.turns.windows(2) {
                    assert_ne!(pair[0].role, pair[1].role, "roles alternate");
                }
                assert!(inv.turns.iter().all(|t| !t.content.is_empty()));
                let bytes: usize = inv
                    .turns
                    .iter()
                    .flat_map(|t| &t.content)
                    .map(Content::size)
                    .sum::<usize>()
                    + inv.system.size();
                assert!(bytes <= MAX_PROMPT_BYTES, "{bytes} bytes passed the limit");
                // The system prompt is normalised: no blank text, and a cache
                // point only after text (never first, never twice in a row).
                let system = inv.system.parts();
                assert!(system.iter().all(|p| match p {
                    Content::Text { text } => !text.trim().is_empty(),
                    // Guard content goes through Converse only.
                    Content::GuardContent { .. } => api == Api::Converse,
                    p => matches!(p, Content::CachePoint { .. }),
                }));
                assert!(!matches!(system.first(), Some(Content::CachePoint { .. })));
                assert!(system.windows(2).all(|w| !matches!(
                    w,
                    [Content::CachePoint { .. }, Content::CachePoint { .. }]
                )));
                assert!(!inv.tools_cache_point || !inv.tools.is_empty());
                assert!(
                    inv.max_tokens
                        .is_none_or(|n| (1..=MAX_MAX_TOKENS).contains(&n))
                );
                assert!(inv.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)));
                assert!(inv.top_p.is_none_or(|p| (0.0..=1.0).contains(&p)));
                assert!(inv.stop_sequences.len() <= 8);
                assert!(inv.stop_sequences.iter().all(|s| !s.is_empty()));
                // The family builds a body for whatever was accepted, or
                // says why a part cannot go in it (a Word file to Claude's
                // own body: Converse takes it).
                if let Some(family) = inv.family() {
                    match family.build_body(&inv) {
                        Ok(body) => assert!(body.is_object()),
                        Err(why) => assert!(!why.is_empty()),
                    }
                }
            }
        }
    }
});
