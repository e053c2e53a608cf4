//! Tool-call streams (`--tool-call`): every stream asks for one call of a
//! tool whose input streams in about `--tokens` input deltas, so a tool-call
//! stream can be set against a text stream of the same length.
//!
//! The simulator builds a call's input from the tool's `inputSchema` (each
//! required string property gets `"sample"`) and cuts its JSON text into
//! pieces of at most 24 characters, at least three (`sim/src/schema_input.rs`,
//! `pieces`). [`ToolCall::for_deltas`] picks how many required properties
//! make that many pieces, and [`ToolCall::deltas`] is the exact count the
//! simulator will send, worked out the same way.

use serde_json::{Map, Value, json};

/// The tool every stream calls.
pub const TOOL_NAME: &str = "loadtest_probe";

/// The simulator's longest input delta, in characters (`MAX_PIECE`).
const MAX_PIECE: usize = 24;

/// The most input deltas asked for: the simulator builds at most 4,096
/// values per input (the object and 4,095 properties, ~2,900 pieces).
pub const MAX_DELTAS: u32 = 2_000;

/// The value the simulator gives a required string property.
const SAMPLE: &str = "sample";

/// One tool, and the call the simulator will make of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Required string properties in the tool's input schema.
    pub properties: usize,
    /// The tool's JSON Schema (`inputSchema`, Claude's `input_schema`).
    pub schema: Value,
    /// Input deltas the simulator sends for the call.
    pub deltas: u32,
}

impl ToolCall {
    /// The tool whose call's input streams in `target` input deltas (three
    /// at the least: the simulator never cuts an input into fewer; at most
    /// [`MAX_DELTAS`]).
    pub fn for_deltas(target: u32) -> Self {
        let target = usize::try_from(target.clamp(3, MAX_DELTAS)).unwrap_or(usize::MAX);
        // Up to 72 characters make 3 pieces. Past that each piece is 24
        // characters, so `target` pieces hold more than 24 × (target − 1).
        // A property adds at most 17 (`"p4095":"sample",`), less than one
        // piece, so the first count past that bound lands in the last piece.
        let floor = match target {
            3 => 0,
            _ => MAX_PIECE.saturating_mul(target - 1),
        };
        let mut properties = 1;
        while input_len(properties) <= floor {
            properties += 1;
        }
        Self::with_properties(properties)
    }

    /// The tool with `properties` required string properties (at least one).
    pub fn with_properties(properties: usize) -> Self {
        let properties = properties.max(1);
        let names: Vec<String> = (0..properties).map(property).collect();
        let schema_properties: Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), json!({"type": "string"})))
            .collect();
        let schema = json!({
            "type": "object",
            "properties": schema_properties,
            "required": names,
        });
        let pieces = pieces(input_len(properties));
        Self {
            properties,
            schema,
            deltas: u32::try_from(pieces).unwrap_or(u32::MAX),
        }
    }

    /// The input the simulator builds for a call (for tests and checks).
    pub fn input(&self) -> Value {
        let object: Map<String, Value> = (0..self.properties)
            .map(|i| (property(i), json!(SAMPLE)))
            .collect();
        Value::Object(object)
    }

    /// Events a gateway stream of this call delivers: the call's start, its
    /// input deltas, its end (the parsed input), and the final event.
    pub fn gateway_events(&self) -> u64 {
        u64::from(self.deltas) + 3
    }
}

/// The `i`th property's name.
fn property(i: usize) -> String {
    format!("p{i}")
}

/// Characters of the input JSON with `properties` properties:
/// `{"p0":"sample",…}`, one comma between members.
pub fn input_len(properties: usize) -> usize {
    let members: usize = (0..properties)
        .map(|i| property(i).len() + 2 + 1 + SAMPLE.len() + 2)
        .sum();
    2 + members + properties.saturating_sub(1)
}

/// How many input deltas the simulator cuts `len` characters into: pieces
/// of `ceil(len / 3)` characters, clamped to 1 … 24.
pub fn pieces(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let size = len.div_ceil(3).clamp(1, MAX_PIECE);
    len.div_ceil(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_len_is_the_json_length() {
        for n in [1, 2, 9, 10, 11, 150, 1234] {
            let call = ToolCall::with_properties(n);
            assert_eq!(call.input().to_string().len(), input_len(n), "{n}");
        }
        assert_eq!(input_len(1), r#"{"p0":"sample"}"#.len());
    }

    #[test]
    fn pieces_follow_the_simulators_cut() {
        assert_eq!(pieces(0), 0);
        assert_eq!(pieces(2), 2); // "{}": pieces of 1
        assert_eq!(pieces(15), 3);
        assert_eq!(pieces(72), 3);
        assert_eq!(pieces(73), 4); // pieces of 24 from here on
        assert_eq!(pieces(96), 4);
        assert_eq!(pieces(97), 5);
    }

    #[test]
    fn the_call_streams_the_asked_number_of_deltas() {
        for target in [3, 4, 5, 8, 32, 40, 64, 100, 640, MAX_DELTAS] {
            let call = ToolCall::for_deltas(target);
            assert_eq!(
                call.deltas, target,
                "{target}: {} properties",
                call.properties
            );
            // The fewest properties that do it.
            let fewer = pieces(input_len(call.properties - 1));
            assert!(call.properties == 1 || fewer < target as usize, "{target}");
        }
        assert_eq!(ToolCall::for_deltas(32).gateway_events(), 35);
        assert!(ToolCall::for_deltas(MAX_DELTAS).properties < 4_096);
        assert_eq!(ToolCall::for_deltas(u32::MAX).deltas, MAX_DELTAS);
    }

    #[test]
    fn fewer_than_three_deltas_round_up_to_three() {
        for target in [0, 1, 2] {
            let call = ToolCall::for_deltas(target);
            assert_eq!((call.properties, call.deltas), (1, 3));
        }
    }

    #[test]
    fn the_schema_requires_every_property_as_a_string() {
        let call = ToolCall::with_properties(3);
        assert_eq!(call.schema["required"], json!(["p0", "p1", "p2"]));
        assert_eq!(call.schema["properties"]["p2"], json!({"type": "string"}));
        assert_eq!(call.schema["type"], "object");
        assert_eq!(
            call.input(),
            json!({"p0": "sample", "p1": "sample", "p2": "sample"})
        );
    }
}
