//! One `Config`: every setting is a CLI flag with a `SPILLWAY_*` env var.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::TokenUse;
use crate::upstream::Api;
use crate::upstream::models::DEFAULT_MODEL;

#[derive(Debug, Parser)]
#[command(
    name = "spillway",
    version,
    about = "Stream Amazon Bedrock output over SSE, WebSocket and GraphQL."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `spillway` alone runs `spillway serve`.
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve(Box<Config>),
    /// Run the Bedrock simulator alone.
    Sim(SimArgs),
    /// Print a dev token signed with the key in the data dir.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, env = "SPILLWAY_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Also serve TLS here, HTTP/2 or HTTP/1.1 by ALPN, with a certificate
    /// made at start-up for `localhost` and `127.0.0.1` (port 0 picks a free one).
    #[arg(long, env = "SPILLWAY_SIM_TLS_LISTEN")]
    pub tls_listen: Option<SocketAddr>,
    /// Where that certificate (PEM) is written, for clients to trust
    /// (the gateway's `--upstream-ca-file`, `AWS_CA_BUNDLE` for boto3).
    #[arg(
        long,
        env = "SPILLWAY_SIM_TLS_CERT_OUT",
        default_value = ".spillway/sim-tls-cert.pem"
    )]
    pub tls_cert_out: PathBuf,
    /// Offer only `http/1.1` on the TLS port: a server without HTTP/2.
    #[arg(long, env = "SPILLWAY_SIM_HTTP1_ONLY")]
    pub http1_only: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's subject (the user).
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// Comma-separated `cognito:groups`.
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Where the dev signing key lives.
    #[arg(long, env = "SPILLWAY_DATA_DIR", default_value = ".spillway")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpstreamMode {
    /// The embedded Bedrock simulator on a loopback port.
    Sim,
    /// Amazon Bedrock (default credential chain; `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` honoured).
    Bedrock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// A local signing key in the data dir (`spillway token`).
    Dev,
    /// An Amazon Cognito user pool.
    Cognito,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistryMode {
    Memory,
    Dynamodb,
}

/// `SPILLWAY_TLS`: a certificate the gateway makes for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// A certificate for `localhost` and `127.0.0.1`, kept in the data dir
    /// (`tls-cert.pem`, for clients to trust) and reused across restarts.
    SelfSigned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of `spillway serve`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SPILLWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the fleet-internal listener (node-to-node routes, served nowhere else);
    /// required with `--registry dynamodb`, none by default.
    #[arg(long, env = "SPILLWAY_INTERNAL_LISTEN")]
    pub internal_listen: Option<SocketAddr>,
    #[arg(long, env = "SPILLWAY_UPSTREAM", value_enum, default_value_t = UpstreamMode::Sim)]
    pub upstream: UpstreamMode,
    #[arg(long, env = "SPILLWAY_AUTH", value_enum, default_value_t = AuthMode::Dev)]
    pub auth: AuthMode,
    #[arg(long, env = "SPILLWAY_REGISTRY", value_enum, default_value_t = RegistryMode::Memory)]
    pub registry: RegistryMode,
    /// Default Bedrock API path; a request may pick its own with `"api"`.
    #[arg(long, env = "SPILLWAY_API", value_enum, default_value_t = Api::Invoke)]
    pub api: Api,
    /// Where dev auth keeps its signing key.
    #[arg(long, env = "SPILLWAY_DATA_DIR", default_value = ".spillway")]
    pub data_dir: PathBuf,
    /// Let dev auth listen on a non-loopback address (anyone could mint tokens).
    #[arg(long, env = "SPILLWAY_ALLOW_PUBLIC_DEV_AUTH")]
    pub allow_public_dev_auth: bool,
    /// Serve HTTPS (ALPN `h2` and `http/1.1`) with this certificate chain (PEM); needs `--tls-key`.
    #[arg(long, env = "SPILLWAY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, env = "SPILLWAY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate of the gateway's own making (instead of `--tls-cert`).
    #[arg(long, env = "SPILLWAY_TLS", value_enum)]
    pub tls: Option<TlsMode>,

    #[arg(long, env = "SPILLWAY_COGNITO_USER_POOL_ID")]
    pub cognito_user_pool_id: Option<String>,
    /// Accepted app client ids (comma list).
    #[arg(long, env = "SPILLWAY_COGNITO_CLIENT_ID", value_delimiter = ',')]
    pub cognito_client_id: Vec<String>,
    #[arg(long, env = "SPILLWAY_COGNITO_TOKEN_USE", value_enum, default_value_t = TokenUse::Any)]
    pub cognito_token_use: TokenUse,
    /// Fetch the JWKS from here instead of the pool's URL (the issuer stays the pool's).
    #[arg(long, env = "SPILLWAY_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Cognito Hosted UI domain the web client signs in through (e.g. `example.auth.us-east-1.amazoncognito.com`).
    #[arg(long, env = "SPILLWAY_COGNITO_DOMAIN")]
    pub cognito_domain: Option<String>,
    /// App client the web client signs in with (public, PKCE); default: the first `--cognito-client-id`.
    #[arg(long, env = "SPILLWAY_COGNITO_WEB_CLIENT_ID")]
    pub cognito_web_client_id: Option<String>,
    /// Where the Hosted UI sends the browser back (default: the page's own origin + `/`).
    #[arg(long, env = "SPILLWAY_COGNITO_REDIRECT_URI")]
    pub cognito_redirect_uri: Option<String>,
    /// OAuth scopes the web client asks the Hosted UI for.
    #[arg(long, env = "SPILLWAY_COGNITO_SCOPES", default_value = "openid")]
    pub cognito_scopes: String,
    /// Clock-skew allowance for token expiry, in seconds.
    #[arg(long, env = "SPILLWAY_JWT_LEEWAY_SECS", default_value_t = 5)]
    pub jwt_leeway_secs: u64,
    #[arg(long, env = "SPILLWAY_ADMIN_GROUP", default_value = "admin")]
    pub admin_group: String,

    /// Model used when a request names none.
    #[arg(long, env = "SPILLWAY_DEFAULT_MODEL", default_value = DEFAULT_MODEL)]
    pub default_model: String,
    /// Models requests may name (comma list); empty = any model of a known family.
    #[arg(long, env = "SPILLWAY_ALLOWED_MODELS", value_delimiter = ',')]
    pub allowed_models: Vec<String>,
    /// Models tried in order when the requested one cannot start (throttled past
    /// its retries, unavailable, not ready); comma list. Each must be a known model
    /// (and listed in `SPILLWAY_ALLOWED_MODELS` when that is set).
    #[arg(long, env = "SPILLWAY_FALLBACK_MODELS", value_delimiter = ',')]
    pub fallback_models: Vec<String>,
    /// Extra model names for the Anthropic Messages API, a JSON object
    /// `{"alias":"bedrock-model-id"}`; they win over the built-in aliases.
    #[arg(long, env = "SPILLWAY_MODEL_ALIASES", default_value = "{}", value_parser = parse_model_aliases)]
    pub model_aliases: ModelAliases,
    /// The model each application inference profile routes to, a JSON object
    /// `{"arn:…:application-inference-profile/ID": "bedrock-model-id"}`: such a
    /// profile is then served as its model is (its own body on InvokeModel,
    /// its reasoning, its price), and admitted like any model.
    #[arg(long, env = "SPILLWAY_PROFILE_MODELS", default_value = "{}", value_parser = parse_profile_models)]
    pub profile_models: ProfileModels,
    /// Bedrock guardrail applied to requests that name none (needs `SPILLWAY_GUARDRAIL_VERSION`).
    #[arg(long, env = "SPILLWAY_GUARDRAIL_ID")]
    pub guardrail_id: Option<String>,
    /// Version (a number or `DRAFT`) of `SPILLWAY_GUARDRAIL_ID`.
    #[arg(long, env = "SPILLWAY_GUARDRAIL_VERSION")]
    pub guardrail_version: Option<String>,

    /// How long a stream nobody reads keeps its upstream call.
    #[arg(long, env = "SPILLWAY_CANCEL_GRACE_SECS", default_value_t = 5.0)]
    pub cancel_grace_secs: f64,
    /// How long finished sessions stay attachable.
    #[arg(long, env = "SPILLWAY_SESSION_RETENTION_SECS", default_value_t = 600)]
    pub session_retention_secs: u64,
    /// Shutdown deadline for running streams.
    #[arg(long, env = "SPILLWAY_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,
    /// Threads serving the public listener, each a single-threaded runtime
    /// with its own accept loop and upstream connections (default: one per
    /// core); 0 serves it on the shared multi-threaded runtime instead.
    #[arg(long, env = "SPILLWAY_SERVE_THREADS")]
    pub serve_threads: Option<usize>,
    /// No upstream data for this long ends a stream with an error event (more than 0).
    #[arg(
        long,
        env = "SPILLWAY_UPSTREAM_IDLE_TIMEOUT_SECS",
        default_value_t = 30.0,
        value_parser = positive_secs
    )]
    pub upstream_idle_timeout_secs: f64,
    /// No first token for this long ends a stream with an error event (more than 0).
    #[arg(
        long,
        env = "SPILLWAY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECS",
        default_value_t = 60.0,
        value_parser = positive_secs
    )]
    pub upstream_first_token_timeout_secs: f64,
    /// Attempts for a call throttled before its first token (1 = no retry).
    #[arg(long, env = "SPILLWAY_UPSTREAM_MAX_ATTEMPTS", default_value_t = 4, value_parser = at_least::<1, u32>)]
    pub upstream_max_attempts: u32,
    /// First backoff of those retries, in milliseconds (doubles, with jitter).
    #[arg(
        long,
        env = "SPILLWAY_UPSTREAM_INITIAL_BACKOFF_MS",
        default_value_t = 200
    )]
    pub upstream_initial_backoff_ms: u64,
    /// PEM certificates the upstream client trusts besides the system's
    /// roots (`--upstream bedrock`): a private CA, or `spillway sim --tls-listen`'s
    /// certificate. Checked at start-up.
    #[arg(long, env = "SPILLWAY_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,
    /// The embedded simulator (`--upstream sim`) over TLS with a certificate
    /// it makes, HTTP/2 by ALPN (`true`), or HTTP/1.1 in cleartext (`false`).
    #[arg(long, env = "SPILLWAY_SIM_HTTP2", default_value_t = true, action = clap::ArgAction::Set)]
    pub sim_http2: bool,
    /// Heartbeat comment interval on idle streams.
    #[arg(long, env = "SPILLWAY_HEARTBEAT_SECS", default_value_t = 15.0)]
    pub heartbeat_secs: f64,
    /// GraphQL over WebSocket: close with 4408 when no `connection_init` arrives within this (more than 0).
    #[arg(
        long,
        env = "SPILLWAY_GRAPHQL_INIT_TIMEOUT_SECS",
        default_value_t = 3.0,
        value_parser = positive_secs
    )]
    pub graphql_init_timeout_secs: f64,
    /// Largest GraphQL document (the `query` text), in bytes; larger ones are refused before parsing.
    #[arg(
        long,
        env = "SPILLWAY_GRAPHQL_MAX_DOCUMENT_BYTES",
        default_value_t = 64 * 1024
    )]
    pub graphql_max_document_bytes: usize,
    /// Serve GraphiQL at `GET /graphql` (default: only with `--auth dev`). Its
    /// page loads React and GraphiQL from unpkg.com, which then run on the
    /// gateway's origin, beside the web client and its tokens.
    #[arg(long, env = "SPILLWAY_GRAPHIQL")]
    pub graphiql: Option<bool>,
    /// GraphQL `onTokenReceived`: how long a subscription waits for a session that does not exist yet.
    #[arg(
        long,
        env = "SPILLWAY_GRAPHQL_SESSION_WAIT_SECS",
        default_value_t = 30.0
    )]
    pub graphql_session_wait_secs: f64,

    /// Most bytes session logs may hold (streaming and retained); past it the
    /// oldest finished sessions are dropped (`410` afterwards). Default: a
    /// quarter of the memory the process may use.
    #[arg(long, env = "SPILLWAY_SESSION_MEMORY_BYTES", value_parser = at_least::<1, u64>)]
    pub session_memory_bytes: Option<u64>,
    /// Most sessions held at once (streaming and retained).
    #[arg(long, env = "SPILLWAY_MAX_SESSIONS", default_value_t = 100_000, value_parser = at_least::<1, usize>)]
    pub max_sessions: usize,
    /// Most events in one session's log; past it the stream ends with an error
    /// event (at least 2: a token and the final event).
    #[arg(
        long,
        env = "SPILLWAY_MAX_EVENTS_PER_SESSION",
        default_value_t = 100_000,
        value_parser = at_least::<2, u64>
    )]
    pub max_events_per_session: u64,
    /// Largest request body, in bytes (default 6 MiB: one image at Bedrock's
    /// 3.75 MB limit, base64, with room for the conversation).
    #[arg(long, env = "SPILLWAY_MAX_BODY_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest prompt (all message text together, tool inputs and results
    /// included; attachments are bounded by the body limit), in bytes
    /// (default 4 MiB: a full 200k-token context, as Claude Code sends one
    /// before it compacts, with room to spare).
    #[arg(long, env = "SPILLWAY_MAX_PROMPT_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_prompt_bytes: usize,

    /// This node's id in the registry (default: a random one per start).
    #[arg(long, env = "SPILLWAY_NODE_ID")]
    pub node_id: Option<String>,
    /// How other nodes reach this node's internal listener (default: `http://` + its bound address).
    #[arg(long, env = "SPILLWAY_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Authenticates node-to-node calls; required with `--registry dynamodb`.
    #[arg(long, env = "SPILLWAY_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// How often this node refreshes its liveness record.
    #[arg(long, env = "SPILLWAY_NODE_HEARTBEAT_SECS", default_value_t = 5)]
    pub node_heartbeat_secs: u64,
    /// The DynamoDB table of `--registry dynamodb`.
    #[arg(long, env = "SPILLWAY_DYNAMODB_TABLE")]
    pub dynamodb_table: Option<String>,
    /// Create the DynamoDB table when it is missing (same definition as `infra/`).
    #[arg(long, env = "SPILLWAY_DYNAMODB_CREATE_TABLE")]
    pub dynamodb_create_table: bool,
    /// Concurrent streams one user may run, across the fleet.
    #[arg(long, env = "SPILLWAY_MAX_STREAMS_PER_USER", default_value_t = 1000, value_parser = at_least::<1, u64>)]
    pub max_streams_per_user: u64,
    /// Tokens (input, cache reads and writes, output) one user may use per UTC day; 0 = no limit.
    #[arg(
        long,
        env = "SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY",
        default_value_t = 0
    )]
    pub max_tokens_per_user_per_day: u64,
    /// USD one user may spend per UTC day (priced models only), across the fleet; 0 = no limit.
    #[arg(
        long,
        env = "SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY",
        default_value_t = 0.0,
        value_parser = parse_cost_limit
    )]
    pub max_cost_usd_per_user_per_day: f64,
    /// A JSON file of prices replacing or extending the built-in table:
    /// `{"MODEL_ID": {"input": x, "output": y, "cacheRead": z, "cacheWrite": w}}`
    /// (USD per 1,000 tokens).
    #[arg(long, env = "SPILLWAY_PRICES_FILE", value_parser = parse_prices_file)]
    pub prices_file: Option<crate::cost::Prices>,
    /// Largest WebSocket message a client may send, in bytes (larger: close 1009).
    #[arg(long, env = "SPILLWAY_WS_MAX_MESSAGE_BYTES", default_value_t = 128 * 1024)]
    pub ws_max_message_bytes: usize,
    /// Most streams and subscriptions running at once on one WebSocket.
    #[arg(
        long,
        env = "SPILLWAY_WS_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 1000
    )]
    pub ws_max_streams_per_connection: usize,
    /// Most connections one user may hold: sockets (across the fleet) and
    /// HTTP readers of their own sessions (on this node).
    #[arg(
        long,
        env = "SPILLWAY_MAX_CONNECTIONS_PER_USER",
        default_value_t = 10_000
    )]
    pub max_connections_per_user: usize,
    /// Messages a client may send per second on one WebSocket (and at once,
    /// as a burst); past it the socket closes with 1008; 0 = no limit.
    #[arg(long, env = "SPILLWAY_WS_RATE_LIMIT_PER_SEC", default_value_t = 100)]
    pub ws_rate_limit_per_sec: u32,
    /// Messages buffered per WebSocket before its readers wait (and `@connections` POSTs get 429).
    #[arg(long, env = "SPILLWAY_WS_OUTBOUND_BUFFER", default_value_t = 256)]
    pub ws_outbound_buffer: usize,
    /// Server ping interval; a peer silent for two intervals is dropped.
    #[arg(long, env = "SPILLWAY_WS_PING_SECS", default_value_t = 30.0)]
    pub ws_ping_secs: f64,
    /// Close a WebSocket with no client message and no running stream for this long.
    #[arg(long, env = "SPILLWAY_WS_IDLE_TIMEOUT_SECS", default_value_t = 600.0)]
    pub ws_idle_timeout_secs: f64,
    /// Close any WebSocket after this long.
    #[arg(
        long,
        env = "SPILLWAY_WS_MAX_LIFETIME_SECS",
        default_value_t = 86_400.0
    )]
    pub ws_max_lifetime_secs: f64,

    /// Most open connections in all.
    #[arg(long, env = "SPILLWAY_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,
    /// Most open connections from one IP address.
    #[arg(
        long,
        env = "SPILLWAY_MAX_CONNECTIONS_PER_IP",
        default_value_t = 10_000
    )]
    pub max_connections_per_ip: usize,
    /// Requests per second one IP address may make (burst below); 0 = no limit.
    #[arg(long, env = "SPILLWAY_RATE_LIMIT_PER_SEC", default_value_t = 1000)]
    pub rate_limit_per_sec: u32,
    /// Requests one IP address may make in a burst (with a rate limit: at least 1).
    #[arg(long, env = "SPILLWAY_RATE_LIMIT_BURST", default_value_t = 5000, value_parser = at_least::<1, u32>)]
    pub rate_limit_burst: u32,
    /// Origins allowed by CORS and for browser WebSockets (comma list of
    /// `scheme://host[:port]` as browsers send them, `*` = any); same-origin always works.
    #[arg(long, env = "SPILLWAY_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Time a request may take to produce its response headers (more than 0).
    #[arg(long, env = "SPILLWAY_REQUEST_TIMEOUT_SECS", default_value_t = 60.0, value_parser = positive_secs)]
    pub request_timeout_secs: f64,
    /// Time a request's head (request line and headers) may take to arrive; then the connection closes.
    #[arg(
        long,
        env = "SPILLWAY_HTTP_HEADER_TIMEOUT_SECS",
        default_value_t = 10.0
    )]
    pub http_header_timeout_secs: f64,
    /// Time a kept-alive HTTP connection may wait for its next request; then it closes.
    #[arg(long, env = "SPILLWAY_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60.0)]
    pub http_idle_timeout_secs: f64,
    /// Peers (CIDR blocks or addresses, comma list) whose `X-Forwarded-For` is believed; empty = none.
    #[arg(long, env = "SPILLWAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::edge::ProxyRange>,

    #[arg(long, env = "SPILLWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `SPILLWAY_MODEL_ALIASES`: model names a client may use, each for a Bedrock model id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelAliases(pub std::collections::BTreeMap<String, String>);

/// `SPILLWAY_PROFILE_MODELS`: application-inference-profile ARN → the model it routes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileModels(pub std::collections::BTreeMap<String, String>);

/// A JSON object whose keys are application-inference-profile ARNs and whose
/// values are model ids of a known family.
fn parse_profile_models(s: &str) -> Result<ProfileModels, String> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(s).map_err(|e| {
        format!(
            "SPILLWAY_PROFILE_MODELS must be a JSON object {{\"application-inference-profile ARN\":\"bedrock-model-id\"}}: {e}"
        )
    })?;
    for (arn, model) in &map {
        if !crate::upstream::model_id::is_application_profile(arn) {
            return Err(format!(
                "SPILLWAY_PROFILE_MODELS: '{arn}' is not an application-inference-profile ARN"
            ));
        }
        if crate::upstream::models::ModelFamily::from_model_id(model).is_none() {
            return Err(format!(
                "SPILLWAY_PROFILE_MODELS: '{model}' (for {arn}) is not a model of a known family"
            ));
        }
    }
    Ok(ProfileModels(map))
}

/// `SPILLWAY_PRICES_FILE`: the built-in prices with the file's entries.
fn parse_prices_file(path: &str) -> Result<crate::cost::Prices, String> {
    crate::cost::Prices::load(std::path::Path::new(path))
        .map_err(|e| format!("SPILLWAY_PRICES_FILE {e}"))
}

/// `SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY`: a number of USD, not negative.
fn parse_cost_limit(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
        _ => Err(format!(
            "SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY must be a number of USD, 0 or more (got '{s}')"
        )),
    }
}

/// A number of seconds more than 0: for a timeout, 0 would fail or close
/// everything it times at once.
fn positive_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(secs),
        _ => Err(format!(
            "must be a number of seconds more than 0 (got '{s}')"
        )),
    }
}

/// A whole number of at least `MIN`: for a limit without a "0 = no
/// limit", 0 would refuse everything it limits.
fn at_least<const MIN: u64, T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= MIN)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("must be a whole number, at least {MIN} (got '{s}')"))
}

/// A `SPILLWAY_CORS_ORIGINS` entry: `*`, or an origin as a browser sends it
/// in `Origin` (`scheme://host[:port]`: no path, no user, no trailing `/`),
/// which is what it is compared with. An empty entry stands for none.
fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s == "*" {
        return Ok(s.to_owned());
    }
    let bad = |why: &str| {
        format!(
            "'{s}' is not an origin ({why}): `*`, or scheme://host[:port] as browsers send it, e.g. https://app.example.com"
        )
    };
    let (scheme, authority) = s.split_once("://").ok_or_else(|| bad("no scheme://"))?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(bad("the scheme is lowercase letters, digits, `+-.`"));
    }
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return Err(bad("only a host and port follow the scheme"));
    }
    if authority.parse::<axum::http::uri::Authority>().is_err() {
        return Err(bad("not a host[:port]"));
    }
    Ok(s.to_owned())
}

/// The `SPILLWAY_*` variables among `names` that no setting reads (a
/// misspelt one is otherwise ignored without a word), each with the name of
/// the setting it is closest to, when one is close.
pub fn unknown_env_vars(names: impl IntoIterator<Item = String>) -> Vec<(String, Option<String>)> {
    use clap::CommandFactory;
    fn env_names(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            env_names(sub, out);
        }
    }
    let mut known = std::collections::BTreeSet::new();
    env_names(&Cli::command(), &mut known);
    names
        .into_iter()
        .filter(|name| name.starts_with("SPILLWAY_") && !known.contains(name))
        .map(|name| {
            let closest = known
                .iter()
                .map(|k| (strsim::levenshtein(&name, k), k))
                .min()
                .filter(|(distance, _)| *distance <= 3)
                .map(|(_, k)| k.clone());
            (name, closest)
        })
        .collect()
}

/// Log a warning for each `SPILLWAY_*` variable of this process that no
/// setting reads ([`unknown_env_vars`]).
pub fn warn_about_unknown_env_vars() {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for (variable, closest) in unknown_env_vars(names) {
        match closest {
            Some(setting) => tracing::warn!(
                variable,
                "not a setting of spillway: ignored (did you mean {setting}?)"
            ),
            None => tracing::warn!(
                variable,
                "not a setting of spillway: ignored (`spillway serve --help` lists them)"
            ),
        }
    }
}

/// A JSON object of strings, none of them empty.
fn parse_model_aliases(s: &str) -> Result<ModelAliases, String> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(s).map_err(|e| {
        format!(
            "SPILLWAY_MODEL_ALIASES must be a JSON object {{\"alias\":\"bedrock-model-id\"}}: {e}"
        )
    })?;
    if let Some((alias, _)) = map
        .iter()
        .find(|(a, id)| a.trim().is_empty() || id.trim().is_empty())
    {
        return Err(format!(
            "SPILLWAY_MODEL_ALIASES: alias '{alias}' and its model id must not be empty"
        ));
    }
    Ok(ModelAliases(map))
}

impl Config {
    /// The settings of `spillway serve` with no flags (`SPILLWAY_*` env vars still apply).
    pub fn local_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        // Parsing no arguments cannot fail: every field has a default.
        match Only::try_parse_from(["spillway"]) {
            Ok(o) => o.config,
            Err(e) => panic!("built-in defaults must parse: {e}"),
        }
    }

    pub fn cancel_grace(&self) -> Duration {
        secs(self.cancel_grace_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        secs(self.upstream_idle_timeout_secs)
    }

    pub fn first_token_timeout(&self) -> Duration {
        secs(self.upstream_first_token_timeout_secs)
    }

    pub fn ws_limits(&self) -> crate::socket::WsLimits {
        crate::socket::WsLimits {
            max_message_bytes: self.ws_max_message_bytes.max(1),
            max_streams_per_connection: self.ws_max_streams_per_connection,
            max_connections_per_user: self.max_connections_per_user,
            max_messages_per_sec: std::num::NonZeroU32::new(self.ws_rate_limit_per_sec),
            outbound_buffer: self.ws_outbound_buffer.max(1),
            ping_interval: secs(self.ws_ping_secs).max(Duration::from_millis(50)),
            idle_timeout: secs(self.ws_idle_timeout_secs),
            max_lifetime: secs(self.ws_max_lifetime_secs),
        }
    }

    pub fn graphql_init_timeout(&self) -> Duration {
        secs(self.graphql_init_timeout_secs)
    }

    /// Whether GraphiQL is served: as `SPILLWAY_GRAPHIQL` says, else in local (dev auth) mode only.
    pub fn serves_graphiql(&self) -> bool {
        self.graphiql.unwrap_or(self.auth == AuthMode::Dev)
    }

    pub fn graphql_session_wait(&self) -> Duration {
        secs(self.graphql_session_wait_secs)
    }

    pub fn http_timeouts(&self) -> crate::edge::HttpTimeouts {
        crate::edge::HttpTimeouts {
            header: secs(self.http_header_timeout_secs).max(Duration::from_millis(100)),
            idle: secs(self.http_idle_timeout_secs).max(Duration::from_millis(100)),
        }
    }

    /// Threads serving the public listener: `serve_threads`, or one per core.
    pub fn serve_threads(&self) -> usize {
        self.serve_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    pub fn heartbeat(&self) -> Duration {
        secs(self.heartbeat_secs).max(Duration::from_millis(100))
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GraphiQL loads third-party scripts onto the gateway's origin: served
    /// by default only in local mode, else when asked for.
    #[test]
    fn graphiql_is_served_in_local_mode_or_when_asked_for() {
        let serves = |var: Option<&str>, auth: &str| {
            let mut c = serve_with("SPILLWAY_AUTH", auth).unwrap();
            if let Some(v) = var {
                c.graphiql = Some(v == "true");
            }
            c.serves_graphiql()
        };
        assert!(serves(None, "dev"));
        assert!(!serves(None, "cognito"));
        assert!(serves(Some("true"), "cognito"));
        assert!(!serves(Some("false"), "dev"));
        assert_eq!(
            serve_with("SPILLWAY_GRAPHIQL", "true").unwrap().graphiql,
            Some(true)
        );
    }

    /// Each value as `spillway serve` reads it from the environment.
    fn serve_with(var: &str, value: &str) -> Result<Config, clap::Error> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        // Flags, not the environment: tests run in parallel in one process.
        let flag = format!(
            "--{}={value}",
            var.trim_start_matches("SPILLWAY_")
                .to_ascii_lowercase()
                .replace('_', "-")
        );
        Only::try_parse_from(["spillway", &flag]).map(|o| o.config)
    }

    #[test]
    fn values_that_would_refuse_or_fail_everything_are_refused() {
        for (var, value) in [
            ("SPILLWAY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECS", "0"),
            ("SPILLWAY_UPSTREAM_IDLE_TIMEOUT_SECS", "0"),
            ("SPILLWAY_UPSTREAM_IDLE_TIMEOUT_SECS", "-1"),
            ("SPILLWAY_UPSTREAM_IDLE_TIMEOUT_SECS", "NaN"),
            ("SPILLWAY_GRAPHQL_INIT_TIMEOUT_SECS", "0"),
            ("SPILLWAY_REQUEST_TIMEOUT_SECS", "0"),
            ("SPILLWAY_MAX_STREAMS_PER_USER", "0"),
            ("SPILLWAY_MAX_EVENTS_PER_SESSION", "0"),
            ("SPILLWAY_MAX_EVENTS_PER_SESSION", "1"),
            ("SPILLWAY_SESSION_MEMORY_BYTES", "0"),
            ("SPILLWAY_UPSTREAM_MAX_ATTEMPTS", "0"),
            ("SPILLWAY_RATE_LIMIT_BURST", "0"),
            ("SPILLWAY_MAX_SESSIONS", "0"),
            ("SPILLWAY_CORS_ORIGINS", "notanorigin"),
            ("SPILLWAY_CORS_ORIGINS", "https://app.example.com/"),
            (
                "SPILLWAY_CORS_ORIGINS",
                "https://app.example.com,https://x.example/path",
            ),
            ("SPILLWAY_CORS_ORIGINS", "HTTPS://app.example.com"),
        ] {
            let err = serve_with(var, value).expect_err(&format!("{var}={value}"));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{var}={value}: {err}"
            );
        }
        for (var, value) in [
            ("SPILLWAY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECS", "0.5"),
            ("SPILLWAY_MAX_STREAMS_PER_USER", "1"),
            ("SPILLWAY_MAX_EVENTS_PER_SESSION", "2"),
            ("SPILLWAY_UPSTREAM_MAX_ATTEMPTS", "1"),
            // 0 = no limit, as documented.
            ("SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY", "0"),
            ("SPILLWAY_RATE_LIMIT_PER_SEC", "0"),
            ("SPILLWAY_CANCEL_GRACE_SECS", "0"),
            ("SPILLWAY_CORS_ORIGINS", "*"),
            (
                "SPILLWAY_CORS_ORIGINS",
                "https://app.example.com,http://localhost:5173",
            ),
            ("SPILLWAY_CORS_ORIGINS", "chrome-extension://abcdef"),
        ] {
            assert!(serve_with(var, value).is_ok(), "{var}={value}");
        }
    }

    #[test]
    fn unknown_spillway_variables_are_named_with_the_closest_setting() {
        let names = [
            "SPILLWAY_MAX_TOKENS_PER_USR_PER_DAY",
            "SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY",
            "SPILLWAY_SIM_LISTEN",
            "SPILLWAY_NOTHING_LIKE_ANY_SETTING",
            "PATH",
        ]
        .map(String::from);
        assert_eq!(
            unknown_env_vars(names),
            [
                (
                    "SPILLWAY_MAX_TOKENS_PER_USR_PER_DAY".to_owned(),
                    Some("SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY".to_owned())
                ),
                ("SPILLWAY_NOTHING_LIKE_ANY_SETTING".to_owned(), None),
            ]
        );
    }

    #[test]
    fn profile_models_name_profiles_and_known_models() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p1";
        let ok = parse_profile_models(&format!(
            r#"{{"{arn}": "anthropic.claude-sonnet-4-5-20250929-v1:0"}}"#
        ))
        .unwrap();
        assert_eq!(ok.0.len(), 1);
        assert!(parse_profile_models("{}").unwrap().0.is_empty());
        let not_a_profile =
            parse_profile_models(r#"{"us.amazon.nova-lite-v1:0": "amazon.nova-lite-v1:0"}"#);
        assert!(
            not_a_profile
                .unwrap_err()
                .contains("not an application-inference-profile ARN")
        );
        let unknown = parse_profile_models(&format!(r#"{{"{arn}": "openai.gpt-oss-120b-1:0"}}"#));
        assert!(
            unknown
                .unwrap_err()
                .contains("not a model of a known family")
        );
        assert!(
            parse_profile_models("[]")
                .unwrap_err()
                .contains("JSON object")
        );
    }
}
