//! Start-up and shutdown: config → state → listening server, and a drain
//! with a deadline. `main` and the integration tests both go through here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::dev::{DEV_CLIENT_ID, DEV_ISSUER, DevIssuer, DevKeyError};
use crate::auth::jwks::KeySet;
use crate::auth::{Verifier, VerifierConfig};
use crate::cluster::Cluster;
use crate::cluster::relay::Relay;
use crate::config::{AuthMode, Config, RegistryMode, TlsMode, UpstreamMode};
use crate::edge::{Admission, CappedListener, ConnectionCaps, EdgeConfig, TrustedProxies};
use crate::hub::{Fleet, Hub, HubConfig, RunnerConfig};
use crate::registry::Registry;
use crate::registry::dynamo::DynamoRegistry;
use crate::request::ModelPolicy;
use crate::state::AppState;
use crate::upstream::Upstream;
use crate::upstream::bedrock::{BedrockUpstream, RetryPolicy};
use crate::upstream::http_client::read_ca_file;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "dev auth would let anyone mint tokens: refusing to listen on non-loopback {0} (use --allow-public-dev-auth to force it)"
    )]
    PublicDevAuth(SocketAddr),
    #[error(transparent)]
    DevKey(#[from] DevKeyError),
    #[error("cognito auth needs {0}")]
    CognitoConfig(&'static str),
    #[error(
        "--registry dynamodb needs SPILLWAY_CLUSTER_SECRET (it authenticates node-to-node calls)"
    )]
    ClusterSecret,
    #[error("--registry dynamodb needs --dynamodb-table (SPILLWAY_DYNAMODB_TABLE)")]
    DynamoTable,
    #[error(
        "--registry dynamodb needs --internal-listen (SPILLWAY_INTERNAL_LISTEN): node-to-node routes are served only there, never on the public listener"
    )]
    InternalListen,
    #[error(transparent)]
    Table(#[from] crate::registry::dynamo::table::TableError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    HttpClient(String),
    #[error(
        "TLS needs both --tls-cert and --tls-key (SPILLWAY_TLS_CERT, SPILLWAY_TLS_KEY), or SPILLWAY_TLS=self-signed alone"
    )]
    TlsConfig,
    #[error(transparent)]
    Tls(#[from] crate::edge::tls::TlsError),
    #[error(transparent)]
    SelfSigned(#[from] crate::edge::self_signed::SelfSignedError),
    #[error(transparent)]
    Models(#[from] crate::request::ModelSettingError),
    #[error(transparent)]
    FallbackModels(#[from] crate::upstream::fallback::FallbackConfigError),
    #[error("{0}")]
    Guardrail(String),
    #[error(transparent)]
    UpstreamClient(#[from] crate::upstream::http_client::HttpClientError),
    #[error(transparent)]
    SimTls(#[from] spillway_sim::SimTlsError),
}

/// A running gateway.
pub struct Server {
    addr: SocketAddr,
    /// `https` under TLS, else `http`.
    scheme: &'static str,
    internal_addr: Option<SocketAddr>,
    sim_addr: Option<SocketAddr>,
    state: AppState,
    stop: CancellationToken,
    sim_stop: CancellationToken,
    drain: Duration,
    tasks: TaskTracker,
    http: JoinHandle<()>,
    internal: Option<JoinHandle<()>>,
    /// Fired when shutdown has drained sessions and sockets, or when the
    /// server is dropped: the serving threads end then.
    drained: CancellationToken,
    _drained_on_drop: tokio_util::sync::DropGuard,
}

/// How long connections may outlast the drain deadline before they are dropped.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Build everything `config` asks for and start listening.
    pub async fn start(config: Config) -> Result<Self, StartupError> {
        if config.auth == AuthMode::Dev
            && !config.listen.ip().is_loopback()
            && !config.allow_public_dev_auth
        {
            return Err(StartupError::PublicDevAuth(config.listen));
        }
        if config.registry == RegistryMode::Dynamodb
            && config.cluster_secret.as_deref().unwrap_or("").is_empty()
        {
            return Err(StartupError::ClusterSecret);
        }
        if config.registry == RegistryMode::Dynamodb && config.internal_listen.is_none() {
            return Err(StartupError::InternalListen);
        }
        let default_guardrail = crate::upstream::guardrail::Guardrail::deployment_default(
            config.guardrail_id.as_deref(),
            config.guardrail_version.as_deref(),
        )
        .map_err(StartupError::Guardrail)?;
        let models = Arc::new(ModelPolicy {
            default_model: config.default_model.clone(),
            allowed: config.allowed_models.clone(),
            default_api: config.api,
            max_prompt_bytes: config.max_prompt_bytes,
            default_guardrail,
            profiles: config.profile_models.clone(),
        });
        models.check()?;
        crate::upstream::fallback::check(&config.fallback_models, &config.allowed_models)?;
        let prices = config.prices_file.clone().unwrap_or_default();
        for (variable, model) in models.unfamiliar(&config.fallback_models, &prices) {
            tracing::warn!(
                variable,
                model,
                "a model id this build does not know (not listed, not priced): check its spelling; \
                 a model newer than this build is served as its family's"
            );
        }
        let tls = tls_acceptor(&config)?;
        let caps = connection_caps(&config);
        let stop = CancellationToken::new();
        // The embedded simulator stops last, after the streams it feeds have drained.
        let sim_stop = CancellationToken::new();
        let tasks = TaskTracker::new();

        let (verifier, dev) = build_auth(&config, &tasks, &stop).await?;

        let retry = RetryPolicy {
            max_attempts: config.upstream_max_attempts,
            initial_backoff: Duration::from_millis(config.upstream_initial_backoff_ms),
        };
        let (upstream, sim_addr): (Arc<dyn Upstream>, _) = match config.upstream {
            UpstreamMode::Sim => {
                let (upstream, addr) =
                    crate::local_sim::start(&config, retry, &tasks, &sim_stop).await?;
                (upstream, Some(addr))
            }
            UpstreamMode::Bedrock => {
                let extra_ca = match &config.upstream_ca_file {
                    Some(path) => vec![read_ca_file(path)?],
                    None => Vec::new(),
                };
                (
                    Arc::new(BedrockUpstream::from_env(retry, extra_ca).await?),
                    None,
                )
            }
        };

        let listener = bind(config.listen).await?;
        let addr = local_addr(&listener)?;
        let internal_listener = match config.internal_listen {
            Some(at) => Some(bind(at).await?),
            None => None,
        };
        let internal_addr = internal_listener.as_ref().map(local_addr).transpose()?;
        let registry = match config.registry {
            RegistryMode::Memory => Registry::memory(),
            RegistryMode::Dynamodb => {
                let table = config
                    .dynamodb_table
                    .clone()
                    .ok_or(StartupError::DynamoTable)?;
                Registry::dynamo(
                    DynamoRegistry::connect(table, config.dynamodb_create_table).await?,
                )
            }
        };
        let node = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4().simple()));
        let http_client = reqwest::Client::builder()
            .build()
            .map_err(|e| StartupError::HttpClient(e.to_string()))?;
        let cluster = Cluster::new(
            node.clone(),
            // Other nodes call the internal routes, which only the internal listener serves.
            config
                .advertise_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", internal_addr.unwrap_or(addr))),
            config.cluster_secret.clone(),
            registry.clone(),
            http_client,
            Duration::from_secs(config.node_heartbeat_secs.max(1)),
        );
        if let Err(e) = cluster.beat().await {
            tracing::warn!(error = %e, "first node heartbeat failed; /readyz fails until one succeeds");
        }
        tasks.spawn(cluster.clone().heartbeat_loop(stop.clone()));
        let metrics = crate::metrics::Metrics::new();
        let relay = registry.shared.then(|| -> Arc<dyn crate::hub::Origin> {
            // Three missed origin heartbeats (at most 5 s apart) mean the origin is gone.
            let idle = config.heartbeat().min(Duration::from_secs(5)) * 3;
            Arc::new(Relay::new(cluster.clone(), idle, metrics.clone()))
        });

        let edge = EdgeConfig::new(
            config.cors_origins.clone(),
            config.rate_limit_per_sec,
            config.rate_limit_burst,
            Duration::try_from_secs_f64(config.request_timeout_secs.max(0.1))
                .unwrap_or(Duration::from_secs(60)),
        )
        .with_trusted_proxies(TrustedProxies::new(&config.trusted_proxies));
        let prune = edge.clone();
        let prune_stop = stop.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = prune_stop.cancelled() => break,
                    _ = tick.tick() => prune.prune(),
                }
            }
        });
        let upstream = crate::upstream::fallback::Fallback::wrap(
            upstream,
            &config.fallback_models,
            metrics.clone(),
        );
        let hub = Hub::with_fleet(
            upstream,
            HubConfig {
                runner: RunnerConfig {
                    first_token_timeout: config.first_token_timeout(),
                    idle_timeout: config.idle_timeout(),
                    cancel_grace: config.cancel_grace(),
                    max_events: config.max_events_per_session.max(2),
                },
                retention: Duration::from_secs(config.session_retention_secs),
                max_sessions: config.max_sessions.max(1),
                session_wait: config.graphql_session_wait(),
                session_memory_bytes: config
                    .session_memory_bytes
                    .unwrap_or_else(crate::hub::default_session_budget),
            },
            Fleet {
                registry: registry.clone(),
                node: node.clone(),
                relay,
                max_streams_per_user: config.max_streams_per_user,
                max_tokens_per_user_per_day: config.max_tokens_per_user_per_day,
                max_cost_usd_per_user_per_day: config.max_cost_usd_per_user_per_day,
                prices: Arc::new(
                    config
                        .prices_file
                        .clone()
                        .unwrap_or_default()
                        .with_profiles(&config.profile_models.0),
                ),
            },
            metrics.clone(),
        );
        hub.spawn_sweeper();

        let connections =
            crate::socket::Connections::new(registry.connections.clone(), node, config.ws_limits());
        let state = AppState::new(crate::state::Shared {
            hub,
            connections,
            cluster,
            metrics,
            edge: edge.clone(),
            verifier,
            models,
            model_aliases: Arc::new(config.model_aliases.clone()),
            dev,
            heartbeat: config.heartbeat(),
            graphql_init_timeout: config.graphql_init_timeout(),
            graphql_max_document_bytes: config.graphql_max_document_bytes,
            graphiql: config.serves_graphiql(),
            admin_group: Arc::from(config.admin_group.as_str()),
            max_body_bytes: config.max_body_bytes,
            web: Arc::new(crate::transport::web::WebConfig::from_config(&config)),
        });

        let timeouts = config.http_timeouts();
        let deadline = Duration::from_secs(config.drain_secs) + CONNECTION_GRACE;
        // Fires once shutdown has drained sessions and sockets: the serving
        // threads' runtimes (where those ran) end then.
        let drained = CancellationToken::new();
        let http = match config.serve_threads() {
            0 => tokio::spawn(crate::edge::http::serve(
                CappedListener::new(listener, caps),
                crate::app(state.clone()),
                timeouts,
                tls.as_ref().map(|(acceptor, _)| acceptor.clone()),
                stop.clone(),
                deadline,
            )),
            threads => crate::edge::http::serve_on_threads(
                threads,
                listener,
                Admission::new(caps),
                crate::app(state.clone()),
                timeouts,
                tls.as_ref().map(|(acceptor, _)| acceptor.clone()),
                stop.clone(),
                drained.clone(),
                deadline,
            )
            .map_err(|source| StartupError::Bind { addr, source })?,
        };
        // The internal listener serves on through the drain, until sessions
        // and sockets have drained: other nodes' readers of the streams
        // still running here (a client a load balancer moved) attach to them
        // through it.
        let internal = internal_listener.map(|listener| {
            tokio::spawn(crate::edge::http::serve(
                CappedListener::new(listener, caps),
                crate::internal_app(state.clone()),
                timeouts,
                None,
                drained.clone(),
                deadline,
            ))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            %addr,
            internal = ?internal_addr,
            upstream = ?config.upstream,
            auth = ?config.auth,
            sim = ?sim_addr,
            protocols = if tls.is_some() {
                "HTTP/1.1 and HTTP/2 over TLS (ALPN h2, http/1.1)"
            } else {
                "HTTP/1.1 and cleartext HTTP/2 (prior knowledge)"
            },
            cert = ?tls.as_ref().map(|(_, cert)| cert),
            "spillway listening on {scheme}://{addr}"
        );
        Ok(Self {
            addr,
            scheme,
            internal_addr,
            sim_addr,
            state,
            stop,
            sim_stop,
            drain: Duration::from_secs(config.drain_secs),
            tasks,
            http,
            internal,
            _drained_on_drop: drained.clone().drop_guard(),
            drained,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The public listener's base URL: `https://…` under TLS, else `http://…`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The fleet-internal listener's address (`--internal-listen`).
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        self.internal_addr
    }

    /// The embedded simulator's address (`--upstream sim`).
    pub fn sim_addr(&self) -> Option<SocketAddr> {
        self.sim_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stop accepting, let streams finish within the drain deadline, then stop everything.
    pub async fn shutdown(self) {
        tracing::info!(deadline_secs = self.drain.as_secs(), "draining");
        // Stop accepting new connections; open streams go on until they end or the deadline.
        let hub = self.state.hub.clone();
        let http_stop = self.stop.clone();
        let drain = self.drain;
        let connections = self.state.connections.clone();
        let drained = self.drained.clone();
        let stopping = async move {
            // The listeners stop accepting once the token fires; streams end when their
            // sessions do, and WebSockets close with 1001 once their streams have ended.
            http_stop.cancel();
            tokio::join!(hub.shutdown(drain), connections.shutdown());
            drained.cancel();
        };
        let internal = async move {
            if let Some(internal) = self.internal {
                let _ = internal.await;
            }
        };
        let (_, served, _) = tokio::join!(stopping, self.http, internal);
        if let Err(e) = served {
            tracing::warn!(error = %e, "the HTTP server task failed");
        }
        self.sim_stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        tracing::info!("stopped");
    }
}

/// Raise the descriptor limit, then fit the configured connection caps under it.
fn connection_caps(config: &Config) -> ConnectionCaps {
    let configured = ConnectionCaps {
        max_total: config.max_connections.max(1),
        max_per_ip: config.max_connections_per_ip.max(1),
    };
    let raised = crate::edge::descriptors::raise_nofile_limit();
    let limit = match raised {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the descriptor limit");
            match crate::edge::descriptors::nofile_limit() {
                Ok(limit) => limit,
                Err(_) => return configured,
            }
        }
    };
    let caps = ConnectionCaps::fit(configured, limit);
    tracing::info!(
        descriptor_limit = limit,
        max_connections = caps.max_total,
        max_connections_per_ip = caps.max_per_ip,
        "connection caps"
    );
    if caps.max_per_ip < 1000 && configured.max_per_ip >= 1000 {
        tracing::warn!(
            descriptor_limit = limit,
            "the descriptor limit holds fewer than 1,000 connections per address; raise the hard limit (ulimit -Hn)"
        );
    }
    caps
}

/// The TLS acceptor `config` asks for, with the certificate file it serves
/// (the one clients trust, for a self-signed one); `None` for plain HTTP.
fn tls_acceptor(
    config: &Config,
) -> Result<Option<(tokio_rustls::TlsAcceptor, std::path::PathBuf)>, StartupError> {
    let (cert, key) = match (&config.tls, &config.tls_cert, &config.tls_key) {
        (None, None, None) => return Ok(None),
        (None, Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (Some(TlsMode::SelfSigned), None, None) => {
            crate::edge::self_signed::load_or_create(&config.data_dir)?
        }
        _ => return Err(StartupError::TlsConfig),
    };
    let acceptor = crate::edge::tls::acceptor(&cert, &key)?;
    Ok(Some((acceptor, cert)))
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    crate::edge::bind_port(addr, false).map_err(|source| StartupError::Bind { addr, source })
}

pub(crate) fn local_addr(l: &TcpListener) -> Result<SocketAddr, StartupError> {
    l.local_addr().map_err(|source| StartupError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

async fn build_auth(
    config: &Config,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(Verifier, Option<Arc<DevIssuer>>), StartupError> {
    match config.auth {
        AuthMode::Dev => {
            let dev = Arc::new(DevIssuer::load_or_create(&config.data_dir)?);
            let verifier = Verifier::new(
                Arc::new(KeySet::from_jwks(dev.jwks())),
                VerifierConfig {
                    issuer: DEV_ISSUER.into(),
                    client_ids: vec![DEV_CLIENT_ID.into()],
                    token_use: crate::auth::TokenUse::Any,
                    leeway_secs: config.jwt_leeway_secs,
                },
            );
            Ok((verifier, Some(dev)))
        }
        AuthMode::Cognito => {
            let pool = config
                .cognito_user_pool_id
                .as_deref()
                .ok_or(StartupError::CognitoConfig("--cognito-user-pool-id"))?;
            let issuer = crate::auth::cognito::issuer(pool.trim()).ok_or(
                StartupError::CognitoConfig("a pool id like us-east-1_AbCdEf123"),
            )?;
            let client_ids: Vec<String> = config
                .cognito_client_id
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            if client_ids.is_empty() {
                return Err(StartupError::CognitoConfig("--cognito-client-id"));
            }
            // SPILLWAY_JWKS_URL moves where keys come from, never the issuer.
            let url = config
                .jwks_url
                .clone()
                .unwrap_or_else(|| crate::auth::cognito::jwks_url(&issuer));
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()
                .map_err(|e| StartupError::HttpClient(e.to_string()))?;
            let keys = Arc::new(KeySet::remote(url, client));
            // Warm the cache in the background; /readyz says 503 until it is.
            let warm = keys.clone();
            let stop = stop.clone();
            tasks.spawn(async move { warm.warm_up(stop).await });
            let verifier = Verifier::new(
                keys,
                VerifierConfig {
                    issuer,
                    client_ids,
                    token_use: config.cognito_token_use,
                    leeway_secs: config.jwt_leeway_secs,
                },
            );
            Ok((verifier, None))
        }
    }
}
