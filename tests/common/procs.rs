//! Child processes for tests that run the `spillway` binary: a process
//! killed when dropped, started and waited for until it listens; and moto's
//! DynamoDB-compatible server (from PyPI) on a free loopback port, serving
//! one request at a time (`moto_server.py`).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{eventually, within};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub url: String,
    /// What it has written to stderr so far (also passed on to the test's).
    pub stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Its stderr so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// Start `cmd` and wait for its first stdout line, `… listening on http://ADDR`.
pub async fn spawn_listening(mut cmd: Command) -> Proc {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = err_lines.next_line().await {
            eprintln!("{line}");
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .expect("a first line");
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://"), "{line}");
    // Keep draining stdout so the child never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc { child, url, stderr }
}

/// moto's DynamoDB-compatible server on a free loopback port, one request
/// at a time as DynamoDB applies item writes (`moto_server.py` says why).
pub async fn start_moto() -> Proc {
    let moto = Path::new(ROOT).join(".venv/bin/moto_server");
    if !moto.exists() {
        let ok = Command::new(Path::new(ROOT).join("scripts/python-env"))
            .status()
            .await
            .unwrap();
        assert!(ok.success(), "scripts/python-env failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(Path::new(ROOT).join(".venv/bin/python"))
        .arg(Path::new(ROOT).join("tests/common/moto_server.py"))
        .args(["127.0.0.1", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        http.get(&url).send().await.is_ok()
    })
    .await;
    Proc {
        child,
        url,
        stderr: Arc::default(),
    }
}
