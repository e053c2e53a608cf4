//! What a session cost: a price table per model id (USD per 1,000 input,
//! output, cache-read and cache-write tokens), built in (`table`) and
//! replaced or extended by `SPILLWAY_PRICES_FILE`.
//!
//! A model id is looked up as given, then as its base model (an ARN's
//! resource id, a cross-region profile prefix such as `us.`, `eu.` or
//! `global.` dropped), so profiles cost what their base model costs unless
//! the file prices the profile id itself.

mod table;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::upstream::Usage;
use crate::upstream::models::base_model_id;

/// USD per 1,000 tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cache reads; the input price when the model has none.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache writes; the input price when the model has none.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// `usage.costUsd` is rounded to this many USD: finer than any price of a
/// token, coarse enough to drop the sums' float noise (`5.4e-5`, not
/// `0.000054000000000000005`).
const USD_PRECISION: f64 = 1e-10;

/// `usd` to the nearest [`USD_PRECISION`]. Divided, not multiplied, by the
/// exact `1 / USD_PRECISION`: the nearest `f64` to the rounded decimal.
fn round_usd(usd: f64) -> f64 {
    const PER_USD: f64 = 1.0 / USD_PRECISION;
    (usd * PER_USD).round() / PER_USD
}

impl Price {
    /// What `usage` costs in USD, rounded to [`USD_PRECISION`]: every API
    /// shows this one number.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let per_1k = |tokens: u64, price: f64| tokens as f64 * price / 1000.0;
        round_usd(
            per_1k(usage.input_tokens, self.input)
                + per_1k(usage.output_tokens, self.output)
                + per_1k(
                    usage.cache_read_input_tokens.unwrap_or(0),
                    self.cache_read.unwrap_or(self.input),
                )
                + per_1k(
                    usage.cache_write_input_tokens.unwrap_or(0),
                    self.cache_write.unwrap_or(self.input),
                ),
        )
    }

    /// Every price a finite number, none negative.
    fn check(&self) -> Result<(), String> {
        let prices = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cacheRead", self.cache_read),
            ("cacheWrite", self.cache_write),
        ];
        for (name, price) in prices {
            if let Some(p) = price
                && !(p.is_finite() && p >= 0.0)
            {
                return Err(format!(
                    "{name} must be a number of USD, not negative (got {p})"
                ));
            }
        }
        Ok(())
    }
}

/// Prices by model id. Cheap to share behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    by_model: HashMap<String, Price>,
}

impl Default for Prices {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Prices {
    /// The built-in table (see `table`).
    pub fn builtin() -> Self {
        Self {
            by_model: table::builtin().collect(),
        }
    }

    /// The built-in table with the entries of the JSON `text`
    /// (`{"MODEL_ID": {"input", "output", "cacheRead"?, "cacheWrite"?}}`) replacing or added.
    pub fn with_overrides(text: &str) -> Result<Self, String> {
        let file: HashMap<String, Price> = serde_json::from_str(text).map_err(|e| {
            format!(
                "must be a JSON object {{\"MODEL_ID\": {{\"input\": x, \"output\": y, \"cacheRead\": z, \"cacheWrite\": w}}}} of USD per 1,000 tokens: {e}"
            )
        })?;
        let mut prices = Self::builtin();
        for (model, price) in file {
            if model.trim().is_empty() {
                return Err("a model id must not be empty".into());
            }
            price.check().map_err(|e| format!("{model}: {e}"))?;
            prices.by_model.insert(model, price);
        }
        Ok(prices)
    }

    /// [`Prices::with_overrides`] of the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::with_overrides(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Price each application inference profile as the model it routes to,
    /// unless it has an entry of its own.
    pub fn with_profiles<'a>(
        mut self,
        profiles: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Self {
        for (profile, model) in profiles {
            if !self.by_model.contains_key(profile)
                && let Some(price) = self.price(model).cloned()
            {
                self.by_model.insert(profile.clone(), price);
            }
        }
        self
    }

    /// The price of `model_id`: its own entry, else its base model's.
    pub fn price(&self, model_id: &str) -> Option<&Price> {
        self.by_model
            .get(model_id)
            .or_else(|| base_model_id(model_id).and_then(|base| self.by_model.get(base)))
    }

    /// What `usage` of `model_id` cost, when the model has a price.
    pub fn cost(&self, model_id: &str, usage: &Usage) -> Option<f64> {
        self.price(model_id).map(|p| p.cost(usage))
    }
}

/// USD as whole nano-dollars for the per-user daily counter, rounded up
/// (so many small sessions are never free).
pub fn nano_usd(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        // Saturates at u64::MAX for absurd amounts.
        (usd * 1e9).ceil() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, read: Option<u64>, write: Option<u64>) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_input_tokens: read,
            cache_write_input_tokens: write,
            cost_usd: None,
        }
    }

    #[test]
    fn profiles_and_arns_cost_what_the_base_model_costs() {
        let p = Prices::builtin();
        let base = p.price("anthropic.claude-haiku-4-5-20251001-v1:0").copied();
        assert!(base.is_some());
        for id in [
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
        ] {
            assert_eq!(p.price(id).copied(), base, "{id}");
        }
        assert!(p.price("us.amazon.nova-premier-v1:0").is_none());
        assert!(p.price("nonsense").is_none());
    }

    #[test]
    fn cost_counts_every_kind_of_token() {
        let price = Price {
            input: 1.0,
            output: 5.0,
            cache_read: Some(0.1),
            cache_write: Some(1.25),
        };
        let c = price.cost(&usage(1000, 2000, Some(10_000), Some(4000)));
        assert!((c - (1.0 + 10.0 + 1.0 + 5.0)).abs() < 1e-9, "{c}");
        // No cache prices: cache tokens at the input price.
        let plain = Price {
            cache_read: None,
            cache_write: None,
            ..price
        };
        let c = plain.cost(&usage(0, 0, Some(1000), Some(1000)));
        assert!((c - 2.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn costs_carry_no_float_noise() {
        let price = |input, output| Price {
            input,
            output,
            cache_read: None,
            cache_write: None,
        };
        // Unrounded, these sums are 0.000054000000000000005,
        // 0.00025499999999999996 and 7.200000000000001e-7.
        for (p, (i, o), usd) in [
            (price(0.001, 0.005), (4, 10), 0.000054_f64),
            (price(0.00025, 0.00125), (11, 41), 0.000054),
            (price(0.001, 0.005), (15, 48), 0.000255),
            (price(0.00006, 0.00024), (4, 2), 0.00000072),
        ] {
            let c = p.cost(&usage(i, o, None, None));
            assert_eq!(
                c.to_bits(),
                usd.to_bits(),
                "{c:?} for {p:?}, {i} in, {o} out"
            );
            assert_eq!(
                serde_json::json!(c).to_string(),
                serde_json::json!(usd).to_string()
            );
        }
        // To the nearest 1e-10 USD.
        let tiny = price(0.0, 0.00000004);
        assert_eq!(tiny.cost(&usage(0, 3, None, None)), 1e-10);
        assert_eq!(tiny.cost(&usage(0, 1, None, None)), 0.0);
        assert_eq!(
            price(1.0, 0.0).cost(&usage(123_456_789, 0, None, None)),
            123_456.789
        );
    }

    #[test]
    fn every_known_model_with_a_price_is_in_the_known_list() {
        let p = Prices::builtin();
        for id in p.by_model.keys() {
            assert!(
                crate::upstream::models::KNOWN_MODELS
                    .iter()
                    .any(|k| base_model_id(k) == Some(id.as_str())),
                "{id} is not a known model"
            );
        }
        for id in crate::upstream::models::KNOWN_MODELS {
            let priced = p.price(id).is_some();
            let left_out = [
                "nova-premier",
                "nova-2-lite",
                "titan-text-premier",
                "claude-opus-4-5",
                "claude-opus-4-6",
                "claude-opus-4-7",
                "claude-opus-4-8",
                "claude-sonnet-4-6",
                "claude-sonnet-5",
            ]
            .iter()
            .any(|m| id.contains(m));
            assert_eq!(priced, !left_out, "{id}");
        }
    }

    #[test]
    fn overrides_replace_and_extend() {
        let p = Prices::with_overrides(
            r#"{"amazon.nova-lite-v1:0": {"input": 1, "output": 2},
                "us.amazon.nova-premier-v1:0": {"input": 0.0025, "output": 0.0125, "cacheRead": 0, "cacheWrite": 0.0025}}"#,
        )
        .unwrap();
        assert_eq!(p.price("us.amazon.nova-lite-v1:0").unwrap().input, 1.0);
        assert_eq!(
            p.price("us.amazon.nova-premier-v1:0").unwrap().output,
            0.0125
        );
        assert!(p.price("amazon.nova-premier-v1:0").is_none());
        assert!(p.price("amazon.nova-pro-v1:0").is_some());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, says) in [
            ("not json", "must be a JSON object"),
            (r#"{"m": {"input": -1, "output": 2}}"#, "m: input must be"),
            (r#"{"m": {"input": "0.1", "output": 2}}"#, "invalid type"),
            (r#"{"m": {"input": 1}}"#, "missing field `output`"),
            (
                r#"{"m": {"input": 1, "output": 1, "cache_read": 1}}"#,
                "unknown field",
            ),
            (r#"{"": {"input": 1, "output": 1}}"#, "must not be empty"),
            (r#"[1]"#, "must be a JSON object"),
        ] {
            let e = Prices::with_overrides(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        let e = Prices::load(Path::new("/nonexistent/prices.json")).unwrap_err();
        assert!(e.contains("cannot read /nonexistent/prices.json"), "{e}");
    }

    #[test]
    fn nano_usd_rounds_up_and_ignores_nonsense() {
        assert_eq!(nano_usd(0.000_000_000_1), 1);
        assert_eq!(nano_usd(1.5), 1_500_000_000);
        assert_eq!(nano_usd(-1.0), 0);
        assert_eq!(nano_usd(f64::NAN), 0);
    }
}
