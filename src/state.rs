//! `AppState`: the handles every route shares, behind one `Arc`. axum
//! clones the state for every extractor and middleware of every request;
//! as a struct of ~20 handles (two of them owned strings) that clone showed
//! in the stream-start profile, as one `Arc` it is one atomic increment.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Verifier;
use crate::auth::dev::DevIssuer;
use crate::cluster::Cluster;
use crate::hub::Hub;
use crate::request::ModelPolicy;
use crate::socket::Connections;

/// The shared handles; every field is read through `AppState`'s `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub hub: Hub,
    /// WebSocket connections on this node and the registry they are recorded in.
    pub connections: Connections,
    /// This node in the fleet: registry, node id, node-to-node calls.
    pub cluster: Cluster,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Edge protections: CORS and origins, rate limit, request timeout.
    pub edge: crate::edge::EdgeConfig,
    pub verifier: Verifier,
    pub models: Arc<ModelPolicy>,
    /// `SPILLWAY_MODEL_ALIASES`: model names of the Anthropic Messages API
    /// beyond its built-in table.
    pub model_aliases: Arc<crate::config::ModelAliases>,
    /// Present in dev auth mode: serves its JWKS and mints tokens for loopback clients.
    pub dev: Option<Arc<DevIssuer>>,
    /// Interval of heartbeat comments / pings on idle streams.
    pub heartbeat: Duration,
    /// GraphQL over WebSocket: how long a socket may wait before `connection_init` (close 4408).
    pub graphql_init_timeout: Duration,
    /// GraphQL: largest document (`query` text) in bytes, refused before parsing.
    pub graphql_max_document_bytes: usize,
    /// Whether `GET /graphql` without a query serves GraphiQL (`Config::serves_graphiql`).
    pub graphiql: bool,
    pub admin_group: Arc<str>,
    pub max_body_bytes: usize,
    /// What the web client reads before sign-in (`GET /v1/config`).
    pub web: Arc<crate::transport::web::WebConfig>,
}
