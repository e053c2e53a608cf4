//! Which responses the request trace (tower-http's `TraceLayer`) logs as
//! failures, at ERROR: server errors, except the probes' answers. A `503`
//! from `/readyz` says that the node is not ready, and its cause is logged
//! at WARN where it happens (the registry heartbeat, the JWKS warm-up); a
//! load balancer asks every few seconds, and none of those answers is an
//! error of the server.

use axum::http::{Request, Response};
use tower_http::classify::{
    ClassifiedResponse, ClassifyResponse, MakeClassifier, NeverClassifyEos, ServerErrorsAsFailures,
    ServerErrorsFailureClass,
};

/// The probes: what they answer is a state, never a failure.
pub const PROBES: &[&str] = &["/healthz", "/readyz"];

/// Server errors are failures, except on [`PROBES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFailures;

impl MakeClassifier for ServerFailures {
    type Classifier = Classifier;
    type FailureClass = ServerErrorsFailureClass;
    type ClassifyEos = NeverClassifyEos<ServerErrorsFailureClass>;

    fn make_classifier<B>(&self, req: &Request<B>) -> Classifier {
        Classifier {
            probe: PROBES.contains(&req.uri().path()),
        }
    }
}

/// The classifier of one request.
#[derive(Debug, Clone, Copy)]
pub struct Classifier {
    probe: bool,
}

impl ClassifyResponse for Classifier {
    type FailureClass = ServerErrorsFailureClass;
    type ClassifyEos = NeverClassifyEos<ServerErrorsFailureClass>;

    fn classify_response<B>(
        self,
        res: &Response<B>,
    ) -> ClassifiedResponse<Self::FailureClass, Self::ClassifyEos> {
        if self.probe {
            return ClassifiedResponse::Ready(Ok(()));
        }
        ServerErrorsAsFailures::new().classify_response(res)
    }

    fn classify_error<E>(self, error: &E) -> Self::FailureClass
    where
        E: std::fmt::Display + 'static,
    {
        ServerErrorsAsFailures::new().classify_error(error)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn failed(path: &str, status: StatusCode) -> bool {
        let req = Request::get(path).body(()).unwrap();
        let res = Response::builder().status(status).body(()).unwrap();
        match ServerFailures.make_classifier(&req).classify_response(&res) {
            ClassifiedResponse::Ready(r) => r.is_err(),
            ClassifiedResponse::RequiresEos(_) => unreachable!("classified at once"),
        }
    }

    #[test]
    fn a_probe_answering_not_ready_is_no_failure_and_other_server_errors_are() {
        assert!(!failed("/readyz", StatusCode::SERVICE_UNAVAILABLE));
        assert!(!failed("/healthz", StatusCode::INTERNAL_SERVER_ERROR));
        assert!(failed("/v1/stream", StatusCode::SERVICE_UNAVAILABLE));
        assert!(failed("/readyz/x", StatusCode::BAD_GATEWAY));
        assert!(!failed("/v1/stream", StatusCode::TOO_MANY_REQUESTS));
    }
}
