//! Bedrock through `aws-sdk-bedrockruntime`: `InvokeModelWithResponseStream`
//! with per-family bodies and decoders, or `ConverseStream`; SDK errors mapped
//! to `UpstreamError`. Every upstream frame yields at least one delta
//! (`Delta::Alive` when it has nothing to show), so the idle timer counts it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
};
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ConverseTokensRequest, CountTokensInput, InvokeModelTokensRequest, PerformanceConfigLatency,
    PerformanceConfiguration, ResponseStream, ServiceTier, ServiceTierType,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};

use super::cold_gate::ColdGate;
use super::converse;
use super::http_client::{self, HttpClientError, Trust};
use super::request::{Delta, InvocationRequest};
use super::{Api, CountInput, DeltaStream, Upstream, UpstreamError, UpstreamErrorKind};

/// How throttling before the first token is retried (the SDK's standard
/// mode: exponential backoff with full jitter). Nothing is retried once the
/// stream is open: the SDK never retries inside an event stream.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl RetryPolicy {
    fn sdk(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(Duration::from_secs(5))
    }
}

/// The SDK's own stalled-stream watch is off: the session runner already
/// times the first token and every gap between frames (`SPILLWAY_*_TIMEOUT`
/// settings, with their own error codes), and the SDK's watch wraps every
/// response body in a throughput meter polled on each frame and a grace
/// timer per stream — CPU on every event for a check made twice.
fn no_stall_watch() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

/// The Bedrock runtime client: one per thread that starts streams, each with
/// its own connection pool, so a stream's upstream connection is driven on
/// the thread that serves its reader (`SPILLWAY_SERVE_THREADS`), not woken
/// from another one for every event.
pub struct BedrockUpstream {
    /// The SDK's settings; each thread's client gets its own HTTP client.
    conf: aws_sdk_bedrockruntime::Config,
    trust: Trust,
    proxy_from_env: bool,
    per_thread: Mutex<HashMap<ThreadId, Local>>,
}

/// One thread's client and the gate of its pool.
#[derive(Clone)]
struct Local {
    client: Client,
    gate: Arc<ColdGate>,
}

impl BedrockUpstream {
    /// Real Bedrock: region, credentials and `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`
    /// from the SDK's own default chain; the system's roots trusted, and the
    /// PEM certificates in `extra_ca` besides. Streams share HTTP/2
    /// connections where the endpoint offers `h2` (Bedrock does).
    pub async fn from_env(
        retry: RetryPolicy,
        extra_ca: Vec<String>,
    ) -> Result<Self, HttpClientError> {
        let trust = Trust::SystemAnd(extra_ca);
        let gate = Arc::new(ColdGate::default());
        let http = http_client::pooled(trust.clone(), true, Arc::clone(&gate))?;
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry.sdk())
            .stalled_stream_protection(no_stall_watch())
            .http_client(http)
            .load()
            .await;
        Ok(Self::new(
            aws_sdk_bedrockruntime::Config::from(&config),
            trust,
            true,
        ))
    }

    /// The simulator at `endpoint`: fixed region and dummy credentials, so no
    /// credential chain (and no instance-metadata lookup) is consulted. An
    /// `https://` endpoint is trusted by `cert_pem` (the simulator's own
    /// certificate) alone; `http://` is HTTP/1.1 in cleartext.
    pub fn for_simulator(
        endpoint: &str,
        cert_pem: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<Self, HttpClientError> {
        let trust = match cert_pem {
            Some(pem) => Trust::Only(pem.to_owned()),
            None => Trust::SystemAnd(Vec::new()),
        };
        let gate = Arc::new(ColdGate::default());
        let http = http_client::pooled(trust.clone(), false, Arc::clone(&gate))?;
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("sim", "sim", None, None, "spillway-sim"))
            .retry_config(retry.sdk())
            .stalled_stream_protection(no_stall_watch())
            .http_client(http)
            .build();
        Ok(Self::new(config, trust, false))
    }

    fn new(conf: aws_sdk_bedrockruntime::Config, trust: Trust, proxy_from_env: bool) -> Self {
        Self {
            conf,
            trust,
            proxy_from_env,
            per_thread: Mutex::default(),
        }
    }

    /// This thread's client, made on its first stream (a lock and a lookup
    /// per stream start; the threads are few and live as long as the server).
    fn local(&self) -> Local {
        let mut map = self.per_thread.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(std::thread::current().id())
            .or_insert_with(|| {
                let gate = Arc::new(ColdGate::default());
                // The same settings built one client at start-up.
                let client = match http_client::pooled(
                    self.trust.clone(),
                    self.proxy_from_env,
                    Arc::clone(&gate),
                ) {
                    Ok(http) => Client::from_conf(self.conf.to_builder().http_client(http).build()),
                    Err(e) => {
                        tracing::warn!(error = %e, "per-thread upstream client failed; sharing the first");
                        Client::from_conf(self.conf.clone())
                    }
                };
                Local { client, gate }
            })
            .clone()
    }

    async fn invoke(&self, req: &InvocationRequest) -> Result<DeltaStream, UpstreamError> {
        let family = req.family().ok_or_else(|| {
            UpstreamError::new(UpstreamErrorKind::Validation, "unknown model family")
        })?;
        let guardrail = req.guardrail.as_ref();
        let body = family
            .build_body(req)
            .and_then(|mut b| {
                if let Some(g) = guardrail {
                    g.shape_invoke_body(&mut b);
                }
                serde_json::to_vec(&b).map_err(|e| e.to_string())
            })
            .map_err(|e| UpstreamError::new(UpstreamErrorKind::Validation, e))?;
        let local = self.local();
        let probe = local.gate.enter().await;
        let out = local
            .client
            .invoke_model_with_response_stream()
            .model_id(&req.model_id)
            .content_type("application/json")
            .accept("application/json")
            .set_guardrail_identifier(guardrail.map(|g| g.id.clone()))
            .set_guardrail_version(guardrail.map(|g| g.version.clone()))
            .set_trace(guardrail.map(|g| g.invoke_trace()))
            .set_performance_config_latency(
                req.call_options
                    .latency_optimized
                    .then_some(PerformanceConfigLatency::Optimized),
            )
            .set_service_tier(
                req.call_options
                    .service_tier
                    .as_deref()
                    .map(ServiceTierType::from),
            )
            .set_request_metadata(
                req.call_options
                    .request_metadata
                    .as_ref()
                    .and_then(|m| serde_json::to_string(m).ok()),
            )
            .body(Blob::new(body))
            .send()
            .await
            .map_err(pre_stream_error)?;
        drop(probe);
        let state = Pump {
            rx: out.body,
            pending: VecDeque::new(),
            done: false,
            decoder: family.decoder(),
        };
        Ok(stream::unfold(state, |mut s| async move {
            loop {
                if let Some(d) = s.pending.pop_front() {
                    return Some((Ok(d), s));
                }
                if s.done {
                    return None;
                }
                match s.rx.recv().await {
                    Ok(Some(ResponseStream::Chunk(part))) => {
                        let bytes = part.bytes().map(|b| b.as_ref()).unwrap_or_default();
                        match s.decoder.decode(bytes) {
                            Ok(deltas) => s.push(deltas),
                            Err(e) => {
                                s.done = true;
                                let err =
                                    UpstreamError::new(UpstreamErrorKind::Decode, e.to_string());
                                return Some((Err(err), s));
                            }
                        }
                    }
                    // An event type this SDK version does not know: still a frame.
                    Ok(Some(_)) => s.push(Vec::new()),
                    Ok(None) => {
                        s.done = true;
                        let held = s.decoder.finish();
                        s.pending.extend(held);
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(invoke_stream_error(e)), s));
                    }
                }
            }
        })
        .boxed())
    }

    async fn converse(&self, req: &InvocationRequest) -> Result<DeltaStream, UpstreamError> {
        let input = converse::build(req)
            .map_err(|e| UpstreamError::new(UpstreamErrorKind::Validation, e))?;
        let local = self.local();
        let probe = local.gate.enter().await;
        let out = local
            .client
            .converse_stream()
            .model_id(&req.model_id)
            .set_messages(Some(input.messages))
            .set_system(input.system)
            .inference_config(input.inference)
            .set_tool_config(input.tool_config)
            .set_additional_model_request_fields(input.additional_fields)
            .set_additional_model_response_field_paths(input.response_field_paths)
            .set_guardrail_config(input.guardrail)
            .set_output_config(input.output_config)
            .set_performance_config(req.call_options.latency_optimized.then(|| {
                PerformanceConfiguration::builder()
                    .latency(PerformanceConfigLatency::Optimized)
                    .build()
            }))
            .set_service_tier(
                req.call_options
                    .service_tier
                    .as_deref()
                    .and_then(|t| ServiceTier::builder().r#type(t.into()).build().ok()),
            )
            .set_request_metadata(req.call_options.request_metadata.clone())
            .send()
            .await
            .map_err(pre_stream_error)?;
        drop(probe);
        let state = Pump {
            rx: out.stream,
            pending: VecDeque::new(),
            done: false,
            decoder: converse::Decoder::new(&req.stop_sequences),
        };
        Ok(stream::unfold(state, |mut s| async move {
            loop {
                if let Some(d) = s.pending.pop_front() {
                    return Some((Ok(d), s));
                }
                if s.done {
                    return None;
                }
                match s.rx.recv().await {
                    Ok(Some(ev)) => {
                        let deltas = s.decoder.deltas(ev);
                        s.push(deltas);
                    }
                    Ok(None) => {
                        s.done = true;
                        let held = s.decoder.finish();
                        s.pending.extend(held);
                    }
                    Err(e) => {
                        s.done = true;
                        return Some((Err(converse_stream_error(e)), s));
                    }
                }
            }
        })
        .boxed())
    }
}

/// One stream being read: the SDK's receiver, the deltas decoded but not yet
/// handed on, and the per-stream decoder state.
struct Pump<R, D> {
    rx: R,
    pending: VecDeque<Delta>,
    done: bool,
    decoder: D,
}

impl<R, D> Pump<R, D> {
    /// Queue one frame's deltas; a frame with none still counts as alive.
    fn push(&mut self, deltas: Vec<Delta>) {
        if deltas.is_empty() {
            self.pending.push_back(Delta::Alive);
        } else {
            self.pending.extend(deltas);
        }
    }
}

impl Upstream for BedrockUpstream {
    fn start<'a>(
        &'a self,
        req: &'a InvocationRequest,
        api: Api,
    ) -> BoxFuture<'a, Result<DeltaStream, UpstreamError>> {
        match api {
            Api::Invoke => self.invoke(req).boxed(),
            Api::Converse => self.converse(req).boxed(),
        }
    }

    fn count_tokens<'a>(
        &'a self,
        model_id: &'a str,
        input: CountInput<'a>,
    ) -> BoxFuture<'a, Result<u64, UpstreamError>> {
        self.count(model_id, input).boxed()
    }
}

impl BedrockUpstream {
    /// Bedrock's CountTokens.
    async fn count(&self, model_id: &str, input: CountInput<'_>) -> Result<u64, UpstreamError> {
        let invalid = |e: String| UpstreamError::new(UpstreamErrorKind::Validation, e);
        let input = match input {
            CountInput::Invoke(body) => CountTokensInput::InvokeModel(
                InvokeModelTokensRequest::builder()
                    .body(Blob::new(body))
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            CountInput::Converse(req) => {
                let c = converse::build(req).map_err(invalid)?;
                CountTokensInput::Converse(
                    ConverseTokensRequest::builder()
                        .set_messages(Some(c.messages))
                        .set_system(c.system)
                        .set_tool_config(c.tool_config)
                        .build(),
                )
            }
        };
        let out = self
            .local()
            .client
            .count_tokens()
            .model_id(model_id)
            .input(input)
            .send()
            .await
            .map_err(pre_stream_error)?;
        Ok(u64::try_from(out.input_tokens).unwrap_or(0))
    }
}

/// An error before the stream opened (after the SDK's own retries).
fn pre_stream_error<E, R>(err: SdkError<E, R>) -> UpstreamError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            UpstreamError::from_code(e.code(), e.message(), e.meta().request_id())
        }
        SdkError::TimeoutError(_) => {
            UpstreamError::new(UpstreamErrorKind::Unavailable, "timed out reaching Bedrock")
        }
        SdkError::DispatchFailure(d) => UpstreamError::new(
            UpstreamErrorKind::Unavailable,
            format!(
                "cannot reach Bedrock: {}",
                source_chain(
                    d.as_connector_error()
                        .map(|e| e as &(dyn std::error::Error + 'static))
                )
            ),
        ),
        _ => UpstreamError::new(
            UpstreamErrorKind::Internal,
            format!("Bedrock request failed: {}", source_chain(Some(&err))),
        ),
    }
}

fn source_chain(err: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut parts = Vec::new();
    let mut cur = err;
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.join(": ")
}

/// A mid-stream failure of `InvokeModelWithResponseStream`. The SDK leaves
/// `code()` empty for modelled stream errors, so match on the variant.
fn invoke_stream_error<R: std::fmt::Debug + 'static>(
    err: SdkError<ResponseStreamError, R>,
) -> UpstreamError {
    use UpstreamErrorKind::*;
    match err {
        SdkError::ServiceError(se) => {
            let (kind, msg) = match se.into_err() {
                ResponseStreamError::ModelStreamErrorException(e) => {
                    return UpstreamError::new(
                        ModelStreamError,
                        e.message.unwrap_or_else(|| "upstream stream error".into()),
                    )
                    .with_original(e.original_status_code, e.original_message);
                }
                ResponseStreamError::InternalServerException(e) => (Internal, e.message),
                ResponseStreamError::ValidationException(e) => (Validation, e.message),
                ResponseStreamError::ThrottlingException(e) => (Throttled, e.message),
                ResponseStreamError::ModelTimeoutException(e) => (ModelTimeout, e.message),
                ResponseStreamError::ServiceUnavailableException(e) => (Unavailable, e.message),
                other => (Internal, other.message().map(str::to_owned)),
            };
            UpstreamError::from_bedrock(
                kind,
                msg.as_deref().unwrap_or("upstream stream error"),
                None,
            )
        }
        other => stream_transport_error(&other),
    }
}

fn converse_stream_error<R: std::fmt::Debug + 'static>(
    err: SdkError<ConverseStreamOutputError, R>,
) -> UpstreamError {
    use UpstreamErrorKind::*;
    match err {
        SdkError::ServiceError(se) => {
            let (kind, msg) = match se.into_err() {
                ConverseStreamOutputError::ModelStreamErrorException(e) => {
                    return UpstreamError::new(
                        ModelStreamError,
                        e.message.unwrap_or_else(|| "upstream stream error".into()),
                    )
                    .with_original(e.original_status_code, e.original_message);
                }
                ConverseStreamOutputError::InternalServerException(e) => (Internal, e.message),
                ConverseStreamOutputError::ValidationException(e) => (Validation, e.message),
                ConverseStreamOutputError::ThrottlingException(e) => (Throttled, e.message),
                ConverseStreamOutputError::ServiceUnavailableException(e) => {
                    (Unavailable, e.message)
                }
                other => (Internal, other.message().map(str::to_owned)),
            };
            UpstreamError::from_bedrock(
                kind,
                msg.as_deref().unwrap_or("upstream stream error"),
                None,
            )
        }
        other => stream_transport_error(&other),
    }
}

/// A cut connection or a broken frame: not a clean end.
fn stream_transport_error<E, R>(err: &SdkError<E, R>) -> UpstreamError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    UpstreamError::new(
        UpstreamErrorKind::ConnectionDropped,
        format!("upstream stream broke off: {}", source_chain(Some(err))),
    )
}
