"""boto3's `bedrock-runtime` client against the gateway's Bedrock runtime API.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_bedrock_api.py

boto3 sends a bearer token (`AWS_BEARER_TOKEN_BEDROCK`) only over https, so
this starts `spillway serve --listen 127.0.0.1:0` with `SPILLWAY_TLS=self-signed`
(the certificate lands in the data dir as `tls-cert.pem`, trusted through
`AWS_CA_BUNDLE`) and mints the token with `spillway token` from the same dir.
A build without the TLS listener writes no certificate: every test is then
skipped, saying so. `SPILLWAY_BIN` overrides the binary.
"""

import json
import os
import pathlib
import queue
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
LISTENING = "spillway listening on "
# A Claude with extended thinking, and Nova.
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
FAST = "rate=0 ttft_ms=0"
NO_TLS = (
    "this build has no TLS listener (SPILLWAY_TLS=self-signed wrote no tls-cert.pem); "
    "boto3 sends bearer tokens only over https"
)
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def clean_env(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_"))}
    env["SPILLWAY_DATA_DIR"] = data_dir
    return env


@pytest.fixture(scope="module")
def gateway():
    """(https base URL, token, certificate path) of a TLS gateway for this module."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = clean_env(data_dir)
        env["SPILLWAY_TLS"] = "self-signed"
        # One upstream attempt: a throttled call reaches the client at once.
        env["SPILLWAY_UPSTREAM_MAX_ATTEMPTS"] = "1"
        proc = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            proc.kill()
            pytest.fail("spillway printed nothing within 30 s")
        try:
            if not first.startswith(LISTENING):
                pytest.fail(f"unexpected first line from spillway: {first!r}")
            cert = pathlib.Path(data_dir) / "tls-cert.pem"
            if not cert.exists():
                pytest.skip(NO_TLS)
            addr = first[len(LISTENING):].strip().split("://")[-1]
            token = subprocess.run(
                [BINARY, "token", "--sub", "alice"],
                env=clean_env(data_dir),
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
            yield f"https://{addr}", token, str(cert)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def client(gateway, monkeypatch):
    base, token, cert = gateway
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    monkeypatch.setenv("AWS_CA_BUNDLE", cert)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=base,
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )


def prompt(directive):
    return f"Tell me about rivers ({uuid.uuid4()}). [[sim {directive}]]"


def attach(gateway, session_id):
    """The session's SSE events, read to the end."""
    base, token, cert = gateway
    import ssl

    ctx = ssl.create_default_context(cafile=cert)
    req = urllib.request.Request(
        f"{base}/v1/sessions/{session_id}/stream", headers={"Authorization": f"Bearer {token}"}
    )
    events = []
    with urllib.request.urlopen(req, timeout=30, context=ctx) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


def test_invoke_stream_claude_opens_with_the_prompt_count(client):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": prompt(f"tokens=3 {FAST}")}],
    }
    res = client.invoke_model_with_response_stream(modelId=SONNET, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in res["body"] if "chunk" in e]
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert events[0]["type"] == "message_start"
    assert events[0]["message"]["usage"]["input_tokens"] == metrics["inputTokenCount"] > 0


def test_invoke_stream_claude_with_tool_and_thinking(client, gateway):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "weather", "input_schema": WEATHER}],
        "messages": [{"role": "user", "content": prompt(f"tool=weather think=2 {FAST}")}],
    }
    res = client.invoke_model_with_response_stream(modelId=SONNET, body=json.dumps(body))
    session_id = res["ResponseMetadata"]["HTTPHeaders"]["x-session-id"]
    events = [json.loads(e["chunk"]["bytes"]) for e in res["body"] if "chunk" in e]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == {"city": "sample"}
    assert "amazon-bedrock-invocationMetrics" in events[-1]
    parts = [e.get("part", {}).get("type") for e in attach(gateway, session_id)]
    assert "toolCall" in parts and "reasoning" in parts


def test_invoke_claude_message(client):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": prompt(f"tokens=5 {FAST}")}],
    }
    res = client.invoke_model(modelId=SONNET, body=json.dumps(body))
    message = json.loads(res["body"].read())
    assert message["type"] == "message" and message["content"][0]["type"] == "text"
    # Bedrock's usage headers, as LiteLLM and botocore's instrumentation read them.
    headers = res["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == message["usage"]["output_tokens"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == message["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0


def test_converse_stream_with_tool_config(client):
    res = client.converse_stream(
        modelId=NOVA,
        messages=[{"role": "user", "content": [{"text": prompt(f"tool=weather {FAST}")}]}],
        toolConfig={"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": WEATHER}}}]},
    )
    starts, pieces, stop = [], [], None
    for ev in res["stream"]:
        if "contentBlockStart" in ev:
            starts.append(ev["contentBlockStart"]["start"]["toolUse"]["name"])
        if "contentBlockDelta" in ev and "toolUse" in ev["contentBlockDelta"]["delta"]:
            pieces.append(ev["contentBlockDelta"]["delta"]["toolUse"]["input"])
        if "messageStop" in ev:
            stop = ev["messageStop"]["stopReason"]
    assert starts == ["weather"]
    assert json.loads("".join(pieces)) == {"city": "sample"}
    assert stop == "tool_use"


def test_converse_takes_tools_for_llama_mistral_and_cohere(client):
    """Converse takes tools for the models AWS's Converse feature table lists
    them for, whatever their own InvokeModel body (a prompt string) takes: a
    tool loop through converse_stream and converse. Llama 3.3 takes no image
    there, and says so."""
    tools = {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": WEATHER}}}]}
    for model in (
        "us.meta.llama3-1-70b-instruct-v1:0",
        "us.meta.llama3-2-90b-instruct-v1:0",
        "mistral.mistral-large-2402-v1:0",
        "cohere.command-r-plus-v1:0",
    ):
        question = {"role": "user", "content": [{"text": prompt(f"tool=weather tokens=2 {FAST}")}]}
        res = client.converse_stream(modelId=model, messages=[question], toolConfig=tools)
        starts, stop = [], None
        for ev in res["stream"]:
            if "contentBlockStart" in ev:
                starts.append(ev["contentBlockStart"]["start"]["toolUse"])
            if "messageStop" in ev:
                stop = ev["messageStop"]["stopReason"]
        assert [s["name"] for s in starts] == ["weather"], model
        assert stop == "tool_use", model
        call = client.converse(modelId=model, messages=[question], toolConfig=tools)
        assert call["stopReason"] == "tool_use", model
        use = next(b["toolUse"] for b in call["output"]["message"]["content"] if "toolUse" in b)
        assert use["input"] == {"city": "sample"}, model
        answer = client.converse(
            modelId=model,
            toolConfig=tools,
            messages=[
                question,
                call["output"]["message"],
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny"}]}}]},
            ],
        )
        assert answer["stopReason"] == "end_turn", model
        text = answer["output"]["message"]["content"][0]["text"]
        assert text.startswith("Tool result: sunny\n"), (model, text)
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000002000000030806000000b9eade81"
        "0000001049444154789c63606060f80fc5680c0047d305fb9076f6920000000049454e44ae426082"
    )
    with pytest.raises(client.exceptions.ValidationException, match="cannot take images"):
        client.converse(
            modelId="us.meta.llama3-3-70b-instruct-v1:0",
            messages=[{"role": "user", "content": [
                {"text": "what is it?"}, {"image": {"format": "png", "source": {"bytes": png}}}]}],
        )


def test_converse_structured_output(client):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    output_config = {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "trip"}},
        }
    }
    question = {"role": "user", "content": [{"text": prompt(f"tokens=5 {FAST} plan a trip")}]}
    for model in (NOVA, SONNET):
        res = client.converse(modelId=model, messages=[question], outputConfig=output_config)
        text = res["output"]["message"]["content"][0]["text"]
        assert json.loads(text) == {"city": "sample", "days": 1}, model
        res = client.converse_stream(modelId=model, messages=[question], outputConfig=output_config)
        text = "".join(
            e["contentBlockDelta"]["delta"]["text"] for e in res["stream"] if "contentBlockDelta" in e
        )
        assert json.loads(text) == {"city": "sample", "days": 1}, model
    broken = {"textFormat": {**output_config["textFormat"], "structure": {"jsonSchema": {"schema": "{no"}}}}
    with pytest.raises(botocore.exceptions.ClientError, match="not JSON"):
        client.converse(modelId=NOVA, messages=[question], outputConfig=broken)


def test_converse_continues_an_assistant_prefill(client):
    question = {"role": "user", "content": [{"text": prompt(f"tokens=4 {FAST}")}]}
    plain = client.converse(modelId=NOVA, messages=[question])
    prefilled = client.converse(
        modelId=NOVA, messages=[question, {"role": "assistant", "content": [{"text": "Sure:"}]}]
    )
    assert prefilled["usage"]["outputTokens"] == 4
    assert prefilled["usage"]["inputTokens"] > plain["usage"]["inputTokens"]


def test_converse_without_max_tokens_leaves_the_ceiling_to_the_model(client):
    # Bedrock's default is the model's own (the simulator's: 4,096), not the
    # gateway's 1,024 for family bodies.
    res = client.converse(
        modelId=NOVA,
        messages=[{"role": "user", "content": [{"text": prompt(f"tokens=1500 {FAST}")}]}],
    )
    assert res["stopReason"] == "end_turn"
    assert res["usage"]["outputTokens"] == 1500


def test_converse_tool_result_may_hold_a_document(client):
    res = client.converse(
        modelId=NOVA,
        toolConfig={"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": WEATHER}}}]},
        messages=[
            {"role": "user", "content": [{"text": prompt(f"tokens=1 {FAST}")}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}]},
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "content": [
                                {"text": "the forecast"},
                                {"document": {"format": "txt", "name": "forecast", "source": {"bytes": b"snow"}}},
                            ],
                        }
                    }
                ],
            },
        ],
    )
    text = res["output"]["message"]["content"][0]["text"]
    assert text.startswith("Tool result: the forecast\n[document forecast"), text


def test_a_document_without_a_format_is_read_by_its_bytes(client):
    """Converse's `format` is optional: text is `txt`, a PDF is a PDF, and
    bytes that are neither are refused asking for the format."""
    def call(source, **doc):
        return client.converse(
            modelId=NOVA,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"text": prompt(f"tokens=1 {FAST}")},
                        {"document": {"name": "notes", "source": source, **doc}},
                    ],
                }
            ],
        )

    assert call({"text": "Rivers run."})["stopReason"] == "end_turn"
    assert call({"bytes": b"%PDF-1.7\n%fake"})["stopReason"] == "end_turn"
    with pytest.raises(client.exceptions.ValidationException, match="needs a `format`"):
        call({"bytes": bytes([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])})
    with pytest.raises(client.exceptions.ValidationException, match=r"`bytes` or `text` \(not `content`\)"):
        call({"content": [{"text": "a chunk"}]})


def test_every_answer_carries_a_request_id(client):
    """botocore reports `x-amzn-requestid` as `RequestId` in its logs and
    errors: a call's is its session's, a refusal's and a count's the
    request's own id (the one the gateway's log lines carry)."""
    messages = [{"role": "user", "content": [{"text": prompt(f"tokens=1 {FAST}")}]}]
    res = client.converse(modelId=NOVA, messages=messages)
    meta = res["ResponseMetadata"]
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-session-id"]
    counted = client.count_tokens(modelId=SONNET, input={"converse": {"messages": messages}})
    assert uuid.UUID(counted["ResponseMetadata"]["RequestId"])
    with pytest.raises(client.exceptions.ValidationException) as refused:
        client.invoke_model(modelId=SONNET, body=json.dumps({"messages": "hi"}))
    meta = refused.value.response["ResponseMetadata"]
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-request-id"]


def test_guard_content_reaches_bedrock_in_messages_and_system(client):
    # Strands' `guardrail_latest_message`: the last user text as guardContent.
    guard = GUARDRAIL_CONFIG
    user = {"guardContent": {"text": {"text": prompt(f"tokens=3 {FAST}"), "qualifiers": ["query"]}}}
    res = client.converse(
        modelId=SONNET,
        guardrailConfig=guard,
        messages=[{"role": "user", "content": [user]}],
    )
    # The directive inside the guarded text was read: the model saw it.
    assert res["usage"]["outputTokens"] == 3
    plain = client.converse(
        modelId=SONNET,
        guardrailConfig=guard,
        system=[{"text": "Be brief."}],
        messages=[{"role": "user", "content": [user]}],
    )
    guarded = client.converse(
        modelId=SONNET,
        guardrailConfig=guard,
        system=[{"text": "Be brief."}, {"guardContent": {"text": {"text": "Only rivers, never lakes."}}}],
        messages=[{"role": "user", "content": [user]}],
    )
    # The system's guarded text counts as input: it was sent, not dropped.
    assert guarded["usage"]["inputTokens"] > plain["usage"]["inputTokens"]


CITED_DOCUMENT = {
        "document": {
            "format": "txt",
            "name": "rivers",
            "source": {"bytes": b"The Nile is long."},
            "citations": {"enabled": True},
        }
}


def test_converse_stream_carries_citations(client):
    res = client.converse_stream(
        modelId=SONNET,
        messages=[{"role": "user", "content": [CITED_DOCUMENT, {"text": prompt(f"cite=2 tokens=2 {FAST}")}]}],
    )
    cites = [
        ev["contentBlockDelta"]["delta"]["citation"]
        for ev in res["stream"]
        if "citation" in ev.get("contentBlockDelta", {}).get("delta", {})
    ]
    assert len(cites) == 2, cites
    assert cites[0]["sourceContent"][0]["text"].startswith("Passage 1")
    assert cites[0]["location"]["documentChar"]["documentIndex"] == 0


def test_converse_answers_cited_text_as_citations_content(client):
    res = client.converse(
        modelId=SONNET,
        messages=[{"role": "user", "content": [CITED_DOCUMENT, {"text": prompt(f"cite=2 tokens=2 {FAST}")}]}],
    )
    blocks = res["output"]["message"]["content"]
    cited = [b["citationsContent"] for b in blocks if "citationsContent" in b]
    assert len(cited) == 1, blocks
    assert cited[0]["content"][0]["text"]
    cites = cited[0]["citations"]
    assert len(cites) == 2, cites
    assert cites[0]["sourceContent"][0]["text"].startswith("Passage 1")
    assert cites[0]["location"]["documentChar"]["documentIndex"] == 0
    plain = client.converse(
        modelId=SONNET, messages=[{"role": "user", "content": [{"text": prompt(f"tokens=2 {FAST}")}]}]
    )
    assert list(plain["output"]["message"]["content"][0]) == ["text"]


def test_a_cited_answer_replayed_in_the_history_is_taken(client):
    """The next turn of a document chat with citations: the SDK loop sends
    the cited answer back as it got it (`citationsContent`), streamed and not."""
    question = {"role": "user", "content": [CITED_DOCUMENT, {"text": prompt(f"cite=2 tokens=2 {FAST}")}]}
    first = client.converse(modelId=SONNET, messages=[question])["output"]["message"]
    assert any("citationsContent" in b for b in first["content"]), first
    history = [question, first, {"role": "user", "content": [{"text": prompt(f"tokens=3 {FAST}")}]}]
    again = client.converse(modelId=SONNET, messages=history)
    assert again["stopReason"] == "end_turn"
    assert again["output"]["message"]["content"], again
    events = list(client.converse_stream(modelId=SONNET, messages=history)["stream"])
    assert events[-2]["messageStop"]["stopReason"] == "end_turn", events


def test_converse(client):
    res = client.converse(
        modelId=NOVA,
        messages=[{"role": "user", "content": [{"text": prompt(f"tokens=5 {FAST}")}]}],
    )
    assert res["output"]["message"]["content"][0]["text"]
    assert res["stopReason"] == "end_turn"
    assert res["usage"]["outputTokens"] > 0


def test_converse_caches_system_and_tools_cache_points(client):
    """`cachePoint` blocks in `system` and `toolConfig.tools` reach Bedrock."""
    tag = uuid.uuid4()
    tools = {
        "tools": [
            {"toolSpec": {"name": "weather", "description": f"Weather ({tag})", "inputSchema": {"json": WEATHER}}},
            {"cachePoint": {"type": "default"}},
        ]
    }

    def usage(system, question):
        return client.converse(
            modelId=NOVA,
            system=[{"text": system}, {"cachePoint": {"type": "default"}}],
            messages=[{"role": "user", "content": [{"text": f"{question} [[sim tokens=2 {FAST}]]"}]}],
            toolConfig=tools,
        )["usage"]

    first = usage(f"You forecast the weather ({tag}).", "Oslo?")
    assert first["cacheWriteInputTokens"] > 0
    assert first["cacheReadInputTokens"] == 0
    second = usage(f"You forecast the weather ({tag}).", "Bergen?")
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert second["cacheWriteInputTokens"] == 0
    # Another system prompt after the same tools: the tools' point alone is read.
    other = usage(f"You report the tides ({tag}).", "Oslo?")
    assert 0 < other["cacheReadInputTokens"] < first["cacheWriteInputTokens"]


GUARDRAIL_CONFIG = {"guardrailIdentifier": "gr1abc", "guardrailVersion": "DRAFT", "trace": "enabled"}


def converse_stream_events(client, **extra):
    res = client.converse_stream(
        modelId=NOVA,
        messages=[{"role": "user", "content": [{"text": prompt(f"tokens=8 guardrail=3 {FAST}")}]}],
        **extra,
    )
    return list(res["stream"])


def test_converse_stream_guardrail_config_reaches_bedrock(client):
    """boto3's `guardrailConfig` is the guardrail; the trace comes back in `metadata`."""
    events = converse_stream_events(client, guardrailConfig=GUARDRAIL_CONFIG)
    stop = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    assert stop == ["guardrail_intervened"]
    metadata = [e["metadata"] for e in events if "metadata" in e]
    assert metadata[0]["trace"]["guardrail"]["outputAssessments"]["gr1abc"]
    # Without it the same prompt runs to its end.
    free = converse_stream_events(client)
    assert [e["messageStop"]["stopReason"] for e in free if "messageStop" in e] == ["end_turn"]
    assert "trace" not in [e for e in free if "metadata" in e][0]["metadata"]


def test_converse_guardrail_trace_in_the_response(client):
    res = client.converse(
        modelId=NOVA,
        messages=[{"role": "user", "content": [{"text": prompt(f"tokens=8 guardrail=3 {FAST}")}]}],
        guardrailConfig=GUARDRAIL_CONFIG,
    )
    assert res["stopReason"] == "guardrail_intervened"
    assert res["trace"]["guardrail"]["outputAssessments"]["gr1abc"]


def test_invoke_stream_guardrail_headers_reach_bedrock(client):
    """boto3's `guardrailIdentifier`/`guardrailVersion`/`trace` are the guardrail;
    the last chunk carries Bedrock's action and trace keys."""

    def chunks(**extra):
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt(f"tokens=8 guardrail=3 {FAST}")}],
        }
        res = client.invoke_model_with_response_stream(modelId=SONNET, body=json.dumps(body), **extra)
        return [json.loads(e["chunk"]["bytes"]) for e in res["body"] if "chunk" in e]

    blocked = chunks(guardrailIdentifier="gr1abc", guardrailVersion="DRAFT", trace="ENABLED")
    assert blocked[-1]["type"] == "message_stop"
    assert blocked[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert blocked[-1]["amazon-bedrock-trace"]["guardrail"]
    stops = [e["delta"]["stop_reason"] for e in blocked if e["type"] == "message_delta"]
    assert stops == ["refusal"]
    free = chunks()
    assert "amazon-bedrock-guardrailAction" not in free[-1]
    assert [e["delta"]["stop_reason"] for e in free if e["type"] == "message_delta"] == ["end_turn"]


def test_a_half_guardrail_raises_validation_exception(client):
    with pytest.raises(client.exceptions.ValidationException, match="guardrail version"):
        client.converse(
            modelId=NOVA,
            messages=[{"role": "user", "content": [{"text": prompt(FAST)}]}],
            guardrailConfig={"guardrailIdentifier": "gr1abc", "guardrailVersion": "v9"},
        )


def test_converse_additional_fields_reach_bedrock_as_sent(client):
    """`additionalModelRequestFields` go upstream as the client sent them:
    Bedrock merges them into Claude's own body and refuses a key it lacks."""

    def converse(fields):
        return client.converse(
            modelId=SONNET,
            messages=[{"role": "user", "content": [{"text": prompt(f"tokens=3 {FAST}")}]}],
            additionalModelRequestFields=fields,
        )

    assert converse({"top_k": 5})["stopReason"] == "end_turn"
    with pytest.raises(client.exceptions.ValidationException, match=r"extraneous key \[topK\]"):
        converse({"topK": 5})


HAIKU_3_5 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def test_latency_optimized_inference_reaches_bedrock(client):
    """`performanceConfig` (Converse) and `performanceConfigLatency` (InvokeModel)
    go upstream: Bedrock serves `optimized` for Claude 3.5 Haiku and refuses it
    for a model without it."""
    optimized = {"latency": "optimized"}

    def converse(model):
        return client.converse(
            modelId=model,
            messages=[{"role": "user", "content": [{"text": prompt(f"tokens=2 {FAST}")}]}],
            performanceConfig=optimized,
        )

    def invoke(model):
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt(f"tokens=2 {FAST}")}],
        }
        res = client.invoke_model_with_response_stream(
            modelId=model, body=json.dumps(body), performanceConfigLatency="optimized"
        )
        return [json.loads(e["chunk"]["bytes"]) for e in res["body"] if "chunk" in e]

    assert converse(HAIKU_3_5)["stopReason"] == "end_turn"
    assert invoke(HAIKU_3_5)[-1]["type"] == "message_stop"
    for call in (converse, invoke):
        with pytest.raises(client.exceptions.ValidationException, match="Latency-optimized"):
            call(SONNET)


def test_count_tokens_is_bedrocks_count(client):
    """CountTokens goes to Bedrock: its count is the input a call of the same
    messages is billed for, through either input shape."""
    text = prompt(f"tokens=2 {FAST}")
    messages = [{"role": "user", "content": [{"text": text}]}]
    billed = client.converse(modelId=SONNET, messages=messages)["usage"]["inputTokens"]
    counted = client.count_tokens(modelId=SONNET, input={"converse": {"messages": messages}})
    assert counted["inputTokens"] == billed
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    by_body = client.count_tokens(modelId=SONNET, input={"invokeModel": {"body": json.dumps(body)}})
    assert by_body["inputTokens"] == billed
    longer = client.count_tokens(
        modelId=SONNET,
        input={"converse": {"messages": [{"role": "user", "content": [{"text": text + " and seas" * 20}]}]}},
    )
    assert longer["inputTokens"] > billed
    # Bedrock counts for Claude models only.
    with pytest.raises(client.exceptions.ValidationException, match="counting tokens"):
        client.count_tokens(modelId=NOVA, input={"converse": {"messages": messages}})


def test_service_tier_and_request_metadata_reach_bedrock(client):
    """`serviceTier` and `requestMetadata` (both APIs) go upstream: Bedrock
    takes `priority`, refuses `reserved` without reserved capacity, and
    refuses more than 16 metadata pairs."""
    messages = [{"role": "user", "content": [{"text": prompt(f"tokens=2 {FAST}")}]}]

    def converse(**extra):
        return client.converse(modelId=SONNET, messages=messages, **extra)

    def invoke(tier="default", **extra):
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt(f"tokens=2 {FAST}")}],
        }
        res = client.invoke_model_with_response_stream(
            modelId=SONNET, body=json.dumps(body), serviceTier=tier, **extra
        )
        return [json.loads(e["chunk"]["bytes"]) for e in res["body"] if "chunk" in e]

    assert converse(serviceTier={"type": "priority"}, requestMetadata={"team": "search"})["stopReason"] == "end_turn"
    assert invoke("priority")[-1]["type"] == "message_stop"
    with pytest.raises(client.exceptions.ValidationException, match="reserved capacity"):
        converse(serviceTier={"type": "reserved"})
    with pytest.raises(client.exceptions.ValidationException, match="reserved capacity"):
        invoke("reserved")
    with pytest.raises(client.exceptions.ValidationException, match="less than or equal to 16"):
        converse(requestMetadata={f"k{i}": "v" for i in range(17)})
    # InvokeModel's metadata is a header holding the map as JSON.
    assert invoke(requestMetadata=json.dumps({"team": "search"}))[-1]["type"] == "message_stop"
    with pytest.raises(client.exceptions.ValidationException, match="less than or equal to 16"):
        invoke(requestMetadata=json.dumps({f"k{i}": "v" for i in range(17)}))
    with pytest.raises(client.exceptions.ValidationException, match="JSON object of strings"):
        invoke(requestMetadata="team=search")


def test_throttled_call_raises_throttling_exception(client):
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(
            modelId=NOVA,
            messages=[{"role": "user", "content": [{"text": prompt("throttle=100")}]}],
        )


def test_claudes_stop_sequence_comes_back_in_the_response_fields_asked_for(client):
    """`additionalModelResponseFieldPaths` (Strands, langchain-aws and the AI
    SDK's Bedrock provider send it): Claude's stop sequence comes back at the
    pointers asked for, streamed and whole; other pointers find nothing."""
    text = prompt("tokens=30 rate=0 ttft_ms=0")
    messages = [{"role": "user", "content": [{"text": text}]}]
    words = client.converse(modelId=SONNET, messages=messages)["output"]["message"]["content"][0]["text"].split()
    word = next(w for w in words[3:] if len(w) > 3 and w.isalpha())
    ask = dict(
        modelId=SONNET,
        messages=messages,
        inferenceConfig={"stopSequences": ["never said", word]},
        additionalModelResponseFieldPaths=["/delta/stop_sequence", "/stop_sequence", "/nowhere"],
    )
    whole = client.converse(**ask)
    assert whole["stopReason"] == "stop_sequence"
    expected = {"delta": {"stop_sequence": word}, "stop_sequence": word}
    assert whole["additionalModelResponseFields"] == expected
    stop = next(e["messageStop"] for e in client.converse_stream(**ask)["stream"] if "messageStop" in e)
    assert stop["additionalModelResponseFields"] == expected
    # Nova's own response has no such field.
    nova = client.converse(**dict(ask, modelId=NOVA))
    assert "additionalModelResponseFields" not in nova


def test_a_whole_answer_that_fails_raises_model_error_exception(client):
    """A model failure on Converse or InvokeModel (no stream) is botocore's
    `ModelErrorException`; `ModelStreamErrorException` is the streams' own."""
    text = prompt(f"tokens=20 error_after=3 {FAST}")
    with pytest.raises(client.exceptions.ModelErrorException):
        client.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": text}]}])
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": text}]}
    with pytest.raises(client.exceptions.ModelErrorException):
        client.invoke_model(modelId=SONNET, body=json.dumps(body))


def test_malformed_claude_body_raises_validation_exception(client):
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=SONNET, body=json.dumps({"messages": "hi"}))


def test_sigv4_is_refused_with_a_bearer_token_hint(gateway, monkeypatch):
    base, _token, cert = gateway
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    signed = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=base,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        verify=cert,
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        signed.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert "AWS_BEARER_TOKEN_BEDROCK" in str(e.value)


def test_operations_it_does_not_serve_raise_unknown_operation(client):
    calls = [
        lambda: client.apply_guardrail(
            guardrailIdentifier="gr1abc",
            guardrailVersion="1",
            source="INPUT",
            content=[{"text": {"text": "hi"}}],
        ),
        lambda: client.list_async_invokes(),
        lambda: client.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc"),
        lambda: client.start_async_invoke(
            modelId=NOVA,
            modelInput={"prompt": "hi"},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
        ),
    ]
    for call in calls:
        with pytest.raises(botocore.exceptions.ClientError) as err:
            call()
        error = err.value.response["Error"]
        assert error["Code"] == "UnknownOperationException", error
        assert "not served by this gateway" in error["Message"]


def test_operations_boto3_cannot_call_are_refused_in_bedrocks_shape(gateway):
    """InvokeModelWithBidirectionalStream (no boto3 method) and
    InvokeGuardrailChecks: `x-amzn-ErrorType` and `{"message"}` naming the
    operation, which the other SDKs raise as a named error."""
    import ssl

    base, token, cert = gateway
    context = ssl.create_default_context(cafile=cert)
    for path, operation in [
        (f"/model/{NOVA}/invoke-with-bidirectional-stream", "InvokeModelWithBidirectionalStream"),
        ("/guardrail-checks/invoke", "InvokeGuardrailChecks"),
    ]:
        request = urllib.request.Request(
            base + path,
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, context=context, timeout=10)
        assert err.value.code == 404, path
        assert err.value.headers["x-amzn-ErrorType"] == "UnknownOperationException", path
        message = json.loads(err.value.read())["message"]
        assert message.startswith(f"{operation} is not served by this gateway"), message


def test_an_embedding_model_is_refused_without_wrong_advice(client):
    with pytest.raises(client.exceptions.ValidationException) as err:
        client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello"}))
    message = err.value.response["Error"]["Message"]
    assert "embedding and image models are not served" in message
    assert "converse" not in message.lower()
