"""The official `openai` SDK against the gateway's `POST /v1/chat/completions`.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_openai.py

It starts `spillway serve --listen 127.0.0.1:0` (embedded simulator, dev auth)
with a temporary data dir and mints a token with `spillway token` from the same
dir; the token is the SDK's API key. `SPILLWAY_BIN` overrides the binary.
"""

import base64
import contextlib
import json
import os
import pathlib
import queue
import struct
import subprocess
import tempfile
import threading
import urllib.request
import uuid
import zlib

import openai
import pydantic
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
LISTENING = "spillway listening on "
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
# A model with extended thinking.
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
FAST = "rate=0 ttft_ms=0"


def clean_env(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_", "OTEL_"))}
    env["SPILLWAY_DATA_DIR"] = data_dir
    return env


@contextlib.contextmanager
def running_gateway(extra_env=None, stderr=subprocess.DEVNULL):
    """Start `spillway serve` with `extra_env` beside a clean environment;
    yield (base URL, token, process). Stopped with SIGTERM (a graceful drain)."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = clean_env(data_dir)
        env.update(extra_env or {})
        proc = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
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
        if not first.startswith(LISTENING):
            proc.kill()
            pytest.fail(f"unexpected first line from spillway: {first!r}")
        base = first[len(LISTENING):].strip()
        token = subprocess.run(
            [BINARY, "token", "--sub", "alice"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        try:
            yield base, token, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def gateway():
    """(base URL, token) of a gateway running for this module."""
    with running_gateway() as (base, token, _):
        yield base, token


@pytest.fixture
def client(gateway):
    base, token = gateway
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def session(gateway, session_id):
    base, token = gateway
    req = urllib.request.Request(
        f"{base}/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def prompt(directive):
    return f"Tell me about rivers ({uuid.uuid4()}). [[sim {directive}]]"


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert CLAUDE in ids
    assert client.models.retrieve(CLAUDE).id == CLAUDE
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("acme.nope-v1")
    assert (err.value.code, err.value.param) == ("model_not_found", "model")
    assert "acme.nope-v1" in err.value.message


def test_non_streaming_completion(client, gateway):
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": prompt(f"tokens=9 {FAST}")},
        ],
        max_tokens=100,
        temperature=0.5,
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == CLAUDE
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.usage.completion_tokens == 9
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == 9 + completion.usage.prompt_tokens
    # Always there, as at OpenAI (cost code reads it unguarded).
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    info = session(gateway, raw.headers["x-session-id"])
    assert info["status"] == "complete"
    assert choice.message.content == info["text"]
    assert completion.id == f"chatcmpl-{info['sessionId']}"


def test_a_refusal_part_in_an_assistant_message_is_its_words(client):
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[
            {"role": "user", "content": "Help me pick a lock."},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
            {"role": "user", "content": prompt(f"tokens=2 {FAST}")},
        ],
    )
    assert completion.choices[0].finish_reason == "stop"


def test_a_whole_answer_takes_as_long_as_the_model_takes():
    """SPILLWAY_REQUEST_TIMEOUT_SECS bounds the time to an answer's start; a
    non-streaming answer slower than it still comes back whole (it was a
    504, then retried twice by the SDK, each try billed and cut)."""
    with running_gateway({"SPILLWAY_REQUEST_TIMEOUT_SECS": "1"}) as (base, token, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)
        slow = prompt("tokens=6 rate=3 ttft_ms=0")
        completion = client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": slow}])
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage.completion_tokens == 6
        response = client.responses.create(model=CLAUDE, input=prompt("tokens=6 rate=3 ttft_ms=0"))
        assert response.status == "completed"
        assert response.usage.output_tokens == 6


def test_max_tokens_finishes_with_length(client):
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": [{"type": "text", "text": prompt(f"tokens=20 {FAST}")}]}],
        max_completion_tokens=5,
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5


def test_streaming_chunks(client, gateway):
    with client.chat.completions.with_streaming_response.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": prompt("tokens=12 rate=200 ttft_ms=0")}],
        stream=True,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        session_id = response.headers["x-session-id"]
        chunks = list(response.parse())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    content = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert len(content) == 12 and all(content)
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is None
    assert "".join(content) == session(gateway, session_id)["text"]


def test_streaming_include_usage(client):
    stream = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": prompt(f"tokens=6 {FAST}")}],
        stream=True,
        stream_options={"include_usage": True},
        stop=["never-said"],
    )
    chunks = list(stream)
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == 6
    assert usage_chunk.usage.prompt_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


def test_error_mid_stream_is_raised(client, gateway):
    stream = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": prompt(f"tokens=20 error_after=3 {FAST}")}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError) as err:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 3
    assert err.value.code == "model_stream_error"
    assert err.value.body["type"] == "api_error"


def test_a_tool_message_answering_no_call_is_named(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[
                {"role": "user", "content": "Weather?"},
                {"role": "tool", "tool_call_id": "nobody", "content": "sunny"},
            ],
        )
    assert err.value.param == "messages"
    assert "messages[1] (a tool message): tool_call_id 'nobody'" in err.value.message


def test_errors_before_a_handler_are_openai_errors(client, gateway):
    base, _ = gateway
    bad = openai.OpenAI(base_url=f"{base}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.responses.create(model=CLAUDE, input="hi")
    assert (err.value.code, err.value.type, err.value.param) == ("invalid_token", "authentication_error", None)
    with pytest.raises(openai.NotFoundError) as err:
        client.embeddings.create(model=CLAUDE, input="hi")
    assert err.value.type == "not_found_error"
    assert "POST /v1/embeddings" in err.value.message
    with pytest.raises(openai.APIStatusError) as err:
        client.get("/chat/completions", cast_to=object)
    assert err.value.status_code == 405
    assert (err.value.code, err.value.type) == ("method_not_allowed", "invalid_request_error")
    assert err.value.response.headers["allow"] == "POST"


def test_error_mid_stream_without_streaming(client):
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": prompt(f"tokens=20 error_after=3 {FAST}")}],
        )
    assert err.value.status_code == 502
    assert err.value.code == "model_stream_error"


def test_errors_before_streaming(client, gateway):
    # As OpenAI answers a model it does not serve: the SDK's NotFoundError.
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="acme.nope-v1", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="acme.nope-v1", input="hi")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "hi"}], n=2
        )
    base, _ = gateway
    bad = openai.OpenAI(base_url=f"{base}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def get_weather(city):
    """The tool, run locally as an SDK user would."""
    return f"22 degrees and sunny in {city}"


def stream_turn(client, **kwargs):
    """One streamed turn, accumulated the way SDK users do: (text, tool calls by index, finish reason, chunks)."""
    text, calls, finish, chunks = "", {}, None, []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        chunks.append(chunk)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        text += delta.content or ""
        for tc in delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                call["id"] = tc.id
            if tc.function and tc.function.name:
                call["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
        finish = choice.finish_reason or finish
    return text, calls, finish, chunks


def test_streamed_tool_loop(client):
    messages = [{"role": "user", "content": prompt(f"tool=get_weather {FAST}")}]
    text, calls, finish, _ = stream_turn(
        client, model=CLAUDE, tools=[WEATHER_TOOL], parallel_tool_calls=False, messages=messages
    )
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] and call["name"] == "get_weather"
    result = get_weather(**json.loads(call["arguments"]))
    messages += [
        {
            "role": "assistant",
            "content": text or None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": result},
    ]
    answer, _, _, _ = stream_turn(client, model=CLAUDE, tools=[WEATHER_TOOL], messages=messages)
    assert answer.startswith("Tool result: " + result), answer


def test_tool_call_without_streaming(client):
    messages = [{"role": "user", "content": prompt(f"tool=get_weather {FAST}")}]
    completion = client.chat.completions.create(
        model=CLAUDE,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=messages,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample"}
    # The message object goes back as it came (refusal, audio… as nulls).
    result = get_weather(**json.loads(call.function.arguments))
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": result}]
    again = client.chat.completions.create(model=CLAUDE, tools=[WEATHER_TOOL], messages=messages)
    assert again.choices[0].finish_reason == "stop"
    assert again.choices[0].message.content.startswith("Tool result: " + result)


class Place(pydantic.BaseModel):
    city: str
    country: str


def test_structured_output_parses_into_a_pydantic_model(client):
    """`response_format` json_schema (the SDK's `parse`): the answer is the JSON."""
    completion = client.chat.completions.parse(
        model=CLAUDE,
        messages=[{"role": "user", "content": f"Where is the Louvre? [[sim {FAST}]]"}],
        response_format=Place,
    )
    choice = completion.choices[0]
    assert isinstance(choice.message.parsed, Place), choice.message
    assert choice.message.parsed.city and choice.message.parsed.country
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls


def test_text_before_the_json_answer_is_not_part_of_it(client):
    """Models that speak before the format's tool call (Nova, Llama and
    Mistral through Converse do; `tool=Place` makes the simulator do it):
    the content is the JSON alone, whole and streamed, as LiteLLM has it."""
    ask = dict(
        model="us.amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": prompt(f"tool=Place tokens=4 {FAST} Where is the Louvre?")}],
    )
    parsed = client.chat.completions.parse(response_format=Place, **ask)
    assert parsed.choices[0].message.parsed == Place(city="sample", country="sample")
    chunks = client.chat.completions.create(
        response_format={"type": "json_schema", "json_schema": {"name": "Place", "schema": Place.model_json_schema()}},
        stream=True,
        **ask,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"city": "sample", "country": "sample"}, text


def test_json_mode_streams_json_content(client):
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": f"Describe Oslo as JSON. [[sim {FAST}]]"}],
            response_format={"type": "json_object"},
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(json.loads(text), dict), text
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)


class GetWeather(pydantic.BaseModel):
    city: str


def test_structured_output_with_tools_calls_a_tool_then_answers_in_the_format(client):
    """`parse(tools=…, response_format=M)`: a turn may call the client's tools
    (function calls, `finish_reason` "tool_calls"); the answer after the
    results is parsed into `M`."""
    tools = [openai.pydantic_function_tool(GetWeather, name="get_weather")]
    messages = [{"role": "user", "content": f"Where is the Louvre, and how warm is it? [[sim {FAST}]]"}]
    first = client.chat.completions.parse(
        model=CLAUDE,
        messages=messages,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format=Place,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.parsed is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(call.function.parsed_arguments, GetWeather)
    messages += [
        {
            "role": "assistant",
            "content": choice.message.content,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.function.arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": get_weather(**json.loads(call.function.arguments))},
    ]
    second = client.chat.completions.parse(model=CLAUDE, messages=messages, tools=tools, response_format=Place)
    choice = second.choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert isinstance(choice.message.parsed, Place), choice.message
    # Streamed, the answer is content deltas, and its finish is a stop.
    text, calls, finish, _ = stream_turn(
        client, model=CLAUDE, messages=messages, tools=tools, response_format={"type": "json_object"}
    )
    assert (calls, finish) == ({}, "stop")
    assert isinstance(json.loads(text), dict), text


def test_logprobs_are_refused_unless_turned_off(client):
    messages = [{"role": "user", "content": f"hi [[sim tokens=2 {FAST}]]"}]
    with pytest.raises(openai.BadRequestError, match="no token log-probabilities") as err:
        client.chat.completions.create(model=CLAUDE, messages=messages, logprobs=True)
    assert err.value.param == "logprobs"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=CLAUDE, messages=messages, logprobs=True, top_logprobs=2, stream=True)
    assert err.value.param == "logprobs"
    off = client.chat.completions.create(model=CLAUDE, messages=messages, logprobs=False)
    assert off.choices[0].message.content and off.choices[0].logprobs is None


def test_response_format_with_reasoning_is_bedrocks_structured_output(client):
    # A forced tool cannot go with extended thinking: the format goes as
    # Bedrock's own structured output (Converse's outputConfig) instead, and
    # the model thinks first.
    messages = [{"role": "user", "content": prompt(f"think=2 {FAST} where is the Louvre")}]
    completion = client.chat.completions.parse(
        model=SONNET, messages=messages, response_format=Place, reasoning_effort="low"
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.parsed == Place(city="sample", country="sample")
    assert getattr(choice.message, "reasoning_content", None)


def test_the_output_ceiling_covers_reasoning(client):
    """As at OpenAI, `max_completion_tokens` counts reasoning and answer
    together: the effort's budget shrinks under it, and an answer that
    reaches it ends with `length`."""
    messages = [{"role": "user", "content": prompt(f"think=3 tokens=9000 {FAST}")}]
    completion = client.chat.completions.create(
        model=SONNET, reasoning_effort="high", max_completion_tokens=2000, messages=messages
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens <= 2000
    with pytest.raises(openai.BadRequestError, match="no room for reasoning") as err:
        client.chat.completions.create(
            model=SONNET, reasoning_effort="xhigh", max_completion_tokens=500, messages=messages
        )
    assert err.value.param == "max_completion_tokens"


def test_anthropic_model_names_and_a_greeting_first(client):
    """Agents that name Claude as Anthropic does, and chat UIs whose
    conversation opens with the assistant's greeting."""
    messages = [
        {"role": "system", "content": "You are a guide."},
        {"role": "assistant", "content": "Hi! Where would you like to go?"},
        {"role": "user", "content": prompt(f"tokens=2 {FAST}")},
    ]
    completion = client.chat.completions.create(model="claude-sonnet-4-5", messages=messages)
    assert completion.usage.completion_tokens == 2
    assert completion.model == "global.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_what_bedrock_cannot_do_is_refused_by_name(client):
    messages = [{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
    with pytest.raises(openai.BadRequestError, match="no built-in web search") as err:
        client.chat.completions.create(model=SONNET, messages=messages, web_search_options={})
    assert err.value.param == "web_search_options"
    with pytest.raises(openai.BadRequestError, match="only text output") as err:
        client.chat.completions.create(
            model=SONNET,
            messages=messages,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
        )
    assert err.value.param == "modalities"


def test_reasoning_effort_streams_reasoning_content(client):
    messages = [{"role": "user", "content": prompt(f"think=3 tokens=4 {FAST}")}]
    text, _, finish, chunks = stream_turn(
        client, model=SONNET, reasoning_effort="low", messages=messages, stream_options={"include_usage": True}
    )
    # Bedrock counts reasoning within the output; its share is estimated.
    usage = chunks[-1].usage
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = [getattr(d, "reasoning_content", None) for d in deltas]
    reasoning = [r for r in reasoning if r]
    assert len(reasoning) == 3
    assert text and finish == "stop"
    # LiteLLM's thinking_blocks carry the signature, so the turn can be replayed.
    blocks = [b for d in deltas for b in (d.model_extra or {}).get("thinking_blocks") or []]
    signature = next(b["signature"] for b in blocks if b.get("signature"))
    messages += [
        {
            "role": "assistant",
            "content": text,
            "thinking_blocks": [
                {"type": "thinking", "thinking": "".join(reasoning), "signature": signature}
            ],
        },
        {"role": "user", "content": prompt(f"tokens=2 {FAST}")},
    ]
    again = client.chat.completions.create(model=SONNET, reasoning_effort="low", messages=messages)
    assert again.choices[0].message.content


def test_the_newest_claude_takes_temperature_and_reasoning_effort_from_openai_clients(client):
    """Claude Opus 4.7 and later refuse `temperature` and a thinking budget
    (the simulator as Bedrock does). Clients send both (temperature is a
    default in many frameworks): the gateway leaves the knobs out and asks
    for adaptive thinking at the effort, with its text shown, and the signed
    turn replays."""
    opus = "us.anthropic.claude-opus-4-7"
    messages = [{"role": "user", "content": prompt(f"think=3 tokens=4 {FAST}")}]
    text, _, finish, chunks = stream_turn(
        client, model=opus, reasoning_effort="medium", temperature=0.3, top_p=0.9, messages=messages
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning and text and finish == "stop"
    blocks = [b for d in deltas for b in (d.model_extra or {}).get("thinking_blocks") or []]
    signature = next(b["signature"] for b in blocks if b.get("signature"))
    messages += [
        {
            "role": "assistant",
            "content": text,
            "thinking_blocks": [{"type": "thinking", "thinking": reasoning, "signature": signature}],
        },
        {"role": "user", "content": prompt(f"tokens=2 {FAST}")},
    ]
    again = client.chat.completions.create(
        model=opus, reasoning_effort="low", temperature=0.3, messages=messages
    )
    assert again.choices[0].message.content
    plain = client.chat.completions.create(
        model=opus, temperature=0, messages=[{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
    )
    assert plain.choices[0].message.content


def test_an_openai_temperature_above_one_is_bedrocks_highest(client):
    """OpenAI's temperature runs to 2; Bedrock's models and Converse take at
    most 1 and refuse more (the simulator as Bedrock does). Above 1 is sent
    as 1, through either API."""
    messages = [{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
    for model in (SONNET, "us.amazon.nova-lite-v1:0"):
        done = client.chat.completions.create(model=model, temperature=1.7, messages=messages)
        assert done.choices[0].message.content, model


def test_a_reasoning_tool_loop_whose_client_drops_the_thinking_still_answers(client):
    """The openai SDK's chat clients (and the AI SDK's `.chat()`) send the
    tool-calling turn back without its signed thinking block, and
    `reasoning_effort` again. Claude refuses thinking on such a turn, so
    that request goes without thinking; a client that replays the block
    (`thinking_blocks`) keeps it."""
    messages = [{"role": "user", "content": prompt(f"tool=get_weather {FAST}")}]
    ask = dict(model=SONNET, tools=[WEATHER_TOOL], reasoning_effort="low")
    text, calls, finish, chunks = stream_turn(client, messages=messages, **ask)
    assert finish == "tool_calls"
    call = calls[0]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    blocks = [b for d in deltas for b in (d.model_extra or {}).get("thinking_blocks") or []]
    thinking = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    signature = next(b["signature"] for b in blocks if b.get("signature"))
    assistant = {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
        ],
    }
    result = {"role": "tool", "tool_call_id": call["id"], "content": get_weather("Paris")}

    dropped = client.chat.completions.create(messages=messages + [assistant, result], **ask)
    message = dropped.choices[0].message
    assert message.content.startswith("Tool result: 22 degrees"), message.content
    assert not getattr(message, "reasoning_content", None)

    replayed = dict(assistant, thinking_blocks=[{"type": "thinking", "thinking": thinking, "signature": signature}])
    kept = client.chat.completions.create(messages=messages + [replayed, result], **ask)
    assert kept.choices[0].message.content.startswith("Tool result: 22 degrees")
    assert getattr(kept.choices[0].message, "reasoning_content", None)


def test_the_sdk_stream_helper_accumulates_reasoning_into_a_replayable_turn(client):
    """`client.chat.completions.stream()` merges list deltas by `index` (its
    Python accumulator raises without one): each thinking block comes once,
    whole and signed, so the final message replays as it is."""
    messages = [{"role": "user", "content": prompt(f"think=3 tool=get_weather {FAST}")}]
    ask = dict(model=SONNET, tools=[WEATHER_TOOL], reasoning_effort="low")
    with client.chat.completions.stream(messages=messages, **ask) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    blocks = message.model_extra["thinking_blocks"]
    assert len(blocks) == 1 and blocks[0]["signature"], blocks
    assert blocks[0]["thinking"] == message.model_extra["reasoning_content"]
    call = message.tool_calls[0]
    replay = message.model_dump(exclude_none=True, exclude={"parsed"})
    for c in replay["tool_calls"]:
        c.pop("parsed_arguments", None)
    result = {"role": "tool", "tool_call_id": call.id, "content": get_weather("Paris")}
    again = client.chat.completions.create(messages=messages + [replay, result], **ask)
    # The replayed block was accepted (its signature fits its text), so the
    # turn kept its thinking.
    assert again.choices[0].message.content.startswith("Tool result: 22 degrees")
    assert getattr(again.choices[0].message, "reasoning_content", None)


def test_a_forced_tool_choice_with_reasoning_answers_without_thinking(client):
    """Claude refuses thinking when the tool choice forces a call (the
    simulator too); such a request goes without its thinking budget."""
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        completion = client.chat.completions.create(
            model=SONNET,
            reasoning_effort="low",
            tools=[WEATHER_TOOL],
            tool_choice=choice,
            messages=[{"role": "user", "content": prompt(FAST)}],
        )
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "tool_calls", choice
        assert message.tool_calls[0].function.name == "get_weather"
        assert not getattr(message, "reasoning_content", None)


def png(width, height):
    """A real PNG of width x height (one grey channel, all black)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_image_data_url(client):
    url = "data:image/png;base64," + base64.b64encode(png(64, 48)).decode()
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt(f"tokens=3 {FAST}")},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content.startswith("[image/png 64x48]")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
                }
            ],
        )
    assert "fetches nothing" in err.value.message


def image_part(url):
    return {"type": "image_url", "image_url": {"url": url}}


def test_an_image_is_what_its_bytes_say_whatever_its_label(client):
    # OpenAI reads the bytes; its own docs label every picture `data:image/jpeg`.
    data = base64.b64encode(png(64, 48)).decode()
    for label in ["image/jpeg", "image/jpg", "IMAGE/PNG"]:
        completion = client.chat.completions.create(
            model=CLAUDE,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt(f"tokens=1 {FAST}")},
                        image_part(f"data:{label};base64,{data}"),
                    ],
                }
            ],
        )
        assert completion.choices[0].message.content.startswith("[image/png 64x48]"), label
    not_a_picture = base64.b64encode(b"plain text, not a picture").decode()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": [image_part(f"data:image/jpeg;base64,{not_a_picture}")]}],
        )
    assert "not image/jpeg" in err.value.message


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
# Enough of a .docx for the simulator, which counts a document's bytes.
DOCX = b"PK\x03\x04\x14\x00\x06\x00word/document.xml"


def file_part(file_data, filename=None):
    file = {"file_data": file_data}
    if filename:
        file["filename"] = filename
    return {"type": "file", "file": file}


def test_a_file_part_takes_bare_base64(client):
    # The SDK documents `file_data` as "the base64 encoded file data".
    bare = base64.b64encode(PDF).decode()
    for part in [file_part(bare, "a.pdf"), file_part(bare), file_part(f"data:application/pdf;base64,{bare}", "a.pdf")]:
        completion = client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": [{"type": "text", "text": prompt(f"tokens=1 {FAST}")}, part]}],
        )
        assert f" {len(PDF)} bytes]" in completion.choices[0].message.content.splitlines()[0], part
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": [file_part(base64.b64encode(b"who knows").decode(), "notes")]}],
        )
    assert "the file's type is unknown" in err.value.message
    assert "image URL" not in err.value.message


def test_a_word_file_to_claude_goes_through_converse(client):
    # Claude's own body takes PDF and text documents; an OpenAI client cannot
    # name Converse, so the gateway picks it.
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt(f"tokens=1 {FAST}")},
                    file_part(base64.b64encode(DOCX).decode(), "report.docx"),
                ],
            }
        ],
    )
    assert completion.choices[0].message.content.startswith("[document "), completion
    assert f" {len(DOCX)} bytes]" in completion.choices[0].message.content


def test_a_tool_message_takes_text_only(client):
    # OpenAI's chat tool messages take text parts (ChatCompletionToolMessageParam).
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    chart = "data:image/png;base64," + base64.b64encode(png(4, 4)).decode()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE,
            tools=[WEATHER_TOOL],
            messages=[
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "chart:"}, image_part(chart)]},
            ],
        )
    assert "messages[2].content[1]" in err.value.message
    assert "a tool message takes text" in err.value.message


def test_parallel_tool_calls_false_allows_one_call(client):
    time_tool = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    ask = [{"role": "user", "content": prompt(f"tool=get_weather,get_time {FAST}")}]
    both = client.chat.completions.create(model=SONNET, tools=[WEATHER_TOOL, time_tool], messages=ask)
    assert [c.function.name for c in both.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    one = client.chat.completions.create(
        model=SONNET, tools=[WEATHER_TOOL, time_tool], parallel_tool_calls=False, messages=ask
    )
    assert [c.function.name for c in one.choices[0].message.tool_calls] == ["get_weather"]
