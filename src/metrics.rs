//! Prometheus metrics (`GET /metrics`, names prefixed `spillway_`): time to
//! first token, tokens out, active streams and connections per transport,
//! upstream errors by kind, JWKS fetches, relay latency, sessions dropped for
//! the memory budget; per model: prompt-cache tokens read and written, cost in
//! USD, guardrail interventions.
//!
//! A `model` label is the id of the model that answered (a fallback's, when
//! one did), as sent to Bedrock; it is recorded only once Bedrock has
//! answered, so only ids Bedrock served are ever labels.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    pub model: String,
}

/// Per-model usage counters: Bedrock's token counts, prompt-cache tokens and cost.
#[derive(Default)]
pub struct ModelUsage {
    pub input_tokens: Family<ModelLabel, Counter>,
    pub output_tokens: Family<ModelLabel, Counter>,
    pub cache_read_tokens: Family<ModelLabel, Counter>,
    pub cache_write_tokens: Family<ModelLabel, Counter>,
    pub cost_usd: Family<ModelLabel, Counter<f64, AtomicU64>>,
}

impl ModelUsage {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "input_tokens",
            "Uncached prompt tokens as Bedrock counted them, by model",
            self.input_tokens.clone(),
        );
        registry.register(
            "output_tokens",
            "Answer tokens as Bedrock counted them, by model",
            self.output_tokens.clone(),
        );
        registry.register(
            "cache_read_input_tokens",
            "Prompt tokens read from Bedrock's prompt cache, by model",
            self.cache_read_tokens.clone(),
        );
        registry.register(
            "cache_write_input_tokens",
            "Prompt tokens written to Bedrock's prompt cache, by model",
            self.cache_write_tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "What sessions cost in USD (priced models), by model",
            self.cost_usd.clone(),
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabel {
    pub from: String,
    pub to: String,
}

/// Every metric the gateway exports. Shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    /// Seconds from the request to the first token written to the session log.
    pub time_to_first_token: Histogram,
    pub tokens_out: Counter,
    /// Sessions that ended, by final status.
    pub sessions_ended: Family<OutcomeLabel, Counter>,
    /// Upstream calls running now.
    pub upstream_active: Gauge,
    /// Readers streaming to clients now, per transport.
    pub streams_active: Family<TransportLabel, Gauge>,
    /// Open client connections (WebSockets), per transport.
    pub connections_active: Family<TransportLabel, Gauge>,
    pub upstream_errors: Family<KindLabel, Counter>,
    pub jwks_fetches: Counter,
    /// Seconds from a relay request to the first relayed event.
    pub relay_first_event: Histogram,
    pub sessions_held: Gauge,
    /// Bytes held by session logs (streaming and retained).
    pub session_bytes: Gauge,
    pub by_model: ModelUsage,
    /// Invocations answered by a fallback model, by requested and answering model.
    pub fallbacks: Family<FallbackLabel, Counter>,
    /// Sessions a guardrail ended (`guardrail_intervened`), by answering model.
    pub guardrail_interventions: Family<ModelLabel, Counter>,
    /// Finished sessions dropped to keep the logs within their byte budget.
    pub sessions_evicted: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("spillway");
        let latency = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let m = Self {
            time_to_first_token: latency(),
            tokens_out: Counter::default(),
            sessions_ended: Family::default(),
            upstream_active: Gauge::default(),
            streams_active: Family::default(),
            connections_active: Family::default(),
            upstream_errors: Family::default(),
            jwks_fetches: Counter::default(),
            relay_first_event: latency(),
            sessions_held: Gauge::default(),
            session_bytes: Gauge::default(),
            by_model: ModelUsage::default(),
            fallbacks: Family::default(),
            guardrail_interventions: Family::default(),
            sessions_evicted: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "time_to_first_token_seconds",
            "Time from the request to the first token",
            m.time_to_first_token.clone(),
        );
        registry.register(
            "tokens_out",
            "Text events written to session logs (one per text chunk; Bedrock's token counts are output_tokens)",
            m.tokens_out.clone(),
        );
        registry.register(
            "sessions_ended",
            "Sessions that ended, by final status",
            m.sessions_ended.clone(),
        );
        registry.register(
            "upstream_active",
            "Upstream model calls running now",
            m.upstream_active.clone(),
        );
        registry.register(
            "streams_active",
            "Readers streaming to clients now, by transport",
            m.streams_active.clone(),
        );
        registry.register(
            "connections_active",
            "Open client connections, by transport",
            m.connections_active.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures, by kind",
            m.upstream_errors.clone(),
        );
        registry.register("jwks_fetches", "JWKS fetches made", m.jwks_fetches.clone());
        registry.register(
            "relay_first_event_seconds",
            "Time from a cross-node relay request to its first event",
            m.relay_first_event.clone(),
        );
        registry.register(
            "sessions_held",
            "Sessions held (streaming and retained)",
            m.sessions_held.clone(),
        );
        registry.register(
            "session_bytes",
            "Bytes held by session logs (streaming and retained)",
            m.session_bytes.clone(),
        );
        m.by_model.register(&mut registry);
        registry.register(
            "fallbacks",
            "Invocations answered by a fallback model, by requested (from) and answering (to) model",
            m.fallbacks.clone(),
        );
        registry.register(
            "guardrail_interventions",
            "Sessions a Bedrock guardrail ended (stop reason guardrail_intervened), by answering model",
            m.guardrail_interventions.clone(),
        );
        registry.register(
            "sessions_evicted",
            "Finished sessions dropped to keep session logs within SPILLWAY_SESSION_MEMORY_BYTES",
            m.sessions_evicted.clone(),
        );
        Self { registry, ..m }
    }
}

/// Decrements a gauge when dropped.
pub struct ActiveGuard(Gauge);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Count a reader streaming over `transport` for as long as the guard lives.
    pub fn stream_guard(&self, transport: &'static str) -> ActiveGuard {
        let g = self
            .streams_active
            .get_or_create(&TransportLabel { transport })
            .clone();
        g.inc();
        ActiveGuard(g)
    }

    /// `stream`, counted as a reader streaming over `transport` until it is dropped.
    pub fn counted<S: futures_util::Stream + Send>(
        &self,
        transport: &'static str,
        stream: S,
    ) -> impl futures_util::Stream<Item = S::Item> + Send + use<S> {
        use futures_util::StreamExt;
        let guard = self.stream_guard(transport);
        stream.map(move |item| {
            let _active = &guard;
            item
        })
    }

    /// Count an open connection over `transport` for as long as the guard lives.
    pub fn connection_guard(&self, transport: &'static str) -> ActiveGuard {
        let g = self
            .connections_active
            .get_or_create(&TransportLabel { transport })
            .clone();
        g.inc();
        ActiveGuard(g)
    }

    /// Count a running upstream call for as long as the guard lives.
    pub fn upstream_guard(&self) -> ActiveGuard {
        self.upstream_active.inc();
        ActiveGuard(self.upstream_active.clone())
    }

    pub fn observe_ttft(&self, d: Duration) {
        self.time_to_first_token.observe(d.as_secs_f64());
    }

    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    /// Count a finished session's tokens and cost against its model; the
    /// token counters only when Bedrock `counted` them (not stand-ins for a
    /// stream cut before its usage).
    pub fn usage_by_model(&self, model: &str, usage: &crate::upstream::Usage, counted: bool) {
        let label = ModelLabel {
            model: model.to_owned(),
        };
        let m = &self.by_model;
        if counted && usage.input_tokens > 0 {
            m.input_tokens
                .get_or_create(&label)
                .inc_by(usage.input_tokens);
        }
        if counted && usage.output_tokens > 0 {
            m.output_tokens
                .get_or_create(&label)
                .inc_by(usage.output_tokens);
        }
        if let Some(n) = usage.cache_read_input_tokens {
            m.cache_read_tokens.get_or_create(&label).inc_by(n);
        }
        if let Some(n) = usage.cache_write_input_tokens {
            m.cache_write_tokens.get_or_create(&label).inc_by(n);
        }
        if let Some(usd) = usage.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
            m.cost_usd.get_or_create(&label).inc_by(usd);
        }
    }

    /// `to` answered an invocation that asked for `from`.
    pub fn fallback(&self, from: &str, to: &str) {
        self.fallbacks
            .get_or_create(&FallbackLabel {
                from: from.to_owned(),
                to: to.to_owned(),
            })
            .inc();
    }

    /// A guardrail ended a session of `model`.
    pub fn guardrail_intervened(&self, model: &str) {
        self.guardrail_interventions
            .get_or_create(&ModelLabel {
                model: model.to_owned(),
            })
            .inc();
    }

    pub fn session_ended(&self, status: &'static str) {
        self.sessions_ended
            .get_or_create(&OutcomeLabel { status })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prefixed_names_and_labels() {
        let m = Metrics::default();
        m.tokens_out.inc_by(3);
        let _g = m.stream_guard("sse");
        m.upstream_error("throttled");
        m.observe_ttft(Duration::from_millis(12));
        m.fallback("a.model-v1:0", "b.model-v1:0");
        m.guardrail_intervened("a.model-v1:0");
        m.sessions_evicted.inc_by(2);
        let text = m.render();
        assert!(
            text.contains("spillway_guardrail_interventions_total{model=\"a.model-v1:0\"} 1"),
            "{text}"
        );
        assert!(text.contains("spillway_sessions_evicted_total 2"), "{text}");
        assert!(
            text.contains("spillway_fallbacks_total{from=\"a.model-v1:0\",to=\"b.model-v1:0\"} 1"),
            "{text}"
        );
        assert!(text.contains("spillway_tokens_out_total 3"), "{text}");
        assert!(
            text.contains("spillway_streams_active{transport=\"sse\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spillway_upstream_errors_total{kind=\"throttled\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spillway_time_to_first_token_seconds_count 1"),
            "{text}"
        );
    }

    #[test]
    fn cache_tokens_and_cost_per_model() {
        let m = Metrics::default();
        let usage = crate::upstream::Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_read_input_tokens: Some(40),
            cache_write_input_tokens: Some(0),
            cost_usd: Some(0.25),
        };
        m.usage_by_model("m1", &usage, true);
        m.usage_by_model("m1", &usage, true);
        m.usage_by_model("m2", &crate::upstream::Usage::default(), true);
        let text = m.render();
        for line in [
            "spillway_input_tokens_total{model=\"m1\"} 2",
            "spillway_output_tokens_total{model=\"m1\"} 4",
            "spillway_cache_read_input_tokens_total{model=\"m1\"} 80",
            "spillway_cache_write_input_tokens_total{model=\"m1\"} 0",
            "spillway_cost_usd_total{model=\"m1\"} 0.5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(!text.contains("model=\"m2\""), "{text}");
    }
}
