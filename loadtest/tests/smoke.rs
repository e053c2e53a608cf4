//! Smoke tests: the real gateway (embedded simulator, real SDK) on loopback
//! ports, driven by the load generator at tiny scale.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use clap::Parser;
use spillway::auth::dev::DevIssuer;
use spillway::config::Config;
use spillway::server::Server;
use spillway_loadtest::{Args, Error, Report, fanout, handshake, idle, ramp, relay};

struct Gateway {
    server: Server,
    base: String,
    sim: String,
    token: String,
    dir: tempfile::TempDir,
}

async fn gateway() -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::local_defaults();
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = dir.path().to_path_buf();
    config.drain_secs = 5;
    let server = Server::start(config).await.expect("gateway starts");
    let base = format!("http://{}", server.addr());
    let sim = format!("http://{}", server.sim_addr().expect("embedded simulator"));
    let token = DevIssuer::load_or_create(dir.path())
        .expect("dev key")
        .mint("loadtest", &[], 600)
        .expect("mint");
    Gateway {
        server,
        base,
        sim,
        token,
        dir,
    }
}

impl Gateway {
    fn args(&self, extra: &[&str]) -> Args {
        let json = self.dir.path().join("report.json");
        let md = self.dir.path().join("report.md");
        let mut argv = vec![
            "spillway-loadtest",
            "--target",
            &self.base,
            "--token",
            &self.token,
            "--json",
            json.to_str().expect("utf-8 path"),
            "--markdown",
            md.to_str().expect("utf-8 path"),
            "--quiet",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        argv.extend(extra.iter().map(|s| (*s).to_owned()));
        Args::try_parse_from(argv).expect("arguments parse")
    }
}

async fn run(args: &Args) -> Result<spillway_loadtest::Run, Error> {
    tokio::time::timeout(Duration::from_secs(60), spillway_loadtest::run(args))
        .await
        .expect("the run ends within a minute")
}

#[tokio::test]
async fn sse_streams_with_a_baseline_and_the_gateway_pid() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    let args = gw.args(&[
        "--streams",
        "6",
        "--tokens",
        "8",
        "--rate",
        "400",
        "--baseline",
        &gw.sim,
        "--gateway-pid",
        &pid,
    ]);
    let run = run(&args).await.expect("run");
    spillway_loadtest::write_reports(&args, &run).expect("reports written");

    let text = std::fs::read_to_string(&args.json).expect("json report");
    let report: Report = serde_json::from_str(&text).expect("report parses");
    assert_eq!(report.transport, "sse");
    assert_eq!(
        (report.streams, report.completed, report.failed),
        (6, 6, 0),
        "{text}"
    );
    assert_eq!(report.lost_events, 0);
    assert!(
        report.ttft_ms.is_some() && report.gap_ms.is_some(),
        "{text}"
    );
    assert!(report.ttft_added_ms.is_some(), "{text}");
    assert!(report.gateway_rss_mb.is_some_and(|mb| mb > 0.0), "{text}");
    assert!(report.events_per_sec > 0.0, "{text}");
    let baseline = run.baseline.as_ref().expect("baseline side");
    assert_eq!((baseline.completed, baseline.tokens), (6, 48));
    assert_eq!(run.gateway.tokens, 48);

    let md = std::fs::read_to_string(args.markdown.as_ref().expect("md path")).expect("md");
    assert!(md.contains("added by the gateway"), "{md}");
    gw.server.shutdown().await;
}

#[tokio::test]
async fn tool_call_streams_count_the_same_on_both_sides() {
    let gw = gateway().await;
    let args = gw.args(&[
        "--streams",
        "4",
        "--tokens",
        "8",
        "--rate",
        "400",
        "--baseline",
        &gw.sim,
        "--tool-call",
    ]);
    let calls = run(&args).await.expect("run");
    let baseline = calls.baseline.as_ref().expect("baseline side");
    for (side, s) in [("gateway", &calls.gateway), ("baseline", baseline)] {
        assert_eq!(
            (s.completed, s.failed, s.lost),
            (4, 0, 0),
            "{side}: {:?}",
            s.errors
        );
        // 8 input deltas, the call's start and end, the final event.
        assert_eq!((s.tokens, s.events), (32, 44), "{side}");
        assert!(s.ttft.is_some() && s.gap.is_some(), "{side}");
    }
    assert!(calls.markdown().contains("loadtest_probe"));

    // The control: the same tool offered, text answered.
    let offer = gw.args(&[
        "--streams",
        "2",
        "--tokens",
        "8",
        "--rate",
        "400",
        "--baseline",
        &gw.sim,
        "--offer-tool",
    ]);
    let control = run(&offer).await.expect("run");
    let baseline = control.baseline.as_ref().expect("baseline side");
    for (side, s) in [("gateway", &control.gateway), ("baseline", baseline)] {
        assert_eq!(
            (s.completed, s.tokens, s.events),
            (2, 16, 18),
            "{side}: {:?}",
            s.errors
        );
    }

    // Over the sockets it is refused before any stream.
    let ws = gw.args(&["--transport", "ws", "--tool-call"]);
    assert!(matches!(run_err(&ws).await, Error::Unsupported(_)));
    gw.server.shutdown().await;
}

async fn run_err(args: &Args) -> Error {
    match run(args).await {
        Ok(_) => panic!("the run should be refused"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn one_at_a_time_alternates_baseline_and_gateway() {
    let gw = gateway().await;
    let args = gw.args(&[
        "--streams",
        "3",
        "--tokens",
        "4",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--baseline",
        &gw.sim,
    ]);
    let run = run(&args).await.expect("run");
    let report = run.report();
    assert_eq!((report.completed, report.failed), (3, 0));
    assert_eq!(run.baseline.as_ref().map(|b| b.completed), Some(3));
    assert!(report.gateway_rss_mb.is_none());
    gw.server.shutdown().await;
}

#[tokio::test]
async fn bedrock_api_streams_alternate_with_the_baseline_on_one_client() {
    let gw = gateway().await;
    let args = gw.args(&[
        "--transport",
        "bedrock",
        "--streams",
        "3",
        "--tokens",
        "4",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--baseline",
        &gw.sim,
    ]);
    let both = run(&args).await.expect("run");
    let report = both.report();
    assert_eq!(report.transport, "bedrock");
    assert_eq!(
        (report.completed, report.failed),
        (3, 0),
        "{:?}",
        both.gateway.errors
    );
    assert_eq!(both.gateway.tokens, 12);
    assert_eq!(both.baseline.as_ref().map(|b| b.tokens), Some(12));
    assert!(report.ttft_added_ms.is_some());

    // A refused token fails the streams (the gateway's 401), not the run.
    let mut refused = gw.args(&["--transport", "bedrock", "--streams", "1", "--tokens", "2"]);
    refused.token = "not-a-jwt".into();
    let refused_run = run(&refused).await.expect("run");
    assert_eq!(refused_run.report().failed, 1);

    // Claude bodies only; streams only.
    let other_model = gw.args(&[
        "--transport",
        "bedrock",
        "--model",
        "us.amazon.nova-lite-v1:0",
    ]);
    assert!(matches!(run_err(&other_model).await, Error::Unsupported(_)));
    let tools = gw.args(&["--transport", "bedrock", "--tool-call"]);
    assert!(matches!(run_err(&tools).await, Error::Unsupported(_)));
    let idle = gw.args(&["--transport", "bedrock", "--idle-connections", "2"]);
    assert!(idle::run(&idle).await.is_err());
    gw.server.shutdown().await;
}

#[tokio::test]
async fn openai_chat_completion_streams_with_a_baseline() {
    let gw = gateway().await;
    let args = gw.args(&[
        "--transport",
        "openai",
        "--streams",
        "3",
        "--tokens",
        "4",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--baseline",
        &gw.sim,
    ]);
    let both = run(&args).await.expect("run");
    let report = both.report();
    assert_eq!(report.transport, "openai");
    assert_eq!(
        (report.completed, report.failed),
        (3, 0),
        "{:?}",
        both.gateway.errors
    );
    // Four content chunks and `[DONE]` per stream.
    assert_eq!((both.gateway.tokens, both.gateway.events), (12, 15));
    assert_eq!(both.baseline.as_ref().map(|b| b.tokens), Some(12));
    assert!(report.ttft_added_ms.is_some());

    // A refused token fails the streams (401), not the run.
    let mut refused = gw.args(&["--transport", "openai", "--streams", "1", "--tokens", "2"]);
    refused.token = "not-a-jwt".into();
    let refused_run = run(&refused).await.expect("run");
    assert_eq!(refused_run.report().failed, 1);
    assert!(
        refused_run
            .gateway
            .errors
            .keys()
            .any(|e| e.starts_with("HTTP 401")),
        "{:?}",
        refused_run.gateway.errors
    );
    // Streams only.
    let tools = gw.args(&["--transport", "openai", "--tool-call"]);
    assert!(matches!(run_err(&tools).await, Error::Unsupported(_)));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_fails_the_streams_not_the_run() {
    let mut gw = gateway().await;
    gw.token = "not-a-jwt".into();
    let args = gw.args(&["--streams", "2", "--tokens", "2", "--arrival", "100"]);
    let run = run(&args).await.expect("run");
    let report = run.report();
    assert_eq!((report.completed, report.failed), (0, 2));
    assert!(report.ttft_ms.is_none() && report.ttft_added_ms.is_none());
    assert!(
        run.gateway.errors.keys().any(|e| e.starts_with("HTTP 401")),
        "{:?}",
        run.gateway.errors
    );
    gw.server.shutdown().await;
}

#[tokio::test]
async fn websocket_streams_with_a_baseline_and_plots() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    let plots = gw.dir.path().join("plots");
    let args = gw.args(&[
        "--transport",
        "ws",
        "--streams",
        "5",
        "--tokens",
        "6",
        "--rate",
        "400",
        "--arrival",
        "200",
        "--baseline",
        &gw.sim,
        "--gateway-pid",
        &pid,
        "--plot",
        plots.to_str().expect("utf-8 path"),
    ]);
    let run = run(&args).await.expect("run");
    spillway_loadtest::write_reports(&args, &run).expect("reports written");
    let report = run.report();
    assert_eq!(report.transport, "ws");
    assert_eq!(
        (report.completed, report.failed, report.lost_events),
        (5, 0, 0),
        "{:?}",
        run.gateway.errors
    );
    assert_eq!(run.gateway.tokens, 30);
    assert!(report.ttft_added_ms.is_some());
    assert!(
        run.gateway.connect.is_some(),
        "connection set-up is recorded"
    );
    assert!(run.markdown().contains("Connection set-up"));
    for suffix in ["ttft-cdf", "gap-cdf", "memory"] {
        let svg = std::fs::read_to_string(plots.join(format!("report-{suffix}.svg")))
            .unwrap_or_else(|e| panic!("{suffix} plot: {e}"));
        assert!(svg.starts_with("<svg"), "{suffix}");
    }
    gw.server.shutdown().await;
}

#[tokio::test]
async fn graphql_streams_over_graphql_transport_ws() {
    let gw = gateway().await;
    let args = gw.args(&[
        "--transport",
        "graphql",
        "--streams",
        "4",
        "--tokens",
        "5",
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--baseline",
        &gw.sim,
    ]);
    let run = run(&args).await.expect("run");
    let report = run.report();
    assert_eq!(report.transport, "graphql");
    assert_eq!(
        (report.completed, report.failed, report.lost_events),
        (4, 0, 0),
        "{:?}",
        run.gateway.errors
    );
    assert_eq!(run.gateway.tokens, 20);
    assert_eq!(run.baseline.as_ref().map(|b| b.completed), Some(4));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn websocket_and_graphql_failures_are_counted() {
    let mut gw = gateway().await;
    gw.token = "not-a-jwt".into();
    for (transport, expected) in [
        ("ws", "HTTP 401"),
        ("graphql", "closed by the gateway: 4403"),
    ] {
        let args = gw.args(&["--transport", transport, "--streams", "2", "--tokens", "2"]);
        let run = run(&args).await.expect("run");
        assert_eq!((run.gateway.completed, run.gateway.failed), (0, 2));
        assert!(
            run.gateway.errors.keys().any(|e| e.starts_with(expected)),
            "{transport}: {:?}",
            run.gateway.errors
        );
    }
    gw.server.shutdown().await;
}

#[tokio::test]
async fn idle_websockets_report_memory_per_connection() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    let plots = gw.dir.path().join("plots");
    let args = gw.args(&[
        "--transport",
        "ws",
        "--idle-connections",
        "40",
        "--source-addrs",
        "2",
        "--hold",
        "0",
        "--gateway-pid",
        &pid,
        "--plot",
        plots.to_str().expect("utf-8 path"),
    ]);
    let run = tokio::time::timeout(Duration::from_secs(60), idle::run(&args))
        .await
        .expect("the run ends within a minute")
        .expect("run");
    idle::write_reports(&args, &run).expect("reports written");
    let text = std::fs::read_to_string(&args.json).expect("json report");
    let report: idle::IdleReport = serde_json::from_str(&text).expect("report parses");
    assert_eq!(
        (report.connections, report.held, report.failed),
        (40, 40, 0),
        "{:?}",
        run.errors
    );
    assert_eq!(report.source_addrs, 2);
    assert!(
        report.kib_per_connection.is_some() && report.connect_ms.is_some(),
        "{text}"
    );
    assert!(run.markdown().contains("KiB per connection"));
    assert!(plots.join("report-memory.svg").exists());

    let no_pid = gw.args(&["--transport", "ws", "--idle-connections", "1"]);
    assert!(matches!(idle::run(&no_pid).await, Err(Error::NeedsPid(_))));
    let sse = gw.args(&[
        "--transport",
        "sse",
        "--idle-connections",
        "1",
        "--gateway-pid",
        &pid,
    ]);
    assert!(matches!(idle::run(&sse).await, Err(Error::Unsupported(_))));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn idle_graphql_sockets_are_held_after_connection_ack() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    let args = gw.args(&[
        "--transport",
        "graphql",
        "--idle-connections",
        "20",
        "--hold",
        "0",
        "--gateway-pid",
        &pid,
    ]);
    let run = tokio::time::timeout(Duration::from_secs(60), idle::run(&args))
        .await
        .expect("the run ends within a minute")
        .expect("run");
    assert_eq!(
        (
            run.report.transport.as_str(),
            run.report.held,
            run.report.failed
        ),
        ("graphql", 20, 0),
        "{:?}",
        run.errors
    );
    gw.server.shutdown().await;
}

#[tokio::test]
async fn relay_measurement_runs_against_one_node_as_both() {
    // One node as A and B: the code path of the fleet measurement, without a fleet.
    let gw = gateway().await;
    let args = gw.args(&[
        "--relay-via",
        &gw.base,
        "--streams",
        "3",
        "--tokens",
        "5",
        "--rate",
        "200",
        "--sim-ttft-ms",
        "200",
    ]);
    let run = tokio::time::timeout(Duration::from_secs(60), relay::run(&args))
        .await
        .expect("the run ends within a minute")
        .expect("run");
    relay::write_reports(&args, &run).expect("reports written");
    let r = &run.report;
    assert_eq!(
        (r.completed, r.failed, r.lost_events),
        (3, 0, 0),
        "{:?}",
        run.errors
    );
    assert_eq!(r.events, 3 * 6, "every token and final event compared");
    assert!(r.relay_delay_ms.is_some() && r.same_node_delay_ms.is_some());
    assert!(run.markdown().contains("added by the relay"));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn ramp_runs_each_step_until_one_fails() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    let plots = gw.dir.path().join("plots");
    let args = gw.args(&[
        "--ramp",
        "2,4",
        "--tokens",
        "5",
        "--rate",
        "50",
        "--baseline",
        &gw.sim,
        "--gateway-pid",
        &pid,
        "--source-addrs",
        "2",
        "--plot",
        plots.to_str().expect("utf-8 path"),
    ]);
    let run = tokio::time::timeout(Duration::from_secs(60), ramp::run(&args))
        .await
        .expect("the run ends within a minute")
        .expect("run");
    ramp::write_reports(&args, &run).expect("reports written");
    let text = std::fs::read_to_string(&args.json).expect("json report");
    let report: ramp::RampReport = serde_json::from_str(&text).expect("report parses");
    assert_eq!(report.pacing_interval_ms, 20.0);
    assert_eq!(report.steps.len(), 2, "{text}");
    for (step, n) in report.steps.iter().zip([2, 4]) {
        assert_eq!((step.run.streams, step.run.completed), (n, n), "{text}");
        assert!(step.passed, "{text}");
        assert!(step.gap_added_ms.is_some() && step.run.ttft_added_ms.is_some());
        assert!(step.gateway_cpu_secs.is_some());
    }
    assert_eq!((report.largest_passed, report.stopped_at), (Some(4), None));
    assert!(
        run.markdown()
            .contains("Largest step that passed: 4 streams")
    );
    assert!(plots.join("report-gap-cdf.svg").exists());

    // A refused token fails the first step, and the ramp stops there.
    let mut refused = gw.args(&["--ramp", "2,4", "--tokens", "3", "--rate", "100"]);
    refused.token = "not-a-jwt".into();
    let run = ramp::run(&refused).await.expect("run");
    assert_eq!(run.report.steps.len(), 1);
    assert_eq!(
        (run.report.largest_passed, run.report.stopped_at),
        (None, Some(2))
    );
    assert_eq!(
        run.report.steps[0].reason.as_deref(),
        Some("2 stream(s) failed")
    );

    let unpaced = gw.args(&["--ramp", "2", "--rate", "0"]);
    assert!(matches!(
        ramp::run(&unpaced).await,
        Err(Error::Unsupported(_))
    ));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn handshakes_over_websocket_and_graphql() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    for transport in ["ws", "graphql"] {
        let args = gw.args(&[
            "--transport",
            transport,
            "--handshakes",
            "30",
            "--concurrency",
            "4",
            "--source-addrs",
            "2",
            "--gateway-pid",
            &pid,
        ]);
        let run = tokio::time::timeout(Duration::from_secs(60), handshake::run(&args))
            .await
            .expect("the run ends within a minute")
            .expect("run");
        handshake::write_reports(&args, &run).expect("reports written");
        let text = std::fs::read_to_string(&args.json).expect("json report");
        let r: handshake::HandshakeReport = serde_json::from_str(&text).expect("report parses");
        assert_eq!(
            (r.transport.as_str(), r.completed, r.failed),
            (transport, 30, 0),
            "{:?}",
            run.errors
        );
        assert_eq!((r.concurrency, r.source_addrs), (4, 2));
        assert!(
            r.handshakes_per_sec > 0.0 && r.connect_ms.is_some(),
            "{text}"
        );
        assert!(r.gateway_cpu_ms_per_handshake.is_some(), "{text}");
    }
    let mut refused = gw.args(&["--transport", "ws", "--handshakes", "3"]);
    refused.token = "not-a-jwt".into();
    let run = handshake::run(&refused).await.expect("run");
    assert_eq!((run.report.completed, run.report.failed), (0, 3));
    assert!(
        run.errors.keys().any(|e| e.starts_with("HTTP 401")),
        "{:?}",
        run.errors
    );
    let sse = gw.args(&["--handshakes", "3"]);
    assert!(matches!(
        handshake::run(&sse).await,
        Err(Error::Unsupported(_))
    ));
    gw.server.shutdown().await;
}

#[tokio::test]
async fn fanout_to_subscribers_over_each_transport() {
    let gw = gateway().await;
    let pid = std::process::id().to_string();
    for transport in ["sse", "ws", "graphql"] {
        let args = gw.args(&[
            "--transport",
            transport,
            "--subscribers",
            "12",
            "--tokens",
            "6",
            "--rate",
            "100",
            "--sim-ttft-ms",
            "500",
            "--source-addrs",
            "3",
            "--gateway-pid",
            &pid,
        ]);
        let run = tokio::time::timeout(Duration::from_secs(60), fanout::run(&args))
            .await
            .expect("the run ends within a minute")
            .expect("run");
        fanout::write_reports(&args, &run).expect("reports written");
        let text = std::fs::read_to_string(&args.json).expect("json report");
        let r: fanout::FanoutReport = serde_json::from_str(&text).expect("report parses");
        assert_eq!(
            (
                r.subscribers,
                r.completed,
                r.failed,
                r.lost_events,
                r.duplicated
            ),
            (12, 12, 0, 0, 0),
            "{transport}: {:?}",
            run.errors
        );
        assert!(r.original_completed, "{text}");
        // 6 tokens and the final event, to each subscriber.
        assert_eq!(r.events, 12 * 7, "{text}");
        assert_eq!(r.compared_events + r.replayed_events, r.events);
        assert!(r.delay_ms.is_some() && r.delay_max_ms.is_some(), "{text}");
        assert_eq!(r.source_addrs, 3);
        assert!(
            run.markdown()
                .contains("subscribers attached before the first event")
        );
    }
    gw.server.shutdown().await;
}
