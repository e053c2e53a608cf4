"""The `anthropic` SDK's Bedrock client (`AnthropicBedrock`) against the
gateway's Bedrock runtime API (`/model/{id}/invoke-with-response-stream`,
`/model/{id}/invoke`).

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_anthropic_bedrock.py

The gateway is the one `test_openai.py` starts (plain http, the embedded
simulator, a token minted with `spillway token`). The client is configured
the way a user would: `ANTHROPIC_BEDROCK_BASE_URL`, `AWS_REGION` and the token
in `AWS_BEARER_TOKEN_BEDROCK`, which the SDK sends as `Authorization: Bearer`
instead of signing with SigV4 (over http too, unlike boto3). A client with
AWS keys signs with SigV4 (through botocore, already in requirements.txt):
the gateway refuses that with a 401 that says to use a bearer token.
"""

import json

import anthropic
import pytest

from test_openai import FAST, gateway, prompt, session  # noqa: F401 (`gateway` is a fixture)

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
THINKING = {"type": "enabled", "budget_tokens": 1024}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(gateway, monkeypatch):  # noqa: F811 (the imported fixture)
    base, token = gateway
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_BEDROCK_BASE_URL", base)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return anthropic.AnthropicBedrock(max_retries=0, timeout=30)


def run_tool(call):
    return f"22 °C and sunny in {call.input['city']}"


def test_tool_loop_with_thinking_streamed(client, gateway):  # noqa: F811
    question = {"role": "user", "content": prompt(f"tool=get_weather think=2 tokens=3 {FAST}")}
    with client.messages.stream(
        model=SONNET,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER],
        messages=[question],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
        url = stream.response.url
        session_id = stream.response.headers["x-session-id"]
    # The SDK's own Bedrock route, answered by a gateway session.
    assert url.path == f"/model/{SONNET}/invoke-with-response-stream"
    info = session(gateway, session_id)
    assert info["status"] == "complete" and info["model"] == SONNET
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "thinking" in kinds and "signature" in kinds and "input_json" in kinds
    assert final.stop_reason == "tool_use"
    assert final.model == SONNET
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    thinking, text, call = final.content
    assert thinking.thinking and thinking.signature
    assert text.text == info["text"]
    assert call.name == "get_weather"
    assert call.input == {"city": "sample"}
    assert final.usage.output_tokens > 0
    assert final.usage.input_tokens > 0

    # The assistant content as returned (the signed thinking block included),
    # then the tool's output; the simulator echoes it.
    output = run_tool(call)
    with client.messages.stream(
        model=SONNET,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": final.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": output}],
            },
        ],
    ) as stream:
        text = "".join(stream.text_stream)
        answer = stream.get_final_message()
        second = session(gateway, stream.response.headers["x-session-id"])
    assert text.startswith(f"Tool result: {output}"), text
    assert text == second["text"]
    assert answer.stop_reason == "end_turn"
    assert [b.type for b in answer.content] == ["thinking", "text"]


def test_non_streaming_message(client, gateway):  # noqa: F811
    raw = client.messages.with_raw_response.create(
        model=SONNET,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": prompt(f"tokens=4 {FAST}")}],
    )
    message = raw.parse()
    assert raw.http_request.url.path == f"/model/{SONNET}/invoke"
    info = session(gateway, raw.headers["x-session-id"])
    assert info["status"] == "complete"
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == info["text"]
    assert message.usage.output_tokens == 4


def test_error_mid_stream_is_raised(client):
    received = []
    with pytest.raises(anthropic.APIStatusError) as err:
        with client.messages.stream(
            model=SONNET,
            max_tokens=100,
            messages=[{"role": "user", "content": prompt(f"tokens=20 error_after=3 {FAST}")}],
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert len(received) == 3
    assert err.value.body["error"]["type"] == "modelStreamErrorException"


def test_bad_token_is_an_authentication_error(gateway, monkeypatch):  # noqa: F811
    base, _ = gateway
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    bad = anthropic.AnthropicBedrock(
        base_url=base, api_key="not-a-jwt", aws_region="us-east-1", max_retries=0, timeout=30
    )
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 401


def test_sigv4_is_refused_with_a_bearer_token_hint(gateway, monkeypatch):  # noqa: F811
    base, _ = gateway
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    signed = anthropic.AnthropicBedrock(
        base_url=base,
        aws_access_key="AKIDEXAMPLE",
        aws_secret_key="secret",
        aws_region="us-east-1",
        max_retries=0,
        timeout=30,
    )
    with pytest.raises(anthropic.AuthenticationError) as err:
        signed.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 401
    assert err.value.response.request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "AWS_BEARER_TOKEN_BEDROCK" in err.value.body["message"]


def test_an_application_profile_declared_with_its_model(monkeypatch):
    # What Claude Code in Bedrock mode sends with an application inference
    # profile as its model: Claude's body, to InvokeModel on the ARN.
    from test_openai import running_gateway

    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/t3ama1b2"
    env = {"SPILLWAY_PROFILE_MODELS": json.dumps({arn: "anthropic.claude-sonnet-4-5-20250929-v1:0"})}
    with running_gateway(env) as (base, token, _):
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("ANTHROPIC_BEDROCK_BASE_URL", base)
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        client = anthropic.AnthropicBedrock(max_retries=0, timeout=30)
        question = [{"role": "user", "content": prompt(f"tokens=3 {FAST}")}]
        with client.messages.stream(
            model=arn, max_tokens=100, thinking=THINKING, messages=question
        ) as stream:
            final = stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text"]
        assert final.usage.output_tokens > 0
        whole = client.messages.create(model=arn, max_tokens=100, messages=question)
        assert whole.content[0].text
