"""Prompt-cache counts and cost through the official SDKs (openai, anthropic).

The gateway is started as in `test_openai.py` (its fixture is reused); its
embedded simulator remembers cached prefixes, so the first request with a
prefix writes the cache and the next one reads it.
"""

import uuid

import anthropic
import openai
import pytest

from test_openai import FAST, SONNET, gateway  # noqa: F401


@pytest.fixture
def client(gateway):  # noqa: F811
    base, token = gateway
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def cached_messages(context):
    """A user turn whose first part, marked `cache_control`, is cached; then a question."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": context, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": f"Which river is longest? [[sim tokens=4 {FAST}]]"},
            ],
        },
    ]


def streamed_usage(client, messages):
    stream = client.chat.completions.create(
        model=SONNET,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
    assert usage is not None, "include_usage sends a usage chunk"
    return usage


def test_first_request_writes_the_cache_and_the_second_reads_it(client):
    context = f"You are a patient guide to the rivers of the world ({uuid.uuid4()})."
    first = streamed_usage(client, cached_messages(context))
    assert first.prompt_tokens_details is not None
    assert first.prompt_tokens_details.cached_tokens == 0
    assert first.prompt_tokens_details.cache_write_tokens > 0, "the write is reported"
    assert first.completion_tokens == 4
    second = streamed_usage(client, cached_messages(context))
    cached = second.prompt_tokens_details.cached_tokens
    assert cached > 0
    assert second.prompt_tokens_details.cache_write_tokens == 0
    # OpenAI's prompt_tokens counts cached tokens too: the same prompt, the same count.
    assert second.prompt_tokens == first.prompt_tokens
    assert cached <= second.prompt_tokens
    assert second.total_tokens == second.prompt_tokens + second.completion_tokens


def test_no_cache_point_no_cache_details(client):
    completion = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": f"Hi ({uuid.uuid4()}) [[sim tokens=2 {FAST}]]"}],
    )
    assert completion.usage.prompt_tokens > 0
    # As at OpenAI, the details are always there; nothing was cached.
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert getattr(completion.usage.prompt_tokens_details, "cache_write_tokens", None) is None


def test_anthropic_sdk_reports_cache_creation_then_cache_read(gateway):  # noqa: F811
    base, token = gateway
    claude = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=30)
    system = [
        {
            "type": "text",
            "text": f"You answer questions about lakes ({uuid.uuid4()}).",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    ask = {
        "model": SONNET,
        "max_tokens": 100,
        "system": system,
        "messages": [{"role": "user", "content": f"Deepest lake? [[sim tokens=3 {FAST}]]"}],
    }
    first = claude.messages.create(**ask).usage
    assert first.cache_creation_input_tokens > 0
    assert first.cache_read_input_tokens == 0
    with claude.messages.stream(**ask) as stream:
        second = stream.get_final_message().usage
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens == first.input_tokens


NOVA = "us.amazon.nova-lite-v1:0"


def cached_system(context):
    """A system message whose part, marked `cache_control`, is cached; then a question."""
    return [
        {
            "role": "system",
            "content": [{"type": "text", "text": context, "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "user", "content": f"Which river is longest? [[sim tokens=3 {FAST}]]"},
    ]


@pytest.mark.parametrize("model", [SONNET, NOVA])
def test_a_system_part_with_cache_control_is_cached(client, model):
    context = f"You are a patient guide to the rivers of the world ({uuid.uuid4()})."
    first = client.chat.completions.create(model=model, messages=cached_system(context)).usage
    assert first.prompt_tokens_details.cached_tokens == 0
    second = client.chat.completions.create(model=model, messages=cached_system(context)).usage
    assert second.prompt_tokens_details.cached_tokens > 0
    assert second.prompt_tokens == first.prompt_tokens


def test_anthropic_sdk_caches_system_and_tools_on_a_converse_model(gateway):  # noqa: F811
    """A model other than Claude goes through ConverseStream: its cache points too."""
    base, token = gateway
    claude = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=30)
    tag = uuid.uuid4()
    tools = [
        {
            "name": "lake_depth",
            "description": f"The depth of a lake in metres ({tag}).",
            "input_schema": {"type": "object", "properties": {"lake": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        }
    ]
    system = [
        {"type": "text", "text": f"You answer questions about lakes ({tag}).", "cache_control": {"type": "ephemeral"}}
    ]

    def ask(system, question):
        return claude.messages.create(
            model=NOVA,
            max_tokens=100,
            system=system,
            tools=tools,
            messages=[{"role": "user", "content": f"{question} [[sim tokens=3 {FAST}]]"}],
        ).usage

    first = ask(system, "Deepest lake?")
    assert first.cache_creation_input_tokens > 0
    assert first.cache_read_input_tokens == 0
    second = ask(system, "Largest lake?")
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    # Another system prompt after the same tools: the tools' point alone is read.
    other = ask([{**system[0], "text": f"You answer questions about seas ({tag})."}], "Saltiest?")
    assert 0 < other.cache_read_input_tokens < first.cache_creation_input_tokens
