//! Structured output: the answer's text must be JSON of a schema, and how
//! much effort the model puts in. Bedrock takes both as Converse's
//! `outputConfig` (`textFormat`, `effort`) and in Claude's own body as
//! `output_config` (`format`, `effort`); the drop-in APIs read theirs into
//! this, and the answer streams as ordinary text.

use serde::Deserialize;
use serde_json::Value;

/// A request's output settings (`outputConfig` on `/v1/stream`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputConfig {
    /// The answer is JSON of this schema.
    #[serde(default)]
    pub format: Option<JsonFormat>,
    /// `low` … `max`, sent on as named (Bedrock refuses what a model does not offer).
    #[serde(default)]
    pub effort: Option<String>,
}

/// A JSON Schema the answer follows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFormat {
    /// A JSON Schema object.
    pub schema: Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl OutputConfig {
    /// Whether it asks for anything.
    pub fn is_set(&self) -> bool {
        self.format.is_some() || self.effort.is_some()
    }

    /// The checks every API shares: a schema is a JSON object, an effort a
    /// non-empty word.
    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = &self.format
            && !f.schema.is_object()
        {
            return Err("the output format's schema must be a JSON Schema object".into());
        }
        if self.effort.as_deref().is_some_and(|e| e.trim().is_empty()) {
            return Err("the output effort must not be empty".into());
        }
        Ok(())
    }

    /// Claude's `output_config` body field.
    pub fn claude_json(&self) -> Value {
        let mut v = serde_json::json!({});
        if let Some(f) = &self.format {
            v["format"] = serde_json::json!({"type": "json_schema", "schema": f.schema});
        }
        if let Some(e) = &self.effort {
            v["effort"] = e.as_str().into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_and_claude_shape() {
        let schema = json!({"type": "object"});
        let c = OutputConfig {
            format: Some(JsonFormat {
                schema: schema.clone(),
                name: Some("x".into()),
                description: None,
            }),
            effort: Some("high".into()),
        };
        assert!(c.is_set() && c.check().is_ok());
        assert_eq!(
            c.claude_json(),
            json!({"format": {"type": "json_schema", "schema": schema}, "effort": "high"})
        );
        assert!(!OutputConfig::default().is_set());
        let mut bad = c.clone();
        bad.format.as_mut().unwrap().schema = json!("object");
        assert!(bad.check().unwrap_err().contains("JSON Schema object"));
        bad = c;
        bad.effort = Some(" ".into());
        assert!(bad.check().is_err());
    }
}
