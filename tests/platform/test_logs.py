"""Structured logs: one JSON object a line in production format, tied to answers by request id."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from tests.conftest import free_port
from tests.platform.processes import baas, http, platform_env, wait_until

pytestmark = pytest.mark.slow


def test_json_logs_carry_the_request_id_returned_to_the_client(tmp_path):
    port = free_port()
    env = platform_env(uuid.uuid4().hex, BAAS_DATA_DIR=str(tmp_path), LOG_FORMAT="json")
    server = baas("serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=30), server.text
        request = urllib.request.Request(f"{base}/v1/health", headers={"X-Request-Id": "trace-42"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["X-Request-Id"] == "trace-42"
        generated = http("GET", f"{base}/v1/nothing-here")
        assert generated[0] == 404
        assert wait_until(lambda: "trace-42" in server.text and "nothing-here" in server.text, timeout=5)
    finally:
        server.stop()

    entries = [json.loads(line) for line in server.output if line.startswith("{")]
    assert entries, server.text
    # Every line of the server's own log is JSON (no stray plain-text lines).
    stray = [line for line in server.output if line.strip() and not line.startswith("{")]
    assert stray == []
    access = next(entry for entry in entries if entry.get("request_id") == "trace-42")
    assert access["logger"] == "baas.access"
    assert access["status"] == 200 and access["route"] == "/v1/health"
    assert isinstance(access["duration_ms"], float)
    assert {"time", "level", "message"} <= set(access)
    missing = next(entry for entry in entries if "nothing-here" in entry["message"])
    assert missing["status"] == 404 and len(missing["request_id"]) == 32
