"""The Python SDK's `functions.http`: a request to a function's webhook route
(`/v1/functions/{name}/http/{path}`), whose answer comes back as the handler chose it."""

from __future__ import annotations

import time
import uuid

import pytest
from baas_client import create_client

from tests.conftest import BAAS_BIN, service_missing
from tests.platform.processes import RunningProcess, http

pytestmark = pytest.mark.slow

SOURCE = """
from baas_runtime import HttpResponse, on_http

@on_http
def handle(event, ctx):
    if event["path"] == "/refuse":
        return HttpResponse("no", status=400, headers={"x-why": "test"})
    return HttpResponse(
        event["method"].encode() + b" " + event["path"].encode() + b" " + event["body"],
        status=201,
        headers={"x-query": event["query"].get("q", "")},
    )
"""


def test_functions_http_sends_any_method_and_returns_the_handlers_answer(live):
    if http("GET", f"{live.base}/v1/health")[1].get("sandbox") == "unavailable":
        service_missing("the bubblewrap sandbox (functions never run unsandboxed)")
    worker = RunningProcess([BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"], env=live.env)
    name = f"fn{uuid.uuid4().hex[:10]}"
    try:
        live.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": SOURCE}, "invoke": "public"})
        with create_client(live.base) as app:
            deadline = time.monotonic() + 150
            while True:  # a cold worker may miss the server's wait (202): warm it up first
                answer = app.functions.http(name, "hooks/a b", method="PUT", body=b"\x00raw", query={"q": "1"})
                if answer.status != 202 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert answer.status == 201
            assert answer.body == b"PUT /hooks/a b \x00raw"
            assert answer.headers["x-query"] == "1" and answer.headers["x-baas-invocation-id"]
            refused = app.functions.http(name, "/refuse", json={"a": 1})
            assert (refused.status, refused.text, refused.headers["x-why"]) == (400, "no", "test")
    finally:
        worker.stop()
