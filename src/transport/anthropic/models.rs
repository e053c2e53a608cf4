//! Anthropic model names as Bedrock model ids: a built-in alias table
//! (undated and dated names, to the cross-region inference profiles),
//! extended by `SPILLWAY_MODEL_ALIASES`; a Bedrock id is taken as it is.

use crate::config::ModelAliases;
use crate::upstream::model_id::is_application_profile;
use crate::upstream::models::ModelFamily;

/// Anthropic's name for a model, and the Bedrock id it is served by.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("claude-opus-4-8", OPUS_4_8),
    ("claude-opus-4-7", OPUS_4_7),
    ("claude-opus-4-6", OPUS_4_6),
    ("claude-sonnet-5", SONNET_5),
    ("claude-sonnet-4-6", SONNET_4_6),
    ("claude-opus-4-5", OPUS_4_5),
    ("claude-opus-4-5-20251101", OPUS_4_5),
    ("claude-sonnet-4-5", SONNET_4_5),
    ("claude-sonnet-4-5-20250929", SONNET_4_5),
    ("claude-haiku-4-5", HAIKU_4_5),
    ("claude-haiku-4-5-20251001", HAIKU_4_5),
    ("claude-opus-4-1", OPUS_4_1),
    ("claude-opus-4-1-20250805", OPUS_4_1),
    ("claude-opus-4-0", OPUS_4),
    ("claude-opus-4-20250514", OPUS_4),
    ("claude-sonnet-4-0", SONNET_4),
    ("claude-sonnet-4-20250514", SONNET_4),
    ("claude-3-7-sonnet-latest", SONNET_3_7),
    ("claude-3-7-sonnet-20250219", SONNET_3_7),
    ("claude-3-5-sonnet-latest", SONNET_3_5),
    ("claude-3-5-sonnet-20241022", SONNET_3_5),
    ("claude-3-5-haiku-latest", HAIKU_3_5),
    ("claude-3-5-haiku-20241022", HAIKU_3_5),
    ("claude-3-haiku-20240307", HAIKU_3),
];

// The Bedrock ids of the undated names are the ones Claude Code maps them to
// (its model table's `provider_ids.bedrock`).
const OPUS_4_8: &str = "us.anthropic.claude-opus-4-8";
const OPUS_4_7: &str = "us.anthropic.claude-opus-4-7";
const OPUS_4_6: &str = "us.anthropic.claude-opus-4-6-v1";
const SONNET_5: &str = "us.anthropic.claude-sonnet-5";
const SONNET_4_6: &str = "us.anthropic.claude-sonnet-4-6";
const OPUS_4_5: &str = "global.anthropic.claude-opus-4-5-20251101-v1:0";
const SONNET_4_5: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_4_5: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
const OPUS_4_1: &str = "us.anthropic.claude-opus-4-1-20250805-v1:0";
const OPUS_4: &str = "us.anthropic.claude-opus-4-20250514-v1:0";
const SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const SONNET_3_7: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const SONNET_3_5: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const HAIKU_3_5: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// The suffix Claude Code gives a model name to ask for its 1M-token context.
const ONE_M_SUFFIX: &str = "[1m]";

/// The beta flag that turns the 1M-token context on.
pub const ONE_M_BETA: &str = "context-1m-2025-08-07";

/// A model name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The Bedrock model id.
    pub model_id: String,
    /// The name had the `[1m]` suffix: the 1M-context beta flag is wanted.
    pub one_m: bool,
}

/// The Bedrock id for `name`: a configured alias, a built-in one, or a
/// Bedrock id of a known family or an application-inference-profile ARN
/// (admitted or not by the model policy); `None` for a name none of these know.
pub fn resolve(name: &str, extra: &ModelAliases) -> Option<Resolved> {
    let trimmed = name.trim();
    let (base, one_m) = match trimmed
        .len()
        .checked_sub(ONE_M_SUFFIX.len())
        .and_then(|at| trimmed.get(at..).map(|tail| (at, tail)))
    {
        Some((at, tail)) if tail.eq_ignore_ascii_case(ONE_M_SUFFIX) => (&trimmed[..at], true),
        _ => (trimmed, false),
    };
    let model_id = extra
        .0
        .get(base)
        .map(String::as_str)
        .or_else(|| BUILT_IN.iter().find(|(a, _)| *a == base).map(|(_, id)| *id))
        .or_else(|| {
            (ModelFamily::from_model_id(base).is_some() || is_application_profile(base))
                .then_some(base)
        })?;
    Some(Resolved {
        model_id: model_id.to_owned(),
        one_m,
    })
}

/// Whether a request is the Anthropic SDK's (`anthropic-version` is on
/// every request it sends): `GET /v1/models` then answers in its shape.
pub fn is_anthropic(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// The dated names of the built-in table whose model `admitted` takes, as
/// Anthropic's model objects (newest first, as Anthropic lists them).
pub fn listing(admitted: impl Fn(&str) -> bool) -> Vec<serde_json::Value> {
    let mut models: Vec<serde_json::Value> = BUILT_IN
        .iter()
        .filter(|(name, id)| dated(name).is_some() && admitted(id))
        .filter_map(|(name, _)| object(name))
        .collect();
    models.sort_by(|a, b| b["created_at"].as_str().cmp(&a["created_at"].as_str()));
    models
}

/// `GET /v1/models` in Anthropic's page shape (one page: `has_more` false).
pub fn page(admitted: impl Fn(&str) -> bool) -> serde_json::Value {
    let data = listing(admitted);
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    serde_json::json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
}

/// `GET /v1/models/{name}`: the model object, when `name` resolves to a
/// model `admitted` takes.
pub fn retrieve(
    name: &str,
    extra: &ModelAliases,
    admitted: impl Fn(&str) -> bool,
) -> Option<serde_json::Value> {
    resolve(name, extra)
        .filter(|r| admitted(&r.model_id))
        .and_then(|_| object(name))
}

/// `name` (a dated name of the built-in table, or an alias of one) as
/// Anthropic's model object: `{"type":"model","id","display_name","created_at"}`.
pub fn object(name: &str) -> Option<serde_json::Value> {
    let id = if dated(name).is_some() {
        name
    } else {
        // An undated alias stands for the dated name of the same model.
        let target = BUILT_IN.iter().find(|(a, _)| *a == name)?.1;
        BUILT_IN
            .iter()
            .find(|(a, id)| *id == target && dated(a).is_some())?
            .0
    };
    let (base, date) = dated(id)?;
    Some(serde_json::json!({
        "type": "model",
        "id": id,
        "display_name": display_name(base),
        "created_at": format!("{}-{}-{}T00:00:00Z", &date[..4], &date[4..6], &date[6..]),
    }))
}

/// `claude-…-YYYYMMDD` as (`claude-…`, `YYYYMMDD`).
fn dated(name: &str) -> Option<(&str, &str)> {
    let (base, date) = name.rsplit_once('-')?;
    (date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit())).then_some((base, date))
}

/// `claude-sonnet-4-5` → `Claude Sonnet 4.5`, `claude-3-5-haiku` → `Claude 3.5 Haiku`.
fn display_name(base: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut number = false;
    for part in base.split('-') {
        let digits = part.bytes().all(|b| b.is_ascii_digit());
        match words.last_mut() {
            Some(last) if digits && number => {
                last.push('.');
                last.push_str(part);
            }
            _ => {
                let mut chars = part.chars();
                words.push(
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default(),
                );
            }
        }
        number = digits;
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_names_are_anthropics_model_objects() {
        let sonnet = object("claude-sonnet-4-5").unwrap();
        assert_eq!(sonnet["id"], "claude-sonnet-4-5-20250929");
        assert_eq!(sonnet["display_name"], "Claude Sonnet 4.5");
        assert_eq!(sonnet["created_at"], "2025-09-29T00:00:00Z");
        assert_eq!(
            object("claude-3-5-haiku-20241022").unwrap()["display_name"],
            "Claude 3.5 Haiku"
        );
        assert_eq!(
            object("claude-opus-4-20250514").unwrap()["display_name"],
            "Claude Opus 4"
        );
        assert_eq!(object("claude-9"), None);
        let all = listing(|_| true);
        assert_eq!(all[0]["id"], "claude-opus-4-5-20251101", "newest first");
        assert!(listing(|id| id.contains("haiku-4-5")).len() == 1);
    }
    use crate::upstream::models::KNOWN_MODELS;

    fn none() -> ModelAliases {
        ModelAliases::default()
    }

    #[test]
    fn built_in_names_map_to_known_claude_ids() {
        for (alias, id) in BUILT_IN {
            assert_eq!(
                ModelFamily::from_model_id(id),
                Some(ModelFamily::AnthropicClaude),
                "{alias}"
            );
            assert!(
                KNOWN_MODELS.contains(id) || *id == OPUS_4,
                "{alias} -> {id} is not a known model"
            );
        }
        assert_eq!(
            resolve("claude-sonnet-4-5", &none()).unwrap().model_id,
            SONNET_4_5
        );
    }

    #[test]
    fn one_m_suffix_is_stripped_and_remembered() {
        let r = resolve("claude-sonnet-4-5-20250929[1m]", &none()).unwrap();
        assert_eq!(
            r,
            Resolved {
                model_id: SONNET_4_5.into(),
                one_m: true
            }
        );
        assert!(resolve("claude-sonnet-4-0[1M]", &none()).unwrap().one_m);
        assert!(!resolve("claude-sonnet-4-0", &none()).unwrap().one_m);
        assert_eq!(resolve("[1m]", &none()), None);
        assert_eq!(resolve("é[1m]", &none()), None);
    }

    #[test]
    fn configured_aliases_win_and_bedrock_ids_pass() {
        let mut extra = none();
        extra
            .0
            .insert("claude-haiku-4-5".into(), "us.amazon.nova-lite-v1:0".into());
        extra.0.insert("fast".into(), HAIKU_3.into());
        assert_eq!(
            resolve("claude-haiku-4-5", &extra).unwrap().model_id,
            "us.amazon.nova-lite-v1:0"
        );
        assert_eq!(resolve("fast", &extra).unwrap().model_id, HAIKU_3);
        assert_eq!(
            resolve("meta.llama3-8b-instruct-v1:0", &none())
                .unwrap()
                .model_id,
            "meta.llama3-8b-instruct-v1:0"
        );
        assert_eq!(resolve("claude-9-ultra", &none()), None);
        assert_eq!(resolve("", &none()), None);
    }
}
