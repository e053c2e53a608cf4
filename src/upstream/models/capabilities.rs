//! What each model takes besides text, per API: through its family's own
//! InvokeModel body, or through Converse. The one table the request checks
//! (`parts::validate`), the API a request goes by (`request::pick_api`), the
//! fallback models and the Bedrock API's model listing read.
//!
//! Claude's and Nova's own bodies carry every part Converse does, so either
//! API takes the same for them. Titan, Llama, Mistral, Cohere and DeepSeek
//! bodies are prompt strings: text only. Through Converse, Bedrock takes
//! tools, images and documents for some of those models, as AWS's
//! "Supported models and model features" table says
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html>):
//!
//! - Cohere Command R and R+: document chat, tool use; no vision.
//! - Meta Llama 3: document chat only. Llama 3.1: document chat, tool use.
//!   Llama 3.2 1B and 3B: document chat only; 11B and 90B: document chat,
//!   vision, tool use.
//! - Mistral AI Instruct (7B, Mixtral 8x7B): document chat only. Mistral
//!   Large (24.02) and Large 2 (24.07): document chat, tool use; no vision.
//! - Amazon Titan Text: document chat, except Titan Text Premier; no tools,
//!   no vision.
//!
//! Rows the table as read did not show, from other AWS pages: Pixtral Large
//! takes images and tools through Converse (its parameters page); Llama 4
//! Scout and Maverick take images (their model cards). Mistral Small's tool
//! use is on AWS's tool-use page. Llama 3.3 and Llama 4 are taken to use
//! tools as Llama 3.1 does (clients do so through Converse), documents as
//! every other Llama and Mistral model; Llama 3.3 has no vision. DeepSeek
//! R1 stays text only (Bedrock answers its tools "This model doesn't support
//! tool use").

use super::{ModelFamily, base_model_id};
use crate::parts::validate::Capabilities;
use crate::upstream::Api;

const TEXT: Capabilities = Capabilities {
    tools: false,
    images: false,
    documents: false,
    reasoning: false,
};
const DOCUMENTS: Capabilities = Capabilities {
    documents: true,
    ..TEXT
};
const TOOLS_DOCUMENTS: Capabilities = Capabilities {
    tools: true,
    ..DOCUMENTS
};
const VISION_TOOLS_DOCUMENTS: Capabilities = Capabilities {
    images: true,
    ..TOOLS_DOCUMENTS
};

/// What Converse takes for the models whose own body is a prompt string, by
/// the start of the plain model id; the first match wins, so a longer prefix
/// comes before a shorter one. An id no row matches takes text only.
const CONVERSE: &[(&str, Capabilities)] = &[
    ("amazon.titan-text-premier", TEXT),
    ("amazon.titan-", DOCUMENTS),
    ("meta.llama4-", VISION_TOOLS_DOCUMENTS),
    ("meta.llama3-3-", TOOLS_DOCUMENTS),
    ("meta.llama3-2-11b", VISION_TOOLS_DOCUMENTS),
    ("meta.llama3-2-90b", VISION_TOOLS_DOCUMENTS),
    ("meta.llama3-2-", DOCUMENTS),
    ("meta.llama3-1-", TOOLS_DOCUMENTS),
    ("meta.llama3-", DOCUMENTS),
    ("mistral.pixtral-", VISION_TOOLS_DOCUMENTS),
    ("mistral.mistral-large-", TOOLS_DOCUMENTS),
    ("mistral.mistral-small-", TOOLS_DOCUMENTS),
    ("mistral.", DOCUMENTS),
    ("cohere.command-r", TOOLS_DOCUMENTS),
];

/// What `family`'s model `model_id` takes through `api`.
pub(super) fn of(family: ModelFamily, model_id: &str, api: Api) -> Capabilities {
    let id = base_model_id(model_id)
        .unwrap_or(model_id)
        .to_ascii_lowercase();
    match family {
        ModelFamily::AnthropicClaude => Capabilities {
            tools: true,
            images: true,
            documents: true,
            // Claude 3.7 Sonnet and the Claude 4 generations think.
            reasoning: !id.contains("claude-3-5")
                && !id.contains("claude-3-haiku")
                && !id.contains("claude-3-sonnet")
                && !id.contains("claude-3-opus")
                && !id.contains("claude-instant")
                && !id.contains("claude-v2"),
        },
        ModelFamily::AmazonNova => Capabilities {
            tools: true,
            images: !id.contains("nova-micro"),
            documents: !id.contains("nova-micro"),
            reasoning: id.contains("nova-2") || id.contains("nova-premier"),
        },
        // R1 always reasons (its reasoning streams as reasoning); it takes
        // no budget, and no other parts on either API.
        ModelFamily::DeepSeek => TEXT,
        ModelFamily::AmazonTitanText
        | ModelFamily::MetaLlama
        | ModelFamily::Mistral
        | ModelFamily::CohereCommandR => match api {
            Api::Invoke => TEXT,
            Api::Converse => CONVERSE
                .iter()
                .find(|(prefix, _)| id.starts_with(prefix))
                .map_or(TEXT, |(_, caps)| *caps),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converse(id: &str) -> Capabilities {
        let family = ModelFamily::from_model_id(id).unwrap();
        of(family, id, Api::Converse)
    }

    #[test]
    fn prompt_string_bodies_take_text_only() {
        for id in [
            "us.meta.llama3-2-90b-instruct-v1:0",
            "mistral.mistral-large-2402-v1:0",
            "cohere.command-r-plus-v1:0",
            "amazon.titan-text-express-v1",
            "us.deepseek.r1-v1:0",
        ] {
            let family = ModelFamily::from_model_id(id).unwrap();
            assert_eq!(of(family, id, Api::Invoke), TEXT, "{id}");
        }
    }

    #[test]
    fn converse_takes_what_the_aws_table_lists() {
        let cases = [
            ("cohere.command-r-v1:0", TOOLS_DOCUMENTS),
            ("cohere.command-r-plus-v1:0", TOOLS_DOCUMENTS),
            ("meta.llama3-8b-instruct-v1:0", DOCUMENTS),
            ("meta.llama3-70b-instruct-v1:0", DOCUMENTS),
            ("meta.llama3-1-70b-instruct-v1:0", TOOLS_DOCUMENTS),
            ("us.meta.llama3-2-1b-instruct-v1:0", DOCUMENTS),
            ("us.meta.llama3-2-3b-instruct-v1:0", DOCUMENTS),
            ("us.meta.llama3-2-11b-instruct-v1:0", VISION_TOOLS_DOCUMENTS),
            ("us.meta.llama3-2-90b-instruct-v1:0", VISION_TOOLS_DOCUMENTS),
            ("us.meta.llama3-3-70b-instruct-v1:0", TOOLS_DOCUMENTS),
            (
                "us.meta.llama4-maverick-17b-instruct-v1:0",
                VISION_TOOLS_DOCUMENTS,
            ),
            (
                "us.meta.llama4-scout-17b-instruct-v1:0",
                VISION_TOOLS_DOCUMENTS,
            ),
            ("mistral.mistral-7b-instruct-v0:2", DOCUMENTS),
            ("mistral.mixtral-8x7b-instruct-v0:1", DOCUMENTS),
            ("mistral.mistral-large-2402-v1:0", TOOLS_DOCUMENTS),
            ("mistral.mistral-large-2407-v1:0", TOOLS_DOCUMENTS),
            ("mistral.mistral-small-2402-v1:0", TOOLS_DOCUMENTS),
            ("us.mistral.pixtral-large-2502-v1:0", VISION_TOOLS_DOCUMENTS),
            ("amazon.titan-text-express-v1", DOCUMENTS),
            ("amazon.titan-text-lite-v1", DOCUMENTS),
            ("amazon.titan-text-premier-v1:0", TEXT),
            ("us.deepseek.r1-v1:0", TEXT),
        ];
        for (id, want) in cases {
            assert_eq!(converse(id), want, "{id}");
        }
    }

    #[test]
    fn claude_and_nova_take_the_same_on_both_apis() {
        for id in [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-micro-v1:0",
            "us.amazon.nova-2-lite-v1:0",
        ] {
            let family = ModelFamily::from_model_id(id).unwrap();
            assert_eq!(
                of(family, id, Api::Invoke),
                of(family, id, Api::Converse),
                "{id}"
            );
        }
        let sonnet = converse("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert!(sonnet.tools && sonnet.images && sonnet.documents && sonnet.reasoning);
        assert!(!converse("anthropic.claude-3-5-haiku-20241022-v1:0").reasoning);
        assert!(!converse("amazon.nova-micro-v1:0").images);
    }
}
