//! The command line, as fixed in PRODUCT.md ("load generator").

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use spillway::upstream::models::DEFAULT_MODEL;

/// Measure what a Spillway gateway adds on top of its upstream.
#[derive(Debug, Clone, Parser)]
#[command(name = "spillway-loadtest", version)]
pub struct Args {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub target: String,
    /// A JWT the gateway accepts (`spillway token` mints a dev one).
    #[arg(long, env = "SPILLWAY_LOADTEST_TOKEN", hide_env_values = true)]
    pub token: String,
    #[arg(long, value_enum, default_value_t = TransportKind::Sse)]
    pub transport: TransportKind,
    /// How many streams to open.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub streams: u64,
    /// Tokens per stream (the simulator's `tokens=`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub tokens: u32,
    /// Tokens per second within a stream (the simulator's `rate=`; 0 = unpaced).
    #[arg(long, default_value_t = 50.0, value_parser = non_negative)]
    pub rate: f64,
    /// New streams per second; 0 = all at once.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    pub arrival: f64,
    /// Most streams open at once; 0 = no limit, 1 = one at a time (then the
    /// baseline and gateway streams alternate).
    #[arg(long, default_value_t = 0)]
    pub concurrency: usize,
    /// The simulator's base URL: run the same streams straight against its
    /// Bedrock endpoint too, and report the difference.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Model id to request (the baseline needs an Anthropic Claude id).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// The Claude id the baseline requests from the simulator, when the
    /// gateway names the model otherwise (`--model` as a LiteLLM config's
    /// `model_name`); default: `--model`.
    #[arg(long, value_name = "ID")]
    pub baseline_model: Option<String>,
    /// Give up on a stream after this many seconds.
    #[arg(long, default_value_t = 120.0, value_parser = positive)]
    pub timeout: f64,
    /// The gateway's process id: sample its RSS and CPU from `/proc`.
    #[arg(long)]
    pub gateway_pid: Option<u32>,
    /// The simulator's process id: its CPU per event while it serves the
    /// baseline directly, and while it feeds the gateway, from `/proc` (the
    /// cost of a bare server producing the same events, for comparison;
    /// needs `--baseline` and a concurrency other than 1).
    #[arg(long)]
    pub sim_pid: Option<u32>,
    /// Where to write the JSON report.
    #[arg(long)]
    pub json: PathBuf,
    /// Where to write a Markdown summary (it is also printed on stdout).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also draw SVG plots into this directory (latency CDFs, gateway vs
    /// baseline; the gateway's memory vs open connections), named after the
    /// JSON report.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Tool-call streams: every stream (gateway and baseline) carries one
    /// tool and asks the simulator to call it (`tool=NAME`, no text before
    /// it); the tool's required properties make its input stream in about
    /// `--tokens` input deltas (at least 3, at most 2,000). SSE only.
    #[arg(long, conflicts_with_all = ["idle_connections", "relay_via", "handshakes", "subscribers"])]
    pub tool_call: bool,
    /// Text streams whose requests carry the tool `--tool-call` would call
    /// (sized by `--tokens`), without calling it: the control that tells
    /// the tool's request size from its events. SSE only.
    #[arg(long, conflicts_with_all = ["tool_call", "idle_connections", "relay_via", "handshakes", "subscribers"])]
    pub offer_tool: bool,
    /// Add `ttft_ms=MS` to the simulator directive: the simulator waits
    /// this long before the first token.
    #[arg(long, value_name = "MS")]
    pub sim_ttft_ms: Option<u32>,
    /// Idle WebSockets (scenario 4) instead of streams: open N connections to
    /// `/v1/ws` (`--transport ws`) or `/graphql` (`--transport graphql`,
    /// to `connection_ack`), hold them, and report the gateway's RSS per connection
    /// (needs `--gateway-pid`; `--arrival` and `--concurrency` pace the
    /// opening).
    #[arg(long, value_name = "N", conflicts_with_all = ["relay_via", "ramp", "handshakes", "subscribers"])]
    pub idle_connections: Option<u64>,
    /// How long to hold the idle connections once all are open, in seconds.
    #[arg(long, default_value_t = 2.0, value_parser = non_negative)]
    pub hold: f64,
    /// Spread connections over source addresses 127.0.0.1 … 127.0.0.K when
    /// the target is on loopback (0 = one address per 2,000 connections:
    /// the gateway limits connections and requests per address).
    #[arg(long, value_name = "K", default_value_t = 0, value_parser = clap::value_parser!(u8))]
    pub source_addrs: u8,
    /// Relay measurement: `--target` and this URL are two nodes of one
    /// fleet. Each stream starts on the target (SSE) and is attached to
    /// both on the target itself and on this node; the report gives the
    /// delay of each copy of every event behind the original.
    #[arg(long, value_name = "URL", conflicts_with_all = ["ramp", "handshakes", "subscribers"])]
    pub relay_via: Option<String>,
    /// Ramp (scenario 3): run the streams at each of these concurrencies in
    /// turn (comma list, e.g. `100,200,500`; each step is `--streams`), and
    /// stop at the first step that fails (see the README).
    #[arg(
        long,
        value_name = "N,N,…",
        value_delimiter = ',',
        num_args = 1..,
        value_parser = clap::value_parser!(u64).range(1..),
        conflicts_with_all = ["handshakes", "subscribers"]
    )]
    pub ramp: Vec<u64>,
    /// Handshakes (scenario 5): open N WebSockets (`--transport ws` or
    /// `graphql`), each waits for the greeting (or `connection_ack`) and
    /// closes; `--concurrency` in flight (default 64).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..),
        conflicts_with = "subscribers"
    )]
    pub handshakes: Option<u64>,
    /// Fan-out (scenario 6): start one stream over SSE and attach N
    /// subscribers to its session over `--transport`; `--concurrency`
    /// attaches in flight (default 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub subscribers: Option<u64>,
    /// SSE over cleartext HTTP/2 with prior knowledge, on N connections
    /// (stream `i` on connection `i % N`); without it, HTTP/1.1 with one
    /// connection per stream in flight.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub http2: Option<u64>,
}

/// How the load generator reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// `POST /v1/stream`, Server-Sent Events.
    Sse,
    /// `GET /v1/ws`, the WebSocket protocol.
    Ws,
    /// GraphQL subscriptions over `graphql-transport-ws`.
    Graphql,
    /// The gateway's Bedrock runtime API,
    /// `POST /model/{id}/invoke-with-response-stream` with a Claude body,
    /// through `aws-sdk-bedrockruntime` with the JWT as its bearer token
    /// (the baseline's client). Streams only.
    Bedrock,
    /// OpenAI's `POST /v1/chat/completions` with `stream: true`, the JWT
    /// (or any gateway's key) as the bearer token. Streams only.
    Openai,
}

impl Args {
    /// The model the baseline asks the simulator for.
    pub fn baseline_model(&self) -> &str {
        self.baseline_model.as_deref().unwrap_or(&self.model)
    }
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Sse => "sse",
            TransportKind::Ws => "ws",
            TransportKind::Graphql => "graphql",
            TransportKind::Bedrock => "bedrock",
            TransportKind::Openai => "openai",
        }
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number >= 0, got {s:?}")),
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a number > 0, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_flags() {
        let args = Args::try_parse_from([
            "spillway-loadtest",
            "--target",
            "http://127.0.0.1:8080",
            "--token",
            "t",
            "--transport",
            "sse",
            "--streams",
            "1000",
            "--tokens",
            "64",
            "--rate",
            "50",
            "--arrival",
            "0",
            "--baseline",
            "http://127.0.0.1:8090",
            "--json",
            "r.json",
        ])
        .unwrap();
        assert_eq!(args.streams, 1000);
        assert_eq!(args.transport, TransportKind::Sse);
        assert_eq!(args.baseline.as_deref(), Some("http://127.0.0.1:8090"));
        assert!(args.plot.is_none() && args.idle_connections.is_none());
        assert!(!args.tool_call);
    }

    #[test]
    fn idle_and_relay_modes_exclude_each_other() {
        let parsed = Args::try_parse_from([
            "spillway-loadtest",
            "--target",
            "x",
            "--token",
            "t",
            "--idle-connections",
            "10",
            "--relay-via",
            "y",
            "--json",
            "r.json",
        ]);
        assert!(parsed.is_err());
    }

    #[test]
    fn parses_a_ramp_and_keeps_modes_apart() {
        let base = [
            "spillway-loadtest",
            "--target",
            "x",
            "--token",
            "t",
            "--json",
            "r.json",
        ];
        let with = |extra: &[&str]| {
            Args::try_parse_from(base.iter().chain(extra.iter()).copied().collect::<Vec<_>>())
        };
        let args = with(&["--ramp", "100,200,5000"]).unwrap();
        assert_eq!(args.ramp, vec![100, 200, 5000]);
        assert!(with(&["--ramp", "100,0"]).is_err());
        assert_eq!(with(&["--handshakes", "9"]).unwrap().handshakes, Some(9));
        assert_eq!(with(&["--subscribers", "9"]).unwrap().subscribers, Some(9));
        assert_eq!(with(&["--http2", "2"]).unwrap().http2, Some(2));
        assert!(with(&["--http2", "0"]).is_err());
        assert!(with(&["--tool-call", "--ramp", "100"]).unwrap().tool_call);
        assert!(with(&["--offer-tool"]).unwrap().offer_tool);
        assert!(with(&["--offer-tool", "--tool-call"]).is_err());
        for other in [
            &["--subscribers", "5"][..],
            &["--relay-via", "y"],
            &["--handshakes", "5"],
            &["--idle-connections", "5"],
        ] {
            let args: Vec<&str> = ["--tool-call"].iter().chain(other).copied().collect();
            assert!(with(&args).is_err(), "{args:?}");
        }
        for pair in [
            ["--ramp", "100", "--handshakes", "5"],
            ["--ramp", "100", "--subscribers", "5"],
            ["--handshakes", "5", "--subscribers", "5"],
            ["--idle-connections", "5", "--handshakes", "5"],
            ["--relay-via", "y", "--subscribers", "5"],
            ["--relay-via", "y", "--ramp", "100"],
        ] {
            assert!(with(&pair).is_err(), "{pair:?}");
        }
    }

    #[test]
    fn parses_the_bedrock_transport() {
        let args = Args::try_parse_from([
            "spillway-loadtest",
            "--target",
            "http://127.0.0.1:8080",
            "--token",
            "t",
            "--transport",
            "bedrock",
            "--json",
            "r.json",
        ])
        .unwrap();
        assert_eq!(args.transport, TransportKind::Bedrock);
        assert_eq!(args.transport.as_str(), "bedrock");
        let args = Args::try_parse_from([
            "spillway-loadtest",
            "--target",
            "http://127.0.0.1:4000",
            "--token",
            "sk-x",
            "--transport",
            "openai",
            "--model",
            "claude",
            "--baseline-model",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "--json",
            "r.json",
        ])
        .unwrap();
        assert_eq!(args.transport, TransportKind::Openai);
        assert_eq!(args.transport.as_str(), "openai");
        assert_eq!(
            args.baseline_model(),
            "global.anthropic.claude-haiku-4-5-20251001-v1:0"
        );
    }

    #[test]
    fn refuses_negative_rates() {
        let parsed = Args::try_parse_from([
            "spillway-loadtest",
            "--target",
            "x",
            "--token",
            "t",
            "--rate",
            "-1",
            "--json",
            "r.json",
        ]);
        assert!(parsed.is_err());
    }
}
