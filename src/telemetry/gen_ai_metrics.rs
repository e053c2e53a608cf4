//! The GenAI client metrics of the OpenTelemetry semantic conventions, one
//! record per session, exported over OTLP beside the traces:
//!
//! - `gen_ai.client.token.usage` (histogram, `{token}`): the prompt's tokens
//!   (cached ones too) and the answer's, `gen_ai.token.type` `input` /
//!   `output`; only what Bedrock counted.
//! - `gen_ai.client.operation.duration` (histogram, `s`): from the call to
//!   Bedrock to the session's final event, with `error.type` when it failed.
//! - `gen_ai.client.operation.time_to_first_chunk` (histogram, `s`): from
//!   the call to Bedrock to the first event, for sessions that had one
//!   (every session streams).
//!
//! Both carry `gen_ai.operation.name` (`chat`), `gen_ai.provider.name`
//! (`aws.bedrock`), `gen_ai.request.model` and `gen_ai.response.model`, and
//! use the buckets the conventions advise.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

use super::session_span::PROVIDER;
use crate::upstream::Usage;

/// The conventions' advised buckets for `gen_ai.client.token.usage`.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// The conventions' advised buckets for `gen_ai.client.operation.duration`
/// and `gen_ai.client.operation.time_to_first_chunk`.
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// The instruments, made once metrics are exported.
pub struct GenAiMetrics {
    token_usage: Histogram<u64>,
    duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
}

static METRICS: OnceLock<GenAiMetrics> = OnceLock::new();

/// The instruments, when metrics are exported.
pub fn get() -> Option<&'static GenAiMetrics> {
    METRICS.get()
}

/// Make the instruments on `meter` (once, from `otel::init`).
pub(super) fn install(meter: &Meter) {
    let _ = METRICS.set(GenAiMetrics::new(meter));
}

/// What one finished session reports.
pub struct Operation<'a> {
    pub request_model: &'a str,
    pub response_model: Option<&'a str>,
    pub duration: Duration,
    /// From the call to the first event, if one came.
    pub time_to_first_chunk: Option<Duration>,
    /// Bedrock's counts, when it gave them.
    pub usage: Option<Usage>,
    pub error_type: Option<&'a str>,
}

impl GenAiMetrics {
    fn new(meter: &Meter) -> Self {
        Self {
            token_usage: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            time_to_first_chunk: meter
                .f64_histogram("gen_ai.client.operation.time_to_first_chunk")
                .with_unit("s")
                .with_description("Time to receive the first chunk of a streamed answer")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }

    /// Record one finished session.
    pub fn record(&self, op: &Operation<'_>) {
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", PROVIDER),
            KeyValue::new("gen_ai.request.model", op.request_model.to_owned()),
        ];
        if let Some(model) = op.response_model {
            attributes.push(KeyValue::new("gen_ai.response.model", model.to_owned()));
        }
        if let Some(usage) = op.usage {
            for (kind, n) in [
                ("input", usage.prompt_tokens()),
                ("output", usage.output_tokens),
            ] {
                let mut with_type = attributes.clone();
                with_type.push(KeyValue::new("gen_ai.token.type", kind));
                self.token_usage.record(n, &with_type);
            }
        }
        if let Some(error) = op.error_type {
            attributes.push(KeyValue::new("error.type", error.to_owned()));
        }
        if let Some(ttft) = op.time_to_first_chunk {
            self.time_to_first_chunk
                .record(ttft.as_secs_f64(), &attributes);
        }
        self.duration.record(op.duration.as_secs_f64(), &attributes);
    }
}
