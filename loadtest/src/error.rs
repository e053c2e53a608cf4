//! What can stop a run before it produces a report. Failures of single
//! streams are not errors: they are counted in the report.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unsupported(String),
    #[error("bad target: {0}")]
    Target(String),
    #[error("--baseline sends Anthropic Claude request bodies; --model {0} is not a Claude model")]
    BaselineModel(String),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("reading /proc for gateway pid {pid}: {source}")]
    Proc { pid: u32, source: io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("drawing {path}: {message}")]
    Plot { path: PathBuf, message: String },
    #[error("{0} needs --gateway-pid")]
    NeedsPid(&'static str),
    #[error("rendering the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the stream scheduler stopped: {0}")]
    Scheduler(String),
}
