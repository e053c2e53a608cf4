//! The `spillway` binary itself: serves until SIGTERM, then drains and exits
//! 0; refuses at start-up the settings that would fail every request they
//! meet while it reported itself ready; warns about `SPILLWAY_*` variables
//! that are no setting.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::within;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env("SPILLWAY_DRAIN_SECS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let url = line.rsplit(' ').next().unwrap().to_owned();
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let pid = child.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = within(Duration::from_secs(15), child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status}");
}

/// `spillway serve` with only `env` (and `PATH`) set, expected to stop at
/// start-up: its stderr.
async fn refused(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spillway"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SPILLWAY_DATA_DIR", dir.path())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = within(Duration::from_secs(30), cmd.output()).await.unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{env:?} started: {stderr}");
    stderr
}

#[tokio::test]
async fn a_default_model_outside_the_allow_list_or_an_unknown_allowed_model_stops_start_up() {
    let stderr = refused(&[
        ("SPILLWAY_DEFAULT_MODEL", "amazon.nova-lite-v1:0"),
        (
            "SPILLWAY_ALLOWED_MODELS",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
    ])
    .await;
    assert!(
        stderr.contains(
            "SPILLWAY_DEFAULT_MODEL: 'amazon.nova-lite-v1:0' is not in SPILLWAY_ALLOWED_MODELS"
        ),
        "{stderr}"
    );
    let stderr = refused(&[(
        "SPILLWAY_ALLOWED_MODELS",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0,openai.gpt-oss-120b-1:0",
    )])
    .await;
    assert!(
        stderr.contains("SPILLWAY_ALLOWED_MODELS: 'openai.gpt-oss-120b-1:0' is not a known model"),
        "{stderr}"
    );
}

#[tokio::test]
async fn values_that_would_fail_every_request_stop_start_up() {
    for (var, value, flag) in [
        (
            "SPILLWAY_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECS",
            "0",
            "--upstream-first-token-timeout-secs",
        ),
        (
            "SPILLWAY_MAX_STREAMS_PER_USER",
            "0",
            "--max-streams-per-user",
        ),
        (
            "SPILLWAY_MAX_EVENTS_PER_SESSION",
            "0",
            "--max-events-per-session",
        ),
        (
            "SPILLWAY_SESSION_MEMORY_BYTES",
            "0",
            "--session-memory-bytes",
        ),
        (
            "SPILLWAY_UPSTREAM_MAX_ATTEMPTS",
            "0",
            "--upstream-max-attempts",
        ),
        ("SPILLWAY_RATE_LIMIT_BURST", "0", "--rate-limit-burst"),
        ("SPILLWAY_MAX_SESSIONS", "0", "--max-sessions"),
        (
            "SPILLWAY_REQUEST_TIMEOUT_SECS",
            "0",
            "--request-timeout-secs",
        ),
        ("SPILLWAY_CORS_ORIGINS", "notanorigin", "--cors-origins"),
    ] {
        let stderr = refused(&[(var, value)]).await;
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag}")),
            "{var}={value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_misspelt_spillway_variable_is_warned_about_with_the_setting_it_resembles() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env("SPILLWAY_MAX_TOKENS_PER_USR_PER_DAY", "1000")
        .env("SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .expect("the listening line");
    // Listening: the start-up warnings are written. Stop it and read them.
    child.kill().await.unwrap();
    let mut stderr = String::new();
    within(
        Duration::from_secs(10),
        child.stderr.take().unwrap().read_to_string(&mut stderr),
    )
    .await
    .unwrap();
    let warning = stderr
        .lines()
        .find(|l| l.contains("SPILLWAY_MAX_TOKENS_PER_USR_PER_DAY"))
        .unwrap_or_else(|| panic!("no warning in {stderr}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("did you mean SPILLWAY_MAX_TOKENS_PER_USER_PER_DAY?"),
        "{warning}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("not a setting of spillway"))
            .count(),
        1,
        "only the misspelt one: {stderr}"
    );
    // Written to a pipe, text logs carry no colour codes.
    assert!(!stderr.contains('\u{1b}'), "ANSI codes: {stderr:?}");
}

/// `SPILLWAY_LOG_FORMAT=json`: every line the gateway writes is a JSON
/// object, the stdout line that gives its address included (with `url`).
#[tokio::test]
async fn in_json_mode_every_line_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env("SPILLWAY_LOG_FORMAT", "json")
        .env("SPILLWAY_NOT_A_SETTING", "x")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .expect("the listening line");
    let listening: serde_json::Value = serde_json::from_str(&line).expect(&line);
    let url = listening["url"].as_str().expect(&line);
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    child.kill().await.unwrap();
    let mut stderr = String::new();
    within(
        Duration::from_secs(10),
        child.stderr.take().unwrap().read_to_string(&mut stderr),
    )
    .await
    .unwrap();
    assert!(stderr.contains("SPILLWAY_NOT_A_SETTING"), "{stderr}");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

/// `RUST_LOG=trace`, the usual setting to debug upstream trouble, logs what
/// the AWS SDK does, but not the Bedrock API key it reads from the
/// environment (`aws_runtime::env_config` prints every value at TRACE).
#[tokio::test]
async fn rust_log_trace_does_not_print_the_bedrock_api_key() {
    const KEY: &str = "ABSKtest-bedrock-api-key-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env("SPILLWAY_UPSTREAM", "bedrock")
        .env("RUST_LOG", "trace")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
        .env("AWS_BEARER_TOKEN_BEDROCK", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read stderr all along: at TRACE it outgrows a pipe's buffer.
    let mut pipe = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s).await;
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .expect("the listening line");
    child.kill().await.unwrap();
    let stderr = within(Duration::from_secs(10), stderr).await.unwrap();
    assert!(
        stderr.contains("TRACE") && stderr.contains("aws_"),
        "the SDK logs at TRACE: {}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(!stderr.contains(KEY), "the key is in the log");
}
