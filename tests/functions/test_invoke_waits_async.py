"""A synchronous invoke through `baas serve` (uvicorn: REST in a2wsgi's thread pool) waits for its
result asynchronously (functions/api/awaiting.py): more slow invokes than REST threads leave
the REST API answering, and the answers are the same as the WSGI view's."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from tests.functions.conftest import HELLO, deploy, invoke
from tests.platform.processes import baas, wait_until

SLOW = """
import time
from baas_runtime import on_http

@on_http
def slow(event, ctx):
    time.sleep(event["payload"]["sleep"])
    return {"n": event["payload"]["n"]}
"""

THREADS = 2


@pytest.fixture
def server(functions_api: Any, function_worker: Any, service_key: str) -> Iterator[tuple[str, str]]:
    """`baas serve` on the test database and the session worker's queue, with 2 REST threads."""
    env = {**function_worker.env, "BAAS_TEST_MARKER": function_worker.marker + "-web", "LOG_LEVEL": "WARNING"}
    port = free_port()
    process = baas("serve", "--port", str(port), "--threads", str(THREADS), env=env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(url + "/v1/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        assert wait_until(healthy, timeout=30), process.text
        yield url, service_key
    finally:
        process.stop()


def _post(url: str, key: str, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def _invoke_counts(url: str) -> dict[str, float]:
    """`baas_http_requests_total` of the invoke route by status, from the server's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("baas_http_requests_total{") and 'route="/v1/functions/<str:name>/invoke"' in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = float(line.rsplit(" ", 1)[1])
    return counts


def test_slow_invokes_do_not_hold_the_rest_threads(functions_api: Any, server: tuple[str, str]) -> None:
    url, key = server
    assert deploy(functions_api, "slow", SLOW, concurrency=0).status_code == 201
    calls = THREADS * 3
    answers: dict[int, tuple[int, Any, Any]] = {}

    def call(n: int) -> None:
        answers[n] = _post(url, key, "/v1/functions/slow/invoke", {"payload": {"sleep": 1.5, "n": n}})

    threads = [threading.Thread(target=call, args=(n,)) for n in range(calls)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every invoke is in, each waiting for its 1.5 s function
    started = time.monotonic()
    listed = urllib.request.Request(url + "/v1/functions", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(listed, timeout=30) as response:
        assert response.status == 200
    answered_in = time.monotonic() - started
    still_waiting = sum(thread.is_alive() for thread in threads)
    for thread in threads:
        thread.join(timeout=60)
    # Held threads would have made the GET wait for a function to finish (1 s or more).
    assert answered_in < 0.8, answered_in
    assert still_waiting > THREADS, still_waiting
    for n, (status, body, _headers) in answers.items():
        assert status == 200, body
        assert body["result"] == {"n": n}
        assert body["invocation"]["status"] == "succeeded"
    assert len(answers) == calls


def test_the_answers_match_the_wsgi_views(functions_api: Any, server: tuple[str, str]) -> None:
    url, key = server
    deploy(functions_api, "hello", HELLO)
    status, body, headers = _post(url, key, "/v1/functions/hello/invoke", {"payload": 7}, {"X-Request-Id": "abc123"})
    assert status == 200, body
    assert set(body) == {"invocation", "result"}
    assert body["result"]["echo"] == 7 and body["invocation"]["logs"] == "hello 7\n"
    assert headers["X-Request-Id"] == "abc123"  # the middleware's headers are kept
    assert headers["Content-Type"] == "application/json"
    assert "X-Baas-Await-Invocation" not in headers and "X-Baas-Outcome-Later" not in headers
    fetched = functions_api.get(f"/v1/invocations/{body['invocation']['id']}").json()
    assert fetched == body["invocation"]
    # Counted with the status the client got, not the hand-off's placeholder.
    invoke_counts = _invoke_counts(url)
    assert invoke_counts.get("200", 0) >= 1 and "202" not in invoke_counts, invoke_counts

    # The wait wakes when the run ends (NOTIFY on PostgreSQL, a 5 ms poll on SQLite), not at the
    # once-a-second check of the row: a warm call answers in well under that.
    took = []
    for n in range(5):
        started = time.monotonic()
        status, body, _ = _post(url, key, "/v1/functions/hello/invoke", {"payload": n})
        took.append(time.monotonic() - started)
        assert status == 200 and body["result"]["echo"] == n
    assert sorted(took)[2] < 0.5, took

    status, body, _ = _post(url, key, "/v1/functions/hello/invoke?async=true", {"payload": 8})
    assert status == 202 and body["invocation"]["status"] == "queued"
    status, body, _ = _post(url, key, "/v1/functions/missing/invoke", {"payload": 1})
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = _post(url, "not-a-key", "/v1/functions/hello/invoke", {"payload": 1})
    assert status == 401, body


def test_a_client_cannot_ask_for_a_hand_off(functions_api: Any) -> None:
    """Only baas.asgi knows the process's hand-off token: a guessed header gets the ordinary wait."""
    deploy(functions_api, "hello", HELLO)
    response = functions_api.post(
        "/v1/functions/hello/invoke", {"payload": 1}, format="json", HTTP_X_BAAS_INVOKE_HANDOFF="guess"
    )
    assert response.status_code == 200
    assert response.json()["result"]["echo"] == 1
    assert invoke(functions_api, "hello", 2).json()["result"]["echo"] == 2
