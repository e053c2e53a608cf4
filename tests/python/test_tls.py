"""The gateway over HTTPS with `SPILLWAY_TLS=self-signed`, judged by Python's
own TLS stack (OpenSSL): `requests` trusting the certificate from the data
dir, and the standard library trusting it through `SSL_CERT_FILE`.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_tls.py

`SPILLWAY_BIN` overrides the binary.
"""

import json
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
LISTENING = "spillway listening on "


@pytest.fixture(scope="module")
def gateway():
    """(base URL, token, certificate path) of an HTTPS gateway for this module."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_"))}
        env["SPILLWAY_DATA_DIR"] = data_dir
        env["SPILLWAY_TLS"] = "self-signed"
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
            pytest.fail("spillway did not start within 30 s")
        if not first.startswith(LISTENING + "https://"):
            proc.kill()
            pytest.fail(f"unexpected first line from spillway: {first!r}")
        base = first[len(LISTENING):].strip().replace("127.0.0.1", "localhost")
        token = subprocess.run(
            [BINARY, "token", "--sub", "alice"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        try:
            yield base, token, os.path.join(data_dir, "tls-cert.pem")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_requests_streams_sse_over_https_trusting_the_data_dir_certificate(gateway):
    base, token, cert = gateway
    with requests.post(
        f"{base}/v1/stream",
        headers={"authorization": f"Bearer {token}"},
        json={"prompt": "[[sim tokens=8 rate=0 ttft_ms=0]] over TLS"},
        verify=cert,
        stream=True,
        timeout=30,
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        events = [json.loads(line[5:]) for line in resp.iter_lines(decode_unicode=True) if line.startswith("data:")]
    assert [e["seq"] for e in events] == list(range(9))
    assert events[-1]["isComplete"] is True
    # Without the certificate, the default trust store refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/healthz", timeout=10)


def test_the_standard_library_trusts_it_through_ssl_cert_file(gateway):
    base, _, cert = gateway
    code = f"import urllib.request; print(urllib.request.urlopen('{base}/healthz', timeout=10).read().decode())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "SSL_CERT_FILE": cert},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
