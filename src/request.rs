//! The stream request every transport accepts (`POST /v1/stream`, WebSocket
//! `stream`, GraphQL `startStream`), validated into an `InvocationRequest`.

use serde::Deserialize;

use crate::config::ProfileModels;
use crate::error::ApiError;
use crate::parts::validate::{self, Capabilities};
use crate::parts::{Content, OutputConfig, SystemPrompt, ToolChoice, ToolList, ToolResultContent};
use crate::upstream::Api;
use crate::upstream::guardrail::Guardrail;
use crate::upstream::model_id::ModelRef;
use crate::upstream::models::ModelFamily;
use crate::upstream::request::{InvocationRequest, Role, Turn};

pub use crate::upstream::request::DEFAULT_MAX_TOKENS;
/// Largest `maxTokens` a request may ask for.
pub const MAX_MAX_TOKENS: u32 = 200_000;
const MAX_STOP_SEQUENCES: usize = 8;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRequest {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// A string, or `text` and `cachePoint` parts.
    #[serde(default)]
    pub system: SystemPrompt,
    #[serde(default)]
    pub messages: Vec<Turn>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    /// `invoke` or `converse`; the server's `--api` when absent.
    #[serde(default)]
    pub api: Option<Api>,
    /// Tools the model may call, and `{"type":"cachePoint"}` after them.
    #[serde(default)]
    pub tools: ToolList,
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// `false`: at most one tool call per answer (Claude's
    /// `disable_parallel_tool_use`; Converse has no such switch).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// `{"budgetTokens": N}` turns on extended thinking.
    #[serde(default)]
    pub reasoning: Option<ReasoningRequest>,
    /// `{"id","version","trace"?,"streamProcessingMode"?}`: a Bedrock guardrail
    /// (the deployment default when absent).
    #[serde(default)]
    pub guardrail: Option<Guardrail>,
    /// `{"format"?: {"schema", "name"?, "description"?}, "effort"?}`: the
    /// answer is JSON of the schema (structured output).
    #[serde(default)]
    pub output_config: OutputConfig,
}

/// `reasoning` of a stream request.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReasoningRequest {
    pub budget_tokens: u32,
}

/// Why [`ModelPolicy::admit`] refuses a model id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Malformed,
    UnknownFamily,
    ProfileNotListed,
    NotAllowed,
}

/// A model setting that would fail every request it meets ([`ModelPolicy::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelSettingError {
    #[error(
        "SPILLWAY_ALLOWED_MODELS has an empty entry: list model ids, comma-separated (unset, it allows every model of a known family)"
    )]
    EmptyAllowed,
    #[error(
        "SPILLWAY_ALLOWED_MODELS: '{0}' is not a known model (no known model family, and not an application-inference-profile ARN)"
    )]
    UnknownAllowed(String),
    #[error(
        "SPILLWAY_DEFAULT_MODEL: '{0}' is not a known model (no known model family, and not an application-inference-profile ARN)"
    )]
    UnknownDefault(String),
    #[error(
        "SPILLWAY_DEFAULT_MODEL: '{0}' is not in SPILLWAY_ALLOWED_MODELS; list it there too, or pick one of them"
    )]
    DefaultNotAllowed(String),
    #[error(
        "SPILLWAY_DEFAULT_MODEL: '{0}' is an application-inference-profile ARN; list it in SPILLWAY_ALLOWED_MODELS too"
    )]
    DefaultProfileNotListed(String),
}

/// Which models requests may name, and which they get by default.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    pub default_model: String,
    /// Empty: any model id of a known family.
    pub allowed: Vec<String>,
    pub default_api: Api,
    pub max_prompt_bytes: usize,
    /// The guardrail of requests that name none (`SPILLWAY_GUARDRAIL_ID` + `_VERSION`).
    pub default_guardrail: Option<Guardrail>,
    /// The model each declared application inference profile routes to.
    pub profiles: ProfileModels,
}

impl ModelPolicy {
    /// The models `GET /v1/models` lists.
    pub fn listed(&self) -> Vec<String> {
        if self.allowed.is_empty() {
            crate::upstream::models::KNOWN_MODELS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            self.allowed.clone()
        }
    }

    /// What `model_id` names, if requests may name it: a model of a known
    /// family (listed, when `allowed` is set), or an application-inference-profile
    /// ARN that `allowed` lists.
    pub fn admit(&self, model_id: &str) -> Result<ModelRef, ApiError> {
        self.admission(model_id).map_err(|refusal| {
            ApiError::UnknownModel(match refusal {
                Refusal::Malformed => format!(
                    "a model id is 1 to {} letters, digits and `._:/-`",
                    crate::upstream::models::MAX_MODEL_ID_LEN
                ),
                Refusal::UnknownFamily => {
                    format!("model '{model_id}' is not of a known model family")
                }
                Refusal::ProfileNotListed => format!(
                    "model '{model_id}' is an application-inference-profile ARN that \
                     SPILLWAY_ALLOWED_MODELS does not list"
                ),
                Refusal::NotAllowed => format!("model '{model_id}' is not allowed here"),
            })
        })
    }

    /// [`Self::admit`]'s rule, with the reason of a refusal.
    fn admission(&self, model_id: &str) -> Result<ModelRef, Refusal> {
        if !crate::upstream::models::well_formed(model_id) {
            return Err(Refusal::Malformed);
        }
        let model = self.model_ref(model_id).ok_or(Refusal::UnknownFamily)?;
        let listed = self.allowed.iter().any(|m| m == model_id);
        if model.needs_listing() && !listed {
            return Err(Refusal::ProfileNotListed);
        }
        if !self.allowed.is_empty() && !listed {
            return Err(Refusal::NotAllowed);
        }
        Ok(model)
    }

    /// The start-up check of the settings this policy comes from: every id
    /// of `SPILLWAY_ALLOWED_MODELS` is a model requests could name, and
    /// `SPILLWAY_DEFAULT_MODEL` is admitted (by [`Self::admit`]'s rule).
    /// Either mistake would otherwise fail every request it meets while the
    /// gateway reports itself ready.
    pub fn check(&self) -> Result<(), ModelSettingError> {
        for id in &self.allowed {
            if id.trim().is_empty() {
                return Err(ModelSettingError::EmptyAllowed);
            }
            if !crate::upstream::models::well_formed(id) || self.model_ref(id).is_none() {
                return Err(ModelSettingError::UnknownAllowed(id.clone()));
            }
        }
        let default = || self.default_model.clone();
        match self.admission(&self.default_model) {
            Ok(_) => Ok(()),
            Err(Refusal::Malformed | Refusal::UnknownFamily) => {
                Err(ModelSettingError::UnknownDefault(default()))
            }
            Err(Refusal::ProfileNotListed) => {
                Err(ModelSettingError::DefaultProfileNotListed(default()))
            }
            Err(Refusal::NotAllowed) => Err(ModelSettingError::DefaultNotAllowed(default())),
        }
    }

    /// Models the settings name (`SPILLWAY_DEFAULT_MODEL`,
    /// `SPILLWAY_ALLOWED_MODELS`, `fallbacks`) that are of a known family but
    /// that this build does not know: neither in its model list nor priced.
    /// A typo in a model's date or version passes [`Self::check`] and fails
    /// every request for it at Bedrock, but so would refusing a model newer
    /// than this build, which its family serves: they are warned about at
    /// start-up, as (variable, model id).
    pub fn unfamiliar<'a>(
        &'a self,
        fallbacks: &'a [String],
        prices: &crate::cost::Prices,
    ) -> Vec<(&'static str, &'a str)> {
        let known_bases: Vec<&str> = crate::upstream::models::KNOWN_MODELS
            .iter()
            .filter_map(|id| crate::upstream::models::base_model_id(id))
            .collect();
        let known = |id: &str| {
            prices.price(id).is_some()
                || crate::upstream::models::base_model_id(id)
                    .is_some_and(|b| known_bases.contains(&b))
        };
        let settings = std::iter::once(("SPILLWAY_DEFAULT_MODEL", self.default_model.as_str()))
            .chain(
                self.allowed
                    .iter()
                    .map(|m| ("SPILLWAY_ALLOWED_MODELS", m.as_str())),
            )
            .chain(
                fallbacks
                    .iter()
                    .map(|m| ("SPILLWAY_FALLBACK_MODELS", m.as_str())),
            );
        settings
            .filter(|(_, id)| {
                !self.profiles.0.contains_key(*id)
                    && matches!(ModelRef::parse(id), Some(ModelRef::Family(_)))
                    && !known(id)
            })
            .collect()
    }

    /// What `model_id` names: a declared application inference profile is
    /// its model's family, like any model of that family.
    pub fn model_ref(&self, model_id: &str) -> Option<ModelRef> {
        match self.profiles.0.get(model_id) {
            Some(model) => ModelFamily::from_model_id(model).map(ModelRef::Family),
            None => ModelRef::parse(model_id),
        }
    }

    /// The family of `model_id` (see [`Self::model_ref`]).
    pub fn family_of(&self, model_id: &str) -> Option<ModelFamily> {
        self.model_ref(model_id).and_then(ModelRef::family)
    }

    /// The model `model_id` routes to: a declared profile's, else itself.
    pub fn routed_model<'a>(&'a self, model_id: &'a str) -> &'a str {
        self.profiles
            .0
            .get(model_id)
            .map_or(model_id, String::as_str)
    }

    /// Validate `req` into an invocation and the API path to use.
    pub fn validate(&self, req: StreamRequest) -> Result<(InvocationRequest, Api), ApiError> {
        let model_id = req.model.unwrap_or_else(|| self.default_model.clone());
        let model = self.admit(&model_id)?;
        let turns = build_turns(req.messages, req.prompt)?;
        let routed = self.routed_model(&model_id);
        let needs = Needs::of(&turns, &req.tools.tools, &req.system, &req.output_config);
        let api = pick_api(req.api, self.default_api, model, routed, &turns, needs);
        if needs.guard && api != Api::Converse {
            return Err(ApiError::BadRequest(
                "guardContent parts go to Bedrock through Converse: send them with api \"converse\""
                    .into(),
            ));
        }
        if turns.last().is_some_and(|t| t.role != Role::User) && !model.continues_prefill(api) {
            return Err(ApiError::BadRequest(format!(
                "the conversation must end with a user turn (add a prompt): {} models \
                 invoked through their own body do not continue an assistant prefill",
                model.name()
            )));
        }
        let mut reasoning_budget = req.reasoning.map(|r| r.budget_tokens);
        validate::check(
            &turns,
            &req.tools.tools,
            &req.tool_choice,
            reasoning_budget,
            model.target(&model_id, routed, api),
        )
        .map_err(ApiError::BadRequest)?;
        let forced = matches!(req.tool_choice, ToolChoice::Any | ToolChoice::Tool(_));
        if reasoning_budget.is_some()
            && model.family() == Some(ModelFamily::AnthropicClaude)
            && (forced || !thinking_turn_fits(&turns))
        {
            // What Claude would refuse, the request gets without thinking:
            // a tool choice that forces a call (`tool_choice: "required"`
            // or a named function with `reasoning_effort`), or a client that
            // did not replay the signed block (OpenAI's chat clients
            // cannot). The answer matters more than the budget.
            tracing::debug!(model = %model_id, forced, "thinking off: Claude takes no thinking with this request");
            reasoning_budget = None;
        }
        let prompt_bytes: usize = turns
            .iter()
            .flat_map(|t| &t.content)
            .map(Content::size)
            .sum::<usize>()
            + req.system.size();
        if prompt_bytes > self.max_prompt_bytes {
            return Err(ApiError::BadRequest(format!(
                "prompt is {prompt_bytes} bytes; the limit is {}",
                self.max_prompt_bytes
            )));
        }
        let mut max_tokens = req.max_tokens;
        if max_tokens.is_some_and(|n| !(1..=MAX_MAX_TOKENS).contains(&n)) {
            return Err(ApiError::BadRequest(format!(
                "maxTokens must be between 1 and {MAX_MAX_TOKENS}"
            )));
        }
        // Thinking counts against maxTokens; a budget at or above it would
        // leave no room for the answer, so the answer's room is added (and
        // with thinking the ceiling is always named: Bedrock needs it above
        // the budget).
        if let Some(budget) = reasoning_budget {
            let named = max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
            max_tokens = Some(if budget >= named {
                budget.saturating_add(named).min(MAX_MAX_TOKENS)
            } else {
                named
            });
        }
        if let Some(t) = req.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            return Err(ApiError::BadRequest(format!(
                "temperature {t} is outside 0..=2"
            )));
        }
        if let Some(p) = req.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
            return Err(ApiError::BadRequest(format!("topP {p} is outside 0..=1")));
        }
        if req.stop_sequences.len() > MAX_STOP_SEQUENCES
            || req.stop_sequences.iter().any(String::is_empty)
        {
            return Err(ApiError::BadRequest(format!(
                "stopSequences takes at most {MAX_STOP_SEQUENCES} non-empty strings"
            )));
        }
        req.output_config.check().map_err(ApiError::BadRequest)?;
        if req.output_config.is_set() && api != Api::Converse && !model.takes_output_config() {
            return Err(ApiError::BadRequest(format!(
                "structured output and effort go to {} models through Converse: send them with api \"converse\"",
                model.name()
            )));
        }
        let guardrail = req.guardrail.or_else(|| self.default_guardrail.clone());
        if let Some(g) = &guardrail {
            g.check().map_err(ApiError::BadRequest)?;
        }
        let system = req.system.normalised();
        let tools_cache_point = req.tools.cache_point && !req.tools.tools.is_empty();
        Ok((
            InvocationRequest {
                model_id,
                system,
                turns,
                max_tokens,
                // OpenAI's range is 0–2; Bedrock's models (and Converse)
                // take 0–1 and refuse more: above 1 is sent as 1, as the AI
                // SDK's Bedrock provider sends it.
                temperature: req.temperature.map(|t| t.min(1.0)),
                top_p: req.top_p,
                stop_sequences: req.stop_sequences,
                tools: req.tools.tools,
                tools_cache_point,
                tools_cache_ttl: req.tools.cache_ttl.filter(|_| tools_cache_point),
                tool_choice: req.tool_choice,
                one_tool_call: req.parallel_tool_calls == Some(false),
                reasoning_budget,
                raw_body: None,
                converse_fields: None,
                call_options: Default::default(),
                guardrail,
                output_config: req.output_config,
                family: model.family(),
            },
            api,
        ))
    }
}

/// Claude's rule with thinking on: answering tool results, the assistant
/// turn that called the tools must open with its signed (or redacted)
/// thinking block. Whether `turns` keep it.
fn thinking_turn_fits(turns: &[Turn]) -> bool {
    let Some(at) = turns.iter().rposition(|t| t.role == Role::Assistant) else {
        return true;
    };
    let calls = turns[at]
        .content
        .iter()
        .any(|p| matches!(p, Content::ToolCall { .. }));
    let answered = turns[at + 1..]
        .iter()
        .flat_map(|t| &t.content)
        .any(|p| matches!(p, Content::ToolResult { .. }));
    let signed = matches!(
        turns[at].content.iter().find(|p| !matches!(p, Content::Text { text } if text.is_empty())),
        Some(Content::Reasoning(r)) if r.signature.is_some() || r.redacted.is_some()
    );
    !(calls && answered) || signed
}

/// Drop the turns before the user's first words: a chat UI's greeting (an
/// assistant turn the conversation opens with, and any tool exchange of
/// it). Bedrock's conversations start with the user; the APIs whose
/// clients send such openings (OpenAI's, the AI SDK's) call this.
pub fn drop_leading_greeting(turns: &mut Vec<Turn>) {
    if let Some(first) = turns.iter().position(|t| {
        t.role == Role::User
            && t.content
                .iter()
                .any(|p| !matches!(p, Content::ToolResult { .. }))
    }) {
        turns.drain(..first);
    }
}

/// What a request carries that decides the API it can go by: its parts, a
/// guardrail's `guardContent` (Converse's alone), structured output or
/// effort (Converse's, and Claude's body's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    pub carried: Capabilities,
    pub guard: bool,
    pub output_config: bool,
}

impl Needs {
    pub(crate) fn of(
        turns: &[Turn],
        tools: &[crate::parts::Tool],
        system: &SystemPrompt,
        output_config: &OutputConfig,
    ) -> Self {
        Self {
            carried: validate::carried(turns, tools),
            guard: system.has_guard_content()
                || turns
                    .iter()
                    .flat_map(|t| &t.content)
                    .any(|p| matches!(p, Content::GuardContent { .. })),
            output_config: output_config.is_set(),
        }
    }
}

/// The API of a request: the one it names (an application inference profile
/// has only Converse); else the server's default, unless that is the
/// family's own body, which cannot carry what the request carries (tools,
/// images or documents for a model whose body is a prompt string; a
/// document type Claude's body lacks, such as a Word file; `guardContent`;
/// structured output for a model other than Claude) while Converse can for
/// `model_id`. A client that cannot name an API (OpenAI's, the AI
/// SDK's) is served, not told to name one. A fallback model is picked for
/// the same way (`upstream::fallback`).
pub(crate) fn pick_api(
    named: Option<Api>,
    default: Api,
    model: ModelRef,
    model_id: &str,
    turns: &[Turn],
    needs: Needs,
) -> Api {
    let api = model.api(named.unwrap_or(default));
    let carried = needs.carried;
    let body_cannot = |family: ModelFamily| {
        !family.capabilities(model_id, Api::Invoke).take(carried)
            || document_types(turns).any(|t| family.needs_converse_for(t))
            || needs.guard
            || (needs.output_config && !model.takes_output_config())
    };
    let converse_can = model.capabilities(model_id, Api::Converse).take(carried);
    if named.is_none()
        && api == Api::Invoke
        && converse_can
        && model.family().is_some_and(body_cannot)
    {
        Api::Converse
    } else {
        api
    }
}

/// The media type of every document in `turns`, tool results' included.
fn document_types(turns: &[Turn]) -> impl Iterator<Item = &str> {
    turns.iter().flat_map(|t| &t.content).flat_map(|p| {
        let parts: &[Content] = match p {
            Content::ToolResult {
                content: ToolResultContent::Parts(parts),
                ..
            } => parts,
            other => std::slice::from_ref(other),
        };
        parts.iter().filter_map(|p| match p {
            Content::Document { media_type, .. } => Some(media_type.as_str()),
            _ => None,
        })
    })
}

/// `messages` then `prompt` as the last user turn; roles must start with the
/// user (a last assistant turn is a prefill, which the caller checks the
/// model continues); consecutive turns of one role are joined
/// (their parts in order); blank text parts and empty turns are dropped.
fn build_turns(messages: Vec<Turn>, prompt: Option<String>) -> Result<Vec<Turn>, ApiError> {
    let mut turns: Vec<Turn> = Vec::with_capacity(messages.len() + 1);
    let all = messages
        .into_iter()
        .chain(prompt.map(|p| Turn::text_turn(Role::User, p)));
    for mut t in all {
        t.content
            .retain(|p| !matches!(p, Content::Text { text } if text.trim().is_empty()));
        if t.content
            .iter()
            .all(|p| matches!(p, Content::CachePoint { .. }))
        {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == t.role => last.content.append(&mut t.content),
            _ => turns.push(t),
        }
    }
    match (turns.first(), turns.last()) {
        (None, _) => Err(ApiError::BadRequest(
            "a non-empty prompt or messages is required".into(),
        )),
        (Some(f), _) if f.role != Role::User => Err(ApiError::BadRequest(
            "messages must start with a user turn".into(),
        )),
        _ => Ok(turns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ModelPolicy {
        ModelPolicy {
            default_model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            allowed: vec![],
            default_api: Api::Invoke,
            max_prompt_bytes: 1000,
            default_guardrail: None,
            profiles: Default::default(),
        }
    }

    fn turn(role: Role, content: &str) -> Turn {
        Turn::text_turn(role, content)
    }

    #[test]
    fn the_default_model_must_be_allowed_and_allowed_ids_known() {
        const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
        const NOVA: &str = "amazon.nova-lite-v1:0";
        const PROFILE: &str =
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p1";
        let with = |default: &str, allowed: &[&str]| ModelPolicy {
            default_model: default.into(),
            allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
            ..policy()
        };
        assert_eq!(with(HAIKU, &[]).check(), Ok(()));
        assert_eq!(with(HAIKU, &[NOVA, HAIKU]).check(), Ok(()));
        assert_eq!(with(PROFILE, &[PROFILE]).check(), Ok(()));
        assert_eq!(
            with(NOVA, &[HAIKU]).check(),
            Err(ModelSettingError::DefaultNotAllowed(NOVA.into()))
        );
        assert_eq!(
            with("gpt-4o", &[]).check(),
            Err(ModelSettingError::UnknownDefault("gpt-4o".into()))
        );
        assert_eq!(
            with(PROFILE, &[]).check(),
            Err(ModelSettingError::DefaultProfileNotListed(PROFILE.into()))
        );
        assert_eq!(
            with(HAIKU, &[HAIKU, "openai.gpt-oss-120b-1:0"]).check(),
            Err(ModelSettingError::UnknownAllowed(
                "openai.gpt-oss-120b-1:0".into()
            ))
        );
        // An empty variable is one empty entry: it would allow nothing.
        assert_eq!(
            with(HAIKU, &[""]).check(),
            Err(ModelSettingError::EmptyAllowed)
        );
        // A typo in a known family's id passes, and is warned about.
        let typo = "anthropic.claude-3-haiku-2024037-v1:0";
        let p = with(HAIKU, &[HAIKU, typo]);
        assert_eq!(p.check(), Ok(()));
        let fallbacks = ["us.amazon.nova-pro-v1:0".to_owned()];
        assert_eq!(
            p.unfamiliar(&fallbacks, &crate::cost::Prices::builtin()),
            [("SPILLWAY_ALLOWED_MODELS", typo)]
        );
        let message = with(NOVA, &[HAIKU]).check().unwrap_err().to_string();
        assert!(
            message.starts_with(
                "SPILLWAY_DEFAULT_MODEL: 'amazon.nova-lite-v1:0' is not in SPILLWAY_ALLOWED_MODELS"
            ),
            "{message}"
        );
    }

    #[test]
    fn prompt_becomes_last_user_turn_and_roles_merge() {
        let req = StreamRequest {
            prompt: Some("and now?".into()),
            messages: vec![
                turn(Role::User, "hi"),
                turn(Role::Assistant, "hello"),
                turn(Role::User, "more"),
            ],
            ..Default::default()
        };
        let (inv, api) = policy().validate(req).unwrap();
        assert_eq!(api, Api::Invoke);
        assert_eq!(inv.turns.len(), 3);
        assert_eq!(inv.turns[2].text(), "more\n\nand now?");
        assert_eq!(inv.max_tokens, None);
        assert_eq!(inv.body_max_tokens(), DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn a_last_assistant_turn_is_a_prefill_where_the_model_continues_one() {
        let p = policy();
        let prefill = |model: &str, api: Option<Api>| StreamRequest {
            messages: vec![turn(Role::User, "hi"), turn(Role::Assistant, "{")],
            model: Some(model.into()),
            api,
            ..Default::default()
        };
        let (inv, _) = p.validate(prefill(&p.default_model, None)).unwrap();
        assert_eq!(inv.turns.last().unwrap().role, Role::Assistant);
        let llama = "meta.llama3-8b-instruct-v1:0";
        let err = p.validate(prefill(llama, Some(Api::Invoke))).unwrap_err();
        assert!(err.to_string().contains("prefill"), "{err}");
        assert!(p.validate(prefill(llama, Some(Api::Converse))).is_ok());
    }

    #[test]
    fn guard_content_goes_through_converse_only() {
        let p = policy();
        let guarded = |api| StreamRequest {
            messages: vec![Turn {
                role: Role::User,
                content: vec![Content::GuardContent {
                    text: "hi".into(),
                    qualifiers: vec![],
                }],
            }],
            api: Some(api),
            ..Default::default()
        };
        let err = p.validate(guarded(Api::Invoke)).unwrap_err();
        assert!(err.to_string().contains("converse"), "{err}");
        assert!(p.validate(guarded(Api::Converse)).is_ok());
    }

    #[test]
    fn a_document_only_converse_takes_picks_converse_unless_an_api_is_named() {
        let p = policy();
        let doc = |media_type: &str, api| StreamRequest {
            messages: vec![Turn {
                role: Role::User,
                content: vec![
                    Content::text("summarise"),
                    Content::Document {
                        media_type: media_type.into(),
                        name: "notes".into(),
                        data: "0M8R4KGxGuE=".into(),
                        citations: false,
                        context: None,
                    },
                ],
            }],
            api,
            ..Default::default()
        };
        let word = "application/msword";
        assert_eq!(p.validate(doc(word, None)).unwrap().1, Api::Converse);
        assert_eq!(
            p.validate(doc(word, Some(Api::Invoke))).unwrap().1,
            Api::Invoke,
            "a named API is kept (its body then refuses the document)"
        );
        assert_eq!(p.validate(doc("text/plain", None)).unwrap().1, Api::Invoke);
        let in_a_result: StreamRequest = serde_json::from_value(serde_json::json!({"messages": [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [{"type": "toolCall", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "toolResult", "toolCallId": "t", "content": [
                {"type": "document", "mediaType": word, "name": "n", "data": "0M8R4KGxGuE="}]}]}
        ], "tools": [{"name": "f"}]}))
        .unwrap();
        assert_eq!(p.validate(in_a_result).unwrap().1, Api::Converse);
        let mut nova = doc(word, None);
        nova.model = Some("amazon.nova-pro-v1:0".into());
        assert_eq!(
            p.validate(nova).unwrap().1,
            Api::Invoke,
            "Nova's body takes it"
        );
    }

    #[test]
    fn parts_only_converse_takes_for_a_model_pick_converse_unless_an_api_is_named() {
        let p = policy();
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGNgYGD4D8VoDABH0wX7kHb2kgAAAABJRU5ErkJggg==";
        let with_tools = |model: &str, api: Option<&str>| -> StreamRequest {
            serde_json::from_value(serde_json::json!({
                "model": model, "api": api, "prompt": "weather?", "tools": [{"name": "w"}]
            }))
            .unwrap()
        };
        let with_image = |model: &str, api: Option<&str>| -> StreamRequest {
            serde_json::from_value(serde_json::json!({"model": model, "api": api, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is it?"},
                    {"type": "image", "mediaType": "image/png", "data": png}]}]}))
            .unwrap()
        };
        let llama = "us.meta.llama3-2-90b-instruct-v1:0";
        for model in [
            llama,
            "mistral.mistral-large-2402-v1:0",
            "cohere.command-r-plus-v1:0",
        ] {
            assert_eq!(
                p.validate(with_tools(model, None)).unwrap().1,
                Api::Converse,
                "{model}"
            );
            let err = p.validate(with_tools(model, Some("invoke"))).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{model} takes tools through Converse, not in its own InvokeModel body: send them with api \"converse\""
                )
            );
        }
        assert_eq!(
            p.validate(with_image(llama, None)).unwrap().1,
            Api::Converse
        );
        let text_only = StreamRequest {
            model: Some(llama.into()),
            prompt: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(p.validate(text_only).unwrap().1, Api::Invoke);
        // What no API takes for the model is refused by model and part.
        for (req, says) in [
            (
                with_image("us.meta.llama3-3-70b-instruct-v1:0", None),
                "us.meta.llama3-3-70b-instruct-v1:0 cannot take images",
            ),
            (
                with_image("mistral.mistral-large-2402-v1:0", Some("converse")),
                "mistral.mistral-large-2402-v1:0 cannot take images",
            ),
            (
                with_tools("amazon.titan-text-express-v1", None),
                "amazon.titan-text-express-v1 cannot take tools",
            ),
        ] {
            assert_eq!(p.validate(req).unwrap_err().to_string(), says);
        }
    }

    #[test]
    fn refuses_bad_input() {
        let p = policy();
        let bad = [
            StreamRequest::default(),
            StreamRequest {
                prompt: Some("   ".into()),
                ..Default::default()
            },
            StreamRequest {
                prompt: Some("x".into()),
                model: Some("acme.nope".into()),
                ..Default::default()
            },
            StreamRequest {
                prompt: Some("x".into()),
                max_tokens: Some(0),
                ..Default::default()
            },
            StreamRequest {
                prompt: Some("x".into()),
                temperature: Some(3.0),
                ..Default::default()
            },
            StreamRequest {
                prompt: Some("x".into()),
                top_p: Some(1.5),
                ..Default::default()
            },
            StreamRequest {
                prompt: Some("x".repeat(2000)),
                ..Default::default()
            },
            StreamRequest {
                messages: vec![turn(Role::Assistant, "hi")],
                prompt: Some("x".into()),
                ..Default::default()
            },
        ];
        for req in bad {
            assert!(
                p.validate(req.clone()).is_err(),
                "{req:?} should be refused"
            );
        }
    }

    #[test]
    fn guardrail_from_the_request_or_the_deployment_default() {
        let mut p = policy();
        let req = |guardrail: Option<Guardrail>| StreamRequest {
            prompt: Some("x".into()),
            guardrail,
            ..Default::default()
        };
        assert_eq!(p.validate(req(None)).unwrap().0.guardrail, None);
        p.default_guardrail = Some(Guardrail::new("dflt", "1"));
        assert_eq!(
            p.validate(req(None)).unwrap().0.guardrail,
            Some(Guardrail::new("dflt", "1"))
        );
        let own = Guardrail::new("mine", "DRAFT");
        assert_eq!(
            p.validate(req(Some(own.clone()))).unwrap().0.guardrail,
            Some(own)
        );
        let bad = p.validate(req(Some(Guardrail::new("mine", "v2"))));
        assert!(
            matches!(&bad, Err(ApiError::BadRequest(m)) if m.contains("guardrail version")),
            "{bad:?}"
        );
    }

    #[test]
    fn system_parts_and_a_tools_cache_point_reach_the_invocation() {
        let req: StreamRequest = serde_json::from_value(serde_json::json!({
            "prompt": "x",
            "system": [{"type":"text","text":"Rules"},{"type":"cachePoint"},{"type":"text","text":" "}],
            "tools": [{"name":"w"},{"type":"cachePoint"}]
        }))
        .unwrap();
        let (inv, _) = policy().validate(req).unwrap();
        assert_eq!(
            inv.system.parts(),
            [Content::text("Rules"), Content::CACHE_POINT].as_slice()
        );
        assert_eq!(inv.tools.len(), 1);
        assert!(inv.tools_cache_point);
        // System text counts toward the prompt limit.
        let big: StreamRequest = serde_json::from_value(serde_json::json!({
            "prompt": "x",
            "system": [{"type":"text","text":"y".repeat(2000)},{"type":"cachePoint"}]
        }))
        .unwrap();
        assert!(policy().validate(big).is_err());
        // A cache point with no tools before it marks nothing.
        let none: StreamRequest = serde_json::from_value(
            serde_json::json!({"prompt": "x", "tools": [{"type":"cachePoint"}]}),
        )
        .unwrap();
        assert!(!policy().validate(none).unwrap().0.tools_cache_point);
    }

    #[test]
    fn allow_list_narrows_models() {
        let mut p = policy();
        p.allowed = vec!["meta.llama3-8b-instruct-v1:0".into()];
        let req = StreamRequest {
            prompt: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(p.validate(req), Err(ApiError::UnknownModel(_))));
        assert_eq!(p.listed(), vec!["meta.llama3-8b-instruct-v1:0".to_owned()]);
    }
}
