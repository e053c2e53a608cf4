//! Reading request bodies: JSON accessors that fail with Bedrock-style validation messages.

use std::fmt::Display;

use serde_json::{Map, Value};

use super::catalog;
use super::wire::SimError;

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// A schema-style validation error, worded as Bedrock words them.
pub(crate) fn malformed(detail: impl Display) -> SimError {
    SimError::validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

fn wrong_type(path: &str, expected: &str, found: &Value) -> SimError {
    malformed(format!(
        "{path}: expected type: {expected}, found: {}",
        type_name(found)
    ))
}

/// Parses a request body that must be a JSON object.
pub(crate) fn parse_object(raw: &[u8]) -> Result<Obj, SimError> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => Err(wrong_type("#", "JSONObject", &other)),
        Err(e) => Err(malformed(format!("#: the body is not valid JSON ({e})"))),
    }
}

/// `obj[key]`, treating `null` as absent.
pub(crate) fn optional<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `obj[key]`, which must be present.
pub(crate) fn required<'a>(obj: &'a Obj, key: &str, path: &str) -> Result<&'a Value, SimError> {
    optional(obj, key).ok_or_else(|| malformed(format!("{path}: required key [{key}] not found")))
}

pub(crate) fn as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, SimError> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(path, "String", value))
}

pub(crate) fn as_array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], SimError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| wrong_type(path, "JSONArray", value))
}

/// A list of strings under `key` (absent: empty), e.g. stop sequences.
pub(crate) fn strings(obj: &Obj, key: &str, path: &str) -> Result<Vec<String>, SimError> {
    let Some(v) = optional(obj, key) else {
        return Ok(Vec::new());
    };
    let path = format!("{path}/{key}");
    as_array(v, &path)?
        .iter()
        .enumerate()
        .map(|(i, s)| as_str(s, &format!("{path}/{i}")).map(str::to_owned))
        .collect()
}

pub(crate) fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Obj, SimError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(path, "JSONObject", value))
}

/// Reads a max-output-tokens field: an integer from 1 to the model's
/// ceiling (see `catalog`), or `default` (at most the ceiling) when absent;
/// `None` makes the field required. Over the ceiling: the model's own
/// wording (`max_tokens: 100000 > 64000, which is the maximum …`).
pub(crate) fn max_tokens(
    obj: &Obj,
    key: &str,
    path: &str,
    default: Option<u32>,
    model: &str,
) -> Result<u32, SimError> {
    max_tokens_worded(obj, key, path, default, model, |n, ceiling| {
        SimError::validation(format!(
            "{key}: {n} > {ceiling}, which is the maximum allowed number of output tokens for {model}"
        ))
    })
}

/// [`max_tokens`] with the refusal over the ceiling worded by `over(n, ceiling)`.
pub(crate) fn max_tokens_worded(
    obj: &Obj,
    key: &str,
    path: &str,
    default: Option<u32>,
    model: &str,
    over: impl Fn(u64, u32) -> SimError,
) -> Result<u32, SimError> {
    let ceiling = catalog::max_output_tokens(model);
    let value = match (optional(obj, key), default) {
        (Some(value), _) => value,
        (None, Some(default)) => return Ok(default.min(ceiling)),
        (None, None) => return Err(malformed(format!("{path}: required key [{key}] not found"))),
    };
    let field = format!("{path}/{key}");
    let Some(n) = value.as_i64() else {
        return match value.as_u64() {
            Some(n) => Err(over(n, ceiling)),
            None => Err(wrong_type(&field, "Integer", value)),
        };
    };
    if n < 1 {
        return Err(malformed(format!(
            "{field}: {n} is not greater or equal to 1"
        )));
    }
    let n = n.unsigned_abs();
    match u32::try_from(n) {
        Ok(n) if n <= ceiling => Ok(n),
        _ => Err(over(n, ceiling)),
    }
}

/// The user and system text of a request, collected for the directive,
/// the throttle key, the text seed and the input token count.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PromptText(Vec<String>);

impl PromptText {
    pub(crate) fn push(&mut self, text: &str) {
        if !text.is_empty() {
            self.0.push(text.to_owned());
        }
    }

    /// All pieces, one per line.
    pub(crate) fn joined(&self) -> String {
        self.0.join("\n")
    }
}

/// Input tokens, estimated as the number of words in the prompt (at least 1).
pub(crate) fn estimate_input_tokens(text: &str) -> u32 {
    let words = text.split_whitespace().count().max(1);
    u32::try_from(words).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> Obj {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn max_tokens_bounds_and_defaults() {
        let m = "model-x";
        assert_eq!(max_tokens(&obj(json!({"n": 5})), "n", "#", None, m), Ok(5));
        assert_eq!(max_tokens(&obj(json!({})), "n", "#", Some(9), m), Ok(9));
        let err = max_tokens(
            &obj(json!({"max_tokens": 100000})),
            "max_tokens",
            "#",
            None,
            m,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "max_tokens: 100000 > 8192, which is the maximum allowed number of output tokens for model-x"
        );
        // The ceiling is the model's own.
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            max_tokens(
                &obj(json!({"max_tokens": 32000})),
                "max_tokens",
                "#",
                None,
                sonnet
            ),
            Ok(32000)
        );
        let err = max_tokens(
            &obj(json!({"max_tokens": 64001})),
            "max_tokens",
            "#",
            None,
            sonnet,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for {sonnet}"
            )
        );
        assert_eq!(
            max_tokens(
                &obj(json!({})),
                "n",
                "#",
                Some(9000),
                "meta.llama3-8b-instruct-v1:0"
            ),
            Ok(2048),
            "a default is capped at the ceiling"
        );
        let err = max_tokens(&obj(json!({})), "max_tokens", "#", None, m).unwrap_err();
        assert!(
            err.message.contains("required key [max_tokens] not found"),
            "{}",
            err.message
        );
        let err = max_tokens(&obj(json!({"n": "7"})), "n", "#", None, m).unwrap_err();
        assert!(
            err.message
                .contains("#/n: expected type: Integer, found: String"),
            "{}",
            err.message
        );
        assert!(max_tokens(&obj(json!({"n": 0})), "n", "#", None, m).is_err());
        assert!(max_tokens(&obj(json!({"n": -3})), "n", "#", None, m).is_err());
        assert!(max_tokens(&obj(json!({"n": 1.5})), "n", "#", None, m).is_err());
        assert!(max_tokens(&obj(json!({"n": u64::MAX})), "n", "#", None, m).is_err());
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_object(b"{}").is_ok());
        assert!(
            parse_object(b"[1]")
                .unwrap_err()
                .message
                .contains("expected type: JSONObject")
        );
        assert!(
            parse_object(b"{not json")
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
    }

    #[test]
    fn input_tokens_count_words() {
        assert_eq!(estimate_input_tokens("three small words"), 3);
        assert_eq!(estimate_input_tokens(""), 1);
    }
}
