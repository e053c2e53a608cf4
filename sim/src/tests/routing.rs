//! Which model answers and who asked: `unavailable=TEXT`, application-inference-profile
//! ARNs on Converse, and the auth scheme each request carried — through the real SDK.

use aws_sdk_bedrockruntime::config::Token;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;

use super::*;

const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// The `x-amzn-ErrorType` code and HTTP status of a failed SDK call.
fn code_and_status<E>(err: &SdkError<E, HttpResponse>) -> (String, u16)
where
    E: aws_sdk_bedrockruntime::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => (
            se.err().code().unwrap_or_default().to_owned(),
            se.raw().status().as_u16(),
        ),
        other => panic!("not a service error: {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_refuses_matching_models_on_every_runtime_api() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    let prompt = "[[sim unavailable=claude-3-5-haiku tokens=3 rate=0 ttft_ms=0]] hi";

    let err = client
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .body(Blob::new(
            serde_json::to_vec(&claude_body(prompt, 16)).unwrap(),
        ))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(InvokeModelWithResponseStreamError::ServiceUnavailableException(_))
        ),
        "{err:?}"
    );
    assert_eq!(
        code_and_status(&err),
        ("ServiceUnavailableException".into(), 503)
    );

    let err = client
        .invoke_model()
        .model_id(CLAUDE)
        .body(Blob::new(
            serde_json::to_vec(&claude_body(prompt, 16)).unwrap(),
        ))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(InvokeModelError::ServiceUnavailableException(_))
        ),
        "{err:?}"
    );

    let err = client
        .converse_stream()
        .model_id(format!("us.{CLAUDE}"))
        .messages(user(prompt))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(ConverseStreamError::ServiceUnavailableException(_))
        ),
        "{err:?}"
    );
    assert_eq!(code_and_status(&err).1, 503);

    let err = client
        .converse()
        .model_id(CLAUDE)
        .messages(user(prompt))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(ConverseError::ServiceUnavailableException(_))
        ),
        "{err:?}"
    );

    // The same prompt to a model the text does not name is answered.
    let output = client
        .converse_stream()
        .model_id("amazon.nova-lite-v1:0")
        .messages(user(prompt))
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut text = String::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(d) = event
            && let Some(ContentBlockDelta::Text(t)) = d.delta
        {
            text.push_str(&t);
        }
    }
    assert_eq!(text.split_whitespace().count(), 3, "{text:?}");
    assert_eq!(sim.state.stats().streams_started, 1);
}

#[tokio::test]
async fn application_profile_arns_answer_on_converse_and_to_claude_bodies() {
    let sim = Sim::start().await;
    let client = sim.sdk();
    // The SDK percent-encodes the ARN (its ':' and '/') into the path.
    let output = client
        .converse_stream()
        .model_id(PROFILE)
        .messages(user("Rivers? [[sim tokens=4 rate=0 ttft_ms=0]]"))
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let (mut deltas, mut stop) = (0, None);
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(_) => deltas += 1,
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason),
            _ => {}
        }
    }
    assert_eq!((deltas, stop), (4, Some(StopReason::EndTurn)));

    let whole = client
        .converse()
        .model_id(PROFILE)
        .messages(user("[[sim tokens=2 rate=0 ttft_ms=0]]"))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.usage().map(|u| u.output_tokens), Some(2));

    // InvokeModel answers a Claude body (the account's profiles route those
    // to Claude); any other family's body is refused.
    let claude = client
        .invoke_model()
        .model_id(PROFILE)
        .body(Blob::new(
            serde_json::to_vec(&claude_body("hi [[sim tokens=2 rate=0 ttft_ms=0]]", 16)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(claude.body.as_ref()).unwrap();
    assert_eq!(answer["type"], "message", "{answer}");
    let err = client
        .invoke_model_with_response_stream()
        .model_id(PROFILE)
        .body(Blob::new(
            serde_json::to_vec(&serde_json::json!({"inputText": "hi"})).unwrap(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&err), ("ValidationException".into(), 400));

    // `unavailable=` matches the ARN as named.
    let err = client
        .converse_stream()
        .model_id(PROFILE)
        .messages(user("[[sim unavailable=a1b2c3]]"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_and_status(&err).1, 503);
}

#[tokio::test]
async fn auth_schemes_count_what_each_request_carried() {
    let sim = Sim::start().await;
    let body = || {
        Blob::new(serde_json::to_vec(&claude_body("[[sim tokens=1 rate=0 ttft_ms=0]]", 8)).unwrap())
    };
    // SigV4: the SDK with credentials.
    sim.sdk()
        .invoke_model()
        .model_id(CLAUDE)
        .body(body())
        .send()
        .await
        .unwrap();
    // Bearer: the SDK with a token and no credentials at all.
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&sim.url)
        .token_provider(Token::new("ABSKsimulated-api-key", None))
        .retry_config(RetryConfig::disabled())
        .build();
    let bearer = aws_sdk_bedrockruntime::Client::from_conf(config);
    bearer
        .invoke_model()
        .model_id(CLAUDE)
        .body(body())
        .send()
        .await
        .unwrap();
    bearer
        .converse()
        .model_id(CLAUDE)
        .messages(user("[[sim tokens=1 rate=0 ttft_ms=0]]"))
        .send()
        .await
        .unwrap();
    // None: plain HTTP, to a listing and to an unknown operation.
    let http = reqwest::Client::new();
    let listed = http
        .get(format!("{}/foundation-models", sim.url))
        .send()
        .await
        .unwrap();
    assert!(listed.status().is_success());
    let unknown = http
        .post(format!("{}/nowhere", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Reading the counters is not counted.
    let stats: Value = http
        .get(format!("{}/sim/stats", sim.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats["authSchemes"],
        json!({"sigv4": 1, "bearer": 2, "none": 2}),
        "{stats}"
    );
}
