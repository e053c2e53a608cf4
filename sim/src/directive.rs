//! The `[[sim key=value …]]` prompt directive that selects a scenario.

use std::time::Duration;

/// The longest time to first token a directive may ask for.
const MAX_TTFT: Duration = Duration::from_secs(3600);

/// The most reasoning deltas a directive may ask for (they are held in memory
/// until the signature is issued).
const MAX_THINK: u32 = 8192;

/// The most tool calls a directive may ask for.
const MAX_TOOL_CALLS: usize = 64;

/// The most citations a directive may ask for.
const MAX_CITE: u32 = 1024;

/// A scenario, read from the prompt; the defaults give a normal answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Directive {
    /// Text tokens to generate (before the request's max-tokens cap).
    pub tokens: u32,
    /// Tokens per second; `0` sends as fast as possible.
    pub rate: f64,
    /// Delay before the first chunk (the response headers go out at once).
    pub ttft: Duration,
    /// Refuse the first K requests with this exact prompt with a throttling error.
    pub throttle: u64,
    /// After N tokens send a `modelStreamErrorException` frame and end the body.
    pub error_after: Option<u32>,
    /// After N tokens send nothing more, keeping the connection open.
    pub stall_after: Option<u32>,
    /// After N tokens send part of a frame, then abort the connection.
    pub drop_after: Option<u32>,
    /// `tool=NAME[,NAME2]`: the answer calls these tools of the request
    /// (`None`: not given; `tool=` with no names gives an empty list).
    pub tool: Option<Vec<String>>,
    /// `think=N`: reasoning deltas before the answer (`None`: the request decides).
    pub think: Option<u32>,
    /// `unavailable=TEXT`: a request for a model id containing `TEXT` gets
    /// `ServiceUnavailableException` before any stream starts.
    pub unavailable: Option<String>,
    /// `cite=N`: N citations of the request's citable documents.
    pub cite: Option<u32>,
    /// `guardrail=N`: the request's guardrail intervenes after N text tokens.
    pub guardrail: Option<u32>,
}

impl Default for Directive {
    fn default() -> Self {
        Self {
            tokens: 40,
            rate: 200.0,
            ttft: Duration::from_millis(20),
            throttle: 0,
            error_after: None,
            stall_after: None,
            drop_after: None,
            tool: None,
            think: None,
            unavailable: None,
            cite: None,
            guardrail: None,
        }
    }
}

impl Directive {
    /// Reads every `[[sim …]]` directive in `text`, later keys overriding
    /// earlier ones. Unknown keys and unreadable values are ignored.
    pub(crate) fn from_text(text: &str) -> Self {
        let mut directive = Self::default();
        let mut rest = text;
        while let Some(at) = rest.find("[[sim") {
            let after = &rest[at + "[[sim".len()..];
            let opens_directive =
                after.starts_with("]]") || after.chars().next().is_some_and(char::is_whitespace);
            if !opens_directive {
                rest = after;
                continue;
            }
            let Some(end) = after.find("]]") else { break };
            for pair in after[..end].split_whitespace() {
                if let Some((key, value)) = pair.split_once('=') {
                    directive.apply(key, value);
                }
            }
            rest = &after[end + 2..];
        }
        directive
    }

    fn apply(&mut self, key: &str, value: &str) {
        match key {
            "tokens" => set(&mut self.tokens, count(value)),
            "rate" => set(&mut self.rate, rate(value)),
            "ttft_ms" => set(
                &mut self.ttft,
                value
                    .parse::<u64>()
                    .ok()
                    .map(|ms| Duration::from_millis(ms).min(MAX_TTFT)),
            ),
            "throttle" => set(&mut self.throttle, value.parse::<u64>().ok()),
            "error_after" => set(&mut self.error_after, count(value).map(Some)),
            "stall_after" => set(&mut self.stall_after, count(value).map(Some)),
            "drop_after" => set(&mut self.drop_after, count(value).map(Some)),
            "tool" => {
                let names = value
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .take(MAX_TOOL_CALLS);
                self.tool = Some(names.map(str::to_owned).collect());
            }
            "think" => set(
                &mut self.think,
                count(value).map(|n| Some(n.min(MAX_THINK))),
            ),
            "unavailable" => self.unavailable = Some(value.to_owned()).filter(|t| !t.is_empty()),
            "cite" => set(&mut self.cite, count(value).map(|n| Some(n.min(MAX_CITE)))),
            "guardrail" => set(&mut self.guardrail, count(value).map(Some)),
            _ => {}
        }
    }

    /// Whether `model_id` (as the request named it) is one `unavailable=TEXT` refuses.
    pub(crate) fn refuses_model(&self, model_id: &str) -> bool {
        self.unavailable
            .as_deref()
            .is_some_and(|text| model_id.contains(text))
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A non-negative count, saturating at `u32::MAX`.
fn count(value: &str) -> Option<u32> {
    value
        .parse::<u64>()
        .ok()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A finite, non-negative rate.
fn rate(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_directive_gives_defaults() {
        assert_eq!(
            Directive::from_text("Tell me about rivers."),
            Directive::default()
        );
        assert_eq!(Directive::default().tokens, 40);
        assert_eq!(Directive::default().rate, 200.0);
        assert_eq!(Directive::default().ttft, Duration::from_millis(20));
    }

    #[test]
    fn reads_every_key() {
        let d = Directive::from_text(
            "hello [[sim tokens=7 rate=0 ttft_ms=150 throttle=2 error_after=3 stall_after=4 drop_after=5 tool=a,b think=6 cite=2 guardrail=9]] world",
        );
        assert_eq!(
            d,
            Directive {
                tokens: 7,
                rate: 0.0,
                ttft: Duration::from_millis(150),
                throttle: 2,
                error_after: Some(3),
                stall_after: Some(4),
                drop_after: Some(5),
                tool: Some(vec!["a".to_owned(), "b".to_owned()]),
                think: Some(6),
                unavailable: None,
                cite: Some(2),
                guardrail: Some(9),
            }
        );
    }

    #[test]
    fn unavailable_matches_model_ids_containing_its_text() {
        let d = Directive::from_text("[[sim unavailable=claude-3-haiku]] hi");
        assert_eq!(d.unavailable.as_deref(), Some("claude-3-haiku"));
        assert!(d.refuses_model("anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(d.refuses_model(
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
        ));
        assert!(!d.refuses_model("amazon.nova-lite-v1:0"));
        assert!(!Directive::default().refuses_model("anything"));
        // An empty text refuses nothing (it would match every id).
        assert!(
            !Directive::from_text("[[sim unavailable=]]").refuses_model("amazon.nova-lite-v1:0")
        );
    }

    #[test]
    fn tool_lists_and_think_bounds() {
        let d = Directive::from_text("[[sim tool=get_weather,,lookup think=99999999]]");
        assert_eq!(
            d.tool,
            Some(vec!["get_weather".to_owned(), "lookup".to_owned()])
        );
        assert_eq!(d.think, Some(MAX_THINK));
        let cleared = Directive::from_text("[[sim tool=x]] [[sim tool= think=-1]]");
        assert_eq!(cleared.tool, Some(Vec::new()));
        assert_eq!(cleared.think, None);
        let many = Directive::from_text(&format!("[[sim tool={}]]", ["t"; 500].join(",")));
        assert_eq!(many.tool.map(|t| t.len()), Some(MAX_TOOL_CALLS));
    }

    #[test]
    fn subset_keeps_other_defaults_and_ignores_unknown_or_bad_values() {
        let d = Directive::from_text("[[sim tokens=12 colour=blue rate=-3 ttft_ms=abc bare]]");
        assert_eq!(
            d,
            Directive {
                tokens: 12,
                ..Directive::default()
            }
        );
    }

    #[test]
    fn fractional_rate_and_huge_values_are_bounded() {
        let d = Directive::from_text("[[sim rate=2.5 tokens=99999999999 ttft_ms=99999999999]]");
        assert_eq!(d.rate, 2.5);
        assert_eq!(d.tokens, u32::MAX);
        assert_eq!(d.ttft, MAX_TTFT);
    }

    #[test]
    fn later_directives_override_and_lookalikes_are_ignored() {
        let d = Directive::from_text(
            "[[simple tokens=1]] [[sim tokens=2]]\n[[sim\ttokens=3 rate=10]] [[sim]]",
        );
        assert_eq!(d.tokens, 3);
        assert_eq!(d.rate, 10.0);
        let unterminated = Directive::from_text("[[sim tokens=9");
        assert_eq!(unterminated, Directive::default());
    }
}
