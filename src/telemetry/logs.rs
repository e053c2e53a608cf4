//! Logging: `tracing` to stderr (text or JSON), and request spans that carry
//! a request id and the path only — never the query string, where
//! `?token=` lives, nor any header.
//!
//! `RUST_LOG` picks what is logged (default `info`), except for the targets
//! of [`SECRET_TARGETS`], kept at INFO whatever it says: their finer lines
//! carry secrets.

use axum::http::Request;
use tracing::Span;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Targets whose DEBUG and TRACE lines carry secrets, and the most they may
/// log. `aws_runtime::env_config` logs at TRACE every variable the AWS SDK
/// reads, with its value: the Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`)
/// among them.
pub const SECRET_TARGETS: &[(&str, LevelFilter)] =
    &[("aws_runtime::env_config", LevelFilter::INFO)];

/// Install the global subscriber (once, from `main`). Text has colours
/// only on a terminal: piped to a file or a log collector, it is plain.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = || filter(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry();
    let _ = match format {
        LogFormat::Text => registry.with(layer.with_filter(filter())).try_init(),
        LogFormat::Json => registry
            .with(layer.json().flatten_event(true).with_filter(filter()))
            .try_init(),
    };
}

/// What is logged: `rust_log`'s directives (`info` when absent or not
/// valid), and never more than [`SECRET_TARGETS`] allow, whatever they say.
pub fn filter<S>(rust_log: Option<&str>) -> impl Filter<S> + Send + Sync + use<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let asked = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let pinned = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(SECRET_TARGETS.iter().copied());
    asked.and(pinned)
}

/// The one line `spillway serve` writes on stdout once it listens, so that a
/// script that asked for port 0 learns the address: `spillway listening on
/// URL`, or with `SPILLWAY_LOG_FORMAT=json` that message as a JSON log line
/// (`timestamp`, `level`, `message`, and the `url` alone), like every other line.
pub fn listening_line(format: LogFormat, url: &str) -> String {
    let message = format!("spillway listening on {url}");
    match format {
        LogFormat::Text => message,
        LogFormat::Json => serde_json::json!({
            "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            "level": "INFO",
            "message": message,
            "url": url,
            "target": "spillway",
        })
        .to_string(),
    }
}

/// The span of one HTTP request.
pub fn request_span<B>(req: &Request<B>) -> Span {
    // A client may send its own x-request-id: log it only when it looks like one.
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines logged by `log` under [`filter`]`(rust_log)`.
    fn logged(rust_log: &str, log: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || BufWriter(sink.clone()));
        let subscriber =
            tracing_subscriber::registry().with(layer.with_filter(filter(Some(rust_log))));
        tracing::subscriber::with_default(subscriber, log);
        let out = buf.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    struct BufWriter(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for BufWriter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_listening_line_is_json_in_json_mode() {
        let url = "http://127.0.0.1:8080";
        assert_eq!(
            listening_line(LogFormat::Text, url),
            "spillway listening on http://127.0.0.1:8080"
        );
        let line: serde_json::Value =
            serde_json::from_str(&listening_line(LogFormat::Json, url)).unwrap();
        assert_eq!(line["url"], url);
        assert_eq!(line["level"], "INFO");
        assert_eq!(
            line["message"],
            "spillway listening on http://127.0.0.1:8080"
        );
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    }

    #[test]
    fn trace_never_shows_what_the_aws_sdk_reads_from_the_environment() {
        for rust_log in [
            "trace",
            "aws_runtime=trace,info",
            "aws_runtime::env_config=trace,aws_runtime::other=trace",
        ] {
            let out = logged(rust_log, || {
                tracing::trace!(
                    target: "aws_runtime::env_config",
                    "(service env) AWS_BEARER_TOKEN = (\"ABSKsecret\")"
                );
                tracing::debug!(target: "aws_runtime::env_config::property", "ABSKsecret2");
                tracing::info!(target: "aws_runtime::env_config", "kept at info");
                tracing::trace!(target: "aws_runtime::other", "other trace");
            });
            assert!(!out.contains("ABSK"), "{rust_log}: {out}");
            assert!(out.contains("kept at info"), "{rust_log}: {out}");
            assert!(out.contains("other trace"), "{rust_log}: {out}");
        }
        // RUST_LOG still decides everything else.
        let out = logged("warn", || {
            tracing::info!(target: "spillway::x", "quiet");
            tracing::warn!(target: "spillway::x", "loud");
        });
        assert!(!out.contains("quiet") && out.contains("loud"), "{out}");
        assert!(
            logged("not a directive[", || tracing::info!("default info")).contains("default info")
        );
    }
}
