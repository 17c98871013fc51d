"""A worker killed with SIGKILL in the middle of a run: the sweep finds the run past its deadline,
another worker re-runs it, and the function's effect (keyed by the event id) happens once."""

from __future__ import annotations

import time

from tests.functions.conftest import deploy, settle, wait_for_rows
from tests.platform.processes import wait_until

ONCE = """
import time

from baas_runtime import Conflict, db, on_document_created


@on_document_created("jobs")
def work(event, ctx):
    try:
        db.collection("effects").create({"event": ctx.event_id}, id="effect-" + ctx.event_id)
    except Conflict:
        pass  # an earlier attempt already did it: the effect is idempotent through the event id
    if ctx.attempt == 1:
        time.sleep(1.5)  # long enough to be killed in the middle
    return {"attempt": ctx.attempt}
"""


def test_a_run_lost_with_its_worker_is_rerun_and_its_effect_happens_once(functions_api, platform) -> None:
    from functions.models import Invocation

    running = platform(FUNCTIONS_RUNNING_GRACE_SECONDS="1")
    deploy(functions_api, "once", ONCE, timeout=2, permissions=["db:read:jobs", "db:write:effects"])
    for name in ("jobs", "effects"):
        functions_api.post("/v1/db/collections", {"name": name}, format="json")
    functions_api.post("/v1/db/jobs", {"id": "j1", "data": {}}, format="json")

    (row,) = wait_for_rows(Invocation.objects.filter(function__name="once"), 1, status="running")
    assert wait_until(lambda: functions_api.get("/v1/db/effects/count").json()["count"] == 1, timeout=10)
    running.kill_worker()  # the first attempt made its effect and sleeps now
    killed_at = time.monotonic()
    running.start_worker()

    (row,) = settle(Invocation.objects.filter(function__name="once"), timeout=30)
    assert row.status == "succeeded", (row.status, row.error, running.text[-3000:])
    assert row.attempts == 2 and row.result == {"attempt": 2}
    # Re-run only after the deadline (timeout 2 s + grace 1 s from the start): never while alive.
    assert time.monotonic() - killed_at >= 1.0
    effects = functions_api.get("/v1/db/effects").json()["items"]
    assert [effect["id"] for effect in effects] == [f"effect-{row.event_id}"]
