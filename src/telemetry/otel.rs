//! The OTLP exporters of traces and metrics, from the standard `OTEL_*`
//! variables.
//!
//! Each signal is off unless its endpoint is set
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`,
//! or `OTEL_EXPORTER_OTLP_ENDPOINT` for both), and `OTEL_SDK_DISABLED` is not
//! `true`, nor `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` `none`. Off,
//! nothing is built: no tracer or meter, no thread, no span, and [`tracer`]
//! is `None` on every session.
//!
//! On, spans go through the SDK's batch processor (`OTEL_BSP_*`), and the
//! GenAI metrics ([`super::gen_ai_metrics`]) through a periodic reader
//! (`OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default), each to an OTLP
//! `http/protobuf` exporter (`OTEL_EXPORTER_OTLP_*`: endpoint, headers,
//! timeout); the resource comes from `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` (`service.name` defaults to `spillway`). Any
//! other protocol is refused at start-up.
//!
//! The processor and the reader export from threads of their own; requests
//! are sent with the gateway's `reqwest` client on the Tokio runtime that
//! [`init`] ran on ([`RuntimeClient`]), so no second HTTP stack or runtime
//! is built.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The tracer sessions use; set once, when traces are exported.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The protocol this build exports with.
pub const PROTOCOL: &str = "http/protobuf";

/// The tracer, when traces are exported.
#[inline]
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Are traces exported?
#[inline]
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error(
        "{var}={value:?} is not supported: spillway exports OpenTelemetry traces and metrics over http/protobuf only (unset it or set it to http/protobuf)"
    )]
    Protocol { var: String, value: String },
    #[error("{var}={value:?} is not supported: spillway exports with otlp (or none)")]
    Exporter { var: String, value: String },
    #[error("cannot start the OTLP exporter: {0}")]
    Build(String),
}

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// The signal's part of the variables' names.
    fn name(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
        }
    }
}

/// What decides whether and how traces are exported, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The endpoint the exporter was pointed at, for the start-up log: its
    /// user and password, and its query, hidden ([`redacted`]).
    pub endpoint: String,
    /// How long one export may take (`OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`, ms).
    pub timeout: Duration,
}

impl Settings {
    /// `Ok(None)` when `signal` is off; an error for a setting this build cannot honour.
    pub fn from_env(
        signal: Signal,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, OtelError> {
        let s = signal.name();
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let exporter = format!("OTEL_{s}_EXPORTER");
        match set(&exporter) {
            None => {}
            Some(v) if v == "otlp" => {}
            Some(v) if v == "none" => return Ok(None),
            Some(value) => {
                return Err(OtelError::Exporter {
                    var: exporter,
                    value,
                });
            }
        }
        let Some(endpoint) = set(&format!("OTEL_EXPORTER_OTLP_{s}_ENDPOINT"))
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        else {
            return Ok(None);
        };
        for name in [
            format!("OTEL_EXPORTER_OTLP_{s}_PROTOCOL"),
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
        ] {
            if let Some(value) = set(&name)
                && value != PROTOCOL
            {
                return Err(OtelError::Protocol { var: name, value });
            }
        }
        let timeout = set(&format!("OTEL_EXPORTER_OTLP_{s}_TIMEOUT"))
            .or_else(|| set("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        Ok(Some(Self {
            endpoint: redacted(&endpoint),
            timeout,
        }))
    }
}

/// `endpoint` fit for a log line: credentials in its user info
/// (`https://user:password@host`) and its query (`?api_key=…`) become `***`.
pub fn redacted(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), endpoint),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Flushes the exporters when the gateway stops.
pub struct OtelGuard {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl OtelGuard {
    /// Export what is still queued (spans, the last metrics), then stop the
    /// exporters. Runs off the runtime's workers: the exporters' threads
    /// need them to send.
    pub async fn shutdown(self) {
        let Self { traces, metrics } = self;
        let done = tokio::task::spawn_blocking(move || {
            (traces.map(|p| p.shutdown()), metrics.map(|p| p.shutdown()))
        })
        .await;
        match done {
            Ok((traces, metrics)) => {
                for (what, result) in [("traces", traces), ("metrics", metrics)] {
                    match result {
                        Some(Ok(())) => tracing::info!("OpenTelemetry {what} flushed"),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "flushing OpenTelemetry {what} failed");
                        }
                        None => {}
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "flushing OpenTelemetry failed"),
        }
    }
}

/// Start exporting traces and metrics as the environment asks (from
/// `main`, once, on the Tokio runtime). `Ok(None)` when both are off.
pub fn init() -> Result<Option<OtelGuard>, OtelError> {
    let env = |name: &str| std::env::var(name).ok();
    let traces = Settings::from_env(Signal::Traces, env)?
        .map(init_traces)
        .transpose()?;
    let metrics = Settings::from_env(Signal::Metrics, env)?
        .map(init_metrics)
        .transpose()?;
    Ok((traces.is_some() || metrics.is_some()).then_some(OtelGuard { traces, metrics }))
}

/// The GenAI metrics, read every `OTEL_METRIC_EXPORT_INTERVAL`.
fn init_metrics(settings: Settings) -> Result<SdkMeterProvider, OtelError> {
    let client = RuntimeClient::new(settings.timeout)?;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .map_err(|e| OtelError::Build(e.to_string()))?;
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter).build())
        .with_resource(resource())
        .build();
    super::gen_ai_metrics::install(&provider.meter("spillway"));
    tracing::info!(
        endpoint = %settings.endpoint,
        protocol = PROTOCOL,
        "exporting OpenTelemetry metrics (OTLP)"
    );
    Ok(provider)
}

fn init_traces(settings: Settings) -> Result<SdkTracerProvider, OtelError> {
    let client = RuntimeClient::new(settings.timeout)?;
    // The exporter reads the endpoint, headers and timeout from the same variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .map_err(|e| OtelError::Build(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer("spillway");
    if TRACER.set(tracer).is_err() {
        return Err(OtelError::Build("traces were already set up".into()));
    }
    tracing::info!(
        endpoint = %settings.endpoint,
        protocol = PROTOCOL,
        "exporting OpenTelemetry traces (OTLP)"
    );
    Ok(provider)
}

/// The detected resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`),
/// named `spillway` when neither names the service.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name("spillway").build()
    }
}

/// The exporter's HTTP client: the gateway's `reqwest`, run on the Tokio
/// runtime (the batch processor calls it from a thread of its own, where
/// no runtime is current).
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl RuntimeClient {
    fn new(timeout: Duration) -> Result<Self, OtelError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| OtelError::Build("no Tokio runtime to send from".into()))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| OtelError::Build(e.to_string()))?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, OtelError> {
        signal_settings(Signal::Traces, vars)
    }

    fn signal_settings(
        signal: Signal,
        vars: &[(&str, &str)],
    ) -> Result<Option<Settings>, OtelError> {
        Settings::from_env(signal, |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn metrics_have_their_own_switches() {
        let metrics = |vars: &[(&str, &str)]| {
            signal_settings(Signal::Metrics, vars)
                .ok()
                .flatten()
                .map(|s| s.endpoint)
        };
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert_eq!(metrics(&[ep]).as_deref(), Some("http://c:4318"));
        assert_eq!(
            metrics(&[(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:4318/v1/metrics"
            )])
            .as_deref(),
            Some("http://m:4318/v1/metrics")
        );
        // Traces alone, metrics alone.
        assert_eq!(metrics(&[ep, ("OTEL_METRICS_EXPORTER", "none")]), None);
        assert!(settings(&[ep, ("OTEL_METRICS_EXPORTER", "none")]).is_ok_and(|s| s.is_some()));
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318")]).ok(),
            Some(None)
        );
        let e = signal_settings(
            Signal::Metrics,
            &[ep, ("OTEL_METRICS_EXPORTER", "prometheus")],
        );
        assert!(
            matches!(e, Err(OtelError::Exporter { var, .. }) if var == "OTEL_METRICS_EXPORTER")
        );
    }

    #[test]
    fn credentials_in_the_endpoint_stay_out_of_the_log() {
        let s = settings(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://tenant:s3cretpw@collector.example:4318/otlp?api_key=k3y",
        )])
        .ok()
        .flatten()
        .unwrap();
        assert_eq!(s.endpoint, "https://***@collector.example:4318/otlp?***");
        for (endpoint, logged) in [
            ("http://c:4318", "http://c:4318"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("http://token@c", "http://***@c"),
            ("http://u:p@ss@c:1/x", "http://***@c:1/x"),
            ("http://c/x?y=1", "http://c/x?***"),
            ("c:4318", "c:4318"),
        ] {
            assert_eq!(redacted(endpoint), logged, "{endpoint}");
        }
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(settings(&[]).ok(), Some(None));
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]).ok(), Some(None));
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).ok(),
            Some(None)
        );
    }

    #[test]
    fn on_with_either_endpoint() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
            .ok()
            .flatten();
        assert_eq!(s.map(|s| s.endpoint), Some("http://c:4318".into()));
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://t:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .ok()
        .flatten();
        assert_eq!(
            s,
            Some(Settings {
                endpoint: "http://t:4318/v1/traces".into(),
                timeout: Duration::from_millis(2500),
            })
        );
    }

    #[test]
    fn disabled_or_none_is_off_even_with_an_endpoint() {
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert_eq!(
            settings(&[ep, ("OTEL_SDK_DISABLED", "true")]).ok(),
            Some(None)
        );
        assert_eq!(
            settings(&[ep, ("OTEL_TRACES_EXPORTER", "none")]).ok(),
            Some(None)
        );
    }

    #[test]
    fn another_protocol_or_exporter_is_refused_with_its_name() {
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let e = settings(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\""),
            "{msg}"
        );
        assert!(msg.contains("http/protobuf"), "{msg}");
        let e = settings(&[ep, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]).err();
        assert!(matches!(
            e,
            Some(OtelError::Protocol { var, .. }) if var == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        ));
        assert!(
            settings(&[ep, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
                .is_ok_and(|s| s.is_some())
        );
        assert!(matches!(
            settings(&[ep, ("OTEL_TRACES_EXPORTER", "zipkin")]),
            Err(OtelError::Exporter { .. })
        ));
    }
}
