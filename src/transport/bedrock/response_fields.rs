//! Converse's `additionalModelResponseFieldPaths`: JSON pointers into the
//! model's own response whose values come back as
//! `additionalModelResponseFields` (in `messageStop`, or at the top of a
//! whole answer).
//!
//! What the gateway can answer is what its sessions keep of Claude's own
//! response: the stop sequence that ended the answer, at `/stop_sequence`
//! (the whole response's) and `/delta/stop_sequence` (the stream's
//! `message_delta`, which the AI SDK's Bedrock provider asks for). Other
//! pointers, and every pointer for other models, find nothing, and Bedrock
//! leaves out what it does not find.

use serde_json::{Map, Value, json};

use crate::upstream::models::ModelFamily;

/// Pointers Bedrock takes in one call.
const MAX_PATHS: usize = 10;

/// The pointers a request asked for, for its model.
#[derive(Debug, Clone, Default)]
pub struct ResponseFields {
    paths: Vec<String>,
    claude: bool,
}

impl ResponseFields {
    /// `additionalModelResponseFieldPaths` of a Converse body, for a model of `family`.
    pub fn parse(v: Option<&Value>, family: Option<ModelFamily>) -> Result<Self, String> {
        const MUST: &str = "additionalModelResponseFieldPaths must be a list of JSON pointers (\"/stop_sequence\")";
        let paths = match v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(paths)) if paths.len() <= MAX_PATHS => paths
                .iter()
                .map(|p| match p.as_str() {
                    Some(p) if p.starts_with('/') => Ok(p.to_owned()),
                    _ => Err(MUST.to_owned()),
                })
                .collect::<Result<_, _>>()?,
            Some(Value::Array(_)) => {
                return Err(format!(
                    "additionalModelResponseFieldPaths takes at most {MAX_PATHS} pointers"
                ));
            }
            Some(_) => return Err(MUST.into()),
        };
        Ok(Self {
            paths,
            claude: family == Some(ModelFamily::AnthropicClaude),
        })
    }

    /// `additionalModelResponseFields` of an answer that stopped at
    /// `stop_sequence` (or at none): `None` when nothing asked is known.
    pub fn render(&self, stop_sequence: Option<&str>) -> Option<Value> {
        if !self.claude {
            return None;
        }
        let mut fields = Map::new();
        for path in &self.paths {
            match path.as_str() {
                "/stop_sequence" => {
                    fields.insert("stop_sequence".into(), json!(stop_sequence));
                }
                "/delta/stop_sequence" => {
                    fields.insert("delta".into(), json!({ "stop_sequence": stop_sequence }));
                }
                _ => {}
            }
        }
        (!fields.is_empty()).then_some(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: Option<ModelFamily> = Some(ModelFamily::AnthropicClaude);

    #[test]
    fn claudes_stop_sequence_at_either_pointer() {
        let asked = json!(["/delta/stop_sequence", "/stop_sequence", "/usage/x"]);
        let fields = ResponseFields::parse(Some(&asked), CLAUDE).unwrap();
        assert_eq!(
            fields.render(Some("END")),
            Some(json!({"stop_sequence": "END", "delta": {"stop_sequence": "END"}}))
        );
        assert_eq!(
            fields.render(None),
            Some(json!({"stop_sequence": null, "delta": {"stop_sequence": null}}))
        );
        let nova = ResponseFields::parse(Some(&asked), Some(ModelFamily::AmazonNova)).unwrap();
        assert_eq!(nova.render(Some("END")), None);
        let unknown = ResponseFields::parse(Some(&json!(["/usage/x"])), CLAUDE).unwrap();
        assert_eq!(unknown.render(Some("END")), None);
    }

    #[test]
    fn pointers_that_are_not_are_refused() {
        for bad in [
            json!("/stop_sequence"),
            json!(["stop_sequence"]),
            json!([1]),
        ] {
            assert!(ResponseFields::parse(Some(&bad), CLAUDE).is_err(), "{bad}");
        }
        let many = Value::Array((0..11).map(|i| json!(format!("/f{i}"))).collect());
        assert!(ResponseFields::parse(Some(&many), CLAUDE).is_err());
    }
}
