//! GraphQL over HTTP (graphql.org's "Serving over HTTP" and the
//! GraphQL-over-HTTP draft): one request per `POST` body, or in a `GET`'s
//! query string (`query`, and `variables` / `operationName` / `extensions`,
//! the JSON ones JSON-encoded), as urql's default client and Apollo's GET
//! modes send queries. Both run as the bearer token's principal (a `GET`
//! with a request in it is not an open route: `auth::gate`).
//!
//! - A `GET` runs queries only: a mutation or a subscription is `405` with
//!   `Allow: POST` (the spec: a GET must not change anything).
//! - Automatic persisted queries (Apollo's APQ) are not served: a request
//!   that names a `persistedQuery` and sends no document gets
//!   `PersistedQueryNotSupported`, on which Apollo's link stops hashing and
//!   sends full documents. (async-graphql's APQ extension would bring a
//!   second `sha2` and `lru` into the tree and keep a cache per node.)
//! - Answers are `application/graphql-response+json` to a client whose
//!   `Accept` lists it, `application/json` otherwise (the spec's legacy
//!   watershed: a client that does not ask may not know the new type).

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::GqlSchema;
use super::limits::{self, coded};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The media type of the GraphQL-over-HTTP spec.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// How the request came: a `GET` may only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Get,
    Post,
}

/// Run one GraphQL request as `principal` and answer it.
///
/// Refused before execution, each as `200` with GraphQL's `errors` (one
/// path for every refused document, as clients such as Apollo's `HttpLink`
/// turn a non-2xx answer into a network error): a document over
/// `SPILLWAY_GRAPHQL_MAX_DOCUMENT_BYTES` (before parsing), a persisted
/// query without its document, and — on a `GET` — a document that does not
/// parse. A `GET` of a mutation or subscription is `405`.
pub(super) async fn run(
    state: AppState,
    schema: &GqlSchema,
    principal: Principal,
    headers: &HeaderMap,
    mut req: Request,
    via: Via,
) -> Response {
    if let Err(e) = limits::check_document(&req.query, state.graphql_max_document_bytes) {
        return respond(headers, async_graphql::Response::from_errors(vec![e]));
    }
    if let Some(e) = persisted_query_refusal(&req) {
        return respond(headers, async_graphql::Response::from_errors(vec![e]));
    }
    if via == Via::Get {
        let name = req.operation_name.clone();
        // Parsed once: execution uses the parse the request keeps.
        let kind = match req.parsed_query() {
            Ok(doc) => selected_operation(doc, name.as_deref()),
            Err(e) => return respond(headers, async_graphql::Response::from_errors(vec![e])),
        };
        if let Some(kind @ (OperationType::Mutation | OperationType::Subscription)) = kind {
            return get_not_allowed(headers, kind);
        }
    }
    let req = req.data(state).data(principal);
    respond(headers, schema.execute(req).await)
}

/// The GraphQL request in a `POST` body: one JSON object
/// (`{"query","operationName"?,"variables"?,"extensions"?}`), whatever the
/// content type says (as on every route: `curl -d` says form data), except
/// the two that say the body is something else: `application/graphql` (a
/// bare document, which the GraphQL-over-HTTP spec dropped) and
/// `multipart/*` (file uploads; the schema takes none) are `415`. Past the
/// body limit is `413`; a body that is not JSON, not a request object, or a
/// batch (an array) is `400`.
pub(super) fn read_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Request, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if let Some(t) =
        media_type.filter(|t| t == "application/graphql" || t.starts_with("multipart/"))
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "{t} is not taken here: send application/json, {{\"query\": \"…\", \"variables\": {{…}}}}"
        )));
    }
    let bytes = crate::http::body_bytes(body)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(ApiError::BadRequest(
            "batched requests are not supported: send one operation per request".into(),
        ));
    }
    crate::http::parse_json(Ok(bytes))
}

/// The GraphQL request in a `GET`'s query string: `query` and
/// `operationName` as they are, `variables` and `extensions` as JSON text
/// (objects). A parameter that does not decode, or JSON that is not an
/// object, is `400`, as a `POST` body that is not a request.
pub(super) fn read_query(uri: &Uri) -> Result<Request, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        #[serde(default)]
        query: String,
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let params = axum::extract::Query::<Params>::try_from_uri(uri)
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))?
        .0;
    let object = |name: &str, text: Option<String>| -> Result<Map<String, Value>, ApiError> {
        match text.as_deref().map(str::trim) {
            None | Some("") => Ok(Map::new()),
            Some(text) => match serde_json::from_str(text) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(Value::Null) => Ok(Map::new()),
                Ok(_) => Err(ApiError::BadRequest(format!(
                    "the {name} parameter must be a JSON object"
                ))),
                Err(e) => Err(ApiError::BadRequest(format!(
                    "the {name} parameter is not JSON: {e}"
                ))),
            },
        }
    };
    let variables = object("variables", params.variables)?;
    let extensions = object("extensions", params.extensions)?;
    let request = serde_json::json!({
        "query": params.query,
        "operationName": params.operation_name,
        "variables": variables,
        "extensions": extensions,
    });
    serde_json::from_value(request)
        .map_err(|e| ApiError::BadRequest(format!("invalid GraphQL request: {e}")))
}

/// Apollo's automatic persisted queries, refused the way Apollo's link
/// understands: a request with `extensions.persistedQuery` and no document
/// gets `PersistedQueryNotSupported` (`PERSISTED_QUERY_NOT_SUPPORTED`), and
/// the link sends the full document from then on. A request that sends its
/// document too runs as usual (the hash is not needed to run it).
fn persisted_query_refusal(req: &Request) -> Option<ServerError> {
    (req.extensions.contains_key("persistedQuery") && req.query.trim().is_empty()).then(|| {
        coded(
            "PERSISTED_QUERY_NOT_SUPPORTED",
            "PersistedQueryNotSupported".into(),
            None,
        )
    })
}

/// The kind of the operation a request runs, when the document and
/// `operationName` pick one (otherwise execution says why not).
fn selected_operation(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match &doc.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, op)| op.node.ty),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
            None => None,
        },
    }
}

/// `405` for a mutation or subscription sent by `GET`, with `Allow: POST`
/// and GraphQL's `errors` (the spec asks for the status; the body tells a
/// GraphQL client why).
fn get_not_allowed(headers: &HeaderMap, kind: OperationType) -> Response {
    let message = match kind {
        OperationType::Subscription => {
            "subscriptions are not served over GET: subscribe over WebSocket on /graphql \
             (graphql-transport-ws or graphql-ws)"
        }
        _ => "mutations are not allowed over GET: send them with POST",
    };
    let error = coded(ErrorCode::MethodNotAllowed.as_str(), message.into(), None);
    let mut res = respond(headers, async_graphql::Response::from_errors(vec![error]));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// A GraphQL response in the media type the client accepts.
fn respond(headers: &HeaderMap, resp: async_graphql::Response) -> Response {
    let mut res = GraphQLResponse::from(resp).into_response();
    let media_type = if accepts_graphql_response(headers) {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    res
}

/// Whether `Accept` lists `application/graphql-response+json` (with a
/// quality above 0). Wildcards do not count: a client that does not name
/// the type gets `application/json`, which every client reads.
fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let is_it = parts
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON));
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, q)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            is_it && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        accepts_graphql_response(&h)
    }

    #[test]
    fn the_graphql_response_type_is_given_to_clients_that_name_it() {
        assert!(accept("application/graphql-response+json"));
        assert!(accept(
            "application/graphql-response+json, application/json;q=0.9"
        ));
        assert!(accept(
            "application/json, Application/GraphQL-Response+JSON; q=0.5"
        ));
        assert!(!accept("application/json"));
        assert!(!accept("*/*"));
        assert!(!accept("application/graphql-response+json;q=0"));
        assert!(!accepts_graphql_response(&HeaderMap::new()));
    }

    fn get(q: &str) -> Result<Request, ApiError> {
        read_query(&format!("/graphql?{q}").parse().unwrap())
    }

    #[test]
    fn get_requests_are_read_from_the_query_string() {
        let r = get("query=%7Bmodels%7D&operationName=M&variables=%7B%22a%22%3A1%7D&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D").unwrap();
        assert_eq!(r.query, "{models}");
        assert_eq!(r.operation_name.as_deref(), Some("M"));
        assert_eq!(
            r.variables.into_value().into_json().unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(r.extensions.contains_key("persistedQuery"));
        let r = get("query=%7Bmodels%7D&variables=&variables=null").unwrap_err();
        assert!(matches!(r, ApiError::BadRequest(_)), "a repeated parameter");
        assert!(get("query=%7Bmodels%7D&variables=null").is_ok());
        for bad in [
            "query=x&variables=%5B1%5D",
            "query=x&variables=%7B",
            "query=x&extensions=1",
        ] {
            assert!(matches!(get(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn the_selected_operation_decides_what_a_get_may_run() {
        let kind = |q: &str, name: Option<&str>| {
            selected_operation(&async_graphql::parser::parse_query(q).unwrap(), name)
        };
        assert_eq!(kind("{ models }", None), Some(OperationType::Query));
        assert_eq!(
            kind("mutation { cancelStream(sessionId: \"x\") }", None),
            Some(OperationType::Mutation)
        );
        let two = "query Q { models } mutation M { cancelStream(sessionId: \"x\") }";
        assert_eq!(kind(two, Some("Q")), Some(OperationType::Query));
        assert_eq!(kind(two, Some("M")), Some(OperationType::Mutation));
        assert_eq!(kind(two, None), None);
        assert_eq!(kind(two, Some("X")), None);
    }

    #[test]
    fn a_persisted_query_without_its_document_is_refused_the_apollo_way() {
        let mut req = Request::new("");
        assert!(persisted_query_refusal(&req).is_none());
        req.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(serde_json::json!({"version": 1, "sha256Hash": "ab"}))
                .unwrap(),
        );
        let e = persisted_query_refusal(&req).unwrap();
        assert_eq!(e.message, "PersistedQueryNotSupported");
        req.query = "{ models }".into();
        assert!(persisted_query_refusal(&req).is_none());
    }
}
