//! Soak: a few thousand streams over SSE, WebSocket and GraphQL with random upstream
//! faults and random client disconnects, then a check that tasks, sessions,
//! memory and file descriptors return to their starting level and that the
//! simulator accounts for every stream it started.
//!
//! Reproducible: every stream's plan comes from a seeded RNG (`SOAK_SEED`
//! overrides the seed, `SOAK_STREAMS` the count).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SEED: u64 = 0x5EED_50A4;
const STREAMS: usize = 2000;
const CONCURRENCY: usize = 100;
/// `upstream_max_attempts`: a `throttle=K` stream with K >= this is refused.
const MAX_ATTEMPTS: u32 = 3;
const IDLE_TIMEOUT_SECS: f64 = 0.5;
/// Generous: the allocator keeps freed pages.
const RSS_MARGIN_KIB: u64 = 64 * 1024;
const FD_MARGIN: usize = 16;
const TASK_MARGIN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Sse,
    Ws,
    /// `startStream`, then `onTokenReceived` on the same graphql-transport-ws socket.
    Graphql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// `error_after=N`: `model_stream_error` after N tokens.
    Error(u32),
    /// `drop_after=N`: `upstream_connection_dropped` after N tokens.
    Drop(u32),
    /// `stall_after=N`: `upstream_idle_timeout` after N tokens (`first_token_timeout` for 0).
    Stall(u32),
    /// `throttle=1`: refused once, retried, then streams normally.
    ThrottledOnce,
    /// `throttle=MAX_ATTEMPTS`: refused on every attempt, so never started.
    ThrottledOut,
}

impl Fault {
    fn directive(self) -> String {
        match self {
            Fault::None => String::new(),
            Fault::Error(n) => format!("error_after={n}"),
            Fault::Drop(n) => format!("drop_after={n}"),
            Fault::Stall(n) => format!("stall_after={n}"),
            Fault::ThrottledOnce => "throttle=1".into(),
            Fault::ThrottledOut => format!("throttle={MAX_ATTEMPTS}"),
        }
    }

    /// Tokens before the fault and the error code the client sees, if any.
    fn failure(self, tokens: u32) -> Option<(u32, &'static str)> {
        match self {
            Fault::Error(n) => Some((n.min(tokens), "model_stream_error")),
            Fault::Drop(n) => Some((n.min(tokens), "upstream_connection_dropped")),
            // Silence before the first token is the first-token timeout.
            Fault::Stall(0) => Some((0, "first_token_timeout")),
            Fault::Stall(n) => Some((n.min(tokens), "upstream_idle_timeout")),
            _ => None,
        }
    }
}

/// One stream of the soak, decided up front from the seed.
#[derive(Debug, Clone, Copy)]
struct Plan {
    i: usize,
    transport: Transport,
    tokens: u32,
    /// Tokens per second; 0 = as fast as possible.
    rate: u32,
    ttft_ms: u32,
    fault: Fault,
    /// Hang up after this many events (0: right after the stream starts,
    /// i.e. during time to first token).
    hang_up_after: Option<usize>,
    /// WebSocket and GraphQL: send a close frame rather than just dropping the socket.
    clean_close: bool,
}

impl Plan {
    fn random(rng: &mut fastrand::Rng, i: usize) -> Self {
        let tokens = rng.u32(1..=40);
        let fault = match rng.u32(0..100) {
            0..50 => Fault::None,
            50..60 => Fault::Error(rng.u32(0..=tokens)),
            60..70 => Fault::Drop(rng.u32(0..=tokens)),
            70..78 => Fault::Stall(rng.u32(0..=tokens)),
            78..90 => Fault::ThrottledOnce,
            _ => Fault::ThrottledOut,
        };
        let hang_up_after = (rng.u32(0..100) < 30).then(|| rng.usize(0..=tokens as usize));
        // Half the clients that hang up leave a slow stream that outlives the
        // cancel grace, so that it is cancelled rather than finished.
        let rates: &[u32] = if hang_up_after.is_some() {
            &[10, 20, 100, 400]
        } else {
            &[0, 100, 200, 400]
        };
        Self {
            i,
            transport: *rng
                .choice(&[Transport::Sse, Transport::Ws, Transport::Graphql])
                .unwrap(),
            tokens,
            rate: *rng.choice(rates).unwrap(),
            ttft_ms: rng.u32(0..=80),
            fault,
            hang_up_after,
            clean_close: rng.bool(),
        }
    }

    fn prompt(&self) -> String {
        format!(
            "[[sim tokens={} rate={} ttft_ms={} {}]] soak stream {}",
            self.tokens,
            self.rate,
            self.ttft_ms,
            self.fault.directive(),
            self.i
        )
    }
}

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Every token, then `done`.
    Completed,
    /// Some tokens, then an `error` event with this code.
    Failed(String),
    /// Refused before streaming, with this code.
    Refused(String),
    /// The client hung up first.
    HungUp,
}

/// Check one stream's events (`seq`, token events then one final event) and
/// tell what the client saw; `hung_up` when the client left before the end.
fn judge(plan: &Plan, events: &[Value], hung_up: bool) -> Outcome {
    for (k, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], k as u64, "{plan:?}: seq gap at {k}: {e}");
    }
    let last = events.last();
    let complete = last.is_some_and(|e| e["isComplete"] == true);
    if !complete {
        assert!(hung_up, "{plan:?}: stream ended without a final event");
        return Outcome::HungUp;
    }
    let last = last.unwrap();
    let tokens = events.len() - 1;
    match last["error"]["code"].as_str() {
        None => {
            assert_eq!(
                tokens as u32, plan.tokens,
                "{plan:?}: tokens of a done stream"
            );
            assert!(last["usage"].is_object(), "{plan:?}: done without usage");
            Outcome::Completed
        }
        Some(code) => {
            let (at, expected) = plan
                .fault
                .failure(plan.tokens)
                .unwrap_or_else(|| panic!("{plan:?}: unplanned error {last}"));
            assert_eq!(code, expected, "{plan:?}");
            assert_eq!(tokens as u32, at, "{plan:?}: tokens before the fault");
            Outcome::Failed(code.to_owned())
        }
    }
}

async fn run_sse(gw: &Gateway, http: &reqwest::Client, plan: Plan) -> Outcome {
    let resp = http
        .post(gw.url("/v1/stream"))
        .bearer_auth(&gw.token)
        .json(&json!({"prompt": plan.prompt()}))
        .send()
        .await
        .expect("request");
    if !resp.status().is_success() {
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON error body");
        assert_eq!(status, 429, "{plan:?}: {body}");
        return Outcome::Refused(body["error"]["code"].as_str().unwrap_or("").to_owned());
    }
    let mut stream = sse_events(resp);
    let mut events = Vec::new();
    loop {
        if plan.hang_up_after == Some(events.len()) {
            drop(stream);
            return judge(&plan, &events, true);
        }
        match within(Duration::from_secs(20), stream.next()).await {
            Some(ev) => {
                assert_eq!(ev.id, ev.data.seq.to_string());
                events.push(serde_json::to_value(&ev.data).unwrap());
            }
            None => return judge(&plan, &events, false),
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the gateway's `path`, with one extra request header.
async fn connect(gw: &Gateway, path: &str, header: (&'static str, String)) -> Socket {
    let mut req = format!("{}{path}", gw.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert(header.0, header.1.parse().unwrap());
    let (ws, _) = within(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("upgrade");
    ws
}

/// The next message of a stream still running; a close frame or a closed
/// socket here is the server ending the stream early, reported with its
/// reason.
async fn next_message(ws: &mut Socket, plan: &Plan) -> Message {
    match within(Duration::from_secs(20), ws.next()).await {
        Some(Ok(Message::Close(frame))) => panic!("{plan:?}: closed mid-stream with {frame:?}"),
        Some(Ok(m)) => m,
        Some(Err(e)) => panic!("{plan:?}: socket error mid-stream: {e}"),
        None => panic!("{plan:?}: socket closed mid-stream without a close frame"),
    }
}

async fn run_ws(gw: &Gateway, plan: Plan) -> Outcome {
    let auth = ("authorization", format!("Bearer {}", gw.token));
    let mut ws = connect(gw, "/v1/ws", auth).await;
    let request_id = format!("r{}", plan.i);
    ws.send(Message::Text(
        json!({"action": "stream", "requestId": request_id, "prompt": plan.prompt()})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut started = false;
    let mut events = Vec::new();
    loop {
        if started && plan.hang_up_after == Some(events.len()) {
            if plan.clean_close {
                let _ = ws.close(None).await;
            }
            drop(ws);
            return judge(&plan, &events, true);
        }
        let msg = next_message(&mut ws, &plan).await;
        let Message::Text(text) = msg else { continue };
        let m: Value = serde_json::from_str(&text).unwrap();
        match m["type"].as_str() {
            Some("connected") => continue,
            Some("started") => {
                assert_eq!(m["requestId"], request_id.as_str());
                started = true;
            }
            Some("error") if m.get("seq").is_none() => {
                assert!(!started, "{plan:?}: request error after start: {m}");
                assert_eq!(m["requestId"], request_id.as_str());
                let _ = ws.close(None).await;
                return Outcome::Refused(m["error"]["code"].as_str().unwrap_or("").to_owned());
            }
            Some("token" | "done" | "error") => {
                assert!(started, "{plan:?}: event before started: {m}");
                assert_eq!(m["requestId"], request_id.as_str());
                let last = m["isComplete"] == true;
                events.push(m);
                if last {
                    let _ = ws.close(None).await;
                    return judge(&plan, &events, false);
                }
            }
            _ => panic!("{plan:?}: unexpected message {m}"),
        }
    }
}

const EVENT_FIELDS: &str =
    "seq token isComplete stopReason usage { outputTokens } error { code message retryable }";

async fn run_graphql(gw: &Gateway, plan: Plan) -> Outcome {
    let protocol = ("sec-websocket-protocol", "graphql-transport-ws".to_owned());
    let mut ws = connect(gw, "/graphql", protocol).await;
    let send = |v: Value| Message::Text(v.to_string().into());
    let auth = format!("Bearer {}", gw.token);
    ws.send(send(
        json!({"type": "connection_init", "payload": {"Authorization": auth}}),
    ))
    .await
    .unwrap();
    // The next message that is not a keep-alive.
    async fn recv(ws: &mut Socket, plan: &Plan) -> Value {
        loop {
            let msg = next_message(ws, plan).await;
            let Message::Text(text) = msg else { continue };
            let m: Value = serde_json::from_str(&text).unwrap();
            if m["type"] != "ping" && m["type"] != "pong" {
                return m;
            }
        }
    }
    let ack = recv(&mut ws, &plan).await;
    assert_eq!(ack["type"], "connection_ack", "{plan:?}: {ack}");

    ws.send(send(json!({"type": "subscribe", "id": "m", "payload": {
        "query": "mutation($p: String!) { startStream(prompt: $p) { sessionId } }",
        "variables": {"p": plan.prompt()},
    }})))
    .await
    .unwrap();
    let started = recv(&mut ws, &plan).await;
    assert_eq!(started["id"], "m", "{plan:?}: {started}");
    if started["type"] == "error" {
        let _ = ws.close(None).await;
        let code = started["payload"][0]["extensions"]["code"].as_str();
        return Outcome::Refused(code.unwrap_or("").to_owned());
    }
    assert_eq!(started["type"], "next", "{plan:?}: {started}");
    let session_id = started["payload"]["data"]["startStream"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{plan:?}: {started}"))
        .to_owned();
    assert_eq!(recv(&mut ws, &plan).await["type"], "complete");

    ws.send(send(json!({"type": "subscribe", "id": "s", "payload": {
        "query": format!("subscription($id: String!) {{ onTokenReceived(sessionId: $id) {{ {EVENT_FIELDS} }} }}"),
        "variables": {"id": session_id},
    }})))
    .await
    .unwrap();
    let mut events = Vec::new();
    loop {
        if plan.hang_up_after == Some(events.len()) {
            if plan.clean_close {
                let _ = ws.close(None).await;
            }
            drop(ws);
            return judge(&plan, &events, true);
        }
        let m = recv(&mut ws, &plan).await;
        assert_eq!(m["id"], "s", "{plan:?}: {m}");
        match m["type"].as_str() {
            Some("next") => {
                assert!(m["payload"].get("errors").is_none(), "{plan:?}: {m}");
                events.push(m["payload"]["data"]["onTokenReceived"].clone());
            }
            Some("complete") => {
                let _ = ws.close(None).await;
                return judge(&plan, &events, false);
            }
            _ => panic!("{plan:?}: unexpected message {m}"),
        }
    }
}

async fn run(gw: &Gateway, http: &reqwest::Client, plan: Plan) -> (Plan, Outcome) {
    let outcome = match plan.transport {
        Transport::Sse => run_sse(gw, http, plan).await,
        Transport::Ws => run_ws(gw, plan).await,
        Transport::Graphql => run_graphql(gw, plan).await,
    };
    (plan, outcome)
}

/// Run `plans`, at most `CONCURRENCY` at a time.
async fn run_all(gw: &Gateway, http: &reqwest::Client, plans: Vec<Plan>) -> Vec<(Plan, Outcome)> {
    futures_util::stream::iter(plans)
        .map(|p| run(gw, http, p))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

// ---- what the process holds ----

/// A snapshot of the process: live tokio tasks, open fds, resident memory,
/// and the fds that are connections to the simulator (the SDK's keep-alive
/// pool, both ends, since the simulator runs in this process too).
#[derive(Debug, Clone, Copy)]
struct Usage {
    tasks: usize,
    fds: usize,
    sim_conn_fds: usize,
    rss_kib: u64,
}

impl Usage {
    fn now(sim_port: Option<u16>) -> Self {
        let fds = open_fds();
        let ports = socket_ports();
        let sim_conn_fds = sim_port.map_or(0, |port| {
            fds.iter()
                .filter_map(|inode| ports.get(inode))
                .filter(|(local, remote)| *remote != 0 && (*local == port || *remote == port))
                .count()
        });
        Self {
            tasks: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            fds: fds.len(),
            sim_conn_fds,
            rss_kib: rss_kib(),
        }
    }

    /// Fds other than the simulator pool.
    fn other_fds(&self) -> usize {
        self.fds - self.sim_conn_fds
    }
}

/// Socket inodes of every open fd (other fds as inode 0).
fn open_fds() -> Vec<u64> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(Result::ok)
        .map(|e| {
            std::fs::read_link(e.path())
                .ok()
                .and_then(|t| {
                    t.to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        })
        .collect()
}

/// inode → (local port, remote port) of every TCP socket of this process.
fn socket_ports() -> HashMap<u64, (u16, u16)> {
    let mut out = HashMap::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            if let (Some(local), Some(remote), Some(inode)) = (f.get(1), f.get(2), f.get(9))
                && let Ok(inode) = inode.parse::<u64>()
            {
                out.insert(inode, (port(local), port(remote)));
            }
        }
    }
    out
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_faulty_streams_leave_nothing_behind() {
    let seed = env_or("SOAK_SEED", SEED);
    let streams = env_or("SOAK_STREAMS", STREAMS);
    let t0 = Instant::now();
    let before_gateway = Usage::now(None);

    let gw = Gateway::with(|c| {
        // GraphQL clients subscribe after `startStream` answers: the grace
        // covers that gap on a loaded machine.
        // A GraphQL client subscribes only after `startStream` answers: the
        // grace and the retention cover that gap on a loaded machine (a
        // stream nobody reads yet is cancelled after the grace; a finished
        // one is unknown after the retention).
        c.cancel_grace_secs = 0.5;
        c.upstream_idle_timeout_secs = IDLE_TIMEOUT_SECS;
        c.upstream_first_token_timeout_secs = 1.0;
        c.upstream_max_attempts = MAX_ATTEMPTS;
        c.session_retention_secs = 2;
        c.heartbeat_secs = 0.2;
    })
    .await;
    let sim_port = gw.server.as_ref().unwrap().sim_addr().unwrap().port();
    let hub = gw.server.as_ref().unwrap().state().hub.clone();
    // No idle client connections: each one would hold a server task and two fds.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // Warm up at full concurrency, so pools, buffers and lazy statics exist
    // before the baseline is taken.
    let warm: Vec<Plan> = (0..CONCURRENCY)
        .map(|i| Plan {
            i: usize::MAX - i,
            transport: [Transport::Sse, Transport::Ws, Transport::Graphql][i % 3],
            tokens: 10,
            rate: 100,
            ttft_ms: 20,
            fault: Fault::None,
            hang_up_after: None,
            clean_close: true,
        })
        .collect();
    for (plan, outcome) in run_all(&gw, &http, warm).await {
        assert_eq!(outcome, Outcome::Completed, "warm-up {plan:?}");
    }
    let warm_stats = gw.sim_stats().await;
    assert_eq!(warm_stats["streamsCompleted"], CONCURRENCY as u64);
    settle(&hub).await;
    let baseline = Usage::now(Some(sim_port));
    eprintln!("soak: seed {seed:#x}, {streams} streams; baseline {baseline:?}");

    // The soak itself.
    let mut rng = fastrand::Rng::with_seed(seed);
    let plans: Vec<Plan> = (0..streams).map(|i| Plan::random(&mut rng, i)).collect();
    let started_at = Instant::now();
    let results = within(Duration::from_secs(120), run_all(&gw, &http, plans.clone())).await;
    let soak_secs = started_at.elapsed().as_secs_f64();
    let peak = Usage::now(Some(sim_port));

    // Tally what clients saw, and what the simulator must have seen.
    let mut tally: HashMap<&'static str, usize> = HashMap::new();
    let mut ends = Ends::default();
    for (plan, outcome) in &results {
        let key = match outcome {
            Outcome::Completed => "completed",
            Outcome::Failed(_) => "failed",
            Outcome::Refused(_) => "refused",
            Outcome::HungUp => "hung up",
        };
        *tally.entry(key).or_default() += 1;
        ends.add(plan, outcome);
        if plan.hang_up_after.is_none() {
            let expected = match plan.fault.failure(plan.tokens) {
                _ if plan.fault == Fault::ThrottledOut => Outcome::Refused("throttled".into()),
                Some((_, code)) => Outcome::Failed(code.into()),
                None => Outcome::Completed,
            };
            assert_eq!(outcome, &expected, "{plan:?}");
        }
    }

    // Sessions: all finished, all swept (after the 2 s retention).
    wait_for(Duration::from_secs(15), || async {
        hub.sweep();
        match hub.len() {
            0 => Ok(()),
            n => Err(format!("{n} sessions still held")),
        }
    })
    .await;

    // Every started upstream stream has ended: completed, cancelled (client
    // gone, or stalled past a timeout), or cut by its error/drop fault; and
    // each count is within what the plans and the clients' view allow.
    let stats = wait_for(Duration::from_secs(15), || async {
        let stats = gw.sim_stats().await;
        let n = |k: &str| stats[k].as_u64().unwrap() - warm_stats[k].as_u64().unwrap();
        ends.accounts_for(
            n("streamsStarted"),
            n("streamsCompleted"),
            n("streamsCancelled"),
        )
        .then_some(stats.clone())
        .ok_or_else(|| format!("simulator counts do not balance: {stats} for {ends:?}"))
    })
    .await;
    let n = |k: &str| stats[k].as_u64().unwrap() - warm_stats[k].as_u64().unwrap();
    assert_eq!(
        n("throttled"),
        ends.throttled_once + ends.refused * u64::from(MAX_ATTEMPTS),
        "every throttled attempt is counted once"
    );

    // Tasks and fds back to the baseline; the simulator's keep-alive pool may
    // differ in size (two fds and two tasks per connection: client and server).
    let after = wait_for(Duration::from_secs(15), || async {
        let after = Usage::now(Some(sim_port));
        let pool_growth = after.sim_conn_fds.saturating_sub(baseline.sim_conn_fds);
        (after.tasks <= baseline.tasks + pool_growth + TASK_MARGIN
            && after.other_fds() <= baseline.other_fds() + FD_MARGIN)
            .then_some(after)
            .ok_or_else(|| format!("not back to the baseline {baseline:?}: {after:?}"))
    })
    .await;
    assert!(
        after.sim_conn_fds <= 2 * 2 * CONCURRENCY,
        "the upstream pool is bounded: {after:?}"
    );
    assert!(
        after.rss_kib <= baseline.rss_kib + RSS_MARGIN_KIB,
        "RSS grew by {} KiB: {baseline:?} -> {after:?}",
        after.rss_kib - baseline.rss_kib
    );

    // Nothing was still running when the counts balanced: none has moved since.
    assert_eq!(gw.sim_stats().await, stats, "an upstream stream ended late");

    // The gateway still serves.
    let (_, outcome) = run(
        &gw,
        &http,
        Plan {
            i: usize::MAX / 2,
            ..plans[0]
        }
        .normal(),
    )
    .await;
    assert_eq!(outcome, Outcome::Completed);

    drop(hub);
    gw.shutdown().await;
    drop(http);
    // Without the gateway, the process is back where it started.
    let end = wait_for(Duration::from_secs(15), || async {
        let end = Usage::now(None);
        (end.tasks <= before_gateway.tasks + 2 && end.fds <= before_gateway.fds + FD_MARGIN)
            .then_some(end)
            .ok_or_else(|| format!("not back to {before_gateway:?} without the gateway: {end:?}"))
    })
    .await;
    eprintln!(
        "soak: {streams} streams in {soak_secs:.1} s ({:.0}/s); outcomes {tally:?}; \
         sim {stats}; {ends:?}; \
         baseline {baseline:?}; peak {peak:?}; after {after:?}; \
         without gateway {before_gateway:?} -> {end:?}; total {:.1} s",
        streams as f64 / soak_secs,
        t0.elapsed().as_secs_f64()
    );
}

/// How the started upstream streams may have ended, from the plans and
/// from what the clients saw.
#[derive(Debug, Default)]
struct Ends {
    /// Refused on every attempt: never started.
    refused: u64,
    throttled_once: u64,
    /// Plans that can complete (no fault but a retried throttle).
    may_complete: u64,
    /// Clients that saw `done`.
    seen_complete: u64,
    /// Stall plans: always cancelled, by a timeout or by the client leaving.
    stalls: u64,
    /// Clients that hung up early.
    hung_up: u64,
    /// Error and drop plans: cut by the fault unless cancelled first.
    may_fault: u64,
    /// Clients that saw their error/drop fault.
    seen_fault: u64,
}

impl Ends {
    fn add(&mut self, plan: &Plan, outcome: &Outcome) {
        let hung_up = *outcome == Outcome::HungUp;
        let saw = |code: &str| matches!(outcome, Outcome::Failed(c) if c == code);
        self.hung_up += u64::from(hung_up);
        match plan.fault {
            Fault::ThrottledOut => self.refused += 1,
            Fault::None | Fault::ThrottledOnce => {
                self.throttled_once += u64::from(plan.fault == Fault::ThrottledOnce);
                self.may_complete += 1;
                self.seen_complete += u64::from(*outcome == Outcome::Completed);
            }
            Fault::Stall(_) => self.stalls += 1,
            Fault::Error(_) | Fault::Drop(_) => {
                self.may_fault += 1;
                let code = plan.fault.failure(plan.tokens).map_or("", |(_, c)| c);
                self.seen_fault += u64::from(saw(code));
            }
        }
    }

    fn accounts_for(&self, started: u64, completed: u64, cancelled: u64) -> bool {
        let planned = self.may_complete + self.stalls + self.may_fault;
        let Some(faulted) = started.checked_sub(completed + cancelled) else {
            return false;
        };
        started == planned
            && (self.seen_complete..=self.may_complete).contains(&completed)
            && (self.stalls..=self.stalls + self.hung_up).contains(&cancelled)
            && (self.seen_fault..=self.may_fault).contains(&faulted)
    }
}

impl Plan {
    /// This plan without faults or hang-ups.
    fn normal(self) -> Self {
        Self {
            fault: Fault::None,
            hang_up_after: None,
            ..self
        }
    }
}

/// Wait until the warm-up's sessions are swept and its connections closed.
async fn settle(hub: &spillway::hub::Hub) {
    wait_for(Duration::from_secs(15), || async {
        hub.sweep();
        match hub.len() {
            0 => Ok(()),
            n => Err(format!("{n} sessions still held")),
        }
    })
    .await;
    // Let closing sockets and their tasks finish: wait for two equal readings.
    let mut last = Usage::now(None);
    wait_for(Duration::from_secs(15), || {
        let now = Usage::now(None);
        let same = now.tasks == last.tasks && now.fds == last.fds;
        last = now;
        async move {
            same.then_some(())
                .ok_or_else(|| "still settling".to_owned())
        }
    })
    .await;
}

/// Poll `check` until it gives `Ok`; after `limit`, fail with its last `Err`.
async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) if Instant::now() >= deadline => panic!("still, after {limit:?}: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
