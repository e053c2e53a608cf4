//! `/v1/ws` as a [`Protocol`]: JSON actions in, `TokenEvent`s plus `type`
//! and the echoed `requestId` out. Each stream or subscription is an
//! operation of the socket driver (a cursor task into a session log).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Action, ClientMessage};
use crate::error::ErrorCode;
use crate::event::now_timestamp;
use crate::hub::{Access, Subscription};
use crate::request::StreamRequest;
use crate::socket::{Ctx, Flow, Protocol};
use axum::extract::ws::Message;

/// The `/v1/ws` action protocol. Stateless: the driver holds the rest.
pub struct Actions;

/// What an operation on `/v1/ws` is known by.
pub struct Tag {
    request_id: Option<Value>,
    /// Set once the stream has started (or at once for a subscription).
    session_id: Arc<OnceLock<String>>,
}

type Cx<'a> = Ctx<'a, Tag>;

impl Protocol for Actions {
    type Tag = Tag;
    const NAME: &'static str = "ws";

    fn greeting(&self, connection_id: &str) -> Option<String> {
        Some(protocol::connected(connection_id))
    }

    async fn on_text(&mut self, text: &str, cx: &mut Cx<'_>) -> Flow {
        on_text(text, cx).await;
        Flow::Continue
    }

    async fn on_binary(&mut self, _data: &[u8], cx: &mut Cx<'_>) -> Flow {
        cx.reply(protocol::error(
            None,
            ErrorCode::BinaryNotSupported,
            "send actions as JSON text messages",
        ))
        .await;
        Flow::Continue
    }
}

async fn on_text(text: &str, cx: &mut Cx<'_>) {
    let ClientMessage { request_id, action } = match protocol::parse(text) {
        Ok(m) => m,
        Err((rid, e)) => {
            return cx
                .reply(protocol::error(rid.as_ref(), e.code, &e.message))
                .await;
        }
    };
    let rid = request_id.as_ref();
    match action {
        Action::Ping => cx.reply(protocol::pong(rid)).await,
        Action::Auth { token } => {
            let Some(sub) = cx.principal().map(|p| p.sub.clone()) else {
                return;
            };
            match cx.state().verifier.verify(&token).await {
                Ok(p) if p.sub == sub => {
                    cx.refresh(p);
                    cx.reply(
                        serde_json::json!({"type": "authenticated", "requestId": request_id})
                            .to_string(),
                    )
                    .await;
                }
                Ok(_) => {
                    cx.reply(protocol::error(
                        rid,
                        ErrorCode::Forbidden,
                        "the new token is for another user",
                    ))
                    .await
                }
                Err(e) => {
                    cx.reply(protocol::error(rid, e.error_code(), &e.to_string()))
                        .await
                }
            }
        }
        Action::Cancel { session_id } => cancel(cx, request_id, session_id).await,
        Action::Stream(_) | Action::Subscribe { .. } if cx.ops.admit().is_err() => {
            if let Err(refused) = cx.ops.admit() {
                cx.reply(protocol::error(rid, refused.code(), &refused.to_string()))
                    .await;
            }
        }
        Action::Stream(req) => spawn_stream(cx, request_id, *req),
        Action::Subscribe { session_id, after } => {
            let from = after.map_or(0, |a| a.saturating_add(1));
            let Some(principal) = cx.principal().cloned() else {
                return;
            };
            let access = Access::user(&principal);
            match cx.state().hub.subscribe(&session_id, &access, from).await {
                Ok(sub) if sub.at_end_of_finished_log() => {
                    let msg = format!(
                        "the session has ended; nothing follows seq {}",
                        sub.position().saturating_sub(1)
                    );
                    cx.reply(protocol::error(rid, ErrorCode::CursorPastEnd, &msg))
                        .await;
                }
                Ok(sub) => {
                    let slot = Arc::new(OnceLock::new());
                    let _ = slot.set(session_id);
                    let out = cx.out();
                    let tag = Tag {
                        request_id: request_id.clone(),
                        session_id: slot,
                    };
                    cx.ops
                        .spawn(tag, move |cancel| pump(sub, request_id, out, cancel));
                }
                Err(e) => {
                    cx.reply(protocol::error(rid, e.code(), &e.to_string()))
                        .await
                }
            }
        }
    }
}

fn spawn_stream(cx: &mut Cx<'_>, request_id: Option<Value>, req: StreamRequest) {
    let state = cx.state().clone();
    let Some(owner) = cx.principal().map(|p| p.sub.clone()) else {
        return;
    };
    let out = cx.out();
    let slot = Arc::new(OnceLock::new());
    let tag = Tag {
        request_id: request_id.clone(),
        session_id: slot.clone(),
    };
    cx.ops.spawn(tag, move |cancel| async move {
        let rid = request_id;
        let send = |text: String| {
            let out = out.clone();
            async move { out.send(Message::Text(text.into())).await.is_ok() }
        };
        let (inv, api) = match state.models.validate(req) {
            Ok(v) => v,
            Err(e) => {
                send(protocol::error(rid.as_ref(), e.error_code(), &e.to_string())).await;
                return;
            }
        };
        let started = tokio::select! {
            _ = cancel.cancelled() => {
                send(protocol::error(rid.as_ref(), ErrorCode::Cancelled, "cancelled before the stream started")).await;
                return;
            }
            r = state.hub.start(&owner, inv, api) => r,
        };
        let sub = match started {
            Ok(sub) => sub,
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                send(protocol::error(rid.as_ref(), e.error_code(), &e.to_string())).await;
                return;
            }
        };
        let session = sub.session().clone();
        let _ = slot.set(session.id().to_string());
        if !send(protocol::started(rid.as_ref(), session.id(), session.model())).await {
            return;
        }
        pump(sub, rid, out, cancel).await;
    });
}

/// Cancel by `requestId` (one of this connection's streams) or by `sessionId`.
async fn cancel(cx: &mut Cx<'_>, request_id: Option<Value>, session_id: Option<String>) {
    let mut found = false;
    for r in cx.ops.iter().filter(|r| match &session_id {
        Some(sid) => r.tag.session_id.get() == Some(sid),
        None => request_id.is_some() && r.tag.request_id == request_id,
    }) {
        r.cancel.cancel();
        found = true;
    }
    if found {
        return;
    }
    // Not read on this connection: cancel the session itself if it is the caller's.
    let Some(principal) = cx.principal().cloned() else {
        return;
    };
    let located = match session_id {
        Some(sid) => cx
            .state()
            .hub
            .find(&sid, &Access::user(&principal))
            .await
            .ok(),
        None => None,
    };
    match located {
        Some(s) if s.reader_count() == 0 => s.cancel(),
        Some(_) => {}
        None => {
            cx.reply(protocol::error(
                request_id.as_ref(),
                ErrorCode::NotFound,
                "no such stream or session",
            ))
            .await;
        }
    }
}

/// Forward a cursor's events to the socket until the final one, or a cancel.
async fn pump(
    mut sub: Subscription,
    rid: Option<Value>,
    out: mpsc::Sender<Message>,
    cancel: CancellationToken,
) {
    let send = |ev: &crate::event::TokenEvent| {
        out.send(Message::Text(
            protocol::event_message(ev, rid.as_ref()).into(),
        ))
    };
    loop {
        let ev = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            ev = sub.next() => ev,
        };
        let Some(ev) = ev else { return };
        if send(&ev).await.is_err() {
            return;
        }
    }
    // Cancelled. If nobody else reads the session, stop its upstream and
    // deliver the final event; otherwise just detach this reader.
    let session = sub.session().clone();
    if session.reader_count() <= 1 {
        session.cancel();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            if send(&ev).await.is_err() {
                return;
            }
        }
    } else {
        let ev = crate::event::TokenEvent {
            session_id: session.id().clone(),
            seq: sub.position(),
            token: String::new(),
            is_complete: true,
            timestamp: now_timestamp(),
            stop_reason: Some("cancelled".into()),
            stop_sequence: None,
            usage: None,
            model: None,
            error: None,
            part: None,
            wire: Default::default(),
        };
        let _ = send(&ev).await;
    }
}
