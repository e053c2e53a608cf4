//! Conversation turns as Converse `Message`s: one SDK content block per part.

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::builders::DocumentBlockBuilder;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl as SdkCacheTtl, CitationsConfig, ContentBlock,
    ConversationRole, DocumentBlock, DocumentFormat, DocumentSource, GuardrailConverseContentBlock,
    GuardrailConverseContentQualifier, GuardrailConverseTextBlock, ImageBlock, ImageFormat,
    ImageSource, Message, ReasoningContentBlock, ReasoningTextBlock, SystemContentBlock,
    ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolUseBlock,
};

use super::json::to_document;
use crate::parts::attachment::{document_format, image_format};
use crate::parts::{CacheTtl, Content, SystemPrompt, ToolResultContent};
use crate::upstream::attach::{self, DocumentNames};
use crate::upstream::request::{Role, Turn};

/// Every turn as a `Message`. `Err` names the part that cannot be sent (the
/// checks before any upstream call make that a request that skipped them).
pub(crate) fn messages(turns: &[Turn]) -> Result<Vec<Message>, String> {
    let mut names = DocumentNames::default();
    turns
        .iter()
        .enumerate()
        .map(|(n, turn)| {
            let role = match turn.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let content =
                turn_blocks(turn, &mut names).map_err(|e| format!("messages[{n}]: {e}"))?;
            Message::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The system prompt as system blocks: one per text part, a cache point
/// where one stands; `None` when there is no text.
pub(crate) fn system(system: &SystemPrompt) -> Result<Option<Vec<SystemContentBlock>>, String> {
    if system.is_empty() {
        return Ok(None);
    }
    system
        .parts()
        .iter()
        .filter(|p| !matches!(p, Content::Text { text } if text.trim().is_empty()))
        .map(|p| match p {
            Content::Text { text } => Ok(SystemContentBlock::Text(text.clone())),
            Content::GuardContent { text, qualifiers } => {
                guard(text, qualifiers).map(SystemContentBlock::GuardContent)
            }
            _ => cache_point(cache_ttl(p)).map(SystemContentBlock::CachePoint),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Converse's `guardContent` text block.
fn guard(text: &str, qualifiers: &[String]) -> Result<GuardrailConverseContentBlock, String> {
    GuardrailConverseTextBlock::builder()
        .text(text)
        .set_qualifiers((!qualifiers.is_empty()).then(|| {
            qualifiers
                .iter()
                .map(|q| GuardrailConverseContentQualifier::from(q.as_str()))
                .collect()
        }))
        .build()
        .map(GuardrailConverseContentBlock::Text)
        .map_err(|e| e.to_string())
}

/// Converse's cache point (`{"cachePoint":{"type":"default"}}`), with its
/// `ttl` when the request named one (Bedrock's default is five minutes).
pub(crate) fn cache_point(ttl: Option<CacheTtl>) -> Result<CachePointBlock, String> {
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .set_ttl(ttl.map(|t| SdkCacheTtl::from(t.as_str())))
        .build()
        .map_err(|e| e.to_string())
}

/// A cache point part's TTL (`None` for any other part).
fn cache_ttl(part: &Content) -> Option<CacheTtl> {
    match part {
        Content::CachePoint { ttl } => *ttl,
        _ => None,
    }
}

/// A turn's blocks. Converse refuses blank text blocks, so an empty text
/// part is left out when the turn has other parts.
fn turn_blocks(turn: &Turn, names: &mut DocumentNames) -> Result<Vec<ContentBlock>, String> {
    let only_text = turn.content.len() == 1;
    turn.content
        .iter()
        .filter(|p| only_text || !matches!(p, Content::Text { text } if text.is_empty()))
        .map(|p| block(p, names))
        .collect()
}

fn block(part: &Content, names: &mut DocumentNames) -> Result<ContentBlock, String> {
    let built = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    Ok(match part {
        Content::Text { text } => ContentBlock::Text(text.clone()),
        Content::Image { media_type, data } => ContentBlock::Image(image(media_type, data)?),
        Content::Document {
            media_type,
            name,
            data,
            citations,
            context,
        } => ContentBlock::Document(
            document(media_type, name, data, *citations, names)?
                .set_context(context.clone())
                .build()
                .map_err(built)?,
        ),
        Content::Reasoning(r) => ContentBlock::ReasoningContent(match (&r.redacted, &r.text) {
            (Some(blob), _) => ReasoningContentBlock::RedactedContent(Blob::new(attach::bytes(
                blob,
                "reasoning.redacted",
            )?)),
            (None, text) => ReasoningContentBlock::ReasoningText(
                ReasoningTextBlock::builder()
                    .text(text.clone().unwrap_or_default())
                    .set_signature(r.signature.clone())
                    .build()
                    .map_err(built)?,
            ),
        }),
        Content::ToolCall { id, name, input } => ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id(id)
                .name(name)
                .input(to_document(input))
                .build()
                .map_err(built)?,
        ),
        Content::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(tool_call_id)
                .set_content(Some(tool_result_content(content, names)?))
                .set_status(is_error.then_some(ToolResultStatus::Error))
                .build()
                .map_err(built)?,
        ),
        Content::CachePoint { ttl } => ContentBlock::CachePoint(cache_point(*ttl)?),
        Content::GuardContent { text, qualifiers } => {
            ContentBlock::GuardContent(guard(text, qualifiers)?)
        }
    })
}

fn image(media_type: &str, data: &str) -> Result<ImageBlock, String> {
    let format = image_format(media_type)
        .ok_or_else(|| format!("image type '{media_type}' is not one Converse takes"))?;
    ImageBlock::builder()
        .format(ImageFormat::from(format))
        .source(ImageSource::Bytes(Blob::new(attach::bytes(data, "image")?)))
        .build()
        .map_err(|e| e.to_string())
}

/// A document block's builder, for the caller to add its `context` and build.
fn document(
    media_type: &str,
    name: &str,
    data: &str,
    citations: bool,
    names: &mut DocumentNames,
) -> Result<DocumentBlockBuilder, String> {
    let built = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    let format = document_format(media_type)
        .ok_or_else(|| format!("document type '{media_type}' is not one Converse takes"))?;
    Ok(DocumentBlock::builder()
        .format(DocumentFormat::from(format))
        .name(names.name(name))
        .source(DocumentSource::Bytes(Blob::new(attach::bytes(
            data, "document",
        )?)))
        .set_citations(
            citations
                .then(|| CitationsConfig::builder().enabled(true).build())
                .transpose()
                .map_err(built)?,
        ))
}

/// A tool result's text, image and document parts (other parts are refused
/// before any upstream call and left out here).
fn tool_result_content(
    content: &ToolResultContent,
    names: &mut DocumentNames,
) -> Result<Vec<ToolResultContentBlock>, String> {
    let mut out = Vec::new();
    for part in content.parts() {
        match part {
            Content::Text { text } => out.push(ToolResultContentBlock::Text(text)),
            Content::Image { media_type, data } => {
                out.push(ToolResultContentBlock::Image(image(&media_type, &data)?));
            }
            Content::Document {
                media_type,
                name,
                data,
                citations,
                context,
            } => out.push(ToolResultContentBlock::Document(
                document(&media_type, &name, &data, citations, names)?
                    .set_context(context)
                    .build()
                    .map_err(|e| e.to_string())?,
            )),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn turns(v: serde_json::Value) -> Vec<Turn> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_part_becomes_its_block() {
        let png = STANDARD.encode(PNG);
        let pdf = STANDARD.encode(b"%PDF-1.4 x");
        let t = turns(json!([
            {"role":"user","content":[
                {"type":"text","text":"Look"},
                {"type":"image","mediaType":"image/png","data":png},
                {"type":"document","mediaType":"application/pdf","name":"q3_report.pdf","data":pdf},
                {"type":"cachePoint"}]},
            {"role":"assistant","content":[
                {"type":"reasoning","text":"hm","signature":"sig"},
                {"type":"reasoning","redacted":"AQID"},
                {"type":"toolCall","id":"t1","name":"w","input":{"city":"Paris","n":2}}]},
            {"role":"user","content":[
                {"type":"toolResult","toolCallId":"t1","content":[
                    {"type":"text","text":"sunny"},
                    {"type":"image","mediaType":"image/png","data":png}],"isError":true}]}
        ]));
        let m = messages(&t).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].role, ConversationRole::User);
        let c = &m[0].content;
        assert_eq!(c[0], ContentBlock::Text("Look".into()));
        let ContentBlock::Image(img) = &c[1] else {
            panic!("{c:?}")
        };
        assert_eq!(img.format, ImageFormat::Png);
        assert_eq!(img.source, Some(ImageSource::Bytes(Blob::new(PNG))));
        let ContentBlock::Document(doc) = &c[2] else {
            panic!("{c:?}")
        };
        assert_eq!(doc.format, DocumentFormat::Pdf);
        assert_eq!(doc.name, "q3 report pdf");
        assert_eq!(
            doc.source,
            Some(DocumentSource::Bytes(Blob::new(b"%PDF-1.4 x".as_slice())))
        );
        let ContentBlock::CachePoint(cp) = &c[3] else {
            panic!("{c:?}")
        };
        assert_eq!(cp.r#type, CachePointType::Default);

        let c = &m[1].content;
        assert_eq!(m[1].role, ConversationRole::Assistant);
        let ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) = &c[0] else {
            panic!("{c:?}")
        };
        assert_eq!(
            (r.text.as_str(), r.signature.as_deref()),
            ("hm", Some("sig"))
        );
        assert_eq!(
            c[1],
            ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(Blob::new(
                vec![1u8, 2, 3]
            )))
        );
        let ContentBlock::ToolUse(call) = &c[2] else {
            panic!("{c:?}")
        };
        assert_eq!((call.tool_use_id.as_str(), call.name.as_str()), ("t1", "w"));
        assert_eq!(
            super::super::json::from_document(&call.input),
            json!({"city":"Paris","n":2})
        );

        let ContentBlock::ToolResult(res) = &m[2].content[0] else {
            panic!("{m:?}")
        };
        assert_eq!(res.tool_use_id, "t1");
        assert_eq!(res.status, Some(ToolResultStatus::Error));
        assert_eq!(res.content[0], ToolResultContentBlock::Text("sunny".into()));
        assert!(matches!(res.content[1], ToolResultContentBlock::Image(_)));
    }

    #[test]
    fn plain_results_and_text_turns() {
        let t = turns(json!([
            {"role":"user","content":"Hi"},
            {"role":"assistant","content":[{"type":"text","text":""},{"type":"toolCall","id":"a","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"toolResult","toolCallId":"a","content":"ok"}]}
        ]));
        let m = messages(&t).unwrap();
        assert_eq!(m[0].content, vec![ContentBlock::Text("Hi".into())]);
        assert_eq!(m[1].content.len(), 1, "the blank text is left out");
        let ContentBlock::ToolResult(res) = &m[2].content[0] else {
            panic!("{m:?}")
        };
        assert_eq!(res.status, None);
        assert_eq!(res.content, vec![ToolResultContentBlock::Text("ok".into())]);
    }

    #[test]
    fn bad_base64_is_an_error_naming_the_turn() {
        let t = turns(json!([
            {"role":"user","content":"Hi"},
            {"role":"assistant","content":[{"type":"reasoning","redacted":"***"}]}
        ]));
        let e = messages(&t).unwrap_err();
        assert!(e.starts_with("messages[1]: reasoning.redacted"), "{e}");
    }
}
