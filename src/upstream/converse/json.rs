//! `serde_json::Value` ↔ `aws_smithy_types::Document`, the SDK's JSON for tool
//! inputs, schemas and additional model request fields.

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// `v` as a smithy document (integers stay integers).
pub(crate) fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                n.as_f64()
                    .map_or(Document::Null, |f| Document::Number(Number::Float(f)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => {
            Document::Object(o.iter().map(|(k, v)| (k.clone(), to_document(v))).collect())
        }
    }
}

/// `d` as JSON; a non-finite float (which JSON cannot hold) becomes `null`.
/// (Requests only go one way; tests read built requests back with it.)
#[cfg(test)]
pub(crate) fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let v = json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": -3, "maximum": 1e3}},
            "required": ["n"],
            "x": [null, true, 1.5, u64::MAX, i64::MIN, "s"]
        });
        let d = to_document(&v);
        assert_eq!(
            d.as_object().unwrap()["required"],
            Document::Array(vec![Document::String("n".into())])
        );
        assert_eq!(from_document(&d), v);
        assert_eq!(
            from_document(&Document::Number(Number::Float(f64::NAN))),
            Value::Null
        );
    }
}
