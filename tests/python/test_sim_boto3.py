"""boto3 against `spillway sim`: the simulator must speak Bedrock's wire protocol.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_sim_boto3.py

`SPILLWAY_BIN` overrides the binary (default `target/debug/spillway` in this
repository).
"""

import base64
import json
import os
import pathlib
import queue
import subprocess
import threading
import urllib.request
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

# A bearer token in the environment would make botocore skip SigV4; the
# simulator accepts either, but keep the tests independent of the caller's shell.
os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)

REPO = pathlib.Path(__file__).resolve().parents[2]
LISTENING = "spillway sim listening on "
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
FAST = "rate=0 ttft_ms=0"


@pytest.fixture(scope="module")
def sim_url():
    binary = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_")}
    proc = subprocess.Popen(
        [binary, "sim", "--listen", "127.0.0.1:0"],
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
        pytest.fail("spillway sim printed nothing within 30 s")
    if not first.startswith(LISTENING):
        proc.kill()
        pytest.fail(f"unexpected first line from spillway sim: {first!r}")
    url = first[len(LISTENING):].strip()
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def client(sim_url):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=sim_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDSIMTEST",
        aws_secret_access_key="not-a-secret",
        config=botocore.config.Config(retries={"max_attempts": 1, "total_max_attempts": 1}),
    )


def stats(sim_url):
    with urllib.request.urlopen(f"{sim_url}/sim/stats", timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def unique(directive):
    """A prompt nobody else in the session uses (throttle counts are per prompt)."""
    return f"Tell me about rivers ({uuid.uuid4()}). [[sim {directive}]]"


def invoke(client, model, body):
    """Streams one InvokeModel call; returns the decoded chunk objects."""
    response = client.invoke_model_with_response_stream(
        modelId=model,
        body=json.dumps(body),
        contentType="application/json",
        accept="application/json",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["contentType"] == "application/json"
    chunks = []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return chunks


def claude_text(chunk):
    if chunk["type"] == "content_block_delta":
        return chunk["delta"]["text"]
    return None


FAMILIES = {
    "claude": (
        CLAUDE,
        lambda p: {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": p}],
        },
        claude_text,
    ),
    "claude-blocks": (
        "us." + CLAUDE,
        lambda p: {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": p}]}],
        },
        claude_text,
    ),
    "nova": (
        "us.amazon.nova-lite-v1:0",
        lambda p: {
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": p}]}],
            "inferenceConfig": {"max_new_tokens": 200},
        },
        lambda c: c.get("contentBlockDelta", {}).get("delta", {}).get("text"),
    ),
    "titan": (
        "amazon.titan-text-express-v1",
        lambda p: {"inputText": p, "textGenerationConfig": {"maxTokenCount": 200}},
        lambda c: c["outputText"],
    ),
    "llama": (
        "meta.llama3-1-8b-instruct-v1:0",
        lambda p: {"prompt": p, "max_gen_len": 200},
        lambda c: c["generation"],
    ),
    "mistral": (
        "mistral.mistral-large-2407-v1:0",
        lambda p: {"prompt": f"<s>[INST] {p} [/INST]", "max_tokens": 200},
        lambda c: c["outputs"][0]["text"],
    ),
    "cohere": (
        "cohere.command-r-plus-v1:0",
        lambda p: {"message": p, "chat_history": [], "max_tokens": 200},
        lambda c: c["text"] if c["event_type"] == "text-generation" else None,
    ),
    "deepseek": (
        "us.deepseek.r1-v1:0",
        lambda p: {"prompt": p, "max_tokens": 200},
        lambda c: c["choices"][0]["text"],
    ),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_invoke_stream_each_family(client, family):
    model, make_body, text_of = FAMILIES[family]
    chunks = invoke(client, model, make_body(unique(f"tokens=7 {FAST}")))
    tokens = [t for t in map(text_of, chunks) if t]
    assert len(tokens) == 7, chunks
    text = "".join(tokens)
    assert len(text.split()) >= 3, text
    last = chunks[-1]
    metrics = last["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == 7
    assert metrics["inputTokenCount"] > 0
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0
    # Only the last chunk carries the metrics.
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    if family.startswith("claude"):
        assert chunks[-1]["type"] == "message_stop"
        assert chunks[-2]["delta"]["stop_reason"] == "end_turn"
        assert chunks[-2]["usage"]["output_tokens"] == 7
    elif family == "titan":
        assert last["completionReason"] == "FINISH"
        assert last["totalOutputTextTokenCount"] == 7
    elif family == "llama":
        assert chunks[0]["prompt_token_count"] > 0
        assert chunks[1]["prompt_token_count"] is None
        assert last["stop_reason"] == "stop"
    elif family == "cohere":
        assert chunks[0]["event_type"] == "stream-start"
        assert last["is_finished"] is True
        assert last["finish_reason"] == "COMPLETE"
        assert last["response"]["text"] == text
    elif family == "nova":
        assert chunks[0] == {"messageStart": {"role": "assistant"}}
        assert last["metadata"]["usage"]["outputTokens"] == 7


def test_text_is_deterministic_per_prompt(client):
    prompt = unique(f"tokens=20 {FAST}")
    model, make_body, text_of = FAMILIES["llama"]
    first = "".join(t for t in map(text_of, invoke(client, model, make_body(prompt))) if t)
    second = "".join(t for t in map(text_of, invoke(client, model, make_body(prompt))) if t)
    assert first == second


def test_max_tokens_caps_the_answer(client):
    model, make_body, text_of = FAMILIES["titan"]
    body = make_body(unique(f"tokens=50 {FAST}"))
    body["textGenerationConfig"]["maxTokenCount"] = 4
    chunks = invoke(client, model, body)
    assert len([t for t in map(text_of, chunks) if t]) == 4
    assert chunks[-1]["completionReason"] == "LENGTH"


def test_arn_model_id(client):
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE}"
    _, make_body, text_of = FAMILIES["claude"]
    chunks = invoke(client, arn, make_body(unique(f"tokens=3 {FAST}")))
    assert len([t for t in map(text_of, chunks) if t]) == 3


def test_converse_stream(client):
    notes = b"hello!"
    response = client.converse_stream(
        modelId="us.amazon.nova-pro-v1:0",
        messages=[{"role": "user", "content": [{"text": unique(f"tokens=6 {FAST}")}]}],
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 100, "temperature": 0.5},
    )
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart"
    assert kinds[1:7] == ["contentBlockDelta"] * 6
    assert kinds[7:] == ["contentBlockStop", "messageStop", "metadata"]
    assert events[0]["messageStart"]["role"] == "assistant"
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:7])
    assert text.strip()
    assert events[8]["messageStop"]["stopReason"] == "end_turn"
    usage = events[9]["metadata"]["usage"]
    assert usage["outputTokens"] == 6
    assert usage["totalTokens"] == usage["inputTokens"] + 6
    assert "latencyMs" in events[9]["metadata"]["metrics"]


def test_converse_stream_max_tokens(client):
    response = client.converse_stream(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"text": unique(f"tokens=30 {FAST}")}]}],
        inferenceConfig={"maxTokens": 2},
    )
    events = list(response["stream"])
    assert sum(1 for e in events if "contentBlockDelta" in e) == 2
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"


def test_throttle_directive(client, sim_url):
    before = stats(sim_url)
    _, make_body, _ = FAMILIES["claude"]
    body = make_body(unique(f"throttle=2 tokens=3 {FAST}"))
    for _ in range(2):
        with pytest.raises(client.exceptions.ThrottlingException) as info:
            client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert "Too many requests" in info.value.response["Error"]["Message"]
    assert len(invoke(client, CLAUDE, body)) > 0
    after = stats(sim_url)
    assert after["throttled"] - before["throttled"] == 2


def test_error_after_raises_model_stream_error(client):
    _, make_body, text_of = FAMILIES["claude"]
    response = client.invoke_model_with_response_stream(
        modelId=CLAUDE, body=json.dumps(make_body(unique(f"tokens=10 error_after=3 {FAST}")))
    )
    tokens = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        for event in response["body"]:
            text = text_of(json.loads(event["chunk"]["bytes"]))
            if text:
                tokens.append(text)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert len(tokens) == 3


def test_validation_errors(client):
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model_with_response_stream(
            modelId="openai.gpt-oss-120b-1:0", body=json.dumps({"prompt": "x"})
        )
    assert info.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model_with_response_stream(
            modelId=CLAUDE,
            body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "messages": []}),
        )
    assert "max_tokens" in info.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model_with_response_stream(
            modelId=CLAUDE,
            body=json.dumps(FAMILIES["claude"][1]("hi") | {"max_tokens": 100000}),
        )
    assert "100000 > 8192" in info.value.response["Error"]["Message"]


def test_stats_count_streams_and_tokens(client, sim_url):
    before = stats(sim_url)
    assert set(before) == {
        "streamsStarted",
        "streamsCompleted",
        "streamsCancelled",
        "tokensSent",
        "throttled",
        "authSchemes",
        "connections",
        "httpVersions",
    }
    model, make_body, _ = FAMILIES["mistral"]
    invoke(client, model, make_body(unique(f"tokens=5 {FAST}")))
    invoke(client, model, make_body(unique(f"tokens=4 {FAST}")))
    after = stats(sim_url)
    assert after["streamsStarted"] - before["streamsStarted"] == 2
    assert after["streamsCompleted"] - before["streamsCompleted"] == 2
    assert after["tokensSent"] - before["tokensSent"] == 9
    # boto3 talks to the cleartext port: HTTP/1.1.
    http1 = after["httpVersions"]["HTTP/1.1"] - before["httpVersions"]["HTTP/1.1"]
    assert http1 >= 2
    assert after["streamsCancelled"] == before["streamsCancelled"]


# Tools, reasoning and attachments: `[[sim tool=NAME think=N]]`, images and documents.

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "hourly": {"type": "boolean"},
    },
    "required": ["city", "days", "unit"],
}
# What a call built from WEATHER_SCHEMA sends: each required property gets a value of its type.
WEATHER_INPUT = {"city": "sample", "days": 1, "unit": "celsius"}


def png(width, height):
    """Just a PNG signature and IHDR chunk: enough for the simulator's checks."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0\0\0\0"


def claude_tools_body(messages):
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
        ],
        "messages": messages,
    }


def claude_answer(chunks):
    """Puts a Claude answer back together: its content blocks in order, and the stop reason."""
    blocks, stop = {}, None
    for chunk in chunks:
        if chunk["type"] == "content_block_start":
            blocks[chunk["index"]] = dict(chunk["content_block"], deltas=0, json="")
        elif chunk["type"] == "content_block_delta":
            block, delta = blocks[chunk["index"]], chunk["delta"]
            block["deltas"] += 1
            if delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                block["json"] += delta["partial_json"]
        elif chunk["type"] == "message_delta":
            stop = chunk["delta"]["stop_reason"]
    return [blocks[i] for i in sorted(blocks)], stop


def test_invoke_claude_reasoning_and_tool_call(client):
    prompt = unique(f"tokens=2 think=3 tool=get_weather {FAST}")
    chunks = invoke(client, CLAUDE, claude_tools_body([{"role": "user", "content": prompt}]))
    blocks, stop = claude_answer(chunks)
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use"]
    thinking, text, tool = blocks
    assert len(thinking["thinking"].split()) == 3
    assert thinking["signature"]
    assert text["text"]
    assert tool["name"] == "get_weather"
    assert tool["id"].startswith("toolu_")
    assert tool["deltas"] >= 3
    assert json.loads(tool["json"]) == WEATHER_INPUT
    assert stop == "tool_use"

    # The next turn replays the thinking block and the call, and sends the result.
    def next_turn(signature):
        call = {"type": "tool_use", "id": tool["id"], "name": "get_weather", "input": WEATHER_INPUT}
        result = {"type": "tool_result", "tool_use_id": tool["id"], "content": "rain, 9 C"}
        replayed = {"type": "thinking", "thinking": thinking["thinking"], "signature": signature}
        said = {"type": "text", "text": text["text"]}
        return claude_tools_body(
            [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": [replayed, said, call]},
                {"role": "user", "content": [result]},
            ]
        )

    blocks, stop = claude_answer(invoke(client, CLAUDE, next_turn(thinking["signature"])))
    answer = next(b for b in blocks if b["type"] == "text")["text"]
    assert answer.startswith("Tool result: rain, 9 C\n"), answer
    assert stop == "end_turn"
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model_with_response_stream(
            modelId=CLAUDE, body=json.dumps(next_turn("Zm9yZ2Vk"))
        )
    assert "Invalid signature" in info.value.response["Error"]["Message"]


def test_invoke_claude_image_line_and_bad_magic(client):
    def body(media_type, data):
        data = base64.b64encode(data).decode()
        source = {"type": "base64", "media_type": media_type, "data": data}
        content = [
            {"type": "image", "source": source},
            {"type": "text", "text": unique(f"tokens=2 {FAST}")},
        ]
        return claude_tools_body([{"role": "user", "content": content}])

    blocks, _ = claude_answer(invoke(client, CLAUDE, body("image/png", png(64, 48))))
    text = next(b for b in blocks if b["type"] == "text")["text"]
    assert text.startswith("[image/png 64x48]\n"), text
    with pytest.raises(client.exceptions.ValidationException) as info:
        jpeg_labelled_png = body("image/png", b"\xff\xd8\xff\xe0 jpeg")
        client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(jpeg_labelled_png))
    assert "image/png" in info.value.response["Error"]["Message"]


def converse_text(events):
    """The text deltas of a ConverseStream, joined."""
    deltas = (e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e)
    return "".join(d.get("text", "") for d in deltas)


def test_converse_stream_reasoning_tool_call_and_forged_signature(client):
    prompt = unique(f"tokens=0 tool=get_weather {FAST}")
    schema = {"json": WEATHER_SCHEMA}
    tool_config = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": schema}}]}
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    response = client.converse_stream(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        toolConfig=tool_config,
        additionalModelRequestFields=thinking,
    )
    events = list(response["stream"])
    reasoning, signature, tool, tool_json, tool_deltas = "", None, None, "", 0
    for event in events:
        if "contentBlockStart" in event:
            tool = event["contentBlockStart"]["start"]["toolUse"]
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]["delta"]
            if "reasoningContent" in delta:
                reasoning += delta["reasoningContent"].get("text", "")
                signature = delta["reasoningContent"].get("signature", signature)
            elif "toolUse" in delta:
                tool_json += delta["toolUse"]["input"]
                tool_deltas += 1
    assert reasoning.split() and signature
    assert tool["name"] == "get_weather" and tool["toolUseId"].startswith("tooluse_")
    assert tool_deltas >= 3
    assert json.loads(tool_json) == WEATHER_INPUT
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["stopReason"] == "tool_use"
    assert "metadata" in events[-1]

    def replay(sig):
        tool_id = tool["toolUseId"]
        replayed = {"reasoningText": {"text": reasoning, "signature": sig}}
        call = {"toolUseId": tool_id, "name": "get_weather", "input": WEATHER_INPUT}
        answered = [{"reasoningContent": replayed}, {"toolUse": call}]
        result = {"toolUseId": tool_id, "content": [{"text": "sunny"}]}
        return client.converse_stream(
            modelId=CLAUDE,
            messages=[
                {"role": "user", "content": [{"text": prompt}]},
                {"role": "assistant", "content": answered},
                {"role": "user", "content": [{"toolResult": result}]},
            ],
            toolConfig=tool_config,
            additionalModelRequestFields=thinking,
        )

    assert converse_text(replay(signature)["stream"]) == "Tool result: sunny\n"
    with pytest.raises(client.exceptions.ValidationException) as info:
        replay("Zm9yZ2Vk")
    assert "Invalid signature" in info.value.response["Error"]["Message"]


def test_converse_stream_image_line(client):
    notes = b"hello!"
    response = client.converse_stream(
        modelId="us.amazon.nova-pro-v1:0",
        messages=[
            {
                "role": "user",
                "content": [
                    {"image": {"format": "png", "source": {"bytes": png(640, 480)}}},
                    {"document": {"format": "txt", "name": "notes", "source": {"bytes": notes}}},
                    {"text": unique(f"tokens=2 {FAST}")},
                ],
            }
        ],
    )
    text = converse_text(response["stream"])
    assert text.startswith("[image/png 640x480]\n[document notes 6 bytes]\n"), text


# Non-streaming InvokeModel and Converse, and the control-plane listings.

SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER_SPEC = {"name": "get_weather", "inputSchema": {"json": WEATHER_SCHEMA}}
WEATHER_TOOLS = {"tools": [{"toolSpec": WEATHER_SPEC}]}


def test_invoke_model_claude_message_with_a_tool_call(client):
    prompt = unique(f"tokens=3 think=2 tool=get_weather {FAST}")
    body = claude_tools_body([{"role": "user", "content": prompt}]) | {"max_tokens": 32000}
    response = client.invoke_model(modelId=SONNET_45, body=json.dumps(body))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["contentType"] == "application/json"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    message = json.loads(response["body"].read())
    assert set(message) == {
        "id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage",
    }
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-sonnet-4-5-20250929"
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message["content"]
    assert len(thinking["thinking"].split()) == 2 and thinking["signature"]
    # Three text tokens: one to three words, as the simulator splits words the
    # way tokenizers do ("inspec" + "ted"); the prose depends on the prompt.
    assert 1 <= len(text["text"].split()) <= 3, text
    assert tool["name"] == "get_weather" and tool["id"].startswith("toolu_")
    assert tool["input"] == WEATHER_INPUT
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    usage = message["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 5
    assert headers["x-amzn-bedrock-output-token-count"] == str(usage["output_tokens"])
    assert headers["x-amzn-bedrock-input-token-count"] == str(usage["input_tokens"])
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0


def test_converse_with_a_tool_call(client):
    response = client.converse(
        modelId=SONNET_45,
        messages=[
            {"role": "user", "content": [{"text": unique(f"tokens=2 tool=get_weather {FAST}")}]}
        ],
        toolConfig=WEATHER_TOOLS,
        inferenceConfig={"maxTokens": 32000},
    )
    message = response["output"]["message"]
    assert message["role"] == "assistant"
    text, call = message["content"]
    assert 1 <= len(text["text"].split()) <= 2, text  # two tokens: one or two words
    tool = call["toolUse"]
    assert tool["name"] == "get_weather" and tool["toolUseId"].startswith("tooluse_")
    assert tool["input"] == WEATHER_INPUT
    assert response["stopReason"] == "tool_use"
    usage = response["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["outputTokens"] > 2
    assert response["metrics"]["latencyMs"] >= 0


def test_invoke_model_throttle(client):
    body = FAMILIES["claude"][1](unique(f"throttle=1 tokens=2 {FAST}"))
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.invoke_model(modelId=CLAUDE, body=json.dumps(body))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    message = json.loads(client.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    assert message["stop_reason"] == "end_turn"


def test_invoke_model_error_after(client):
    body = FAMILIES["claude"][1](unique(f"error_after=1 {FAST}"))
    with pytest.raises(client.exceptions.ModelErrorException) as info:
        client.invoke_model(modelId=CLAUDE, body=json.dumps(body))
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_output_token_ceilings(client):
    body = FAMILIES["claude"][1](unique(f"tokens=2 {FAST}"))
    client.invoke_model(modelId=SONNET_45, body=json.dumps(body | {"max_tokens": 64000}))
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model(modelId=SONNET_45, body=json.dumps(body | {"max_tokens": 64001}))
    assert "64001 > 64000, which is the maximum allowed number of output tokens" in (
        info.value.response["Error"]["Message"]
    )
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.converse(
            modelId="anthropic.claude-opus-4-1-20250805-v1:0",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            inferenceConfig={"maxTokens": 32001},
        )
    assert "exceeds the model limit of 32000" in info.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def control(sim_url):
    return boto3.client(
        "bedrock",
        endpoint_url=sim_url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDSIMTEST",
        aws_secret_access_key="not-a-secret",
    )


def test_list_inference_profiles(control):
    response = control.list_inference_profiles()
    profiles = response["inferenceProfileSummaries"]
    by_id = {p["inferenceProfileId"]: p for p in profiles}
    sonnet = by_id["eu.anthropic.claude-sonnet-4-5-20250929-v1:0"]
    assert sonnet["inferenceProfileArn"].startswith("arn:aws:bedrock:eu-west-1:")
    assert sonnet["inferenceProfileName"] == "EU Anthropic Claude Sonnet 4.5"
    assert sonnet["status"] == "ACTIVE" and sonnet["type"] == "SYSTEM_DEFINED"
    assert sonnet["description"]
    arns = [m["modelArn"] for m in sonnet["models"]]
    assert arns and all("foundation-model/anthropic.claude-sonnet-4-5" in a for a in arns)
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" in by_id
    assert "nextToken" not in response
    # The paginator follows nextToken.
    paginator = control.get_paginator("list_inference_profiles")
    pages = paginator.paginate(PaginationConfig={"PageSize": 4})
    paged = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert paged == [p["inferenceProfileId"] for p in profiles]


def test_list_foundation_models(control):
    models = control.list_foundation_models()["modelSummaries"]
    by_id = {m["modelId"]: m for m in models}
    haiku = by_id["anthropic.claude-3-5-haiku-20241022-v1:0"]
    assert haiku["modelArn"] == "arn:aws:bedrock:eu-west-1::foundation-model/" + haiku["modelId"]
    assert haiku["providerName"] == "Anthropic"
    assert haiku["outputModalities"] == ["TEXT"]
    assert haiku["responseStreamingSupported"] is True
    assert "ON_DEMAND" in haiku["inferenceTypesSupported"]
    meta = control.list_foundation_models(byProvider="Meta")["modelSummaries"]
    assert meta and all(m["providerName"] == "Meta" for m in meta)
