//! A caller's guardrail on the Bedrock routes, both ways, as the AWS SDKs
//! send and read it:
//!
//! - in: Converse's `guardrailConfig` (`guardrailIdentifier`,
//!   `guardrailVersion`, `trace`, `streamProcessingMode`), or InvokeModel's
//!   `X-Amzn-Bedrock-GuardrailIdentifier`, `-GuardrailVersion` and `-Trace`
//!   headers (boto3's `guardrailIdentifier=`, `guardrailVersion=`, `trace=`)
//!   with the body's `amazon-bedrock-guardrailConfig.streamProcessingMode`;
//! - out: the verdict where Bedrock puts it — Converse's
//!   `metadata.trace.guardrail`, or InvokeModel's last chunk (and whole
//!   response) with `amazon-bedrock-guardrailAction` and `amazon-bedrock-trace`.
//!
//! A request without one gets the deployment default, as on every route.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::event::TokenEvent;
use crate::parts::Part;
use crate::upstream::guardrail::{Guardrail, GuardrailTrace, INVOKE_BODY_KEY, StreamMode};

const ID_HEADER: &str = "x-amzn-bedrock-guardrailidentifier";
const VERSION_HEADER: &str = "x-amzn-bedrock-guardrailversion";
const TRACE_HEADER: &str = "x-amzn-bedrock-trace";

/// Converse's `guardrailConfig`, if the body has one.
pub fn from_converse(config: Option<&Value>) -> Result<Option<Guardrail>, String> {
    let Some(config) = config else {
        return Ok(None);
    };
    let config = config
        .as_object()
        .ok_or("guardrailConfig must be an object")?;
    let text = |key: &str| -> Result<Option<&str>, String> {
        config
            .get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("guardrailConfig.{key} must be a string"))
            })
            .transpose()
    };
    let (Some(id), Some(version)) = (text("guardrailIdentifier")?, text("guardrailVersion")?)
    else {
        return Err("guardrailConfig needs guardrailIdentifier and guardrailVersion".into());
    };
    let mut guardrail = Guardrail::new(id, version);
    if let Some(t) = text("trace")? {
        guardrail.trace = trace(t).ok_or_else(|| {
            format!("guardrailConfig.trace '{t}' is not one of enabled, disabled, enabled_full")
        })?;
    }
    guardrail.stream_processing_mode = match text("streamProcessingMode")? {
        None | Some("sync") => StreamMode::Sync,
        Some("async") => StreamMode::Async,
        Some(m) => {
            return Err(format!(
                "guardrailConfig.streamProcessingMode '{m}' is not sync or async"
            ));
        }
    };
    Ok(Some(guardrail))
}

/// InvokeModel's guardrail headers, with the stream mode from `body`.
pub fn from_invoke(headers: &HeaderMap, body: &Value) -> Result<Option<Guardrail>, String> {
    let header = |name: &str| -> Result<Option<&str>, String> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(str::trim)
                    .map_err(|_| format!("the {name} header is not text"))
            })
            .transpose()
    };
    let (id, version) = match (header(ID_HEADER)?, header(VERSION_HEADER)?) {
        (None, None) => return Ok(None),
        (Some(id), Some(version)) => (id, version),
        _ => {
            return Err(
                "a guardrail needs both X-Amzn-Bedrock-GuardrailIdentifier and X-Amzn-Bedrock-GuardrailVersion"
                    .into(),
            );
        }
    };
    let mut guardrail = Guardrail::new(id, version);
    if let Some(t) = header(TRACE_HEADER)? {
        guardrail.trace = trace(t).ok_or_else(|| {
            format!("X-Amzn-Bedrock-Trace '{t}' is not one of ENABLED, DISABLED, ENABLED_FULL")
        })?;
    }
    let asynchronous = body
        .pointer(&format!("/{INVOKE_BODY_KEY}/streamProcessingMode"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("ASYNCHRONOUS"));
    if asynchronous {
        guardrail.stream_processing_mode = StreamMode::Async;
    }
    Ok(Some(guardrail))
}

/// `enabled`, `disabled`, `enabled_full`, in any case.
fn trace(name: &str) -> Option<GuardrailTrace> {
    match name.to_ascii_lowercase().as_str() {
        "enabled" => Some(GuardrailTrace::Enabled),
        "disabled" => Some(GuardrailTrace::Disabled),
        "enabled_full" => Some(GuardrailTrace::EnabledFull),
        _ => None,
    }
}

/// What a guardrail said during a session (its last `guardrail` part).
#[derive(Debug, Default)]
pub struct Verdict {
    action: Option<String>,
    trace: Option<Value>,
}

impl Verdict {
    /// Remembers `ev`'s guardrail part, if it has one.
    pub fn note(&mut self, ev: &TokenEvent) {
        if let Some(Part::Guardrail { action, trace }) = ev.part.as_deref() {
            self.action = Some(action.clone());
            if trace.is_some() {
                self.trace.clone_from(trace);
            }
        }
    }

    /// The verdict of a whole session's events.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a TokenEvent>) -> Self {
        let mut v = Self::default();
        for ev in events {
            v.note(ev);
        }
        v
    }

    /// Marks an InvokeModel chunk (or response) with the action and trace.
    pub fn mark_invoke(&self, chunk: &mut Value) {
        let Some(map) = chunk.as_object_mut() else {
            return;
        };
        if let Some(action) = &self.action {
            map.insert("amazon-bedrock-guardrailAction".into(), json!(action));
        }
        if let Some(trace) = &self.trace {
            map.insert("amazon-bedrock-trace".into(), json!({ "guardrail": trace }));
        }
    }

    /// Adds `trace.guardrail` to a Converse `metadata` payload (or response).
    pub fn mark_converse(&self, metadata: &mut Value) {
        if let (Some(trace), Some(map)) = (&self.trace, metadata.as_object_mut()) {
            map.insert("trace".into(), json!({ "guardrail": trace }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn converse_config_read_and_refused() {
        let g = from_converse(Some(&json!({
            "guardrailIdentifier": "gr1abc", "guardrailVersion": "2",
            "trace": "enabled_full", "streamProcessingMode": "async"
        })))
        .unwrap()
        .unwrap();
        assert_eq!((g.id.as_str(), g.version.as_str()), ("gr1abc", "2"));
        assert_eq!(g.trace, GuardrailTrace::EnabledFull);
        assert_eq!(g.stream_processing_mode, StreamMode::Async);
        assert_eq!(from_converse(None), Ok(None));
        for (bad, says) in [
            (json!("gr1"), "must be an object"),
            (
                json!({"guardrailIdentifier": "gr1"}),
                "needs guardrailIdentifier and guardrailVersion",
            ),
            (
                json!({"guardrailIdentifier": "g", "guardrailVersion": 1}),
                "guardrailVersion must be a string",
            ),
            (
                json!({"guardrailIdentifier": "g", "guardrailVersion": "1", "trace": "loud"}),
                "trace 'loud'",
            ),
            (
                json!({"guardrailIdentifier": "g", "guardrailVersion": "1", "streamProcessingMode": "later"}),
                "'later'",
            ),
        ] {
            let err = from_converse(Some(&bad)).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn invoke_headers_read_and_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(from_invoke(&h, &json!({})), Ok(None));
        h.insert(ID_HEADER, HeaderValue::from_static("gr1abc"));
        assert!(from_invoke(&h, &json!({})).unwrap_err().contains("both"));
        h.insert(VERSION_HEADER, HeaderValue::from_static("DRAFT"));
        h.insert(TRACE_HEADER, HeaderValue::from_static("ENABLED"));
        let body = json!({INVOKE_BODY_KEY: {"streamProcessingMode": "ASYNCHRONOUS"}});
        let g = from_invoke(&h, &body).unwrap().unwrap();
        assert_eq!((g.id.as_str(), g.version.as_str()), ("gr1abc", "DRAFT"));
        assert_eq!(g.trace, GuardrailTrace::Enabled);
        assert_eq!(g.stream_processing_mode, StreamMode::Async);
        assert_eq!(
            from_invoke(&h, &json!({}))
                .unwrap()
                .unwrap()
                .stream_processing_mode,
            StreamMode::Sync
        );
        h.insert(TRACE_HEADER, HeaderValue::from_static("LOUD"));
        assert!(from_invoke(&h, &body).unwrap_err().contains("'LOUD'"));
    }

    #[test]
    fn the_verdict_goes_where_bedrock_puts_it() {
        let trace = json!({"actionReason": "Guardrail blocked."});
        let part = Part::Guardrail {
            action: "INTERVENED".into(),
            trace: Some(trace.clone()),
        };
        let events = [
            TokenEvent::test_event("a", None),
            TokenEvent::test_event("", Some(part)),
        ];
        let verdict = Verdict::of(&events);
        let mut chunk = json!({"type": "message_stop"});
        verdict.mark_invoke(&mut chunk);
        assert_eq!(chunk["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert_eq!(chunk["amazon-bedrock-trace"]["guardrail"], trace);
        let mut metadata = json!({"usage": {}});
        verdict.mark_converse(&mut metadata);
        assert_eq!(metadata["trace"]["guardrail"], trace);
        // No guardrail part: nothing is added.
        let mut plain = json!({"type": "message_stop"});
        Verdict::of(&events[..1]).mark_invoke(&mut plain);
        Verdict::default().mark_converse(&mut metadata["usage"]);
        assert_eq!(plain, json!({"type": "message_stop"}));
        assert_eq!(metadata["usage"], json!({}));
    }
}
