//! `POST /v1/messages/count_tokens` for a model Bedrock cannot count (it
//! counts Claude only): an estimate, not the model's tokenizer — text at
//! about four bytes a token, a flat cost per image, documents by their size.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::parts::{Content, ToolResultContent};
use crate::upstream::request::InvocationRequest;

/// Bytes of text per token, roughly, for English prose and code.
const BYTES_PER_TOKEN: u64 = 4;
/// An image's tokens: Anthropic's (width × height) / 750 for the largest
/// image sent without resizing (about 1.15 megapixels).
const IMAGE_TOKENS: u64 = 1_600;
/// What each turn adds besides its content (role markers).
const TURN_TOKENS: u64 = 4;

/// The estimated input tokens of a validated request.
pub(super) fn estimate(req: &InvocationRequest) -> u64 {
    let mut bytes = req.system.size() as u64;
    let mut tokens = 0;
    for t in &req.turns {
        tokens += TURN_TOKENS;
        for p in &t.content {
            let (b, n) = part(p);
            bytes += b;
            tokens += n;
        }
    }
    for tool in &req.tools {
        bytes += serde_json::to_string(tool).map_or(0, |s| s.len()) as u64;
    }
    tokens + bytes.div_ceil(BYTES_PER_TOKEN)
}

/// `(text bytes, tokens)` of one part.
fn part(p: &Content) -> (u64, u64) {
    match p {
        Content::Image { .. } => (0, IMAGE_TOKENS),
        Content::Document { data, .. } => {
            let decoded = STANDARD.decode(data.trim()).map_or(0, |b| b.len());
            (decoded as u64, 0)
        }
        Content::ToolResult {
            content: ToolResultContent::Parts(parts),
            ..
        } => parts
            .iter()
            .map(part)
            .fold((0, 0), |(b, n), (pb, pn)| (b + pb, n + pn)),
        other => (other.size() as u64, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::request::{Role, Turn};

    #[test]
    fn text_images_and_documents() {
        let mut req = InvocationRequest {
            system: "1234".into(),
            turns: vec![Turn::text_turn(Role::User, "12345678")],
            ..Default::default()
        };
        assert_eq!(estimate(&req), TURN_TOKENS + 3);
        req.turns[0].content.push(Content::Image {
            media_type: "image/png".into(),
            data: String::new(),
        });
        req.turns[0].content.push(Content::Document {
            media_type: "text/plain".into(),
            name: "a".into(),
            data: STANDARD.encode("abcd"),
            citations: false,
            context: None,
        });
        assert_eq!(estimate(&req), TURN_TOKENS + IMAGE_TOKENS + 4);
    }
}
