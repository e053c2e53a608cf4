"""Guardrails through the official `openai` SDK: a guardrail intervention ends
a streamed chat completion with `finish_reason: "content_filter"`.

The guardrail goes in `extra_body={"guardrail": {...}}` (Spillway's request
field); the simulator intervenes only when a guardrail is configured.
Run like test_openai.py (it reuses its `gateway` fixture).
"""

import openai

from test_openai import CLAUDE, FAST, gateway  # noqa: F401  (gateway is a fixture)

PROMPT = f"Tell me [[sim tokens=8 guardrail=3 {FAST}]]"
GUARDRAIL = {"guardrail": {"id": "gr1abc", "version": "DRAFT", "trace": True}}


def client(gateway):  # noqa: F811
    base, token = gateway
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token)


def stream(gateway, extra_body=None):  # noqa: F811
    chunks = list(
        client(gateway).chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            extra_body=extra_body,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return text, finish


def test_an_intervention_streams_finish_reason_content_filter(gateway):  # noqa: F811
    blocked, finish = stream(gateway, GUARDRAIL)
    assert finish == ["content_filter"]
    # Without a guardrail the same prompt runs to its end: all 8 tokens.
    free, finish = stream(gateway)
    assert finish == ["stop"]
    assert blocked and free.startswith(blocked) and len(free) > len(blocked)


def test_a_bad_guardrail_is_a_400(gateway):  # noqa: F811
    try:
        client(gateway).chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"guardrail": {"id": "gr1abc", "version": "v9"}},
        )
    except openai.BadRequestError as e:
        assert "guardrail" in str(e)
    else:
        raise AssertionError("a malformed guardrail was accepted")
