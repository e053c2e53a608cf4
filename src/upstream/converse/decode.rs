//! ConverseStream events as deltas. Every event yields at least one delta
//! (`Alive` for those with nothing to show), so the idle timer counts it.
//!
//! A guardrail's verdict spans two events: `messageStop` says
//! `guardrail_intervened`, then `metadata` may carry the trace. The
//! [`Decoder`] remembers the first and reports one `Guardrail` delta at the
//! metadata (or at the end of the stream when there is none).

use aws_sdk_bedrockruntime::types::{
    CitationLocation, CitationsDelta, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput,
    ReasoningContentBlockDelta, StopReason,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use aws_smithy_types::Document;

use super::guardrail_trace;
use crate::upstream::request::Delta;

/// A guardrail's action in a `guardrail` event.
const INTERVENED: &str = "INTERVENED";
const NONE: &str = "NONE";

/// One ConverseStream's decoding state: whether a guardrail intervened and
/// whether that was reported yet, and the request's one stop sequence.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    intervened: bool,
    reported: bool,
    /// Converse's `stop_sequence` stop does not say which sequence was
    /// reached; when the request named one, it can only be that one.
    only_stop_sequence: Option<String>,
}

impl Decoder {
    /// The decoder of a stream asked to stop at `stop_sequences`.
    pub(crate) fn new(stop_sequences: &[String]) -> Self {
        Self {
            only_stop_sequence: match stop_sequences {
                [one] => Some(one.clone()),
                _ => None,
            },
            ..Self::default()
        }
    }

    /// The deltas of one event; never empty.
    pub(crate) fn deltas(&mut self, ev: ConverseStreamOutput) -> Vec<Delta> {
        let mut out = Vec::new();
        match &ev {
            ConverseStreamOutput::MessageStop(e)
                if e.stop_reason == StopReason::GuardrailIntervened =>
            {
                self.intervened = true;
            }
            ConverseStreamOutput::MessageStop(e) if e.stop_reason == StopReason::StopSequence => {
                let named = e
                    .additional_model_response_fields
                    .as_ref()
                    .and_then(stop_sequence_field);
                out.extend(
                    named
                        .or_else(|| self.only_stop_sequence.clone())
                        .map(Delta::StopSequence),
                );
            }
            ConverseStreamOutput::Metadata(e) => {
                let trace = e
                    .trace()
                    .and_then(|t| t.guardrail())
                    .map(guardrail_trace::to_json);
                if trace.is_some() || self.intervened {
                    let action = if self.intervened { INTERVENED } else { NONE };
                    out.push(Delta::Guardrail {
                        action: action.into(),
                        trace,
                    });
                    self.reported = true;
                }
            }
            _ => {}
        }
        let mut deltas = deltas(ev);
        if !out.is_empty() {
            deltas.retain(|d| *d != Delta::Alive);
            deltas.extend(out);
        }
        deltas
    }

    /// The stream ended: an intervention no metadata reported.
    pub(crate) fn finish(&mut self) -> Vec<Delta> {
        if self.intervened && !self.reported {
            self.reported = true;
            return vec![Delta::Guardrail {
                action: INTERVENED.into(),
                trace: None,
            }];
        }
        Vec::new()
    }
}

/// The deltas of one ConverseStream event; never empty.
fn deltas(ev: ConverseStreamOutput) -> Vec<Delta> {
    let out = match ev {
        ConverseStreamOutput::ContentBlockStart(e) => match e.start {
            Some(ContentBlockStart::ToolUse(t)) => vec![Delta::ToolStart {
                id: t.tool_use_id,
                name: t.name,
            }],
            _ => vec![],
        },
        ConverseStreamOutput::ContentBlockDelta(e) => e.delta.map(block_delta).unwrap_or_default(),
        ConverseStreamOutput::ContentBlockStop(_) => vec![Delta::BlockEnd],
        ConverseStreamOutput::MessageStop(e) => {
            vec![Delta::Stop(e.stop_reason.as_str().to_owned())]
        }
        ConverseStreamOutput::Metadata(e) => {
            let mut out = Vec::new();
            if let Some(u) = e.usage() {
                out.push(Delta::Usage {
                    input_tokens: u64::try_from(u.input_tokens).ok(),
                    output_tokens: u64::try_from(u.output_tokens).ok(),
                    cache_read_input_tokens: u
                        .cache_read_input_tokens
                        .and_then(|n| u64::try_from(n).ok()),
                    cache_write_input_tokens: u
                        .cache_write_input_tokens
                        .and_then(|n| u64::try_from(n).ok()),
                });
            }
            if let Some(m) = e.metrics() {
                out.push(Delta::Latency {
                    invocation_ms: u64::try_from(m.latency_ms).ok(),
                    first_byte_ms: None,
                });
            }
            out
        }
        // messageStart, and events this SDK version does not know.
        _ => vec![],
    };
    if out.is_empty() {
        vec![Delta::Alive]
    } else {
        out
    }
}

fn block_delta(delta: ContentBlockDelta) -> Vec<Delta> {
    let one = match delta {
        ContentBlockDelta::Text(t) if !t.is_empty() => Delta::Text(t),
        ContentBlockDelta::ToolUse(t) if !t.input.is_empty() => Delta::ToolInput(t.input),
        ContentBlockDelta::ReasoningContent(r) => match r {
            ReasoningContentBlockDelta::Text(t) if !t.is_empty() => Delta::Reasoning(t),
            ReasoningContentBlockDelta::Signature(s) if !s.is_empty() => {
                Delta::ReasoningSignature(s)
            }
            ReasoningContentBlockDelta::RedactedContent(b) => {
                Delta::ReasoningRedacted(STANDARD.encode(b.as_ref()))
            }
            _ => return vec![],
        },
        ContentBlockDelta::Citation(c) => citation(c),
        _ => return vec![],
    };
    vec![one]
}

/// A citation: its title, source, the cited text (the source content's
/// pieces, joined) and its place in the documents, in Anthropic's names.
fn citation(c: CitationsDelta) -> Delta {
    let location = c.location.as_ref().and_then(location_json);
    let text: String = c
        .source_content
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.text)
        .collect();
    Delta::Citation {
        title: c.title,
        source: c.source,
        text: (!text.is_empty()).then_some(text),
        location,
    }
}

/// A document location as Claude's citation object names it (web and
/// search-result locations have no such shape and are left out).
fn location_json(l: &CitationLocation) -> Option<serde_json::Value> {
    let (kind, doc, (start_key, start), (end_key, end)) = match l {
        CitationLocation::DocumentChar(c) => (
            "char_location",
            c.document_index,
            ("start_char_index", c.start),
            ("end_char_index", c.end),
        ),
        CitationLocation::DocumentPage(p) => (
            "page_location",
            p.document_index,
            ("start_page_number", p.start),
            ("end_page_number", p.end),
        ),
        CitationLocation::DocumentChunk(c) => (
            "content_block_location",
            c.document_index,
            ("start_block_index", c.start),
            ("end_block_index", c.end),
        ),
        _ => return None,
    };
    Some(serde_json::json!({
        "type": kind,
        "document_index": doc,
        start_key: start,
        end_key: end,
    }))
}

/// The stop sequence Claude named in the response fields asked for
/// ([`super::STOP_SEQUENCE_PATH`]): `{"delta": {"stop_sequence": "…"}}`.
fn stop_sequence_field(fields: &Document) -> Option<String> {
    let Document::Object(fields) = fields else {
        return None;
    };
    match fields.get("delta") {
        Some(Document::Object(delta)) => match delta.get("stop_sequence") {
            Some(Document::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::primitives::Blob;
    use aws_sdk_bedrockruntime::types::{
        CitationSourceContentDelta, ContentBlockDeltaEvent, ContentBlockStartEvent,
        ContentBlockStopEvent, ConversationRole, MessageStartEvent, MessageStopEvent, StopReason,
        ToolUseBlockDelta, ToolUseBlockStart,
    };

    fn delta(d: ContentBlockDelta) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(0)
                .delta(d)
                .build()
                .unwrap(),
        )
    }

    fn reasoning(r: ReasoningContentBlockDelta) -> ConverseStreamOutput {
        delta(ContentBlockDelta::ReasoningContent(r))
    }

    #[test]
    fn recorded_tool_call_with_thinking() {
        let events = vec![
            ConverseStreamOutput::MessageStart(
                MessageStartEvent::builder()
                    .role(ConversationRole::Assistant)
                    .build()
                    .unwrap(),
            ),
            reasoning(ReasoningContentBlockDelta::Text("Need the".into())),
            reasoning(ReasoningContentBlockDelta::Text(" weather.".into())),
            reasoning(ReasoningContentBlockDelta::Signature("c2ln".into())),
            ConverseStreamOutput::ContentBlockStop(
                ContentBlockStopEvent::builder()
                    .content_block_index(0)
                    .build()
                    .unwrap(),
            ),
            ConverseStreamOutput::ContentBlockStart(
                ContentBlockStartEvent::builder()
                    .content_block_index(1)
                    .start(ContentBlockStart::ToolUse(
                        ToolUseBlockStart::builder()
                            .tool_use_id("tooluse_1")
                            .name("weather")
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            ),
            delta(ContentBlockDelta::ToolUse(
                ToolUseBlockDelta::builder()
                    .input("{\"city\":")
                    .build()
                    .unwrap(),
            )),
            delta(ContentBlockDelta::ToolUse(
                ToolUseBlockDelta::builder()
                    .input("\"Paris\"}")
                    .build()
                    .unwrap(),
            )),
            ConverseStreamOutput::ContentBlockStop(
                ContentBlockStopEvent::builder()
                    .content_block_index(1)
                    .build()
                    .unwrap(),
            ),
            ConverseStreamOutput::MessageStop(
                MessageStopEvent::builder()
                    .stop_reason(StopReason::ToolUse)
                    .build()
                    .unwrap(),
            ),
        ];
        let got: Vec<Delta> = events.into_iter().flat_map(deltas).collect();
        assert_eq!(
            got,
            vec![
                Delta::Alive,
                Delta::Reasoning("Need the".into()),
                Delta::Reasoning(" weather.".into()),
                Delta::ReasoningSignature("c2ln".into()),
                Delta::BlockEnd,
                Delta::ToolStart {
                    id: "tooluse_1".into(),
                    name: "weather".into()
                },
                Delta::ToolInput("{\"city\":".into()),
                Delta::ToolInput("\"Paris\"}".into()),
                Delta::BlockEnd,
                Delta::Stop("tool_use".into()),
            ]
        );
    }

    fn stop(reason: StopReason) -> ConverseStreamOutput {
        ConverseStreamOutput::MessageStop(
            MessageStopEvent::builder()
                .stop_reason(reason)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn an_intervention_is_reported_once_with_the_metadata_trace() {
        use aws_sdk_bedrockruntime::types::{
            ConverseStreamMetadataEvent, ConverseStreamTrace, GuardrailTraceAssessment,
        };
        let metadata = |trace: Option<&str>| {
            let mut b = ConverseStreamMetadataEvent::builder();
            if let Some(reason) = trace {
                b = b.trace(
                    ConverseStreamTrace::builder()
                        .guardrail(
                            GuardrailTraceAssessment::builder()
                                .action_reason(reason)
                                .build(),
                        )
                        .build(),
                );
            }
            ConverseStreamOutput::Metadata(b.build())
        };
        let mut d = Decoder::default();
        assert_eq!(
            d.deltas(stop(StopReason::GuardrailIntervened)),
            vec![Delta::Stop("guardrail_intervened".into())]
        );
        assert_eq!(
            d.deltas(metadata(Some("blocked"))),
            vec![Delta::Guardrail {
                action: "INTERVENED".into(),
                trace: Some(serde_json::json!({"actionReason": "blocked"}))
            }]
        );
        assert!(d.finish().is_empty());

        // No metadata trace: the verdict still comes, at the latest at the end.
        let mut d = Decoder::default();
        d.deltas(stop(StopReason::GuardrailIntervened));
        assert_eq!(
            d.finish(),
            vec![Delta::Guardrail {
                action: "INTERVENED".into(),
                trace: None
            }]
        );

        // A trace on an answer that passed: action NONE. Neither: nothing.
        let mut d = Decoder::default();
        d.deltas(stop(StopReason::EndTurn));
        assert_eq!(
            d.deltas(metadata(Some("ok"))),
            vec![Delta::Guardrail {
                action: "NONE".into(),
                trace: Some(serde_json::json!({"actionReason": "ok"}))
            }]
        );
        let mut d = Decoder::default();
        d.deltas(stop(StopReason::EndTurn));
        assert_eq!(d.deltas(metadata(None)), vec![Delta::Alive]);
        assert!(d.finish().is_empty());
    }

    #[test]
    fn redacted_citations_and_empty_frames() {
        assert_eq!(
            deltas(reasoning(ReasoningContentBlockDelta::RedactedContent(
                Blob::new(vec![1u8, 2, 3])
            ))),
            vec![Delta::ReasoningRedacted("AQID".into())]
        );
        let cite = CitationsDelta::builder()
            .title("Q3 report")
            .source_content(CitationSourceContentDelta::builder().text("Sales ").build())
            .source_content(CitationSourceContentDelta::builder().text("rose.").build())
            .build();
        assert_eq!(
            deltas(delta(ContentBlockDelta::Citation(cite))),
            vec![Delta::Citation {
                title: Some("Q3 report".into()),
                source: None,
                text: Some("Sales rose.".into()),
                location: None
            }]
        );
        for empty in [
            delta(ContentBlockDelta::Text(String::new())),
            reasoning(ReasoningContentBlockDelta::Text(String::new())),
            ConverseStreamOutput::ContentBlockStart(
                ContentBlockStartEvent::builder()
                    .content_block_index(0)
                    .build()
                    .unwrap(),
            ),
        ] {
            assert_eq!(deltas(empty), vec![Delta::Alive]);
        }
    }
}
