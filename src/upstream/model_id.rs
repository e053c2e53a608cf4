//! What a model id names, in one place: a model of a known family (a
//! foundation-model id, a cross-region inference profile, or an ARN of
//! either), or an application-inference-profile ARN.
//!
//! An application inference profile
//! (`arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID`) is
//! opaque: its id does not say which model it routes to. One the operator
//! declares (`SPILLWAY_PROFILE_MODELS`) is its model's family
//! ([`crate::request::ModelPolicy::model_ref`]); for any other, no family
//! body can be built. It is served through ConverseStream, which needs no
//! family, whatever `--api` or the request says; and it is accepted only when
//! `SPILLWAY_ALLOWED_MODELS` lists it (an operator vouches for it).
//!
//! Its capabilities are assumed to be Converse's generic ones: text, images,
//! documents and tools go as Converse content blocks (a model behind the
//! profile that cannot take one answers with Bedrock's `ValidationException`,
//! passed on as `validation_error`); a reasoning budget, which needs fields
//! of the model's family, is refused before any call.

use super::Api;
use super::models::{Capabilities, ModelFamily};
use crate::parts::validate::Target;

/// The resource type of an application-inference-profile ARN.
const APPLICATION_PROFILE: &str = "application-inference-profile/";

/// What [`ModelRef::ApplicationProfile`] is assumed to take (see the module docs).
pub const GENERIC_CONVERSE: Capabilities = Capabilities {
    tools: true,
    images: true,
    documents: true,
    reasoning: false,
};

/// A model id the gateway can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRef {
    /// A model of a known family: InvokeModel with the family's body, or Converse.
    Family(ModelFamily),
    /// An application-inference-profile ARN: Converse only.
    ApplicationProfile,
}

impl ModelRef {
    /// What `model_id` names; `None` for an id of no known family that is
    /// not an application-inference-profile ARN either.
    pub fn parse(model_id: &str) -> Option<Self> {
        if is_application_profile(model_id) {
            Some(Self::ApplicationProfile)
        } else {
            ModelFamily::from_model_id(model_id).map(Self::Family)
        }
    }

    pub fn family(self) -> Option<ModelFamily> {
        match self {
            Self::Family(f) => Some(f),
            Self::ApplicationProfile => None,
        }
    }

    /// Short name for messages: the family's, or `application-inference-profile`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Family(f) => f.name(),
            Self::ApplicationProfile => "application-inference-profile",
        }
    }

    /// What the model `model_id` takes besides text through `api`.
    pub fn capabilities(self, model_id: &str, api: Api) -> Capabilities {
        match self {
            Self::Family(f) => f.capabilities(model_id, api),
            Self::ApplicationProfile => GENERIC_CONVERSE,
        }
    }

    /// The checks' view of the model a request names `named` (`model_id`
    /// when it routes elsewhere: a declared profile's model) through `api`.
    pub fn target<'a>(self, named: &'a str, model_id: &str, api: Api) -> Target<'a> {
        Target {
            model: named,
            caps: self.capabilities(model_id, api),
            converse: self.capabilities(model_id, Api::Converse),
        }
    }

    /// The API that serves it when `requested` was asked for.
    pub fn api(self, requested: Api) -> Api {
        match self {
            Self::Family(_) => requested,
            Self::ApplicationProfile => Api::Converse,
        }
    }

    /// Whether a conversation may end with an assistant turn the model
    /// continues (a prefill): Claude's body takes one, and Converse does for
    /// every model (Bedrock refuses it where the model cannot); the other
    /// families' prompt templates end with the user's turn.
    pub fn continues_prefill(self, api: Api) -> bool {
        api == Api::Converse || self == Self::Family(ModelFamily::AnthropicClaude)
    }

    /// Whether its own InvokeModel body has a place for structured output and
    /// effort (Claude's `output_config`); every model takes them through Converse.
    pub fn takes_output_config(self) -> bool {
        self == Self::Family(ModelFamily::AnthropicClaude)
    }

    /// Whether only an allow-list entry admits it (an empty
    /// `SPILLWAY_ALLOWED_MODELS` admits every model of a known family, but
    /// no application-inference-profile ARN).
    pub fn needs_listing(self) -> bool {
        matches!(self, Self::ApplicationProfile)
    }
}

/// Whether `id` is an application-inference-profile ARN:
/// `arn:<partition>:bedrock:<region>:<account>:application-inference-profile/<id>`,
/// every field present and the profile id one path segment.
pub fn is_application_profile(id: &str) -> bool {
    if !super::models::well_formed(id) {
        return false;
    }
    let fields: Vec<&str> = id.splitn(6, ':').collect();
    let ["arn", partition, "bedrock", region, account, resource] = fields.as_slice() else {
        return false;
    };
    partition.starts_with("aws")
        && !region.is_empty()
        && !account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix(APPLICATION_PROFILE)
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

    #[test]
    fn application_profiles_are_their_own_case() {
        assert_eq!(ModelRef::parse(PROFILE), Some(ModelRef::ApplicationProfile));
        assert_eq!(ModelRef::parse(PROFILE).unwrap().family(), None);
        assert!(is_application_profile(
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:application-inference-profile/x9"
        ));
        for bad in [
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/",
            "arn:aws:bedrock:us-east-1::application-inference-profile/abc",
            "arn:aws:bedrock::123456789012:application-inference-profile/abc",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a/b",
            "arn:aws:s3:us-east-1:123456789012:application-inference-profile/abc",
            "application-inference-profile/abc",
        ] {
            assert!(!is_application_profile(bad), "{bad}");
            assert_eq!(ModelRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn family_ids_and_system_profile_arns_keep_their_family() {
        let cases = [
            ("amazon.nova-lite-v1:0", ModelFamily::AmazonNova),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
                ModelFamily::AnthropicClaude,
            ),
        ];
        for (id, family) in cases {
            assert_eq!(ModelRef::parse(id), Some(ModelRef::Family(family)), "{id}");
            assert!(!ModelRef::parse(id).unwrap().needs_listing());
        }
        assert_eq!(ModelRef::parse("openai.gpt-oss-120b-1:0"), None);
    }

    #[test]
    fn profiles_go_through_converse_with_generic_capabilities() {
        let p = ModelRef::ApplicationProfile;
        assert_eq!(p.api(Api::Invoke), Api::Converse);
        assert_eq!(p.api(Api::Converse), Api::Converse);
        assert_eq!(p.capabilities(PROFILE, Api::Invoke), GENERIC_CONVERSE);
        assert!(p.needs_listing());
        let nova = ModelRef::Family(ModelFamily::AmazonNova);
        assert_eq!(nova.api(Api::Invoke), Api::Invoke);
    }
}
