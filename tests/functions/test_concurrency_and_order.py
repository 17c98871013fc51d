"""Per-function concurrency limit and rate quota (excess waits, never dropped, shown as backlog),
and the ordering guarantee: per document, one function's invocations run in sequence order."""

from __future__ import annotations

import itertools
import time

from tests.functions.conftest import deploy, settle

SLOW = """
import random
import time

from baas_runtime import on_document_written


@on_document_written("tasks")
def slow(event, ctx):
    time.sleep(event["doc"]["data"].get("sleep", 0) if event["doc"] else 0)
    return event["seq"]
"""
READ_TASKS = ["db:read:tasks"]  # a trigger needs the read grant of its collection


def _overlaps(rows) -> bool:  # type: ignore[no-untyped-def]
    spans = sorted((row.started_at, row.finished_at) for row in rows)
    return any(later_start < earlier_end for (_, earlier_end), (later_start, _) in itertools.pairwise(spans))


def test_the_concurrency_limit_holds_and_the_excess_waits(functions_api) -> None:
    from functions.models import Invocation

    assert deploy(functions_api, "one-at-a-time", SLOW, concurrency=1, permissions=READ_TASKS).status_code == 201
    functions_api.post("/v1/db/collections", {"name": "tasks"}, format="json")
    for i in range(4):
        functions_api.post("/v1/db/tasks", {"id": f"t{i}", "data": {"sleep": 0.3}}, format="json")

    backlog_seen = {"concurrency": 0}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not backlog_seen["concurrency"]:
        backlog = functions_api.get("/v1/functions/one-at-a-time").json()["backlog"]
        backlog_seen = backlog["waiting"]
        time.sleep(0.05)
    assert backlog_seen["concurrency"] >= 1  # the API shows what waits, and why
    assert backlog["running"] <= 1

    rows = settle(Invocation.objects.filter(function__name="one-at-a-time"), timeout=30)
    assert len(rows) == 4 and all(row.status == "succeeded" for row in rows)
    assert not _overlaps(rows)  # the worker has 2 threads: without the limit two would overlap

    # The same load without a limit does overlap on this worker (the check above means something).
    deploy(functions_api, "unlimited", SLOW.replace('"tasks"', '"tasks2"'), permissions=["db:read:tasks2"])
    functions_api.post("/v1/db/collections", {"name": "tasks2"}, format="json")
    for i in range(4):
        functions_api.post("/v1/db/tasks2", {"id": f"t{i}", "data": {"sleep": 0.3}}, format="json")
    rows = settle(Invocation.objects.filter(function__name="unlimited"), timeout=30)
    assert len(rows) == 4 and _overlaps(rows)


def test_per_document_invocations_run_in_sequence_order(functions_api) -> None:
    from functions.models import Invocation

    deploy(functions_api, "ordered", SLOW, concurrency=2, permissions=READ_TASKS)
    functions_api.post("/v1/db/collections", {"name": "tasks"}, format="json")
    for doc in ("a", "b"):
        functions_api.post("/v1/db/tasks", {"id": doc, "data": {"sleep": 0.1}}, format="json")
    for step in range(4):
        for doc in ("a", "b"):
            # Later writes sleep less: without the guarantee a later event would overtake.
            sleep = 0.0 if step % 2 else 0.05
            functions_api.patch(f"/v1/db/tasks/{doc}", {"data": {"sleep": sleep}}, format="json")

    rows = settle(Invocation.objects.filter(function__name="ordered"), timeout=30)
    assert len(rows) == 10 and all(row.status == "succeeded" for row in rows)
    for doc in ("a", "b"):
        mine = sorted((row for row in rows if row.event["doc"]["id"] == doc), key=lambda row: row.seq)
        for earlier, later in itertools.pairwise(mine):
            assert later.started_at >= earlier.finished_at, (doc, earlier.seq, later.seq)
    assert _overlaps(rows)  # the two documents did run side by side


def test_the_rate_quota_holds_back_the_excess(functions_api) -> None:
    from functions.models import Invocation

    deploy(functions_api, "rationed", SLOW, rate_per_minute=2, permissions=READ_TASKS)
    functions_api.post("/v1/db/collections", {"name": "tasks"}, format="json")
    for i in range(3):
        functions_api.post("/v1/db/tasks", {"id": f"r{i}", "data": {}}, format="json")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = list(Invocation.objects.filter(function__name="rationed"))
        states = sorted((row.status, row.waiting) for row in rows)
        if states == [("queued", "rate"), ("succeeded", ""), ("succeeded", "")]:
            break
        time.sleep(0.05)
    waiting = next(row for row in rows if row.status == "queued")
    assert waiting.waiting == "rate" and waiting.not_before is not None
    first_start = min(row.started_at for row in rows if row.started_at)
    assert abs((waiting.not_before - first_start).total_seconds() - 60) < 1
    item = functions_api.get(f"/v1/invocations/{waiting.pk}").json()
    assert item["waiting"] == "rate" and item["next_attempt_at"] is not None
    assert functions_api.get("/v1/functions/rationed").json()["backlog"]["waiting"]["rate"] == 1
