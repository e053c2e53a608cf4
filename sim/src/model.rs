//! Model ids: strip ARN and cross-region prefixes and recognise the family.

/// The model families the simulator answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Anthropic Claude, Messages API (`anthropic.`).
    Claude,
    /// Amazon Nova, `messages-v1` schema (`amazon.nova`).
    Nova,
    /// Amazon Titan Text (`amazon.titan-text`).
    Titan,
    /// Meta Llama (`meta.llama`).
    Llama,
    /// Mistral (`mistral.`).
    Mistral,
    /// Cohere Command R / R+ (`cohere.command-r`).
    Cohere,
    /// DeepSeek R1 (`deepseek.`).
    DeepSeek,
}

/// A recognised model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Model {
    pub family: Family,
    /// The foundation-model id without ARN or cross-region prefix,
    /// e.g. `anthropic.claude-3-5-haiku-20241022-v1:0`.
    pub base: String,
}

/// ARN resource types whose remainder is a model id we can read.
const ARN_RESOURCES: [&str; 2] = ["inference-profile/", "foundation-model/"];

/// Cross-region inference-profile prefixes.
const REGION_PREFIXES: [&str; 8] = [
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
];

const FAMILY_PREFIXES: [(&str, Family); 7] = [
    ("anthropic.", Family::Claude),
    ("amazon.nova", Family::Nova),
    ("amazon.titan-text", Family::Titan),
    ("meta.llama", Family::Llama),
    ("mistral.", Family::Mistral),
    ("cohere.command-r", Family::Cohere),
    ("deepseek.", Family::DeepSeek),
];

impl Model {
    /// Recognises `id` (already percent-decoded), or `None` for an unknown family.
    pub(crate) fn recognise(id: &str) -> Option<Self> {
        let mut base = strip_arn(id);
        if let Some(rest) = REGION_PREFIXES.iter().find_map(|p| base.strip_prefix(p)) {
            base = rest;
        }
        let family = FAMILY_PREFIXES
            .iter()
            .find(|(prefix, _)| base.starts_with(prefix))
            .map(|(_, family)| *family)?;
        Some(Self {
            family,
            base: base.to_owned(),
        })
    }

    /// The short model name Anthropic reports, e.g. `claude-3-5-haiku-20241022`.
    pub(crate) fn claude_name(&self) -> &str {
        let name = self.base.strip_prefix("anthropic.").unwrap_or(&self.base);
        match name.rfind("-v") {
            Some(at) if is_version(&name[at + 2..]) => &name[..at],
            _ => name,
        }
    }
}

/// `arn:<partition>:bedrock:<region>:<account>:<resource>/<id>` → `<id>`.
fn strip_arn(id: &str) -> &str {
    if !id.starts_with("arn:") {
        return id;
    }
    let mut parts = id.splitn(6, ':');
    let (Some(_), Some(_), Some(_), Some(_), Some(_), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return id;
    };
    ARN_RESOURCES
        .iter()
        .find_map(|r| resource.strip_prefix(r))
        .unwrap_or(id)
}

/// Whether `id` is an application-inference-profile ARN
/// (`arn:<partition>:bedrock:<region>:<account>:application-inference-profile/<id>`).
/// Its model is opaque: only ConverseStream and Converse answer it, as a generic model.
pub(crate) fn is_application_profile(id: &str) -> bool {
    let fields: Vec<&str> = id.splitn(6, ':').collect();
    matches!(
        fields.as_slice(),
        ["arn", partition, "bedrock", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && resource
                    .strip_prefix("application-inference-profile/")
                    .is_some_and(|p| !p.is_empty() && !p.contains('/'))
    )
}

/// `1`, `2:0`, `1:0:200k`-style version suffixes.
fn is_version(s: &str) -> bool {
    let major = s.split(':').next().unwrap_or_default();
    !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(id: &str) -> Option<Family> {
        Model::recognise(id).map(|m| m.family)
    }

    #[test]
    fn recognises_each_family() {
        assert_eq!(
            family("anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some(Family::Claude)
        );
        assert_eq!(family("amazon.nova-pro-v1:0"), Some(Family::Nova));
        assert_eq!(family("amazon.titan-text-express-v1"), Some(Family::Titan));
        assert_eq!(
            family("meta.llama3-1-8b-instruct-v1:0"),
            Some(Family::Llama)
        );
        assert_eq!(
            family("mistral.mistral-large-2407-v1:0"),
            Some(Family::Mistral)
        );
        assert_eq!(family("cohere.command-r-plus-v1:0"), Some(Family::Cohere));
        assert_eq!(family("deepseek.r1-v1:0"), Some(Family::DeepSeek));
    }

    #[test]
    fn strips_region_and_arn_prefixes() {
        assert_eq!(family("us.amazon.nova-lite-v1:0"), Some(Family::Nova));
        assert_eq!(
            family("global.anthropic.claude-sonnet-4-20250514-v1:0"),
            Some(Family::Claude)
        );
        assert_eq!(
            family("us-gov.meta.llama3-2-1b-instruct-v1:0"),
            Some(Family::Llama)
        );
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.deepseek.r1-v1:0";
        let model = Model::recognise(arn).unwrap();
        assert_eq!(model.family, Family::DeepSeek);
        assert_eq!(model.base, "deepseek.r1-v1:0");
        let fm = "arn:aws:bedrock:eu-west-1::foundation-model/mistral.mistral-7b-instruct-v0:2";
        assert_eq!(family(fm), Some(Family::Mistral));
    }

    #[test]
    fn unknown_ids_are_refused() {
        assert_eq!(family("openai.gpt-oss-120b-1:0"), None);
        assert_eq!(family("amazon.titan-embed-text-v2:0"), None);
        assert_eq!(family("cohere.command-text-v14"), None);
        assert_eq!(
            family("arn:aws:bedrock:us-east-1:1:application-inference-profile/abc"),
            None
        );
        assert_eq!(family(""), None);
        assert_eq!(family("arn:"), None);
    }

    #[test]
    fn application_profiles_are_told_from_other_arns() {
        assert!(is_application_profile(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
        ));
        assert!(is_application_profile(
            "arn:aws-us-gov:bedrock:us-gov-west-1:1:application-inference-profile/x"
        ));
        for id in [
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/",
            "arn:aws:bedrock:us-east-1::application-inference-profile/abc",
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-lite-v1:0",
            "arn:aws:s3:us-east-1:1:application-inference-profile/abc",
            "application-inference-profile/abc",
            "amazon.nova-lite-v1:0",
        ] {
            assert!(!is_application_profile(id), "{id}");
        }
    }

    #[test]
    fn claude_name_drops_provider_and_version() {
        let m = Model::recognise("us.anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
        assert_eq!(m.claude_name(), "claude-3-5-sonnet-20241022");
        let m = Model::recognise("anthropic.claude-v2").unwrap();
        assert_eq!(m.claude_name(), "claude");
        let m = Model::recognise("anthropic.custom-thing").unwrap();
        assert_eq!(m.claude_name(), "custom-thing");
    }
}
