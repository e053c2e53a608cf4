//! Test harness: the real gateway on `127.0.0.1:0`, its embedded simulator on
//! another ephemeral port, and the real AWS SDK between them.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::future::Future;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use spillway::auth::dev::DevIssuer;
use spillway::config::Config;
use spillway::event::TokenEvent;
use spillway::server::Server;

/// A stand-in Cognito user pool (keys, JWKS server, good and bad tokens).
pub mod cognito;
/// Child processes: the binary, moto.
pub mod procs;

pub const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

pub struct Gateway {
    pub server: Option<Server>,
    pub base: String,
    pub sim: String,
    pub token: String,
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
}

/// One parsed SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: TokenEvent,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Start with the test defaults, adjusted by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::local_defaults();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.data_dir = dir.path().to_path_buf();
        config.heartbeat_secs = 1.0;
        config.upstream_initial_backoff_ms = 10;
        config.drain_secs = 5;
        tweak(&mut config);
        let server = Server::start(config).await.expect("gateway starts");
        let base = format!("http://{}", server.addr());
        let sim = format!("http://{}", server.sim_addr().expect("embedded simulator"));
        let token = DevIssuer::load_or_create(dir.path())
            .expect("dev key")
            .mint("alice", &[], 600)
            .expect("mint");
        Self {
            server: Some(server),
            base,
            sim,
            token,
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub fn token_for(&self, sub: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        DevIssuer::load_or_create(self.dir.path())
            .expect("dev key")
            .mint(sub, &groups, 600)
            .expect("mint")
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /v1/stream` with `body`, as alice.
    pub async fn post_stream(&self, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/stream"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn sim_stats(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/sim/stats", self.sim))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// The SSE events of a response, parsed by a real SSE parser.
pub fn sse_events(resp: reqwest::Response) -> impl Stream<Item = SseEvent> + Unpin {
    Box::pin(resp.bytes_stream().eventsource().map(|ev| {
        let ev = ev.expect("well-formed SSE");
        SseEvent {
            data: serde_json::from_str(&ev.data).expect("TokenEvent JSON"),
            event: ev.event,
            id: ev.id,
        }
    }))
}

/// Every event until the stream ends (bounded by a timeout).
pub async fn collect_events(resp: reqwest::Response) -> Vec<SseEvent> {
    within(
        Duration::from_secs(30),
        sse_events(resp).collect::<Vec<_>>(),
    )
    .await
}

/// `POST /v1/stream` that must start (its body is in the failure), then
/// every event to the end, checked contiguous.
pub async fn stream(gw: &Gateway, body: serde_json::Value) -> Vec<SseEvent> {
    let resp = gw.post_stream(body.clone()).await;
    let status = resp.status();
    assert_eq!(
        status,
        200,
        "{body}: {}",
        resp.text().await.unwrap_or_default()
    );
    let events = collect_events(resp).await;
    assert_contiguous(&events, 0);
    events
}

/// The text of the `token` events.
pub fn text_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "token")
        .map(|e| e.data.token.as_str())
        .collect()
}

/// Await `fut`, failing the test if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .expect("timed out waiting")
}

/// Wait until `check` returns true, polling; fails after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(limit, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Seqs are 0..n with no gap or duplicate, and only the last is complete.
pub fn assert_contiguous(events: &[SseEvent], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.data.seq, first + i as u64, "seq gap or duplicate at {i}");
        assert_eq!(e.id, e.data.seq.to_string(), "id: must equal seq");
        assert_eq!(
            e.data.is_complete,
            i + 1 == events.len(),
            "only the last event is complete"
        );
    }
}

/// Run `client` against a gateway that serves on a thread and
/// current-thread runtime of its own (serving threads off, so every line is
/// logged there), under a subscriber at `level` writing to a buffer: every
/// log line and span the gateway makes (TraceLayer's included) is captured,
/// and nothing the client does is. `client` gets the gateway's base URL and
/// a token, on a runtime of its own; the logs come back once the gateway has
/// shut down.
pub fn with_captured_logs<T, F>(
    level: tracing::Level,
    tweak: impl FnOnce(&mut Config) + Send + 'static,
    client: impl FnOnce(String, String) -> F,
) -> (T, String)
where
    F: Future<Output = T>,
{
    let logs = SharedBuf::default();
    let sink = logs.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the gateway's runtime");
        rt.block_on(async move {
            let gw = Gateway::with(|c| {
                c.serve_threads = Some(0);
                tweak(c);
            })
            .await;
            ready_tx
                .send((gw.base.clone(), gw.token.clone()))
                .expect("the test waits");
            let _ = stop_rx.await;
            gw.shutdown().await;
        });
    });
    let (base, token) = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the gateway started");
    let out = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the client's runtime")
        .block_on(client(base, token));
    let _ = stop_tx.send(());
    server.join().expect("the gateway's thread");
    (out, logs.text())
}

/// A log sink the test can read back (a `tracing_subscriber` writer).
#[derive(Clone, Default)]
pub struct SharedBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log sink")).into_owned()
    }
}
