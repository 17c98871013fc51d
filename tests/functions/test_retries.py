"""A failing event invocation is retried with backoff up to max_retries, then dead; listed by
status, retried by hand, and then it succeeds."""

from __future__ import annotations

import itertools

import pytest

from tests.functions.conftest import deploy, settle
from tests.platform.processes import wait_until

FLAKY = """
import time

from baas_runtime import db, on_document_created


@on_document_created("jobs")
def flaky(event, ctx):
    db.collection("attempts").create({"attempt": ctx.attempt, "at": time.time(), "event": ctx.event_id})
    if ctx.attempt <= 3:
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return {"done_at_attempt": ctx.attempt}
"""


FLAKY_TS = """
import { db, onDocumentCreated } from "baas";

class RuntimeError extends Error {
  override name = "RuntimeError";
}

export const flaky = onDocumentCreated("jobs", async (event, ctx) => {
  await db.collection("attempts").create({ attempt: ctx.attempt, at: Date.now() / 1000, event: ctx.event_id });
  if (ctx.attempt <= 3) throw new RuntimeError(`attempt ${ctx.attempt} fails`);
  return { done_at_attempt: ctx.attempt };
});
"""
SOURCES = {"python": {"main.py": FLAKY}, "deno": {"main.ts": FLAKY_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_it_retries_with_backoff_then_dies_then_a_retry_succeeds(functions_api, function_worker, runtime) -> None:
    from functions.models import Invocation

    response = deploy(
        functions_api,
        "flaky",
        "",
        files=SOURCES[runtime],
        max_retries=2,
        permissions=["db:read:jobs", "db:write:attempts"],
    )
    assert response.status_code == 201, response.json()
    for name in ("jobs", "attempts"):
        functions_api.post("/v1/db/collections", {"name": name}, format="json")
    functions_api.post("/v1/db/jobs", {"id": "j1", "data": {}}, format="json")

    (row,) = settle(Invocation.objects.filter(function__name="flaky"))
    assert row.status == "dead" and row.attempts == 3
    assert row.error["type"] == "RuntimeError" and "attempt 3 fails" in row.error["message"]
    # The operator hears of it: one WARNING with the function, its version, the event and the code.
    code = row.error.get("code") or "-"
    dead_line = f"invocation dead after 3 attempt(s): document.created flaky v1, event {row.event_id}, error {code}"
    assert wait_until(lambda: dead_line in function_worker.text, timeout=5), function_worker.text[-2000:]
    (line,) = [line for line in function_worker.text.splitlines() if dead_line in line]
    assert "WARNING" in line and f"invocation={row.pk}" in line and "function=flaky" in line

    attempts = functions_api.get("/v1/db/attempts?order=attempt").json()["items"]
    assert [a["data"]["attempt"] for a in attempts] == [1, 2, 3]
    gaps = [b["data"]["at"] - a["data"]["at"] for a, b in itertools.pairwise(attempts)]
    # FUNCTIONS_RETRY_BASE_MS=50 for the test worker: waits of 25-50 ms, then 50-100 ms.
    assert gaps[0] >= 0.025 and gaps[1] >= 0.05, gaps

    dead = functions_api.get("/v1/functions/flaky/invocations?status=dead").json()["items"]
    assert [item["id"] for item in dead] == [str(row.pk)]
    assert dead[0]["attempts"] == 3 and dead[0]["error"]["message"] == "attempt 3 fails"

    retried = functions_api.post(f"/v1/invocations/{row.pk}/retry")
    assert retried.status_code == 202, retried.json()
    assert retried.json()["status"] == "queued"
    (row,) = settle(Invocation.objects.filter(function__name="flaky"))
    assert row.status == "succeeded" and row.attempts == 4
    assert row.result == {"done_at_attempt": 4} and row.error is None
    assert functions_api.get("/v1/functions/flaky/invocations?status=dead").json()["items"] == []

    again = functions_api.post(f"/v1/invocations/{row.pk}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
