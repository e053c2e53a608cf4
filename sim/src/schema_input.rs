//! A tool call's input, built from the tool's JSON Schema, and its JSON text cut into deltas.
//!
//! Each *required* property gets a value of its type: string `"sample"`,
//! integer or number `1`, boolean `true`, an `enum`'s first value (or a
//! `const`), an array of one item, objects recursively. A schema with no
//! required properties gives `{}`. `anyOf` / `oneOf` / `allOf` take their
//! first member; local `$ref`s (`#/...`) are followed. Depth and the number
//! of values built are bounded, so no schema makes the input huge.

use serde_json::{Map, Value, json};

/// How deep nested (or recursive) schemas are followed before giving up with `null`.
const MAX_DEPTH: usize = 16;

/// The most values one input holds; past it, values are `null`.
const MAX_VALUES: usize = 4096;

/// The most characters in one input delta.
const MAX_PIECE: usize = 24;

/// The input a call of a tool with `schema` sends.
pub(crate) fn input_for(schema: &Value) -> Value {
    let mut budget = MAX_VALUES;
    match value_for(schema, schema, 0, &mut budget) {
        Value::Object(map) => Value::Object(map),
        // A tool's input is always an object.
        _ => json!({}),
    }
}

/// The answer a structured output with `schema` gives (any JSON value).
pub(crate) fn output_for(schema: &Value) -> Value {
    let mut budget = MAX_VALUES;
    value_for(schema, schema, 0, &mut budget)
}

fn value_for(schema: &Value, root: &Value, depth: usize, budget: &mut usize) -> Value {
    if depth > MAX_DEPTH || *budget == 0 {
        return Value::Null;
    }
    *budget -= 1;
    let Some(schema) = schema.as_object() else {
        // `true` or a malformed schema: anything goes.
        return json!("sample");
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return match resolve(root, target) {
            Some(target) => value_for(target, root, depth + 1, budget),
            None => Value::Null,
        };
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return value_for(first, root, depth + 1, budget);
        }
    }
    match type_of(schema) {
        Some("object") => object_for(schema, root, depth, budget),
        Some("array") => {
            let item = schema.get("items").unwrap_or(&Value::Bool(true));
            Value::Array(vec![value_for(item, root, depth + 1, budget)])
        }
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        _ => json!("sample"),
    }
}

/// The schema's type: `type` (the first non-null of a list), else `object` when it has properties.
fn type_of(schema: &Map<String, Value>) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ if schema.contains_key("properties") || schema.contains_key("required") => Some("object"),
        _ => None,
    }
}

fn object_for(
    schema: &Map<String, Value>,
    root: &Value,
    depth: usize,
    budget: &mut usize,
) -> Value {
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut object = Map::new();
    for name in required.iter().filter_map(Value::as_str) {
        let property = properties
            .and_then(|p| p.get(name))
            .unwrap_or(&Value::Bool(true));
        object.insert(
            name.to_owned(),
            value_for(property, root, depth + 1, budget),
        );
    }
    Value::Object(object)
}

/// A local JSON pointer reference such as `#/$defs/Address`.
fn resolve<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

/// `json` cut into input deltas: at least three when it has three characters,
/// none longer than 24 characters, cut on character boundaries.
pub(crate) fn pieces(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    let size = chars.len().div_ceil(3).clamp(1, MAX_PIECE);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_get_values_of_their_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "ratio": {"type": "number"},
                "metric": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "where": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "note": {"type": "string"}},
                    "required": ["lat"],
                },
                "optional": {"type": "string"},
                "maybe": {"type": ["null", "integer"]},
            },
            "required": ["city", "days", "ratio", "metric", "unit", "tags", "where", "maybe"],
        });
        assert_eq!(
            input_for(&schema),
            json!({
                "city": "sample", "days": 1, "ratio": 1, "metric": true, "unit": "celsius",
                "tags": ["sample"], "where": {"lat": 1}, "maybe": 1,
            })
        );
    }

    #[test]
    fn no_required_properties_give_an_empty_object() {
        assert_eq!(input_for(&json!({"type": "object"})), json!({}));
        assert_eq!(input_for(&json!({})), json!({}));
        assert_eq!(input_for(&json!("nonsense")), json!({}));
        assert_eq!(
            input_for(&json!({"type": "object", "properties": {"a": {"type": "string"}}})),
            json!({})
        );
    }

    #[test]
    fn refs_alternatives_and_recursion_are_bounded() {
        let schema = json!({
            "type": "object",
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "required": ["next"]}},
            "properties": {
                "root": {"$ref": "#/$defs/node"},
                "either": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
                "fixed": {"const": 7},
                "missing": {"$ref": "#/nowhere"},
            },
            "required": ["root", "either", "fixed", "missing", "untyped"],
        });
        let input = input_for(&schema);
        assert_eq!(input["either"], json!(true));
        assert_eq!(input["fixed"], json!(7));
        assert_eq!(input["missing"], Value::Null);
        assert_eq!(input["untyped"], json!("sample"));
        let mut depth = 0;
        let mut node = &input["root"];
        while let Some(next) = node.get("next") {
            node = next;
            depth += 1;
        }
        assert!(depth > 3 && depth <= MAX_DEPTH, "{depth}");
    }

    #[test]
    fn pieces_rejoin_and_are_several() {
        let text = r#"{"city":"sample","days":1,"unit":"celsius","tags":["sample"]}"#;
        let parts = pieces(text);
        assert!(parts.len() >= 3, "{parts:?}");
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_PIECE));
        assert_eq!(parts.concat(), text);
        assert_eq!(pieces(r#"{"a":1}"#).len(), 3);
        assert_eq!(pieces("{}"), ["{", "}"]);
        assert_eq!(pieces(r#"{"é":"ü"}"#).concat(), r#"{"é":"ü"}"#);
        assert!(pieces("").is_empty());
    }

    #[test]
    fn exponential_schemas_stay_small() {
        let wide: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
        let properties: Map<String, Value> = wide
            .iter()
            .map(|p| (p.clone(), json!({"$ref": "#/$defs/node"})))
            .collect();
        let node = json!({"type": "object", "properties": properties, "required": wide});
        let schema = json!({"$defs": {"node": node}, "$ref": "#/$defs/node"});
        let text = input_for(&schema).to_string();
        assert!(text.len() < 200_000, "{}", text.len());
    }
}
