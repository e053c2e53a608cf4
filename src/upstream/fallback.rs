//! Fallback before the first token: when the requested model's stream cannot
//! start — throttled past its retries, `ServiceUnavailableException`,
//! `ModelNotReadyException` — the models of `SPILLWAY_FALLBACK_MODELS` are
//! tried in order, and the first that starts answers. Nothing falls back once
//! a stream has started: its first token may already be with a client.
//!
//! [`Fallback`] wraps the upstream and says which model answered
//! ([`Upstream::start_answering`]); the hub names the session after it, so the
//! final event's `model` is the model that answered.
//!
//! Rules:
//! - A fallback model must be a known model (a recognised family, or an
//!   application-inference-profile ARN) and, when `SPILLWAY_ALLOWED_MODELS`
//!   is set, listed there (an ARN always must be); start-up fails otherwise.
//! - The request goes to a fallback as it is, with that model's id, by the
//!   API a request naming none would take (`request::pick_api`: the family's
//!   body, or Converse when only Converse carries its tools, images or
//!   documents for that model); it is skipped if the request does not fit it
//!   there (parts or a reasoning budget the model cannot take), and a model
//!   equal to the requested one is skipped.
//! - A request that carries the client's own InvokeModel body (the Bedrock and
//!   Anthropic drop-in APIs, `raw_body`) falls back only to models of the same
//!   family, through InvokeModel: that body fits no other family. So does
//!   one with a Converse client's own `additionalModelRequestFields`
//!   (`converse_fields`), through ConverseStream.
//! - A fallback attempt that fails, for any reason, moves on to the next. If
//!   none starts, the error is the requested model's, naming what was tried.
//! - An exception that arrives as a started stream's first frame is not a
//!   fallback case: by then the client has its `200` and the session's
//!   headers, and the first-token timeout is already running.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::model_id::ModelRef;
use super::{
    Api, CountInput, DeltaStream, InvocationRequest, Started, Upstream, UpstreamError,
    UpstreamErrorKind,
};
use crate::metrics::Metrics;
use crate::parts::validate;

/// A `SPILLWAY_FALLBACK_MODELS` entry the gateway cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackConfigError {
    #[error(
        "SPILLWAY_FALLBACK_MODELS: '{0}' is not a known model (no known model family, and not an application-inference-profile ARN)"
    )]
    Unknown(String),
    #[error("SPILLWAY_FALLBACK_MODELS: '{0}' is not in SPILLWAY_ALLOWED_MODELS; list it there too")]
    NotAllowed(String),
    #[error(
        "SPILLWAY_FALLBACK_MODELS: '{0}' is an application-inference-profile ARN; list it in SPILLWAY_ALLOWED_MODELS too"
    )]
    ProfileNotListed(String),
}

/// Check the configured fallback models against what requests may name.
pub fn check(models: &[String], allowed: &[String]) -> Result<(), FallbackConfigError> {
    for model in models.iter().filter(|m| !m.is_empty()) {
        let Some(r) = ModelRef::parse(model) else {
            return Err(FallbackConfigError::Unknown(model.clone()));
        };
        let listed = allowed.iter().any(|a| a == model);
        if r.needs_listing() && !listed {
            return Err(FallbackConfigError::ProfileNotListed(model.clone()));
        }
        if !allowed.is_empty() && !listed {
            return Err(FallbackConfigError::NotAllowed(model.clone()));
        }
    }
    Ok(())
}

/// Whether an error before the stream means "try another model".
pub fn falls_back(err: &UpstreamError) -> bool {
    matches!(
        err.kind,
        UpstreamErrorKind::Throttled
            | UpstreamErrorKind::Unavailable
            | UpstreamErrorKind::ModelNotReady
    )
}

/// The upstream, with fallback models.
pub struct Fallback {
    upstream: Arc<dyn Upstream>,
    models: Vec<String>,
    metrics: Arc<Metrics>,
}

impl Fallback {
    /// `upstream` with `models` to fall back to (checked with [`check`]);
    /// `upstream` itself when there are none.
    pub fn wrap(
        upstream: Arc<dyn Upstream>,
        models: &[String],
        metrics: Arc<Metrics>,
    ) -> Arc<dyn Upstream> {
        let models: Vec<String> = models.iter().filter(|m| !m.is_empty()).cloned().collect();
        if models.is_empty() {
            return upstream;
        }
        Arc::new(Self {
            upstream,
            models,
            metrics,
        })
    }

    async fn answer(&self, req: &InvocationRequest, api: Api) -> Result<Started, UpstreamError> {
        let first = match self.upstream.start(req, api).await {
            Ok(stream) => return Ok(Started::by(&req.model_id, stream)),
            Err(e) if falls_back(&e) => e,
            Err(e) => return Err(e),
        };
        let from = req.model_id.as_str();
        let mut tried = Vec::new();
        for to in self.models.iter().filter(|m| *m != from) {
            let (alt, alt_api) = match retarget(req, api, to) {
                Ok(r) => r,
                Err(why) => {
                    tracing::info!(from, to = %to, why, "fallback model skipped");
                    tried.push(format!("{to} skipped: {why}"));
                    continue;
                }
            };
            match self.upstream.start(&alt, alt_api).await {
                Ok(stream) => {
                    self.metrics.upstream_error(first.code());
                    self.metrics.fallback(from, to);
                    tracing::warn!(from, to = %to, reason = first.code(), error = %first, "fallback model answers");
                    return Ok(Started::by(to, stream));
                }
                Err(e) => {
                    self.metrics.upstream_error(e.code());
                    tracing::warn!(from, to = %to, error = %e, code = e.code(), "fallback model could not start either");
                    tried.push(format!("{to}: {}", e.code()));
                }
            }
        }
        if tried.is_empty() {
            return Err(first);
        }
        Err(UpstreamError::new(
            first.kind,
            format!(
                "{} (fallback models tried: {})",
                first.message,
                tried.join("; ")
            ),
        ))
    }
}

/// `req` aimed at `model` instead, and the API that serves it there; or why
/// it cannot go there.
fn retarget(
    req: &InvocationRequest,
    api: Api,
    model: &str,
) -> Result<(InvocationRequest, Api), String> {
    let target = ModelRef::parse(model).ok_or("not a known model")?;
    let target_api = target.api(api);
    let from = req.family();
    if req.raw_body.is_some()
        && api == Api::Invoke
        && (target_api != Api::Invoke || target.family() != from)
    {
        return Err(format!(
            "the request carries its own {} InvokeModel body",
            from.map_or("model", |f| f.name())
        ));
    }
    if req.converse_fields.is_some()
        && api == Api::Converse
        && (target_api != Api::Converse || target.family() != from)
    {
        return Err(format!(
            "the request carries its own {} additionalModelRequestFields",
            from.map_or("model", |f| f.name())
        ));
    }
    // A request without a body of its own goes to the fallback the way a
    // request naming no API would: its family's body, or Converse when only
    // Converse takes what the conversation carries (a Llama's tools).
    let target_api = if req.raw_body.is_some() {
        target_api
    } else {
        let needs =
            crate::request::Needs::of(&req.turns, &req.tools, &req.system, &req.output_config);
        crate::request::pick_api(None, api, target, model, &req.turns, needs)
    };
    validate::check(
        &req.turns,
        &req.tools,
        &req.tool_choice,
        req.reasoning_budget,
        target.target(model, model, target_api),
    )?;
    let mut alt = req.clone();
    alt.model_id = model.to_owned();
    alt.family = target.family();
    Ok((alt, target_api))
}

impl Upstream for Fallback {
    fn start<'a>(
        &'a self,
        req: &'a InvocationRequest,
        api: Api,
    ) -> BoxFuture<'a, Result<DeltaStream, UpstreamError>> {
        self.answer(req, api).map(|r| r.map(|s| s.stream)).boxed()
    }

    fn start_answering<'a>(
        &'a self,
        req: &'a InvocationRequest,
        api: Api,
    ) -> BoxFuture<'a, Result<Started, UpstreamError>> {
        self.answer(req, api).boxed()
    }

    /// Counted by the requested model only: another model's count is not this one's.
    fn count_tokens<'a>(
        &'a self,
        model_id: &'a str,
        input: CountInput<'a>,
    ) -> BoxFuture<'a, Result<u64, UpstreamError>> {
        self.upstream.count_tokens(model_id, input)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::StreamExt;

    use super::*;
    use crate::parts::Tool;
    use crate::upstream::request::{Role, Turn};

    const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const SONNET: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
    const NOVA: &str = "amazon.nova-lite-v1:0";
    const TITAN: &str = "amazon.titan-text-express-v1";
    const LLAMA: &str = "us.meta.llama3-2-90b-instruct-v1:0";
    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";

    fn req(model: &str) -> InvocationRequest {
        InvocationRequest {
            model_id: model.into(),
            turns: vec![Turn::text_turn(Role::User, "hi")],
            max_tokens: Some(64),
            ..Default::default()
        }
    }

    /// Fails models in `failing` with their kind; records every start as (model, api).
    struct Scripted {
        failing: Vec<(&'static str, UpstreamErrorKind)>,
        calls: Mutex<Vec<(String, Api)>>,
    }

    impl Upstream for Scripted {
        fn start<'a>(
            &'a self,
            req: &'a InvocationRequest,
            api: Api,
        ) -> BoxFuture<'a, Result<DeltaStream, UpstreamError>> {
            self.calls.lock().unwrap().push((req.model_id.clone(), api));
            let failure = self.failing.iter().find(|(m, _)| *m == req.model_id);
            let result = match failure {
                Some((_, kind)) => Err(UpstreamError::new(
                    *kind,
                    format!("{} failed", req.model_id),
                )),
                None => Ok(futures_util::stream::empty().boxed()),
            };
            futures_util::future::ready(result).boxed()
        }
    }

    fn fallback(
        failing: Vec<(&'static str, UpstreamErrorKind)>,
        models: &[&str],
    ) -> (Arc<Scripted>, Arc<dyn Upstream>, Arc<Metrics>) {
        let scripted = Arc::new(Scripted {
            failing,
            calls: Mutex::new(Vec::new()),
        });
        let metrics = Metrics::new();
        let models: Vec<String> = models.iter().map(|m| (*m).to_owned()).collect();
        let up = Fallback::wrap(scripted.clone(), &models, metrics.clone());
        (scripted, up, metrics)
    }

    #[tokio::test]
    async fn each_cannot_start_kind_falls_back_in_order() {
        use UpstreamErrorKind::*;
        for kind in [Throttled, Unavailable, ModelNotReady] {
            let (s, up, metrics) = fallback(vec![(CLAUDE, kind), (SONNET, kind)], &[SONNET, NOVA]);
            let started = up.start_answering(&req(CLAUDE), Api::Invoke).await.unwrap();
            assert_eq!(started.model, NOVA, "{kind:?}");
            let calls: Vec<String> = s
                .calls
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.0.clone())
                .collect();
            assert_eq!(calls, [CLAUDE, SONNET, NOVA]);
            let text = metrics.render();
            assert!(
                text.contains(&format!(
                    "spillway_fallbacks_total{{from=\"{CLAUDE}\",to=\"{NOVA}\"}} 1"
                )),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn other_errors_and_successes_do_not_fall_back() {
        use UpstreamErrorKind::*;
        for kind in [Validation, AccessDenied, NotFound, ModelError, Internal] {
            let (s, up, _) = fallback(vec![(CLAUDE, kind)], &[NOVA]);
            let err = up
                .start_answering(&req(CLAUDE), Api::Invoke)
                .await
                .err()
                .unwrap();
            assert_eq!(err.kind, kind);
            assert_eq!(s.calls.lock().unwrap().len(), 1, "{kind:?}");
        }
        let (_, up, _) = fallback(vec![], &[NOVA]);
        let started = up.start_answering(&req(CLAUDE), Api::Invoke).await.unwrap();
        assert_eq!(started.model, CLAUDE);
    }

    #[tokio::test]
    async fn exhausted_fallbacks_keep_the_first_error_and_name_what_was_tried() {
        use UpstreamErrorKind::*;
        let (_, up, _) = fallback(
            vec![(CLAUDE, Unavailable), (NOVA, Throttled)],
            &[CLAUDE, NOVA],
        );
        let err = up
            .start_answering(&req(CLAUDE), Api::Invoke)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind, Unavailable);
        assert!(
            err.message.starts_with(&format!("{CLAUDE} failed")),
            "{err}"
        );
        assert!(err.message.contains(&format!("{NOVA}: throttled")), "{err}");
        // The requested model is not tried twice.
        assert!(!err.message.contains(&format!("{CLAUDE}:")), "{err}");
    }

    #[tokio::test]
    async fn no_models_means_the_upstream_as_it_is() {
        let (s, up, _) = fallback(vec![(CLAUDE, UpstreamErrorKind::Unavailable)], &[]);
        assert!(up.start_answering(&req(CLAUDE), Api::Invoke).await.is_err());
        assert_eq!(s.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn profiles_answer_through_converse() {
        let (s, up, _) = fallback(vec![(CLAUDE, UpstreamErrorKind::Unavailable)], &[PROFILE]);
        let started = up.start_answering(&req(CLAUDE), Api::Invoke).await.unwrap();
        assert_eq!(started.model, PROFILE);
        assert_eq!(
            s.calls.lock().unwrap()[1],
            (PROFILE.to_owned(), Api::Converse)
        );
    }

    #[test]
    fn a_drop_in_body_falls_back_only_within_its_family() {
        let mut r = req(CLAUDE);
        r.raw_body = Some(serde_json::json!({"anthropic_version": "bedrock-2023-05-31"}));
        assert!(retarget(&r, Api::Invoke, SONNET).is_ok());
        for other in [NOVA, PROFILE] {
            let why = retarget(&r, Api::Invoke, other).err().unwrap();
            assert!(why.contains("anthropic-claude InvokeModel body"), "{why}");
        }
        // Converse ignores the body: any model that takes the request will do.
        assert_eq!(retarget(&r, Api::Converse, NOVA).unwrap().1, Api::Converse);
    }

    #[test]
    fn converse_fields_fall_back_only_within_their_family() {
        let mut r = req(CLAUDE);
        r.converse_fields = serde_json::json!({"top_k": 5}).as_object().cloned();
        assert!(retarget(&r, Api::Converse, SONNET).is_ok());
        let why = retarget(&r, Api::Converse, NOVA).err().unwrap();
        assert!(
            why.contains("anthropic-claude additionalModelRequestFields"),
            "{why}"
        );
        // InvokeModel ignores them.
        assert!(retarget(&r, Api::Invoke, NOVA).is_ok());
    }

    #[test]
    fn a_model_that_cannot_take_the_request_is_skipped() {
        let mut r = req(CLAUDE);
        r.tools = vec![Tool {
            name: "lookup".into(),
            description: None,
            input_schema: Tool::empty_schema(),
            strict: None,
        }];
        let why = retarget(&r, Api::Invoke, TITAN).err().unwrap();
        assert!(why.contains("cannot take tools"), "{why}");
        // A Llama takes tools through Converse only: the fallback goes there.
        let (alt, api) = retarget(&r, Api::Invoke, LLAMA).unwrap();
        assert_eq!((alt.model_id.as_str(), api), (LLAMA, Api::Converse));
        let (alt, api) = retarget(&r, Api::Invoke, NOVA).unwrap();
        assert_eq!((alt.model_id.as_str(), api), (NOVA, Api::Invoke));
        assert_eq!(alt.tools, r.tools);
        // A drop-in body keeps its API, so it still cannot go to a Llama.
        r.raw_body = Some(serde_json::json!({"anthropic_version": "bedrock-2023-05-31"}));
        assert!(retarget(&r, Api::Invoke, LLAMA).is_err());
    }

    #[test]
    fn configured_models_must_be_known_and_allowed() {
        let s = |v: &[&str]| v.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        assert_eq!(check(&s(&[NOVA, TITAN]), &[]), Ok(()));
        assert_eq!(
            check(&s(&["openai.gpt-oss-120b-1:0"]), &[]),
            Err(FallbackConfigError::Unknown(
                "openai.gpt-oss-120b-1:0".into()
            ))
        );
        assert_eq!(
            check(&s(&[NOVA]), &s(&[CLAUDE])),
            Err(FallbackConfigError::NotAllowed(NOVA.into()))
        );
        assert_eq!(
            check(&s(&[PROFILE]), &[]),
            Err(FallbackConfigError::ProfileNotListed(PROFILE.into()))
        );
        assert_eq!(check(&s(&[PROFILE]), &s(&[CLAUDE, PROFILE])), Ok(()));
        let msg = FallbackConfigError::Unknown("x".into()).to_string();
        assert!(
            msg.starts_with("SPILLWAY_FALLBACK_MODELS: 'x' is not a known model"),
            "{msg}"
        );
    }
}
