"""boto3's `apigatewaymanagementapi` client against the gateway's `@connections` API.

A backend moved from API Gateway keeps its code: `post_to_connection`,
`get_connection`, `delete_connection`, and the exceptions it catches
(`GoneException` for a stale connection id, `ForbiddenException`,
`PayloadTooLargeException`), which boto3 raises from API Gateway's error
shape (`x-amzn-ErrorType` and `{"message"}`). The gateway takes a bearer
token of the admin group, not SigV4: the client sends it from a
`before-send` hook, and a SigV4-signed call is told so.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_connections.py

`SPILLWAY_BIN` overrides the binary.
"""

import base64
import json
import os
import pathlib
import queue
import socket
import struct
import subprocess
import tempfile
import threading
import urllib.parse
import uuid

import boto3
import botocore.config
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
LISTENING = "spillway listening on "
WAIT = 10


def clean_env(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_"))}
    env["SPILLWAY_DATA_DIR"] = data_dir
    return env


@pytest.fixture(scope="module")
def gateway():
    """(base URL, admin token, user token) of a gateway for this module."""
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=clean_env(data_dir),
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            try:
                first = lines.get(timeout=30)
            except queue.Empty:
                pytest.fail("spillway printed nothing within 30 s")
            if not first.startswith(LISTENING):
                pytest.fail(f"unexpected first line from spillway: {first!r}")

            def token(*args):
                return subprocess.run(
                    [BINARY, "token", *args],
                    env=clean_env(data_dir),
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=30,
                ).stdout.strip()

            base = first[len(LISTENING):].strip()
            yield base, token("--sub", "ops", "--groups", "admin"), token("--sub", "alice")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def management(base, token=None):
    """The AWS SDK's client for API Gateway's management API, pointed at the
    gateway. With `token`, its SigV4 `Authorization` is replaced by the bearer
    token just before sending; without, the call goes SigV4-signed."""
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    if token is not None:

        def bearer(request, **_):
            request.headers["Authorization"] = f"Bearer {token}"

        client.meta.events.register("before-send.apigatewaymanagementapi.*", bearer)
    return client


class Socket:
    """Just enough of a WebSocket client (RFC 6455, stdlib only) to open
    `/v1/ws` and read what the server sends: its frames are never masked."""

    def __init__(self, base, token):
        url = urllib.parse.urlparse(base)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=WAIT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.connection_id = json.loads(self.read()[1])["connectionId"]

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        return data

    def _take(self, n):
        while len(self.buf) < n:
            self.buf += self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read(self):
        """The next frame that is not a ping: (opcode, payload)."""
        while True:
            first, second = self._take(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", self._take(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", self._take(8))
            opcode, payload = first & 0x0F, self._take(length)
            if opcode != 0x9:
                return opcode, payload

    def close(self):
        self.sock.close()


def test_a_backend_pushes_describes_and_disconnects(gateway):
    base, admin, user = gateway
    ws = Socket(base, user)
    try:
        client = management(base, admin)
        info = client.get_connection(ConnectionId=ws.connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["ConnectedAt"] <= info["LastActiveAt"]
        client.post_to_connection(ConnectionId=ws.connection_id, Data=b'{"hello":"from a backend"}')
        assert ws.read() == (0x1, b'{"hello":"from a backend"}')
        client.delete_connection(ConnectionId=ws.connection_id)
        opcode, payload = ws.read()
        assert (opcode, struct.unpack(">H", payload[:2])[0]) == (0x8, 1000)
    finally:
        ws.close()


def test_a_gone_connection_raises_gone_exception(gateway):
    base, admin, _ = gateway
    client = management(base, admin)
    stale = str(uuid.uuid4())
    calls = [
        lambda: client.post_to_connection(ConnectionId=stale, Data=b"late"),
        lambda: client.get_connection(ConnectionId=stale),
        lambda: client.delete_connection(ConnectionId=stale),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.GoneException) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
        assert err.value.response["Error"]["Message"] == "no such connection"


def test_data_over_the_message_limit_raises_payload_too_large(gateway):
    base, admin, _ = gateway
    client = management(base, admin)
    with pytest.raises(client.exceptions.PayloadTooLargeException) as err:
        client.post_to_connection(ConnectionId=str(uuid.uuid4()), Data=b"x" * (128 * 1024 + 1))
    assert "larger than a WebSocket message" in err.value.response["Error"]["Message"]


def test_a_user_outside_the_admin_group_raises_forbidden(gateway):
    base, _, user = gateway
    client = management(base, user)
    with pytest.raises(client.exceptions.ForbiddenException) as err:
        client.post_to_connection(ConnectionId=str(uuid.uuid4()), Data=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "admin group" in err.value.response["Error"]["Message"]


def test_sigv4_is_refused_with_a_bearer_token_hint(gateway):
    base, _, _ = gateway
    signed = management(base)
    with pytest.raises(signed.exceptions.ForbiddenException) as err:
        signed.post_to_connection(ConnectionId=str(uuid.uuid4()), Data=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    message = err.value.response["Error"]["Message"]
    assert "bearer token of the admin group" in message, message
    assert "SigV4" in message, message
