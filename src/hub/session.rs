//! A session: one model invocation, its append-only event log, and the
//! signals its readers and its upstream task watch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::growing::Growing;
use super::log::{self as compact, now_ms, parse_ms};
use crate::event::{EventError, TokenEvent, now_timestamp};
use crate::parts::{Content, Part, answer};
use crate::upstream::Usage;
use crate::upstream::request::Turn;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Streaming,
    Complete,
    Failed,
    Cancelled,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Streaming => "streaming",
            SessionStatus::Complete => "complete",
            SessionStatus::Failed => "failed",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

struct Log {
    events: compact::Log,
    status: SessionStatus,
    finished_at: Option<Instant>,
    /// The prompt's count, when the model gives it before its answer.
    prompt_usage: Option<Usage>,
}

/// One invocation and its log. The upstream task is the only writer; every
/// subscriber is a cursor (`Subscription`) into `log`.
pub struct Session {
    id: Arc<str>,
    owner: String,
    model: String,
    created_at: String,
    /// Most events the log may ever hold (the hub's `max_events`).
    max_events: u64,
    log: Mutex<Log>,
    /// Number of events in the log; readers wait on it.
    len: Growing,
    /// Number of attached readers; the upstream task watches it for the cancel grace.
    readers: watch::Sender<usize>,
    /// Stops the upstream task now (explicit cancel, shutdown).
    cancel: CancellationToken,
    /// What a drop-in API keeps to continue this answer later (see [`Kept`]).
    kept: OnceLock<Arc<Kept>>,
    /// A mirror of a session another node streams: its only writer is the relay.
    mirror: AtomicBool,
    /// Cut by a drain that ran out of time (not cancelled by anyone).
    cut: AtomicBool,
}

/// The request side of a session, kept beside its log by a drop-in API that
/// continues answers by id (the Responses API's `previous_response_id`): it
/// lives exactly as long as the session is retained, on the node that
/// streamed it; another node asks that one for it ([`Hub::kept`](super::Hub::kept)).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    /// The conversation the model was asked, as validated.
    pub turns: Vec<Turn>,
    /// The request's own system messages, in order (a Responses `input`'s
    /// `developer` and `system` items; not its `instructions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<Vec<Content>>,
    /// The API's own echo of the request (options it renders back).
    pub echo: serde_json::Value,
}

/// A snapshot for `GET /v1/sessions/{id}`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub session_id: Arc<str>,
    pub status: SessionStatus,
    pub model: String,
    pub created_at: String,
    pub text: String,
    /// The answer as request-shaped parts (text, reasoning, tool calls).
    pub content: Vec<Content>,
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

impl Session {
    /// A streaming session whose log will never hold more than `max_events` events.
    pub fn new(id: Arc<str>, owner: String, model: String, max_events: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            owner,
            model,
            created_at: now_timestamp(),
            max_events,
            log: Mutex::new(Log {
                events: compact::Log::default(),
                status: SessionStatus::Streaming,
                finished_at: None,
                prompt_usage: None,
            }),
            len: Growing::default(),
            readers: watch::Sender::new(0),
            cancel: CancellationToken::new(),
            kept: OnceLock::new(),
            mirror: AtomicBool::new(false),
            cut: AtomicBool::new(false),
        })
    }

    /// Mark this session a mirror of one another node streams.
    pub(super) fn set_mirror(&self) {
        self.mirror.store(true, Ordering::Relaxed);
    }

    /// Whether this is a mirror of a session another node streams.
    pub fn is_mirror(&self) -> bool {
        self.mirror.load(Ordering::Relaxed)
    }

    /// Keep `kept` beside the log; only the first call counts.
    pub fn keep(&self, kept: Kept) {
        let _ = self.kept.set(Arc::new(kept));
    }

    /// What was kept beside the log, if anything.
    pub fn kept(&self) -> Option<Arc<Kept>> {
        self.kept.get().cloned()
    }

    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding this lock cannot leave the log half-written
        // (every write is a single push), so a poisoned lock is still usable.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> SessionStatus {
        self.log().status
    }

    pub fn len(&self) -> u64 {
        self.len.get()
    }

    /// The log's length, once it is above `seen` (it never shrinks).
    pub(crate) async fn len_above(&self, seen: u64) -> u64 {
        self.len.above(seen).await
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most events the log may ever hold.
    pub fn max_events(&self) -> u64 {
        self.max_events
    }

    /// The log's final length, once the session has finished (`None` while streaming).
    pub fn finished_len(&self) -> Option<u64> {
        let log = self.log();
        (log.status != SessionStatus::Streaming).then_some(log.events.len())
    }

    /// The final event's usage (zero while streaming).
    pub fn usage(&self) -> Usage {
        let log = self.log();
        log.events.last().and_then(|e| e.usage).unwrap_or_default()
    }

    /// The prompt's token counts as the model reported them before its
    /// answer began (Claude's `message_start`), for APIs that announce them
    /// up front; `None` from models that count only at the end (Converse).
    pub fn prompt_usage(&self) -> Option<Usage> {
        self.log().prompt_usage
    }

    /// Record the prompt's counts (the runner, before the first event).
    pub(crate) fn set_prompt_usage(&self, usage: Usage) {
        self.log().prompt_usage = Some(usage);
    }

    /// Heap bytes held by this session's log (see `SPILLWAY_SESSION_MEMORY_BYTES`).
    pub fn bytes(&self) -> usize {
        self.log().events.bytes()
    }

    pub fn finished_at(&self) -> Option<Instant> {
        self.log().finished_at
    }

    pub fn reader_count(&self) -> usize {
        *self.readers.borrow()
    }

    /// Event `seq`, if it has been written.
    pub fn event(&self, seq: u64) -> Option<Arc<TokenEvent>> {
        self.log().events.event(&self.id, seq)
    }

    /// Up to `max` events from `seq` on.
    pub fn events_from(&self, seq: u64, max: usize) -> Vec<Arc<TokenEvent>> {
        let log = self.log();
        let end = log.events.len().min(seq.saturating_add(max as u64));
        (seq..end)
            .filter_map(|seq| log.events.event(&self.id, seq))
            .collect()
    }

    pub fn info(&self) -> SessionInfo {
        let log = self.log();
        let last = log.events.last();
        let text = log.events.answer_text();
        let events = log.events.rendered(&self.id);
        SessionInfo {
            session_id: self.id.clone(),
            status: log.status,
            model: self.model.clone(),
            created_at: self.created_at.clone(),
            text,
            content: answer::content(events.iter().map(|e| &**e)),
            events: log.events.len(),
            stop_reason: last.and_then(|e| e.stop_reason.clone()),
            usage: last.and_then(|e| e.usage),
            error: last.and_then(|e| e.error.clone()),
        }
    }

    /// Append a token. Returns the new log length. No-op once finished.
    pub fn push_token(&self, token: String) -> u64 {
        self.push(token, None)
    }

    /// Append an event: text in `token`, or a part with `token` empty.
    /// Returns the new log length. No-op once finished.
    pub fn push(&self, token: String, part: Option<Box<Part>>) -> u64 {
        let mut log = self.log();
        if log.status != SessionStatus::Streaming {
            return log.events.len();
        }
        let seq = log.events.len();
        log.events.push(&self.id, token, part, now_ms());
        drop(log);
        self.len.set(seq + 1);
        seq + 1
    }

    /// Append the final event and set the status. Only the first call counts.
    pub fn finish(
        &self,
        status: SessionStatus,
        stop_reason: Option<String>,
        usage: Option<Usage>,
        error: Option<EventError>,
    ) -> bool {
        self.finish_with(status, stop_reason, None, usage, error)
    }

    /// [`Session::finish`] of an answer that ended normally, with the stop
    /// sequence it reached when the model said which.
    pub fn complete(
        &self,
        stop_reason: String,
        stop_sequence: Option<String>,
        usage: Option<Usage>,
    ) -> bool {
        self.finish_with(
            SessionStatus::Complete,
            Some(stop_reason),
            stop_sequence,
            usage,
            None,
        )
    }

    fn finish_with(
        &self,
        status: SessionStatus,
        stop_reason: Option<String>,
        stop_sequence: Option<String>,
        usage: Option<Usage>,
        error: Option<EventError>,
    ) -> bool {
        let mut log = self.log();
        if log.status != SessionStatus::Streaming {
            return false;
        }
        let seq = log.events.len();
        log.events.finish(Arc::new(TokenEvent {
            session_id: self.id.clone(),
            seq,
            token: String::new(),
            is_complete: true,
            timestamp: now_timestamp(),
            stop_reason,
            stop_sequence,
            usage,
            model: Some(self.model.clone()),
            error,
            part: None,
            wire: Default::default(),
        }));
        log.status = status;
        log.finished_at = Some(Instant::now());
        drop(log);
        self.len.set(seq + 1);
        // Nothing more will be written; stop anything still feeding the session.
        self.cancel.cancel();
        true
    }

    /// Ask the upstream task to stop now.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Stop the upstream task now because the gateway is going away: the
    /// answer ends with a retryable `shutting_down` error, not as a cancel
    /// (which every API renders as a normal stop).
    pub(super) fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        self.cancel.cancel();
    }

    /// Whether [`Self::cut`] stopped it.
    pub(super) fn was_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) fn watch_readers(&self) -> watch::Receiver<usize> {
        self.readers.subscribe()
    }

    pub(crate) fn add_reader(&self) {
        self.readers.send_modify(|n| *n += 1);
    }

    pub(crate) fn remove_reader(&self) {
        self.readers.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Session {
    /// Resolves once the final event has been written.
    pub async fn finished(&self) {
        loop {
            let seen = self.len();
            if self.status() != SessionStatus::Streaming {
                return;
            }
            self.len_above(seen).await;
        }
    }
}

impl Session {
    /// Append an event relayed from the node that streams this session
    /// (a mirror's only writer). Events must arrive in order; a repeat is ignored.
    pub(crate) fn append_relayed(&self, ev: TokenEvent) -> bool {
        let mut log = self.log();
        if log.status != SessionStatus::Streaming || ev.seq != log.events.len() {
            return false;
        }
        let seq = ev.seq;
        if ev.is_complete {
            log.status = match (&ev.error, ev.stop_reason.as_deref()) {
                (Some(_), _) => SessionStatus::Failed,
                (None, Some("cancelled")) => SessionStatus::Cancelled,
                _ => SessionStatus::Complete,
            };
            log.finished_at = Some(Instant::now());
            log.events.finish(Arc::new(ev));
        } else {
            let at = parse_ms(&ev.timestamp);
            log.events.push(&self.id, ev.token, ev.part, at);
        }
        drop(log);
        self.len.set(seq + 1);
        true
    }
}
