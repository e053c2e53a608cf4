"""The official `openai` SDK against the gateway's Responses API
(`POST /v1/responses`, `GET /v1/responses/{id}`).

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_responses.py

The gateway is started as in `test_openai.py` (its fixtures are reused).
"""

import base64
import json

import openai
import pydantic
import pytest

from test_openai import CLAUDE, FAST, PDF, SONNET, gateway, get_weather, png, prompt, session  # noqa: F401

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}


@pytest.fixture
def client(gateway):  # noqa: F811
    base, token = gateway
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def stream_turn(client, **kwargs):
    """One streamed response, read the way SDK users do: (final response, function calls, text, events)."""
    events = list(client.responses.create(stream=True, **kwargs))
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    assert [e.type for e in events[:2]] == ["response.created", "response.in_progress"]
    final = events[-1]
    assert final.type == "response.completed", final
    calls = [
        e.item
        for e in events
        if e.type == "response.output_item.done" and e.item.type == "function_call"
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return final.response, calls, text, events


def run_calls(calls):
    return [
        {"type": "function_call_output", "call_id": c.call_id, "output": get_weather(**json.loads(c.arguments))}
        for c in calls
    ]


def test_streamed_tool_loop_with_previous_response_id(client):
    question = prompt(f"tool=get_weather {FAST}")
    response, calls, _, events = stream_turn(
        client, model=CLAUDE, tools=[WEATHER_TOOL], input=question, parallel_tool_calls=False
    )
    (call,) = calls
    assert call.name == "get_weather" and call.call_id and call.status == "completed"
    deltas = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta" and e.item_id == call.id
    )
    assert deltas == call.arguments
    assert [i.type for i in response.output][-1] == "function_call"
    result = get_weather(**json.loads(call.arguments))
    answer, calls, text, _ = stream_turn(
        client,
        model=CLAUDE,
        tools=[WEATHER_TOOL],
        previous_response_id=response.id,
        input=run_calls(calls),
    )
    assert not calls
    assert text.startswith("Tool result: " + result), text
    assert answer.output_text == text
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens


def test_streamed_tool_loop_with_the_full_input(client):
    items = [{"role": "user", "content": prompt(f"tool=get_weather {FAST}")}]
    response, calls, _, _ = stream_turn(client, model=CLAUDE, tools=[WEATHER_TOOL], input=items)
    assert calls
    # The output items go back as they came, then the results.
    items += [item.model_dump(exclude_none=True) for item in response.output] + run_calls(calls)
    answer, _, text, _ = stream_turn(client, model=CLAUDE, tools=[WEATHER_TOOL], input=items)
    assert text.startswith("Tool result: " + get_weather("sample")), text
    assert answer.status == "completed"


def test_non_streamed_create_and_retrieve(client, gateway):  # noqa: F811
    raw = client.responses.with_raw_response.create(
        model=CLAUDE,
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": prompt(f"tokens=6 {FAST}")}]}],
        max_output_tokens=100,
        temperature=0.5,
        store=True,
        metadata={"purpose": "test"},
        user="u-1",
    )
    response = raw.parse()
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == CLAUDE
    assert response.usage.output_tokens == 6
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    info = session(gateway, raw.headers["x-session-id"])
    assert response.id == f"resp_{info['sessionId']}"
    assert response.output_text == info["text"]
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].annotations == []
    again = client.responses.retrieve(response.id)
    assert again.id == response.id
    assert again.output_text == response.output_text
    assert again.instructions == "Be brief."
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")


def test_the_stream_helper_accumulates_the_same_response(client):
    with client.responses.stream(
        model=CLAUDE, tools=[WEATHER_TOOL], input=prompt(f"tool=get_weather tokens=3 {FAST}")
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    kinds = [i.type for i in final.output]
    assert kinds == ["message", "function_call"], kinds
    assert json.loads(final.output[1].arguments) == {"city": "sample"}


def test_reasoning_effort_streams_summary_deltas(client):
    question = {"role": "user", "content": prompt(f"think=3 tokens=4 {FAST}")}
    response, _, text, events = stream_turn(client, model=SONNET, reasoning={"effort": "low"}, input=[question])
    deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert len(deltas) == 3
    kinds = [e.type for e in events]
    for kind in [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]:
        assert kind in kinds
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "".join(deltas)
    assert reasoning.encrypted_content, "the signature, to replay the reasoning"
    assert text
    # Bedrock counts reasoning within the output; its share is estimated.
    assert 0 < response.usage.output_tokens_details.reasoning_tokens < response.usage.output_tokens
    # The reasoning item goes back as it came (its signature with it).
    follow = [question] + [item.model_dump(exclude_none=True) for item in response.output]
    follow.append({"role": "user", "content": prompt(f"tokens=2 {FAST}")})
    again = client.responses.create(model=SONNET, reasoning={"effort": "low"}, input=follow)
    assert again.status == "completed" and again.output_text


CHART_TOOL = {"type": "function", "name": "get_chart", "parameters": {"type": "object", "properties": {}}}


def test_a_reasoning_tool_loop_replayed_as_plain_text_still_answers(client):
    """pydantic-ai's Responses model sends the model's reasoning back as
    `<think>` text in an assistant message, not as a signed reasoning item:
    Claude refuses thinking on such a turn, so that request goes without it."""
    call = {"type": "function_call", "call_id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    response = client.responses.create(
        model=SONNET,
        reasoning={"effort": "low"},
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": prompt(f"tool=get_weather {FAST}")},
            {"role": "assistant", "content": "<think>\nLet me look.\n</think>"},
            call,
            {"type": "function_call_output", "call_id": "toolu_1", "output": get_weather("Paris")},
        ],
    )
    assert response.status == "completed"
    assert response.output_text.startswith("Tool result: 22 degrees"), response.output_text
    assert not [item for item in response.output if item.type == "reasoning"]


def test_a_function_call_output_may_hold_images_and_files(client):
    # What the AI SDK sends for a tool whose `toModelOutput` returns image data.
    chart = base64.b64encode(png(64, 48)).decode()
    items = [
        {"role": "user", "content": prompt(f"tokens=1 {FAST}") + " Chart it."},
        {"type": "function_call", "call_id": "call_1", "name": "get_chart", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [
                {"type": "input_text", "text": "chart:"},
                {"type": "input_image", "image_url": f"data:image/jpeg;base64,{chart}"},
                {"type": "input_file", "filename": "data.pdf", "file_data": base64.b64encode(PDF).decode()},
            ],
        },
    ]
    response = client.responses.create(model=CLAUDE, tools=[CHART_TOOL], input=items)
    lines = response.output_text.splitlines()
    assert lines[:2] == ["Tool result: chart:", "[image/png 64x48]"], lines
    assert lines[2].startswith("[document ") and lines[2].endswith(f" {len(PDF)} bytes]"), lines


def test_a_message_refuses_attachments_by_their_responses_name(client):
    chart = "data:image/png;base64," + base64.b64encode(png(4, 4)).decode()
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model=CLAUDE,
            input=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "input_image", "image_url": chart}]},
            ],
        )
    assert "input[1].content[0]: content parts of type 'input_image'" in err.value.message
    assert "image_url" not in err.value.message


def test_refusals_are_openai_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=CLAUDE, input="hi", previous_response_id="resp_nope")
    assert e.value.code == "previous_response_not_found"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=CLAUDE, input="hi", tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=CLAUDE, input="hi", reasoning={"effort": "max"})


def test_an_output_answering_no_call_names_its_item(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(
            model=CLAUDE,
            tools=[WEATHER_TOOL],
            input=[
                {"role": "user", "content": "Weather?"},
                {"type": "function_call_output", "call_id": "nobody", "output": "sunny"},
            ],
        )
    assert e.value.param == "input"
    assert "input[1] (a function_call_output): call_id 'nobody' answers no function_call" in e.value.message


def test_log_probabilities_are_refused_by_name(client):
    with pytest.raises(openai.BadRequestError, match="log-probabilities") as e:
        client.responses.create(model=CLAUDE, input="hi", top_logprobs=3)
    assert e.value.param == "top_logprobs"
    with pytest.raises(openai.BadRequestError, match="log-probabilities") as e:
        client.responses.create(model=CLAUDE, input="hi", include=["message.output_text.logprobs"])
    assert e.value.param == "include"
    # Other inclusions, and no log-probabilities, are fine.
    ok = client.responses.create(
        model=CLAUDE,
        input=prompt(f"tokens=2 {FAST}"),
        include=["reasoning.encrypted_content"],
        top_logprobs=0,
    )
    assert ok.status == "completed"


class Place(pydantic.BaseModel):
    city: str
    country: str


def test_structured_output_with_reasoning(client):
    response = client.responses.parse(
        model=SONNET,
        input=prompt(f"think=2 {FAST} where is the Louvre"),
        text_format=Place,
        reasoning={"effort": "low"},
    )
    assert response.status == "completed"
    assert response.output_parsed == Place(city="sample", country="sample")
    assert [o.type for o in response.output] == ["reasoning", "message"]


def test_structured_output_parses_into_a_pydantic_model(client):
    """`text.format` json_schema (the SDK's `responses.parse`, what the OpenAI
    Agents SDK sends for an `output_type`): the answer is one message of JSON."""
    response = client.responses.parse(
        model=CLAUDE,
        input=f"Where is the Louvre? [[sim {FAST}]]",
        text_format=Place,
    )
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    assert isinstance(response.output_parsed, Place), response.output
    assert response.output_parsed.city
    # Streamed, the same JSON arrives as output_text deltas.
    with client.responses.stream(
        model=CLAUDE, input=f"Where is the Louvre? [[sim {FAST}]]", text_format=Place
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_response()
    assert "response.output_text.delta" in kinds
    assert not any("function_call" in k for k in kinds)
    assert isinstance(final.output_parsed, Place)


def test_text_before_the_json_answer_is_not_part_of_it(client):
    """A model that speaks before the format's tool call (`tool=Place` makes
    the simulator do it): the message is the JSON alone."""
    ask = dict(model="us.amazon.nova-lite-v1:0", input=prompt(f"tool=Place tokens=4 {FAST} Where is the Louvre?"))
    response = client.responses.parse(text_format=Place, **ask)
    assert response.output_parsed == Place(city="sample", country="sample")
    assert [item.type for item in response.output] == ["message"]
    with client.responses.stream(text_format=Place, **ask) as stream:
        final = stream.get_final_response()
    assert final.output_parsed == Place(city="sample", country="sample")


def test_structured_output_with_tools_calls_a_tool_then_answers_in_the_format(client):
    """What the OpenAI Agents SDK sends for `Agent(output_type=Place, tools=[…])`:
    `text.format` json_schema beside function tools. A turn may call the
    client's tool (a function_call item); the answer after its output is
    parsed into the model, and a later turn replays it as text."""
    question = f"Where is the Louvre, and how warm is it? [[sim {FAST}]]"
    first = client.responses.parse(
        model=CLAUDE,
        input=question,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        text_format=Place,
    )
    assert [item.type for item in first.output] == ["function_call"]
    assert first.output[0].name == "get_weather"
    assert first.output_parsed is None
    second = client.responses.parse(
        model=CLAUDE,
        previous_response_id=first.id,
        input=run_calls(first.output),
        tools=[WEATHER_TOOL],
        text_format=Place,
    )
    assert second.status == "completed"
    assert [item.type for item in second.output] == ["message"]
    assert isinstance(second.output_parsed, Place), second.output
    # The format's call is not a call waiting for its output in the next turn.
    third = client.responses.create(
        model=CLAUDE, previous_response_id=second.id, input=f"Thanks. [[sim tokens=2 {FAST}]]"
    )
    assert third.status == "completed" and third.output_text


def test_item_references_name_earlier_output_items(client):
    """What the Vercel AI SDK's OpenAI provider sends with `store: true`: the
    earlier turns' output items as `item_reference`s."""
    q1 = prompt(f"tokens=4 {FAST}")
    r1 = client.responses.create(model=CLAUDE, input=q1)
    q2 = prompt(f"tokens=2 {FAST}")
    items = [{"role": "user", "content": q1}, {"type": "item_reference", "id": r1.output[0].id}, {"role": "user", "content": q2}]
    r2 = client.responses.create(model=CLAUDE, input=items)
    assert r2.status == "completed" and r2.output_text
    # The referenced answer went to the model: more input than without it.
    alone = client.responses.create(model=CLAUDE, input=[items[0], items[2]])
    assert r2.usage.input_tokens > alone.usage.input_tokens
    # A referenced function call is the one a function_call_output answers.
    q3 = prompt(f"tool=get_weather tokens=3 {FAST}")
    r3 = client.responses.create(model=CLAUDE, tools=[WEATHER_TOOL], input=q3)
    assert [i.type for i in r3.output] == ["message", "function_call"]
    items = [{"role": "user", "content": q3}] + [{"type": "item_reference", "id": i.id} for i in r3.output]
    r4 = client.responses.create(model=CLAUDE, tools=[WEATHER_TOOL], input=items + run_calls([r3.output[1]]))
    assert r4.output_text.startswith("Tool result: " + get_weather("sample")), r4.output_text
    for bogus in ["msg_nope_0", r1.output[0].id[:-1] + "7", "item_123"]:
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model=CLAUDE, input=[{"type": "item_reference", "id": bogus}])
        assert e.value.param == "input", e.value.body


def test_hints_are_accepted_and_echoed(client):
    response = client.responses.create(
        model=CLAUDE,
        input=prompt(f"tokens=2 {FAST}"),
        max_tool_calls=3,
        prompt_cache_key="rivers",
        prompt_cache_retention="24h",
        safety_identifier="user-hash-1",
        service_tier="auto",
    )
    assert response.status == "completed"
    assert response.max_tool_calls == 3
    assert response.prompt_cache_key == "rivers"
    assert response.safety_identifier == "user-hash-1"
    assert response.service_tier == "default"
    again = client.responses.retrieve(response.id)
    assert (again.max_tool_calls, again.prompt_cache_key) == (3, "rivers")
    # What the current SDK sends besides, with nothing to act on here.
    newer = client.responses.create(
        model=SONNET,
        input=prompt(f"tokens=2 think=1 {FAST}"),
        reasoning={"effort": "xhigh", "context": "auto"},
        extra_body={"prompt_cache_options": {"ttl": "30m"}, "context_management": [{"type": "compaction"}]},
    )
    assert newer.status == "completed"


def test_max_output_tokens_covers_reasoning_and_a_greeting_may_open(client):
    response = client.responses.create(
        model=SONNET,
        input=[
            {"role": "assistant", "content": "Hi! Where would you like to go?"},
            {"role": "user", "content": prompt(f"think=3 tokens=9000 {FAST}")},
        ],
        reasoning={"effort": "high"},
        max_output_tokens=2000,
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens <= 2000
    with pytest.raises(openai.BadRequestError, match="no room for reasoning") as err:
        client.responses.create(
            model=SONNET, input="x", reasoning={"effort": "low"}, max_output_tokens=1000
        )
    assert err.value.param == "max_output_tokens"


def test_input_items_list_what_a_response_was_asked(client):
    question = prompt(f"tool=get_weather {FAST}")
    image = "data:image/png;base64," + base64.b64encode(png(8, 8)).decode()
    first = client.responses.create(
        model=CLAUDE,
        tools=[WEATHER_TOOL],
        instructions="Not an item.",
        input=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": question}, {"type": "input_image", "image_url": image}]},
        ],
    )
    listed = client.responses.input_items.list(first.id)
    assert listed.has_more is False
    user, developer = listed.data  # newest first, by default
    assert (user.type, user.role, developer.role) == ("message", "user", "developer")
    assert developer.content[0].text == "Be brief."
    assert user.content[0].type == "input_text" and user.content[0].text == question
    assert user.content[1].type == "input_image" and user.content[1].image_url is None
    asked = client.responses.input_items.list(first.id, include=["message.input_image.image_url"])
    assert asked.data[0].content[1].image_url == image
    # A second turn: the earlier conversation, its answer, then the new input.
    calls = [o for o in first.output if o.type == "function_call"]
    second = client.responses.create(
        model=CLAUDE, tools=[WEATHER_TOOL], previous_response_id=first.id, input=run_calls(calls)
    )
    assert second.status == "completed"
    oldest_first = client.responses.input_items.list(second.id, order="asc").data
    assert oldest_first[0].type == "message" and oldest_first[0].content[0].text == question
    call, output = oldest_first[-2:]
    assert (call.type, output.type) == ("function_call", "function_call_output")
    assert call.call_id == output.call_id == calls[0].call_id
    assert json.loads(call.arguments) == json.loads(calls[0].arguments)
    assert output.output == run_calls(calls)[0]["output"]
    # The SDK pages on `after`: one item a page, every item once, newest first.
    page = client.responses.input_items.list(second.id, limit=1)
    assert len(page.data) == 1 and page.has_more
    paged = [item.id for item in client.responses.input_items.list(second.id, limit=1)]
    assert paged == [item.id for item in reversed(oldest_first)]
    assert len(set(paged)) == len(paged)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")


def test_the_echo_repeats_what_was_asked(client):
    strict = dict(WEATHER_TOOL, name="strict_weather", strict=True)
    response = client.responses.create(
        model=CLAUDE,
        input=prompt(f"tokens=2 {FAST}"),
        tools=[strict, WEATHER_TOOL],
        truncation="auto",
        text={"verbosity": "low"},
        reasoning={"summary": "concise"},
    )
    assert response.status == "completed"
    for echoed in [response, client.responses.retrieve(response.id)]:
        assert [t.strict for t in echoed.tools] == [True, False]
        assert echoed.truncation == "auto"
        assert echoed.text.verbosity == "low" and echoed.text.format.type == "text"
        assert echoed.reasoning.summary == "concise"
    bare = client.responses.create(model=CLAUDE, input=prompt(f"tokens=2 {FAST}"))
    assert bare.truncation == "disabled" and bare.reasoning.summary is None and bare.text.verbosity is None


def test_a_broken_stream_resumes_after_its_last_sequence_number(client):
    # 40 tokens at 20/s: the first events arrive long before the last.
    stream = client.responses.create(model=CLAUDE, input=prompt("tokens=40 rate=20"), stream=True)
    before = []
    for event in stream:
        before.append(event)
        if event.type == "response.output_text.delta" and len(before) >= 8:
            break
    stream.close()  # the connection drops mid-answer
    response_id = before[0].response.id
    cursor = before[-1].sequence_number
    after = list(client.responses.retrieve(response_id, stream=True, starting_after=cursor))
    assert [e.sequence_number for e in after] == list(range(cursor + 1, cursor + 1 + len(after)))
    assert after[-1].type == "response.completed"
    text = "".join(e.delta for e in before + after if e.type == "response.output_text.delta")
    assert text == after[-1].response.output_text
    assert after[-1].response.usage.output_tokens == 40
    # From the start, the same events again.
    again = list(client.responses.retrieve(response_id, stream=True))
    assert [e.type for e in again[: len(before)]] == [e.type for e in before]


def test_a_response_can_be_cancelled_and_not_deleted(client):
    stream = client.responses.create(model=CLAUDE, input=prompt("tokens=200 rate=20"), stream=True)
    first = next(iter(stream))
    cancelled = client.responses.cancel(first.response.id)
    assert cancelled.id == first.response.id and cancelled.status == "cancelled"
    assert cancelled.usage.output_tokens < 200
    stream.close()
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.delete(first.response.id)
    assert "not deleted on request" in err.value.message
