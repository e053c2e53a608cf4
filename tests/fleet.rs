//! A fleet of two real nodes (the `spillway` binary, twice) sharing a
//! DynamoDB-compatible server (moto's, from PyPI) and one simulator, all on
//! loopback; no stickiness between them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::procs::{Proc, spawn_listening, start_moto};
use common::{SseEvent, assert_contiguous, eventually, sse_events, within};
use futures_util::StreamExt;
use serde_json::{Value, json};
use spillway::auth::dev::DevIssuer;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_spillway");

struct Fleet {
    moto: Option<Proc>,
    moto_url: String,
    _sim: Proc,
    sim: String,
    nodes: Vec<Option<Proc>>,
    /// Each node's extra settings (to start it again as it was).
    extra: Vec<Vec<(String, String)>>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    token: String,
    admin: String,
}

/// The nodes' ids, in order.
const NODES: [&str; 2] = ["node-a", "node-b"];

impl Fleet {
    async fn start(extra: &[(&str, &str)]) -> Self {
        Self::start_each([extra, extra]).await
    }

    /// Two nodes, each with its own extra settings.
    async fn start_each(extra: [&[(&str, &str)]; 2]) -> Self {
        let moto = start_moto().await;
        let mut sim_cmd = Command::new(BIN);
        sim_cmd.args(["sim", "--listen", "127.0.0.1:0"]);
        let sim = spawn_listening(sim_cmd).await;
        let dir = tempfile::tempdir().unwrap();
        let issuer = DevIssuer::load_or_create(dir.path()).unwrap();
        let token = issuer.mint("alice", &[], 600).unwrap();
        let admin = issuer.mint("ops", &["admin".into()], 600).unwrap();
        let sim_url = sim.url.clone();
        let mut fleet = Self {
            moto_url: moto.url.clone(),
            moto: Some(moto),
            _sim: sim,
            sim: sim_url,
            nodes: Vec::new(),
            extra: extra
                .iter()
                .map(|e| {
                    e.iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect()
                })
                .collect(),
            dir,
            http: reqwest::Client::new(),
            token,
            admin,
        };
        for i in 0..NODES.len() {
            let node = spawn_listening(fleet.node_command(i)).await;
            fleet.nodes.push(Some(node));
        }
        fleet
    }

    /// The command that starts node `i`.
    fn node_command(&self, i: usize) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SPILLWAY_DATA_DIR", self.dir.path())
            .env("SPILLWAY_UPSTREAM", "bedrock")
            .env("SPILLWAY_REGISTRY", "dynamodb")
            .env("SPILLWAY_DYNAMODB_TABLE", "spillway-test")
            .env("SPILLWAY_DYNAMODB_CREATE_TABLE", "true")
            .env("SPILLWAY_NODE_ID", NODES[i])
            .env("SPILLWAY_CLUSTER_SECRET", "test-cluster-secret")
            // Node-to-node routes live here only; each node advertises
            // the address this binds (no SPILLWAY_ADVERTISE_URL needed).
            .env("SPILLWAY_INTERNAL_LISTEN", "127.0.0.1:0")
            .env("SPILLWAY_HEARTBEAT_SECS", "1")
            .env("SPILLWAY_NODE_HEARTBEAT_SECS", "1")
            .env("SPILLWAY_CANCEL_GRACE_SECS", "2")
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &self.sim)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.moto_url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn");
        for (k, v) in &self.extra[i] {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start node `i` again, under the same id, after it stopped.
    async fn restart(&mut self, i: usize) {
        let node = spawn_listening(self.node_command(i)).await;
        self.nodes[i] = Some(node);
    }

    fn node(&self, i: usize) -> &str {
        &self.nodes[i].as_ref().unwrap().url
    }

    /// Start a stream of `prompt` on `node`: its session id and its response.
    async fn started(&self, node: usize, prompt: &str) -> (String, reqwest::Response) {
        let resp = self.stream(node, prompt).await;
        assert_eq!(resp.status(), 200, "{prompt}");
        let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
        (id, resp)
    }

    async fn stream(&self, node: usize, prompt: &str) -> reqwest::Response {
        self.stream_json(node, json!({"prompt": prompt})).await
    }

    async fn stream_json(&self, node: usize, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/stream", self.node(node)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A token for another user, from the fleet's dev key.
    fn token_for(&self, user: &str) -> String {
        DevIssuer::load_or_create(self.dir.path())
            .unwrap()
            .mint(user, &[], 60)
            .unwrap()
    }

    /// `GET /v1/sessions/{id}` on `node`, as the test user.
    async fn session(&self, node: usize, id: &str) -> Value {
        self.session_response(node, id).await.json().await.unwrap()
    }

    /// `GET /v1/sessions/{id}` on `node`, as answered.
    async fn session_response(&self, node: usize, id: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/sessions/{id}", self.node(node)))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn attach(
        &self,
        node: usize,
        session: &str,
        last_event_id: Option<u64>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .get(format!("{}/v1/sessions/{session}/stream", self.node(node)))
            .bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn a_stream_on_one_node_resumes_on_the_other_without_a_gap() {
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet
        .started(0, "[[sim tokens=40 rate=40]] across the fleet")
        .await;
    let mut events = sse_events(resp);
    let mut seen: Vec<SseEvent> = Vec::new();
    for _ in 0..6 {
        seen.push(
            within(Duration::from_secs(10), events.next())
                .await
                .unwrap(),
        );
    }
    drop(events);
    let resp = fleet.attach(1, &id, Some(5)).await;
    assert_eq!(
        resp.status(),
        200,
        "node B serves a session streaming on node A"
    );
    let rest: Vec<_> = read_to_end(resp).await;
    seen.extend(rest);
    assert_contiguous(&seen, 0);
    assert_eq!(seen.len(), 41);
    assert_eq!(seen.last().unwrap().event, "done");
    // The record knows the owner: another user gets a 404 on either node.
    let bob = fleet.token_for("bob");
    for node in 0..2 {
        let r = fleet
            .http
            .get(format!("{}/v1/sessions/{id}", fleet.node(node)))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    // Status through node B (the mirror) matches node A.
    let a = fleet.session(0, &id).await;
    let b = fleet.session(1, &id).await;
    assert_eq!(a["text"], b["text"]);
    assert_eq!(b["status"], "complete");
}

/// A reader on the other node stays fed past the relay's first grace
/// (5 s): it attached before the relay's task looked, so no change in the
/// reader count was coming, and the relay used to stop at 5 s and leave
/// the reader waiting for ever.
#[tokio::test]
async fn a_reader_on_the_other_node_is_fed_to_the_end_of_a_long_stream() {
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet
        .started(0, "[[sim tokens=64 rate=8]] a long walk across the fleet")
        .await;
    let origin = tokio::spawn(sse_events(resp).collect::<Vec<_>>());
    let remote = fleet.attach(1, &id, None).await;
    assert_eq!(remote.status(), 200);
    let seen: Vec<_> = read_to_end(remote).await;
    assert_contiguous(&seen, 0);
    assert_eq!(seen.len(), 65);
    assert_eq!(seen.last().unwrap().event, "done");
    assert_eq!(origin.await.unwrap().len(), 65);
}

#[tokio::test]
async fn connections_are_shared_and_pushes_reach_any_node() {
    let fleet = Fleet::start(&[]).await;
    let mut req = format!("{}/v1/ws", fleet.node(1).replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", fleet.token).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello: Value = match within(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
    {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    let conn = hello["connectionId"].as_str().unwrap().to_owned();
    // The registry row is visible from node A …
    let on_a = format!("{}/@connections/{conn}", fleet.node(0));
    let info = fleet
        .http
        .get(&on_a)
        .bearer_auth(&fleet.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    // … and a push to node A reaches the socket on node B.
    let r = fleet
        .http
        .post(&on_a)
        .bearer_auth(&fleet.admin)
        .body("{\"hello\":\"from A\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pushed = loop {
        match within(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(pushed, json!({"hello": "from A"}));
    // Closing removes the row.
    ws.close(None).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        fleet
            .http
            .get(&on_a)
            .bearer_auth(&fleet.admin)
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;
}

#[tokio::test]
async fn the_concurrent_stream_limit_holds_across_nodes() {
    let fleet = Fleet::start(&[("SPILLWAY_MAX_STREAMS_PER_USER", "2")]).await;
    let a = fleet.stream(0, "[[sim tokens=400 rate=20]] one").await;
    assert_eq!(a.status(), 200);
    let b = fleet.stream(1, "[[sim tokens=400 rate=20]] two").await;
    assert_eq!(b.status(), 200);
    for node in 0..2 {
        let third = fleet.stream(node, "[[sim tokens=3]] three").await;
        assert_eq!(third.status(), 429, "node {node}");
        assert!(third.headers().contains_key("retry-after"));
        let body: Value = third.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    // Ending one stream gives its slot back, fleet-wide.
    let id = a.headers()["x-session-id"].to_str().unwrap().to_owned();
    let r = fleet
        .http
        .post(format!("{}/v1/sessions/{id}/cancel", fleet.node(1)))
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "cancel through the other node");
    drop(a);
    eventually(Duration::from_secs(15), || async {
        fleet
            .stream(1, "[[sim tokens=2 rate=0]] again")
            .await
            .status()
            == 200
    })
    .await;
    drop(b);
}

/// Simultaneous requests spread over both nodes: the cap holds exactly. (A
/// refused request reconciles the counter with the live leases; a lease not
/// yet written when it counted let a second stream in.)
#[tokio::test]
async fn a_burst_over_both_nodes_admits_exactly_the_cap() {
    let fleet = Fleet::start(&[("SPILLWAY_MAX_STREAMS_PER_USER", "1")]).await;
    // Rounds for fresh users: without the fix, most bursts let two in, not every one.
    for round in 0..5 {
        let token = fleet.token_for(&format!("burst-{round}"));
        let requests = (0..10).map(|i| {
            let req = fleet
                .http
                .post(format!("{}/v1/stream", fleet.node(i % 2)))
                .bearer_auth(&token)
                .json(&json!({"prompt": format!("[[sim tokens=400 rate=20]] burst {i}")}));
            async move { req.send().await.unwrap() }
        });
        let answers = within(
            Duration::from_secs(30),
            futures_util::future::join_all(requests),
        )
        .await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            9,
            "round {round}: {statuses:?}"
        );
    }
}

/// Nodes with different cluster secrets (a rotation half done): the node
/// asked to relay answers 401 and warns; the relaying node tells its client
/// `node_unavailable` naming the cause, logs it as an error (once a minute),
/// and does not report the other node's complete session as failed.
#[tokio::test]
async fn nodes_that_disagree_on_the_cluster_secret_say_so() {
    let fleet = Fleet::start_each([&[], &[("SPILLWAY_CLUSTER_SECRET", "another-secret")]]).await;
    let (id, resp) = fleet.started(0, "[[sim tokens=5 rate=0]] on node A").await;
    let events: Vec<_> = within(Duration::from_secs(10), sse_events(resp).collect()).await;
    assert_eq!(events.last().unwrap().event, "done");

    for _ in 0..2 {
        let attach = fleet.attach(1, &id, None).await;
        assert_eq!(attach.status(), 502, "not a 404 for the session");
        let body: Value = attach.json().await.unwrap();
        assert_eq!(body["error"]["code"], "node_unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("node-a refused this node's cluster secret")
                && message.contains("SPILLWAY_CLUSTER_SECRET"),
            "{message}"
        );
    }
    // Node B does not make A's session its own failure.
    let status = fleet.session_response(1, &id).await;
    assert_eq!(status.status(), 502);
    assert_eq!(fleet.session(0, &id).await["status"], "complete");

    let a = fleet.nodes[0].as_ref().unwrap();
    let b = fleet.nodes[1].as_ref().unwrap();
    eventually(Duration::from_secs(10), || async {
        a.logs()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("another cluster secret"))
    })
    .await;
    let refused: Vec<String> = b
        .logs()
        .lines()
        .filter(|l| l.contains("refused this node's cluster secret"))
        .map(str::to_owned)
        .collect();
    assert_eq!(refused.len(), 1, "once a minute: {refused:?}");
    assert!(refused[0].contains("ERROR"), "{refused:?}");
    assert!(
        !a.logs().contains("another-secret") && !b.logs().contains("another-secret"),
        "a secret in the logs"
    );
}

/// A `/v1/ws` `cancel` by session id finds the session wherever it streams,
/// as `POST /v1/sessions/{id}/cancel` does: sent to node B, it stops a
/// stream running on node A.
#[tokio::test]
async fn a_websocket_cancel_on_one_node_stops_a_stream_on_the_other() {
    let fleet = Fleet::start(&[]).await;
    let stats = || async {
        fleet
            .http
            .get(format!("{}/sim/stats", fleet.sim))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["streamsCancelled"]
            .as_u64()
            .unwrap()
    };
    let cancelled_before = stats().await;
    let resp = fleet
        .stream(
            0,
            "[[sim tokens=400 rate=20]] cancel me from the other node",
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut events = sse_events(resp);
    within(Duration::from_secs(10), events.next())
        .await
        .unwrap();

    let mut req = format!("{}/v1/ws", fleet.node(1).replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", fleet.token).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = within(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap();
    assert!(hello.to_text().unwrap().contains("connected"), "{hello:?}");
    use futures_util::SinkExt;
    ws.send(Message::Text(
        json!({"action": "cancel", "requestId": "c", "sessionId": id})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();

    // The stream on node A ends, cancelled, long before its 20 s.
    let rest: Vec<_> = within(Duration::from_secs(15), events.collect::<Vec<_>>()).await;
    let last = rest.last().expect("a final event");
    assert!(last.data.is_complete, "{last:?}");
    assert_eq!(last.data.stop_reason.as_deref(), Some("cancelled"));
    assert!(rest.len() < 200, "stopped early: {} events", rest.len());
    eventually(Duration::from_secs(10), || async {
        stats().await > cancelled_before
    })
    .await;
    // Node B answered no error for the cancel.
    if let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(200), ws.next()).await
    {
        assert!(!t.contains("not_found"), "{t}");
    }
}

#[tokio::test]
async fn a_node_dying_mid_stream_ends_the_relay_with_an_error_event() {
    let mut fleet = Fleet::start(&[("SPILLWAY_MAX_STREAMS_PER_USER", "1")]).await;
    let (id, resp) = fleet.started(0, "[[sim tokens=400 rate=20]] doomed").await;
    let relayed = fleet.attach(1, &id, None).await;
    assert_eq!(relayed.status(), 200);
    let mut events = sse_events(relayed);
    for _ in 0..3 {
        within(Duration::from_secs(10), events.next())
            .await
            .unwrap();
    }
    // Kill node A outright (no drain).
    let mut a = fleet.nodes[0].take().unwrap();
    a.child.kill().await.unwrap();
    drop(resp);
    let rest: Vec<_> = within(Duration::from_secs(30), events.collect::<Vec<_>>()).await;
    let last = rest.last().expect("a final event, not a hang");
    assert_eq!(last.event, "error");
    assert_eq!(last.data.error.as_ref().unwrap().code, "node_unavailable");
    // The dead node's stream slot comes back once its liveness record lapses.
    assert_eq!(
        fleet
            .stream(1, "[[sim tokens=2 rate=0]] blocked")
            .await
            .status(),
        429
    );
    eventually(Duration::from_secs(20), || async {
        fleet
            .stream(1, "[[sim tokens=2 rate=0]] after the crash")
            .await
            .status()
            == 200
    })
    .await;
    // Once node A is known dead, its session is lost for good: a final 410
    // saying so on either way in, not a retryable 502 for ever.
    let r = fleet.session_response(1, &id).await;
    assert_eq!(r.status(), 410);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gone", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("node-a") && message.contains("lost"),
        "{message}"
    );
    assert_eq!(fleet.attach(1, &id, Some(3)).await.status(), 410);
    let _ = &fleet.sim;
}

/// The first status read of a session on a node that holds no mirror of
/// it says what its own node says: complete, with its text (it said
/// `streaming` with no text, read off a mirror that had not caught up).
#[tokio::test]
async fn a_first_status_read_on_the_other_node_says_what_the_origin_says() {
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet.started(0, "[[sim tokens=30 rate=0]] finished").await;
    let events: Vec<_> = within(
        Duration::from_secs(10),
        sse_events(resp).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(events.last().unwrap().event, "done");
    let a = fleet.session(0, &id).await;
    let b = fleet.session(1, &id).await;
    assert_eq!(b["status"], "complete", "{b}");
    assert_eq!(b["text"], a["text"]);
    assert!(!a["text"].as_str().unwrap().is_empty());
}

/// A node draining (SIGTERM, a rolling deploy) still relays its running
/// streams to the other nodes: a client moved to another node resumes the
/// stream and reads it to its end.
#[tokio::test]
async fn a_stream_on_a_draining_node_resumes_on_the_other() {
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet
        .started(0, "[[sim tokens=60 rate=20]] through a deploy")
        .await;
    let mut events = sse_events(resp);
    within(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    let a = fleet.nodes[0]
        .as_ref()
        .unwrap()
        .child
        .id()
        .expect("node A's pid");
    signal(a, "-TERM");
    drop(events);
    let moved = fleet.attach(1, &id, Some(0)).await;
    assert_eq!(
        moved.status(),
        200,
        "node B relays the draining node's stream"
    );
    let rest: Vec<_> = read_to_end(moved).await;
    assert_eq!(rest.len(), 60);
    assert_eq!(rest.last().unwrap().event, "done");
}

/// A relay that breaks while its origin lives on (node A frozen past the
/// idle timeout) ends the remote reader with `node_unavailable`, whose SSE
/// `id:` is not set: the client's cursor stays on the last real event, so a
/// resume from it (as `EventSource` resumes) gets the next real event, which
/// a cursor on the error's seq would skip.
#[tokio::test]
async fn a_broken_relay_leaves_the_resume_cursor_on_the_last_real_event() {
    let fleet = Fleet::start(&[("SPILLWAY_UPSTREAM_IDLE_TIMEOUT_SECS", "2")]).await;
    let (id, resp) = fleet.started(0, "[[sim tokens=120 rate=20]] frozen").await;
    let origin = tokio::spawn(read_to_end(resp));
    let relayed = fleet.attach(1, &id, None).await;
    let mut events = sse_events(relayed);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(
            within(Duration::from_secs(10), events.next())
                .await
                .unwrap(),
        );
    }
    let a = fleet.nodes[0]
        .as_ref()
        .unwrap()
        .child
        .id()
        .expect("node A's pid");
    signal(a, "-STOP");
    let rest: Vec<_> = within(Duration::from_secs(20), events.collect::<Vec<_>>()).await;
    signal(a, "-CONT");
    let (error, real) = rest.split_last().expect("the relay's end");
    assert_eq!(error.event, "error");
    assert_eq!(error.data.error.as_ref().unwrap().code, "node_unavailable");
    seen.extend_from_slice(real);
    let last = seen.last().unwrap();
    assert_eq!(error.id, last.id, "the cursor stays on the last real event");
    let cursor: u64 = error.id.parse().unwrap();
    // Node A, thawed, may end the stream itself (its own upstream went idle
    // as long): what matters is that nothing is skipped.
    let resumed = read_to_end(fleet.attach(1, &id, Some(cursor)).await).await;
    assert_eq!(resumed[0].data.seq, cursor + 1);
    seen.extend(resumed);
    assert_contiguous(&seen, 0);
    origin.abort();
}

/// A node that crashes and comes back under the same id (a StatefulSet's
/// pod name) heartbeats the same record: the stream slots its earlier life
/// held come back at once all the same (they were taken for a day).
#[tokio::test]
async fn a_node_restarted_under_its_id_gives_back_its_earlier_lifes_slots() {
    let mut fleet = Fleet::start(&[("SPILLWAY_MAX_STREAMS_PER_USER", "1")]).await;
    let resp = fleet.stream(0, "[[sim tokens=400 rate=20]] doomed").await;
    assert_eq!(resp.status(), 200);
    let mut a = fleet.nodes[0].take().unwrap();
    a.child.kill().await.unwrap();
    drop(resp);
    fleet.restart(0).await;
    eventually(Duration::from_secs(10), || async {
        fleet
            .stream(1, "[[sim tokens=2 rate=0]] after the restart")
            .await
            .status()
            == 200
    })
    .await;
}

#[tokio::test]
async fn an_unavailable_table_fails_readiness_while_running_streams_go_on() {
    let mut fleet = Fleet::start(&[]).await;
    let ready = format!("{}/readyz", fleet.node(0));
    assert_eq!(fleet.http.get(&ready).send().await.unwrap().status(), 200);
    let (id, resp) = fleet
        .started(0, "[[sim tokens=120 rate=40]] keep going")
        .await;
    let mut events = sse_events(resp);
    within(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    // DynamoDB goes away.
    let mut moto = fleet.moto.take().unwrap();
    moto.child.kill().await.unwrap();
    eventually(Duration::from_secs(20), || async {
        fleet.http.get(&ready).send().await.unwrap().status() == 503
    })
    .await;
    // The other node cannot learn where the session streams: worth asking
    // again (503), not "no such session" (404), which clients give up on.
    let elsewhere = fleet.attach(1, &id, None).await;
    assert_eq!(elsewhere.status(), 503);
    let body: Value = elsewhere.json().await.unwrap();
    assert_eq!(body["error"]["code"], "registry_unavailable");
    let rest: Vec<_> = within(Duration::from_secs(30), events.collect::<Vec<_>>()).await;
    assert_eq!(
        rest.last().unwrap().event,
        "done",
        "the running stream finishes"
    );
    // New streams are refused clearly, not hung.
    let refused = fleet.stream(0, "[[sim tokens=2]] new").await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "registry_unavailable");
}

/// A table that stops answering (a partition; moto stopped with SIGSTOP)
/// refuses new streams as `registry_unavailable` within seconds, as one
/// that refuses connections does, instead of holding them until the
/// request timeout (60 s) and answering `504`.
#[tokio::test]
async fn a_table_that_stops_answering_is_unavailable_within_seconds() {
    let fleet = Fleet::start(&[]).await;
    let moto = fleet.moto.as_ref().unwrap().child.id().expect("moto's pid");
    signal(moto, "-STOP");
    let refused = within(
        Duration::from_secs(30),
        fleet.stream(1, "[[sim tokens=2]] new"),
    )
    .await;
    signal(moto, "-CONT");
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "registry_unavailable");
    // Answering again, it serves again.
    eventually(Duration::from_secs(20), || async {
        fleet.stream(1, "[[sim tokens=2]] again").await.status() == 200
    })
    .await;
}

#[tokio::test]
async fn a_graphql_subscription_on_one_node_follows_a_session_on_the_other() {
    use futures_util::SinkExt;
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet
        .started(0, "[[sim tokens=30 rate=60]] subscribe elsewhere")
        .await;
    let mut req = format!("{}/graphql", fleet.node(1).replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", fleet.token)}})))
        .await
        .unwrap();
    let ack = loop {
        match within(Duration::from_secs(15), ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(ack["type"], "connection_ack");
    ws.send(send(json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($s: String!) { onTokenReceived(sessionId: $s) { seq token isComplete } }",
        "variables": {"s": id}}})))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    loop {
        let m = match within(Duration::from_secs(15), ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        };
        match m["type"].as_str().unwrap() {
            "next" => seqs.push(
                m["payload"]["data"]["onTokenReceived"]["seq"]
                    .as_u64()
                    .unwrap(),
            ),
            "complete" => break,
            other => panic!("unexpected {other}: {m}"),
        }
    }
    assert_eq!(
        seqs,
        (0..=30).collect::<Vec<u64>>(),
        "every event, in order, through node B"
    );
    drop(resp);
}

#[tokio::test]
async fn reasoning_and_tool_call_parts_cross_the_relay_unchanged() {
    let fleet = Fleet::start(&[]).await;
    let resp = fleet
        .stream_json(
            0,
            json!({
                "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "prompt": "[[sim tool=lookup think=3 tokens=5 rate=20]] across the fleet",
                "tools": [{"name": "lookup", "inputSchema": {"type": "object",
                    "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
                "reasoning": {"budgetTokens": 1024}
            }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    // Node B follows the session from its start while node A streams it.
    let relayed = fleet.attach(1, &id, None).await;
    assert_eq!(relayed.status(), 200);
    let (direct, relayed) = tokio::join!(
        within(
            Duration::from_secs(30),
            sse_events(resp).collect::<Vec<_>>()
        ),
        within(
            Duration::from_secs(30),
            sse_events(relayed).collect::<Vec<_>>()
        ),
    );
    assert!(
        direct.iter().any(|e| e.event == "tool") && direct.iter().any(|e| e.event == "reasoning")
    );
    assert_eq!(direct.len(), relayed.len());
    for (a, b) in direct.iter().zip(&relayed) {
        assert_eq!((a.event.as_str(), &a.data), (b.event.as_str(), &b.data));
    }
}

#[tokio::test]
async fn a_response_continues_on_the_other_node_by_previous_response_id() {
    let fleet = Fleet::start(&[]).await;
    let create = |node: usize, body: Value| {
        let req = fleet
            .http
            .post(format!("{}/v1/responses", fleet.node(node)))
            .bearer_auth(&fleet.token)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = create(
        0,
        json!({"input": "[[sim tokens=6 rate=0 ttft_ms=0]] Name a river."}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    let second_input = "[[sim tokens=2 rate=0 ttft_ms=0]] And another?";
    // Node B holds no session of node A's: it asks node A what it kept.
    let (status, second) = create(
        1,
        json!({"input": second_input, "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "completed");
    // The earlier turns went to the model: more input than the same input alone.
    let (_, alone) = create(1, json!({"input": second_input})).await;
    let input_tokens = |r: &Value| r["usage"]["input_tokens"].as_u64().unwrap();
    assert!(
        input_tokens(&second) > input_tokens(&alone),
        "with the earlier turns {} tokens, alone {}",
        input_tokens(&second),
        input_tokens(&alone)
    );
    // The earlier response reads the same through node B.
    let retrieved: Value = fleet
        .http
        .get(format!("{}/v1/responses/{id}", fleet.node(1)))
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retrieved["output"], first["output"]);
    assert_eq!(retrieved["status"], "completed");
    // Its answer, named by an item_reference on node B, is the same turn.
    let referenced = json!({"input": [
        {"role": "user", "content": "[[sim tokens=6 rate=0 ttft_ms=0]] Name a river."},
        {"type": "item_reference", "id": first["output"][0]["id"]},
        {"role": "user", "content": second_input},
    ]});
    let (status, by_reference) = create(1, referenced.clone()).await;
    assert_eq!(status, 200, "{by_reference}");
    assert_eq!(input_tokens(&by_reference), input_tokens(&second));
    // Another user cannot continue it on either node.
    let bob = fleet.token_for("bob");
    for node in 0..2 {
        let r = fleet
            .http
            .post(format!("{}/v1/responses", fleet.node(node)))
            .bearer_auth(&bob)
            .json(&json!({"input": "hi", "previous_response_id": id}))
            .send()
            .await
            .unwrap();
        // OpenAI's answer to an unknown previous response: 400 naming the param.
        assert_eq!(r.status(), 400, "node {node}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["param"], "previous_response_id",
            "node {node}"
        );
        let r = fleet
            .http
            .post(format!("{}/v1/responses", fleet.node(node)))
            .bearer_auth(&bob)
            .json(&referenced)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "node {node}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["param"], "input", "node {node}");
    }
}

#[tokio::test]
async fn published_tokens_reach_one_session_whichever_node_takes_them() {
    let fleet = Fleet::start(&[]).await;
    let publish = |node: usize, token: &str, complete: bool| {
        let req = fleet
            .http
            .post(format!("{}/graphql", fleet.node(node)))
            .bearer_auth(&fleet.admin)
            .json(&json!({
                "query": "mutation($id: String!, $t: String!, $c: Boolean!, $o: String) { publishToken(sessionId: $id, token: $t, isComplete: $c, owner: $o) { seq token isComplete } }",
                "variables": {"id": "job-7", "t": token, "c": complete, "o": "alice"},
            }));
        async move {
            let r: Value = req.send().await.unwrap().json().await.unwrap();
            assert!(r["errors"].is_null(), "{r}");
            r["data"]["publishToken"].clone()
        }
    };
    // A producer behind a load balancer: each call lands on either node.
    let mut seqs = Vec::new();
    for (i, token) in ["a", "b", "c", "d"].iter().enumerate() {
        seqs.push(publish(i % 2, token, false).await["seq"].as_u64().unwrap());
    }
    let last = publish(1, "", true).await;
    assert_eq!(last["isComplete"], true);
    assert_eq!(seqs, [0, 1, 2, 3], "one log, in order");
    // Both nodes read the same whole session (node B's through its relay).
    for node in 0..2 {
        eventually(Duration::from_secs(10), || async {
            let s = fleet.session(node, "job-7").await;
            s["status"] == "complete" && s["text"] == "abcd"
        })
        .await;
    }
}

#[tokio::test]
async fn a_cursor_past_the_end_is_refused_on_either_node() {
    let fleet = Fleet::start(&[]).await;
    let (id, resp) = fleet
        .started(0, "[[sim tokens=5 rate=0 ttft_ms=0]] short")
        .await;
    let events: Vec<_> = within(
        Duration::from_secs(10),
        sse_events(resp).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(events.len(), 6);
    // Node B has no mirror yet: it waits for the relay to say where the end is.
    for node in [1, 0] {
        let resp = fleet.attach(node, &id, Some(20)).await;
        assert_eq!(resp.status(), 416, "node {node}");
    }
}

/// The UI message stream's `data:` chunks as JSON, until `[DONE]`.
fn ui_chunks(resp: reqwest::Response) -> impl futures_util::Stream<Item = Value> + Unpin {
    use eventsource_stream::Eventsource;
    Box::pin(
        resp.bytes_stream()
            .eventsource()
            .map(|e| e.expect("well-formed SSE").data)
            .take_while(|d| std::future::ready(d != "[DONE]"))
            .map(|d| serde_json::from_str(&d).expect("a chunk is JSON")),
    )
}

#[tokio::test]
async fn an_ai_sdk_chat_resumes_on_the_other_node_as_it_started() {
    let fleet = Fleet::start(&[]).await;
    // The client sends back its assistant message (with a tool's output):
    // the answer continues that message, with metadata, as it asked.
    let body = json!({
        "id": "chat-across",
        "messageMetadata": true,
        "messages": [
            {"id": "u1", "role": "user", "parts": [
                {"type": "text", "text": "[[sim tokens=40 rate=40]] across the fleet"}]},
            {"id": "assistant-1", "role": "assistant", "parts": [
                {"type": "tool-get_weather", "toolCallId": "call-1",
                 "state": "output-available", "input": {"city": "Oslo"}, "output": "Sunny"}]},
        ],
    });
    let resp = fleet
        .http
        .post(format!("{}/v1/ai-sdk/chat", fleet.node(0)))
        .bearer_auth(&fleet.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut first = ui_chunks(resp);
    let start = within(Duration::from_secs(10), first.next()).await.unwrap();
    assert_eq!(start["messageId"], "assistant-1", "{start}");
    drop(first);

    let resp = fleet
        .http
        .get(format!(
            "{}/v1/ai-sdk/chat/chat-across/stream",
            fleet.node(1)
        ))
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "node B resumes node A's chat");
    let chunks: Vec<Value> =
        within(Duration::from_secs(30), ui_chunks(resp).collect::<Vec<_>>()).await;
    assert_eq!(
        chunks[0],
        json!({"type": "start", "messageId": "assistant-1"}),
        "the resumed answer extends the same message"
    );
    let finish = chunks.last().unwrap();
    assert_eq!(finish["type"], "finish", "{finish}");
    assert_eq!(finish["messageMetadata"]["sessionId"], sid, "{finish}");
    assert!(finish["messageMetadata"]["usage"].is_object(), "{finish}");
}

/// Every event of `resp`'s stream, to its end (at most 30 s).
async fn read_to_end(resp: reqwest::Response) -> Vec<SseEvent> {
    within(
        Duration::from_secs(30),
        sse_events(resp).collect::<Vec<_>>(),
    )
    .await
}

/// Send `sig` (`-STOP`, `-TERM`…) to process `pid`.
fn signal(pid: u32, sig: &str) {
    let sent = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {sig} {pid}");
}
