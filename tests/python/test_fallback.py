"""Fallback models through the official `openai` SDK: a model the simulator
reports unavailable (`[[sim unavailable=TEXT]]`) is answered by the first
model of `SPILLWAY_FALLBACK_MODELS` that starts, and the answer names it.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_fallback.py

`SPILLWAY_BIN` overrides the binary.
"""

import os
import pathlib
import queue
import subprocess
import tempfile
import threading
import urllib.request

import openai
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
LISTENING = "spillway listening on "
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
FAST = "rate=0 ttft_ms=0"


def first_line(proc, what):
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=30)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"{what} printed nothing within 30 s")


@pytest.fixture(scope="module")
def gateway():
    """(base URL, token) of a gateway whose fallbacks are Llama, then Nova."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_"))}
        env["SPILLWAY_DATA_DIR"] = data_dir
        env["SPILLWAY_FALLBACK_MODELS"] = f"{LLAMA},{NOVA}"
        proc = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        first = first_line(proc, "spillway")
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
            yield base, token
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def client(gateway):
    base, token = gateway
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def metrics(gateway):
    base, _ = gateway
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        return resp.read().decode()


def fallback_count(gateway, frm, to):
    needle = f'spillway_fallbacks_total{{from="{frm}",to="{to}"}} '
    for line in metrics(gateway).splitlines():
        if line.startswith(needle):
            return int(float(line[len(needle):]))
    return 0


def test_an_unavailable_model_is_answered_by_the_first_fallback(client, gateway):
    before = fallback_count(gateway, CLAUDE, LLAMA)
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": f"[[sim unavailable=claude tokens=4 {FAST}]] hi"}],
    )
    assert completion.model == LLAMA
    assert len(completion.choices[0].message.content.split()) == 4
    assert completion.choices[0].finish_reason == "stop"
    assert fallback_count(gateway, CLAUDE, LLAMA) == before + 1


def test_streamed_chunks_name_the_model_that_answered(client):
    # "3-" is in the Claude id ("claude-3-haiku") and the Llama id ("llama3-8b"),
    # not in Nova's: the first fallback is down too, so the second answers.
    stream = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": f"[[sim unavailable=3- tokens=3 {FAST}]] hi"}],
        stream=True,
    )
    chunks = list(stream)
    assert chunks, "no chunks"
    assert {c.model for c in chunks} == {NOVA}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 3


def test_a_model_that_answers_is_not_replaced(client, gateway):
    before = metrics(gateway).count("spillway_fallbacks_total{")
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": f"[[sim tokens=2 {FAST}]] fine"}],
    )
    assert completion.model == CLAUDE
    assert metrics(gateway).count("spillway_fallbacks_total{") == before


def test_when_no_fallback_starts_the_sdk_gets_the_503(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": f"[[sim unavailable=a tokens=2 {FAST}]] all down"}],
        )
    assert info.value.status_code == 503
    message = str(info.value)
    assert "fallback models tried" in message
    assert LLAMA in message and NOVA in message
