//! Which error shape a path is answered in, and OpenAI's. An error that
//! comes before a route's handler — the token gate's `401`, a path no route
//! serves, a method the route does not take — takes the shape the route's
//! own errors have, so an SDK reads it as it reads the handler's: OpenAI's
//! `{"error":{"message","type","param","code"}}` on OpenAI's routes (the
//! transport's `OpenAiError` renders the same object from here), API
//! Gateway's (`x-amzn-ErrorType: GoneException`, `{"message"}`) on the
//! `@connections` management API, where boto3's `apigatewaymanagementapi`
//! raises `GoneException`, `ForbiddenException`…, Anthropic's on
//! `/v1/messages…`, Bedrock's on its API's paths, the gateway's
//! `{"error":{"code","message"}}` elsewhere. (The Anthropic and Bedrock
//! routes authenticate in their own extractors, in their own shapes.)

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ErrorCode, error_response};

/// The shape of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"error":{"code","message"}}`.
    Gateway,
    /// `{"error":{"message","type","param","code"}}`.
    OpenAi,
    /// API Gateway's management API: `x-amzn-ErrorType` names the
    /// exception ([`api_gateway_exception`]), the body is `{"message"}`.
    ApiGateway,
    /// Anthropic's `{"type":"error","error":{"type","message"}}`, with its
    /// status ([`crate::render::anthropic::error_type`]).
    Anthropic,
    /// Bedrock's: `x-amzn-ErrorType` names the exception
    /// ([`super::bedrock::Exception`]), the body is `{"message"}`.
    Bedrock,
}

/// Where Anthropic's Messages API is served.
const ANTHROPIC: &str = "/v1/messages";

/// The Bedrock API's paths: the runtime's and the listings of its
/// control plane the gateway serves (and their neighbours, which it does not).
const BEDROCK: &[&str] = &[
    "/model",
    "/foundation-models",
    "/inference-profiles",
    "/guardrail",
    "/guardrails",
    "/guardrail-checks",
    "/async-invoke",
];

/// Where the `@connections` management API is served.
const CONNECTIONS: &str = "/@connections";

/// What a refused token is told on the `@connections` API, after why: the
/// AWS SDKs sign with SigV4 unless told otherwise.
pub const CONNECTIONS_AUTH_HINT: &str = "the @connections API takes a bearer token of the admin \
    group (Authorization: Bearer <JWT>); AWS SigV4 signatures are not accepted";

impl Shape {
    /// The shape of the errors of the route at `path`: OpenAI's on
    /// `/v1/chat/completions`, `/v1/responses…` and `/v1/models…` (the
    /// OpenAI SDK's `models`; the Anthropic SDK reads the same object).
    pub fn of_route(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if path == "/v1/chat/completions" || under("/v1/responses") || under("/v1/models") {
            Shape::OpenAi
        } else if under(CONNECTIONS) {
            Shape::ApiGateway
        } else if under(ANTHROPIC) {
            Shape::Anthropic
        } else if BEDROCK.iter().any(|p| under(p)) {
            Shape::Bedrock
        } else {
            Shape::Gateway
        }
    }

    /// The shape of "no such route" at `path`: OpenAI's under `/v1/`, where
    /// an OpenAI SDK pointed here calls what the gateway does not serve
    /// (`embeddings`, `files`…); the gateway's elsewhere.
    pub fn of_unknown(path: &str) -> Self {
        match Self::of_route(path) {
            Shape::Gateway if path.starts_with("/v1/") => Shape::OpenAi,
            Shape::Gateway if path.starts_with(CONNECTIONS) => Shape::ApiGateway,
            shape => shape,
        }
    }

    /// `code` with `message` in this shape: the code's status and `Retry-After`.
    /// On the `@connections` API a refused token (`401`) also says what
    /// it takes ([`CONNECTIONS_AUTH_HINT`]).
    pub fn response(self, code: ErrorCode, message: &str) -> Response {
        let mut res = error_response(code, message, code.retry_after_secs());
        match self {
            Shape::Gateway => {}
            Shape::OpenAi => {
                let (parts, _) = res.into_parts();
                let body = json!({"error": openai_object(parts.status, code.as_str(), message)});
                res = (parts, Json(body)).into_response();
                res.headers_mut().remove(header::CONTENT_LENGTH);
            }
            Shape::ApiGateway => {
                let (parts, _) = res.into_parts();
                let message = if parts.status == StatusCode::UNAUTHORIZED {
                    format!("{message}: {CONNECTIONS_AUTH_HINT}")
                } else {
                    message.to_owned()
                };
                res = (parts, Json(json!({"message": message}))).into_response();
                let h = res.headers_mut();
                h.remove(header::CONTENT_LENGTH);
                h.insert(
                    "x-amzn-errortype",
                    HeaderValue::from_static(api_gateway_exception(code)),
                );
            }
            Shape::Anthropic => {
                let (mut parts, _) = res.into_parts();
                let (kind, status) = crate::render::anthropic::error_type(Some(code));
                parts.status = status;
                parts.headers.remove(header::CONTENT_LENGTH);
                let body = crate::render::anthropic::error_body(kind, message);
                res = (parts, Json(body)).into_response();
            }
            Shape::Bedrock => {
                let (mut parts, _) = res.into_parts();
                let exception = super::bedrock::Exception::from_code(code);
                // A method the route does not take stays a `405` (with its
                // `Allow`): Bedrock has no exception of its own for it.
                if code != ErrorCode::MethodNotAllowed {
                    parts.status = exception.status();
                }
                parts.headers.remove(header::CONTENT_LENGTH);
                parts.headers.insert(
                    "x-amzn-errortype",
                    HeaderValue::from_static(exception.name()),
                );
                res = (parts, Json(json!({"message": message}))).into_response();
            }
        }
        res
    }
}

/// The API Gateway exception a code is raised as by the AWS SDKs'
/// `apigatewaymanagementapi` client: its four modelled errors (`GoneException`
/// 410, `ForbiddenException` 403, `PayloadTooLargeException` 413,
/// `LimitExceededException` 429) by status, a refused token (`401`) among
/// the forbidden, and API Gateway's generic names for the rest.
pub fn api_gateway_exception(code: ErrorCode) -> &'static str {
    match code.status().as_u16() {
        401 | 403 => "ForbiddenException",
        404 => "NotFoundException",
        410 => "GoneException",
        413 => "PayloadTooLargeException",
        429 => "LimitExceededException",
        400..=499 => "BadRequestException",
        _ => "InternalServerErrorException",
    }
}

/// OpenAI's error object, `{"message","type","param","code"}`: `type` from
/// the HTTP status, `code` the gateway's (an [`ErrorCode`]'s string),
/// `param` null (the caller sets it when a field is to blame).
pub fn openai_object(status: StatusCode, code: &str, message: &str) -> Value {
    let kind = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    json!({"message": message, "type": kind, "param": null, "code": code})
}

/// The router's fallback: `404` naming the method and path, in the
/// path's shape ([`Shape::of_unknown`]).
pub async fn no_route(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    Shape::of_unknown(path).response(
        ErrorCode::NotFound,
        &format!("no route for {method} {path}"),
    )
}

/// A route's answer to a method it does not take: `405` (with the
/// router's `Allow` header) in the route's shape ([`Shape::of_route`]).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    Shape::of_route(path).response(
        ErrorCode::MethodNotAllowed,
        &format!("{method} is not allowed on {path}; the Allow header lists what is"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_routes_are_openai_shaped() {
        for path in [
            "/v1/chat/completions",
            "/v1/responses",
            "/v1/responses/resp_1/input_items",
            "/v1/models",
            "/v1/models/anthropic.claude-3-haiku-20240307-v1:0",
        ] {
            assert_eq!(Shape::of_route(path), Shape::OpenAi, "{path}");
        }
        for path in [
            "/v1/stream",
            "/v1/sessions/x",
            "/v1/responsesx",
            "/v1/modelsx",
            "/v1/chat/completions/x",
            "/graphql",
        ] {
            assert_eq!(Shape::of_route(path), Shape::Gateway, "{path}");
        }
        assert_eq!(Shape::of_unknown("/v1/embeddings"), Shape::OpenAi);
        assert_eq!(Shape::of_unknown("/nope"), Shape::Gateway);
    }

    #[test]
    fn anthropic_and_bedrock_routes_take_their_apis_shapes() {
        for path in [
            "/v1/messages",
            "/v1/messages/count_tokens",
            "/v1/messages/x/y",
        ] {
            assert_eq!(Shape::of_route(path), Shape::Anthropic, "{path}");
            assert_eq!(Shape::of_unknown(path), Shape::Anthropic, "{path}");
        }
        for path in [
            "/model/m/converse",
            "/model/m/converse/",
            "/foundation-models/anthropic.claude-3-haiku-20240307-v1:0",
            "/inference-profiles",
            "/guardrails",
        ] {
            assert_eq!(Shape::of_route(path), Shape::Bedrock, "{path}");
            assert_eq!(Shape::of_unknown(path), Shape::Bedrock, "{path}");
        }
        assert_eq!(Shape::of_route("/v1/messagesx"), Shape::Gateway);
        assert_eq!(Shape::of_route("/modelx"), Shape::Gateway);
        let res = Shape::Bedrock.response(ErrorCode::PayloadTooLarge, "too large");
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()["x-amzn-errortype"], "ValidationException");
        let res = Shape::Anthropic.response(ErrorCode::MethodNotAllowed, "no");
        assert_eq!(res.status(), 405);
    }

    #[test]
    fn connections_routes_are_api_gateway_shaped() {
        for path in ["/@connections/abc", "/@connections"] {
            assert_eq!(Shape::of_route(path), Shape::ApiGateway, "{path}");
        }
        assert_eq!(Shape::of_route("/@connectionsx"), Shape::Gateway);
        assert_eq!(Shape::of_unknown("/@connections/a/b"), Shape::ApiGateway);
        for (code, name) in [
            (ErrorCode::Gone, "GoneException"),
            (ErrorCode::Forbidden, "ForbiddenException"),
            (ErrorCode::MissingToken, "ForbiddenException"),
            (ErrorCode::PayloadTooLarge, "PayloadTooLargeException"),
            (ErrorCode::LimitExceeded, "LimitExceededException"),
            (ErrorCode::BadRequest, "BadRequestException"),
            (
                ErrorCode::RegistryUnavailable,
                "InternalServerErrorException",
            ),
        ] {
            assert_eq!(api_gateway_exception(code), name, "{code:?}");
        }
    }

    async fn body(res: Response) -> (u16, Value) {
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn each_shape_renders_the_code() {
        let openai = body(Shape::OpenAi.response(ErrorCode::InvalidToken, "malformed token")).await;
        assert_eq!(
            openai,
            (
                401,
                json!({"error": {"message": "malformed token", "type": "authentication_error",
                                 "param": null, "code": "invalid_token"}})
            )
        );
        let gateway =
            body(Shape::Gateway.response(ErrorCode::InvalidToken, "malformed token")).await;
        assert_eq!(
            gateway,
            (
                401,
                json!({"error": {"code": "invalid_token", "message": "malformed token"}})
            )
        );
        let (status, v) =
            body(method_not_allowed(Method::GET, Uri::from_static("/v1/chat/completions")).await)
                .await;
        assert_eq!(
            (status, &v["error"]["type"]),
            (405, &json!("invalid_request_error"))
        );
        let (status, v) =
            body(no_route(Method::POST, Uri::from_static("/v1/embeddings")).await).await;
        assert_eq!(status, 404);
        assert_eq!(v["error"]["message"], "no route for POST /v1/embeddings");
        assert_eq!(v["error"]["type"], "not_found_error");

        let res = Shape::ApiGateway.response(ErrorCode::Gone, "no such connection");
        assert_eq!(res.headers()["x-amzn-errortype"], "GoneException");
        assert_eq!(
            body(res).await,
            (410, json!({"message": "no such connection"}))
        );
        let (status, v) =
            body(Shape::ApiGateway.response(ErrorCode::MissingToken, "missing bearer token")).await;
        assert_eq!(status, 401);
        assert_eq!(
            v,
            json!({"message": format!("missing bearer token: {CONNECTIONS_AUTH_HINT}")})
        );
    }
}
