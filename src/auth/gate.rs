//! Deny by default: every request needs a valid token except the explicit
//! open list below. The verified `Principal` is put in the request's
//! extensions, where the extractor picks it up without verifying twice.

use axum::extract::{Query, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::Response;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::AuthError;
use super::extract::{api_key, bearer_token};
use crate::error::Shape;
use crate::state::AppState;

/// Routes that need no token, and why.
fn is_open(method: &Method, uri: &Uri) -> bool {
    match uri.path() {
        // Probes and scrapes.
        "/healthz" | "/readyz" | "/metrics" => true,
        // The web client's assets and public config.
        "/" | "/favicon.svg" | "/v1/config" => method == Method::GET,
        // GraphiQL and the GraphQL WebSocket upgrade (its token comes in
        // `connection_init`); a GET that carries a GraphQL request runs it,
        // and needs a token as a POST does.
        "/graphql" => method == Method::GET && !is_graphql_get_request(uri),
        // Dev mode: its JWKS, and the sign-in (loopback clients only, checked there).
        "/.well-known/jwks.json" => method == Method::GET,
        "/v1/dev/token" => method == Method::POST,
        path => {
            (method == Method::GET && path.starts_with("/assets/"))
                // CORS preflights carry no credentials by design.
                || method == Method::OPTIONS
        }
    }
}

/// Whether a `GET /graphql` query string carries a GraphQL request (a
/// `query`, or only `extensions`: an Apollo persisted-query hash) rather
/// than asking for GraphiQL. A query string that does not decode counts as
/// a request: it then needs a token, and is refused as a bad request.
pub fn is_graphql_get_request(uri: &Uri) -> bool {
    #[derive(Deserialize)]
    struct Params {
        query: Option<IgnoredAny>,
        extensions: Option<IgnoredAny>,
    }
    if uri.query().is_none_or(str::is_empty) {
        return false;
    }
    match Query::<Params>::try_from_uri(uri) {
        Ok(Query(p)) => p.query.is_some() || p.extensions.is_some(),
        Err(_) => true,
    }
}

/// `GET /v1/models` and `/v1/models/{id}`.
fn is_model_list(path: &str) -> bool {
    path == "/v1/models" || path.starts_with("/v1/models/")
}

/// The middleware: verify the token unless the route is open.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_open(req.method(), req.uri()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // A refusal in the route's own error shape (OpenAI's on its routes).
    let shape = Shape::of_route(parts.uri.path());
    // The model list is also the Anthropic SDK's `models.list()`, whose key
    // comes as `x-api-key`.
    let key = is_model_list(parts.uri.path())
        .then(|| api_key(&parts))
        .flatten();
    let token = match key.unwrap_or_else(|| bearer_token(&parts)) {
        Ok(token) => token,
        Err(AuthError::Missing) => return AuthError::Missing.response_in(shape),
        Err(e) => {
            tracing::debug!(reason = %e, "request refused");
            return e.response_in(shape);
        }
    };
    match state.verifier.verify(&token).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => {
            // The reason only: the token itself never reaches the logs.
            tracing::debug!(reason = %e, "request refused");
            e.response_in(shape)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_routes_are_open() {
        for (m, p) in [
            (Method::GET, "/healthz"),
            (Method::GET, "/metrics"),
            (Method::GET, "/"),
            (Method::GET, "/assets/app.js"),
            (Method::GET, "/graphql"),
            (Method::GET, "/graphql?token=t"),
            (Method::GET, "/graphql?"),
            (Method::POST, "/v1/dev/token"),
            (Method::OPTIONS, "/v1/stream"),
        ] {
            assert!(is_open(&m, &Uri::from_static(p)), "{m} {p}");
        }
        for (m, p) in [
            (Method::POST, "/v1/stream"),
            (Method::POST, "/graphql"),
            // A GraphQL request in a GET is run, as a POST is.
            (Method::GET, "/graphql?query=%7Bmodels%7D"),
            (Method::GET, "/graphql?operationName=M&query="),
            (Method::GET, "/graphql?extensions=%7B%7D&variables=%7B%7D"),
            (Method::GET, "/graphql?query=%FF"),
            (Method::GET, "/v1/sessions/x"),
            (Method::GET, "/v1/ws"),
            (Method::POST, "/@connections/x"),
            (Method::POST, "/v1/chat/completions"),
            (Method::GET, "/v1/models"),
            (Method::GET, "/anything/new"),
            (Method::POST, "/"),
        ] {
            assert!(!is_open(&m, &Uri::from_static(p)), "{m} {p}");
        }
    }
}
