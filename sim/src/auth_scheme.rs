//! Which credentials a request carried — SigV4, a bearer token (a Bedrock API
//! key), or neither — counted for `GET /sim/stats` `authSchemes`. The simulator
//! checks no credential; it only reports what clients sent.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use super::SimState;

/// Whether `path` is one of the simulator's own (`/sim/stats`,
/// `/sim/requests`), whose requests are not counted: reading what the
/// simulator saw is not a client call.
pub(crate) fn is_sim_path(path: &str) -> bool {
    path.starts_with("/sim/")
}

/// The scheme of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    /// `Authorization: AWS4-HMAC-SHA256 …`, or a presigned `X-Amz-Algorithm=AWS4-HMAC-SHA256` query.
    Sigv4,
    /// `Authorization: Bearer …`.
    Bearer,
    /// No `Authorization` header, or one of another scheme.
    None,
}

impl AuthScheme {
    pub(crate) fn of(headers: &HeaderMap, uri: &Uri) -> Self {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim_start)
            .unwrap_or_default();
        let scheme = auth.split_whitespace().next().unwrap_or_default();
        if scheme == "AWS4-HMAC-SHA256" {
            Self::Sigv4
        } else if scheme.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"))
        {
            Self::Sigv4
        } else {
            Self::None
        }
    }
}

/// Middleware: count the request's scheme, then serve it.
pub(crate) async fn count(State(state): State<SimState>, req: Request, next: Next) -> Response {
    if !is_sim_path(req.uri().path()) {
        let scheme = AuthScheme::of(req.headers(), req.uri());
        state.inner.counters.auth_scheme(scheme);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn scheme(auth: Option<&str>, uri: &str) -> AuthScheme {
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        AuthScheme::of(&headers, &uri.parse().unwrap())
    }

    #[test]
    fn reads_each_scheme() {
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(scheme(Some(sigv4), "/model/m/converse"), AuthScheme::Sigv4);
        assert_eq!(scheme(Some("Bearer ABSK123"), "/x"), AuthScheme::Bearer);
        assert_eq!(scheme(Some("bearer ABSK123"), "/x"), AuthScheme::Bearer);
        assert_eq!(scheme(None, "/x"), AuthScheme::None);
        assert_eq!(scheme(Some("Basic dXNlcjpwYXNz"), "/x"), AuthScheme::None);
        assert_eq!(scheme(Some(""), "/x"), AuthScheme::None);
        assert_eq!(
            scheme(
                None,
                "/model/m/invoke?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=1"
            ),
            AuthScheme::Sigv4
        );
    }
}
