//! The GraphQL schema: the AppSync sample's types and operations, extended
//! without breaking them, and thin resolvers over the hub.
//!
//! Every operation runs with the caller's `Principal` and the `AppState` in
//! its request data (put there by the HTTP handler or by the WebSocket
//! protocol after `connection_init`). Users see only their own sessions (the
//! hub's `Access` rule; the admin group may `publishToken` but reads and
//! cancels only its own sessions). A session that a caller may not see is
//! reported exactly like one that does not exist, at the same time.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{
    Context, Enum, Error, ErrorExtensions, InputObject, Object, Result, SimpleObject,
};
use futures_util::{Stream, StreamExt};

use super::guardrail::GuardrailInput;
use super::parts::{GqlPart, PartInput, ToolInput};
use super::shared::{RenderGroups, RequestKey, SharedTokenEvent};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::event::{TokenEvent, now_timestamp};
use crate::hub::external::PublishError;
use crate::hub::{Access, LookupError, Publish, SessionInfo, Subscription};
use crate::parts::{Content, JsonFormat, OutputConfig, ToolChoice, ToolList};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::state::AppState;
use crate::upstream::Api;
use crate::upstream::request::{Role, Turn};

/// The served schema.
pub type GqlSchema = async_graphql::Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// How long `cancelStream` waits for the final event before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// An error with `extensions.code` (the same codes as the HTTP API's `error.code`).
fn coded(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A failed lookup, with the same code as over HTTP (`not_found`, `cursor_past_end`).
fn lookup_error(e: LookupError) -> Error {
    coded(e.code(), e.to_string())
}

/// An error that also says whether a retry may succeed (`extensions.retryable`).
fn api_error(e: ApiError) -> Error {
    let code = e.error_code();
    Error::new(e.to_string()).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        ext.set("retryable", code.retryable());
    })
}

fn publish_error(e: PublishError) -> Error {
    coded(e.error_code(), e.to_string())
}

/// The caller and the app, from the request data.
fn caller<'a>(ctx: &Context<'a>) -> Result<(&'a Principal, &'a AppState)> {
    let principal = ctx
        .data_opt::<Principal>()
        .ok_or_else(|| coded(ErrorCode::MissingToken, "missing bearer token"))?;
    let state = ctx
        .data_opt::<AppState>()
        .ok_or_else(|| coded(ErrorCode::Internal, "the gateway is misconfigured"))?;
    Ok((principal, state))
}

/// Returned by `startStream` (the AppSync sample's type, plus `model`).
#[derive(SimpleObject)]
pub struct StreamResponse {
    pub session_id: String,
    /// `streaming`, `complete`, `failed` or `cancelled`.
    pub status: String,
    pub message: Option<String>,
    pub timestamp: String,
    pub error: Option<String>,
    /// The Bedrock model serving the session.
    pub model: Option<String>,
}

/// Token counts of a finished session.
#[derive(SimpleObject)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens read from Bedrock's prompt cache, when reported.
    pub cache_read_input_tokens: Option<u64>,
    /// Prompt tokens written to Bedrock's prompt cache, when reported.
    pub cache_write_input_tokens: Option<u64>,
    /// What the tokens cost in USD, when the model has a price.
    pub cost_usd: Option<f64>,
}

impl From<crate::upstream::Usage> for Usage {
    fn from(u: crate::upstream::Usage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
            cache_write_input_tokens: u.cache_write_input_tokens,
            cost_usd: u.cost_usd,
        }
    }
}

/// Why a session ended badly.
#[derive(SimpleObject)]
pub struct EventError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl From<&crate::event::EventError> for EventError {
    fn from(e: &crate::event::EventError) -> Self {
        Self {
            code: e.code.clone(),
            message: e.message.clone(),
            retryable: e.retryable,
        }
    }
}

/// One entry of a session's log (the AppSync sample's type, plus `seq`,
/// `stopReason`, `usage` and `error`). The last event has `isComplete: true`,
/// an empty `token`, and `stopReason` + `usage` or `error`.
pub struct GqlTokenEvent(pub Arc<TokenEvent>);

#[Object(name = "TokenEvent")]
impl GqlTokenEvent {
    async fn session_id(&self) -> &str {
        &self.0.session_id
    }

    async fn token(&self) -> &str {
        &self.0.token
    }

    async fn is_complete(&self) -> bool {
        self.0.is_complete
    }

    async fn timestamp(&self) -> &str {
        &self.0.timestamp
    }

    /// Position in the session's log, from 0; the resume cursor (`after`).
    async fn seq(&self) -> u64 {
        self.0.seq
    }

    async fn stop_reason(&self) -> Option<&str> {
        self.0.stop_reason.as_deref()
    }

    /// The stop sequence the model reached, when `stopReason` is
    /// `stop_sequence` and the model said which (final event only).
    async fn stop_sequence(&self) -> Option<&str> {
        self.0.stop_sequence.as_deref()
    }

    async fn usage(&self) -> Option<Usage> {
        self.0.usage.map(Usage::from)
    }

    /// The model that answered (final event only; after a fallback, not
    /// the one the request named).
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }

    async fn error(&self) -> Option<EventError> {
        self.0.error.as_ref().map(EventError::from)
    }

    /// What a non-text event carries (reasoning, a tool call, …); `token` is then empty.
    async fn part(&self) -> Option<GqlPart> {
        self.0.part.as_deref().map(GqlPart::from)
    }
}

/// A session: its status and the text so far.
#[derive(SimpleObject)]
#[graphql(name = "Session")]
pub struct GqlSession {
    pub session_id: String,
    /// `streaming`, `complete`, `failed` or `cancelled`.
    pub status: String,
    pub model: String,
    pub created_at: String,
    pub text: String,
    /// The answer as request-shaped parts (a JSON string): append it as the
    /// assistant turn of a next request.
    pub content: String,
    /// Events in the log so far.
    pub events: u64,
    pub stop_reason: Option<String>,
    pub usage: Option<Usage>,
    pub error: Option<EventError>,
}

impl From<SessionInfo> for GqlSession {
    fn from(i: SessionInfo) -> Self {
        Self {
            session_id: i.session_id.to_string(),
            status: i.status.as_str().to_owned(),
            model: i.model,
            created_at: i.created_at,
            text: i.text,
            content: serde_json::to_string(&i.content).unwrap_or_else(|_| "[]".into()),
            events: i.events,
            stop_reason: i.stop_reason,
            usage: i.usage.map(Usage::from),
            error: i.error.as_ref().map(EventError::from),
        }
    }
}

/// Which Bedrock API serves a stream.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BedrockApi {
    /// `InvokeModelWithResponseStream` with the model family's own body.
    Invoke,
    /// `ConverseStream`.
    Converse,
}

impl From<BedrockApi> for Api {
    fn from(a: BedrockApi) -> Self {
        match a {
            BedrockApi::Invoke => Api::Invoke,
            BedrockApi::Converse => Api::Converse,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum MessageRole {
    User,
    Assistant,
}

/// An earlier turn of the conversation; `prompt` is the last user turn.
/// `content` is its text; `parts` (images, tool calls and results, replayed
/// reasoning) follow it.
#[derive(InputObject)]
pub struct MessageInput {
    pub role: MessageRole,
    pub content: Option<String>,
    pub parts: Option<Vec<PartInput>>,
}

impl TryFrom<MessageInput> for Turn {
    type Error = String;

    fn try_from(m: MessageInput) -> std::result::Result<Self, String> {
        let mut content: Vec<Content> = m.content.map(Content::text).into_iter().collect();
        for p in m.parts.unwrap_or_default() {
            content.push(p.into_content()?);
        }
        Ok(Turn {
            role: match m.role {
                MessageRole::User => Role::User,
                MessageRole::Assistant => Role::Assistant,
            },
            content,
        })
    }
}

/// Which tools the model may call: `AUTO` (default), `ANY` (some tool),
/// `NONE`; `toolName` on `startStream` forces one.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoiceMode {
    Auto,
    Any,
    None,
}

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// A session you own; null with a `not_found` error otherwise. Costs
    /// 100 of an operation's complexity limit of 500, so an operation looks
    /// up at most four sessions.
    // So aliases cannot make one request hundreds of lookups (in a fleet
    // each may be a registry read): `SESSION_LOOKUP_COMPLEXITY`.
    #[graphql(complexity = "super::SESSION_LOOKUP_COMPLEXITY + child_complexity")]
    async fn session(&self, ctx: &Context<'_>, session_id: String) -> Result<Option<GqlSession>> {
        let (principal, state) = caller(ctx)?;
        let s = state
            .hub
            .find(&session_id, &Access::user(principal))
            .await
            .map_err(lookup_error)?;
        Ok(Some(s.info().into()))
    }

    /// The models `startStream` may name.
    async fn models(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let (_, state) = caller(ctx)?;
        Ok(state.models.listed())
    }
}

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Start a stream and return at once with its session id; subscribe to
    /// `onTokenReceived(sessionId)` for the tokens (every one, from seq 0,
    /// even those produced before the subscription starts). Nobody reading
    /// for the cancel grace period cancels the stream.
    #[expect(clippy::too_many_arguments, reason = "one argument per GraphQL option")]
    async fn start_stream(
        &self,
        ctx: &Context<'_>,
        prompt: String,
        model: Option<String>,
        system: Option<String>,
        messages: Option<Vec<MessageInput>>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        stop_sequences: Option<Vec<String>>,
        api: Option<BedrockApi>,
        tools: Option<Vec<ToolInput>>,
        tool_choice: Option<ToolChoiceMode>,
        #[graphql(desc = "Force a call of this tool.")] tool_name: Option<String>,
        #[graphql(desc = "Turn on extended thinking with this token budget.")]
        reasoning_budget_tokens: Option<u32>,
        guardrail: Option<GuardrailInput>,
        #[graphql(desc = "System prompt parts after `system`: `text` and `cachePoint` only.")]
        system_parts: Option<Vec<PartInput>>,
        #[graphql(desc = "A prompt-cache checkpoint after `tools`.")] tools_cache_point: Option<
            bool,
        >,
        #[graphql(
            desc = "Structured output: a JSON Schema (as JSON text) the answer's text follows."
        )]
        output_schema: Option<String>,
        #[graphql(
            desc = "How much effort the model puts in (`low` … `max`), as Bedrock names it."
        )]
        output_effort: Option<String>,
    ) -> Result<StreamResponse> {
        let (principal, state) = caller(ctx)?;
        let bad = |e: String| api_error(ApiError::BadRequest(e));
        let messages = messages
            .unwrap_or_default()
            .into_iter()
            .map(Turn::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        let tools = tools
            .unwrap_or_default()
            .into_iter()
            .map(ToolInput::into_tool)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        let system = super::parts::system_prompt(system, system_parts).map_err(bad)?;
        let tool_choice = match (tool_name, tool_choice) {
            (Some(name), _) => ToolChoice::Tool(name),
            (None, Some(ToolChoiceMode::Any)) => ToolChoice::Any,
            (None, Some(ToolChoiceMode::None)) => ToolChoice::None,
            (None, _) => ToolChoice::Auto,
        };
        let req = StreamRequest {
            prompt: Some(prompt),
            model,
            system,
            messages,
            max_tokens,
            temperature,
            top_p,
            stop_sequences: stop_sequences.unwrap_or_default(),
            api: api.map(Api::from),
            tools: ToolList::new(tools, tools_cache_point.unwrap_or(false)),
            tool_choice,
            parallel_tool_calls: None,
            reasoning: reasoning_budget_tokens
                .map(|budget_tokens| ReasoningRequest { budget_tokens }),
            guardrail: guardrail.map(Into::into),
            output_config: OutputConfig {
                format: output_schema
                    .map(|s| {
                        serde_json::from_str(&s)
                            .map(|schema| JsonFormat {
                                schema,
                                name: None,
                                description: None,
                            })
                            .map_err(|e| format!("outputSchema is not JSON: {e}"))
                    })
                    .transpose()
                    .map_err(bad)?,
                effort: output_effort,
            },
        };
        let (inv, api) = state.models.validate(req).map_err(api_error)?;
        let sub = state
            .hub
            .start(&principal.sub, inv, api)
            .await
            .map_err(|e| api_error(e.into()))?;
        let session = sub.session().clone();
        // Nobody reads through this handle: the cancel grace starts now, and
        // the client's `onTokenReceived` (from seq 0) stops it.
        drop(sub);
        tracing::info!(session = %session.id(), user = %principal.sub, model = %session.model(), "graphql stream started");
        Ok(StreamResponse {
            session_id: session.id().to_string(),
            status: session.status().as_str().to_owned(),
            message: Some("subscribe to onTokenReceived(sessionId) for the tokens".into()),
            timestamp: now_timestamp(),
            error: None,
            model: Some(session.model().to_owned()),
        })
    }

    /// Feed a session from an outside producer (admin group only), creating
    /// it if it does not exist — owned by `owner` (default: the caller), who
    /// may then subscribe to it. `isComplete: true` appends the final event
    /// (after `token`, if not empty) and returns it.
    async fn publish_token(
        &self,
        ctx: &Context<'_>,
        session_id: String,
        token: String,
        is_complete: bool,
        owner: Option<String>,
    ) -> Result<GqlTokenEvent> {
        let (principal, state) = caller(ctx)?;
        if !principal.in_group(&state.admin_group) {
            return Err(coded(
                ErrorCode::Forbidden,
                "publishToken is reserved to the admin group",
            ));
        }
        let owner = owner.unwrap_or_else(|| principal.sub.clone());
        let ev = state
            .hub
            .publish_anywhere(Publish {
                id: session_id,
                owner,
                token,
                is_complete,
            })
            .await
            .map_err(publish_error)?;
        Ok(GqlTokenEvent(ev))
    }

    /// Stop a session you own now (its upstream Bedrock call is cancelled)
    /// and return its final state.
    async fn cancel_stream(&self, ctx: &Context<'_>, session_id: String) -> Result<GqlSession> {
        let (principal, state) = caller(ctx)?;
        let s = state
            .hub
            .find(&session_id, &Access::user(principal))
            .await
            .map_err(lookup_error)?;
        s.cancel();
        // The upstream task writes the final event as soon as it sees the cancel.
        let _ = tokio::time::timeout(CANCEL_WAIT, s.finished()).await;
        Ok(s.info().into())
    }
}

pub struct SubscriptionRoot;

#[async_graphql::Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every event of a session you own from seq 0 (or after `after`), then
    /// live ones; completes after the final event. A session id not known
    /// yet is waited for (`SPILLWAY_GRAPHQL_SESSION_WAIT_SECS`, 30 s), woken
    /// by its creation; one you may not see waits the same and gets the
    /// same `not_found`. `after` past the end of a finished log: `cursor_past_end`.
    async fn on_token_received(
        &self,
        ctx: &Context<'_>,
        session_id: String,
        after: Option<i64>,
    ) -> Result<impl Stream<Item = Option<SharedTokenEvent>> + use<>> {
        let (principal, state) = caller(ctx)?;
        let from = match after {
            None => 0,
            Some(a) if a >= -1 => u64::try_from(a.saturating_add(1)).unwrap_or(0),
            Some(_) => return Err(coded(ErrorCode::BadRequest, "after must be -1 or more")),
        };
        let session = state
            .hub
            .wait_for(
                &session_id,
                &Access::user(principal),
                state.hub.session_wait(),
            )
            .await
            .map_err(lookup_error)?;
        let sub = Subscription::new(session, from).map_err(lookup_error)?;
        // Identical requests (over WebSocket) resolve each event once.
        let group = ctx
            .data_opt::<RequestKey>()
            .zip(ctx.data_opt::<RenderGroups>())
            .map(|(key, groups)| groups.join(key));
        Ok(state
            .metrics
            .counted("graphql", sub.into_stream())
            .map(move |event| {
                Some(SharedTokenEvent {
                    event,
                    group: group.clone(),
                })
            }))
    }
}

/// The schema, with the limits that keep hostile queries cheap while the
/// standard introspection query (depth 13) still passes, and at most one
/// upstream call per operation (`limits::OneUpstreamCall`), over every
/// transport that executes it.
pub fn build() -> GqlSchema {
    async_graphql::Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(RenderGroups::default())
        .limit_depth(super::MAX_DEPTH)
        .limit_complexity(super::MAX_COMPLEXITY)
        .limit_recursive_depth(super::MAX_RECURSIVE_DEPTH)
        .limit_directives(super::MAX_DIRECTIVES)
        .extension(super::limits::OneUpstreamCall)
        .finish()
}
