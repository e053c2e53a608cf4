//! The built-in price table: Amazon Bedrock on-demand prices, US East (N.
//! Virginia), in USD per 1,000 tokens: input, output, cache read, cache write.
//!
//! Source and date: docs/operating/cost.md. Models of the known-model list
//! whose price could not be confirmed are left out (their sessions have no
//! `costUsd` unless `SPILLWAY_PRICES_FILE` prices them): Amazon Nova Premier,
//! Amazon Nova 2 Lite, Amazon Titan Text Premier, Claude Opus 4.5 to 4.8,
//! Claude Sonnet 4.6 and Sonnet 5. Models without prompt
//! caching on Bedrock have no cache prices.

use super::Price;

/// `(base model id, input, output, cache read, cache write)`; `None` for no cache price.
type Row = (&'static str, f64, f64, Option<f64>, Option<f64>);

const ROWS: &[Row] = &[
    // Anthropic Claude: cache writes 1.25x input, cache reads 0.1x input.
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        0.000_25,
        0.001_25,
        None,
        None,
    ),
    (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        0.000_8,
        0.004,
        Some(0.000_08),
        Some(0.001),
    ),
    (
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        0.003,
        0.015,
        Some(0.000_3),
        Some(0.003_75),
    ),
    (
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        0.003,
        0.015,
        Some(0.000_3),
        Some(0.003_75),
    ),
    (
        "anthropic.claude-sonnet-4-20250514-v1:0",
        0.003,
        0.015,
        Some(0.000_3),
        Some(0.003_75),
    ),
    (
        "anthropic.claude-opus-4-1-20250805-v1:0",
        0.015,
        0.075,
        Some(0.001_5),
        Some(0.018_75),
    ),
    (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        0.003,
        0.015,
        Some(0.000_3),
        Some(0.003_75),
    ),
    (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        0.001,
        0.005,
        Some(0.000_1),
        Some(0.001_25),
    ),
    // Amazon Nova: cache reads 0.25x input; cache writes at the input price.
    (
        "amazon.nova-micro-v1:0",
        0.000_035,
        0.000_14,
        Some(0.000_008_75),
        Some(0.000_035),
    ),
    (
        "amazon.nova-lite-v1:0",
        0.000_06,
        0.000_24,
        Some(0.000_015),
        Some(0.000_06),
    ),
    (
        "amazon.nova-pro-v1:0",
        0.000_8,
        0.003_2,
        Some(0.000_2),
        Some(0.000_8),
    ),
    // Amazon Titan Text
    ("amazon.titan-text-express-v1", 0.000_2, 0.000_6, None, None),
    ("amazon.titan-text-lite-v1", 0.000_15, 0.000_2, None, None),
    // Meta Llama
    ("meta.llama3-8b-instruct-v1:0", 0.000_3, 0.000_6, None, None),
    (
        "meta.llama3-70b-instruct-v1:0",
        0.002_65,
        0.003_5,
        None,
        None,
    ),
    (
        "meta.llama3-1-8b-instruct-v1:0",
        0.000_22,
        0.000_22,
        None,
        None,
    ),
    (
        "meta.llama3-1-70b-instruct-v1:0",
        0.000_72,
        0.000_72,
        None,
        None,
    ),
    (
        "meta.llama3-2-3b-instruct-v1:0",
        0.000_15,
        0.000_15,
        None,
        None,
    ),
    (
        "meta.llama3-3-70b-instruct-v1:0",
        0.000_72,
        0.000_72,
        None,
        None,
    ),
    (
        "meta.llama4-scout-17b-instruct-v1:0",
        0.000_17,
        0.000_66,
        None,
        None,
    ),
    (
        "meta.llama4-maverick-17b-instruct-v1:0",
        0.000_24,
        0.000_97,
        None,
        None,
    ),
    // Mistral
    (
        "mistral.mistral-7b-instruct-v0:2",
        0.000_15,
        0.000_2,
        None,
        None,
    ),
    (
        "mistral.mixtral-8x7b-instruct-v0:1",
        0.000_45,
        0.000_7,
        None,
        None,
    ),
    ("mistral.mistral-small-2402-v1:0", 0.001, 0.003, None, None),
    ("mistral.mistral-large-2402-v1:0", 0.004, 0.012, None, None),
    // Cohere Command R
    ("cohere.command-r-v1:0", 0.000_5, 0.001_5, None, None),
    ("cohere.command-r-plus-v1:0", 0.003, 0.015, None, None),
    // DeepSeek
    ("deepseek.r1-v1:0", 0.001_35, 0.005_4, None, None),
];

/// The built-in rows as `(model id, price)`.
pub(super) fn builtin() -> impl Iterator<Item = (String, Price)> {
    ROWS.iter()
        .map(|&(id, input, output, cache_read, cache_write)| {
            (
                id.to_owned(),
                Price {
                    input,
                    output,
                    cache_read,
                    cache_write,
                },
            )
        })
}
