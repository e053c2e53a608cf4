"""OpenTelemetry traces, received by a real OTLP/HTTP receiver.

The receiver runs in this module on an ephemeral port: it accepts
`POST /v1/traces` (`application/x-protobuf`), decodes each
`ExportTraceServiceRequest` with the `opentelemetry-proto` package, and
queues the spans it holds. The gateway is started as in `test_openai.py`
(`running_gateway`) with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at it.

A session started over a WebSocket takes its parent from the upgrade
request's `traceparent`; no Python WebSocket client is among the test
requirements, so that case is in the Rust tests (`tests/otel.rs`).
"""

import http.server
import json
import queue
import subprocess
import tempfile
import threading
import time
import uuid

import anthropic
import openai
import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from test_openai import BINARY, CLAUDE, FAST, SONNET, clean_env, prompt, running_gateway

NOVA = "us.amazon.nova-lite-v1:0"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Receiver:
    """An OTLP/HTTP receiver: every decoded span, with its resource, in a
    queue; every metrics export, in order."""

    def __init__(self):
        self.spans = queue.Queue()
        self.metric_exports = []  # ExportMetricsServiceRequest, as received
        self.requests = []  # (path, content type) of every request received
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ctype = self.headers.get("Content-Type", "")
                receiver.requests.append((self.path, ctype))
                if self.path == "/v1/metrics" and ctype == "application/x-protobuf":
                    request = ExportMetricsServiceRequest()
                    request.ParseFromString(body)
                    receiver.metric_exports.append(request)
                    self.answer(ExportMetricsServiceResponse().SerializeToString())
                    return
                if self.path != "/v1/traces" or ctype != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for rs in request.resource_spans:
                    resource = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            receiver.spans.put((resource, span))
                self.answer(ExportTraceServiceResponse().SerializeToString())

            def answer(self, body):
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.seen = []

    def span(self, session_id, timeout=30):
        """The span of session `session_id`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for resource, span in self.seen:
                if attributes(span.attributes).get("spillway.session_id") == session_id:
                    return resource, span
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no span for session {session_id} within {timeout} s; got {self.seen}")
            try:
                self.seen.append(self.spans.get(timeout=left))
            except queue.Empty:
                pass

    def histogram(self, name, model, check, timeout=30):
        """The data points of histogram `name` for request model `model` in
        the newest export (cumulative), once `check(points)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            points, unit = [], None
            for export in self.metric_exports[-1:]:
                for rm in export.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            if m.name == name:
                                unit = m.unit
                                points += [
                                    p
                                    for p in m.histogram.data_points
                                    if attributes(p.attributes).get("gen_ai.request.model") == model
                                ]
            if check(points):
                return points, unit
            if time.monotonic() > deadline:
                pytest.fail(f"no {name} points for {model} passing the check within {timeout} s: {points}")
            time.sleep(0.05)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def value(v):
    """An OTLP AnyValue as a Python value."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def traced(receiver):
    """(base URL, token, stderr file) of a gateway exporting to `receiver`."""
    with tempfile.TemporaryFile("w+") as stderr:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_SERVICE_NAME": "spillway-under-test",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        }
        with running_gateway(env, stderr=stderr) as (base, token, _):
            yield base, token, stderr


def openai_client(base, token):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)


def failed_stream(client, model, after, headers=None):
    """Stream a chat completion that fails (`model_stream_error`) after
    `after` tokens, the SDK raising it; returns the session id."""
    with client.chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": prompt(f"tokens=9 error_after={after} {FAST}")}],
        stream=True,
        extra_headers=headers or {},
    ) as response:
        with pytest.raises(openai.APIError):
            for _ in response.parse():
                pass
        return response.headers["x-session-id"]


def hexid(b):
    return b.hex()


def test_a_session_is_one_client_span_under_the_callers_trace(traced, receiver):
    base, token, _ = traced
    raw = openai_client(base, token).chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": prompt(f"tokens=6 {FAST}")}],
        max_tokens=50,
        temperature=0.7,
        top_p=0.9,
        extra_headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"},
    )
    completion = raw.parse()
    session_id = raw.headers["x-session-id"]
    resource, span = receiver.span(session_id)

    assert span.name == f"chat {CLAUDE}"
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert hexid(span.trace_id) == TRACE_ID
    assert hexid(span.parent_span_id) == PARENT_ID
    assert hexid(span.span_id) not in ("", PARENT_ID, "0" * 16)
    assert span.trace_state == "vendor=abc"
    assert span.status.code != Status.STATUS_CODE_ERROR
    assert span.end_time_unix_nano > span.start_time_unix_nano

    attrs = attributes(span.attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.system"] == "aws.bedrock"
    assert attrs["gen_ai.request.model"] == CLAUDE
    assert attrs["gen_ai.response.model"] == CLAUDE
    assert attrs["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens == 6
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["spillway.session_id"] == session_id
    assert attrs["enduser.id"] == attrs["user.id"] == "alice"
    assert attrs["gen_ai.request.stream"] is True
    for absent in ("gen_ai.request.stop_sequences", "gen_ai.output.type", "aws.bedrock.guardrail.id"):
        assert absent not in attrs
    assert attrs["gen_ai.request.max_tokens"] == 50
    # The decimals sent, not the float32 nearest to them (0.699999988…).
    assert attrs["gen_ai.request.temperature"] == 0.7
    assert attrs["gen_ai.request.top_p"] == 0.9
    ttft = attrs["spillway.ttft_ms"]
    assert isinstance(ttft, float) and 0 <= ttft < (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
    first_chunk = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(first_chunk, float)
    assert 0 < first_chunk < (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
    assert first_chunk == pytest.approx(ttft / 1000)

    assert resource["service.name"] == "spillway-under-test"
    assert resource["deployment.environment"] == "test"
    assert ("/v1/traces", "application/x-protobuf") in receiver.requests


def test_a_session_without_traceparent_is_a_root_span(traced, receiver):
    base, token, _ = traced
    r = requests.post(
        f"{base}/v1/stream",
        headers={"Authorization": f"Bearer {token}"},
        json={"prompt": prompt(f"tokens=3 {FAST}"), "model": CLAUDE},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    _, span = receiver.span(r.headers["x-session-id"])
    assert span.parent_span_id == b""
    events = [json.loads(line[len("data:"):]) for line in r.text.splitlines() if line.startswith("data:")]
    cost = events[-1]["usage"]["costUsd"]
    assert cost > 0
    assert attributes(span.attributes)["spillway.cost_usd"] == cost
    # No ceiling named, none reported (not the 1024 a family body gets).
    assert "gen_ai.request.max_tokens" not in attributes(span.attributes)
    assert hexid(span.trace_id) != TRACE_ID
    assert span.kind == Span.SPAN_KIND_CLIENT


def test_input_tokens_count_cached_tokens_too(traced, receiver):
    """`gen_ai.usage.input_tokens` is every input token, cached ones too (the
    convention's SHOULD); Bedrock's `inputTokens`, like Anthropic's
    `input_tokens`, counts only the uncached ones."""
    base, token, _ = traced
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
        "messages": [{"role": "user", "content": prompt(f"tokens=2 {FAST}")}],
    }
    for cached in ("cache_creation", "cache_read"):
        raw = claude.messages.with_raw_response.create(**ask)
        usage = raw.parse().usage
        assert getattr(usage, f"{cached}_input_tokens") > 0
        attrs = attributes(receiver.span(raw.headers["x-session-id"])[1].attributes)
        assert attrs["gen_ai.usage.input_tokens"] == (
            usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        )
        assert attrs[f"gen_ai.usage.{cached}.input_tokens"] == getattr(usage, f"{cached}_input_tokens")


def test_stop_sequences_guardrail_and_structured_output_are_attributes(traced, receiver):
    base, token, _ = traced
    raw = openai_client(base, token).chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": prompt(f"tokens=3 {FAST}")}],
        stop=["Human:", "END"],
        extra_body={"guardrail": {"id": "gr1abc", "version": "DRAFT"}},
    )
    attrs = attributes(receiver.span(raw.headers["x-session-id"])[1].attributes)
    assert attrs["gen_ai.request.stop_sequences"] == ["Human:", "END"]
    assert attrs["aws.bedrock.guardrail.id"] == "gr1abc"
    assert "gen_ai.output.type" not in attrs

    claude = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=30)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    raw = claude.messages.with_raw_response.create(
        model=SONNET,
        max_tokens=200,
        messages=[{"role": "user", "content": prompt(f"tokens=3 {FAST} plan a trip")}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert raw.parse().content[0].text.startswith("{")
    attrs = attributes(receiver.span(raw.headers["x-session-id"])[1].attributes)
    assert attrs["gen_ai.output.type"] == "json"
    assert "gen_ai.request.stop_sequences" not in attrs


def test_a_failed_session_has_error_status_and_type(traced, receiver):
    base, token, _ = traced
    client = openai_client(base, token)
    session_id = failed_stream(client, CLAUDE, 2, {"traceparent": TRACEPARENT})
    _, span = receiver.span(session_id)
    assert span.status.code == Status.STATUS_CODE_ERROR
    attrs = attributes(span.attributes)
    assert attrs["error.type"] == "model_stream_error"
    assert "gen_ai.response.finish_reasons" not in attrs
    assert hexid(span.parent_span_id) == PARENT_ID


def test_a_session_failed_before_bedrock_counted_has_no_usage(traced, receiver):
    """Nova's stream counts its tokens only at its end: one that fails before
    has no usage to report, and the span reports none (not a made-up 0)."""
    base, token, _ = traced
    client = openai_client(base, token)
    session_id = failed_stream(client, NOVA, 1)
    _, span = receiver.span(session_id)
    attrs = attributes(span.attributes)
    assert attrs["error.type"] == "model_stream_error"
    assert not [key for key in attrs if key.startswith("gen_ai.usage.")], attrs


def test_the_start_up_log_names_the_exporter(traced):
    _, _, stderr = traced
    stderr.seek(0)
    log = stderr.read()
    assert "exporting OpenTelemetry traces (OTLP)" in log
    assert "http/protobuf" in log


def test_a_session_ending_while_draining_is_flushed_at_exit():
    """The batch delay is a minute: only the flush on graceful shutdown can
    deliver the span of a session that was streaming when SIGTERM came."""
    flushed = Receiver()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": flushed.url, "OTEL_BSP_SCHEDULE_DELAY": "60000"}
    try:
        with running_gateway(env) as (base, token, proc):
            client = openai_client(base, token)
            with client.chat.completions.with_streaming_response.create(
                model=CLAUDE,
                messages=[{"role": "user", "content": prompt("tokens=12 rate=40 ttft_ms=0")}],
                stream=True,
            ) as response:
                session_id = response.headers["x-session-id"]
                chunks = response.parse()
                first = next(chunks)
                assert first.choices
                proc.terminate()
                rest = list(chunks)
            assert any(c.choices and c.choices[0].finish_reason == "stop" for c in rest)
            assert proc.wait(timeout=20) == 0
            assert flushed.requests, "nothing exported before the process exited"
            _, span = flushed.span(session_id, timeout=1)
    finally:
        flushed.close()
    assert attributes(span.attributes)["gen_ai.response.finish_reasons"] == ["end_turn"]


def test_an_unsupported_protocol_fails_at_start_up(receiver):
    with tempfile.TemporaryDirectory() as data_dir:
        env = clean_env(data_dir)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
        done = subprocess.run(
            [BINARY, "serve", "--listen", "127.0.0.1:0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode != 0
    assert 'OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported' in done.stderr
    assert "http/protobuf" in done.stderr
    assert "listening" not in done.stdout


@pytest.mark.parametrize(
    "off",
    [
        {},
        {"OTEL_SDK_DISABLED": "true", "endpoint": True},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "endpoint": True},
    ],
    ids=["no-endpoint", "sdk-disabled", "exporters-none"],
)
def test_traces_off_export_nothing(off):
    """Traces and metrics off: a session completes (with a traceparent), the gateway
    drains and exits (when a running exporter flushes), and a receiver of its
    own saw no request; the log says nothing of OpenTelemetry."""
    quiet = Receiver()
    env = {"OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "spillway-off"}
    env.update({k: v for k, v in off.items() if k != "endpoint"})
    if off.get("endpoint"):
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = quiet.url
    try:
        with tempfile.TemporaryFile("w+") as stderr:
            with running_gateway(env, stderr=stderr) as (base, token, proc):
                raw = openai_client(base, token).chat.completions.with_raw_response.create(
                    model=CLAUDE,
                    messages=[{"role": "user", "content": prompt(f"tokens=4 {FAST}")}],
                    extra_headers={"traceparent": TRACEPARENT},
                )
                assert raw.parse().choices[0].message.content
                proc.terminate()
                assert proc.wait(timeout=20) == 0
            stderr.seek(0)
            log = stderr.read()
    finally:
        quiet.close()
    assert "stopped" in log
    assert "OpenTelemetry" not in log and "OTLP" not in log
    assert quiet.requests == []
    assert quiet.spans.empty()


def test_receiver_decodes_what_an_exporter_sends(receiver):
    """The receiver itself: a hand-made export request comes back out decoded."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "probe"
    span = rs.scope_spans.add().spans.add()
    span.name = "probe"
    sid = str(uuid.uuid4())
    kv = span.attributes.add()
    kv.key, kv.value.string_value = "spillway.session_id", sid
    r = requests.post(
        f"{receiver.url}/v1/traces",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert r.status_code == 200
    resource, got = receiver.span(sid, timeout=5)
    assert got.name == "probe" and resource["service.name"] == "probe"


TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


def test_gen_ai_client_metrics_are_exported(traced, receiver):
    """`gen_ai.client.token.usage` (input and output, as Bedrock counted),
    `gen_ai.client.operation.duration` (with `error.type` on a failure) and
    `gen_ai.client.operation.time_to_first_chunk`, per the GenAI
    conventions, over OTLP beside the spans."""
    base, token, _ = traced
    client = openai_client(base, token)
    model = "us.amazon.nova-pro-v1:0"  # no other test here uses it
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt(f"tokens=5 {FAST}")}]
    )
    usage = completion.usage
    by_type = lambda points: {attributes(p.attributes)["gen_ai.token.type"]: p for p in points}  # noqa: E731
    points, unit = receiver.histogram(
        "gen_ai.client.token.usage", model, lambda ps: set(by_type(ps)) == {"input", "output"}
    )
    assert unit == "{token}"
    tokens = by_type(points)
    assert (tokens["input"].count, tokens["input"].sum) == (1, usage.prompt_tokens)
    assert (tokens["output"].count, tokens["output"].sum) == (1, usage.completion_tokens)
    assert list(tokens["output"].explicit_bounds) == TOKEN_BUCKETS
    attrs = attributes(tokens["output"].attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.response.model"] == model

    # The time to the first chunk: one point, within the whole operation.
    first, unit = receiver.histogram("gen_ai.client.operation.time_to_first_chunk", model, bool)
    assert unit == "s"
    assert [p.count for p in first] == [1]
    assert list(first[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    whole = receiver.histogram("gen_ai.client.operation.duration", model, bool)[0]
    assert 0 < first[0].sum <= whole[0].sum

    # A failure: its duration carries error.type; Bedrock counted no tokens.
    failed_stream(client, model, 1)
    failed = lambda p: attributes(p.attributes).get("error.type") == "model_stream_error"  # noqa: E731
    points, unit = receiver.histogram(
        "gen_ai.client.operation.duration", model, lambda ps: any(failed(p) for p in ps)
    )
    assert unit == "s"
    ok = [p for p in points if not failed(p)]
    assert len(ok) == 1 and ok[0].count == 1 and ok[0].sum > 0
    assert [p.count for p in points if failed(p)] == [1]
    tokens = by_type(receiver.histogram("gen_ai.client.token.usage", model, bool)[0])
    assert tokens["output"].count == 1, "the failed stream counted no tokens"


def test_metrics_without_traces():
    """`OTEL_TRACES_EXPORTER=none` with an endpoint: metrics alone go out."""
    quiet = Receiver()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": quiet.url,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "100",
    }
    try:
        with running_gateway(env) as (base, token, _):
            openai_client(base, token).chat.completions.create(
                model=CLAUDE, messages=[{"role": "user", "content": prompt(f"tokens=2 {FAST}")}]
            )
            quiet.histogram("gen_ai.client.operation.duration", CLAUDE, bool)
    finally:
        quiet.close()
    assert {path for path, _ in quiet.requests} == {"/v1/metrics"}
    assert quiet.spans.empty()
