"""`Idempotency-Key` on a synchronous invoke through `baas serve`: the view hands the wait off to the
ASGI layer (functions/api/awaiting.py), and a retry with the same key awaits the same invocation
instead of starting another (baas/idempotency.py replays the hand-off)."""

from __future__ import annotations

from typing import Any

from tests.functions.conftest import deploy
from tests.functions.test_invoke_waits_async import _post, server  # noqa: F401  (the fixture)

FRESH = """
import uuid
from baas_runtime import on_http

@on_http
def fresh(event, ctx):
    return {"run": uuid.uuid4().hex, "invocation": ctx["invocation_id"]}
"""


def test_a_retried_invoke_returns_the_first_result_and_runs_once(functions_api: Any, server: tuple[str, str]) -> None:  # noqa: F811
    url, key = server
    assert deploy(functions_api, "fresh", FRESH).status_code == 201
    path, body = "/v1/functions/fresh/invoke", {"payload": {"n": 1}}
    first = _post(url, key, path, body, {"Idempotency-Key": "inv-1"})
    again = _post(url, key, path, body, {"Idempotency-Key": "inv-1"})
    assert first[0] == again[0] == 200, (first[1], again[1])
    assert again[1] == first[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    other = _post(url, key, path, body, {"Idempotency-Key": "inv-2"})
    assert other[0] == 200 and other[1] != first[1]
    reused = _post(url, key, path, {"payload": {"n": 2}}, {"Idempotency-Key": "inv-1"})
    assert reused[0] == 422 and reused[1]["error"]["code"] == "idempotency_key_reused"
