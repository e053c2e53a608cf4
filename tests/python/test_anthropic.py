"""The official `anthropic` SDK against the gateway's `POST /v1/messages`.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_anthropic.py

The gateway is the one `test_openai.py` starts (its `gateway` fixture: the
embedded simulator, dev auth, a token minted with `spillway token`); the
token is the SDK's API key. `SPILLWAY_BIN` overrides the binary.
"""

import anthropic
import pydantic
import pytest

from test_openai import FAST, gateway, prompt, session  # noqa: F401 (`gateway` is a fixture)

# Anthropic's names, mapped by the gateway's alias table.
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-3-haiku-20240307"
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
def client(gateway):  # noqa: F811 (the imported fixture)
    base, token = gateway
    return anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=30)


def run_tool(call):
    return f"22 °C and sunny in {call.input['city']}"


def test_tool_loop_with_thinking_streamed(client):
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
    assert kinds[0] == "message_start"
    assert "thinking" in kinds and "signature" in kinds and "input_json" in kinds
    assert final.stop_reason == "tool_use"
    assert final.model == SONNET
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    thinking, _, call = final.content
    assert thinking.thinking and thinking.signature
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
    assert text.startswith(f"Tool result: {output}"), text
    assert answer.stop_reason == "end_turn"


def test_non_streaming_message(client, gateway):  # noqa: F811
    raw = client.messages.with_raw_response.create(
        model=HAIKU,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": prompt(f"tokens=9 {FAST}")}],
        stop_sequences=["never-said"],
    )
    message = raw.parse()
    info = session(gateway, raw.headers["x-session-id"])
    assert info["status"] == "complete"
    assert message.id == f"msg_{info['sessionId']}"
    assert message.type == "message" and message.role == "assistant"
    assert message.model == HAIKU
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == info["text"]
    assert message.usage.output_tokens == 9
    assert message.usage.input_tokens > 0


def test_non_streaming_tool_call(client):
    message = client.messages.create(
        model=SONNET,
        max_tokens=2048,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": prompt(f"tool=get_weather {FAST}")}],
    )
    assert message.stop_reason == "tool_use"
    call = message.content[-1]
    assert call.type == "tool_use" and call.input == {"city": "sample"}


def test_count_tokens(client):
    """Bedrock's count (CountTokens) of a Claude request: what the same request is billed."""
    request = dict(
        model=SONNET,
        system="Be brief.",
        messages=[{"role": "user", "content": "[[sim tokens=2 rate=0 ttft_ms=0]] Name a river of Norway."}],
        tools=[WEATHER],
    )
    count = client.messages.count_tokens(**request)
    billed = client.messages.create(max_tokens=50, **request).usage.input_tokens
    assert count.input_tokens == billed > 0


def test_unknown_model_is_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(
            model="claude-9-ultra", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.body["error"]["type"] == "not_found_error"
    assert "claude-9-ultra" in err.value.body["error"]["message"]


def test_bad_key_is_an_authentication_error(gateway):  # noqa: F811
    base, _ = gateway
    bad = anthropic.Anthropic(base_url=base, api_key="not-a-jwt", max_retries=0, timeout=30)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"]["type"] == "authentication_error"


def test_bearer_auth_token_works(gateway):  # noqa: F811
    base, token = gateway
    bearer = anthropic.Anthropic(base_url=base, auth_token=token, max_retries=0, timeout=30)
    message = bearer.messages.create(
        model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
    )
    assert message.usage.output_tokens == 2


def test_bad_request_is_raised(client):
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model=HAIKU, max_tokens=10, messages=[{"role": "assistant", "content": "hi"}])
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert err.value.request_id, "errors carry a request-id too"


def test_a_system_message_mid_conversation_is_followed(client):
    """`SystemMessageParam` among `messages` (what Claude Code sends): folded
    into the user turn at its place, and billed as input."""
    question = {"role": "user", "content": prompt(f"tokens=3 {FAST}")}
    plain = client.messages.create(model=SONNET, max_tokens=50, messages=[question])
    for at_end in (True, False):
        reminder = {"role": "system", "content": "Answer in one word."}
        messages = [question, reminder] if at_end else [reminder, question]
        message = client.messages.create(model=SONNET, max_tokens=50, messages=messages)
        assert message.usage.output_tokens == 3
        assert message.usage.input_tokens > plain.usage.input_tokens
    counted = client.messages.count_tokens(model=SONNET, messages=[question, reminder])
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(
            model=SONNET,
            max_tokens=50,
            messages=[question, {"role": "system", "content": [{"type": "image", "source": {}}]}],
        )
    assert "messages.1.content.0" in err.value.body["error"]["message"]


def test_apis_it_does_not_serve_are_refused_in_anthropics_shape(client):
    for call in (client.messages.batches.list, client.beta.files.list):
        with pytest.raises(anthropic.NotFoundError) as err:
            call()
        assert err.value.body["error"]["type"] == "not_found_error"
        assert "not served by this gateway" in err.value.body["error"]["message"]


def test_an_assistant_prefill_is_continued(client):
    question = {"role": "user", "content": prompt(f"tokens=3 {FAST}")}
    plain = client.messages.create(model=SONNET, max_tokens=50, messages=[question])
    prefilled = client.messages.create(
        model=SONNET,
        max_tokens=50,
        messages=[question, {"role": "assistant", "content": '{"answer": "'}],
    )
    assert prefilled.content[0].type == "text" and prefilled.usage.output_tokens == 3
    # The prefill reached the model: it is billed as input.
    assert prefilled.usage.input_tokens > plain.usage.input_tokens


@pytest.mark.parametrize(
    "name",
    [
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-opus-4-6",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
        "claude-opus-4-5",
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5",
    ],
)
def test_current_model_names_are_served(client, name):
    message = client.messages.create(
        model=name, max_tokens=10, messages=[{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
    )
    assert message.model == name and message.usage.output_tokens == 2


def test_a_tool_result_may_hold_a_document(client):
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [
            {"type": "text", "text": "the forecast"},
            {
                "type": "document",
                "title": "forecast.txt",
                "source": {"type": "text", "media_type": "text/plain", "data": "sunny"},
            },
        ],
    }
    message = client.messages.create(
        model=SONNET,
        max_tokens=50,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": prompt(f"tokens=1 {FAST}")},
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result]},
        ],
    )
    assert message.content[0].text.startswith("Tool result: the forecast\n[document forecast")


def test_the_stop_sequence_reached_is_named(client):
    question = [{"role": "user", "content": prompt(f"tokens=30 {FAST}")}]
    full = client.messages.create(model=SONNET, max_tokens=100, messages=question).content[0].text
    word = [w for w in full.split() if len(w) > 3 and w.isalpha()][3]
    message = client.messages.create(
        model=SONNET, max_tokens=100, stop_sequences=["never said", word], messages=question
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", word)
    assert word not in message.content[0].text
    with client.messages.stream(
        model=SONNET, max_tokens=100, stop_sequences=[word], messages=question
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", word)
    plain = client.messages.create(model=SONNET, max_tokens=100, messages=question)
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


def test_message_start_carries_the_prompt_count(client):
    # Raw-stream readers (LangChain's ChatAnthropic among them) take input
    # tokens from `message_start` and only output tokens from `message_delta`.
    question = [{"role": "user", "content": prompt(f"tokens=4 {FAST} count my prompt")}]
    events = list(client.messages.create(model=SONNET, max_tokens=100, messages=question, stream=True))
    start, delta = events[0], [e for e in events if e.type == "message_delta"][0]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens > 0
    assert start.message.usage.input_tokens == delta.usage.input_tokens
    assert start.message.usage.output_tokens == 0 < delta.usage.output_tokens


class Trip(pydantic.BaseModel):
    city: str
    days: int


@pytest.mark.parametrize("model", [SONNET, "us.amazon.nova-lite-v1:0"])
def test_structured_output_is_parsed(client, model):
    # `messages.parse` sends `output_config.format` with the model's JSON
    # Schema: Claude's body carries it to Bedrock as sent, any other model
    # gets it as Converse's `outputConfig`. The simulator answers JSON of it.
    question = [{"role": "user", "content": prompt(f"tokens=5 {FAST} plan a trip")}]
    message = client.messages.parse(
        model=model, max_tokens=200, messages=question, output_format=Trip
    )
    assert message.parsed_output == Trip(city="sample", days=1)
    with client.messages.stream(
        model=model, max_tokens=200, messages=question, output_format=Trip
    ) as stream:
        final = stream.get_final_message()
    assert final.parsed_output == Trip(city="sample", days=1)
    with pytest.raises(anthropic.BadRequestError, match="json_schema"):
        client.messages.create(
            model=model,
            max_tokens=200,
            messages=question,
            output_config={"format": {"type": "xml", "schema": {}}},
        )


def test_a_tool_call_cut_off_at_max_tokens_ends_with_max_tokens(client):
    # Anthropic's "incomplete tool use": the ceiling falls inside a tool
    # call's input. The answer stops with max_tokens (the client retries with
    # more room), not a stream error.
    question = [{"role": "user", "content": prompt(f"tool=get_weather tokens=2 {FAST}")}]
    with client.messages.stream(model=SONNET, max_tokens=3, tools=[WEATHER], messages=question) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert "input_json" in kinds
    whole = client.messages.create(model=SONNET, max_tokens=3, tools=[WEATHER], messages=question)
    assert whole.stop_reason == "max_tokens"
    # Room for all of it: the call, as usual.
    done = client.messages.create(model=SONNET, max_tokens=200, tools=[WEATHER], messages=question)
    assert done.stop_reason == "tool_use"


def test_citations_of_a_document_come_back(client):
    document = {
        "type": "document",
        "title": "Rivers",
        "source": {"type": "text", "media_type": "text/plain", "data": "The Nile is long."},
        "citations": {"enabled": True},
    }
    messages = [{"role": "user", "content": [document, {"type": "text", "text": prompt(f"cite=2 tokens=3 {FAST}")}]}]
    message = client.messages.create(model=SONNET, max_tokens=100, messages=messages)
    cited = [c for b in message.content if b.type == "text" for c in (b.citations or [])]
    assert len(cited) == 2, message.content
    assert cited[0].type == "char_location" and cited[0].document_index == 0
    assert cited[0].document_title == "Rivers" and cited[0].cited_text.startswith("Passage 1")
    with client.messages.stream(model=SONNET, max_tokens=100, messages=messages) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert kinds.count("citations_delta") == 2
    streamed = [c for b in final.content if b.type == "text" for c in (b.citations or [])]
    assert [c.cited_text for c in streamed] == [c.cited_text for c in cited]


def test_models_list_and_retrieve_in_anthropics_shape(client):
    models = list(client.models.list())
    ids = [m.id for m in models]
    assert "claude-sonnet-4-5-20250929" in ids and "claude-opus-4-5-20251101" in ids
    sonnet = next(m for m in models if m.id == "claude-sonnet-4-5-20250929")
    assert sonnet.display_name == "Claude Sonnet 4.5" and sonnet.type == "model"
    assert client.models.retrieve("claude-sonnet-4-5").id == "claude-sonnet-4-5-20250929"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-9-ultra")


def test_a_long_conversation_fits(client):
    # A coding agent's transcript late in a session: ~130k tokens of file reads.
    history = []
    for i in range(40):
        history.append({"role": "user", "content": f"read file {i}"})
        history.append({"role": "assistant", "content": "x = 1\n" * 2_000})
    history.append({"role": "user", "content": prompt(f"tokens=2 {FAST}")})
    message = client.messages.create(model=SONNET, max_tokens=10, messages=history)
    assert message.usage.output_tokens == 2 and message.usage.input_tokens > 100_000
    # The session id, as the SDK's request id.
    assert message._request_id and len(message._request_id) > 8


def test_error_mid_stream_is_raised(client):
    received = []
    with pytest.raises(anthropic.APIStatusError) as err:
        with client.messages.stream(
            model=HAIKU,
            max_tokens=100,
            messages=[{"role": "user", "content": prompt(f"tokens=20 error_after=3 {FAST}")}],
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert len(received) == 3
    assert err.value.body["error"]["type"] == "api_error"


def test_a_tool_search_conversation_goes_on(client):
    """Claude's own blocks the gateway does not read (a server tool's use and
    result, tool references) travel in the body for Bedrock to judge."""
    message = client.beta.messages.create(
        model=SONNET,
        max_tokens=50,
        betas=["tool-search-tool-2025-10-19"],
        tools=[
            {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
            {**WEATHER, "defer_loading": True},
        ],
        messages=[
            {"role": "user", "content": "What is the weather in Oslo?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "tool_search_tool_regex",
                        "input": {"query": "weather"},
                    },
                    {
                        "type": "tool_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": {
                            "type": "tool_search_tool_search_result",
                            "tool_references": [{"type": "tool_reference", "tool_name": "get_weather"}],
                        },
                    },
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                    {"type": "text", "text": prompt(f"tokens=2 {FAST}")},
                ],
            },
        ],
    )
    assert message.stop_reason == "end_turn"
    assert message.content[0].text.startswith("Tool result: Sunny")


def test_the_sdk_tool_runner_goes_on_unthreaded(client):
    """The SDK's tool runner threads by default (`thread`: the server keeps
    the history). The gateway refuses `thread` in the shape the SDK recovers
    from, so the runner resends the whole history and the loop completes."""

    @anthropic.beta_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"22 °C and sunny in {city}"

    runner = client.beta.messages.tool_runner(
        model=SONNET,
        max_tokens=1024,
        tools=[get_weather],
        messages=[{"role": "user", "content": prompt(f"tool=get_weather tokens=3 {FAST}")}],
    )
    final = runner.until_done()
    assert final.stop_reason == "end_turn"
    assert final.content[-1].text.startswith("Tool result: 22 °C and sunny")


def test_platform_features_bedrock_lacks_are_refused_by_name(client):
    ask = dict(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": prompt(FAST)}])
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(**ask, extra_body={"thread": {"type": "create"}})
    assert err.value.body["error"]["details"]["error_code"] == "thread_unsupported_request"
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(
            **ask, extra_body={"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}
        )
    assert "mcp_servers: Bedrock has no MCP connector" in err.value.message
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(
            **ask, tools=[{"type": "mcp_toolset", "mcp_server_name": "x"}]
        )
    assert "'mcp_toolset' are not served" in err.value.message
    # Asking for nothing is no refusal.
    message = client.messages.create(**ask, extra_body={"fallbacks": "default", "mcp_servers": []})
    assert message.stop_reason == "end_turn"
