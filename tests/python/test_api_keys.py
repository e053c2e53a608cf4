"""Bedrock API keys (`AWS_BEARER_TOKEN_BEDROCK`): the gateway in `--upstream
bedrock` mode with a key and no SigV4 credentials at all, pointed at a
standalone `spillway sim`; and boto3 straight at the simulator, to show that
the simulator's `authSchemes` counts what a real client sends.

Run from the repository root after `cargo build`:

    python3 -m pytest tests/python/test_api_keys.py

boto3 sends a bearer token only over https, so its test reaches the simulator
through a small TLS-terminating relay (a self-signed certificate made here with
`cryptography`); the relay forwards bytes unchanged. `SPILLWAY_BIN` overrides
the binary.
"""

import datetime
import json
import os
import pathlib
import queue
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.request

import boto3
import botocore.config
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SPILLWAY_BIN", str(REPO / "target" / "debug" / "spillway"))
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1zaW11bGF0ZWQ="
FAST = "rate=0 ttft_ms=0"


def clean_env():
    """The caller's environment without any Spillway or AWS setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "AWS_"))}


def start(args, env, prefix):
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=30)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"{args[1]} printed nothing within 30 s")
    if not first.startswith(prefix):
        proc.kill()
        pytest.fail(f"unexpected first line: {first!r}; stderr: {proc.stderr.read()}")
    return proc, first[len(prefix):].strip()


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def auth_schemes(sim_url):
    with urllib.request.urlopen(f"{sim_url}/sim/stats", timeout=10) as resp:
        return json.load(resp)["authSchemes"]


@pytest.fixture(scope="module")
def sim_url():
    proc, url = start(
        [BINARY, "sim", "--listen", "127.0.0.1:0"], clean_env(), "spillway sim listening on "
    )
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def gateway(sim_url):
    """(base URL, token) of a gateway calling the simulator as Bedrock with an API key."""
    with tempfile.TemporaryDirectory() as home:
        env = clean_env()
        env.update(
            {
                # No credentials anywhere: no variables, no ~/.aws files.
                "HOME": home,
                "AWS_CONFIG_FILE": os.path.join(home, "no-config"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-credentials"),
                # Nothing may wait on instance metadata.
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": sim_url,
                "AWS_BEARER_TOKEN_BEDROCK": API_KEY,
                "SPILLWAY_UPSTREAM": "bedrock",
                "SPILLWAY_DATA_DIR": home,
                "SPILLWAY_UPSTREAM_MAX_ATTEMPTS": "1",
            }
        )
        proc, base = start(
            [BINARY, "serve", "--listen", "127.0.0.1:0"], env, "spillway listening on "
        )
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
            stop(proc)


def test_the_gateway_calls_bedrock_with_the_api_key_and_no_sigv4(gateway, sim_url):
    base, token = gateway
    before = auth_schemes(sim_url)
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": f"[[sim tokens=4 {FAST}]] with a key"}],
    )
    assert len(completion.choices[0].message.content.split()) == 4
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": f"[[sim tokens=3 {FAST}]] streamed"}],
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 3
    after = auth_schemes(sim_url)
    assert after["bearer"] - before["bearer"] == 2
    assert after["sigv4"] == before["sigv4"]
    assert after["none"] == before["none"]


class TlsRelay:
    """Accepts TLS on a loopback port and relays the plain bytes to `target`."""

    def __init__(self, target, certfile, keyfile):
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(raw,), daemon=True).start()

    def serve(self, raw):
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        upstream = socket.create_connection(self.target)
        threading.Thread(target=self.pipe, args=(upstream, client), daemon=True).start()
        self.pipe(client, upstream)

    @staticmethod
    def pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def self_signed(directory):
    """A certificate for `localhost` and its key, as PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile = os.path.join(directory, "cert.pem")
    keyfile = os.path.join(directory, "key.pem")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return certfile, keyfile


def converse_text(client):
    response = client.converse(
        modelId=CLAUDE,
        messages=[{"role": "user", "content": [{"text": f"[[sim tokens=2 {FAST}]] boto3"}]}],
    )
    return response["output"]["message"]["content"][0]["text"]


def test_boto3_with_an_api_key_is_counted_as_bearer(sim_url, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    certfile, keyfile = self_signed(str(tmp_path))
    relay = TlsRelay(sim_url, certfile, keyfile)
    config = botocore.config.Config(retries={"max_attempts": 1, "total_max_attempts": 1})
    try:
        before = auth_schemes(sim_url)
        bearer = boto3.Session().client(
            "bedrock-runtime",
            endpoint_url=f"https://localhost:{relay.port}",
            region_name="us-east-1",
            verify=certfile,
            config=config,
        )
        assert len(converse_text(bearer).split()) == 2
        after = auth_schemes(sim_url)
        assert after["bearer"] - before["bearer"] == 1
        assert after["sigv4"] == before["sigv4"]
    finally:
        relay.close()

    # The control: boto3 with SigV4 credentials and no key is counted as sigv4.
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    before = auth_schemes(sim_url)
    signed = boto3.Session().client(
        "bedrock-runtime",
        endpoint_url=sim_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDSIMTEST",
        aws_secret_access_key="not-a-secret",
        config=config,
    )
    assert len(converse_text(signed).split()) == 2
    after = auth_schemes(sim_url)
    assert after["sigv4"] - before["sigv4"] == 1
    assert after["bearer"] == before["bearer"]
