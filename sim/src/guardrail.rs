//! Guardrails: the request's guardrail configuration, and what an
//! intervention (`[[sim guardrail=N]]`) adds to a stream.
//!
//! As on Bedrock, a guardrail applies only when the request names one:
//! ConverseStream's `guardrailConfig` (`guardrailIdentifier`,
//! `guardrailVersion`, `trace`, `streamProcessingMode`), or InvokeModel's
//! `X-Amzn-Bedrock-GuardrailIdentifier` / `-GuardrailVersion` / `-Trace`
//! headers (the body may add `"amazon-bedrock-guardrailConfig":
//! {"streamProcessingMode": …}`, which needs the identifier). Without one,
//! `guardrail=N` does nothing.
//!
//! An intervention ends the answer with `guardrail_intervened`. ConverseStream
//! reports the trace (when asked for) in `metadata.trace.guardrail`;
//! InvokeModel marks the last chunk with `"amazon-bedrock-guardrailAction":
//! "INTERVENED"` and, with a trace, `"amazon-bedrock-trace": {"guardrail": …}`.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::body::{Obj, as_object, as_str, optional};
use crate::families::Out;
use crate::wire::SimError;

const ID_HEADER: &str = "x-amzn-bedrock-guardrailidentifier";
const VERSION_HEADER: &str = "x-amzn-bedrock-guardrailversion";
const TRACE_HEADER: &str = "x-amzn-bedrock-trace";
/// InvokeModel's guardrail settings in the body.
pub(crate) const INVOKE_BODY_KEY: &str = "amazon-bedrock-guardrailConfig";
const METRICS_KEY: &str = "amazon-bedrock-invocationMetrics";

/// Why the simulated guardrail blocks (its trace's `actionReason`).
const ACTION_REASON: &str = "Guardrail blocked.";

/// A guardrail the request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuardrailConfig {
    pub id: String,
    /// The request asked for the guardrail's trace.
    pub trace: bool,
}

/// An intervention planned for a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intervention {
    pub guardrail_id: String,
    pub trace: bool,
}

impl From<&GuardrailConfig> for Intervention {
    fn from(config: &GuardrailConfig) -> Self {
        Self {
            guardrail_id: config.id.clone(),
            trace: config.trace,
        }
    }
}

impl Intervention {
    /// The content-policy finding the simulated guardrail reports.
    fn assessment() -> Value {
        json!({"contentPolicy": {"filters": [{
            "type": "VIOLENCE",
            "confidence": "HIGH",
            "filterStrength": "HIGH",
            "action": "BLOCKED",
            "detected": true,
        }]}})
    }

    /// ConverseStream's `metadata.trace`, when the request asked for it.
    pub(crate) fn converse_trace(&self) -> Option<Value> {
        self.trace.then(|| {
            json!({"guardrail": {
                "outputAssessments": {self.guardrail_id.clone(): [Self::assessment()]},
                "actionReason": ACTION_REASON,
            }})
        })
    }

    /// Marks an InvokeModel stream's last chunk (the one with Bedrock's
    /// invocation metrics, or the last chunk) with the guardrail's action and trace.
    pub(crate) fn mark_invoke_chunks(&self, outs: &mut [Out]) {
        let at = outs
            .iter()
            .rposition(|o| matches!(o, Out::Chunk(v) if v.get(METRICS_KEY).is_some()))
            .or_else(|| outs.iter().rposition(|o| matches!(o, Out::Chunk(_))));
        if let Some(Out::Chunk(Value::Object(map))) = at.and_then(|i| outs.get_mut(i)) {
            self.mark(map);
        }
    }

    /// Marks an InvokeModel chunk (or whole response) with the action and trace.
    pub(crate) fn mark(&self, chunk: &mut Obj) {
        chunk.insert("amazon-bedrock-guardrailAction".into(), json!("INTERVENED"));
        if self.trace {
            chunk.insert(
                "amazon-bedrock-trace".into(),
                json!({"guardrail": {
                    "outputs": [{self.guardrail_id.clone(): Self::assessment()}],
                    "actionReason": ACTION_REASON,
                }}),
            );
        }
    }
}

/// ConverseStream's `guardrailConfig`.
pub(crate) fn from_converse(body: &Obj) -> Result<Option<GuardrailConfig>, SimError> {
    let Some(config) = optional(body, "guardrailConfig") else {
        return Ok(None);
    };
    let path = "#/guardrailConfig";
    let config = as_object(config, path)?;
    let field = |key: &str| -> Result<Option<&str>, SimError> {
        optional(config, key)
            .map(|v| as_str(v, &format!("{path}/{key}")))
            .transpose()
    };
    let id = field("guardrailIdentifier")?.unwrap_or_default();
    let version = field("guardrailVersion")?.unwrap_or_default();
    let trace = field("trace")?.unwrap_or("disabled");
    if !matches!(trace, "enabled" | "disabled" | "enabled_full") {
        return Err(enum_error(
            "guardrailConfig.trace",
            trace,
            "[enabled, disabled, enabled_full]",
        ));
    }
    let mode = field("streamProcessingMode")?.unwrap_or("sync");
    if !matches!(mode, "sync" | "async") {
        return Err(enum_error(
            "guardrailConfig.streamProcessingMode",
            mode,
            "[sync, async]",
        ));
    }
    checked(id, version, trace != "disabled").map(Some)
}

/// InvokeModel's guardrail headers, and the body's `amazon-bedrock-guardrailConfig`.
pub(crate) fn from_invoke(
    headers: &HeaderMap,
    body: &Obj,
) -> Result<Option<GuardrailConfig>, SimError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let in_body = optional(body, INVOKE_BODY_KEY);
    if let Some(config) = in_body {
        let config = as_object(config, &format!("#/{INVOKE_BODY_KEY}"))?;
        if let Some(mode) = optional(config, "streamProcessingMode") {
            let mode = as_str(mode, &format!("#/{INVOKE_BODY_KEY}/streamProcessingMode"))?;
            if !matches!(mode, "SYNCHRONOUS" | "ASYNCHRONOUS") {
                return Err(enum_error(
                    "streamProcessingMode",
                    mode,
                    "[SYNCHRONOUS, ASYNCHRONOUS]",
                ));
            }
        }
    }
    let Some(id) = header(ID_HEADER) else {
        if in_body.is_some() {
            return Err(SimError::validation(format!(
                "The request body has {INVOKE_BODY_KEY} but no guardrail identifier was provided."
            )));
        }
        if header(VERSION_HEADER).is_some() {
            return Err(SimError::validation(
                "A guardrail version was provided without a guardrail identifier.",
            ));
        }
        return Ok(None);
    };
    let version = header(VERSION_HEADER).unwrap_or_default();
    let trace = header(TRACE_HEADER).unwrap_or("DISABLED");
    if !matches!(trace, "ENABLED" | "DISABLED" | "ENABLED_FULL") {
        return Err(enum_error(
            "trace",
            trace,
            "[ENABLED, DISABLED, ENABLED_FULL]",
        ));
    }
    checked(id, version, trace != "DISABLED").map(Some)
}

/// Bedrock's checks of an identifier and a version.
fn checked(id: &str, version: &str, trace: bool) -> Result<GuardrailConfig, SimError> {
    let id_ok = !id.is_empty()
        && id.len() <= 2048
        && (id.starts_with("arn:")
            || id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    if !id_ok {
        return Err(SimError::validation(format!(
            "1 validation error detected: Value '{id}' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{{1,20}}:[0-9]{{12}}:guardrail/[a-z0-9]+))"
        )));
    }
    let version_ok = version == "DRAFT"
        || (!version.is_empty()
            && version.len() <= 8
            && !version.starts_with('0')
            && version.chars().all(|c| c.is_ascii_digit()));
    if !version_ok {
        return Err(SimError::validation(format!(
            "1 validation error detected: Value '{version}' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (([1-9][0-9]{{0,7}})|(DRAFT))"
        )));
    }
    Ok(GuardrailConfig {
        id: id.to_owned(),
        trace,
    })
}

fn enum_error(field: &str, value: &str, allowed: &str) -> SimError {
    SimError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: {allowed}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::obj;
    use axum::http::HeaderValue;

    #[test]
    fn converse_config_is_read_and_checked() {
        assert_eq!(from_converse(&obj(json!({}))), Ok(None));
        let config = from_converse(&obj(json!({"guardrailConfig": {
            "guardrailIdentifier": "gr1", "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "async",
        }})));
        assert_eq!(
            config,
            Ok(Some(GuardrailConfig {
                id: "gr1".into(),
                trace: true
            }))
        );
        for bad in [
            json!({"guardrailIdentifier": "gr1"}),
            json!({"guardrailIdentifier": "GR 1", "guardrailVersion": "1"}),
            json!({"guardrailIdentifier": "gr1", "guardrailVersion": "1", "trace": "loud"}),
            json!({"guardrailIdentifier": "gr1", "guardrailVersion": "1", "streamProcessingMode": "later"}),
        ] {
            let err = from_converse(&obj(json!({"guardrailConfig": bad.clone()}))).unwrap_err();
            assert!(
                err.message.contains("validation error"),
                "{bad}: {}",
                err.message
            );
        }
    }

    #[test]
    fn invoke_headers_and_body() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_invoke(&headers, &obj(json!({}))), Ok(None));
        let async_body = obj(json!({INVOKE_BODY_KEY: {"streamProcessingMode": "ASYNCHRONOUS"}}));
        assert!(
            from_invoke(&headers, &async_body)
                .unwrap_err()
                .message
                .contains("no guardrail identifier")
        );
        headers.insert(ID_HEADER, HeaderValue::from_static("gr1"));
        headers.insert(VERSION_HEADER, HeaderValue::from_static("3"));
        assert_eq!(
            from_invoke(&headers, &async_body),
            Ok(Some(GuardrailConfig {
                id: "gr1".into(),
                trace: false
            }))
        );
        headers.insert(TRACE_HEADER, HeaderValue::from_static("ENABLED"));
        assert!(
            from_invoke(&headers, &obj(json!({})))
                .unwrap()
                .unwrap()
                .trace
        );
        headers.remove(VERSION_HEADER);
        assert!(from_invoke(&headers, &obj(json!({}))).is_err());
    }

    #[test]
    fn an_intervention_marks_the_metrics_chunk() {
        let intervention = Intervention {
            guardrail_id: "gr1".into(),
            trace: true,
        };
        let mut outs = vec![
            Out::Chunk(json!({"type": "message_delta"})),
            Out::Chunk(json!({"type": "message_stop", METRICS_KEY: {}})),
        ];
        intervention.mark_invoke_chunks(&mut outs);
        let Out::Chunk(last) = &outs[1] else { panic!() };
        assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert_eq!(
            last["amazon-bedrock-trace"]["guardrail"]["outputs"][0]["gr1"]["contentPolicy"]["filters"]
                [0]["action"],
            "BLOCKED"
        );
        let Out::Chunk(first) = &outs[0] else {
            panic!()
        };
        assert!(first.get("amazon-bedrock-guardrailAction").is_none());
        assert_eq!(
            intervention.converse_trace().unwrap()["guardrail"]["actionReason"],
            ACTION_REASON
        );
        let quiet = Intervention {
            guardrail_id: "gr1".into(),
            trace: false,
        };
        assert_eq!(quiet.converse_trace(), None);
    }
}
