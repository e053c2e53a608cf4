//! A Bedrock guardrail on an invocation: what a request (or the deployment
//! default) asks for, checked, and how each API path sends it.
//!
//! - ConverseStream: `guardrailConfig` (`GuardrailStreamConfiguration`:
//!   identifier, version, trace, `streamProcessingMode` `sync`|`async`).
//! - InvokeModelWithResponseStream: the `X-Amzn-Bedrock-GuardrailIdentifier`,
//!   `-GuardrailVersion` and `-Trace` headers (the SDK's `guardrail_identifier`,
//!   `guardrail_version`, `trace`); asynchronous mode is the body's
//!   `"amazon-bedrock-guardrailConfig": {"streamProcessingMode": "ASYNCHRONOUS"}`.

use aws_sdk_bedrockruntime::types::{
    GuardrailStreamConfiguration, GuardrailStreamProcessingMode, GuardrailTrace as SdkTrace, Trace,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The body key of InvokeModel's guardrail settings.
pub const INVOKE_BODY_KEY: &str = "amazon-bedrock-guardrailConfig";

/// Longest guardrail identifier Bedrock takes (an id or a guardrail ARN).
const MAX_ID_LEN: usize = 2048;

/// `guardrail` of a stream request: `{"id","version","trace"?,"streamProcessingMode"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrail {
    /// The guardrail's id or ARN.
    pub id: String,
    /// A version number, or `DRAFT`.
    pub version: String,
    #[serde(default)]
    pub trace: GuardrailTrace,
    #[serde(default)]
    pub stream_processing_mode: StreamMode,
}

/// Whether Bedrock reports the guardrail's assessment (`true`/`false`, or
/// Bedrock's `enabled`, `disabled`, `enabled_full`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailTrace {
    #[default]
    Disabled,
    Enabled,
    EnabledFull,
}

impl<'de> Deserialize<'de> for GuardrailTrace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Flag(bool),
            Name(String),
        }
        match Wire::deserialize(d)? {
            Wire::Flag(true) => Ok(Self::Enabled),
            Wire::Flag(false) => Ok(Self::Disabled),
            Wire::Name(name) => match name.to_ascii_lowercase().as_str() {
                "enabled" => Ok(Self::Enabled),
                "disabled" => Ok(Self::Disabled),
                "enabled_full" => Ok(Self::EnabledFull),
                _ => Err(serde::de::Error::custom(format!(
                    "guardrail trace '{name}' is not one of true, false, \"enabled\", \"disabled\", \"enabled_full\""
                ))),
            },
        }
    }
}

/// How Bedrock applies the guardrail to a stream: `sync` holds chunks back
/// until they are checked; `async` sends them at once and checks behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamMode {
    #[default]
    Sync,
    Async,
}

impl Guardrail {
    /// A guardrail with Bedrock's defaults (no trace, synchronous).
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: version.into(),
            trace: GuardrailTrace::default(),
            stream_processing_mode: StreamMode::default(),
        }
    }

    /// The deployment default from `SPILLWAY_GUARDRAIL_ID` and
    /// `SPILLWAY_GUARDRAIL_VERSION`: both or neither.
    pub fn deployment_default(
        id: Option<&str>,
        version: Option<&str>,
    ) -> Result<Option<Self>, String> {
        let id = id.map(str::trim).filter(|s| !s.is_empty());
        let version = version.map(str::trim).filter(|s| !s.is_empty());
        match (id, version) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(
                "SPILLWAY_GUARDRAIL_ID is set but SPILLWAY_GUARDRAIL_VERSION is not: a guardrail needs both (a version number or DRAFT)".into(),
            ),
            (None, Some(_)) => Err(
                "SPILLWAY_GUARDRAIL_VERSION is set but SPILLWAY_GUARDRAIL_ID is not: a guardrail needs both".into(),
            ),
            (Some(id), Some(version)) => {
                let guardrail = Self::new(id, version);
                guardrail
                    .check()
                    .map_err(|e| format!("SPILLWAY_GUARDRAIL_ID/SPILLWAY_GUARDRAIL_VERSION: {e}"))?;
                Ok(Some(guardrail))
            }
        }
    }

    /// What Bedrock would refuse, said before any upstream call.
    pub fn check(&self) -> Result<(), String> {
        let id = self.id.as_str();
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && (id.starts_with("arn:")
                || id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        if !id_ok {
            return Err(format!(
                "guardrail id '{id}' is not a guardrail id (lowercase letters and digits) or a guardrail ARN"
            ));
        }
        let v = self.version.as_str();
        let version_ok = v == "DRAFT"
            || (!v.is_empty()
                && v.len() <= 8
                && !v.starts_with('0')
                && v.chars().all(|c| c.is_ascii_digit()));
        if !version_ok {
            return Err(format!(
                "guardrail version '{v}' is not a version number (1-99999999) or DRAFT"
            ));
        }
        Ok(())
    }

    /// ConverseStream's `guardrailConfig`.
    pub fn converse_config(&self) -> GuardrailStreamConfiguration {
        GuardrailStreamConfiguration::builder()
            .guardrail_identifier(&self.id)
            .guardrail_version(&self.version)
            .trace(match self.trace {
                GuardrailTrace::Disabled => SdkTrace::Disabled,
                GuardrailTrace::Enabled => SdkTrace::Enabled,
                GuardrailTrace::EnabledFull => SdkTrace::EnabledFull,
            })
            .stream_processing_mode(match self.stream_processing_mode {
                StreamMode::Sync => GuardrailStreamProcessingMode::Sync,
                StreamMode::Async => GuardrailStreamProcessingMode::Async,
            })
            .build()
    }

    /// InvokeModel's `trace` parameter (`X-Amzn-Bedrock-Trace`).
    pub fn invoke_trace(&self) -> Trace {
        match self.trace {
            GuardrailTrace::Disabled => Trace::Disabled,
            GuardrailTrace::Enabled => Trace::Enabled,
            GuardrailTrace::EnabledFull => Trace::EnabledFull,
        }
    }

    /// Adds the asynchronous mode to an InvokeModel body (synchronous is
    /// Bedrock's default and needs nothing). A body that already carries
    /// guardrail settings keeps them.
    pub fn shape_invoke_body(&self, body: &mut Value) {
        if self.stream_processing_mode != StreamMode::Async {
            return;
        }
        if let Some(map) = body.as_object_mut() {
            map.entry(INVOKE_BODY_KEY)
                .or_insert_with(|| serde_json::json!({"streamProcessingMode": "ASYNCHRONOUS"}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_request_shape() {
        let g: Guardrail = serde_json::from_value(
            json!({"id":"gr1abc","version":"3","trace":true,"streamProcessingMode":"async"}),
        )
        .unwrap();
        assert_eq!(g.trace, GuardrailTrace::Enabled);
        assert_eq!(g.stream_processing_mode, StreamMode::Async);
        let named: Guardrail =
            serde_json::from_value(json!({"id":"g","version":"DRAFT","trace":"enabled_full"}))
                .unwrap();
        assert_eq!(named.trace, GuardrailTrace::EnabledFull);
        assert_eq!(named.stream_processing_mode, StreamMode::Sync);
        for bad in [
            json!({"id":"g"}),
            json!({"id":"g","version":"1","trace":"loud"}),
            json!({"id":"g","version":"1","streamProcessingMode":"later"}),
            json!({"id":"g","version":"1","colour":"red"}),
        ] {
            assert!(
                serde_json::from_value::<Guardrail>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn checks_ids_and_versions() {
        assert!(Guardrail::new("abc123", "DRAFT").check().is_ok());
        assert!(
            Guardrail::new("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc", "12")
                .check()
                .is_ok()
        );
        assert!(Guardrail::new("Has Space", "1").check().is_err());
        assert!(Guardrail::new("", "1").check().is_err());
        for v in ["0", "01", "draft", "123456789", "1.0", ""] {
            assert!(Guardrail::new("g", v).check().is_err(), "{v}");
        }
    }

    #[test]
    fn deployment_default_needs_both() {
        assert_eq!(Guardrail::deployment_default(None, None), Ok(None));
        assert_eq!(Guardrail::deployment_default(Some(" "), None), Ok(None));
        assert_eq!(
            Guardrail::deployment_default(Some("g1"), Some("2")),
            Ok(Some(Guardrail::new("g1", "2")))
        );
        let no_version = Guardrail::deployment_default(Some("g1"), None).unwrap_err();
        assert!(
            no_version.contains("SPILLWAY_GUARDRAIL_VERSION"),
            "{no_version}"
        );
        let no_id = Guardrail::deployment_default(None, Some("1")).unwrap_err();
        assert!(no_id.contains("SPILLWAY_GUARDRAIL_ID"), "{no_id}");
        assert!(Guardrail::deployment_default(Some("g1"), Some("v1")).is_err());
    }

    #[test]
    fn converse_config_and_invoke_body() {
        let mut g = Guardrail::new("g1", "DRAFT");
        g.trace = GuardrailTrace::Enabled;
        g.stream_processing_mode = StreamMode::Async;
        let c = g.converse_config();
        assert_eq!(c.guardrail_identifier, "g1");
        assert_eq!(c.guardrail_version, "DRAFT");
        assert_eq!(c.trace, SdkTrace::Enabled);
        assert_eq!(
            c.stream_processing_mode,
            GuardrailStreamProcessingMode::Async
        );
        assert_eq!(g.invoke_trace(), Trace::Enabled);
        let mut body = json!({"max_tokens": 10});
        g.shape_invoke_body(&mut body);
        assert_eq!(
            body[INVOKE_BODY_KEY],
            json!({"streamProcessingMode": "ASYNCHRONOUS"})
        );
        let mut sync_body = json!({"max_tokens": 10});
        Guardrail::new("g1", "1").shape_invoke_body(&mut sync_body);
        assert_eq!(sync_body, json!({"max_tokens": 10}));
    }
}
