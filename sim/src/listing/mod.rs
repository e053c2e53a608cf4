//! The control-plane listings drawn from the model table (`catalog`).
//!
//! ARNs name the caller's region, read from the SigV4 credential scope
//! (`Credential=AKID/20260101/eu-west-1/bedrock/aws4_request`); a bearer
//! token or no `Authorization` means [`DEFAULT_REGION`]. Query parameters
//! are matched as sent (the values Bedrock takes need no percent-decoding).

mod models;
mod profiles;

pub(crate) use models::foundation_models;
pub(crate) use profiles::inference_profiles;

/// The region of ARNs when the request does not say.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// The account of inference-profile ARNs (AWS's documentation example).
const ACCOUNT: &str = "123456789012";

/// A request's query parameters, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .unwrap_or_default()
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) => (key.to_owned(), value.to_owned()),
                    None => (pair.to_owned(), String::new()),
                })
                .collect(),
        )
    }

    /// The last value of `key`.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The region of a SigV4 `Authorization` header's credential scope.
pub(crate) fn region(authorization: Option<&str>) -> &str {
    authorization
        .and_then(|auth| auth.split_once("Credential="))
        .and_then(|(_, rest)| rest.split(['/', ',', ' ']).nth(2))
        .filter(|region| {
            !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or(DEFAULT_REGION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_the_credential_scope() {
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/bedrock/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(region(Some(sigv4)), "eu-west-1");
        assert_eq!(region(Some("Bearer abc")), DEFAULT_REGION);
        assert_eq!(region(Some("Credential=AKID")), DEFAULT_REGION);
        assert_eq!(region(Some("Credential=a/b/../c")), DEFAULT_REGION);
        assert_eq!(region(None), DEFAULT_REGION);
    }

    #[test]
    fn query_pairs() {
        let q = Query::parse(Some("byProvider=Anthropic&flag&maxResults=2&maxResults=3"));
        assert_eq!(q.get("byProvider"), Some("Anthropic"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("maxResults"), Some("3"));
        assert_eq!(q.get("nope"), None);
        assert_eq!(Query::parse(None), Query::default());
    }
}
