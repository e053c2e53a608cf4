//! The span of one session, after the OpenTelemetry GenAI semantic
//! conventions: `chat MODEL`, kind CLIENT, started when the gateway asks
//! Bedrock and ended when the session's final event is written.
//!
//! The hub makes one with [`SessionSpan::start`] and ends it with
//! [`SessionSpan::end`] (or [`SessionSpan::refused`] when the stream never
//! started). Ending it also records the session's GenAI metrics
//! ([`super::gen_ai_metrics`]) when those are exported. With traces and
//! metrics off the value is empty: nothing is allocated and both calls
//! return at once.

use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SdkTracer, Span};

use super::gen_ai_metrics::{self, Operation};
use super::{otel, trace_context};
use crate::hub::Session;
use crate::hub::runner::Ran;
use crate::upstream::{InvocationRequest, UpstreamError, Usage};

/// `gen_ai.provider.name` (and the older `gen_ai.system`) of every session.
pub const PROVIDER: &str = "aws.bedrock";

/// One session's span (when traces are exported) and what its metrics
/// need (when those are).
pub struct SessionSpan {
    span: Option<Span>,
    /// When Bedrock was called, and the model asked for.
    metered: Option<(Instant, String)>,
}

impl SessionSpan {
    /// Start the span of session `id` for `owner`, the child of the trace the
    /// request came with (`traceparent`), if any.
    pub fn start(id: &str, owner: &str, req: &InvocationRequest) -> Self {
        let mut this = match otel::tracer() {
            Some(tracer) => Self::start_with(tracer, trace_context::current(), id, owner, req),
            None => Self {
                span: None,
                metered: None,
            },
        };
        if gen_ai_metrics::get().is_some() {
            this.metered = Some((Instant::now(), req.model_id.clone()));
        }
        this
    }

    fn start_with(
        tracer: &SdkTracer,
        parent: Option<Context>,
        id: &str,
        owner: &str,
        req: &InvocationRequest,
    ) -> Self {
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", PROVIDER),
            KeyValue::new("gen_ai.system", PROVIDER),
            KeyValue::new("gen_ai.request.model", req.model_id.clone()),
            // Bedrock is always asked for a stream (ConverseStream,
            // InvokeModelWithResponseStream), whatever the client asked for.
            KeyValue::new("gen_ai.request.stream", true),
            KeyValue::new("spillway.session_id", id.to_owned()),
            KeyValue::new("enduser.id", owner.to_owned()),
            KeyValue::new("user.id", owner.to_owned()),
        ];
        if !req.stop_sequences.is_empty() {
            let stops = req.stop_sequences.iter().cloned().map(StringValue::from);
            attributes.push(KeyValue::new(
                "gen_ai.request.stop_sequences",
                Value::Array(Array::String(stops.collect())),
            ));
        }
        if req.output_config.format.is_some() {
            attributes.push(KeyValue::new("gen_ai.output.type", "json"));
        }
        if let Some(guardrail) = &req.guardrail {
            attributes.push(KeyValue::new(
                "aws.bedrock.guardrail.id",
                guardrail.id.clone(),
            ));
        }
        // Only a ceiling the request named (a family body's stand-in is not one).
        if let Some(n) = req.max_tokens {
            attributes.push(KeyValue::new("gen_ai.request.max_tokens", i64::from(n)));
        }
        if let Some(t) = req.temperature {
            attributes.push(KeyValue::new("gen_ai.request.temperature", decimal(t)));
        }
        if let Some(p) = req.top_p {
            attributes.push(KeyValue::new("gen_ai.request.top_p", decimal(p)));
        }
        let span = tracer
            .span_builder(format!("chat {}", req.model_id))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent.unwrap_or_default());
        Self {
            span: Some(span),
            metered: None,
        }
    }

    /// Record the session's metrics, when they are exported.
    fn meter(
        &self,
        response_model: Option<&str>,
        time_to_first_chunk: Option<Duration>,
        usage: Option<Usage>,
        error_type: Option<&str>,
    ) {
        if let (Some((started, model)), Some(metrics)) = (&self.metered, gen_ai_metrics::get()) {
            metrics.record(&Operation {
                request_model: model,
                response_model,
                duration: started.elapsed(),
                time_to_first_chunk,
                usage,
                error_type,
            });
        }
    }

    /// The stream never started: Bedrock (or the SDK) refused it.
    pub fn refused(self, e: &UpstreamError) {
        self.meter(None, None, None, Some(e.code()));
        if let Some(mut span) = self.span {
            span.set_attribute(KeyValue::new("error.type", e.code()));
            span.set_status(Status::error(e.message.clone()));
            span.end();
        }
    }

    /// The session has finished: record what its final event says (the
    /// model that answered, usage, why it stopped or failed) and what the
    /// run saw (the time to its first event; whether Bedrock counted the
    /// tokens: the usage is left out when it did not), then end the span.
    pub fn end(self, session: &Session, ran: Ran) {
        if self.span.is_none() && self.metered.is_none() {
            return;
        }
        let last = session
            .finished_len()
            .and_then(|len| len.checked_sub(1))
            .and_then(|seq| session.event(seq));
        if let Some(last) = &last {
            self.meter(
                last.model.as_deref(),
                ran.ttft,
                last.usage.filter(|_| ran.counted),
                last.error.as_ref().map(|e| e.code.as_str()),
            );
        }
        let Some(mut span) = self.span else {
            return;
        };
        if let Some(ttft) = ran.ttft {
            span.set_attribute(KeyValue::new(
                "gen_ai.response.time_to_first_chunk",
                ttft.as_secs_f64(),
            ));
            // The same in milliseconds, as it was before the convention named it.
            span.set_attribute(KeyValue::new(
                "spillway.ttft_ms",
                ttft.as_secs_f64() * 1000.0,
            ));
        }
        if let Some(last) = last {
            if let Some(model) = &last.model {
                span.set_attribute(KeyValue::new("gen_ai.response.model", model.clone()));
            }
            if let Some(usage) = last.usage.filter(|_| ran.counted) {
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                // Every input token, cached ones too (the convention's
                // `SHOULD`): Bedrock's `inputTokens` counts only the uncached.
                span.set_attribute(KeyValue::new(
                    "gen_ai.usage.input_tokens",
                    count(usage.prompt_tokens()),
                ));
                span.set_attribute(KeyValue::new(
                    "gen_ai.usage.output_tokens",
                    count(usage.output_tokens),
                ));
                if let Some(n) = usage.cache_read_input_tokens {
                    span.set_attribute(KeyValue::new(
                        "gen_ai.usage.cache_read.input_tokens",
                        count(n),
                    ));
                }
                if let Some(n) = usage.cache_write_input_tokens {
                    span.set_attribute(KeyValue::new(
                        "gen_ai.usage.cache_creation.input_tokens",
                        count(n),
                    ));
                }
                if let Some(usd) = usage.cost_usd {
                    span.set_attribute(KeyValue::new("spillway.cost_usd", usd));
                }
            }
            if let Some(reason) = &last.stop_reason {
                span.set_attribute(KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    Value::Array(Array::String(vec![StringValue::from(reason.clone())])),
                ));
            }
            if let Some(error) = &last.error {
                span.set_attribute(KeyValue::new("error.type", error.code.clone()));
                span.set_status(Status::error(error.message.clone()));
            }
        }
        span.end();
    }
}

/// `x` as the decimal the client wrote (its shortest text): 0.7, where
/// `f64::from` widens the `f32` nearest to it to 0.699999988079071.
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

    use super::*;
    use crate::event::EventError;
    use crate::hub::SessionStatus;
    use crate::upstream::{UpstreamErrorKind, Usage};

    /// Spans as the SDK hands them to an exporter.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch);
            Ok(())
        }
    }

    fn tracer() -> (SdkTracer, Collect) {
        let spans = Collect::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        (provider.tracer("test"), spans)
    }

    fn request() -> InvocationRequest {
        InvocationRequest {
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            turns: Vec::new(),
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: None,
            stop_sequences: Vec::new(),
            tools: Vec::new(),
            tool_choice: Default::default(),
            reasoning_budget: None,
            raw_body: None,
            converse_fields: None,
            call_options: Default::default(),
            ..Default::default()
        }
    }

    fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn only(spans: &Collect) -> SpanData {
        let spans = spans.0.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(spans.len(), 1, "{spans:?}");
        spans[0].clone()
    }

    #[test]
    fn a_failed_session_has_error_status_and_type() {
        let (tracer, spans) = tracer();
        let req = request();
        let span = SessionSpan::start_with(&tracer, None, "s1", "alice", &req);
        let session = Session::new("s1".into(), "alice".into(), req.model_id.clone(), 100);
        session.push_token("Hi".into());
        let usage = Usage {
            input_tokens: 7,
            output_tokens: 1,
            cost_usd: Some(0.0125),
            ..Usage::default()
        };
        let error = EventError {
            code: "model_stream_error".into(),
            message: "the model failed".into(),
            retryable: false,
            original_status_code: None,
            original_message: None,
        };
        session.finish(SessionStatus::Failed, None, Some(usage), Some(error));
        span.end(
            &session,
            Ran {
                ttft: Some(Duration::from_millis(12)),
                counted: true,
            },
        );

        let s = only(&spans);
        assert_eq!(s.name, "chat anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(s.span_kind, SpanKind::Client);
        assert_eq!(s.parent_span_id, SpanId::INVALID);
        assert_eq!(s.status, Status::error("the model failed"));
        assert_eq!(
            attr(&s, "error.type"),
            Some(&Value::from("model_stream_error"))
        );
        assert_eq!(attr(&s, "gen_ai.usage.input_tokens"), Some(&Value::I64(7)));
        assert_eq!(attr(&s, "spillway.cost_usd"), Some(&Value::F64(0.0125)));
        assert_eq!(attr(&s, "spillway.ttft_ms"), Some(&Value::F64(12.0)));
        assert_eq!(
            attr(&s, "gen_ai.response.time_to_first_chunk"),
            Some(&Value::F64(0.012))
        );
        assert_eq!(
            attr(&s, "gen_ai.request.temperature"),
            Some(&Value::F64(0.5))
        );
        assert_eq!(attr(&s, "gen_ai.response.finish_reasons"), None);
        assert_eq!(
            attr(&s, "gen_ai.request.max_tokens"),
            Some(&Value::I64(100))
        );
    }

    #[test]
    fn sampling_settings_are_the_decimals_sent() {
        let (tracer, spans) = tracer();
        let req = InvocationRequest {
            temperature: Some(0.7),
            top_p: Some(0.9),
            ..request()
        };
        SessionSpan::start_with(&tracer, None, "s6", "alice", &req)
            .refused(&UpstreamError::new(UpstreamErrorKind::Throttled, "no"));
        let s = only(&spans);
        assert_eq!(
            attr(&s, "gen_ai.request.temperature"),
            Some(&Value::F64(0.7))
        );
        assert_eq!(attr(&s, "gen_ai.request.top_p"), Some(&Value::F64(0.9)));
    }

    #[test]
    fn no_max_tokens_named_none_reported() {
        let (tracer, spans) = tracer();
        let req = InvocationRequest {
            max_tokens: None,
            ..request()
        };
        SessionSpan::start_with(&tracer, None, "s5", "alice", &req)
            .refused(&UpstreamError::new(UpstreamErrorKind::Throttled, "no"));
        assert_eq!(attr(&only(&spans), "gen_ai.request.max_tokens"), None);
    }

    #[test]
    fn usage_bedrock_did_not_count_is_left_out() {
        let (tracer, spans) = tracer();
        let req = request();
        let span = SessionSpan::start_with(&tracer, None, "s4", "alice", &req);
        let session = Session::new("s4".into(), "alice".into(), req.model_id.clone(), 100);
        session.push_token("Hi".into());
        // The runner's stand-in: no input, the events seen as output.
        let usage = Usage {
            input_tokens: 0,
            output_tokens: 1,
            cost_usd: Some(0.004),
            ..Usage::default()
        };
        session.finish(
            SessionStatus::Cancelled,
            Some("cancelled".into()),
            Some(usage),
            None,
        );
        span.end(&session, Ran::default());

        let s = only(&spans);
        assert_eq!(attr(&s, "gen_ai.usage.input_tokens"), None);
        assert_eq!(attr(&s, "gen_ai.usage.output_tokens"), None);
        assert_eq!(attr(&s, "spillway.cost_usd"), None);
        assert!(attr(&s, "gen_ai.response.finish_reasons").is_some());
    }

    #[test]
    fn a_refused_stream_ends_the_span_as_an_error_under_its_parent() {
        let (tracer, spans) = tracer();
        let headers = {
            let mut h = axum::http::HeaderMap::new();
            h.insert(
                "traceparent",
                axum::http::HeaderValue::from_static(
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
            );
            h
        };
        let parent = trace_context::extract(&headers);
        assert!(parent.as_ref().is_some_and(|cx| cx.has_active_span()));
        let span = SessionSpan::start_with(&tracer, parent, "s2", "bob", &request());
        span.refused(&UpstreamError::new(
            UpstreamErrorKind::Throttled,
            "slow down",
        ));

        let s = only(&spans);
        assert_eq!(
            s.span_context.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
        );
        assert_eq!(
            s.parent_span_id,
            SpanId::from_hex("b7ad6b7169203331").expect("hex")
        );
        assert!(matches!(s.status, Status::Error { .. }));
        assert!(attr(&s, "error.type").is_some());
        assert_eq!(attr(&s, "enduser.id"), Some(&Value::from("bob")));
        assert_eq!(attr(&s, "user.id"), Some(&Value::from("bob")));
        assert_eq!(attr(&s, "gen_ai.request.stream"), Some(&Value::Bool(true)));
        assert_eq!(attr(&s, "gen_ai.request.stop_sequences"), None);
        assert_eq!(attr(&s, "gen_ai.output.type"), None);
        assert_eq!(attr(&s, "aws.bedrock.guardrail.id"), None);
    }

    #[test]
    fn off_is_empty() {
        // No tracer was installed in this test process by `otel::init`.
        if otel::tracer().is_none() {
            let span = SessionSpan::start("s3", "carol", &request());
            assert!(span.span.is_none() && span.metered.is_none());
        }
    }
}
