//! Request-level protections applied to every route in `crate::app`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Version, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::client_ip::{ClientIpKeyExtractor, TrustedProxies, resolve_layer};
use super::request_body;
use crate::error::shape::Shape;
use crate::error::{ErrorCode, error_response};
use crate::hub::answering::{self, Answering};

/// The shared per-address rate limiter (keyed by the resolved client address).
pub type RateLimit = Arc<GovernorConfig<ClientIpKeyExtractor, NoOpMiddleware>>;

/// Edge settings, built once at start-up.
#[derive(Clone)]
pub struct EdgeConfig {
    /// Origins allowed by CORS and for browser WebSockets (`*` = any); same-origin is always allowed.
    pub allowed_origins: Arc<[String]>,
    /// Per-IP request rate limit; `None` = off.
    pub rate_limit: Option<RateLimit>,
    /// Time allowed to produce response headers (a stream's body may then run on).
    pub request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (`SPILLWAY_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
}

impl EdgeConfig {
    pub fn new(
        allowed_origins: Vec<String>,
        rate_per_sec: u32,
        burst: u32,
        request_timeout: Duration,
    ) -> Self {
        let rate_limit = (rate_per_sec > 0).then(|| {
            GovernorConfigBuilder::default()
                .key_extractor(ClientIpKeyExtractor)
                .per_nanosecond(1_000_000_000 / u64::from(rate_per_sec))
                .burst_size(burst.max(1))
                .finish()
                .map(Arc::new)
        });
        Self {
            // An empty entry (an empty SPILLWAY_CORS_ORIGINS) allows nothing.
            allowed_origins: allowed_origins
                .into_iter()
                .filter(|o| !o.is_empty())
                .collect(),
            rate_limit: rate_limit.flatten(),
            request_timeout,
            trusted_proxies: TrustedProxies::default(),
        }
    }

    /// Believe `X-Forwarded-For` from these peers.
    pub fn with_trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        self.trusted_proxies = trusted;
        self
    }

    fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }

    /// Forget idle rate-limit keys (call now and then, so the map stays small).
    pub fn prune(&self) {
        if let Some(r) = &self.rate_limit {
            r.limiter().retain_recent();
        }
    }
}

/// Wrap `router` in the edge layers.
pub fn apply(router: Router, edge: &EdgeConfig) -> Router {
    let mut router = router
        .layer(middleware::from_fn_with_state(
            edge.request_timeout,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            edge.clone(),
            websocket_origin,
        ));
    if let Some(limit) = &edge.rate_limit {
        router = router.layer(GovernorLayer::new(limit.clone()).error_handler(|e| {
            // The wait the limiter knows, not the code's default.
            let wait = match e {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                    Some(wait_time.max(1))
                }
                _ => None,
            };
            error_response(
                ErrorCode::RateLimited,
                "too many requests from this address",
                wait,
            )
        }));
    }
    // Outside the rate limit: it keys on the address resolved here.
    router = router.layer(middleware::from_fn_with_state(
        edge.trusted_proxies.clone(),
        resolve_layer,
    ));
    if !edge.allowed_origins.is_empty() {
        router = router.layer(cors(edge));
    }
    // Outside every refusal that comes before a body is read (the rate
    // limit's 429, the token gate's 401, the size limit's 413…).
    router = router.layer(middleware::from_fn(close_if_unread));
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// CORS for the allowed origins, every response header readable. A preflight may ask for any request
/// header: browsers add their own (`traceparent` and `tracestate` from
/// OpenTelemetry's fetch instrumentation, `apollographql-client-name`…),
/// and mirroring them is safe here because credentials are bearer headers
/// a page must set itself, never cookies (no `Allow-Credentials`).
fn cors(edge: &EdgeConfig) -> CorsLayer {
    let origins = if edge.any_origin() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            edge.allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        // Every response header: each drop-in API's clients read their own
        // (`x-amzn-errortype`, which the AWS SDKs name an error by,
        // `x-amzn-requestid`, Bedrock's token counts, Anthropic's
        // `request-id`, `x-should-retry`), besides `x-session-id`. `*` holds
        // for requests without credentials, which these are (bearer headers).
        .expose_headers(tower_http::cors::ExposeHeaders::any())
        .max_age(Duration::from_secs(600))
}

/// Bound the time to response headers, or to the start of an answer: a
/// stream answers once Bedrock's headers are in, so its body is not cut,
/// and a whole answer (non-streaming) runs on once its upstream has started
/// ([`answering`]), bounded by the session's own first-token and idle
/// timeouts. A slow start is cut.
///
/// Whose slowness it was picks the answer. If, at the deadline, the handler
/// is waiting for more of the request body (its last read found nothing
/// yet), the client has not finished sending its request: `408`, a client
/// error, which the trace layer does not log as a failure. Otherwise the
/// request was in (or its body is not read) and the gateway, or Bedrock
/// behind it, was slow: `504`, logged as the server error it is. Either is
/// in the route's error shape.
async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let shape = Shape::of_route(req.uri().path());
    let (req, awaiting_client) = request_body::watch(req);
    let answer = Answering::default();
    let handler = answering::scope(answer.clone(), next.run(req));
    tokio::pin!(handler);
    match tokio::time::timeout(limit, &mut handler).await {
        Ok(res) => res,
        Err(_) if answer.started() => handler.await,
        Err(_) if awaiting_client.now() => shape.response(
            ErrorCode::RequestTimeout,
            "the request was not sent in time",
        ),
        Err(_) => shape.response(ErrorCode::Timeout, "the request took too long to start"),
    }
}

/// An answer given before the request's body was read to its end (a
/// refusal: `401`, `413`, `429`…) says `Connection: close` on HTTP/1.
/// hyper closes such a connection rather than read a body nobody wants;
/// without the header, a keep-alive client sends its next request on it and
/// sees that request fail ("server disconnected"). HTTP/2 streams end on
/// their own, and it has no such header.
async fn close_if_unread(req: Request, next: Next) -> Response {
    if matches!(req.version(), Version::HTTP_2 | Version::HTTP_3) {
        return next.run(req).await;
    }
    let (req, read) = request_body::track(req);
    let mut res = next.run(req).await;
    if !read.now() {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// What a request's headers say of its body, checked before any of it is
/// read: a `Content-Length` over `limit` (the body limit) is a `413`, so a
/// client waiting for `100 Continue` is not asked to send it and none is
/// drained; a `Content-Encoding` other than `identity` is a `415` (the body
/// is read as it is, and a compressed one would be reported as bad JSON).
pub async fn check_declared_body(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .filter(|_| !axum::body::HttpBody::is_end_stream(req.body()))
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|e| !e.is_empty() && e != "identity");
    let shape = || Shape::of_route(req.uri().path());
    if declared.is_some_and(|n| n > limit as u64) {
        return shape().response(ErrorCode::PayloadTooLarge, "request body is too large");
    }
    if let Some(encoding) = encoding {
        return shape().response(
            ErrorCode::UnsupportedMediaType,
            &format!("Content-Encoding {encoding} is not accepted: send the body uncompressed"),
        );
    }
    next.run(req).await
}

/// Browsers send `Origin` on WebSocket upgrades and CORS does not apply to
/// them: refuse cross-origin upgrades unless the origin is allowed.
async fn websocket_origin(State(edge): State<EdgeConfig>, req: Request, next: Next) -> Response {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|_| is_upgrade);
    if let Some(origin) = origin {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        let allowed = same_origin
            || edge.any_origin()
            || edge
                .allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin));
        if !allowed {
            return ErrorCode::OriginNotAllowed
                .response("WebSocket connections from this origin are not allowed");
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::routing::post;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;
    use tower::ServiceExt;

    type Chunks = mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

    /// A body that has sent `first` and then waits on the returned sender.
    async fn unfinished(first: &[u8]) -> (Body, Chunks) {
        let (tx, rx) = mpsc::channel(1);
        tx.send(Ok(first.to_vec())).await.unwrap();
        (Body::from_stream(ReceiverStream::new(rx)), tx)
    }

    async fn status(path: &str, body: Body) -> u16 {
        let app = Router::new()
            .route(
                "/read",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    "late"
                }),
            )
            .route(
                "/answering",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    crate::hub::answering::started();
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    "whole"
                }),
            )
            .layer(middleware::from_fn_with_state(
                Duration::from_secs(10),
                timeout,
            ));
        let req = Request::post(path).body(body).unwrap();
        app.oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_still_sending_at_the_deadline_gets_408_a_slow_answer_504() {
        let (body, _sending) = unfinished(b"{\"prompt\":").await;
        assert_eq!(status("/read", body).await, 408, "the client's slowness");
        assert_eq!(
            status("/slow", Body::from("all of it")).await,
            504,
            "the gateway's"
        );
        // A body the handler never reads is not what it waits on.
        let (body, _sending) = unfinished(b"{").await;
        assert_eq!(status("/slow", body).await, 504);
        assert_eq!(status("/read", Body::from("abc")).await, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_start_is_cut_in_the_routes_error_shape() {
        let app = Router::new()
            .route(
                "/v1/chat/completions",
                post(|| tokio::time::sleep(Duration::from_secs(600))),
            )
            .layer(middleware::from_fn_with_state(
                Duration::from_secs(10),
                timeout,
            ));
        let req = Request::post("/v1/chat/completions")
            .body(Body::from("{}"))
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 504);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
        assert!(body["error"]["type"].is_string(), "OpenAI's shape: {body}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_answer_under_way_at_the_deadline_runs_to_its_end() {
        assert_eq!(status("/answering", Body::from("{}")).await, 200);
    }
}
