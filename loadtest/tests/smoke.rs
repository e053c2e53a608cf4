//! Smoke tests: the real gateway (embedded simulator, real SDK) on loopback
//! ports, driven by the load generator at tiny scale.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use clap::Parser;
use spillway::auth::dev::DevIssuer;
use spillway::config::Config;
use spillway::server::Server;
use spillway_loadtest::{Args, Error, Report};

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
async fn websocket_and_graphql_are_not_built_yet() {
    let gw = gateway().await;
    for transport in ["ws", "graphql"] {
        let args = gw.args(&["--transport", transport]);
        assert!(matches!(run(&args).await, Err(Error::Unsupported(t)) if t == transport));
    }
    gw.server.shutdown().await;
}
