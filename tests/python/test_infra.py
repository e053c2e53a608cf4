"""infra/: every CloudFormation template passes cfn-lint, and the container
entrypoint derives the advertise URL from the ECS task metadata.

The template's table and IAM actions are checked against the code in
tests/infra.rs (Rust, next to the definitions they compare).
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "infra").glob("*.yaml"))
ENTRYPOINT = ROOT / "infra" / "entrypoint.sh"


def cfn_lint() -> str:
    """The cfn-lint of this interpreter's environment (pinned in requirements.txt)."""
    here = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    found = here or shutil.which("cfn-lint")
    assert found, "cfn-lint is not installed (tests/python/requirements.txt)"
    return found


def test_there_are_templates():
    assert TEMPLATES, "no infra/*.yaml"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint(template: Path):
    # No --update-specs: the pinned cfn-lint's bundled specs, no network.
    done = subprocess.run(
        [cfn_lint(), "--format", "parseable", "--", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"cfn-lint {template.name}:\n{done.stdout}{done.stderr}"


# --- infra/entrypoint.sh ------------------------------------------------------

# What the ECS task metadata endpoint (v4) answers for a container on Fargate,
# pretty-printed as in the ECS documentation (the script must not care).
METADATA = {
    "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
    "Name": "spillway",
    "Networks": [
        {
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["10.0.2.106"],
            "AttachmentIndex": 0,
            "MACAddress": "0a:62:17:7a:36:68",
            "IPv4SubnetCIDRBlock": "10.0.2.0/24",
            "PrivateDNSName": "ip-10-0-2-106.us-west-2.compute.internal",
        }
    ],
}


@pytest.fixture
def metadata_url():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(METADATA, indent=4).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/cd189a933e5849daa93386466019ab50-2495160603"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_spillway(tmp_path):
    """A `spillway` on PATH that prints its arguments and advertise URL."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "spillway"
    fake.write_text('#!/bin/sh\necho "args=$*"\necho "advertise=${SPILLWAY_ADVERTISE_URL:-unset}"\n')
    fake.chmod(0o755)
    return bin_dir


def run_entrypoint(bin_dir: Path, **env: str) -> str:
    if not shutil.which("wget"):
        pytest.skip("no wget here (the image has busybox's)")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "ECS_"))}
    base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
    base.update(env)
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "serve", "--heartbeat-secs", "5"],
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "args=serve --heartbeat-secs 5" in done.stdout
    return done.stdout


def test_entrypoint_advertises_the_task_ip(fake_spillway, metadata_url):
    out = run_entrypoint(
        fake_spillway, ECS_CONTAINER_METADATA_URI_V4=metadata_url, SPILLWAY_LISTEN="0.0.0.0:9090"
    )
    assert "advertise=http://10.0.2.106:9090" in out


def test_entrypoint_advertises_the_internal_listener(fake_spillway, metadata_url):
    out = run_entrypoint(
        fake_spillway,
        ECS_CONTAINER_METADATA_URI_V4=metadata_url,
        SPILLWAY_LISTEN="0.0.0.0:8080",
        SPILLWAY_INTERNAL_LISTEN="0.0.0.0:8081",
    )
    assert "advertise=http://10.0.2.106:8081" in out


def test_entrypoint_keeps_an_explicit_advertise_url(fake_spillway, metadata_url):
    out = run_entrypoint(
        fake_spillway,
        ECS_CONTAINER_METADATA_URI_V4=metadata_url,
        SPILLWAY_ADVERTISE_URL="http://node-a:8080",
    )
    assert "advertise=http://node-a:8080" in out


def test_entrypoint_outside_ecs_changes_nothing(fake_spillway):
    assert "advertise=unset" in run_entrypoint(fake_spillway)


def test_entrypoint_survives_a_dead_metadata_endpoint(fake_spillway):
    # A port nothing listens on: the gateway still starts, without the URL.
    out = run_entrypoint(fake_spillway, ECS_CONTAINER_METADATA_URI_V4="http://127.0.0.1:9/v4/x")
    assert "advertise=unset" in out
