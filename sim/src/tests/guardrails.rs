//! End to end, guardrails and citations: the real SDK against the simulator,
//! ConverseStream and Claude's native body.

use aws_sdk_bedrockruntime::types::{
    CitationLocation, CitationsConfig, DocumentBlock, DocumentFormat, DocumentSource,
    GuardrailStreamConfiguration, GuardrailStreamProcessingMode, GuardrailTrace,
};

use super::parts::user_text;
use super::*;

const PROMPT: &str = "Tell me [[sim tokens=8 guardrail=3 rate=0 ttft_ms=0]]";

/// What a ConverseStream answer said.
#[derive(Debug, Default)]
struct Said {
    text_deltas: usize,
    citations: Vec<(String, String, i32)>,
    stop: Option<StopReason>,
    trace: Option<String>,
}

async fn converse(
    sim: &Sim,
    messages: Vec<Message>,
    guardrail: Option<GuardrailStreamConfiguration>,
) -> Said {
    let output = sim
        .sdk()
        .converse_stream()
        .model_id(CLAUDE)
        .set_messages(Some(messages))
        .set_guardrail_config(guardrail)
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut said = Said::default();
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(_)) => said.text_deltas += 1,
                Some(ContentBlockDelta::Citation(c)) => {
                    let Some(CitationLocation::DocumentChar(at)) = c.location() else {
                        panic!("{c:?}")
                    };
                    said.citations.push((
                        c.title().unwrap_or_default().to_owned(),
                        c.source_content()[0].text().unwrap_or_default().to_owned(),
                        at.document_index().unwrap_or(-1),
                    ));
                }
                other => panic!("{other:?}"),
            },
            ConverseStreamOutput::MessageStop(m) => said.stop = Some(m.stop_reason().clone()),
            ConverseStreamOutput::Metadata(m) => {
                said.trace = m
                    .trace()
                    .and_then(|t| t.guardrail())
                    .and_then(|g| g.action_reason())
                    .map(str::to_owned);
            }
            _ => {}
        }
    }
    said
}

fn guardrail(trace: GuardrailTrace) -> GuardrailStreamConfiguration {
    GuardrailStreamConfiguration::builder()
        .guardrail_identifier("gr1abc")
        .guardrail_version("DRAFT")
        .trace(trace)
        .stream_processing_mode(GuardrailStreamProcessingMode::Async)
        .build()
}

#[tokio::test]
async fn converse_guardrail_intervenes_only_when_configured() {
    let sim = Sim::start().await;
    let blocked = converse(
        &sim,
        vec![user_text(PROMPT)],
        Some(guardrail(GuardrailTrace::Enabled)),
    )
    .await;
    assert_eq!(blocked.text_deltas, 3);
    assert_eq!(blocked.stop, Some(StopReason::GuardrailIntervened));
    assert_eq!(blocked.trace.as_deref(), Some("Guardrail blocked."));

    let untraced = converse(
        &sim,
        vec![user_text(PROMPT)],
        Some(guardrail(GuardrailTrace::Disabled)),
    )
    .await;
    assert_eq!(untraced.stop, Some(StopReason::GuardrailIntervened));
    assert_eq!(untraced.trace, None);

    let free = converse(&sim, vec![user_text(PROMPT)], None).await;
    assert_eq!(free.text_deltas, 8);
    assert_eq!(free.stop, Some(StopReason::EndTurn));
    assert_eq!(free.trace, None);
}

fn document_turn(prompt: &str, citations: bool) -> Message {
    let mut doc = DocumentBlock::builder()
        .format(DocumentFormat::Txt)
        .name("report")
        .source(DocumentSource::Bytes(Blob::new(b"Sales rose 4%.".to_vec())));
    if citations {
        doc = doc.citations(CitationsConfig::builder().enabled(true).build().unwrap());
    }
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Document(doc.build().unwrap()))
        .content(ContentBlock::Text(prompt.into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn converse_citations_need_a_document() {
    let sim = Sim::start().await;
    let prompt = "Summarise [[sim tokens=2 cite=2 rate=0 ttft_ms=0]]";
    let cited = converse(&sim, vec![document_turn(prompt, true)], None).await;
    assert_eq!(
        cited.citations,
        [
            ("report".to_owned(), "Passage 1 of report".to_owned(), 0),
            ("report".to_owned(), "Passage 2 of report".to_owned(), 0),
        ]
    );
    assert_eq!(cited.stop, Some(StopReason::EndTurn));
    let plain = converse(&sim, vec![document_turn(prompt, false)], None).await;
    assert_eq!(
        plain.citations, cited.citations,
        "any document is cited when none enabled citations"
    );
    let none = converse(&sim, vec![user_text(prompt)], None).await;
    assert!(
        none.citations.is_empty(),
        "no document, nothing cited: {none:?}"
    );
}

async fn invoke_with_headers(
    sim: &Sim,
    body: &Value,
    guardrail: Option<(&str, &str, &str)>,
) -> Result<Vec<Value>, String> {
    let mut request = sim
        .sdk()
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .content_type("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()));
    if let Some((id, version, trace)) = guardrail {
        request = request
            .guardrail_identifier(id)
            .guardrail_version(version)
            .trace(trace.into());
    }
    let output = request
        .send()
        .await
        .map_err(|e| format!("{:?}", e.into_service_error()))?;
    let mut stream = output.body;
    let mut chunks = Vec::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ResponseStream::Chunk(part) = event {
            chunks.push(serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap());
        }
    }
    Ok(chunks)
}

fn text_deltas(chunks: &[Value]) -> usize {
    chunks
        .iter()
        .filter(|c| c["delta"]["type"] == "text_delta")
        .count()
}

#[tokio::test]
async fn claude_native_guardrail_marks_the_last_chunk() {
    let sim = Sim::start().await;
    let body = claude_body(PROMPT, 100);
    let chunks = invoke_with_headers(&sim, &body, Some(("gr1abc", "1", "ENABLED")))
        .await
        .unwrap();
    assert_eq!(text_deltas(&chunks), 3);
    let delta = chunks
        .iter()
        .find(|c| c["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "guardrail_intervened");
    let last = chunks.last().unwrap();
    assert_eq!(last["type"], "message_stop");
    assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
    assert!(
        last["amazon-bedrock-trace"]["guardrail"].is_object(),
        "{last}"
    );

    let untraced = invoke_with_headers(&sim, &body, Some(("gr1abc", "1", "DISABLED")))
        .await
        .unwrap();
    let last = untraced.last().unwrap();
    assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
    assert!(last.get("amazon-bedrock-trace").is_none());

    let free = invoke_with_headers(&sim, &body, None).await.unwrap();
    assert_eq!(text_deltas(&free), 8);
    assert!(
        free.iter()
            .all(|c| c.get("amazon-bedrock-guardrailAction").is_none())
    );

    // Asynchronous mode in the body needs a guardrail identifier, as on Bedrock.
    let mut async_body = body.clone();
    async_body["amazon-bedrock-guardrailConfig"] = json!({"streamProcessingMode": "ASYNCHRONOUS"});
    let refused = invoke_with_headers(&sim, &async_body, None)
        .await
        .unwrap_err();
    assert!(refused.contains("ValidationException"), "{refused}");
    let accepted = invoke_with_headers(&sim, &async_body, Some(("gr1abc", "1", "DISABLED")))
        .await
        .unwrap();
    assert_eq!(text_deltas(&accepted), 3);
}

#[tokio::test]
async fn claude_native_citations_deltas() {
    let sim = Sim::start().await;
    let body = |citations: bool| {
        let mut doc = json!({"type": "document", "title": "Q3", "source": {"type": "text", "media_type": "text/plain", "data": "Sales rose 4%."}});
        if citations {
            doc["citations"] = json!({"enabled": true});
        }
        json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": [doc, {"type": "text", "text": "Sum up [[sim tokens=2 cite=3 rate=0 ttft_ms=0]]"}]}],
        })
    };
    let chunks = invoke_with_headers(&sim, &body(true), None).await.unwrap();
    let cites: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["delta"]["type"] == "citations_delta")
        .map(|c| &c["delta"]["citation"])
        .collect();
    assert_eq!(cites.len(), 3);
    assert_eq!(cites[0]["type"], "char_location");
    assert_eq!(cites[0]["document_title"], "Q3");
    assert_eq!(cites[0]["document_index"], 0);
    assert_eq!(cites[2]["cited_text"], "Passage 3 of Q3");
    // No document enabled citations: the contract's simulator cites the request's documents anyway.
    let plain = invoke_with_headers(&sim, &body(false), None).await.unwrap();
    let plain_cites = plain
        .iter()
        .filter(|c| c["delta"]["type"] == "citations_delta")
        .count();
    assert_eq!(plain_cites, 3);
}
