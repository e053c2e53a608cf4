//! The `spillway` binary itself: serves until SIGTERM, then drains and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::within;
use tokio::io::{AsyncBufReadExt, BufReader};
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
